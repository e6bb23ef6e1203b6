"""Flex Template entry point: ``--name=value`` flags in, a job's Hydra run out.

Dataflow's Flex Template launcher starts the template's Python file with the
template parameters (scripts/flex/metadata.json) and its own pipeline
options, all as ``--name=value`` flags:

  --job=validate --dataset_name=shop --dataset_path=gs://b/dt=${span}/*.csv
  --runner=DataflowRunner --project=p --region=europe-west1 --job_name=...
  --temp_location=gs://... --staging_location=gs://...
  --template_location=gs://.../template_launches/.../job_object
  --sdk_container_image=europe-docker.pkg.dev/p/dv/beam-data-validation:1

Hydra takes only ``key=value`` overrides and rejects such flags, so each flag
becomes one override (``PARAMETERS`` and ``RUNNER_OPTIONS`` below); the job
then runs exactly as ``python -m beam_jobs.<job> runner=dataflow <overrides>``
would. ``--overrides`` passes any other Hydra overrides, space-separated.

  python -m beam_jobs.flex_launcher --job=validate --print_overrides ...
prints the overrides instead of running the job.
"""

import importlib
import json
import re
import shlex
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from apache_beam.options.pipeline_options import PipelineOptions

JOBS = ('stats', 'validate')
# Template parameter -> config key (a Hydra override key; 'sink' and
# 'dataset' pick a config group). Kept in step with metadata.json by
# tests/test_flex.py.
PARAMETERS: Dict[str, str] = {
    'dataset': 'dataset',
    'dataset_name': 'dataset.name',
    'dataset_path': 'dataset.path',
    'dataset_format': 'dataset.format',
    'dataset_table': 'dataset.table',
    'dataset_partition_column': 'dataset.partition_column',
    'split': 'split',
    'span': 'span',
    'run_date': 'run_date',
    'store_root': 'store.root',
    'sink': 'sink',
    'schema_version': 'schema.version',
    'fail_on': 'fail_on',
    'sample_rate': 'stats.sample_rate',
    'alert_webhook_url': 'alert.webhook_url',
    'alert_pubsub_topic': 'alert.pubsub_topic',
}
# Parameters only some jobs have.
JOB_ONLY = {'schema_version': ('validate',), 'fail_on': ('validate',),
            'alert_webhook_url': ('validate',),
            'alert_pubsub_topic': ('validate',)}
# A scheduled run without a span validates the day before the run date.
DEFAULT_SPAN = '${dv_date:-1}'
# Pipeline options the Flex launcher or the caller passes -> runner.* keys.
RUNNER_OPTIONS: Dict[str, str] = {
    'project': 'project',
    'region': 'region',
    'job_name': 'job_name',
    'temp_location': 'temp_location',
    'staging_location': 'staging_location',
    'template_location': 'template_location',
    'sdk_container_image': 'sdk_container_image',
    'service_account_email': 'service_account_email',
    'machine_type': 'machine_type',
    'worker_machine_type': 'machine_type',
    'num_workers': 'num_workers',
    'max_num_workers': 'max_num_workers',
    'disk_size_gb': 'disk_size_gb',
    'network': 'network',
    'subnetwork': 'subnetwork',
    'use_public_ips': 'use_public_ips',
    'labels': 'labels',
}
# Always DataflowRunner here; runner=dataflow says so.
_IGNORED = ('runner',)
_SAFE = re.compile(r'^[A-Za-z0-9_./:@*+%-]*$')


class LauncherError(ValueError):
  """A flag the launcher cannot map; the message names it."""


def _value(text: str) -> str:
  """A Hydra override value: as is when plain, else a quoted string.

  Quoted strings keep ``${...}`` interpolations working.
  """
  if text and _SAFE.match(text):
    return text
  return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'


def _labels(text: str) -> str:
  """Labels as Dataflow passes them (JSON object or k=v,k=v) -> a Hydra dict."""
  try:
    value = json.loads(text)
  except ValueError:
    value = dict(p.split('=', 1) for p in text.split(',') if '=' in p)
  if not isinstance(value, dict):
    raise LauncherError(f'--labels={text!r}: expected key=value pairs')
  return '{' + ', '.join(f'{_value(str(k))}: {_value(str(v))}'
                         for k, v in sorted(value.items())) + '}'


def _beam_option(name: str) -> bool:
  """True if ``name`` is one of Beam's pipeline options."""
  probe = PipelineOptions(flags=[f'--{name}=x'])
  return name in probe.get_all_options()


def parse(argv: Sequence[str]) -> Tuple[Dict[str, str], List[str]]:
  """``--name=value`` flags -> ({name: value}, [free overrides])."""
  flags: Dict[str, str] = {}
  extra: List[str] = []
  args = list(argv)
  while args:
    arg = args.pop(0)
    if not arg.startswith('--'):
      raise LauncherError(f'{arg!r}: expected --name=value')
    name, eq, value = arg[2:].partition('=')
    if not eq:  # --name value, or a bare switch
      value = args.pop(0) if args and not args[0].startswith('--') else 'true'
    if name == 'overrides':
      extra += shlex.split(value)
    else:
      flags[name] = value
  return flags, extra


def to_overrides(argv: Sequence[str]) -> Tuple[str, List[str]]:
  """The job to run and its Hydra overrides, from the launcher's flags."""
  flags, extra = parse(argv)
  flags.pop('print_overrides', None)
  job = flags.pop('job', None)
  if job not in JOBS:
    raise LauncherError(f'--job={job!r}: expected one of {", ".join(JOBS)}')
  overrides = ['runner=dataflow']
  beam_options: Dict[str, str] = {}
  for name, value in flags.items():
    if name in PARAMETERS:
      if job not in JOB_ONLY.get(name, JOBS):
        raise LauncherError(f'--{name}: the {job} job has no such parameter')
      overrides.append(f'{PARAMETERS[name]}={_value(value)}')
    elif name in RUNNER_OPTIONS:
      value = _labels(value) if name == 'labels' else _value(value)
      overrides.append(f'runner.{RUNNER_OPTIONS[name]}={value}')
    elif name in _IGNORED:
      continue
    elif _beam_option(name):
      beam_options[name] = value
    else:
      raise LauncherError(f'--{name}: not a template parameter '
                          f'({", ".join(sorted(PARAMETERS))}) nor a pipeline '
                          f'option')
  if 'span' not in flags:
    overrides.append(f'span={DEFAULT_SPAN}')
  if beam_options:
    overrides.append('runner.options={' + ', '.join(
        f'{k}: {_value(v)}' for k, v in sorted(beam_options.items())) + '}')
  return job, overrides + extra


def main(argv: Optional[Sequence[str]] = None) -> None:
  argv = list(sys.argv[1:] if argv is None else argv)
  try:
    job, overrides = to_overrides(argv)
  except LauncherError as e:
    print(f'flex_launcher: error: {e}', file=sys.stderr)
    sys.exit(1)
  if any(a.startswith('--print_overrides') for a in argv):
    print(shlex.join([f'beam_jobs.{job}', *overrides]))
    return
  module = importlib.import_module(f'beam_jobs.{job}')
  from beam_jobs import _cli  # pylint: disable=g-import-not-at-top
  # The job's own Hydra entry point, as if started from the command line.
  sys.argv = [module.__file__, *overrides]
  _cli.entry(module.main, job)


if __name__ == '__main__':
  main()
