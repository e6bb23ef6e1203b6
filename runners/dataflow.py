"""Dataflow: job names and labels, the console link, dry runs.

settings/runner.py turns the ``runner`` group (conf/runner/dataflow.yaml)
into Beam's options for the DataflowRunner, with the names and patterns
below, after checking every key.

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
from typing import List, Optional

from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import TestOptions

_log = logging.getLogger(__name__)

NAME = 'dataflow'
# Beam's own default job names stay within 63 characters, as do label values
# (the job name is repeated in one); the Dataflow API itself allows more.
MAX_JOB_NAME = 63
JOB_NAME = re.compile(r'^[a-z]([-a-z0-9]*[a-z0-9])?$')
# Beam's PipelineOptionsValidator pattern for project ids.
PROJECT = re.compile(r'^[a-z][-a-z0-9:.]+[a-z0-9]$')
REGION = re.compile(r'^[a-z]+-[a-z]+[0-9]+$')
LABEL_KEY = re.compile(r'^[a-z][a-z0-9_-]{0,62}$')
LABEL_VALUE = re.compile(r'^[a-z0-9_-]{0,63}$')
JOB_FILE = 'job.json'
OPTIONS_FILE = 'options.json'
STAGING_DIR = 'staging'


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


def label_value(text: str) -> str:
  return re.sub(r'[^a-z0-9_-]+', '-', str(text).lower())[:63]


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

