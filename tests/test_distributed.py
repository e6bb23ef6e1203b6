"""The statistics pass in two worker processes equals the pass in one.

DirectRunner's multi_processing mode runs the pipeline's steps in separate
SDK worker processes and serializes every element and combiner accumulator
between them, as Dataflow does; a step that only worked in one process
(unpicklable state, accumulators that do not merge) shows up here.
"""

import math

import corpus
from beam_jobs import stats as stats_job
from conftest import make_cfg
from transforms.io import artifacts
from transforms import feature_meta
from transforms import statistics


def _stats(tmp_path, path, name, *extra):
  store = tmp_path / name
  assert stats_job.run(make_cfg('stats', [
      'dataset.name=flights', f'dataset.path={path}', 'span=2013',
      f'store.root={store}', 'dataset.slices=[origin]', *extra])) == 0
  span = artifacts.SpanArtifacts(str(store), 'flights', 'train', '2013')
  return span.load_stats(), artifacts.read_json(span.run_path)


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
        # Quantiles: within the sketch's error bound (stats.epsilon 0.01).
        qa = statistics._quantiles(fa.num_stats)  # pylint: disable=protected-access
        qb = statistics._quantiles(fb.num_stats)  # pylint: disable=protected-access
        spread = (fa.num_stats.max - fa.num_stats.min) or 1
        assert all(abs(x - y) <= 0.02 * spread for x, y in zip(qa, qb)), path
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
