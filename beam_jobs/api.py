"""Run a job from Python (a notebook, an Airflow PythonOperator): no command
line, a result object back.

  from beam_jobs import api
  result = api.validate(api.ValidateConfig(dataset='nlsy_wages', span='1987'))
  result.exit_code   # 0 ok, 3 blocking anomalies, 1 failed (as the CLI)
  result.anomalies   # the run's anomaly rows (dicts, the warehouse columns)

The config is composed exactly as ``python -m beam_jobs.<job>`` composes it
(conf/ and its typed schema), so a wrong key or type is refused the same way;
``overrides`` takes any other ``key=value``. Errors that end a CLI run with
one line (exit code 1) come back as ``exit_code=1`` and ``error``.
"""

import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from beam_jobs import _cli
from settings import config
from transforms.errors import UserError
from transforms.io import sinks

_CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'conf')


@dataclasses.dataclass(frozen=True)
class JobConfig:
  """What every job needs: the dataset, split and span, and other keys.

  ``dataset`` is a config in conf/dataset (``nlsy_wages``) or, with
  ``path``, the name of your dataset (``dataset.name``).
  """
  dataset: str
  span: Optional[str] = None
  split: str = 'train'
  path: Optional[str] = None
  # any other key, as on the command line: ('drift.numeric_threshold=0.2',)
  overrides: Sequence[str] = ()

  def to_overrides(self) -> List[str]:
    named = os.path.exists(os.path.join(_CONF, 'dataset',
                                        f'{self.dataset}.yaml'))
    out = ([f'dataset={self.dataset}'] if named and self.path is None
           else [f'dataset.name={self.dataset}'])
    if self.path is not None:
      out.append(f'dataset.path={self.path}')
    out.append(f'split={self.split}')
    if self.span is not None:
      out.append(f'span={self.span}')
    return out + list(self.overrides)


@dataclasses.dataclass(frozen=True)
class StatsConfig(JobConfig):
  """``beam_jobs.stats``: statistics of one span."""


@dataclasses.dataclass(frozen=True)
class InferSchemaConfig(JobConfig):
  """``beam_jobs.infer_schema``: a schema version from stored statistics."""


@dataclasses.dataclass(frozen=True)
class ValidateConfig(JobConfig):
  """``beam_jobs.validate``: statistics, then schema, drift and skew checks."""


@dataclasses.dataclass(frozen=True)
class RunResult:
  """What a run ended with."""
  job: str
  exit_code: int
  # the one-line error of a failed run (exit_code 1), else None
  error: Optional[str] = None
  # the span's row of the runs table, when the run wrote one
  run: Optional[Dict[str, object]] = None
  # the span's anomaly rows as written to the warehouse (validate)
  anomalies: List[Dict[str, object]] = dataclasses.field(default_factory=list)

  @property
  def ok(self) -> bool:
    return self.exit_code == _cli.EXIT_OK

  @property
  def blocking(self) -> bool:
    return self.exit_code == _cli.EXIT_BLOCKING


def compose_config(job: str, overrides: Sequence[str]) -> DictConfig:
  """The job's config as the command line composes it; UserError (one line
  naming the key) when it does not compose."""
  try:
    with initialize_config_module(config_module='conf', version_base='1.3'):
      # Hive-style paths (dt=...) as on the command line: quoted for Hydra.
      return compose(config_name=job, overrides=_cli.quote_values_with_equals(
          list(overrides)))
  except (HydraException, OmegaConfBaseException) as e:
    raise UserError(_cli.composition_error(e)) from e


def run_job(job: str, run: Callable[[DictConfig], int],
            spec: JobConfig) -> RunResult:
  """Composes ``spec`` for ``job``, runs it and reads back what it wrote."""
  try:
    cfg = compose_config(job, spec.to_overrides())
    code = run(cfg)
  except UserError as e:
    return RunResult(job, _cli.EXIT_FAILED, error=str(e))
  return RunResult(job, code, run=_run_row(cfg, job),
                   anomalies=_rows(cfg, 'anomalies'))


def _rows(cfg: DictConfig, table: str) -> List[Dict[str, object]]:
  if config.get(cfg, 'span', required=False) is None:
    return []
  key = config.run_key(cfg)
  try:
    rows = sinks.open_sink(config.sink_spec(cfg)).read_rows(
        table, key['dataset'], key['split'])
  except UserError:
    return []
  return [r for r in rows if str(r.get('span')) == key['span']]


def _run_row(cfg: DictConfig, job: str) -> Optional[Dict[str, object]]:
  runs = [r for r in _rows(cfg, 'runs') if r.get('job') == job]
  return runs[-1] if runs else None


def stats(spec: StatsConfig) -> RunResult:
  from beam_jobs import stats as job  # pylint: disable=g-import-not-at-top
  return run_job(job.JOB, job.run, spec)


def infer_schema(spec: InferSchemaConfig) -> RunResult:
  from beam_jobs import infer_schema as job  # pylint: disable=g-import-not-at-top
  return run_job(job.JOB, job.run, spec)


def validate(spec: ValidateConfig) -> RunResult:
  from beam_jobs import validate as job  # pylint: disable=g-import-not-at-top
  return run_job(job.JOB, job.run, spec)
