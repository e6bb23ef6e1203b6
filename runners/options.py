"""The runner of a job, from the ``runner`` config group.

One place picks the runner (direct, dataflow, flink); each runner's module
turns its own keys into options. ``RunnerSpec`` is what a job keeps of them.
"""

import dataclasses
from typing import Optional

from apache_beam.options.pipeline_options import PipelineOptions
from omegaconf import DictConfig

from settings import config
from runners import dataflow
from runners import flink
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
  """Beam options from ``runner.options``; never from sys.argv."""
  if config.runner_name(cfg) == 'dataflow':
    return dataflow.pipeline_options(cfg)
  if config.runner_name(cfg) == 'flink':
    return flink.pipeline_options(cfg)
  options = config.get(cfg, 'runner.options', required=False) or {}
  if not isinstance(options, dict):
    raise UserError('runner.options: expected a mapping of Beam options')
  options = {k: v for k, v in options.items() if v is not None}
  return PipelineOptions(flags=[], **options)
