"""Shared test helpers: config composition, small data files, warehouse reads."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import beam_jobs  # noqa: F401  (quiets TensorFlow/TFDV start-up output)
import duckdb
from hydra import compose, initialize_config_module
import numpy as np
import pandas as pd
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_cfg(config_name: str, overrides):
  """Composes a job config exactly as the command line would."""
  with initialize_config_module(config_module='conf', version_base='1.3'):
    return compose(config_name=config_name, overrides=list(overrides))


def warehouse_rows(path: str, sql: str):
  if not os.path.exists(path):
    return []
  con = duckdb.connect(path, read_only=True)
  try:
    tables = {r[0] for r in con.execute('SHOW TABLES').fetchall()}
    if 'runs' not in tables:
      return []
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
  finally:
    con.close()


def run_job(module: str, *overrides, cwd=REPO, env=None):
  """Runs ``python -m beam_jobs.<module>`` as a user would; ``env``: more
  environment variables."""
  return subprocess.run([sys.executable, '-m', f'beam_jobs.{module}',
                         *overrides], cwd=cwd, capture_output=True,
                        text=True, timeout=600,
                        env=None if env is None else {**os.environ, **env})


def people_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
  """A small table with numeric, categorical, boolean and missing values."""
  rng = np.random.default_rng(seed)
  df = pd.DataFrame({
      'age': rng.integers(18, 90, n),
      'income': rng.normal(50_000, 12_000, n).round(2),
      'country': rng.choice(['US', 'DE', 'FR', 'IN'], n, p=[.4, .3, .2, .1]),
      'sex': rng.choice(['female', 'male'], n),
      'member': rng.random(n) < 0.3,
      'user_id': [f'u{i:06d}' for i in range(n)],
  })
  df.loc[::7, 'income'] = np.nan
  df.loc[::11, 'country'] = None
  return df


@pytest.fixture
def workdir(tmp_path):
  return tmp_path


@pytest.fixture
def store_overrides(tmp_path):
  root = tmp_path / 'store'
  return [f'store.root={root}'], str(root / 'warehouse.duckdb')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='session')
def bq_endpoint(tmp_path_factory):
  """A real BigQuery emulator (bqemulator) on a free loopback port.

  It runs from its own virtualenv, .venv-bqemu, which `make test` builds.
  """
  python = os.path.join(REPO, '.venv-bqemu', 'bin', 'python')
  if not os.path.exists(python):
    pytest.fail('the BigQuery emulator is not installed: run `make test` '
                '(it builds .venv-bqemu from scripts/bqemulator/requirements.lock)')
  rest, grpc = _free_port(), _free_port()
  log = tmp_path_factory.mktemp('bqemu') / 'emulator.log'
  with open(log, 'w') as out:
    proc = subprocess.Popen(
        [python, os.path.join(REPO, 'scripts', 'bqemulator', 'serve.py'),
         'start', '--rest-host', '127.0.0.1', '--rest-port', str(rest),
         '--grpc-host', '127.0.0.1', '--grpc-port', str(grpc), '--ephemeral'],
        stdout=out, stderr=subprocess.STDOUT)
  url = f'http://127.0.0.1:{rest}'
  deadline = time.time() + 60
  while True:
    try:
      with urllib.request.urlopen(
          f'{url}/bigquery/v2/projects/probe/datasets', timeout=2) as r:
        if r.status == 200:
          break
    except OSError:
      pass
    if proc.poll() is not None or time.time() > deadline:
      proc.kill()
      pytest.fail(f'the BigQuery emulator did not start; its log:\n'
                  f'{log.read_text()[-3000:]}')
    time.sleep(0.3)
  yield url
  proc.terminate()
  try:
    proc.wait(timeout=10)
  except subprocess.TimeoutExpired:
    proc.kill()


def bq_client(endpoint: str, project: str):
  """A plain google-cloud-bigquery client on the emulator, as a user would make."""
  from google.api_core.client_options import ClientOptions  # pylint: disable=g-import-not-at-top
  from google.auth.credentials import AnonymousCredentials  # pylint: disable=g-import-not-at-top
  from google.cloud import bigquery  # pylint: disable=g-import-not-at-top
  return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                         client_options=ClientOptions(api_endpoint=endpoint))


class GcsEmulator:
  """A Cloud Storage emulator on loopback, and what tests do with it: make
  buckets, upload files, list objects (plain JSON API calls, no client)."""

  def __init__(self, host: str):
    self.host = host  # the value of STORAGE_EMULATOR_HOST
    self.env = {'STORAGE_EMULATOR_HOST': host}
    self._buckets = 0

  def _call(self, method: str, path: str, body: bytes = None,
            content_type: str = 'application/json'):
    request = urllib.request.Request(self.host + path, data=body,
                                     method=method)
    if body is not None:
      request.add_header('Content-Type', content_type)
    with urllib.request.urlopen(request, timeout=30) as r:
      data = r.read()
    return json.loads(data) if data else None

  def bucket(self, prefix: str = 'dv') -> str:
    """A new, empty bucket; its name."""
    self._buckets += 1
    name = f'{prefix}-{self._buckets}-{os.getpid()}'
    self._call('POST', '/storage/v1/b?project=test',
               json.dumps({'name': name}).encode())
    return name

  def upload(self, bucket: str, name: str, data: bytes) -> str:
    """Writes an object; its gs:// path."""
    self._call('POST', f'/upload/storage/v1/b/{bucket}/o?uploadType=media&'
               f'name={urllib.parse.quote(name, safe="")}', data,
               'application/octet-stream')
    return f'gs://{bucket}/{name}'

  def download(self, bucket: str, name: str) -> bytes:
    quoted = urllib.parse.quote(name, safe='')
    with urllib.request.urlopen(
        f'{self.host}/storage/v1/b/{bucket}/o/{quoted}?alt=media',
        timeout=30) as r:
      return r.read()

  def list(self, bucket: str, prefix: str = '') -> list:
    """The names of the bucket's objects under ``prefix``, sorted."""
    names, token = [], None
    while True:
      query = {'prefix': prefix}
      if token:
        query['pageToken'] = token
      page = self._call('GET', f'/storage/v1/b/{bucket}/o?'
                        f'{urllib.parse.urlencode(query)}')
      names += [item['name'] for item in page.get('items', [])]
      token = page.get('nextPageToken')
      if not token:
        return sorted(names)


@pytest.fixture(scope='session')
def gcs_emulator(tmp_path_factory):
  """A real Cloud Storage emulator (gcp-storage-emulator, in memory) on a
  free loopback port, for ``gs://`` paths through Beam's own GCS client:
  jobs find it by STORAGE_EMULATOR_HOST (``GcsEmulator.env``)."""
  port = _free_port()
  log = tmp_path_factory.mktemp('gcsemu') / 'emulator.log'
  with open(log, 'w') as out:
    proc = subprocess.Popen(
        [sys.executable, '-m', 'gcp_storage_emulator', 'start', '--host',
         '127.0.0.1', '--port', str(port), '--in-memory'],
        stdout=out, stderr=subprocess.STDOUT)
  emulator = GcsEmulator(f'http://127.0.0.1:{port}')
  deadline = time.time() + 30
  while True:
    try:
      emulator._call('GET', '/storage/v1/b?project=test')  # pylint: disable=protected-access
      break
    except OSError:
      pass
    if proc.poll() is not None or time.time() > deadline:
      proc.kill()
      pytest.fail(f'the Cloud Storage emulator did not start; its log:\n'
                  f'{log.read_text()[-3000:]}')
    time.sleep(0.2)
  yield emulator
  proc.terminate()
  try:
    proc.wait(timeout=10)
  except subprocess.TimeoutExpired:
    proc.kill()
