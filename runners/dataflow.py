"""Dataflow: pipeline options from ``runner=dataflow``, job names, dry runs.

``pipeline_options`` turns the ``runner`` group (conf/runner/dataflow.yaml)
into Beam's options for the DataflowRunner, after checking every key.

A dry run (``runner.dry_run=true``) lets Beam's DataflowRunner build the job
exactly as for a submission -- pipeline graph, worker environment, the
package built from setup.py, every option -- with ``dry_run=True`` set, which
makes the runner stop before it talks to the Dataflow service. The job
description that the runner would then send (``projects.locations.jobs.create``
body) is completed by Beam's own ``create_job_description``, with the
uploads it would make to ``staging_location`` written into a local folder
instead (``_LocalStagingClient``). Nothing needs credentials or a network.
"""

import dataclasses
import json
import logging
import os
import re
import uuid
from typing import Any, Dict, List, Optional

from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import TestOptions
from omegaconf import DictConfig

from settings import config
from transforms.errors import UserError

_log = logging.getLogger(__name__)

NAME = 'dataflow'
# Beam's own default job names stay within 63 characters, as do label values
# (the job name is repeated in one); the Dataflow API itself allows more.
MAX_JOB_NAME = 63
_JOB_NAME = re.compile(r'^[a-z]([-a-z0-9]*[a-z0-9])?$')
# Beam's PipelineOptionsValidator pattern for project ids.
_PROJECT = re.compile(r'^[a-z][-a-z0-9:.]+[a-z0-9]$')
_REGION = re.compile(r'^[a-z]+-[a-z]+[0-9]+$')
_LABEL_KEY = re.compile(r'^[a-z][a-z0-9_-]{0,62}$')
_LABEL_VALUE = re.compile(r'^[a-z0-9_-]{0,63}$')
JOB_FILE = 'job.json'
OPTIONS_FILE = 'options.json'
STAGING_DIR = 'staging'


def is_dataflow(cfg: DictConfig) -> bool:
  return config.runner_name(cfg) == NAME


def is_dry_run(cfg: DictConfig) -> bool:
  """True for ``runner=dataflow runner.dry_run=true``."""
  return is_dataflow(cfg) and _bool(cfg, 'runner.dry_run')


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
    value = is_dataflow(cfg) and bool(
        config.get(cfg, 'runner.template_location', required=False))
  if not isinstance(value, bool):
    raise UserError(f'runner.finish_in_pipeline={value!r}: expected true, '
                    f'false or null')
  if value and is_dataflow(cfg) and config.get(cfg, 'sink.kind') == 'duckdb':
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


def _slug(text: str) -> str:
  """Lowercase [-a-z0-9] with single dashes, as Dataflow names need."""
  return re.sub(r'-+', '-', re.sub(r'[^a-z0-9]+', '-', str(text).lower())
               ).strip('-')


def job_name(job: str, dataset: str, split: str, span: str,
             suffix: Optional[str] = None) -> str:
  """A valid, unique Dataflow job name: dv-{job}-{dataset}-{split}-{span}-{id}.

  Lowercase letters, digits and dashes, starting with a letter, at most 63
  characters. When too long, the dataset and job parts are shortened first:
  the span and the random suffix are what tell the jobs of a sweep apart.
  """
  suffix = _slug(suffix or uuid.uuid4().hex[:6])
  span_part = _slug(span)[:24].strip('-')
  tail = '-'.join(p for p in (_slug(split)[:12].strip('-'), span_part,
                              suffix) if p)
  room = MAX_JOB_NAME - len(tail) - 1
  head = _slug(f'dv-{job}-{dataset}')[:room].strip('-')
  return f'{head}-{tail}'


def _label_value(text: str) -> str:
  return re.sub(r'[^a-z0-9_-]+', '-', str(text).lower())[:63]


def labels(cfg: DictConfig, job: str, key: Dict[str, str]) -> Dict[str, str]:
  """The job's labels: dv_* labels for the run, then ``runner.labels``."""
  out = {'dv_job': _label_value(job),
         'dv_dataset': _label_value(key['dataset']),
         'dv_split': _label_value(key['split']),
         'dv_span': _label_value(key['span'])}
  extra = config.get(cfg, 'runner.labels', required=False) or {}
  if not isinstance(extra, dict):
    raise UserError('runner.labels: expected a mapping, e.g. '
                    "'{team: ml, cost_center: x123}'")
  for k, v in extra.items():
    k, v = str(k), '' if v is None else str(v)
    if not _LABEL_KEY.match(k):
      raise UserError(f'runner.labels.{k}: label keys are lowercase letters, '
                      f'digits, "_" or "-", starting with a letter, at most '
                      f'63 characters')
    if not _LABEL_VALUE.match(v):
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


def check_worker_paths(cfg: DictConfig) -> None:
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


def pipeline_options(cfg: DictConfig) -> PipelineOptions:
  """Beam options for the DataflowRunner from the ``runner`` group.

  Every key is checked first; a bad one ends the job with one line naming it.
  """
  key = config.run_key(cfg)
  job = str(config.get(cfg, 'job', required=False) or 'job')
  check_worker_paths(cfg)
  project = str(config.get(cfg, 'runner.project'))
  if not _PROJECT.match(project):
    raise UserError(f'runner.project={project!r}: expected a project id '
                    f'(lowercase letters, digits and dashes, e.g. my-proj)')
  region = str(config.get(cfg, 'runner.region'))
  if not _REGION.match(region):
    raise UserError(f'runner.region={region!r}: expected a region such as '
                    f'us-central1 or europe-west1')
  name = config.get(cfg, 'runner.job_name', required=False)
  if name is None:
    name = job_name(job, key['dataset'], key['split'], key['span'])
  name = str(name)
  if not _JOB_NAME.match(name) or len(name) > MAX_JOB_NAME:
    raise UserError(f'runner.job_name={name!r}: use lowercase letters, digits '
                    f'and "-", starting with a letter, at most '
                    f'{MAX_JOB_NAME} characters')
  options: Dict[str, Any] = {
      'runner': 'DataflowRunner',
      'project': project,
      'region': region,
      'job_name': name,
      'temp_location': _gcs_path(cfg, 'runner.temp_location', True),
      'staging_location': _gcs_path(cfg, 'runner.staging_location', False),
      'labels': [f'{k}={v}' for k, v in labels(cfg, job, key).items()],
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


def console_url(project: str, region: str, job_id: str) -> str:
  """The Dataflow monitoring page of a job."""
  return (f'https://console.cloud.google.com/dataflow/jobs/{region}/{job_id}'
          f'?project={project}')


def log_console_link(result, options: PipelineOptions) -> Optional[str]:
  """Logs the console link of the job ``pipeline.run()`` just created.

  ``result``: what ``run()`` returned; only a DataflowRunner result that
  created a job has one (not a dry run, not a template launch, not the
  DirectRunner). Returns the link, or None. (Beam logs it too, but at INFO
  under ``apache_beam``, which the jobs keep at WARNING.)
  """
  if not getattr(result, 'has_job', False):
    return None
  gcp = options.view_as(GoogleCloudOptions)
  url = console_url(gcp.project, gcp.region, result.job_id())
  _log.info('Dataflow job %s (%s) started: %s', result.job_id(),
            gcp.job_name, url)
  return url


# ----------------------------------------------------------------------------
# Dry runs


@dataclasses.dataclass
class DryRunJob:
  """Where a dry run left the job it built."""
  job_name: str
  dir: str
  job_file: str
  options_file: str
  staged: List[str]
  packages: List[str]
  notes: List[str]


def dry_run_dir(cfg: DictConfig) -> str:
  """``runner.dry_run_dir``: the local folder dry runs write their job to."""
  root = str(config.get(cfg, 'runner.dry_run_dir'))
  if '://' in root:
    raise UserError(f'runner.dry_run_dir={root!r}: expected a local folder')
  return os.path.abspath(root)


def _local_client_class():
  """Beam's Dataflow client with uploads redirected to a local folder.

  Imported lazily: the Dataflow client library is needed only for Dataflow.
  """
  from apache_beam.runners.dataflow.internal import apiclient  # pylint: disable=g-import-not-at-top

  class _LocalStagingClient(apiclient.DataflowApplicationClient):
    """Stages into ``mirror/{bucket}/{object}`` instead of Cloud Storage.

    Everything else -- which files are staged under which names, the worker
    pool, the package list, the pipeline options the workers get -- is
    Beam's own code path for a submission.
    """

    def __init__(self, options, root_staging_location, mirror):
      offline = PipelineOptions.from_dictionary({
          k: v for k, v in options.get_all_options(
              retain_unknown_options=True).items() if v is not None})
      offline.view_as(GoogleCloudOptions).no_auth = True
      offline.view_as(GoogleCloudOptions).enable_artifact_caching = False
      super().__init__(offline, root_staging_location)
      self._mirror = mirror
      self.staged: List[str] = []

    def stage_file(self, gcs_or_local_path, file_name, stream,
                   mime_type='application/octet-stream', total_size=None):
      where = gcs_or_local_path.split('://', 1)[-1].strip('/')
      folder = os.path.join(self._mirror, where)
      os.makedirs(folder, exist_ok=True)
      path = os.path.join(folder, file_name)
      with open(path, 'wb') as f:
        f.write(stream.read())
      self.staged.append(f'{gcs_or_local_path.rstrip("/")}/{file_name}')

  return _LocalStagingClient


def write_dry_run(result, out_dir: str, notes: List[str]) -> DryRunJob:
  """Completes and writes the job a dry-run DataflowRunner built.

  ``result`` is what ``pipeline.run()`` returned with ``dry_run=True``: it
  carries Beam's ``apiclient.Job`` (options and pipeline proto). Writes
  ``job.json`` (the body a submission sends to ``projects.locations.jobs``),
  ``options.json`` and, under ``staging/``, every file the submission would
  upload (the package built from setup.py, the pipeline proto).
  """
  job = result.job
  # The submitted job would not carry the dry-run flag.
  job.options.view_as(TestOptions).dry_run = False
  mirror = os.path.join(out_dir, STAGING_DIR)
  client = _local_client_class()(job.options, job.root_staging_location,
                                 mirror)
  client.create_job_description(job)
  os.makedirs(out_dir, exist_ok=True)
  job_file = os.path.join(out_dir, JOB_FILE)
  with open(job_file, 'w') as f:
    f.write(json.dumps(json.loads(job.json()), indent=2, sort_keys=True))
  options_file = os.path.join(out_dir, OPTIONS_FILE)
  with open(options_file, 'w') as f:
    json.dump(job.options.get_all_options(drop_default=True), f, indent=2,
              sort_keys=True, default=str)
  packages = [p.name for pool in job.proto.environment.workerPools
              for p in pool.packages]
  return DryRunJob(
      job_name=job.proto.name, dir=out_dir, job_file=job_file,
      options_file=options_file, staged=list(client.staged),
      packages=packages, notes=list(notes))


def dry_run_summary(job: str, dry: DryRunJob) -> str:
  """What a dry run prints: that nothing ran, and where the job is."""
  lines = [
      f'{job}: DRY RUN: the Dataflow job was built but not submitted; '
      f'nothing was read, computed or written (no store, no sink).',
      f'  job name:   {dry.job_name}',
      f'  job file:   {dry.job_file}',
      f'  options:    {dry.options_file}',
      f'  would stage ({os.path.join(dry.dir, STAGING_DIR)} holds copies):',
  ]
  lines += [f'    {path}' for path in dry.staged]
  lines += [f'  note: {note}' for note in dry.notes]
  return '\n'.join(lines)

