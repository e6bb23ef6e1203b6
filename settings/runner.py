"""The ``runner`` group: which runner, its Beam options, every key checked.

settings/job.py builds a job's ``RunnerSpec`` with these: the
``PipelineOptions`` for the DirectRunner (``runner.options``), Dataflow
(conf/runner/dataflow.yaml; job names and dry runs are runners/dataflow.py's)
or Flink (conf/runner/flink.yaml; the job server and worker pool are
runners/flink.py's), whether it is a Dataflow dry run and whether the job
finishes in its pipeline.
"""

import dataclasses
import os
import re
from typing import Any, Dict, Optional

from apache_beam.options.pipeline_options import PipelineOptions
from omegaconf import DictConfig

from runners import dataflow
from runners import flink
from settings import config
from transforms.errors import UserError


@dataclasses.dataclass(frozen=True)
class RunnerSpec:
  """The ``runner`` group, checked: how a job runs its pipeline."""
  name: str                                   # direct, dataflow, flink
  # Beam's options; None for the jobs that build no pipeline.
  options: Optional[PipelineOptions] = None
  # runner.dry_run=true: the folder the Dataflow job is written to instead
  # of running (runner.dry_run_dir), else None.
  dry_run_dir: Optional[str] = None
  # The job's checks and writes run as the pipeline's last step
  # (runners/in_pipeline.py).
  finish_in_pipeline: bool = False

  @property
  def dry_run(self) -> bool:
    return self.dry_run_dir is not None


def pipeline_options(cfg: DictConfig) -> PipelineOptions:
  """Beam options for the configured runner; never from sys.argv."""
  if config.runner_name(cfg) == dataflow.NAME:
    return _dataflow_options(cfg)
  if config.runner_name(cfg) == flink.NAME:
    return _flink_options(cfg)
  options = config.get(cfg, 'runner.options', required=False) or {}
  if not isinstance(options, dict):
    raise UserError('runner.options: expected a mapping of Beam options')
  options = {k: v for k, v in options.items() if v is not None}
  return PipelineOptions(flags=[], **options)


def _is_dataflow(cfg: DictConfig) -> bool:
  return config.runner_name(cfg) == dataflow.NAME


def is_dry_run(cfg: DictConfig) -> bool:
  """True for ``runner=dataflow runner.dry_run=true``."""
  return _is_dataflow(cfg) and _bool(cfg, 'runner.dry_run')


def no_dry_run(cfg: DictConfig, job: str) -> None:
  """Jobs without a Dataflow dry run refuse one instead of running for real.

  Only ``stats`` and ``validate`` build their pipeline in a dry run; the
  other jobs would read the store or the input and write results.
  """
  if is_dry_run(cfg):
    raise UserError(f'runner.dry_run=true: the {job} job has no Dataflow dry '
                    f'run (only stats and validate do); drop the option')


def finishes_in_pipeline(cfg: DictConfig) -> bool:
  """Whether the job's checks and writes run as the pipeline's last step.

  Needed when the process that builds the job does not see it run: a Flex
  Template launch (``runner.template_location`` set) builds the job and
  exits; Dataflow runs it afterwards.
  """
  value = config.get(cfg, 'runner.finish_in_pipeline', required=False)
  if value is None:
    value = _is_dataflow(cfg) and bool(
        config.get(cfg, 'runner.template_location', required=False))
  if not isinstance(value, bool):
    raise UserError(f'runner.finish_in_pipeline={value!r}: expected true, '
                    f'false or null')
  if value and _is_dataflow(cfg) and config.get(cfg, 'sink.kind') == 'duckdb':
    raise UserError('sink.kind=duckdb: when the job finishes in the pipeline '
                    '(a Flex Template launch), results are written on a '
                    'Dataflow worker, whose local files are lost: use '
                    'sink=bigquery')
  return value


def _bool(cfg: DictConfig, key: str) -> bool:
  value = config.get(cfg, key, required=False)
  if value is None:
    return False
  if not isinstance(value, bool):
    raise UserError(f'{key}={value!r}: expected true or false')
  return value


def dry_run_dir(cfg: DictConfig) -> str:
  """``runner.dry_run_dir``: the local folder dry runs write their job to."""
  root = str(config.get(cfg, 'runner.dry_run_dir'))
  if '://' in root:
    raise UserError(f'runner.dry_run_dir={root!r}: expected a local folder')
  return os.path.abspath(root)


def _labels(cfg: DictConfig, job: str, key: Dict[str, str]
            ) -> Dict[str, str]:
  """The job's labels: dv_* labels for the run, then ``runner.labels``."""
  out = {'dv_job': dataflow.label_value(job),
         'dv_dataset': dataflow.label_value(key['dataset']),
         'dv_split': dataflow.label_value(key['split']),
         'dv_span': dataflow.label_value(key['span'])}
  extra = config.get(cfg, 'runner.labels', required=False) or {}
  if not isinstance(extra, dict):
    raise UserError('runner.labels: expected a mapping, e.g. '
                    "'{team: ml, cost_center: x123}'")
  for k, v in extra.items():
    k, v = str(k), '' if v is None else str(v)
    if not dataflow.LABEL_KEY.match(k):
      raise UserError(f'runner.labels.{k}: label keys are lowercase letters, '
                      f'digits, "_" or "-", starting with a letter, at most '
                      f'63 characters')
    if not dataflow.LABEL_VALUE.match(v):
      raise UserError(f'runner.labels.{k}={v!r}: label values are lowercase '
                      f'letters, digits, "_" or "-", at most 63 characters')
    out[k] = v
  return out


def _gcs_path(cfg: DictConfig, key: str, required: bool) -> Optional[str]:
  value = config.get(cfg, key, required=required)
  if value is None:
    return None
  value = str(value)
  if not re.match(r'^gs://[a-z0-9][-_.a-z0-9]*[a-z0-9](/.*)?$', value):
    raise UserError(f'{key}={value!r}: expected a Cloud Storage path '
                    f'gs://bucket/prefix')
  return value.rstrip('/')


def _check_worker_paths(cfg: DictConfig) -> None:
  """Dataflow workers read the input and write the store: no local paths."""
  keys = ['store.root']
  if config.get(cfg, 'dataset.format', required=False) != 'bigquery':
    keys.insert(0, 'dataset.path')  # a BigQuery source has no path
  for key in keys:
    value = str(config.get(cfg, key))
    if '://' not in value:
      raise UserError(
          f'{key}={value!r} is a local path, which Dataflow workers cannot '
          f'reach: use gs://bucket/... (runner=dataflow)')


def _dataflow_options(cfg: DictConfig) -> PipelineOptions:
  """Beam options for the DataflowRunner from the ``runner`` group.

  Every key is checked first; a bad one ends the job with one line naming it.
  """
  key = config.run_key(cfg)
  job = str(config.get(cfg, 'job', required=False) or 'job')
  _check_worker_paths(cfg)
  project = str(config.get(cfg, 'runner.project'))
  if not dataflow.PROJECT.match(project):
    raise UserError(f'runner.project={project!r}: expected a project id '
                    f'(lowercase letters, digits and dashes, e.g. my-proj)')
  region = str(config.get(cfg, 'runner.region'))
  if not dataflow.REGION.match(region):
    raise UserError(f'runner.region={region!r}: expected a region such as '
                    f'us-central1 or europe-west1')
  name = config.get(cfg, 'runner.job_name', required=False)
  if name is None:
    name = dataflow.job_name(job, key['dataset'], key['split'], key['span'])
  name = str(name)
  if not dataflow.JOB_NAME.match(name) or len(name) > dataflow.MAX_JOB_NAME:
    raise UserError(f'runner.job_name={name!r}: use lowercase letters, digits '
                    f'and "-", starting with a letter, at most '
                    f'{dataflow.MAX_JOB_NAME} characters')
  options: Dict[str, Any] = {
      'runner': 'DataflowRunner',
      'project': project,
      'region': region,
      'job_name': name,
      'temp_location': _gcs_path(cfg, 'runner.temp_location', True),
      'staging_location': _gcs_path(cfg, 'runner.staging_location', False),
      'labels': [f'{k}={v}' for k, v in _labels(cfg, job, key).items()],
      'service_account_email': config.get(
          cfg, 'runner.service_account_email', required=False),
      'machine_type': config.get(cfg, 'runner.machine_type', required=False),
      'network': config.get(cfg, 'runner.network', required=False),
      'subnetwork': config.get(cfg, 'runner.subnetwork', required=False),
      'template_location': config.get(cfg, 'runner.template_location',
                                      required=False),
      # Workers import the package; nothing from __main__ is needed there.
      'save_main_session': False,
  }
  for int_key in ('num_workers', 'max_num_workers', 'disk_size_gb'):
    value = config.get(cfg, f'runner.{int_key}', required=False)
    if value is not None and (isinstance(value, bool) or
                              not isinstance(value, int) or value < 1):
      raise UserError(f'runner.{int_key}={value!r}: expected a whole number '
                      f'>= 1 or null')
    options[int_key] = value
  public_ips = config.get(cfg, 'runner.use_public_ips', required=False)
  if public_ips is not None and not isinstance(public_ips, bool):
    raise UserError(f'runner.use_public_ips={public_ips!r}: expected true, '
                    f'false or null')
  options['use_public_ips'] = public_ips

  image = config.get(cfg, 'runner.sdk_container_image', required=False)
  if image:
    # The image has the package and the pinned stack installed already.
    options['sdk_container_image'] = str(image)
    options['sdk_location'] = 'container'
  else:
    setup_file = str(config.get(cfg, 'runner.setup_file'))
    if not os.path.isfile(setup_file):
      raise UserError(f'runner.setup_file={setup_file!r}: no such file (the '
                      f'package workers install; or set '
                      f'runner.sdk_container_image)')
    options['setup_file'] = os.path.abspath(setup_file)

  extra = config.get(cfg, 'runner.options', required=False) or {}
  if not isinstance(extra, dict):
    raise UserError('runner.options: expected a mapping of Beam options')
  clash = sorted(set(extra) & set(options))
  if clash:
    raise UserError(f'runner.options.{clash[0]}: set it as runner.{clash[0]} '
                    f'instead')
  options.update(extra)
  if is_dry_run(cfg):
    if options.get('template_location'):
      raise UserError('runner.dry_run and runner.template_location: choose '
                      'one (a dry run writes the job to runner.dry_run_dir)')
    # Beam's DataflowRunner builds the job and stops before submitting it.
    options['dry_run'] = True
  return PipelineOptions(
      flags=[], **{k: v for k, v in options.items() if v is not None})


def _flink_options(cfg: DictConfig) -> PipelineOptions:
  """Beam's FlinkRunner options from the ``runner`` group, every key checked."""
  master = str(config.get(cfg, 'runner.flink_master')).strip()
  if master not in (flink.LOCAL, '[auto]') and not flink.HOST_PORT.match(
      master):
    raise UserError(f'runner.flink_master={master!r}: expected [local] (an '
                    f'embedded Flink) or host:port of a Flink cluster\'s REST '
                    f'endpoint, e.g. flink-jm:8081')
  parallelism = _positive(cfg, 'runner.parallelism')
  jar = config.get(cfg, 'runner.job_server_jar', required=False)
  jar = os.path.abspath(os.path.expanduser(str(jar))) if jar else None
  if jar is not None and not os.path.isfile(jar):
    raise UserError(f'runner.job_server_jar={jar!r}: no such file (null: '
                    f'the one {flink.FETCH} builds)')
  workers = str(config.get(cfg, 'runner.sdk_workers'))
  if workers not in flink.SDK_WORKERS:
    raise UserError(f'runner.sdk_workers={workers!r}: expected one of '
                    f'{", ".join(flink.SDK_WORKERS)}')
  pool = config.get(cfg, 'runner.worker_pool', required=False)
  if workers == 'external':
    if not pool or not flink.HOST_PORT.match(str(pool)) or '://' in str(pool):
      raise UserError(f'runner.worker_pool={pool!r}: runner.sdk_workers='
                      f'external needs the host:port of a running worker pool')
  elif pool is not None:
    raise UserError(f'runner.worker_pool={pool!r}: only used with '
                    f'runner.sdk_workers=external (now {workers})')
  per_tm = config.get(cfg, 'runner.sdk_worker_parallelism', required=False)
  per_tm = parallelism if per_tm is None else _positive(
      cfg, 'runner.sdk_worker_parallelism')
  reason = flink.missing(jar)
  if reason:
    raise UserError(f'runner=flink: {reason}')
  options = {
      'runner': f'{flink.__name__}.FlinkRunner',
      'flink_master': master,
      'flink_version': flink.FLINK_VERSION,
      'parallelism': parallelism,
      'flink_job_server_jar': jar or flink.default_jar(),
      'environment_type': {'pool': 'EXTERNAL', 'loopback': 'LOOPBACK',
                           'external': 'EXTERNAL'}[workers],
      'environment_config': {'pool': flink.OWN_POOL, 'loopback': None,
                             'external': pool}[workers],
      'sdk_worker_parallelism': per_tm,
      # Keep idle SDK workers for the job's next stage: Flink runs a batch
      # job's stages one after another, and a new worker process needs
      # seconds to import TFDV.
      'environment_cache_millis': flink.ENVIRONMENT_CACHE_MS,
  }
  job_name = config.get(cfg, 'runner.job_name', required=False)
  if job_name:
    options['job_name'] = str(job_name)
  extra = config.get(cfg, 'runner.options', required=False) or {}
  if not isinstance(extra, dict):
    raise UserError('runner.options: expected a mapping of Beam options, e.g. '
                    '\'{max_parallelism: 8}\'')
  options.update(extra)
  options = {k: v for k, v in options.items() if v is not None}
  return PipelineOptions(flags=[], **options)


def _positive(cfg: DictConfig, key: str) -> int:
  value = config.get(cfg, key)
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise UserError(f'{key}={value!r}: expected a whole number >= 1')
  return value
