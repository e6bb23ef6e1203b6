"""runner=dataflow: options, job names and the offline dry run.

Dataflow itself cannot run here (no Google Cloud project, no network), so a
real submission is not tested. What is tested is everything up to it: Beam's
DataflowRunner builds the whole job -- pipeline, worker pool, options, the
package built from setup.py -- in a dry run, as a real subprocess with the
network off (see tests/offline.py), and the job file it writes is checked.
"""

import glob
import importlib
import json
import os
import re
import subprocess
import sys
import tarfile

from apache_beam.portability.api import beam_runner_api_pb2
import pytest

import offline
from conftest import REPO, make_cfg
from runners import dataflow
from settings import job as job_settings
from settings import runner as runner_settings
from transforms import span_stats
from transforms.errors import UserError

CLOUD = [
    'runner=dataflow', 'runner.project=dv-test-proj',
    'runner.region=europe-west4', 'runner.temp_location=gs://dv-bucket/tmp',
]


def _job_dir(stdout: str) -> str:
  match = re.search(r'job file:\s+(\S+)', stdout)
  assert match, stdout
  return os.path.dirname(match.group(1))


def _staged(job_dir: str, name: str) -> str:
  found = glob.glob(os.path.join(job_dir, 'staging', '**', name),
                    recursive=True)
  assert len(found) == 1, (name, found)
  return found[0]


def test_network_is_really_off_in_the_test_subprocess(tmp_path):
  proc = offline.run(['-c', 'import socket; socket.create_connection('
                      '("203.0.113.7", 443), timeout=5)'], REPO, tmp_path)
  assert proc.returncode != 0, offline.mode()
  assert 'Error' in proc.stderr


def test_validate_dry_run_offline_builds_the_whole_job(tmp_path):
  out = tmp_path / 'dry'
  proc = offline.run([
      '-m', 'beam_jobs.validate', *CLOUD,
      'runner.dry_run=true', f'runner.dry_run_dir={out}',
      'runner.machine_type=n2-highmem-8', 'runner.max_num_workers=7',
      'runner.service_account_email=dv-runner@dv-test-proj.iam.gserviceaccount.com',
      'runner.subnetwork=regions/europe-west4/subnetworks/dv',
      'runner.use_public_ips=false', "runner.labels={team: ml-platform}",
      'dataset.name=shop', 'dataset.path="gs://dv-data/events/dt=${span}/*.csv"',
      'dataset.column_types={zip: string}', 'split=serving',
      'span=2024-06-02', 'store.root=gs://dv-bucket/store',
      # The results would go to BigQuery; a dry run builds the job without
      # opening the sink (no project credentials, no network).
      'sink=bigquery', 'sink.project=dv-test-proj',
  ], cwd=tmp_path, tmp_path=tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'DRY RUN' in proc.stdout and 'nothing was read' in proc.stdout
  job_dir = _job_dir(proc.stdout)
  assert job_dir.startswith(str(out))
  with open(os.path.join(job_dir, 'job.json')) as f:
    job = json.load(f)

  name = job['name']
  assert re.fullmatch(r'dv-validate-shop-serving-2024-06-02-[0-9a-f]{6}', name)
  assert job['type'] == 'JOB_TYPE_BATCH'
  assert job['labels'] == {'dv_job': 'validate', 'dv_dataset': 'shop',
                    'dv_split': 'serving', 'dv_span': '2024-06-02',
                    'team': 'ml-platform'}
  env = job['environment']
  assert env['serviceAccountEmail'].startswith('dv-runner@')
  pool, = env['workerPools']
  assert pool['machineType'] == 'n2-highmem-8'
  assert pool['autoscalingSettings']['maxNumWorkers'] == 7
  assert pool['subnetwork'] == 'regions/europe-west4/subnetworks/dv'
  assert pool['ipConfiguration'] == 'WORKER_IP_PRIVATE'
  # The package built from setup.py is staged as workflow.tar.gz and listed
  # for the workers to install.
  package = [p for p in pool['packages'] if p['name'] == 'workflow.tar.gz']
  assert package and package[0]['location'].startswith(
      f'storage.googleapis.com/dv-bucket/tmp/{name}.')
  with tarfile.open(_staged(job_dir, 'workflow.tar.gz')) as tar:
    members = {m.split('/', 1)[-1] for m in tar.getnames()}
  assert {'setup.py', 'transforms/__init__.py', 'transforms/io/sources.py',
          'beam_jobs/validate.py', 'conf/validate.yaml'} <= members

  options = env['sdkPipelineOptions']['options']
  assert options['project'] == 'dv-test-proj'
  assert options['region'] == 'europe-west4'
  assert options['job_name'] == name
  assert options['setup_file'] == os.path.join(REPO, 'setup.py')
  assert options['pipelineUrl'].startswith(f'gs://dv-bucket/tmp/{name}.')
  assert not options.get('dry_run')  # what a submission would carry

  # The pipeline is the statistics pass, reading the span's gs:// files.
  pipeline = beam_runner_api_pb2.Pipeline()
  with open(_staged(job_dir, 'pipeline.pb'), 'rb') as f:
    pipeline.ParseFromString(f.read())
  labels = {t.unique_name for t in pipeline.components.transforms.values()}
  for step in ('StatisticsForSpan/ReadSpan/MatchFiles',
               'StatisticsForSpan/ComputeStatistics',
               'StatisticsForSpan/WriteStatistics',
               'StatisticsForSpan/ScanForPII',
               'StatisticsForSpan/WritePIICounts',
               'StatisticsForSpan/WriteDeadLetters'):
    assert any(l.startswith(step) for l in labels), step
  assert 'gs://dv-data/events/dt=2024-06-02/*.csv' in proc.stdout
  # Nothing was written next to the job either.
  assert not (tmp_path / 'artifacts').exists()


def _dry_run(cfg, job: str) -> dataflow.DryRunJob:
  """The job's statistics pass built as a Dataflow job (runner.dry_run)."""
  settings = job_settings.parse(cfg, job)
  return span_stats.dry_run(settings.stats_pass, settings.runner.options,
                            settings.runner.dry_run_dir)


def test_stats_dry_run_with_a_container_image_stages_no_package(tmp_path):
  """Parquet needs no type inference; a custom image replaces setup.py."""
  cfg = make_cfg('stats', [
      *CLOUD, 'runner.dry_run=true', f'runner.dry_run_dir={tmp_path}',
      'runner.sdk_container_image=europe-docker.pkg.dev/p/dv/dv:1',
      'dataset.name=events', 'dataset.path=gs://dv-data/events/*.parquet',
      'span=2024-06-01', 'store.root=gs://dv-bucket/store'])
  dry = _dry_run(cfg, 'stats')
  with open(dry.job_file) as f:
    job = json.load(f)
  pool, = job['environment']['workerPools']
  assert pool['workerHarnessContainerImage'] == 'europe-docker.pkg.dev/p/dv/dv:1'
  assert 'workflow.tar.gz' not in dry.packages
  assert not any(n for n in dry.notes if 'column types' in n)


def test_bigquery_source_dry_run_reads_the_span_partition(tmp_path):
  """dataset.format=bigquery on Dataflow: no path, the query on the workers."""
  cfg = make_cfg('validate', [
      *CLOUD, 'runner.dry_run=true', f'runner.dry_run_dir={tmp_path}',
      'dataset.name=clicks', 'dataset.format=bigquery',
      'dataset.table=dv-test-proj.events.clicks', 'dataset.partition_column=dt',
      'span=2024-06-01', 'store.root=gs://dv-bucket/store',
      'sink=bigquery', 'sink.project=dv-test-proj'])
  dry = _dry_run(cfg, 'validate')
  assert any('`dv-test-proj.events.clicks`' in n and "'2024-06-01'" in n
             for n in dry.notes), dry.notes
  pipeline = beam_runner_api_pb2.Pipeline()
  with open(_staged(dry.dir, 'pipeline.pb'), 'rb') as f:
    pipeline.ParseFromString(f.read())
  labels = {t.unique_name for t in pipeline.components.transforms.values()}
  assert any(l.startswith('StatisticsForSpan/ReadSpan/ReadBigQuery/'
                          'ReadFromBigQuery') for l in labels), sorted(labels)
  assert not any('MatchFiles' in l for l in labels)
  with open(dry.job_file) as f:
    job = json.load(f)
  assert job['labels']['dv_dataset'] == 'clicks'


@pytest.mark.parametrize('job', ['infer_schema', 'schema', 'report',
                                 'feature_skew'])
def test_jobs_without_a_dry_run_refuse_it_and_write_nothing(job, tmp_path):
  """A dry run must never fall through to a real run that writes."""
  cfg = make_cfg(job, [*CLOUD, 'runner.dry_run=true', 'dataset.name=shop',
                       'dataset.path=gs://dv-data/x.csv', 'span=2024-06-01',
                       f'store.root={tmp_path}/store',
                       'feature_skew.identifiers=[id]'
                       if job == 'feature_skew' else 'split=train'])
  module = importlib.import_module(f'beam_jobs.{job}')
  with pytest.raises(UserError, match=f'runner.dry_run=true: the {job} job '
                     'has no Dataflow dry run'):
    module.run(cfg)
  assert not (tmp_path / 'store').exists()


@pytest.mark.parametrize('override, key', [
    ('dataset.path=/data/local.csv', 'dataset.path'),
    ('store.root=artifacts', 'store.root'),
    ('runner.project=My_Project', 'runner.project'),
    ('runner.region=europe', 'runner.region'),
    ('runner.temp_location=/tmp/x', 'runner.temp_location'),
    ('runner.job_name=Nightly_Run', 'runner.job_name'),
    ('runner.max_num_workers=0', 'runner.max_num_workers'),
    ('runner.labels={Team: ml}', 'runner.labels.Team'),
    ('runner.setup_file=/nowhere/setup.py', 'runner.setup_file'),
])
def test_bad_dataflow_config_names_the_key(override, key):
  base = [*CLOUD, 'dataset.name=shop', 'dataset.path=gs://b/x.csv',
          'span=2024-06-02', 'store.root=gs://b/store']
  cfg = make_cfg('validate', base + [override])
  with pytest.raises(UserError, match=re.escape(key)):
    runner_settings.pipeline_options(cfg)


def test_missing_project_is_one_line_naming_the_key(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'beam_jobs.stats', 'runner=dataflow',
       'runner.region=us-central1', 'runner.temp_location=gs://b/t',
       'dataset.name=shop', 'dataset.path=gs://b/x.csv', 'span=1',
       'store.root=gs://b/s', 'runner.dry_run=true'],
      cwd=tmp_path, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      'stats: error: runner.project is not set: pass runner.project=<value> '
      'on the command line')


def test_job_names_are_valid_and_unique():
  names = {dataflow.job_name('validate', 'Shop_Events.v2', 'serving',
                             '2024-06-02') for _ in range(50)}
  assert len(names) == 50
  for name in names:
    assert re.fullmatch(r'[a-z]([-a-z0-9]*[a-z0-9])?', name)
    assert name.startswith('dv-validate-shop-events-v2-serving-2024-06-02-')
  long = dataflow.job_name('validate', 'x' * 200, 'train', '2024-06-02', 'ab12')
  assert len(long) <= 63 and long.endswith('-train-2024-06-02-ab12')
  assert dataflow.job_name('stats', '9lives', 'a', 'b', 'c').startswith('dv-')
