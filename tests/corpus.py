"""Real public datasets for reader tests, in every file format they fit.

The data lives in ``tests/corpus/`` (one compact file per dataset, described in
``tests/corpus/manifest.json`` and ``tests/corpus/README.md``). This module
loads it and writes it out again as CSV, Parquet, JSON lines or TFRecord, and
as CSV dialect variants, so that a statistics reader can be checked against
TFDV on real data. It needs only pandas, pyarrow, numpy and (for TFRecord)
tensorflow.

    import corpus                       # tests/ is on sys.path under pytest
    corpus.names()                      # every dataset
    corpus.names('time')                # those with a shape in the manifest
    df = corpus.load('weather')         # pandas.DataFrame, typed (see load)
    path = corpus.materialize('weather', 'parquet', tmp_path)
    path, opts = corpus.materialize_variant('scb_regions', 'latin1', tmp_path)
    stats = tfdv.generate_statistics_from_dataframe(corpus.for_tfdv(df))

Types (the manifest's ``schema``: int, float, string, timestamp, date, or for
the nested dataset {"struct": {...}} / {"list": ...}):

==========  =========================  ======================  ===================
type        load() dtype               Parquet (Arrow)         JSON / TFRecord
==========  =========================  ======================  ===================
int         int64, or Int64 if any     int64                   number / int64_list
            value is missing
float       float64 (NaN = missing)    float64                 number / float_list
string      object (None = missing)    string, or dictionary   string / bytes_list
                                       <int32, string> when
                                       low-cardinality
timestamp   datetime64[ns, UTC]        timestamp[us, tz=UTC]   "2013-01-01T05:00:00Z"
                                                               / int64_list of
                                                               microseconds since
                                                               the epoch
date        object of datetime.date    date32                  "2007-11-11" / int64
            (None = missing)                                   days since 1970-01-01
struct      object: dict or None       struct                  object or null
list        object: list               list                    array
==========  =========================  ======================  ===================

Inside nested cells, timestamps are timezone-aware ``datetime.datetime`` (UTC)
and missing values None. Missing values are absent features in TFRecord, and
JSON null (or absent keys, ``jsonl_missing='omit'``) in JSON lines.
"""

import csv
import datetime as _dt
import functools
import gzip
import io
import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CORPUS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')

with open(os.path.join(CORPUS_DIR, 'manifest.json'), encoding='utf-8') as _f:
  MANIFEST: List[dict] = json.load(_f)

_BY_NAME = {e['name']: e for e in MANIFEST}

FORMATS = ('csv', 'parquet', 'jsonl', 'tfrecord')
EXTENSIONS = {'csv': 'csv', 'parquet': 'parquet', 'jsonl': 'jsonl',
              'tfrecord': 'tfrecord'}

# CSV dialect variants: (delimiter, encoding, quote every present field,
# byte-order mark).
VARIANTS = {
    'semicolon': (';', 'utf-8', False, False),
    'tab': ('\t', 'utf-8', False, False),
    'pipe': ('|', 'utf-8', False, False),
    'latin1': (';', 'iso-8859-1', False, False),
    'bom': (',', 'utf-8', False, True),
    'quoted': (',', 'utf-8', True, False),
}

# A string column is written as an Arrow dictionary column when it has at
# most this many distinct values (and fewer than half as many as rows).
DICTIONARY_MAX_DISTINCT = 64

_EPOCH_DATE = _dt.date(1970, 1, 1)
_TS_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def names(shape: Optional[str] = None) -> List[str]:
  """Dataset names, in manifest order; only those with ``shape`` if given."""
  return [e['name'] for e in MANIFEST
          if shape is None or shape in e['shapes']]


def entry(name: str) -> dict:
  """The manifest entry of a dataset (KeyError for an unknown name)."""
  try:
    return _BY_NAME[name]
  except KeyError:
    raise KeyError(f'unknown corpus dataset {name!r}; have {names()}') from None


def is_nested(name: str) -> bool:
  return any(not isinstance(t, str) for t in entry(name)['schema'].values())


def variants(name: str) -> List[str]:
  """The CSV variants materialize_variant can write for a dataset."""
  e = entry(name)
  if 'csv' not in e['formats']:
    return []
  return [v for v in VARIANTS if v != 'latin1' or e['latin1_encodable']]


def stored_path(name: str) -> str:
  """The committed file of a dataset (may be gzipped)."""
  return os.path.join(CORPUS_DIR, entry(name)['file'])


def _stored_bytes(name: str) -> bytes:
  with open(stored_path(name), 'rb') as f:
    data = f.read()
  return gzip.decompress(data) if stored_path(name).endswith('.gz') else data


# ------------------------------------------------------------------ load


def _parse_ts(v):
  if v is None:
    return None
  return _dt.datetime.strptime(v, _TS_FORMAT).replace(tzinfo=_dt.timezone.utc)


def _typed_series(s: pd.Series, t: str) -> pd.Series:
  """A column of strings (NaN = missing) to the corpus dtype of type t."""
  missing = s.isna()
  if t == 'int':
    out = pd.Series(pd.array([None if m else int(v) for v, m in
                              zip(s, missing)], dtype='Int64'),
                    index=s.index, name=s.name)
    return out if missing.any() else out.astype('int64')
  if t == 'float':
    return s.astype('float64')
  if t == 'string':
    return s.astype(object).where(~missing, None)
  if t == 'timestamp':
    return pd.to_datetime(s, format=_TS_FORMAT, utc=True)
  if t == 'date':
    return pd.Series([None if m else _dt.date.fromisoformat(v)
                      for v, m in zip(s, missing)], index=s.index,
                     name=s.name, dtype=object)
  raise ValueError(f'unknown type {t!r}')


def _nested_value(v, t):
  """A JSON value to its load() form under corpus type t (recursively)."""
  if v is None:
    return None
  if isinstance(t, dict) and 'struct' in t:
    return {k: _nested_value(v.get(k), ft) for k, ft in t['struct'].items()}
  if isinstance(t, dict) and 'list' in t:
    return [_nested_value(x, t['list']) for x in v]
  if t == 'timestamp':
    return _parse_ts(v)
  if t == 'date':
    return _dt.date.fromisoformat(v)
  if t == 'float':
    return float(v)
  return v


@functools.lru_cache(maxsize=None)
def _load_cached(name: str) -> pd.DataFrame:
  e = entry(name)
  schema = e['schema']
  if e['file'].endswith(('.jsonl', '.jsonl.gz')):
    rows = [json.loads(line) for line in
            _stored_bytes(name).decode('utf-8').splitlines() if line]
    cols = {}
    for c, t in schema.items():
      vals = [r.get(c) for r in rows]
      if isinstance(t, str):
        s = pd.Series([None if v is None else
                       (v if t in ('string', 'timestamp', 'date') else str(v))
                       for v in vals], dtype=object, name=c)
        cols[c] = _typed_series(s.where(s.notna(), np.nan), t)
      else:
        cols[c] = pd.Series([_nested_value(v, t) for v in vals], dtype=object,
                            name=c)
    return pd.DataFrame(cols)
  df = pd.read_csv(io.BytesIO(_stored_bytes(name)), dtype=str,
                   keep_default_na=False, na_values=[''], encoding='utf-8')
  if list(df.columns) != list(schema):
    raise ValueError(f'{name}: columns {list(df.columns)} != manifest')
  return pd.DataFrame({c: _typed_series(df[c], t) for c, t in schema.items()})


def load(name: str) -> pd.DataFrame:
  """The dataset as a DataFrame with corpus dtypes (module docstring).

  A fresh copy on every call; for the nested dataset the dict/list cells are
  shared between copies, so do not mutate them in place.
  """
  return _load_cached(name).copy()


# ----------------------------------------------------------------- arrow


def _arrow_type(t):
  if isinstance(t, dict) and 'struct' in t:
    return pa.struct([pa.field(k, _arrow_type(ft))
                      for k, ft in t['struct'].items()])
  if isinstance(t, dict) and 'list' in t:
    return pa.list_(_arrow_type(t['list']))
  return {'int': pa.int64(), 'float': pa.float64(), 'string': pa.string(),
          'timestamp': pa.timestamp('us', tz='UTC'),
          'date': pa.date32()}[t]


def dictionary_columns(name: str) -> List[str]:
  """String columns written as Arrow dictionary columns to Parquet."""
  df = _load_cached(name)
  out = []
  for c, t in entry(name)['schema'].items():
    if t == 'string':
      n = df[c].nunique(dropna=True)
      if n <= DICTIONARY_MAX_DISTINCT and n * 2 < len(df):
        out.append(c)
  return out


def arrow_schema(name: str) -> pa.Schema:
  """The Arrow schema materialize(name, 'parquet', ...) writes."""
  dict_cols = set(dictionary_columns(name))
  fields = []
  for c, t in entry(name)['schema'].items():
    typ = (pa.dictionary(pa.int32(), pa.string()) if c in dict_cols
           else _arrow_type(t))
    fields.append(pa.field(c, typ))
  return pa.schema(fields)


def to_arrow(name: str) -> pa.Table:
  """The dataset as an Arrow table with arrow_schema(name)."""
  df = _load_cached(name)
  schema = arrow_schema(name)
  arrays = []
  for field in schema:
    s = df[field.name]
    t = entry(name)['schema'][field.name]
    if pa.types.is_dictionary(field.type):
      arr = pa.array(s.tolist(), type=pa.string()).dictionary_encode()
      arr = arr.cast(field.type)
    elif t == 'timestamp':
      arr = pa.array(s, type=field.type)
    elif t == 'int':
      arr = pa.array(s.astype('Int64'), type=pa.int64())
    elif t == 'float':
      arr = pa.array(s.to_numpy(dtype='float64'), type=pa.float64(),
                     from_pandas=True)
    else:
      arr = pa.array(s.tolist(), type=field.type)
    arrays.append(arr)
  return pa.Table.from_arrays(arrays, schema=schema)


# ------------------------------------------------------------ materialize


def _json_value(v, t):
  """A load() value to its JSON form (None for missing)."""
  if v is None or v is pd.NaT or v is pd.NA:
    return None
  if isinstance(t, dict) and 'struct' in t:
    return {k: _json_value(v.get(k), ft) for k, ft in t['struct'].items()}
  if isinstance(t, dict) and 'list' in t:
    return [_json_value(x, t['list']) for x in v]
  if t == 'float':
    v = float(v)
    return None if np.isnan(v) else v
  if t == 'int':
    return int(v)
  if t == 'timestamp':
    return pd.Timestamp(v).tz_convert('UTC').strftime(_TS_FORMAT)
  if t == 'date':
    return v.isoformat()
  return v


def _write_jsonl(name: str, path: str, missing: str) -> None:
  if missing not in ('null', 'omit'):
    raise ValueError(f"jsonl_missing={missing!r}: 'null' or 'omit'")
  df = _load_cached(name)
  schema = entry(name)['schema']
  cols = [(c, t, df[c].tolist()) for c, t in schema.items()]
  with open(path, 'w', encoding='utf-8', newline='\n') as f:
    for i in range(len(df)):
      obj = {}
      for c, t, vals in cols:
        v = _json_value(vals[i], t)
        if v is None and missing == 'omit':
          continue
        obj[c] = v
      f.write(json.dumps(obj, ensure_ascii=False, separators=(',', ':')))
      f.write('\n')


def _tfrecord_columns(name: str):
  """Per column: (name, kind, python values with None for missing)."""
  df = _load_cached(name)
  out = []
  for c, t in entry(name)['schema'].items():
    s = df[c]
    if t == 'int':
      vals = [None if v is pd.NA else int(v) for v in s.astype(object)]
      out.append((c, 'int', vals))
    elif t == 'float':
      vals = [None if np.isnan(v) else float(v) for v in s.to_numpy()]
      out.append((c, 'float', vals))
    elif t == 'string':
      out.append((c, 'bytes', [None if v is None else v.encode('utf-8')
                               for v in s]))
    elif t == 'timestamp':
      out.append((c, 'int', _timestamp_micros(s)))
    elif t == 'date':
      out.append((c, 'int', [None if v is None else (v - _EPOCH_DATE).days
                             for v in s]))
    else:
      raise ValueError(f'{name}: column {c} is nested; TFRecord does not fit')
  return out


def _timestamp_micros(s: pd.Series) -> list:
  us = s.dt.tz_convert('UTC').dt.tz_localize(None).to_numpy(
      dtype='datetime64[us]').astype('int64')
  return [None if m else int(v) for v, m in zip(us, s.isna().to_numpy())]


def _write_tfrecord(name: str, path: str) -> None:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  cols = _tfrecord_columns(name)
  n = entry(name)['rows']
  with tf.io.TFRecordWriter(path) as w:
    for i in range(n):
      feats = {}
      for c, kind, vals in cols:
        v = vals[i]
        if v is None:
          continue
        if kind == 'int':
          feats[c] = tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
        elif kind == 'float':
          feats[c] = tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
        else:
          feats[c] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
      w.write(tf.train.Example(
          features=tf.train.Features(feature=feats)).SerializeToString())


def materialize(name: str, fmt: str, folder, *,
                jsonl_missing: str = 'null') -> str:
  """Writes dataset ``name`` as ``fmt`` into ``folder``; returns the path.

  fmt is one of the manifest entry's ``formats``; the file is
  ``<folder>/<name>.<fmt>`` (uncompressed):

  - csv: the committed CSV text (UTF-8, comma, header, empty = missing,
    timestamps ``2013-01-01T05:00:00Z``, dates ``YYYY-MM-DD``).
  - parquet: arrow_schema(name) (timestamp[us, tz=UTC], date32, int64,
    float64, string, dictionary<int32, string> for low-cardinality strings,
    struct and list for the nested dataset).
  - jsonl: one object per row; missing values null, or left out with
    ``jsonl_missing='omit'`` (top-level keys only; struct fields stay null).
  - tfrecord: one tf.train.Example per row; int64_list / float_list (32-bit
    floats) / bytes_list; timestamps int64 microseconds since the epoch,
    dates int64 days since 1970-01-01; missing values are absent features.
  """
  e = entry(name)
  if fmt not in FORMATS:
    raise ValueError(f'format {fmt!r}: one of {FORMATS}')
  if fmt not in e['formats']:
    raise ValueError(f'{name} does not fit {fmt}; it fits {e["formats"]}')
  folder = os.fspath(folder)
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f'{name}.{EXTENSIONS[fmt]}')
  if fmt == 'csv':
    with open(path, 'wb') as f:
      f.write(_stored_bytes(name))
  elif fmt == 'parquet':
    pq.write_table(to_arrow(name), path)
  elif fmt == 'jsonl':
    _write_jsonl(name, path, jsonl_missing)
  else:
    _write_tfrecord(name, path)
  return path


def _quote(v: str) -> str:
  return '"' + v.replace('"', '""') + '"'


def materialize_variant(name: str, variant: str,
                        folder) -> Tuple[str, Dict[str, object]]:
  """Writes a CSV dialect variant of a flat dataset; returns (path, options).

  The values are the committed CSV's text, field for field; only the dialect
  changes. Lines end with ``\\n``; missing values stay empty fields.

  - semicolon / tab / pipe: ``;`` / ``\\t`` / ``|`` as delimiter, UTF-8.
  - latin1: ``;``-separated and encoded ISO-8859-1 (as a European
    spreadsheet export would be); only datasets whose text fits Latin-1
    (manifest ``latin1_encodable``); meaningful for the non_ascii one.
  - bom: comma, UTF-8 with a byte-order mark (``EF BB BF``) in front.
  - quoted: comma, every header name and present value quoted with ``"``
    (missing values stay empty, unquoted); penguins_raw has values with
    commas (manifest ``has_commas``).

  ``options`` is what a user would pass if dialect detection did not exist,
  in the project's ``dataset.csv`` terms: ``delimiter``, ``quote_char``,
  ``header`` and ``encoding`` (Python codec name; ``utf-8-sig`` for bom).
  The file is ``<folder>/<name>.<variant>.csv``.
  """
  e = entry(name)
  if variant not in VARIANTS:
    raise ValueError(f'variant {variant!r}: one of {sorted(VARIANTS)}')
  if 'csv' not in e['formats']:
    raise ValueError(f'{name} is not a flat dataset; no CSV variants')
  delimiter, encoding, quote_all, bom = VARIANTS[variant]
  if variant == 'latin1' and not e['latin1_encodable']:
    raise ValueError(f'{name} has text outside ISO-8859-1')
  rows = list(csv.reader(io.StringIO(_stored_bytes(name).decode('utf-8'),
                                     newline='')))
  buf = io.StringIO(newline='')
  if quote_all:
    for r in rows:
      buf.write(','.join(_quote(v) if v != '' else '' for v in r) + '\n')
  else:
    csv.writer(buf, delimiter=delimiter, quotechar='"',
               lineterminator='\n').writerows(rows)
  data = buf.getvalue().encode(encoding)
  if bom:
    data = b'\xef\xbb\xbf' + data
  folder = os.fspath(folder)
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f'{name}.{variant}.csv')
  with open(path, 'wb') as f:
    f.write(data)
  options = {'delimiter': delimiter, 'quote_char': '"', 'header': True,
             'encoding': 'utf-8-sig' if bom else encoding}
  return path, options


# ------------------------------------------------------------------- tfdv


def for_tfdv(df: pd.DataFrame, temporal: str = 'int') -> pd.DataFrame:
  """A load() frame in the form tfdv.generate_statistics_from_dataframe takes.

  That helper keeps only columns whose numpy kind is i, u, f, b, O, S or U
  and silently drops the rest: a datetime64[ns, UTC] column vanishes from the
  statistics without an error; an object column of datetime.date fails
  ("NotImplementedError: Type date32[day] is not supported"). So:

  - timestamps: ``temporal='int'`` int64 microseconds since the epoch, as in
    the TFRecord files; ``temporal='string'`` ISO strings, as in CSV/JSON;
  - dates: days since 1970-01-01 (int) or ``YYYY-MM-DD`` strings, likewise;
  - everything else is kept as is. Nullable Int64 columns need no
    conversion: with TFDV 1.16.1, pandas 1.5 and pyarrow 10 they come out as
    INT features with the right num_missing, as the TFRecord files do.
    (Converting them to float64 with NaN would make them FLOAT features.)

  Integer results are int64, or Int64 when a value is missing. Nested frames
  (dict / list cells) are refused with ValueError.
  """
  if temporal not in ('int', 'string'):
    raise ValueError(f"temporal={temporal!r}: 'int' or 'string'")
  out = {}
  for c in df.columns:
    s = df[c]
    if isinstance(s.dtype, pd.DatetimeTZDtype) or s.dtype.kind == 'M':
      if s.dt.tz is None:
        s = s.dt.tz_localize('UTC')
      if temporal == 'string':
        out[c] = s.dt.strftime(_TS_FORMAT).where(s.notna(), None).astype(
            object)
      else:
        out[c] = _ints(_timestamp_micros(s), s.index)
    elif s.dtype == object:
      sample = s.dropna()
      first = sample.iloc[0] if len(sample) else None
      if isinstance(first, (dict, list)):
        raise ValueError(f'column {c}: nested cells; TFDV\'s DataFrame '
                         'helper takes flat columns only')
      if isinstance(first, _dt.date) and not isinstance(first, _dt.datetime):
        if temporal == 'string':
          out[c] = s.map(lambda v: None if v is None else v.isoformat())
        else:
          out[c] = _ints([None if v is None else (v - _EPOCH_DATE).days
                          for v in s], s.index)
      else:
        out[c] = s
    else:
      out[c] = s
  return pd.DataFrame(out, index=df.index)


def _ints(values: list, index) -> pd.Series:
  """int64, or Int64 when some value is None."""
  if any(v is None for v in values):
    return pd.Series(pd.array(values, dtype='Int64'), index=index)
  return pd.Series(np.asarray(values, dtype='int64'), index=index)
