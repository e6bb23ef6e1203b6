"""The stats job end to end on DirectRunner: artifacts, warehouse, bad input."""

import datetime as dt
import json
import os

import apache_beam as beam
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from beam_jobs import stats as stats_job
from conftest import make_cfg, people_frame, run_job, warehouse_rows
from transforms import span_stats
from transforms.io import artifacts
from transforms.io import sources
from transforms import statistics
from transforms.errors import EmptySpanError, UserError


def _cfg(path, store, *extra, span='2024-06-01'):
  return make_cfg('stats', [f'dataset.name=people', f'dataset.path={path}',
                            f'span={span}', *store, *extra])


def _by_path(stats):
  return {statistics.feature_path(f): f for f in stats.features}


def test_statistics_equal_tfdv_dataframe_helper(tmp_path, store_overrides):
  store, db = store_overrides
  df = people_frame(3000)
  path = tmp_path / 'people.parquet'
  df.to_parquet(path, index=False)

  assert stats_job.run(_cfg(path, store, 'stats.batch_size=700')) == 0

  span = artifacts.SpanArtifacts(store[0].split('=', 1)[1], 'people', 'train',
                                 '2024-06-01')
  ours = statistics.overall(span.load_stats())
  ref = tfdv.generate_statistics_from_dataframe(pd.read_parquet(path)
                                               ).datasets[0]
  assert ours.num_examples == ref.num_examples == 3000
  ours_f, ref_f = _by_path(ours), _by_path(ref)
  assert set(ours_f) == set(ref_f)
  for name, r in ref_f.items():
    o = ours_f[name]
    assert o.type == r.type, name
    if r.HasField('num_stats'):
      a, b = o.num_stats, r.num_stats
      assert a.common_stats.num_non_missing == b.common_stats.num_non_missing
      assert a.common_stats.num_missing == b.common_stats.num_missing
      assert (a.min, a.max, a.num_zeros) == (b.min, b.max, b.num_zeros)
      assert a.mean == pytest.approx(b.mean, rel=1e-12), name
      assert a.std_dev == pytest.approx(b.std_dev, rel=1e-9), name
      # Quantiles are sketches merged in a different order: approximate.
      spread = b.max - b.min
      assert abs(a.median - b.median) <= 0.02 * spread, name
    else:
      a, b = o.string_stats, r.string_stats
      assert a.common_stats.num_missing == b.common_stats.num_missing
      assert a.unique == b.unique
      if b.unique <= 100:  # top-k sketches are exact for few values only
        assert [(t.value, t.frequency) for t in a.top_values] == [
            (t.value, t.frequency) for t in b.top_values]

  rows = warehouse_rows(db, 'SELECT * FROM feature_stats ORDER BY feature')
  assert [r['feature'] for r in rows] == sorted(ref_f)
  income = next(r for r in rows if r['feature'] == 'income')
  ref_income = ref_f['income'].num_stats
  assert income['mean'] == pytest.approx(ref_income.mean, rel=1e-12)
  assert income['num_missing'] == ref_income.common_stats.num_missing
  assert income['missing_rate'] == pytest.approx(
      ref_income.common_stats.num_missing / 3000)
  assert len(income['quantiles']) == 11
  run = warehouse_rows(db, 'SELECT * FROM runs')
  assert len(run) == 1 and run[0]['num_examples'] == 3000
  assert run[0]['stats_uri'] == span.stats_path
  assert json.loads(run[0]['config'])['dataset']['name'] == 'people'
  record = artifacts.read_json(span.run_path)
  assert record['run_id'] == run[0]['run_id']


def test_rerun_replaces_rows_and_slices_get_their_own_rows(
    tmp_path, store_overrides):
  store, db = store_overrides
  path = tmp_path / 'people.csv'
  people_frame(1000).to_csv(path, index=False)
  cfg = _cfg(path, store, 'dataset.slices=[sex]')
  assert stats_job.run(cfg) == 0
  first = warehouse_rows(db, 'SELECT run_id FROM runs')
  assert stats_job.run(cfg) == 0
  runs = warehouse_rows(db, 'SELECT run_id FROM runs')
  assert len(runs) == 1 and runs != first
  counts = warehouse_rows(
      db, 'SELECT slice, count(*) AS n, max(num_examples) AS rows, '
      'count(DISTINCT run_id) AS runs FROM feature_stats GROUP BY slice '
      'ORDER BY slice')
  assert [c['slice'] for c in counts] == ['', 'sex_female', 'sex_male']
  assert all(c['n'] == 6 and c['runs'] == 1 for c in counts)
  assert counts[1]['rows'] + counts[2]['rows'] == counts[0]['rows'] == 1000


def test_privacy_rare_values_dropped_and_hashed_features(
    tmp_path, store_overrides):
  store, db = store_overrides
  path = tmp_path / 'people.parquet'
  people_frame(500).to_parquet(path, index=False)
  assert stats_job.run(_cfg(path, store, 'privacy.hashed_features=[country]',
                            'privacy.salt=s3cret')) == 0
  rows = {r['feature']: r for r in warehouse_rows(
      db, 'SELECT feature, top_values FROM feature_stats')}
  # user_id values are unique (count 1 < min_value_count): none written.
  assert rows['user_id']['top_values'] == []
  countries = [tv['value'] for tv in rows['country']['top_values']]
  assert countries and all(v.startswith('sha256:') for v in countries)
  assert statistics.hash_value('US', 's3cret') in countries
  assert [tv['value'] for tv in rows['sex']['top_values']] == ['female',
                                                                'male'] or [
      tv['value'] for tv in rows['sex']['top_values']] == ['male', 'female']


def test_malformed_rows_are_counted_and_kept_in_the_dead_letter(
    tmp_path, store_overrides):
  store, db = store_overrides
  (tmp_path / 'a.csv').write_text('age,city\n31,Berlin\n55,Oslo\n')
  (tmp_path / 'b.csv').write_text('age,city\n42,Paris,EXTRA\nforty,Rome\n')
  assert stats_job.run(_cfg(tmp_path / '*.csv', store)) == 0
  run = warehouse_rows(db, 'SELECT * FROM runs')[0]
  assert run['num_examples'] == 2 and run['num_malformed'] == 2
  dead = artifacts.list_files(os.path.join(run['dead_letter_uri'], '*'))
  kept = [json.loads(line) for p in dead for line in open(p)]
  assert sorted(k['row'] for k in kept if 'EXTRA' in k['row']) == [
      '42,Paris,EXTRA']
  assert len(kept) == 2


def test_empty_span_is_an_error_and_writes_nothing(tmp_path, store_overrides):
  store, db = store_overrides
  path = tmp_path / 'empty.csv'
  path.write_text('age,city\n')
  with pytest.raises(EmptySpanError, match=r'has no rows'):
    stats_job.run(_cfg(path, store))
  assert warehouse_rows(db, 'SELECT * FROM runs') == []
  assert not os.path.exists(os.path.join(store[0].split('=', 1)[1], 'people',
                                         'split=train', 'span=2024-06-01',
                                         'stats.pb'))


@pytest.mark.parametrize('override, message', [
    ('stats.batch_size=0', r'stats\.batch_size=0: expected a whole number'),
    ('dataset.format=xlsx', r'dataset\.format=.xlsx.: expected one of'),
    ('span=a/b', r"span='a/b': use letters"),
    ('dataset.slices=[nosuch]', r"dataset\.slices\[0\]: no feature 'nosuch'"),
    ('dataset.column_types={age: decimal}',
     r"dataset\.column_types\.age='decimal'"),
])
def test_bad_config_names_the_key(tmp_path, store_overrides, override, message):
  store, db = store_overrides
  path = tmp_path / 'people.csv'
  people_frame(50).to_csv(path, index=False)
  with pytest.raises(UserError, match=message):
    stats_job.run(_cfg(path, store, override))
  assert warehouse_rows(db, 'SELECT * FROM runs') == []


def test_corrupt_file_in_a_glob_fails_cleanly(tmp_path, store_overrides):
  store, db = store_overrides
  people_frame(100).to_parquet(tmp_path / 'a.parquet', index=False)
  (tmp_path / 'b.parquet').write_bytes(b'PAR1 truncated garbage')
  with pytest.raises(UserError, match=r'b\.parquet'):
    stats_job.run(_cfg(tmp_path / '*.parquet', store))
  assert warehouse_rows(db, 'SELECT * FROM runs') == []


def test_command_line_errors_are_one_line_with_exit_code_1(tmp_path):
  result = run_job('stats', 'dataset.name=x',
                   f'dataset.path={tmp_path}/missing/*.csv', 'span=1',
                   f'store.root={tmp_path}/store')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f"stats: error: dataset.path '{tmp_path}/missing/*.csv': no such file "
      f"(nothing matches)")
  assert 'Traceback' not in result.stderr
  assert not os.path.exists(tmp_path / 'store' / 'warehouse.duckdb')


def test_command_line_run_prints_summary(tmp_path):
  path = tmp_path / 'people.jsonl'
  people_frame(200).to_json(path, orient='records', lines=True)
  result = run_job('stats', 'dataset.name=people', f'dataset.path={path}',
                   'split=serving', 'span=2024-06-02',
                   f'store.root={tmp_path}/store')
  assert result.returncode == 0, result.stderr
  assert 'rows:       200 read, 0 malformed' in result.stdout
  assert os.path.exists(tmp_path / 'store' / 'people' / 'split=serving' /
                        'span=2024-06-02' / 'stats.pb')


def test_config_composition_defaults_and_overrides():
  cfg = make_cfg('stats', ['dataset.name=d', 'dataset.path=/x.parquet',
                           'span=7'])
  assert cfg.runner.options.runner == 'DirectRunner'
  assert cfg.sink.kind == 'duckdb'
  assert cfg.sink.path == 'artifacts/warehouse.duckdb'
  assert cfg.stats.batch_size == 100000
  assert cfg.split == 'train'
  cfg = make_cfg('stats', ['dataset.name=d', 'dataset.path=/d/${span}/*.csv',
                           'span=2024-01-02', 'store.root=/s'])
  assert cfg.dataset.path == '/d/2024-01-02/*.csv'
  assert cfg.sink.path == '/s/warehouse.duckdb'


def test_sample_rate_samples_rows_not_whole_batches(tmp_path, store_overrides):
  """4,000 rows in one batch at stats.sample_rate=0.25 give about 1,000 rows.

  (TFDV's own sample_rate keeps or drops whole batches: 0 or 4,000 here.)
  """
  store, warehouse = store_overrides
  path = tmp_path / 'people.parquet'
  people_frame(4000).to_parquet(path)
  code = stats_job.run(_cfg(path, store, 'stats.sample_rate=0.25'))
  assert code == 0
  rows = warehouse_rows(warehouse, 'SELECT num_examples FROM runs')
  assert 800 < rows[0]['num_examples'] < 1200


def test_warehouse_read_rows_by_dataset_and_split(tmp_path, store_overrides):
  store, warehouse = store_overrides
  from transforms.io.warehouse import DuckDBWarehouse  # pylint: disable=g-import-not-at-top
  sink = DuckDBWarehouse(warehouse)
  assert sink.read_rows('feature_stats', 'people') == []  # no file yet
  path = tmp_path / 'people.parquet'
  people_frame(300).to_parquet(path)
  assert stats_job.run(_cfg(path, store)) == 0
  rows = sink.read_rows('feature_stats', 'people', split='train')
  assert {r['feature'] for r in rows} >= {'age', 'income', 'country'}
  assert {r['span'] for r in rows} == {'2024-06-01'}
  assert sink.read_rows('feature_stats', 'people', split='serving') == []
  assert sink.read_rows('anomalies', 'people') == []


class _Step(beam.PTransform):
  """A named composite step, so a failure inside it carries Beam's label."""

  def __init__(self, fn):
    super().__init__()
    self._fn = fn

  def expand(self, pcoll):
    return pcoll | beam.Map(self._fn)


def _pipeline_error(fail_in: str) -> Exception:
  """Runs a real DirectRunner pipeline shaped like the statistics pass
  (ReadSpan, then ComputeStatistics) that fails in step ``fail_in``."""

  def boom(x):
    raise AttributeError("'_Partial' object has no attribute 'summary'")

  with pytest.raises(Exception) as caught:
    with beam.Pipeline() as p:
      _ = (p | beam.Create([1])
           | 'ReadSpan' >> _Step(boom if fail_in == 'ReadSpan' else int)
           | 'ComputeStatistics' >> _Step(
               boom if fail_in == 'ComputeStatistics' else int)
           | 'WriteDeadLetters' >> _Step(
               boom if fail_in == 'WriteDeadLetters' else int))
  return caught.value


def test_a_failure_after_reading_is_not_blamed_on_the_input():
  spec = sources.DatasetSpec(name='d', path='/data/x.parquet',
                                        format='parquet')

  after = span_stats._as_user_error(_pipeline_error('ComputeStatistics'), spec, 's')  # pylint: disable=protected-access
  line = str(after)
  assert line.startswith("dataset.path '/data/x.parquet': step "
                         "'ComputeStatistics")
  assert 'failed after reading' in line and 'reading parquet' not in line
  assert "no attribute 'summary'" in line and '\n' not in line

  during = span_stats._as_user_error(_pipeline_error('ReadSpan'), spec, 's')  # pylint: disable=protected-access
  assert str(during).startswith(
      "dataset.path '/data/x.parquet': reading parquet failed (")

  # Writing the run's files into the store: store.root is named instead.
  writing = str(span_stats._as_user_error(  # pylint: disable=protected-access
      _pipeline_error('WriteDeadLetters'), spec, 'gs://b/dv'))
  assert writing.startswith("store.root='gs://b/dv': writing the run's files")
  assert 'WriteDeadLetters' in writing and 'dataset.path' not in writing


def test_run_ids_sort_by_start_time_within_one_second():
  """Scratch folders are named after run ids, and a run sweeps the scratch
  of runs that started before it (killed ones): runs started within the
  same second must still sort by when they started."""
  start = dt.datetime(2026, 12, 2, 9, 15, 0, tzinfo=dt.timezone.utc)
  ids = [span_stats.new_run_id(start + dt.timedelta(milliseconds=ms))
         for ms in (900, 5, 400)]
  assert sorted(ids) == [ids[1], ids[2], ids[0]]
  assert all(i.startswith('20261202T091500') for i in ids)
