"""The stats job: one pass over a span, statistics stored and queryable.

  python -m beam_jobs.stats dataset.name=mydata dataset.path=/data/x.parquet \
      split=train span=2024-06-01

Reads the span, computes TFDV statistics for it and each configured slice,
stores them in the artifact store, and writes a ``runs`` row and one
``feature_stats`` row per feature and slice to the warehouse.
"""


import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from beam_jobs import summary
from runners import dataflow
from runners import in_pipeline
from settings import job as job_settings
from transforms.io import sinks
from transforms import span_stats
from transforms import statistics

JOB = 'stats'


def run(cfg: DictConfig) -> int:
  """Runs the job; returns the exit code. Raises UserError on bad input."""
  settings = job_settings.parse(cfg, JOB)  # bad config fails before any work
  runner = settings.runner
  if runner.dry_run:  # builds the Dataflow job; opens no sink
    print(dataflow.dry_run_summary(JOB, span_stats.dry_run(
        settings.stats_pass, runner.options, runner.dry_run_dir)))
    return _cli.EXIT_OK
  warehouse = sinks.open_sink(settings.sink)
  if runner.finish_in_pipeline:
    return in_pipeline.launch(settings, 'beam_jobs.stats')
  return finish(settings, span_stats.compute(settings.stats_pass,
                                             runner.options), warehouse)


def finish_on_worker(settings: job_settings.JobSettings,
                     span: span_stats.SpanStatistics) -> int:
  """``finish`` as the last step of the pipeline (runner.finish_in_pipeline)."""
  return finish(settings, span, sinks.open_sink(settings.sink))


def finish(settings: job_settings.JobSettings,
           span: span_stats.SpanStatistics, warehouse) -> int:
  """Writes the span's rows and commits its artifacts; returns the exit code."""
  try:
    run_row = span.run_row(JOB, settings.runner.name, settings.config)
    # Features that carry PII are written only as hashes (span.privacy).
    warehouse.write_run(run_row, {
        'feature_stats': statistics.feature_rows(span.stats, span.privacy)})
    span_stats.commit(span, run_row)
  except BaseException:
    span_stats.discard(span)
    raise
  print(summary.stats_summary(span, warehouse.describe()))
  return _cli.EXIT_OK


@hydra.main(config_path='pkg://conf', config_name='stats', version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)
