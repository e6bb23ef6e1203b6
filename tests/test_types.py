"""Every Arrow type has a meaning: what it is read as, what TFDV sees, the
README's table; JSON lines with mixed types; the comparisons that used to
measure a silent 0."""

import datetime as dt
import decimal
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl

from beam_jobs import stats as stats_job
from conftest import REPO, make_cfg
from transforms import arrow_types
from transforms.io import artifacts
from transforms import feature_meta
from transforms import meta_generator
from transforms.checks import metrics
from transforms import schemas
from transforms import statistics
from transforms.checks import validation

UTC = dt.timezone.utc


def _every_type() -> pa.Table:
  """Three rows of every source type the table names (row 2 mostly null)."""
  return pa.table({
      'flag': pa.array([True, None, False]),
      'small': pa.array([1, None, 7], pa.int8()),
      'u32': pa.array([1, None, 4_000_000_000], pa.uint32()),
      'u64': pa.array([1, None, 2**64 - 1], pa.uint64()),
      'f16': pa.array([1.5, None, float('nan')], pa.float32()),
      'inf': pa.array([float('inf'), 1.0, float('-inf')]),
      'price': pa.array([decimal.Decimal('9.99'), None,
                         decimal.Decimal('0.01')], pa.decimal128(5, 2)),
      'name': pa.array(['a', None, 'b'], pa.large_string()),
      'code': pa.array(['x', 'y', None]).dictionary_encode(),
      'blob': pa.array([b'\x00\xff', None, b'ok'], pa.binary()),
      'fixed': pa.array([b'ab', b'cd', None], pa.binary(2)),
      'ts_ns': pa.array([0, None, 86_400 * 10**9], pa.timestamp('ns')),
      'ts_paris': pa.array([dt.datetime(2024, 6, 1, tzinfo=UTC), None,
                            dt.datetime(2024, 6, 2, tzinfo=UTC)],
                           pa.timestamp('s', tz='Europe/Paris')),
      'day': pa.array([dt.date(2024, 6, 1), None, dt.date(1970, 1, 2)]),
      'day64': pa.array([dt.date(1970, 1, 1), None, None], pa.date64()),
      'clock': pa.array([dt.time(1, 30), None, dt.time(0, 0, 1)]),
      'wait': pa.array([dt.timedelta(seconds=90), None, None]),
      'addr': pa.array([{'city': 'Oslo', 'zip': 150}, None,
                        {'city': None, 'zip': 7}]),
      'tags': pa.array([['a', 'b'], [], None], pa.list_(pa.string())),
      'pair': pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int64(), 2)),
      'legs': pa.array([[{'km': 1.5}], [{'km': 2.0}, {'km': None}], None]),
      'attrs': pa.array([[('k', 1)], None, [('a', 2), ('b', 3)]],
                        pa.map_(pa.string(), pa.int64())),
      'grid': pa.array([[[1, 2], [3]], None, [[4]]]),
      'nothing': pa.nulls(3),
  })


def test_every_type_is_read_and_described():
  table = _every_type()
  schema = pa.schema([pa.field(f.name, arrow_types.read_type(f.type))
                      for f in table.schema])
  read = pa.table({f.name: arrow_types.cast_column(table.column(f.name),
                                                   f.type)
                   for f in schema})
  kinds = arrow_types.feature_kinds(schema)
  generator = meta_generator.FeatureMetaGenerator(kinds, 50)
  stats = stats_impl.generate_statistics_in_memory(
      arrow_types.table_to_tfdv(read), tfdv.StatsOptions(
          generators=[generator]))
  by_path = {statistics.feature_path(f): f
             for f in statistics.overall(stats).features}
  assert statistics.overall(stats).num_examples == 3
  expected_kinds = {
      'flag': 'bool', 'small': 'int', 'u32': 'int', 'u64': 'float',
      'f16': 'float', 'inf': 'float', 'price': 'float', 'name': 'string',
      'code': 'string', 'blob': 'bytes', 'fixed': 'bytes',
      'ts_ns': 'timestamp', 'ts_paris': 'timestamp', 'day': 'date',
      'day64': 'date', 'clock': 'time_of_day', 'wait': 'duration',
      'addr': 'struct', 'addr.city': 'string', 'addr.zip': 'int',
      'tags': 'string', 'pair': 'int', 'legs': 'struct', 'legs.km': 'float',
      'attrs': 'struct', 'attrs.key': 'string', 'attrs.value': 'int',
      'grid': 'string', 'nothing': 'string'}
  assert {p: feature_meta.kind_of(f) for p, f in by_path.items()} == (
      expected_kinds)
  # Values mean what they say: microseconds, days, seconds.
  assert by_path['ts_ns'].num_stats.max == 86_400 * 10**6
  assert by_path['ts_paris'].num_stats.min == 1717200000 * 10**6
  assert by_path['day'].num_stats.min == 1
  assert by_path['clock'].num_stats.max == 5400
  assert by_path['wait'].num_stats.max == 90
  assert by_path['price'].num_stats.mean == pytest.approx(5.0)
  assert by_path['u64'].num_stats.max == pytest.approx(2.0**64)
  # Missing stays missing, and the NaN is not a number TFDV averages.
  assert statistics.common_stats(by_path['flag']).num_missing == 1
  assert statistics.common_stats(by_path['nothing']).num_non_missing == 0
  assert by_path['f16'].num_stats.histograms[0].num_nan == 1
  # Nested: every item of every record.
  assert statistics.common_stats(by_path['legs.km']).tot_num_values == 2
  assert statistics.common_stats(by_path['attrs.key']).tot_num_values == 3
  # Small integers are counted exactly; the time domain goes to the schema.
  assert feature_meta.value_counts(by_path['small']) == {'1': 1, '7': 1}
  schema_proto = schemas.infer(stats)
  ts = next(f for f in schema_proto.feature if f.name == 'ts_ns')
  assert ts.time_domain.integer_format == ts.time_domain.UNIX_MICROSECONDS
  day = next(f for f in schema_proto.feature if f.name == 'day')
  assert day.time_domain.integer_format == day.time_domain.UNIX_DAYS


def test_readme_type_table_matches_the_code():
  with open(os.path.join(REPO, 'README.md')) as f:
    readme = f.read()
  for row in arrow_types.TYPE_TABLE:
    assert '| ' + ' | '.join(row) + ' |' in readme, row[0]


def test_parquet_struct_and_timestamp_end_to_end(tmp_path):
  """A Parquet file of nested records and times, read by the stats job."""
  table = pa.table({
      'addr': pa.array([{'city': c, 'zip': z} for c, z in
                        [('Oslo', 150), ('Bergen', 5003)] * 50]),
      'ts': pa.array([dt.datetime(2024, 6, 1, h % 24, tzinfo=UTC)
                      for h in range(100)], pa.timestamp('ns', tz='UTC')),
  })
  pq.write_table(table, tmp_path / 'x.parquet')
  store = tmp_path / 'store'
  assert stats_job.run(make_cfg('stats', [
      'dataset.name=x', f'dataset.path={tmp_path}/x.parquet',
      'span=2024-06-01', f'store.root={store}'])) == 0
  span = artifacts.SpanArtifacts(str(store), 'x', 'train', '2024-06-01')
  run = artifacts.read_json(span.run_path)
  assert (run['num_examples'], run['num_malformed']) == (100, 0)
  by_path = {statistics.feature_path(f): f
             for f in statistics.overall(span.load_stats()).features}
  assert by_path['addr'].HasField('struct_stats')
  assert by_path['addr.city'].string_stats.unique == 2
  assert feature_meta.kind_of(by_path['ts']) == 'timestamp'


# ----------------------------------------------------------------------------
# JSON lines with mixed types


def _write_jsonl(path, rows):
  with open(path, 'w') as f:
    for row in rows:
      f.write(json.dumps(row) + '\n')


def _stats_of(tmp_path, pattern, name='mixed', capsys=None):
  store = tmp_path / f'store-{name}'
  code = stats_job.run(make_cfg('stats', [
      f'dataset.name={name}', f'dataset.path={pattern}', 'span=s',
      f'store.root={store}']))
  assert code == 0
  if capsys is not None:
    assert '200 JSON values of another type read as text' in (
        capsys.readouterr().out)
  span = artifacts.SpanArtifacts(str(store), name, 'train', 's')
  stats = span.load_stats()
  return ({statistics.feature_path(f): f
           for f in statistics.overall(stats).features},
          artifacts.read_json(span.run_path), span)


def test_jsonl_mixed_types_resolve_the_same_way_every_time(tmp_path,
                                                           capsys):
  rows = [{'weight': 5 if i % 3 else '5 kg', 'score': i if i % 2 else i + .5,
           'ok': i % 2 == 0, 'meta': {'v': i}} for i in range(300)]
  _write_jsonl(tmp_path / 'a.jsonl', rows)
  # 'weight' is 5 in 200 rows and '5 kg' in 100: the 200 numbers counted.
  first, run, _ = _stats_of(tmp_path, tmp_path / 'a.jsonl', 'one', capsys)
  again, _, _ = _stats_of(tmp_path, tmp_path / 'a.jsonl', 'two')
  assert run['num_examples'] == 300 and run['num_malformed'] == 0
  # Numbers and text in one field: text, the numbers as their JSON text.
  assert first['weight'].string_stats.unique == 2
  assert {b.label for b in first['weight'].string_stats.rank_histogram
          .buckets} == {'5', '5 kg'}
  # Integers and decimals: one float feature, every value kept.
  assert first['score'].num_stats.mean == pytest.approx(
      sum(r['score'] for r in rows) / 300)
  assert first['meta.v'].num_stats.max == 299
  for name in first:
    assert first[name].SerializeToString() == again[
        name].SerializeToString(), name


def test_jsonl_value_that_fits_nowhere_is_a_dead_letter_not_a_crash(tmp_path):
  (tmp_path / 'in').mkdir()
  _write_jsonl(tmp_path / 'in' / 'a.jsonl', [{'n': i, 'tags': ['x']}
                                             for i in range(50)])
  _write_jsonl(tmp_path / 'in' / 'b.jsonl',
               [{'n': 'many', 'tags': ['y']}, {'n': 3, 'tags': 'z'},
                {'n': 4, 'tags': ['y']}])
  features, run, span = _stats_of(tmp_path, tmp_path / 'in' / '*.jsonl')
  assert run['num_examples'] == 51 and run['num_malformed'] == 2
  letters = [json.loads(line) for path in artifacts.list_files(
      span.dead_letter_dir + '/*') for line in open(path)]
  assert sorted(l['reason'] for l in letters) == [
      "field 'n': value is not an integer", "field 'tags': value is not a list"]
  assert features['n'].num_stats.max == 49


# ----------------------------------------------------------------------------
# No silent zeros


def _stats(rows_by_feature):
  table = pa.table(rows_by_feature)
  kinds = arrow_types.feature_kinds(table.schema)
  return stats_impl.generate_statistics_in_memory(
      arrow_types.table_to_tfdv(table), tfdv.StatsOptions(
          generators=[meta_generator.FeatureMetaGenerator(kinds, 50)]))


def _drift(current, baseline):
  schema = schemas.infer(baseline)
  spec = validation.ComparisonSpec()
  redact = validation.Redactor('', True, [current, baseline], schema)
  _, rows, measured = validation.compare(
      'drift', current, baseline, schema, 'TRAINING', spec,
      {'split': 'train', 'span': 'before'}, redact, 1)
  return rows, {m['feature']: m for m in measured if not m['slice']}


def test_small_integers_and_changing_constants_are_measured_not_zero():
  n = 1000
  before = _stats({'label': [1] * 100 + [0] * (n - 100), 'const': [1] * n,
                   'month': [i % 12 + 1 for i in range(n)],
                   'x': [float(i) for i in range(n)]})
  after = _stats({'label': [1] * 600 + [0] * (n - 600), 'const': [7] * n,
                  'month': [i % 12 + 1 for i in range(n)],
                  'x': [float(i) for i in range(n)]})
  rows, measured = _drift(after, before)
  assert (measured['label']['metric'], measured['label']['value']) == (
      'L_INFTY', pytest.approx(0.5))
  assert measured['const']['value'] == 1.0
  assert measured['month']['value'] == 0.0  # measured, and equal
  assert measured['x']['metric'] == 'PSI'
  assert {r['feature'] for r in rows} == {'label', 'const'}
  assert all(r['anomaly_type'] == 'COMPARATOR_L_INFTY_HIGH' for r in rows)


def test_what_cannot_be_compared_says_why():
  n = 500
  base = {'user_id': [f'u{i}' for i in range(n)],
          'seen': pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC)] * n),
          'empty': pa.nulls(n, pa.float64()), 'x': [1.0 * i for i in range(n)]}
  rows, measured = _drift(_stats(base), _stats(base))
  assert rows == []
  notes = {name: m['note'] for name, m in measured.items()
           if m['value'] is None}
  assert set(notes) == {'user_id', 'seen', 'empty'}
  assert notes['seen'].startswith('timestamp: event time moves')
  assert notes['user_id'].startswith('identifier-like')
  assert notes['empty'] == 'no values in this span'
  assert measured['x']['value'] == 0.0


def test_small_samples_past_the_threshold_are_within_noise():
  """30 rows a side: a share moving by 0.2 is not evidence of drift."""
  before = _stats({'sex': ['f'] * 15 + ['m'] * 15})
  after = _stats({'sex': ['f'] * 21 + ['m'] * 9})
  rows, measured = _drift(after, before)
  assert measured['sex']['value'] == pytest.approx(0.2)
  assert not measured['sex']['is_anomaly'] and rows == []
  assert 'within sampling noise' in measured['sex']['note']
  # The same shift over 3,000 rows a side is.
  before = _stats({'sex': ['f'] * 1500 + ['m'] * 1500})
  after = _stats({'sex': ['f'] * 2100 + ['m'] * 900})
  rows, measured = _drift(after, before)
  assert measured['sex']['is_anomaly'] and len(rows) == 1


def test_decile_jensen_shannon_ignores_an_outlier_but_sees_a_shift():
  base = [float(i % 100) for i in range(2000)]
  outlier = base[:-1] + [1e6]
  shifted = [v + 30 for v in base]
  b = _stats({'x': base})
  assert metrics.measure('JENSEN_SHANNON_DIVERGENCE', _one(_stats(
      {'x': outlier})), _one(b)).value < 0.01
  assert metrics.measure('JENSEN_SHANNON_DIVERGENCE', _one(_stats(
      {'x': shifted})), _one(b)).value > 0.2


def _one(stats):
  return statistics.overall(stats).features[0]
