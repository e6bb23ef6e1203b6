"""The statistics pass in two worker processes equals the pass in one.

DirectRunner's multi_processing mode runs the pipeline's steps in separate
SDK worker processes and serializes every element and combiner accumulator
between them, as Dataflow does; a step that only worked in one process
(unpicklable state, accumulators that do not merge) shows up here.
"""

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import corpus
from beam_jobs import stats as stats_job
from conftest import make_cfg
from transforms.io import artifacts
from transforms import feature_meta
from transforms import statistics

# The stats job's default stats.epsilon (conf/stats.yaml).
EPSILON = 0.01


def _stats(tmp_path, path, name, *extra):
  store = tmp_path / name
  assert stats_job.run(make_cfg('stats', [
      'dataset.name=flights', f'dataset.path={path}', 'span=2013',
      f'store.root={store}', 'dataset.slices=[origin]', *extra])) == 0
  span = artifacts.SpanArtifacts(str(store), 'flights', 'train', '2013')
  return span.load_stats(), artifacts.read_json(span.run_path)


def _sorted_values(table, path):
  """Every value of the numeric feature at ``path`` (lists flattened, struct
  fields followed; timestamps as microseconds, as the statistics hold them),
  sorted, without missing values and NaN."""
  first, *rest = path.split('.')
  column = table.column(first).combine_chunks()
  for name in rest:
    while pa.types.is_list(column.type):
      column = pc.list_flatten(column)
    # flatten(): the fields with the struct's own missing rows as missing.
    column = column.flatten()[column.type.get_field_index(name)]
  while pa.types.is_list(column.type):
    column = pc.list_flatten(column)
  if pa.types.is_timestamp(column.type):
    column = column.cast(pa.int64())
  values = column.drop_null().to_numpy(zero_copy_only=False).astype(float)
  return np.sort(values[~np.isnan(values)])


def _rank_gap(exact, value, rank):
  """How far ``rank`` lies outside the ranks ``value`` holds in ``exact``."""
  low = np.searchsorted(exact, value, 'left') / len(exact)
  high = np.searchsorted(exact, value, 'right') / len(exact)
  return max(0.0, low - rank, rank - high)


def _features(dataset):
  return {statistics.feature_path(f): f for f in dataset.features}


def test_two_worker_processes_give_the_same_statistics(tmp_path):
  # Real nested data with timestamps, lists of records and small integers.
  path = corpus.materialize('flights_nested', 'parquet', tmp_path / 'data')
  one, one_run = _stats(tmp_path, path, 'one')
  two, two_run = _stats(
      tmp_path, path, 'two',
      'runner.options.direct_running_mode=multi_processing',
      'runner.options.direct_num_workers=2')
  assert one_run['num_examples'] == two_run['num_examples'] == 20000
  assert one_run['num_malformed'] == two_run['num_malformed'] == 0
  table = corpus.to_arrow('flights_nested')
  origin = table.column('origin').cast(pa.string())
  rows = {'': table, **{f'origin_{o}': table.filter(pc.equal(origin, o))
                        for o in ('EWR', 'JFK', 'LGA')}}
  slices_one = {statistics.slice_name(d): d for d in one.datasets}
  slices_two = {statistics.slice_name(d): d for d in two.datasets}
  assert set(slices_one) == set(slices_two) == {
      '', 'origin_EWR', 'origin_JFK', 'origin_LGA'}
  for name, dataset in slices_one.items():
    other = slices_two[name]
    assert dataset.num_examples == other.num_examples
    a, b = _features(dataset), _features(other)
    assert set(a) == set(b)
    for path, fa in a.items():
      fb = b[path]
      ca, cb = statistics.common_stats(fa), statistics.common_stats(fb)
      assert (ca.num_non_missing, ca.num_missing, ca.tot_num_values) == (
          cb.num_non_missing, cb.num_missing, cb.tot_num_values), path
      if fa.HasField('num_stats'):
        for key in ('min', 'max', 'num_zeros'):
          assert getattr(fa.num_stats, key) == getattr(fb.num_stats, key)
        assert math.isclose(fa.num_stats.mean, fb.num_stats.mean,
                            rel_tol=1e-12), path
        # Quantile boundaries: each run's boundary i sits at rank i/10 of
        # the real values within the sketch's stated rank error
        # (stats.epsilon / 2, README), so the two runs are within
        # stats.epsilon of each other. Ranks, not values: KLL compacts at
        # random, and where values have gaps (flight numbers) a rank error
        # of 0.3% moves a boundary by hundreds.
        exact = _sorted_values(rows[name], path)
        for stats in (fa.num_stats, fb.num_stats):
          bounds = statistics._quantiles(stats)  # pylint: disable=protected-access
          assert len(bounds) == 11, path
          gaps = [_rank_gap(exact, v, i / 10)
                  for i, v in enumerate(bounds[1:-1], 1)]
          assert max(gaps) <= EPSILON / 2, (name, path, bounds, gaps)
      if fa.HasField('string_stats'):
        sa, sb = fa.string_stats, fb.string_stats
        assert sa.unique == sb.unique, path
        if sa.unique <= 1024:  # exact below the sketch's size
          assert ({(t.value, t.frequency) for t in sa.top_values} ==
                  {(t.value, t.frequency) for t in sb.top_values}), path
      # Our own statistics (kinds, exact value counts) merge the same way.
      assert feature_meta.kind_of(fa) == feature_meta.kind_of(fb), path
      assert feature_meta.value_counts(fa) == feature_meta.value_counts(
          fb), path
      # The distinct count of integers (a KMV sketch: the same hashes kept
      # whatever the merge order).
      assert feature_meta.distinct_count(fa) == feature_meta.distinct_count(
          fb), path
  # 20,000 distinct row numbers, estimated above the sketch's 4,096 hashes.
  ids = feature_meta.distinct_count(_features(slices_two[''])['id'])
  assert abs(ids - 20000) < 0.05 * 20000
  month = feature_meta.distinct_count(_features(slices_two[''])['month'])
  assert month == 12  # exact below the sketch's size
