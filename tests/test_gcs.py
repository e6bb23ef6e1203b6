"""gs:// end to end, on a real Cloud Storage emulator (gcp-storage-emulator on
loopback, found through STORAGE_EMULATOR_HOST as Beam's GCS client finds it).

Every job reads gs:// input and keeps its artifact store in a bucket; the
tests list the bucket after each step, because on an object store a "folder"
is a name prefix and only the listing shows what a run really left behind.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from beam_jobs import _cli
from beam_jobs import feature_skew as feature_skew_job
from beam_jobs import infer_schema as infer_job
from beam_jobs import report as report_job
from beam_jobs import schema as schema_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from conftest import REPO, make_cfg, run_job, warehouse_rows
from runners import flink
from transforms.errors import UserError
from transforms.io import artifacts
from transforms.io import gcs

DATA = os.path.join(REPO, 'data', 'nlsy_wages')
# What a stats run of the bundled data leaves in its span folder (nlsy_wages
# has a label, so the shift check's inputs are kept too).
STATS_FILES = ['pii.json', 'run.json', 'sample.parquet', 'shift.json',
               'stats.pb']


@pytest.fixture
def gcs_env(gcs_emulator, monkeypatch):
  """This process (and the workers it starts) on the emulator."""
  for key, value in gcs_emulator.env.items():
    monkeypatch.setenv(key, value)
  assert gcs.skip_credentials_for_emulator()
  yield gcs_emulator
  # pylint: disable=protected-access
  from apache_beam.internal.gcp import auth  # pylint: disable=g-import-not-at-top
  auth._Credentials._credentials_init = False


def _upload_nlsy(emulator, bucket, spans):
  """The bundled spans under Hive-style names: in/year=1980/males.csv."""
  for span in spans:
    with open(os.path.join(DATA, f'span={span}', 'males.csv'), 'rb') as f:
      emulator.upload(bucket, f'in/year={span}/males.csv', f.read())


def _span_files(emulator, bucket, span, split='train', dataset='nlsy_wages'):
  prefix = f'dv/{dataset}/split={split}/span={span}/'
  return [name[len(prefix):] for name in emulator.list(bucket, prefix)]


def _nlsy(bucket, tmp_path, *extra):
  """Overrides for the bundled data in ``bucket``, quoted as the command
  line quotes them (make_cfg is Hydra's compose, which does not)."""
  return _cli.quote_values_with_equals([
          'dataset=nlsy_wages',
          f'dataset.path=gs://{bucket}/in/year=' + '${span}/*.csv',
          f'store.root=gs://{bucket}/dv',
          f'sink.path={tmp_path / "warehouse.duckdb"}', *extra])


def test_every_job_on_gcs(gcs_env, tmp_path, capsys):
  emulator = gcs_env
  bucket = emulator.bucket()
  _upload_nlsy(emulator, bucket, ['1980', '1981'])

  # As a user types it: a Hive-style path with '=' unquoted, a gs:// store
  # and no sink settings (the warehouse lands in the working directory).
  started = time.monotonic()
  result = run_job('stats', 'dataset=nlsy_wages',
                   f'dataset.path=gs://{bucket}/in/year=' + '${span}/*.csv',
                   f'store.root=gs://{bucket}/dv', 'span=1980',
                   cwd=tmp_path, env=emulator.env)
  took = time.monotonic() - started
  assert result.returncode == EXIT_OK, result.stderr
  warehouse = tmp_path / 'warehouse.duckdb'
  assert f'warehouse:  {warehouse}' in result.stdout
  assert warehouse_rows(str(warehouse), 'SELECT span, num_examples FROM runs'
                        ) == [{'span': '1980', 'num_examples': 545}]
  # No credential lookup against an emulator: no retries, no tracebacks.
  assert 'credentials' not in result.stderr, result.stderr[-2000:]
  assert took < 60
  assert _span_files(emulator, bucket, '1980') == STATS_FILES

  # The other jobs, in this process, on the same bucket.
  assert infer_job.run(make_cfg('infer_schema', _nlsy(
      bucket, tmp_path))) == EXIT_OK
  assert emulator.list(bucket, 'dv/nlsy_wages/schemas/') == [
      'dv/nlsy_wages/schemas/v1/meta.json',
      'dv/nlsy_wages/schemas/v1/promoted.json',
      'dv/nlsy_wages/schemas/v1/schema.pbtxt']
  code = validate_job.run(make_cfg('validate', _nlsy(bucket, tmp_path,
                                                     'span=1981')))
  assert code == EXIT_BLOCKING  # the same men, a year older: drift
  validated = _span_files(emulator, bucket, '1981')
  assert 'report.html' in validated and 'anomalies/drift.pb' in validated
  assert not [n for n in validated if n.startswith('.tmp-')], validated
  drift = warehouse_rows(str(tmp_path / 'warehouse.duckdb'), """
      SELECT feature FROM drift_skew WHERE span = '1981'
      AND "check" = 'drift' AND baseline_span = '1980'""")
  assert {'wage', 'exper'} <= {r['feature'] for r in drift}

  capsys.readouterr()
  assert schema_job.run(make_cfg('schema', _nlsy(
      bucket, tmp_path, 'action=show', 'schema.version=1'))) == EXIT_OK
  shown = capsys.readouterr().out
  assert 'name: "wage"' in shown and 'name: "residence"' in shown

  before = emulator.download(
      bucket, 'dv/nlsy_wages/split=train/span=1981/report.html')
  out = tmp_path / 'rebuilt.html'
  assert report_job.run(make_cfg('report', _nlsy(
      bucket, tmp_path, 'span=1981', f'report.output={out}'))) == EXIT_OK
  assert out.read_bytes().count(b'wage') >= before.count(b'wage') > 0

  # A stats run after the validate run: the span folder holds the files of
  # the latest run only (no report or anomaly protos of stale statistics).
  assert stats_job.run(make_cfg('stats', _nlsy(
      bucket, tmp_path, 'span=1981'))) == EXIT_OK
  assert _span_files(emulator, bucket, '1981') == STATS_FILES

  # Training and serving rows of a span joined by person.
  assert feature_skew_job.run(make_cfg('feature_skew', _nlsy(
      bucket, tmp_path, 'span=1980',
      'feature_skew.identifiers=[nr]'))) == EXIT_OK
  assert _span_files(emulator, bucket, '1980', split='serving') == [
      'feature_skew/results.json', 'feature_skew/samples.json']
  skew = warehouse_rows(str(tmp_path / 'warehouse.duckdb'), """
      SELECT feature, value FROM drift_skew WHERE "check" = 'feature_skew'
      AND metric = 'MISMATCH_RATE'""")
  assert len(skew) == 10 and all(r['value'] == 0 for r in skew)


def _csv(rows):
  return ('a,b,c\n' + ''.join(f'{r}\n' for r in rows)).encode()


@pytest.mark.parametrize('where', ['gs', 'local'])
def test_rerun_failed_run_and_malformed_rows_leave_the_latest_run(
    gcs_env, tmp_path, where):
  """A clean re-run after malformed rows drops the old dead letters; a run
  that fails after its pass wrote scratch files leaves the span as it was."""
  emulator = gcs_env
  bucket = emulator.bucket()
  path = tmp_path / 'part.csv'
  if where == 'gs':
    root = f'gs://{bucket}/dv'
    put = lambda data: emulator.upload(bucket, 'in/part.csv', data)  # pylint: disable=unnecessary-lambda-assignment
    listing = lambda: _span_files(emulator, bucket, 's1', dataset='d')  # pylint: disable=unnecessary-lambda-assignment
  else:
    root = str(tmp_path / 'store')
    put = path.write_bytes
    span_dir = tmp_path / 'store' / 'd' / 'split=train' / 'span=s1'
    listing = lambda: sorted(  # pylint: disable=unnecessary-lambda-assignment
        str(p.relative_to(span_dir)) for p in span_dir.rglob('*')
        if p.is_file())
  data = f'gs://{bucket}/in/*.csv' if where == 'gs' else path
  overrides = ['dataset.name=d', 'dataset.format=csv', f'dataset.path={data}',
               f'store.root={root}', 'span=s1',
               f'sink.path={tmp_path / "w.duckdb"}']
  store = artifacts.SpanArtifacts(root, 'd', 'train', 's1')

  put(_csv([f'{i},{i % 3},x{i % 5}' for i in range(200)] + ['1,2,3,4', '5']))
  assert stats_job.run(make_cfg('stats', overrides)) == EXIT_OK
  first = listing()
  assert [n for n in first if n.startswith('dead_letter/')], first
  assert artifacts.read_json(store.run_path)['num_malformed'] == 2

  put(_csv([f'{i},{i % 3},x{i % 5}' for i in range(300)]))
  assert stats_job.run(make_cfg('stats', overrides)) == EXIT_OK
  clean = listing()
  run = artifacts.read_json(store.run_path)
  assert run['num_malformed'] == 0 and run['num_examples'] == 300
  assert not [n for n in clean if n.startswith(('dead_letter/', '.tmp-'))]
  assert 'stats.pb' in clean

  # Only malformed rows: the pass writes its dead letters and statistics to
  # scratch, then the run fails (no rows); the span stays as it was.
  put(_csv(['1,2,3,4', '5', '6,7,8,9,10']))
  with pytest.raises(UserError, match='has no rows'):
    stats_job.run(make_cfg('stats', overrides))
  assert listing() == clean
  assert artifacts.read_json(store.run_path)['run_id'] == run['run_id']


def test_a_killed_run_never_counts_and_the_next_run_sweeps_it(gcs_env,
                                                              tmp_path):
  emulator = gcs_env
  bucket = emulator.bucket()
  _upload_nlsy(emulator, bucket, ['1980'])
  assert stats_job.run(make_cfg('stats', _nlsy(
      bucket, tmp_path, 'span=1980'))) == EXIT_OK
  store = artifacts.SpanArtifacts(f'gs://{bucket}/dv', 'nlsy_wages', 'train',
                                  '1980')
  first = artifacts.read_json(store.run_path)['run_id']

  # The same span again, killed (SIGKILL: no clean-up of any kind) as soon
  # as its pipeline has written a result into its scratch folder.
  proc = subprocess.Popen(
      [sys.executable, '-m', 'beam_jobs.stats', 'span=1980',
       *_nlsy(bucket, tmp_path / 'killed')], cwd=REPO,
      env={**os.environ, **emulator.env}, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  try:
    while not [n for n in _span_files(emulator, bucket, '1980')
               if n.startswith('.tmp-') and not n.endswith(
                   artifacts.STARTED_FILE)]:
      assert proc.poll() is None, 'the run ended before it could be killed'
      assert time.monotonic() < deadline
      time.sleep(0.02)
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  left = _span_files(emulator, bucket, '1980')
  assert [n for n in left if n.startswith('.tmp-')], left
  # Never read as a result: the span's files are the first run's.
  assert artifacts.read_json(store.run_path)['run_id'] == first
  assert artifacts.list_spans(f'gs://{bucket}/dv', 'nlsy_wages',
                              'train') == ['1980']

  assert stats_job.run(make_cfg('stats', _nlsy(
      bucket, tmp_path, 'span=1980'))) == EXIT_OK
  assert _span_files(emulator, bucket, '1980') == STATS_FILES
  assert artifacts.read_json(store.run_path)['run_id'] != first


def test_a_store_that_cannot_be_written_is_named(gcs_env, tmp_path):
  emulator = gcs_env
  bucket = emulator.bucket()
  _upload_nlsy(emulator, bucket, ['1980'])
  overrides = _nlsy(bucket, tmp_path, 'span=1980')
  overrides[2] = 'store.root=gs://no-such-bucket/dv'
  with pytest.raises(UserError) as caught:
    stats_job.run(make_cfg('stats', overrides))
  line = str(caught.value)
  assert line.startswith("store.root='gs://no-such-bucket/dv'"), line
  assert 'dataset.path' not in line and '\n' not in line


def test_values_with_equals_are_quoted_for_hydra():
  quote = _cli.quote_values_with_equals
  assert quote(['dataset.path=gs://b/in/dt=${span}/*.csv', 'span=1',
                "x='a=b'", '-m']) == [
                    "dataset.path='gs://b/in/dt=${span}/*.csv'", 'span=1',
                    "x='a=b'", '-m']
  # A sweep: each value on its own; Hydra's own syntax is left to Hydra.
  assert quote(['p=/d/dt=1/x,/d/dt=2/x', 'k=[a=b]']) == [
      "p='/d/dt=1/x','/d/dt=2/x'", 'k=[a=b]']
  cfg = make_cfg('stats', quote(['dataset.name=d', 'span=2024-06-01',
                                 'dataset.path=gs://b/dt=${span}/*.csv']))
  assert cfg.dataset.path == 'gs://b/dt=2024-06-01/*.csv'
  # With the store on gs://, the DuckDB warehouse is a local file.
  assert make_cfg('stats', ['store.root=gs://b/dv', 'span=1']
                  ).sink.path == 'warehouse.duckdb'


def test_stats_and_validate_on_flink_read_and_write_gcs(gcs_env, tmp_path):
  """Flink's SDK workers are processes of their own: each finds the
  emulator through the environment the job hands them."""
  reason = flink.missing()
  if reason:
    pytest.skip(reason)
  emulator = gcs_env
  bucket = emulator.bucket()
  _upload_nlsy(emulator, bucket, ['1980', '1981'])
  # A job process of its own per run: its worker pool inherits the
  # emulator's address (a pool shared with other tests may not have it).
  on_flink = ['runner=flink', 'runner.parallelism=2']
  result = run_job('stats', *_nlsy(bucket, tmp_path, 'span=1980', *on_flink),
                   env=emulator.env)
  assert result.returncode == EXIT_OK, result.stderr
  assert _span_files(emulator, bucket, '1980') == STATS_FILES
  assert infer_job.run(make_cfg('infer_schema', _nlsy(
      bucket, tmp_path))) == EXIT_OK
  result = run_job('validate', *_nlsy(bucket, tmp_path, 'span=1981',
                                      *on_flink), env=emulator.env)
  assert result.returncode == EXIT_BLOCKING, result.stderr
  validated = _span_files(emulator, bucket, '1981')
  assert 'report.html' in validated and 'anomalies/drift.pb' in validated
  assert not [n for n in validated if n.startswith('.tmp-')], validated
  runs = warehouse_rows(str(tmp_path / 'warehouse.duckdb'),
                        'SELECT span, runner, num_examples FROM runs '
                        'ORDER BY span')
  assert [(r['span'], r['runner'], r['num_examples']) for r in runs] == [
      ('1980', 'flink', 545), ('1981', 'flink', 545)]
