"""Real public datasets (tests/corpus/) read in every format they fit.

For each dataset and format the stats job reads every row, and its
statistics equal TFDV's own ``generate_statistics_from_dataframe`` on the
same data (counts, missing, min, max, mean). Twenty random half splits of
each dataset, one half validated against a schema inferred from the other
with the default checks, give no ERROR anomaly: the false-positive rate the
README reports (``split_findings`` below computes it).
"""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl

import corpus
from beam_jobs import infer_schema as infer_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from conftest import make_cfg, warehouse_rows
from transforms import arrow_types
from transforms.io import artifacts
from settings import config
from transforms import feature_meta
from transforms import meta_generator
from transforms import schemas
from transforms import statistics
from transforms.checks import validation

CASES = [(name, fmt) for name in corpus.names()
         for fmt in corpus.entry(name)['formats']]
SPLITS = 20


def _run_stats(tmp_path, name, fmt):
  path = corpus.materialize(name, fmt, tmp_path / 'data')
  store = tmp_path / 'store'
  code = stats_job.run(make_cfg('stats', [
      f'dataset.name={name}', f'dataset.path={path}', 'span=s1',
      f'store.root={store}']))
  assert code == 0
  return artifacts.SpanArtifacts(str(store), name, 'train', 's1'), store


def _by_path(stats):
  return {statistics.feature_path(f): f
          for f in statistics.overall(stats).features}


def _flat_columns(df):
  """Columns of a frame that TFDV's DataFrame helper can take."""
  return [c for c in df.columns if not df[c].map(
      lambda v: isinstance(v, (dict, list))).any()]


@pytest.mark.parametrize('name,fmt', CASES)
def test_every_row_read_and_statistics_equal_tfdv(tmp_path, name, fmt):
  store, root = _run_stats(tmp_path, name, fmt)
  run = artifacts.read_json(store.run_path)
  df = corpus.load(name)
  assert run['num_examples'] == len(df) == corpus.entry(name)['rows']
  assert run['num_malformed'] == 0
  ours = _by_path(store.load_stats())

  flat = df[_flat_columns(df)]
  reference = _by_path(tfdv.generate_statistics_from_dataframe(
      corpus.for_tfdv(flat)))
  # TFRecord stores floats as float32.
  tolerance = 1e-6 if fmt == 'tfrecord' else 1e-9
  for feature, expected in reference.items():
    got = ours[feature]
    want_common = statistics.common_stats(expected)
    got_common = statistics.common_stats(got)
    assert got_common.num_non_missing == want_common.num_non_missing, feature
    assert got_common.num_missing == want_common.num_missing, feature
    if expected.HasField('num_stats'):
      assert got.HasField('num_stats'), feature
      for key in ('min', 'max', 'mean'):
        want = getattr(expected.num_stats, key)
        assert math.isclose(getattr(got.num_stats, key), want,
                            rel_tol=tolerance, abs_tol=1e-9), (feature, key)
    else:
      assert got.HasField('string_stats'), feature
  # Nothing TFDV's helper sees is missing, and nested records add their
  # fields (flights_nested: plane.seats, weather_3h.temp, ...).
  assert set(reference) <= set(ours)
  if corpus.is_nested(name):
    planes = [p for p in df['plane'] if p is not None]
    seats = [p['seats'] for p in planes if p.get('seats') is not None]
    got = ours['plane.seats']
    assert statistics.common_stats(got).num_non_missing == len(seats)
    assert math.isclose(got.num_stats.mean, float(np.mean(seats)),
                        rel_tol=1e-9)
    assert ours['plane'].HasField('struct_stats')
    hours = [w for ws in df['weather_3h'] for w in ws]
    temps = [w['temp'] for w in hours if w.get('temp') is not None]
    assert statistics.common_stats(
        ours['weather_3h.temp']).tot_num_values == len(temps)
  # Time is time where the format carries it (TFRecord has no time type).
  for column in corpus.entry(name)['time']:
    kind = feature_meta.kind_of(ours[column])
    if fmt == 'tfrecord':
      assert kind == arrow_types.INT
    else:
      assert kind in arrow_types.TIME_KINDS, (column, kind)


# ----------------------------------------------------------------------------
# Random half splits: no false alarm


def _read_table(name):
  table = corpus.to_arrow(name)
  return pa.table({n: arrow_types.cast_column(
      table.column(n), arrow_types.read_type(table.column(n).type))
                   for n in table.column_names})


def split_findings(name, splits=SPLITS):
  """(anomaly rows, measurement rows) of ``splits`` random half splits.

  Each split validates one half against a schema inferred from the other
  half, with the default schema and drift checks of conf/validate.yaml.
  Statistics come from TFDV's in-memory path with our generator, not a
  Beam pipeline, to keep 220 comparisons within seconds.
  """
  cfg = make_cfg('validate', ['dataset.name=x', 'dataset.path=x.csv',
                              'span=s'])
  settings = config.stats_settings(cfg)
  settings.pop('sample_rate')
  spec = config.comparison_spec(cfg, 'drift')
  table = _read_table(name)
  kinds = arrow_types.feature_kinds(table.schema)

  def stats_of(part):
    options = statistics.stats_options(**settings, generators=[
        meta_generator.FeatureMetaGenerator(
            kinds, config.max_categorical_values(cfg))])
    return stats_impl.generate_statistics_in_memory(
        arrow_types.table_to_tfdv(part), options)

  anomalies, measurements = [], []
  for seed in range(splits):
    mask = np.random.default_rng(seed).random(table.num_rows) < 0.5
    first = stats_of(table.filter(pa.array(mask)))
    second = stats_of(table.filter(pa.array(~mask)))
    schema = schemas.infer(first)
    redact = validation.Redactor('', True, [first, second], schema)
    rows = validation.anomaly_rows(
        validation.check_schema(second, schema, 'TRAINING'), 'schema',
        redact, 1)
    _, drift_rows, drift_measurements = validation.compare(
        'drift', second, first, schema, 'TRAINING', spec,
        {'split': 'half', 'span': str(seed)}, redact, 1)
    anomalies += rows + drift_rows
    measurements += drift_measurements
  return anomalies, measurements


@pytest.mark.parametrize('name', corpus.names())
def test_random_half_splits_raise_no_error(name):
  anomalies, measurements = split_findings(name)
  errors = [(a['check'], a['feature'], a['anomaly_type'], a['description'])
            for a in anomalies if a['severity'] == 'ERROR']
  assert errors == []
  # The comparisons did run: every split measured real distances.
  measured = [m for m in measurements if m['value'] is not None]
  assert len(measured) >= SPLITS
  # The drift defaults' WARNING tier (tests/test_drift_calibration.py has
  # their recall on real drifts): at most 1% of the comparisons.
  warnings = [a for a in anomalies if a['severity'] == 'WARNING' and
              a['check'] == 'drift']
  assert len(warnings) <= 0.01 * len(measured), [
      (a['feature'], a['value']) for a in warnings]
  assert sum(m['is_anomaly'] for m in measured) == len(warnings)


# ----------------------------------------------------------------------------
# The failures that real data showed, each on real data


def _validate(tmp_path, name, spans, *extra):
  """Writes each (span, frame) as Parquet, stats for the first, schema,
  validate the rest; returns (exit codes, warehouse path, store)."""
  store = tmp_path / 'store'
  common = [f'dataset.name={name}',
            f'dataset.path={tmp_path}/data/' + '${span}.parquet',
            f'store.root={store}', *extra]
  (tmp_path / 'data').mkdir(exist_ok=True)
  codes = []
  for i, (span, frame) in enumerate(spans):
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                   tmp_path / 'data' / f'{span}.parquet')
    if i == 0:
      assert stats_job.run(make_cfg('stats', [*common, f'span={span}'])) == 0
      assert infer_job.run(make_cfg('infer_schema', common)) == 0
    else:
      codes.append(validate_job.run(make_cfg('validate',
                                             [*common, f'span={span}'])))
  return codes, str(store / 'warehouse.duckdb'), store


def test_label_moving_from_10_to_60_percent_is_drift(tmp_path):
  """breast_cancer's 0/1 target, resampled to 10% and then 60% positive."""
  df = corpus.load('breast_cancer')
  rng = np.random.default_rng(0)
  pos, neg = df[df.target == 1], df[df.target == 0]

  def sample(rate, n=200):
    k = int(n * rate)
    return df.loc[np.concatenate([rng.choice(pos.index, k, replace=False),
                                  rng.choice(neg.index, n - k,
                                             replace=False)])]

  codes, db, _ = _validate(tmp_path, 'cancer', [('2024-01', sample(0.1)),
                                                ('2024-02', sample(0.6))])
  assert codes == [3]
  drift = warehouse_rows(db, "SELECT * FROM drift_skew WHERE feature = "
                             "'target' AND slice = '' AND \"check\" = "
                             "'drift'")
  assert [(d['metric'], round(d['value'], 3), d['is_anomaly'])
          for d in drift] == [('L_INFTY', 0.5, True)]


def test_weather_by_month_time_is_time_and_constants_that_change(tmp_path):
  """Real monthly spans of NYC weather: time_hour is a timestamp, not
  compared value by value; year is a constant that changes; month, one
  value per span and the one the span's name says, is a partition key."""
  df = corpus.load('weather')
  january = df[df.month == 1]
  february = df[df.month == 2].copy()
  february['year'] = 2014  # planted: the constant 2013 becomes 2014
  codes, db, store = _validate(tmp_path, 'weather', [
      ('2013-01', january), ('2013-02', february)])
  assert codes == [3]
  stats = artifacts.SpanArtifacts(str(store), 'weather', 'train',
                                  '2013-02').load_stats()
  hour = _by_path(stats)['time_hour']
  assert feature_meta.kind_of(hour) == arrow_types.TIMESTAMP
  earliest = feature_meta.as_time(arrow_types.TIMESTAMP, hour.num_stats.min)
  latest = feature_meta.as_time(arrow_types.TIMESTAMP, hour.num_stats.max)
  assert earliest == february.time_hour.min().to_pydatetime()
  assert latest == february.time_hour.max().to_pydatetime()
  schema_text = (store / 'weather' / 'schemas' / 'v1' /
                 'schema.pbtxt').read_text()
  assert 'integer_format: UNIX_MICROSECONDS' in schema_text
  rows = {(d['feature']): d for d in warehouse_rows(
      db, "SELECT * FROM drift_skew WHERE \"check\" = 'drift' AND "
          "slice = '' AND span = '2013-02'")}
  assert rows['time_hour']['value'] is None
  assert 'event time moves' in rows['time_hour']['note']
  assert (rows['year']['metric'], rows['year']['value'],
          rows['year']['is_anomaly']) == ('L_INFTY', 1.0, True)
  assert rows['month']['value'] is None
  assert 'partition key' in rows['month']['note']
  # Every other comparison measured a real distance or says why not.
  assert all(d['value'] is not None or d['note'] for d in rows.values())


@pytest.mark.parametrize('variant', ['semicolon', 'tab', 'pipe', 'quoted',
                                     'bom'])
def test_csv_dialects_of_real_data_read_without_options(tmp_path, variant):
  path, _ = corpus.materialize_variant('penguins_raw', variant,
                                       tmp_path / 'data')
  store = tmp_path / 'store'
  assert stats_job.run(make_cfg('stats', [
      'dataset.name=p', f'dataset.path={path}', 'span=s',
      f'store.root={store}'])) == 0
  stats = artifacts.SpanArtifacts(str(store), 'p', 'train', 's').load_stats()
  features = _by_path(stats)
  assert set(features) == set(corpus.load('penguins_raw').columns)
  assert statistics.overall(stats).num_examples == 344
  assert features['Body Mass (g)'].HasField('num_stats')


def test_latin1_real_text_with_its_encoding(tmp_path):
  path, options = corpus.materialize_variant('scb_regions', 'latin1',
                                             tmp_path / 'data')
  store = tmp_path / 'store'
  assert stats_job.run(make_cfg('stats', [
      'dataset.name=scb', f'dataset.path={path}', 'span=s',
      f'store.root={store}', f'dataset.csv.encoding={options["encoding"]}'])
                       ) == 0
  rows = warehouse_rows(str(store / 'warehouse.duckdb'),
                        'SELECT feature, top_values FROM feature_stats')
  names = corpus.load('scb_regions')
  text_column = next(c for c in names.columns if names[c].dtype == object)
  expected = set(names[text_column].dropna())
  assert len(expected) == len(names)  # region names are unique
  assert any(any(ord(ch) > 127 for ch in v) for v in expected)
  stats = artifacts.SpanArtifacts(str(store), 'scb', 'train',
                                  's').load_stats()
  feature = _by_path(stats)[text_column]
  assert feature.string_stats.unique == len(expected)
  shown = {b.label for b in feature.string_stats.rank_histogram.buckets}
  assert shown == expected
  assert rows  # written to the warehouse too
