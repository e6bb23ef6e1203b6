"""The Beam pipeline options of a run, from the ``runner`` config group.

One place picks the runner (direct, dataflow, flink); each runner's module
turns its own keys into options.
"""

from apache_beam.options.pipeline_options import PipelineOptions
from omegaconf import DictConfig

from settings import config
from runners import dataflow
from runners import flink
from transforms.errors import UserError


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
