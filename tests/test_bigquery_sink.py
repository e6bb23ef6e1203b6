"""The BigQuery sink against a real BigQuery emulator (bqemulator on loopback).

The jobs run as a user runs them, with `sink=bigquery sink.endpoint=...`; the
rows are read back with a plain google-cloud-bigquery client.
"""

import http.server
import json
import os
import threading

import numpy as np
import pandas as pd
import pytest

from beam_jobs._cli import EXIT_BLOCKING, EXIT_FAILED, EXIT_OK
from conftest import bq_client, run_job
from transforms.io import bigquery_sink
from transforms.io import tables

PROJECT = 'dv-test'


def _frame(n, seed, shift=0.0):
  rng = np.random.default_rng(seed)
  return pd.DataFrame({
      'age': rng.integers(18, 80, n),
      'income': rng.normal(50_000 + shift * 30_000, 10_000, n).round(2),
      'country': rng.choice(['US', 'DE', 'FR'], n),
      'label': (rng.random(n) < 0.3).astype(int),
  })


@pytest.fixture(scope='module')
def bq_runs(bq_endpoint, tmp_path_factory):
  """stats on span 1, schema v1, validate span 2 (shifted) twice, into BigQuery."""
  tmp = tmp_path_factory.mktemp('bq')
  for span, shift in (('2024-06-01', 0.0), ('2024-06-02', 1.0)):
    _frame(1200, seed=len(span) + int(shift), shift=shift).to_csv(
        tmp / f'{span}.csv', index=False)
  sink = ['sink=bigquery', f'sink.endpoint={bq_endpoint}',
          f'sink.project={PROJECT}', 'sink.dataset=results',
          'sink.table_prefix=dv']
  common = ['dataset.name=people', f'dataset.path={tmp}/' + '${span}.csv',
            f'store.root={tmp / "store"}', *sink]
  out = {'stats': run_job('stats', *common, 'span=2024-06-01')}
  out['infer'] = run_job('infer_schema', 'dataset.name=people',
                         f'store.root={tmp / "store"}')
  out['validate'] = run_job('validate', *common, 'span=2024-06-02')
  out['rerun'] = run_job('validate', *common, 'span=2024-06-02')
  out['common'] = common
  return out


def _query(endpoint, sql):
  return [dict(r.items()) for r in bq_client(endpoint, PROJECT).query(
      sql).result()]


def test_tables_created_partitioned_and_clustered(bq_endpoint, bq_runs):
  assert bq_runs['stats'].returncode == EXIT_OK, bq_runs['stats'].stderr
  client = bq_client(bq_endpoint, PROJECT)
  for name in tables.TABLES:
    table = client.get_table(f'{PROJECT}.results.dv_{name}')
    assert table.time_partitioning.field == 'run_ts'
    assert table.time_partitioning.type_ == 'DAY'
    assert table.clustering_fields == bigquery_sink.CLUSTERING[name]
    assert [f.name for f in table.schema] == tables.column_names(name)
    described = {f.name: f.description for f in table.schema}
    assert described['run_id'] == dict(
        (n, d) for n, _, d in tables.TABLES[name])['run_id']
  # no staging tables are left behind
  names = [t.table_id for t in client.list_tables(f'{PROJECT}.results')]
  assert sorted(names) == sorted(f'dv_{n}' for n in tables.TABLES)


def test_validation_rows_read_back_by_a_plain_query(bq_endpoint, bq_runs):
  result = bq_runs['validate']
  assert result.returncode == EXIT_BLOCKING, result.stderr
  assert f'bigquery:{PROJECT}.results at {bq_endpoint}' in result.stdout
  drift = _query(bq_endpoint, f"""
      SELECT feature, metric, value, threshold, baseline_span
      FROM `{PROJECT}.results.dv_anomalies`
      WHERE `check` = 'drift' AND dataset = 'people' AND span = '2024-06-02'""")
  assert {r['feature'] for r in drift} == {'income'}
  assert drift[0]['value'] > drift[0]['threshold']
  assert drift[0]['baseline_span'] == '2024-06-01'
  stats = _query(bq_endpoint, f"""
      SELECT span, feature, num_examples, mean, quantiles, top_values
      FROM `{PROJECT}.results.dv_feature_stats`
      WHERE slice = '' ORDER BY span, feature""")
  by_key = {(r['span'], r['feature']): r for r in stats}
  assert by_key[('2024-06-01', 'age')]['num_examples'] == 1200
  assert len(by_key[('2024-06-01', 'age')]['quantiles']) > 2
  assert {v['value'] for v in by_key[('2024-06-01', 'country')]['top_values']
          } == {'US', 'DE', 'FR'}
  measured = _query(bq_endpoint, f"""
      SELECT count(*) AS n FROM `{PROJECT}.results.dv_drift_skew`
      WHERE span = '2024-06-02'""")
  assert measured[0]['n'] >= 3  # every compared feature, above or below


def test_rerun_replaces_instead_of_duplicating(bq_endpoint, bq_runs):
  assert bq_runs['rerun'].returncode == EXIT_BLOCKING, bq_runs['rerun'].stderr
  runs = _query(bq_endpoint, f"""
      SELECT job, span, run_id FROM `{PROJECT}.results.dv_runs`
      ORDER BY span""")
  assert [(r['job'], r['span']) for r in runs] == [
      ('stats', '2024-06-01'), ('validate', '2024-06-02')]
  latest = runs[-1]['run_id']
  for name in ('anomalies', 'drift_skew', 'feature_stats'):
    rows = _query(bq_endpoint, f"""
        SELECT DISTINCT run_id FROM `{PROJECT}.results.dv_{name}`
        WHERE span = '2024-06-02'""")
    assert [r['run_id'] for r in rows] == [latest], name
  per_feature = _query(bq_endpoint, f"""
      SELECT feature, count(*) AS n FROM `{PROJECT}.results.dv_feature_stats`
      WHERE span = '2024-06-02' AND slice = '' GROUP BY feature""")
  assert {r['n'] for r in per_feature} == {1}


def test_read_rows_returns_the_rows_of_a_dataset(bq_endpoint, bq_runs):
  sink = bigquery_sink.BigQuerySink(PROJECT, 'results', 'dv',
                                    endpoint=bq_endpoint)
  rows = sink.read_rows('feature_stats', 'people', split='train')
  assert {r['span'] for r in rows} == {'2024-06-01', '2024-06-02'}
  assert sink.read_rows('feature_stats', 'nobody') == []


def test_a_failed_write_leaves_no_rows(bq_endpoint):
  """A run whose rows cannot be inserted leaves nothing, old rows included."""
  sink = bigquery_sink.BigQuerySink(PROJECT, 'atomic', endpoint=bq_endpoint)
  sink.check()
  import datetime as dt  # pylint: disable=g-import-not-at-top
  run = {'run_id': 'r1', 'run_ts': dt.datetime(2024, 6, 1, 12), 'job': 'stats',
         'dataset': 'd', 'split': 'train', 'span': 's1'}
  sink.write_run(run, {'feature_stats': [{'feature': 'a', 'slice': ''}]})
  broken = dict(run, run_id='r2')
  with pytest.raises(Exception):
    # A value of the wrong type fails the load job of the second table.
    sink.write_run(broken, {'feature_stats': [{'feature': 'a', 'slice': ''}],
                            'anomalies': [{'feature': 'a', 'value': 'x'}]})
  left = _query(bq_endpoint, f'SELECT run_id FROM `{PROJECT}.atomic.runs`')
  assert [r['run_id'] for r in left] == ['r1']
  stats = _query(bq_endpoint,
                 f'SELECT run_id FROM `{PROJECT}.atomic.feature_stats`')
  assert [r['run_id'] for r in stats] == ['r1']


def test_tables_of_an_earlier_version_get_the_new_columns(bq_endpoint):
  """feature_stats made before kind, earliest and latest existed."""
  import datetime as dt  # pylint: disable=g-import-not-at-top
  from google.cloud import bigquery  # pylint: disable=g-import-not-at-top
  client = bq_client(bq_endpoint, PROJECT)
  client.create_dataset(f'{PROJECT}.upgrade')
  new = ('kind', 'earliest', 'latest')
  old = bigquery.Table(f'{PROJECT}.upgrade.feature_stats', schema=[
      f for f in bigquery_sink.schema_fields('feature_stats')
      if f.name not in new])
  old.time_partitioning = bigquery.TimePartitioning(field='run_ts')
  client.create_table(old)
  client.query(f"""INSERT INTO `{PROJECT}.upgrade.feature_stats`
      (run_id, run_ts, dataset, split, span, slice, feature, mean)
      VALUES ('r0', TIMESTAMP '2024-05-02 03:00:00+00', 'd', 'train',
              '2024-05-01', '', 'ts', 1.0)""").result()

  earliest = dt.datetime(2024, 6, 1, 0, 0, 3, tzinfo=dt.timezone.utc)
  latest = dt.datetime(2024, 6, 1, 23, 59, 58, tzinfo=dt.timezone.utc)
  for run_id in ('r1', 'r2'):  # a second sink finds them added already
    sink = bigquery_sink.BigQuerySink(PROJECT, 'upgrade', endpoint=bq_endpoint)
    sink.write_run({'run_id': run_id, 'run_ts': dt.datetime(2024, 6, 2, 3),
                    'job': 'stats', 'dataset': 'd', 'split': 'train',
                    'span': '2024-06-01'},
                   {'feature_stats': [{'slice': '', 'feature': 'ts',
                                       'kind': 'timestamp',
                                       'earliest': earliest,
                                       'latest': latest}]})
  rows = _query(bq_endpoint, f"""
      SELECT run_id, span, kind, earliest, latest, mean
      FROM `{PROJECT}.upgrade.feature_stats` ORDER BY span""")
  assert rows == [
      {'run_id': 'r0', 'span': '2024-05-01', 'kind': None, 'earliest': None,
       'latest': None, 'mean': 1.0},
      {'run_id': 'r2', 'span': '2024-06-01', 'kind': 'timestamp',
       'earliest': earliest, 'latest': latest, 'mean': None}]
  read = sink.read_rows('feature_stats', 'd')
  assert {r['span']: r['kind'] for r in read} == {'2024-05-01': None,
                                                   '2024-06-01': 'timestamp'}


def test_unreachable_endpoint_is_one_line(tmp_path):
  path = tmp_path / 'x.csv'
  _frame(50, 0).to_csv(path, index=False)
  result = run_job('stats', 'dataset.name=x', f'dataset.path={path}', 'span=1',
                   f'store.root={tmp_path / "s"}', 'sink=bigquery',
                   'sink.project=p', 'sink.endpoint=http://127.0.0.1:9',
                   'sink.timeout_s=3')
  assert result.returncode == EXIT_FAILED
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith("stats: error: sink.endpoint='http://127.0.0.1:9'"
                              ": cannot reach BigQuery"), result.stderr
  assert 'Traceback' not in result.stderr
  assert not os.path.exists(tmp_path / 's' / 'x')  # nothing ran


@pytest.fixture
def denying_endpoint():
  """A loopback HTTP server that answers every BigQuery call as the real
  service does for a service account without the needed role (HTTP 403).
  The emulator grants everything, so it cannot show this."""
  body = json.dumps({'error': {
      'code': 403, 'status': 'PERMISSION_DENIED',
      'message': 'Access Denied: Dataset dv-test:results: Permission '
                 'bigquery.datasets.get denied',
      'errors': [{'reason': 'accessDenied', 'domain': 'global',
                  'message': 'Access Denied'}]}}).encode()

  class Deny(http.server.BaseHTTPRequestHandler):
    def _deny(self):
      self.send_response(403)
      self.send_header('Content-Type', 'application/json')
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _deny

    def log_message(self, *args):
      pass

  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Deny)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_address[1]}'
  server.shutdown()


def test_missing_permission_is_one_line_naming_the_roles(tmp_path,
                                                         denying_endpoint):
  path = tmp_path / 'x.csv'
  _frame(50, 0).to_csv(path, index=False)
  result = run_job('validate', 'dataset.name=x', f'dataset.path={path}',
                   'span=1', f'store.root={tmp_path / "s"}', 'sink=bigquery',
                   f'sink.project={PROJECT}', 'sink.dataset=results',
                   f'sink.endpoint={denying_endpoint}')
  assert result.returncode == EXIT_FAILED
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f"validate: error: sink.project='{PROJECT}' "
                         "sink.dataset='results': permission denied"), last
  assert 'roles/bigquery' in last
  assert 'Traceback' not in result.stderr
  assert not os.path.exists(tmp_path / 's' / 'x')  # nothing ran


@pytest.mark.parametrize('override, message', [
    ('sink.dataset=bad-name', "sink.dataset='bad-name'"),
    ('sink.project=Not_A_Project', "sink.project='Not_A_Project'"),
    ('sink.endpoint=localhost:9050', "sink.endpoint='localhost:9050'"),
])
def test_bad_sink_config_is_one_line(tmp_path, bq_endpoint, override,
                                     message):
  path = tmp_path / 'x.csv'
  _frame(50, 0).to_csv(path, index=False)
  result = run_job('stats', 'dataset.name=x', f'dataset.path={path}', 'span=1',
                   f'store.root={tmp_path / "s"}', 'sink=bigquery',
                   'sink.project=p', f'sink.endpoint={bq_endpoint}', override)
  assert result.returncode == EXIT_FAILED
  assert message in result.stderr.strip().splitlines()[-1], result.stderr
  assert 'Traceback' not in result.stderr


def test_missing_project_names_the_key(tmp_path):
  result = run_job('stats', 'dataset.name=x', 'dataset.path=/nope.csv',
                   'span=1', 'sink=bigquery')
  assert result.returncode == EXIT_FAILED
  assert 'sink.project is not set' in result.stderr
