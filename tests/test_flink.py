"""runner=flink: the pipeline on Apache Flink equals the pipeline in one process.

Flink runs each step as parallel tasks with a real shuffle between them, and
the Python steps in separate SDK worker processes; the DirectRunner runs the
same pipeline in this process. The same span through both must give the same
statistics (counts, min, max exactly, means to rounding; quantiles within
the sketch's error), the same anomaly rows and the same dead letters. The job
server is the one `make flink` (scripts/flink/fetch.sh) builds from Maven
Central; without it (no Maven Central, no Java) these tests skip and say why.
"""

import glob
import importlib.util
import json
import math
import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from beam_jobs import infer_schema as infer_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from conftest import REPO, make_cfg, warehouse_rows
from transforms.io import artifacts
from runners import flink
from settings import runner as runner_settings
from transforms import statistics
from transforms.errors import UserError

FETCH = os.path.join(REPO, 'scripts', 'flink', 'fetch.sh')


@pytest.fixture(scope='module')
def job_server():
  """The job server jar, built by fetch.sh when missing; skips when it can't."""
  if shutil.which('java') is None:
    pytest.skip('runner=flink needs Java: java is not on PATH')
  proc = subprocess.run(['bash', FETCH], capture_output=True, text=True,
                        timeout=900)
  if proc.returncode != 0:
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    pytest.skip(f'the Flink job server could not be built: '
                f'{lines[-1] if lines else proc.returncode}')
  reason = flink.missing()
  if reason:
    pytest.skip(reason)
  return proc.stdout.strip()


def frame(n, seed, shift=0.0):
  rng = np.random.default_rng(seed)
  df = pd.DataFrame({
      'age': rng.integers(18, 80, n),
      'income': rng.normal(50_000 + shift * 20_000, 10_000, n).round(2),
      'country': rng.choice(['US', 'DE', 'FR', 'IN'], n, p=[.4, .3, .2, .1]),
      'sex': rng.choice(['female', 'male'], n),
      'label': (rng.random(n) < 0.3).astype(int),
  })
  df.loc[::9, 'income'] = np.nan
  return df


def _overrides(data, store, span, *extra):
  return ['dataset.name=people', f'dataset.path={data}/{span}/*.csv',
          'split=train', f'span={span}', f'store.root={store}',
          'dataset.label=label', 'dataset.slices=[country]', *extra]


def _write_span(data, span, parts, malformed=()):
  """The span as several CSV files (one per part), so readers run in
  parallel; ``malformed`` lines are appended to the first file."""
  folder = data / span
  folder.mkdir(parents=True)
  for i, part in enumerate(parts):
    path = folder / f'part-{i}.csv'
    part.to_csv(path, index=False)
    if i == 0 and malformed:
      with open(path, 'a') as f:
        f.write(''.join(line + '\n' for line in malformed))


class _WorkerWatch:
  """Collects the pids of Beam SDK worker processes while a job runs."""

  def __init__(self):
    self.pids = set()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._poll, daemon=True)

  def _poll(self):
    while not self._stop.is_set():
      for pid in os.listdir('/proc'):
        if not pid.isdigit():
          continue
        try:
          with open(f'/proc/{pid}/cmdline', 'rb') as f:
            cmd = f.read()
        except OSError:
          continue
        if b'SdkHarness(' in cmd:
          self.pids.add(int(pid))
      time.sleep(0.2)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()


def _by_slice(stats):
  return {statistics.slice_name(d): d for d in stats.datasets}


def _features(dataset):
  return {statistics.feature_path(f): f for f in dataset.features}


def _ranks(values, x):
  """The share of values below ``x`` and at or below it (ties: a range)."""
  values = np.sort(values)
  return (np.searchsorted(values, x, side='left') / len(values),
          np.searchsorted(values, x, side='right') / len(values))


def _assert_same_statistics(direct, flink_stats, frames):
  one, two = _by_slice(direct), _by_slice(flink_stats)
  assert set(one) == set(two)
  for name, a_set in one.items():
    b_set = two[name]
    assert a_set.num_examples == b_set.num_examples, name
    a, b = _features(a_set), _features(b_set)
    assert set(a) == set(b), name
    for path, fa in a.items():
      fb = b[path]
      ca, cb = statistics.common_stats(fa), statistics.common_stats(fb)
      assert (ca.num_non_missing, ca.num_missing, ca.tot_num_values,
              ca.min_num_values, ca.max_num_values) == (
                  cb.num_non_missing, cb.num_missing, cb.tot_num_values,
                  cb.min_num_values, cb.max_num_values), (name, path)
      if fa.HasField('num_stats'):
        na, nb = fa.num_stats, fb.num_stats
        assert (na.min, na.max, na.num_zeros) == (nb.min, nb.max,
                                                  nb.num_zeros), (name, path)
        # Sums are added in another order across workers: equal to rounding.
        assert math.isclose(na.mean, nb.mean, rel_tol=1e-12), (name, path)
        assert math.isclose(na.std_dev, nb.std_dev, rel_tol=1e-9), (name, path)
        if name == '':
          # Quantiles: each boundary within the sketch's rank error (TFDV's
          # epsilon is 0.01) of the exact quantile of the whole span.
          column = pd.concat(frames)[path].dropna().to_numpy(dtype=float)
          for hist in (na.histograms[1], nb.histograms[1]):
            assert hist.type == hist.QUANTILES
            buckets = len(hist.buckets)
            for i, bucket in enumerate(hist.buckets[:-1]):
              want = (i + 1) / buckets
              low, high = _ranks(column, bucket.high_value)
              assert low - 0.02 <= want <= high + 0.02, (
                  path, i, bucket.high_value)
      if fa.HasField('string_stats'):
        sa, sb = fa.string_stats, fb.string_stats
        assert {(v.value, v.frequency) for v in sa.top_values} == {
            (v.value, v.frequency) for v in sb.top_values}, (name, path)
        assert sa.unique == sb.unique, (name, path)


def _dead_letter_lines(store):
  span = artifacts.SpanArtifacts(str(store), 'people', 'train', '2024-01-02')
  lines = []
  for path in glob.glob(os.path.join(span.dead_letter_dir, '*')):
    with open(path) as f:
      lines += [l for l in f.read().splitlines() if l]
  return sorted(lines)


def _anomaly_rows(store):
  return sorted(
      (r['check'], r['slice'], r['feature'], r['anomaly_type'], r['severity'])
      for r in warehouse_rows(str(store / 'warehouse.duckdb'),
                              "SELECT * FROM anomalies WHERE span = "
                              "'2024-01-02'"))


def test_flink_with_two_sdk_worker_processes_equals_the_direct_runner(
    job_server, tmp_path):
  data, base = tmp_path / 'data', tmp_path / 'baseline'
  _write_span(data, '2024-01-01', [frame(3000, 0)])
  assert stats_job.run(make_cfg('stats', _overrides(
      data, base, '2024-01-01'))) == EXIT_OK
  assert infer_job.run(make_cfg('infer_schema', [
      'dataset.name=people', f'store.root={base}',
      'dataset.label=label'])) == EXIT_OK
  # The next span: three files, drifted income, a new country, bad rows.
  parts = [frame(2500, 1, shift=1.0), frame(2500, 2, shift=1.0),
           frame(2000, 3, shift=1.0)]
  parts[2].loc[:400, 'country'] = 'Atlantis'
  _write_span(data, '2024-01-02', parts, malformed=[
      '30,51000.0,US,female,0,surplus', '29,48000.0'])
  stores = {}
  for name in ('direct', 'flink'):
    stores[name] = tmp_path / name
    shutil.copytree(base, stores[name])
  assert validate_job.run(make_cfg('validate', _overrides(
      data, stores['direct'], '2024-01-02'))) == EXIT_BLOCKING
  with _WorkerWatch() as watch:
    assert validate_job.run(make_cfg('validate', _overrides(
        data, stores['flink'], '2024-01-02', 'runner=flink',
        'runner.parallelism=2', 'runner.sdk_workers=pool'))) == EXIT_BLOCKING
  # The Python steps ran in two or more separate worker processes.
  assert len(watch.pids) >= 2, watch.pids

  spans = {name: artifacts.SpanArtifacts(str(store), 'people', 'train',
                                         '2024-01-02')
           for name, store in stores.items()}
  runs = {name: artifacts.read_json(s.run_path) for name, s in spans.items()}
  assert runs['flink']['runner'] == 'flink'
  assert runs['direct']['num_examples'] == runs['flink']['num_examples'] == 7000
  assert runs['direct']['num_malformed'] == runs['flink']['num_malformed'] == 2
  assert runs['direct']['num_files'] == runs['flink']['num_files'] == 3
  direct_stats = spans['direct'].load_stats()
  assert {statistics.slice_name(d) for d in direct_stats.datasets} == {
      '', 'country_US', 'country_DE', 'country_FR', 'country_IN',
      'country_Atlantis'}
  _assert_same_statistics(direct_stats, spans['flink'].load_stats(), parts)
  anomalies = _anomaly_rows(stores['direct'])
  assert {(a[0], a[2]) for a in anomalies} >= {('schema', 'country'),
                                                ('drift', 'income')}
  assert anomalies == _anomaly_rows(stores['flink'])
  # The shift check's inputs: the same row sample (chosen by a hash of each
  # row, not by which worker saw it) and the same label counts per bucket.
  assert ('shift', '', '', 'COVARIATE_SHIFT', 'WARNING') in anomalies
  samples = {name: pq.read_table(os.path.join(s.dir, artifacts.SAMPLE_FILE))
             for name, s in spans.items()}
  assert samples['direct'].num_rows == 7000
  assert samples['direct'].equals(samples['flink'])
  buckets = {name: json.loads(s.load_bytes(artifacts.SHIFT_FILE))
             for name, s in spans.items()}
  for part in buckets.values():
    for piece in part['slices'].values():
      piece['moments'] = [round(v, 6) for v in piece['moments']]
      for feature in piece['features'].values():
        feature['moments'] = [[m[0], m[1]] + [round(v, 6) for v in m[2:]]
                              for m in feature['moments']]
  assert buckets['direct'] == buckets['flink']
  dead = _dead_letter_lines(stores['direct'])
  assert len(dead) == 2 and dead == _dead_letter_lines(stores['flink'])


def _load_cluster_module():
  spec = importlib.util.spec_from_file_location(
      'dv_flink_cluster', os.path.join(REPO, 'scripts', 'flink', 'cluster.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_a_flink_session_cluster_runs_the_job_by_host_and_port(
    job_server, tmp_path):
  data = tmp_path / 'data'
  part = frame(2000, 5)
  _write_span(data, '2024-01-01', [part])
  direct, remote = tmp_path / 'direct', tmp_path / 'remote'
  assert stats_job.run(make_cfg('stats', _overrides(
      data, direct, '2024-01-01'))) == EXIT_OK
  cluster = _load_cluster_module().SessionCluster(slots=2).start()
  try:
    assert cluster.overview()['jobs-finished'] == 0
    assert stats_job.run(make_cfg('stats', _overrides(
        data, remote, '2024-01-01', 'runner=flink',
        f'runner.flink_master={cluster.master}', 'runner.parallelism=2',
        'runner.sdk_workers=loopback'))) == EXIT_OK
    # The job ran on this cluster, not on an embedded one.
    assert cluster.overview()['jobs-finished'] == 1
  finally:
    cluster.stop()
  one = artifacts.SpanArtifacts(str(direct), 'people', 'train', '2024-01-01')
  two = artifacts.SpanArtifacts(str(remote), 'people', 'train', '2024-01-01')
  _assert_same_statistics(one.load_stats(), two.load_stats(), [part])


@pytest.mark.parametrize('override, message', [
    ('runner.flink_master=localhost', 'runner.flink_master='),
    ('runner.parallelism=0', 'runner.parallelism=0'),
    ('runner.sdk_workers=docker', 'runner.sdk_workers='),
    ('runner.sdk_workers=external', 'runner.worker_pool=None'),
    ('runner.worker_pool=localhost:50000', 'only used with'),
    ('runner.job_server_jar=/nonexistent/job-server.jar',
     'runner.job_server_jar='),
])
def test_bad_flink_settings_are_one_line_naming_the_key(tmp_path, override,
                                                        message):
  cfg = make_cfg('stats', _overrides(tmp_path, tmp_path / 'store', '2024',
                                     'runner=flink', override))
  with pytest.raises(UserError) as e:
    runner_settings.pipeline_options(cfg)
  assert message in str(e.value) and '\n' not in str(e.value)


def test_without_a_built_job_server_the_job_says_how_to_build_it(
    tmp_path, monkeypatch):
  monkeypatch.setenv('DV_FLINK_CACHE', str(tmp_path / 'empty-cache'))
  cfg = make_cfg('stats', _overrides(tmp_path, tmp_path / 'store', '2024',
                                     'runner=flink'))
  with pytest.raises(UserError) as e:
    runner_settings.pipeline_options(cfg)
  assert 'make flink' in str(e.value) and 'runner=flink' in str(e.value)


def test_feature_skew_on_flink_finds_what_the_direct_runner_finds(
    job_server, tmp_path):
  import test_feature_skew  # pylint: disable=g-import-not-at-top
  train, serving = test_feature_skew._frames()  # pylint: disable=protected-access
  serving.loc[::10, 'amount'] = serving.loc[::10, 'amount'].round(0) + 0.5
  found = {}
  for name, extra in (('direct', []), ('flink', [
      'runner=flink', 'runner.sdk_workers=loopback'])):
    result, db = test_feature_skew._run(tmp_path / name, train, serving,  # pylint: disable=protected-access
                                        *extra)
    assert result.returncode == EXIT_BLOCKING, result.stderr[-2000:]
    assert 'joined:     1,000 pairs' in result.stdout
    found[name] = sorted(
        (r['feature'], r['metric'], r['value']) for r in warehouse_rows(
            db, """SELECT * FROM drift_skew WHERE "check" = 'feature_skew'"""))
  assert ('amount', 'MISMATCH_RATE', 0.1) in found['direct']
  assert found['direct'] == found['flink']


def test_the_sdk_worker_pool_stops_and_leaves_no_log_file():
  pool = flink.WorkerPool()
  assert os.path.exists(pool.log_path)
  pool.stop()
  with pytest.raises(OSError):
    os.kill(pool.pid, 0)  # the process is gone (and reaped)
  assert not os.path.exists(pool.log_path)
