"""The Flex Template: launcher argument mapping, metadata.json, Dockerfile.

Neither the image build (no Docker engine here) nor a launch (no Google
Cloud project, no network) can run here. Tested instead: the launcher turns
the flags Dataflow passes into the same config as the command line; the
launcher's real entry point builds the Dataflow job offline; metadata.json
agrees with the config and passes gcloud's own parsing (when gcloud is
installed); the Dockerfile agrees with the pinned stack.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import apache_beam
from omegaconf import OmegaConf
import pytest

import offline
from beam_jobs import flex_launcher
from conftest import REPO, make_cfg
from settings import config  # noqa: F401  (registers ${dv_date})
from transforms.io import sources
from transforms.checks import validation

FLEX = os.path.join(REPO, 'scripts', 'flex')
with open(os.path.join(FLEX, 'metadata.json')) as _f:
  METADATA = json.load(_f)
PARAMS = {p['name']: p for p in METADATA['parameters']}

# What the Flex launcher passes besides the template parameters.
LAUNCH_OPTIONS = [
    '--runner=DataflowRunner', '--project=dv-proj', '--region=europe-west1',
    '--job_name=dv-nightly-20240602', '--temp_location=gs://dv-b/tmp',
    '--staging_location=gs://dv-b/staging',
    '--sdk_container_image=europe-docker.pkg.dev/dv-proj/dv/bdv:abc123',
    '--worker_machine_type=n2-standard-8', '--max_num_workers=12',
    '--labels={"owner": "ml-data", "goog-dataflow-provided-template-type": '
    '"flex"}',
]


def _plain(cfg):
  return OmegaConf.to_container(cfg, resolve=True)


def test_launcher_flags_give_the_same_config_as_the_command_line():
  job, overrides = flex_launcher.to_overrides([
      '--job=validate', '--dataset_name=shop',
      '--dataset_path=gs://dv-data/events/dt=${span}/*.parquet',
      '--split=serving', '--run_date=2024-06-02', '--store_root=gs://dv-b/dv',
      '--fail_on=WARNING', '--schema_version=3', '--sample_rate=0.25',
      '--alert_webhook_url=https://hooks.example.com/x?token=a,b',
      '--overrides=dataset.slices=[country] drift.numeric_threshold=0.2',
      '--template_location=gs://dv-b/staging/template_launches/1/job_object',
      *LAUNCH_OPTIONS])
  assert job == 'validate'
  launched = make_cfg('validate', overrides)
  cli = make_cfg('validate', [
      'runner=dataflow', 'dataset.name=shop',
      'dataset.path="gs://dv-data/events/dt=${span}/*.parquet"',
      'split=serving', 'run_date=2024-06-02', 'span=${dv_date:-1}',
      'store.root=gs://dv-b/dv', 'fail_on=WARNING', 'schema.version=3',
      'stats.sample_rate=0.25',
      'alert.webhook_url="https://hooks.example.com/x?token=a,b"',
      'dataset.slices=[country]', 'drift.numeric_threshold=0.2',
      'runner.template_location=gs://dv-b/staging/template_launches/1/'
      'job_object',
      'runner.project=dv-proj', 'runner.region=europe-west1',
      'runner.job_name=dv-nightly-20240602', 'runner.temp_location=gs://dv-b/tmp',
      'runner.staging_location=gs://dv-b/staging',
      'runner.sdk_container_image=europe-docker.pkg.dev/dv-proj/dv/bdv:abc123',
      'runner.machine_type=n2-standard-8', 'runner.max_num_workers=12',
      'runner.labels={owner: ml-data, goog-dataflow-provided-template-type: '
      'flex}'])
  assert _plain(launched) == _plain(cli)
  assert launched.span == '2024-06-01'  # the default: the day before
  assert launched.dataset.path == 'gs://dv-data/events/dt=2024-06-01/*.parquet'
  assert launched.schema.version == 3 and launched.stats.sample_rate == 0.25


def test_other_beam_options_pass_through_and_unknown_flags_fail():
  _, overrides = flex_launcher.to_overrides([
      '--job=stats', '--dataset_name=x', '--dataset_path=gs://b/x.csv',
      '--span=1', '--experiments=use_runner_v2', '--dataflow_kms_key=k'])
  cfg = make_cfg('stats', overrides)
  assert cfg.runner.options == {'dataflow_kms_key': 'k',
                                'experiments': 'use_runner_v2'}
  with pytest.raises(flex_launcher.LauncherError, match='--datset_path'):
    flex_launcher.to_overrides(['--job=stats', '--datset_path=gs://b/x'])
  with pytest.raises(flex_launcher.LauncherError, match='--job'):
    flex_launcher.to_overrides(['--dataset_name=x'])
  with pytest.raises(flex_launcher.LauncherError, match='fail_on'):
    flex_launcher.to_overrides(['--job=stats', '--fail_on=ERROR'])


def test_launcher_entry_point_builds_the_job_offline(tmp_path):
  """scripts/flex/main.py, as the Flex launcher runs it, network off."""
  proc = offline.run([
      os.path.join(FLEX, 'main.py'), '--job=validate', '--dataset_name=shop',
      '--dataset_path=gs://dv-data/events/dt=${span}/*.parquet',
      '--span=2024-06-01', '--store_root=gs://dv-b/dv', *LAUNCH_OPTIONS,
      f'--overrides=runner.dry_run=true runner.dry_run_dir={tmp_path}'],
      cwd=tmp_path, tmp_path=tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / 'dv-nightly-20240602' / 'job.json') as f:
    job = json.load(f)
  assert job['name'] == 'dv-nightly-20240602'
  pool, = job['environment']['workerPools']
  assert pool['workerHarnessContainerImage'] == (
      'europe-docker.pkg.dev/dv-proj/dv/bdv:abc123')
  assert pool['machineType'] == 'n2-standard-8'
  assert job['labels']['owner'] == 'ml-data'
  assert job['labels']['dv_span'] == '2024-06-01'


def test_launcher_error_is_one_line(tmp_path):
  proc = subprocess.run([sys.executable, os.path.join(FLEX, 'main.py'),
                         '--job=validate', '--bogus=1'], cwd=tmp_path,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1].startswith(
      'flex_launcher: error: --bogus: not a template parameter')


def test_metadata_parameters_map_to_config_keys():
  special = {'job', 'overrides'}
  assert set(PARAMS) == set(flex_launcher.PARAMETERS) | special
  cfgs = {job: make_cfg(job, ['dataset.name=x', 'dataset.path=x', 'span=1'])
          for job in flex_launcher.JOBS}
  for name, key in flex_launcher.PARAMETERS.items():
    for job in flex_launcher.JOB_ONLY.get(name, flex_launcher.JOBS):
      if key in ('dataset', 'sink'):  # config groups
        assert os.path.isdir(os.path.join(REPO, 'conf', key)), key
      else:
        assert OmegaConf.select(cfgs[job], key, default='MISSING') != (
            'MISSING'), (name, key, job)
    assert key in PARAMS[name]['helpText'] or key in ('dataset', 'sink'), name
  required = {n for n, p in PARAMS.items() if not p.get('isOptional')}
  # dataset_path is optional: a BigQuery source has none.
  assert required == {'job', 'dataset_name', 'store_root'}


def _accepts(name, value):
  return all(re.fullmatch(r, value) for r in PARAMS[name].get('regexes', []))


def test_metadata_regexes_accept_what_the_config_accepts():
  assert {j for j in ('stats', 'validate', 'schema', 'infer_schema')
          if _accepts('job', j)} == set(flex_launcher.JOBS)
  assert all(_accepts('dataset_format', f) for f in sources.FORMATS)
  assert not _accepts('dataset_format', 'xlsx')
  assert all(_accepts('fail_on', s) for s in validation.SEVERITIES)
  assert _accepts('span', '2024-06-01') and _accepts('span', '${dv_date:-1}')
  assert not _accepts('span', '../etc')
  assert _accepts('dataset_path', 'gs://dv-b/events/dt=${span}/*.parquet')
  assert not _accepts('dataset_path', '/local/file.csv')
  assert _accepts('dataset_table', 'my-proj.events.clicks')
  assert not _accepts('dataset_table', 'clicks')
  assert _accepts('dataset_partition_column', 'dt')
  assert _accepts('store_root', 'gs://dv-b')
  assert not _accepts('store_root', 'x')
  for ok in ('0.1', '.5', '1', '1.0'):
    assert _accepts('sample_rate', ok), ok
  for bad in ('0', '0.0', '1.5', '-0.1'):
    assert not _accepts('sample_rate', bad), bad
  assert _accepts('alert_pubsub_topic', 'projects/p/topics/dv-alerts')


@pytest.mark.skipif(shutil.which('gcloud') is None, reason='no gcloud')
def test_gcloud_accepts_the_metadata_file():
  cmd = ['gcloud', 'dataflow', 'flex-template', 'build', 'gs://b/t.json',
         '--image=europe-docker.pkg.dev/p/dv/bdv:1', '--sdk-language=PYTHON',
         f'--metadata-file={os.path.join(FLEX, "metadata.json")}',
         '--print-only']
  if offline.netns_available():
    cmd = ['unshare', '-rn', *cmd]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0 and 'ERROR' not in proc.stderr, proc.stderr
  spec = json.loads(proc.stdout.lstrip('|-\n'))
  assert [p['name'] for p in spec['metadata']['parameters']] == list(PARAMS)
  assert spec['sdkInfo']['language'] == 'PYTHON'


def test_dockerfile_matches_the_pinned_stack():
  with open(os.path.join(FLEX, 'Dockerfile')) as f:
    text = f.read()
  major, minor = sys.version_info[:2]
  assert (f'FROM apache/beam_python{major}.{minor}_sdk:'
          f'{apache_beam.__version__}') in text
  for line in re.findall(r'^COPY (?!--from)(.+?) \S+$', text, re.M):
    for source in line.split():
      assert os.path.exists(os.path.join(REPO, source)), source
  assert 'FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/main.py"' in text
  assert 'COPY scripts/flex/main.py ./main.py' in text
  # Every package setup.py ships is in the image and not docker-ignored.
  with open(os.path.join(REPO, 'setup.py')) as f:
    packages = set(re.findall(r"'(\w+)'", f.read().split('include=', 1)[1]
                              .split(')', 1)[0]))
  with open(os.path.join(FLEX, 'Dockerfile.dockerignore')) as f:
    ignore = f.read()
  for package in packages:
    assert f'COPY {package} ./{package}' in text, package
    assert f'!{package}/' in ignore, package


# ----------------------------------------------------------------------------
# Scheduling examples (scripts/schedule). Airflow and Cloud Scheduler cannot
# run here; their inputs are checked against the template instead.


def test_airflow_dag_parameters_are_template_parameters():
  import ast  # pylint: disable=g-import-not-at-top
  path = os.path.join(REPO, 'scripts', 'schedule', 'airflow_dag.py')
  with open(path) as f:
    tree = ast.parse(f.read())
  params = next(n.value for n in tree.body if isinstance(n, ast.Assign) and
                n.targets[0].id == 'PARAMETERS')
  keys = {k.value for k in params.keys}
  assert keys <= set(PARAMS) and {'job', 'dataset_name', 'dataset_path',
                                   'store_root', 'span'} <= keys
  _, overrides = flex_launcher.to_overrides(
      [f'--{k}=v' for k in keys - {'job', 'span', 'overrides'}] +
      ['--job=validate', '--span={{ ds }}'])
  assert 'span="{{ ds }}"' in overrides


def test_cloud_scheduler_script_posts_a_valid_launch_body(tmp_path):
  """A stand-in gcloud (Cloud Scheduler cannot run here) records the call."""
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  record = tmp_path / 'call.json'
  (bin_dir / 'gcloud').write_text(
      '#!/usr/bin/env python3\n'
      'import json, sys\n'
      'args = sys.argv[1:]\n'
      'if args[:3] == ["scheduler", "jobs", "describe"]: sys.exit(1)\n'
      'body = open(args[args.index("--message-body-from-file") + 1]).read()\n'
      f'json.dump({{"args": args, "body": json.loads(body)}}, '
      f'open({str(record)!r}, "w"))\n')
  os.chmod(bin_dir / 'gcloud', 0o755)
  env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}',
             PROJECT='dv-proj', REGION='europe-west1', BUCKET='dv-b',
             TEMPLATE='gs://dv-b/templates/t.json', IMAGE='eu.gcr.io/p/i:1',
             SCHEDULER_SA='s@dv-proj.iam.gserviceaccount.com',
             ALERT_WEBHOOK_URL='https://hooks.example.com/dv')
  proc = subprocess.run(
      ['bash', os.path.join(REPO, 'scripts', 'schedule', 'cloud_scheduler.sh'),
       'Shop_Events', 'gs://dv-b/events/dt=${span}/*.parquet'],
      env=env, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 0, proc.stderr
  with open(record) as f:
    call = json.load(f)
  args = call['args']
  assert args[:4] == ['scheduler', 'jobs', 'create', 'http']
  assert args[4] == 'dv-validate-shop-events-train'
  assert ('https://dataflow.googleapis.com/v1b3/projects/dv-proj/locations/'
          'europe-west1/flexTemplates:launch') in args
  launch = call['body']['launchParameter']
  assert launch['containerSpecGcsPath'] == 'gs://dv-b/templates/t.json'
  params = launch['parameters']
  assert set(params) - {'sdk_container_image'} <= set(PARAMS)
  assert params['dataset_path'] == 'gs://dv-b/events/dt=${span}/*.parquet'
  assert 'span' not in params  # the template's default: yesterday
  for name, value in params.items():
    if name in PARAMS:
      assert _accepts(name, value), (name, value)
  assert params['sink'] == 'bigquery'
  job, overrides = flex_launcher.to_overrides(
      [f'--{k}={v}' for k, v in params.items()])
  if not os.path.exists(os.path.join(REPO, 'conf', 'sink', 'bigquery.yaml')):
    overrides.remove('sink=bigquery')  # the BigQuery sink lives on its branch
  cfg = make_cfg(job, overrides + ['run_date=2024-06-02'])
  assert cfg.span == '2024-06-01'
  assert cfg.alert.webhook_url == 'https://hooks.example.com/dv'
