"""Progress lines of a long local run, and the console link of a Dataflow job."""

import logging
import multiprocessing
import pickle
import re

from hydra.errors import ConfigCompositionException
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult
from apache_beam.runners.runner import PipelineState

from beam_jobs import _cli
from beam_jobs import stats as stats_job
from conftest import make_cfg, people_frame, run_job
from runners import dataflow
from runners import progress
from transforms.errors import UserError

ROWS, ROW_GROUP = 2_000_000, 100_000
# "12 of 20 row groups read, 1,200,000 rows, 6.1 s", or the last line.
_LINE = re.compile(r'progress: (reading done: )?([\d,]+) of ([\d,]+) row groups '
                   r'read, ([\d,]+) rows, (\d+\.\d) s$')
_STARTING = re.compile(r'progress: 0 row groups read \(of 1 file\), 0 rows, '
                       r'\d+\.\d s$')


@pytest.fixture(scope='module')
def big_parquet(tmp_path_factory):
  """2M rows in 20 row groups: a few seconds of reading."""
  path = tmp_path_factory.mktemp('progress') / 'people.parquet'
  people_frame(ROWS).to_parquet(path, index=False, row_group_size=ROW_GROUP)
  return path


def _cfg(path, tmp_path, *extra):
  return make_cfg('stats', ['dataset.name=people', f'dataset.path={path}',
                            'span=2024-06-01', f'store.root={tmp_path}/store',
                            *extra])


def _progress_lines(text):
  return [l.split(' INFO runners.progress: ', 1)[-1]
          for l in text.splitlines() if 'progress: ' in l]


def _check_lines(lines):
  """Every line well formed, counts growing, the last one 'reading done'."""
  assert lines, 'no progress line'
  done, seen = [], 0
  for line in lines:
    if _STARTING.match(line):
      continue
    m = _LINE.match(line)
    assert m, line
    units, total = int(m[2].replace(',', '')), int(m[3].replace(',', ''))
    rows = int(m[4].replace(',', ''))
    assert total == ROWS // ROW_GROUP and 0 <= units <= total, line
    assert rows >= seen, line
    seen = rows
    if m[1]:
      done.append((units, rows))
  assert done == [(ROWS // ROW_GROUP, ROWS)], lines
  assert lines[-1].startswith('progress: reading done: ')


def test_long_run_logs_progress_on_the_command_line(big_parquet, tmp_path):
  out = run_job('stats', 'dataset.name=people', f'dataset.path={big_parquet}',
                'span=2024-06-01', f'store.root={tmp_path}/store',
                'stats.progress_interval_s=1')
  assert out.returncode == 0, out.stderr[-2000:]
  lines = _progress_lines(out.stderr)
  # At least one line while reading, then the last one.
  assert len(lines) >= 2, out.stderr[-3000:]
  _check_lines(lines)
  assert 'rows:       2,000,000 read' in out.stdout


def test_progress_off_logs_nothing(big_parquet, tmp_path, caplog):
  caplog.set_level(logging.INFO, logger='runners.progress')
  assert stats_job.run(_cfg(big_parquet, tmp_path,
                            'stats.progress_interval_s=0')) == 0
  assert not [r for r in caplog.records if r.name == 'runners.progress']


def test_progress_adds_up_worker_processes(big_parquet, tmp_path, caplog):
  # Readers in two SDK worker processes: each writes its own counts.
  caplog.set_level(logging.INFO, logger='runners.progress')
  assert stats_job.run(_cfg(
      big_parquet, tmp_path, 'stats.progress_interval_s=1',
      'runner.options.direct_running_mode=multi_processing',
      'runner.options.direct_num_workers=2')) == 0
  _check_lines([r.getMessage() for r in caplog.records
                if r.name == 'runners.progress'])


def test_bad_interval_names_the_key(tmp_path):
  with pytest.raises(UserError, match=r'^stats\.progress_interval_s='):
    stats_job.run(_cfg(tmp_path / 'none.parquet', tmp_path,
                       'stats.progress_interval_s=-1'))


@pytest.mark.parametrize('value', ['soon', 'true', '[1]'])
def test_interval_of_the_wrong_type_is_refused_at_composition(value,
                                                              tmp_path):
  # The typed schema (settings/schema.py) refuses it before the job starts.
  with pytest.raises(ConfigCompositionException) as e:
    _cfg(tmp_path / 'none.parquet', tmp_path,
         f'stats.progress_interval_s={value}')
  assert _cli.composition_error(e.value).startswith(
      'stats.progress_interval_s=')


def test_bad_interval_is_one_line_on_the_command_line(tmp_path):
  out = run_job('stats', 'dataset.name=people',
                f'dataset.path={tmp_path}/none.parquet', 'span=1',
                f'store.root={tmp_path}/store', 'stats.progress_interval_s=-2')
  assert out.returncode == 1
  assert out.stderr.strip().splitlines()[-1] == (
      'stats: error: stats.progress_interval_s=-2.0: expected a number of '
      'seconds >= 0 (0 turns progress lines off)')


def _read_in_another_process(tracker_bytes, units, rows):
  tracker = pickle.loads(tracker_bytes)
  tracker.add(listed=units)
  for _ in range(units):
    tracker.add(units=1, rows=rows)
  tracker.flush()


def test_trackers_in_other_processes_add_up(tmp_path):
  reporter = progress.Reporter(60, unit='row group', files=2)
  with reporter:
    tracker = reporter.tracker
    fork = multiprocessing.get_context('fork')
    workers = [fork.Process(target=_read_in_another_process,
                            args=(pickle.dumps(tracker), n, 1000))
               for n in (3, 4)]
    for w in workers:
      w.start()
    for w in workers:
      w.join()
      assert w.exitcode == 0
    counts = reporter.counts()
  assert counts == {'units': 7, 'rows': 7000, 'listed': 7}
  assert reporter.line(counts, 6.12) == (
      '7 of 7 row groups read, 7,000 rows, 6.1 s')
  assert reporter.line(counts, 9, done=True) == (
      'reading done: 7 of 7 row groups read, 7,000 rows, 9.0 s')
  assert reporter.line(dict(counts, units=0, rows=0, listed=0), 1) == (
      '0 row groups read (of 2 files), 0 rows, 1.0 s')
  files = progress.Reporter(5, unit='file', total=1)
  assert files.line({'units': 0, 'rows': 0, 'listed': 0}, 5) == (
      '0 of 1 file read, 0 rows, 5.0 s')
  rows_only = progress.Reporter(5)
  assert rows_only.line({'units': 0, 'rows': 1234567, 'listed': 0}, 5) == (
      '1,234,567 rows read, 5.0 s')


def test_remote_runners_get_no_progress_lines():
  local = PipelineOptions(flags=[], runner='DirectRunner')
  remote = PipelineOptions(flags=[], runner='DataflowRunner')
  assert progress.is_local(local) and progress.is_local(PipelineOptions([]))
  assert not progress.is_local(remote)
  with progress.reporter(5, remote, 'parquet', 3) as reporter:
    assert reporter.tracker is None
  with progress.reporter(0, local, 'csv', 3) as reporter:
    assert reporter.tracker is None


def test_console_link(caplog):
  url = ('https://console.cloud.google.com/dataflow/jobs/europe-west1/'
         '2024-06-02_01_02_03-1234567890?project=my-proj')
  assert dataflow.console_url(
      'my-proj', 'europe-west1', '2024-06-02_01_02_03-1234567890') == url
  options = PipelineOptions(flags=[], project='my-proj', region='europe-west1',
                            job_name='dv-stats-shop')
  # What DataflowRunner.run_pipeline returns once Dataflow created the job
  # (its Job message as the service answers; no network here).
  from apache_beam.runners.dataflow.dataflow_runner import DataflowPipelineResult  # pylint: disable=g-import-not-at-top
  from apache_beam.runners.dataflow.internal.clients import dataflow as api  # pylint: disable=g-import-not-at-top
  created = DataflowPipelineResult(
      api.Job(id='2024-06-02_01_02_03-1234567890', name='dv-stats-shop'),
      runner=None, options=options)
  caplog.set_level(logging.INFO, logger='runners.dataflow')
  assert dataflow.log_console_link(created, options) == url
  assert caplog.messages == [
      f'Dataflow job 2024-06-02_01_02_03-1234567890 (dv-stats-shop) '
      f'started: {url}']
  # No job was created (DirectRunner, dry run, template): no link.
  assert dataflow.log_console_link(PipelineResult(PipelineState.DONE),
                                   options) is None
  assert dataflow.log_console_link(
      DataflowPipelineResult(None, runner=None, options=options),
      options) is None
