"""The vectorized statistics engine (transforms/engine) against TFDV.

For every dataset of the real corpus (tests/corpus/), TFDV's generators (as
the pass runs them: basic statistics, top values with sketches and exact
counting, the project's FeatureMetaGenerator) and the engine describe the
same RecordBatch; their protos must agree as the README promises: every
feature TFDV describes present; counts equal; min/max/mean to 1e-9, std to
1e-6; medians and quantile boundaries within the KLL sketch's rank error of
their true rank; distinct counts within 1%; top values exact below the
sketch's capacity; and the schema inferred from either equal. Then: states
merged across partitions (through their bytes) equal one pass, the state of
a feature stays small, the engine runs in a Beam pipeline, and a stats job
with ``stats.engine=vectorized`` reads the corpus in every format.
"""

import math
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.util import assert_that
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_data_validation.utils import quantiles_util
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx_bsl.arrow import array_util
from tfx_bsl.arrow import table_util

import corpus
from beam_jobs import stats as stats_job
from conftest import make_cfg
from transforms import arrow_types
from transforms import meta_generator
from transforms import schemas
from transforms import statistics
from transforms import stats_names
from transforms.engine import combine
from transforms.engine import output
from transforms.engine import quantiles
from transforms.engine import sketches
from datasketches import kll_doubles_sketch
from transforms.engine import state as st
from transforms.io import artifacts
from transforms.io import sources

OPTIONS = dict(num_top_values=20, num_rank_histogram_buckets=1000,
               num_histogram_buckets=10, num_quantiles_histogram_buckets=10,
               epsilon=0.01)


def _batch(name):
  table = corpus.to_arrow(name)
  table = pa.table({n: arrow_types.cast_column(
      table.column(n), arrow_types.read_type(table.column(n).type))
                    for n in table.column_names})
  return sources.to_tfdv_batch(table), arrow_types.feature_kinds(table.schema)


def _tfdv(batch, kinds, sketch, slices=()):
  generator = meta_generator.FeatureMetaGenerator(kinds, 50, None)
  options = statistics.stats_options(
      **OPTIONS, sketch_top_values=sketch, slices=slices,
      columns=batch.schema.names, generators=[generator])
  return stats_impl.generate_statistics_in_memory(batch, options)


def _engine_options(kinds):
  return st.EngineOptions(kinds=kinds, max_categorical_values=50, **OPTIONS)


def _by_path(dataset):
  return {statistics.feature_path(f): f for f in dataset.features}


def _values(batch, path):
  """The values of a feature (NaN left out), sorted: the truth for ranks."""
  for p, array in table_util.enumerate_arrays(batch,
                                              enumerate_leaves_only=True):
    if '.'.join(p.steps()) == path:
      flat, _ = array_util.flatten_nested(array)
      values = np.asarray(flat.to_numpy(zero_copy_only=False), np.float64)
      return np.sort(values[~np.isnan(values)])
  raise KeyError(path)


def _rank_ok(sorted_values, bound, target, eps):
  """``bound`` lies at a normalized rank within ``eps`` of ``target``."""
  n = len(sorted_values)
  low = np.searchsorted(sorted_values, bound, side='left') / n
  high = np.searchsorted(sorted_values, bound, side='right') / n
  return low - eps <= target <= high + eps


def _schema(stats):
  """The project's inferred schema, features in name order."""
  schema = schemas.infer(stats)
  for field in (schema.feature, schema.string_domain):
    items = sorted(field, key=lambda f: f.name)
    del field[:]
    field.extend(items)
  return schema


def _custom(feature):
  """Custom statistics by name, but the run's clock (two runs differ) and
  the distinct count, an estimate on both sides (_assert_distinct)."""
  return {c.name: c for c in feature.custom_stats
          if c.name not in (stats_names.NOW, stats_names.DISTINCT)}


def _assert_distinct(got, want, path):
  """dv/distinct: exact on both sides while the engine counts exactly
  (at most 1,024 values) and TFDV's KMV sketch holds every hash (4,096);
  above that the engine's HyperLogLog (0.41% standard error) and the KMV
  estimate (1.6%) agree within 5% (three standard errors of the KMV)."""
  mine = {c.name: c.num for c in got.custom_stats}.get(stats_names.DISTINCT)
  theirs = {c.name: c.num for c in want.custom_stats}.get(
      stats_names.DISTINCT)
  assert (mine is None) == (theirs is None), path
  if theirs is None:
    return
  if theirs <= 1024:
    assert mine == theirs, path
  else:
    assert mine == pytest.approx(theirs, rel=0.05), path


def assert_parity(ours, reference, batch, eps):
  """Every check of the module docstring, feature by feature."""
  assert ours.num_examples == reference.num_examples
  mine, theirs = _by_path(ours), _by_path(reference)
  assert set(theirs) <= set(mine), set(theirs) - set(mine)
  for path, want in theirs.items():
    got = mine[path]
    assert got.type == want.type, path
    assert _custom(got) == _custom(want), path
    _assert_distinct(got, want, path)
    kind = want.WhichOneof('stats')
    if kind is None:
      continue
    assert got.WhichOneof('stats') == kind, path
    want_common = statistics.common_stats(want)
    got_common = statistics.common_stats(got)
    for key in ('num_non_missing', 'num_missing', 'min_num_values',
                'max_num_values', 'tot_num_values', 'num_values_histogram'):
      assert getattr(got_common, key) == getattr(want_common, key), (path, key)
    assert math.isclose(got_common.avg_num_values,
                        want_common.avg_num_values, rel_tol=1e-6), path
    if kind == 'num_stats':
      _assert_numbers(path, got.num_stats, want.num_stats, batch, eps)
    elif kind == 'string_stats':
      _assert_text(path, got.string_stats, want.string_stats)


def _assert_numbers(path, got, want, batch, eps):
  assert got.num_zeros == want.num_zeros, path
  for key in ('min', 'max', 'mean'):
    assert math.isclose(getattr(got, key), getattr(want, key),
                        rel_tol=1e-9, abs_tol=1e-12), (path, key)
  assert math.isclose(got.std_dev, want.std_dev, rel_tol=1e-6,
                      abs_tol=1e-12), path
  assert [h.type for h in got.histograms] == [h.type for h in want.histograms]
  assert [h.num_nan for h in got.histograms] == [
      h.num_nan for h in want.histograms], path
  if not want.histograms or not want.histograms[0].buckets:
    return
  if batch is None:  # a slice: its values are not at hand; TFDV's ranks are
    _assert_near_tfdv(path, got, want, eps)
    return
  values = _values(batch, path)
  assert _rank_ok(values, got.median, 0.5, eps), (path, got.median)
  standard, quantile = got.histograms
  want_standard, _ = want.histograms
  # equal-width bounds are the same; counts interpolate the sketch's
  # quantiles, each within the rank error of the values in it
  assert [(b.low_value, b.high_value) for b in standard.buckets] == [
      (b.low_value, b.high_value) for b in want_standard.buckets], path
  total = sum(b.sample_count for b in standard.buckets)
  assert math.isclose(total, len(values), rel_tol=1e-9), path
  for a, b in zip(standard.buckets, want_standard.buckets):
    assert abs(a.sample_count - b.sample_count) <= 4 * eps * len(values) + 1, (
        path, a, b)
  bounds = [b.low_value for b in quantile.buckets] + [
      quantile.buckets[-1].high_value]
  for i, bound in enumerate(bounds):
    assert _rank_ok(values, bound, i / (len(bounds) - 1), eps), (path, i)


def _assert_near_tfdv(path, got, want, eps):
  """Quantile bounds against TFDV's: both within the rank error of the
  truth, so within twice it of each other (checked on TFDV's bounds)."""
  bounds = [b.high_value for b in want.histograms[1].buckets]
  for a, b in zip(got.histograms[1].buckets, want.histograms[1].buckets):
    position = np.searchsorted(bounds, [a.high_value, b.high_value])
    assert abs(int(position[0]) - int(position[1])) <= max(
        1, 2 * eps * len(bounds)), (path, a, b)


def _assert_text(path, got, want):
  assert math.isclose(got.avg_length, want.avg_length, rel_tol=1e-9), path
  assert got.invalid_utf8_count == want.invalid_utf8_count, path
  assert math.isclose(got.unique, want.unique, rel_tol=0.01), path
  if want.unique <= 1024:
    assert got.unique == want.unique, path
    assert list(got.top_values) == list(want.top_values), path
    assert got.rank_histogram == want.rank_histogram, path


@pytest.mark.parametrize('name', corpus.names())
@pytest.mark.parametrize('sketch', [True, False], ids=['sketch', 'exact'])
def test_statistics_equal_tfdv(name, sketch):
  batch, kinds = _batch(name)
  options = _engine_options(kinds)
  ours = combine.statistics_in_memory([batch], options)
  reference = _tfdv(batch, kinds, sketch)
  eps = kll_doubles_sketch.get_normalized_rank_error(
      options.kll_k, False)
  assert_parity(statistics.overall(ours), statistics.overall(reference),
                batch, eps)
  assert _schema(ours) == _schema(reference)


def _eps(options):
  return kll_doubles_sketch.get_normalized_rank_error(options.kll_k, False)


@pytest.mark.parametrize('name', ['flights_nested', 'diamonds'])
def test_states_merged_across_partitions_equal_one_pass(name):
  batch, kinds = _batch(name)
  options = _engine_options(kinds)
  one = st.SliceState()
  one.update(batch, options)
  # three partitions of uneven size, each state through its bytes
  cuts = [0, batch.num_rows // 7, batch.num_rows // 2, batch.num_rows]
  parts = []
  for a, b in zip(cuts, cuts[1:]):
    part = st.SliceState()
    part.update(batch.slice(a, b - a), options)
    parts.append(st.SliceState.from_bytes(part.to_bytes()))
  merged = parts[0]
  for part in parts[1:]:
    merged.merge(part, options)
  assert_parity(output.dataset_statistics(merged, options, ''),
                output.dataset_statistics(one, options, ''), batch,
                2 * _eps(options))
  # distinct counts of sketched features: HLL registers merge exactly
  got = _by_path(output.dataset_statistics(merged, options, ''))
  want = _by_path(output.dataset_statistics(one, options, ''))
  for path, feature in want.items():
    if feature.HasField('string_stats'):
      assert got[path].string_stats.unique == feature.string_stats.unique


def test_serialized_state_per_feature_is_small():
  """flights_nested: 20,000 rows, nested records, times, tail numbers."""
  batch, kinds = _batch('flights_nested')
  options = _engine_options(kinds)
  state = st.SliceState()
  state.update(batch, options)
  sizes = {}
  for path, feature in state.features.items():
    alone = st.SliceState()
    alone.features[path] = feature
    sizes[path] = len(alone.to_bytes())
  assert max(sizes.values()) <= 64 * 1024, sizes
  # tailnum (about 4,000 values) is sketched (HyperLogLog + Misra-Gries),
  # not listed; dep_time (~1,300 values) is in a KLL sketch, day (31) counted
  assert state.features[('tailnum',)].text_counts is None
  assert state.features[('dep_time',)].exact is None
  assert len(state.features[('day',)].exact[0]) == 31
  assert len(state.to_bytes()) < sum(sizes.values()) + 1024


def test_quantile_histograms_equal_tfdv_arithmetic():
  """The engine's copy of TFDV's histogram arithmetic gives TFDV's protos."""
  rng = np.random.default_rng(3)
  for _ in range(50):
    values = np.sort(rng.choice([0.0, 1.0, 2.5, 7.0, 100.0], 101)
                     if rng.random() < 0.5 else rng.normal(size=101))
    cumulative = np.cumsum(rng.integers(0, 5, 101)).astype(np.float64)
    assert quantiles.quantiles_histogram(values, cumulative) == (
        quantiles_util.generate_quantiles_histogram(values, cumulative))
    assert quantiles.rebin(values, cumulative, 10)[0].tolist() == (
        quantiles_util.rebin_quantiles(values, cumulative, 10)[0].tolist())


def test_pipeline_with_slices_equals_in_memory():
  """The Beam transform (CombinePerKey over slices, states coded as bytes)
  gives what the in-memory path gives, slice by slice."""
  batch, kinds = _batch('airquality')
  options = _engine_options(kinds)
  functions = statistics.slice_functions(['Month'], batch.schema.names)
  batches = [batch.slice(i, 40) for i in range(0, batch.num_rows, 40)]
  want = combine.statistics_in_memory(batches, options, functions)
  assert len(want.datasets) == 6  # the span and five months
  with beam.Pipeline() as p:
    got = (p | beam.Create(batches, reshuffle=False)
           | combine.ComputeStatistics(options, functions))
    assert_that(got, lambda found: _equal_one(found, want))


def _equal_one(found, want):
  assert len(found) == 1
  assert found[0] == want, 'pipeline and in-memory statistics differ'


def test_engine_modules_do_not_import_tensorflow():
  code = ('import sys; import transforms.engine.combine; '
          'print(sorted(m for m in ("tensorflow", "tensorflow_data_validation")'
          ' if m in sys.modules))')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True)
  assert out.stdout.strip() == '[]'


# Every reader once (TFRecord where every value is an integer: it keeps
# floats as float32), nested records, and slices with event time.
JOB_CASES = [('penguins_raw', 'csv'), ('planes', 'parquet'),
             ('scb_regions', 'jsonl'), ('digits', 'tfrecord'),
             ('flights_nested', 'parquet'), ('weather', 'csv')]


def _job_stats(tmp_path, path, name, engine, *extra):
  store = tmp_path / f'store-{engine}'
  code = stats_job.run(make_cfg('stats', [
      f'dataset.name={name}', f'dataset.path={path}', 'span=2013-01-01',
      f'store.root={store}', f'stats.engine={engine}', *extra]))
  assert code == 0
  return artifacts.SpanArtifacts(str(store), name, 'train', '2013-01-01'
                                 ).load_stats()


@pytest.mark.parametrize('name,fmt', JOB_CASES)
def test_stats_job_with_engine_equals_tfdv(tmp_path, name, fmt):
  """The stats job with stats.engine=vectorized and with tfdv, same file:
  parity (weather: with slices, and its event time counted)."""
  path = corpus.materialize(name, fmt, tmp_path / 'data')
  extra = []
  if name == 'weather':
    extra = ['dataset.slices=[origin]', 'dataset.event_time=time_hour']
  ours = _job_stats(tmp_path, path, name, 'vectorized', *extra)
  reference = _job_stats(tmp_path, path, name, 'tfdv', *extra)
  batch, _ = _batch(name)
  options = _engine_options({})
  assert [d.name for d in ours.datasets] == [
      d.name for d in reference.datasets]
  for got, want in zip(ours.datasets, reference.datasets):
    assert_parity(got, want, batch if not got.name or got.name == (
        combine.OVERALL_SLICE) else None, _eps(options))
