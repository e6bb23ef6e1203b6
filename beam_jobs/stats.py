"""The stats job: one pass over a span, statistics stored and queryable.

  python -m beam_jobs.stats dataset.name=mydata dataset.path=/data/x.parquet \
      split=train span=2024-06-01

Reads the span, computes TFDV statistics for it and each configured slice,
stores them in the artifact store, and writes a ``runs`` row and one
``feature_stats`` row per feature and slice to the warehouse.
"""

import sys

import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from beam_jobs import summary
from transforms import config
from transforms import span_stats
from transforms import statistics
from transforms.warehouse import DuckDBWarehouse

JOB = 'stats'


def run(cfg: DictConfig) -> int:
  """Runs the job; returns the exit code. Raises UserError on bad input."""
  warehouse = DuckDBWarehouse(config.sink_path(cfg))
  privacy = config.privacy_spec(cfg)
  span = span_stats.compute(cfg)
  try:
    run_row = span.run_row(cfg, JOB)
    warehouse.write_run(run_row, {
        'feature_stats': statistics.feature_rows(span.stats, privacy)})
    span_stats.commit(span, run_row)
  except BaseException:
    span_stats.discard(span)
    raise
  print(summary.stats_summary(span, warehouse.path))
  return _cli.EXIT_OK


@hydra.main(config_path='pkg://conf', config_name='stats', version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  main()  # pylint: disable=no-value-for-parameter
  sys.exit(_cli.final_code())
