"""Top values and distinct counts: sketches where identifiers need them.

stats.top_values=sketch uses TFDV's Misra-Gries and KMV sketches;
stats.top_values=exact shuffles one record per distinct value; auto (the
default) takes sketches when a text column of the first file's first rows
has more distinct values than the sketch counts exactly. On a feature with
fewer distinct values than the sketches hold, both give the same
statistics, so schema inference, L-infinity drift and the report do not
change; on an identifier column the sketch estimates the distinct count.
"""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import corpus
from beam_jobs import stats as stats_job
from conftest import make_cfg
from transforms.io import artifacts
from transforms import statistics


def _stats(tmp_path, path, method):
  store = tmp_path / f'store-{method}'
  assert stats_job.run(make_cfg('stats', [
      'dataset.name=s', f'dataset.path={path}', 'span=s',
      f'store.root={store}', f'stats.top_values={method}'])) == 0
  stats = artifacts.SpanArtifacts(str(store), 's', 'train', 's').load_stats()
  return {statistics.feature_path(f): f
          for f in statistics.overall(stats).features}


def test_sketch_equals_exact_below_its_size_and_estimates_ids(tmp_path):
  # Real categories (diamonds: cut, color, clarity) plus a unique id.
  df = corpus.load('diamonds')
  n = len(df)
  rng = np.random.default_rng(0)
  table = pa.table({
      'cut': df['cut'], 'color': df['color'], 'clarity': df['clarity'],
      'carat': df['carat'],
      'id': [f'd{i:07d}' for i in rng.permutation(n)],
  })
  pq.write_table(table, tmp_path / 'd.parquet')
  sketch = _stats(tmp_path, tmp_path / 'd.parquet', 'sketch')
  exact = _stats(tmp_path, tmp_path / 'd.parquet', 'exact')
  for name in ('cut', 'color', 'clarity'):
    s, e = sketch[name].string_stats, exact[name].string_stats
    assert s.unique == e.unique == df[name].nunique()
    assert [(v.value, v.frequency) for v in s.top_values] == [
        (v.value, v.frequency) for v in e.top_values]
    assert [(b.label, b.sample_count) for b in s.rank_histogram.buckets] == [
        (b.label, b.sample_count) for b in e.rank_histogram.buckets]
  assert exact['id'].string_stats.unique == n
  assert sketch['id'].string_stats.unique == pytest.approx(n, rel=0.03)
  assert sketch['carat'].num_stats.mean == exact['carat'].num_stats.mean


@pytest.mark.parametrize('fmt', ['parquet', 'csv', 'jsonl'])
def test_auto_takes_sketches_only_for_identifier_columns(tmp_path, fmt):
  from settings import job as job_settings  # pylint: disable=g-import-not-at-top
  from transforms import span_stats  # pylint: disable=g-import-not-at-top
  chosen = {}
  for name in ('planes', 'penguins'):  # planes has tailnum, an id
    path = corpus.materialize(name, fmt, tmp_path / name)
    # stats.top_values=auto samples the first file for TFDV's generators
    # (the engine decides per feature as it counts)
    settings = job_settings.parse(make_cfg('stats', [
        f'dataset.name={name}', f'dataset.path={path}', 'span=s',
        f'store.root={tmp_path}/store', 'stats.engine=tfdv']), 'stats')
    plan = span_stats.plan_pass(settings.stats_pass, settings.runner.options)
    # Sketches replace TFDV's default generators.
    chosen[name] = not plan.stats_options.add_default_generators
  assert chosen == {'planes': True, 'penguins': False}


def test_bad_top_values_setting_is_one_line(tmp_path):
  from transforms.errors import UserError  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match=r'^stats.top_values=.approx.: expected '
                                      r'auto, sketch or exact$'):
    stats_job.run(make_cfg('stats', [
        'dataset.name=s', 'dataset.path=/nonexistent.csv', 'span=s',
        f'store.root={tmp_path}', 'stats.top_values=approx']))
