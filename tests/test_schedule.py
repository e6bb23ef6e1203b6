"""Scheduled runs: spans from the run date, backfills, alerts, in-pipeline finish.

The scheduler side (Cloud Scheduler, Composer, Dataflow) cannot run here;
these tests run what the scheduled job runs: the validate job on the
DirectRunner with real TFDV and DuckDB, a webhook on a loopback HTTP server,
and Dataflow dry runs with the network off for a backfill.
"""

import http.server
import json
import os
import re
import threading

import pytest

import offline
from beam_jobs import infer_schema as infer_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from conftest import make_cfg, people_frame, warehouse_rows
from runners import dates
from transforms.errors import UserError

EMAIL = 'jane.roe@example.org'


def test_dv_date_resolver_from_run_date_env_and_format(monkeypatch):
  cfg = make_cfg('validate', [
      'run_date=2024-03-01', 'span=${dv_date:-1}',
      'dataset.name=x', 'dataset.path="gs://b/events/dt=${span}/*.parquet"'])
  assert cfg.span == '2024-02-29'
  assert cfg.dataset.path == 'gs://b/events/dt=2024-02-29/*.parquet'
  monkeypatch.setenv('DV_RUN_DATE', '2024-06-02')
  cfg = make_cfg('stats', ['span=${dv_date:-7,%Y%m%d}'])
  assert cfg.span == '20240526'
  # An Airflow timestamp works as a run date too.
  assert dates.date_for('2024-06-02T00:00:00+00:00', -1) == '2024-06-01'
  with pytest.raises(UserError, match='run_date'):
    dates.date_for('yesterday', -1)


def test_backfill_multirun_dry_run_gives_distinct_job_names(tmp_path):
  """Three days, one Hydra multirun, each a Dataflow job built offline."""
  proc = offline.run([
      '-m', 'beam_jobs.validate', '-m',
      'run_date=2024-06-02,2024-06-03,2024-06-04', 'span=${dv_date:-1}',
      'runner=dataflow', 'runner.dry_run=true', 'runner.project=dv-proj',
      'runner.region=us-central1', 'runner.temp_location=gs://dv-b/tmp',
      f'runner.dry_run_dir={tmp_path}/dry', 'dataset.name=events',
      'dataset.path="gs://dv-b/events/dt=${span}/*.parquet"',
      'store.root=gs://dv-b/store'], cwd=tmp_path, tmp_path=tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  names = re.findall(r'job name:\s+(\S+)', proc.stdout)
  assert len(names) == 3 and len(set(names)) == 3
  for name, span in zip(names, ('2024-06-01', '2024-06-02', '2024-06-03')):
    assert re.fullmatch(rf'dv-validate-events-train-{span}-[0-9a-f]{{6}}',
                        name)
    with open(tmp_path / 'dry' / name / 'job.json') as f:
      job = json.load(f)
    assert job['labels']['dv_span'] == span


class _Hook(http.server.BaseHTTPRequestHandler):
  received = []

  def do_POST(self):  # pylint: disable=invalid-name
    body = self.rfile.read(int(self.headers['Content-Length']))
    _Hook.received.append((self.path, self.headers['Content-Type'], body))
    self.send_response(204)
    self.end_headers()

  def log_message(self, *args):
    pass


@pytest.fixture
def webhook():
  _Hook.received = []
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Hook)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_address[1]}/hooks/dv', _Hook.received
  server.shutdown()
  server.server_close()


def _people_project(tmp_path):
  data, store = tmp_path / 'data', tmp_path / 'store'
  os.makedirs(data)
  people_frame(seed=0).to_csv(data / '2024-06-01.csv', index=False)
  bad = people_frame(seed=1)
  bad.loc[:300, 'country'] = EMAIL  # a value that identifies a person
  bad['income'] = bad['income'] * 3
  bad.to_csv(data / '2024-06-02.csv', index=False)
  base = ['dataset.name=people', f'dataset.path={data}/' + '${span}.csv',
          f'store.root={store}']
  assert stats_job.run(make_cfg('stats', base + ['span=2024-06-01'])) == 0
  assert infer_job.run(make_cfg('infer_schema', base[:1] + base[2:])) == 0
  return base + ['span=2024-06-02'], str(store / 'warehouse.duckdb')


def test_blocking_run_posts_its_summary_without_raw_values(tmp_path, webhook,
                                                           capsys):
  url, received = webhook
  base, db = _people_project(tmp_path)
  code = validate_job.run(make_cfg('validate', base + [
      f'alert.webhook_url={url}']))
  assert code == EXIT_BLOCKING
  assert len(received) == 1
  path, content_type, body = received[0]
  assert path == '/hooks/dv' and content_type == 'application/json'
  assert EMAIL.encode() not in body and b'jane' not in body
  alert = json.loads(body)
  assert alert['status'] == 'blocking' and alert['span'] == '2024-06-02'
  assert alert['num_blocking'] >= 1
  run, = warehouse_rows(db, "SELECT * FROM runs WHERE job = 'validate'")
  assert alert['run_id'] == run['run_id']
  assert alert['num_anomalies'] == run['num_anomalies']
  assert {'feature': 'country', 'check': 'schema', 'severity': 'ERROR',
          'anomaly_type': 'ENUM_TYPE_UNEXPECTED_STRING_VALUES'}.items() <= {
              k: v for a in alert['top_anomalies'] for k, v in a.items()
              if a['feature'] == 'country' and a['check'] == 'schema'
          }.items()
  assert 'alert:      sent (webhook)' in capsys.readouterr().out
  # A clean run sends nothing.
  received.clear()
  ok = validate_job.run(make_cfg('validate', base[:1] + [
      base[1].replace('${span}', '2024-06-01'), *base[2:3],
      'span=2024-06-01', 'split=train', f'alert.webhook_url={url}']))
  assert ok == EXIT_OK and received == []


def test_bad_alert_config_names_the_key(tmp_path):
  with pytest.raises(UserError, match='alert.pubsub_topic'):
    validate_job.run(make_cfg('validate', [
        'dataset.name=x', 'dataset.path=x.csv', 'span=1',
        f'store.root={tmp_path}', 'alert.pubsub_topic=alerts']))


def test_finish_in_pipeline_gives_the_same_results_and_exit_code(
    tmp_path, webhook):
  """The Flex Template path: checks and writes run as the pipeline's last
  step (here on the DirectRunner), the outcome is read back from run.json."""
  url, received = webhook
  base, db = _people_project(tmp_path)
  assert validate_job.run(make_cfg('validate', base)) == EXIT_BLOCKING
  expected = warehouse_rows(db, 'SELECT anomaly_id FROM anomalies ORDER BY 1')
  code = validate_job.run(make_cfg('validate', base + [
      '+runner.finish_in_pipeline=true', f'alert.webhook_url={url}']))
  assert code == EXIT_BLOCKING
  runs = warehouse_rows(db, "SELECT * FROM runs WHERE job = 'validate'")
  assert len(runs) == 1 and runs[0]['status'] == 'blocking'  # replaced
  assert warehouse_rows(
      db, 'SELECT anomaly_id FROM anomalies ORDER BY 1') == expected
  assert len(received) == 1 and EMAIL.encode() not in received[0][2]
  with open(tmp_path / 'store' / 'people' / 'split=train' / 'span=2024-06-02'
            / 'run.json') as f:
    assert json.load(f)['run_id'] == runs[0]['run_id']


def test_finish_in_pipeline_on_dataflow_needs_a_remote_sink():
  cfg = make_cfg('stats', [
      'runner=dataflow', 'runner.project=p-roj', 'runner.region=us-east1',
      'runner.temp_location=gs://b/t', 'runner.finish_in_pipeline=true',
      'dataset.name=x', 'dataset.path=gs://b/x.parquet', 'span=1',
      'store.root=gs://b/s'])
  with pytest.raises(UserError, match='sink.kind=duckdb'):
    stats_job.run(cfg)
