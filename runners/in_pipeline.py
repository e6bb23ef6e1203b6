"""Finishing a run inside its own pipeline, for launches that do not wait.

A Flex Template launch builds the Dataflow job and exits; Dataflow runs the
job afterwards (Flex Templates do not allow waiting for it). Nothing after
``pipeline.run()`` in the launching process would ever see the statistics.
With ``runner.finish_in_pipeline`` (on by itself when the Flex launcher sets
``runner.template_location``) the statistics pass ends with one more step,
``FinishRun``: it runs once, on a worker, after the statistics and dead
letters are written, and does what the launching process does otherwise --
the job's checks, the warehouse rows, moving the artifacts into place, the
alert -- by calling the job module's ``finish_on_worker``.

The outcome (``ok`` or ``blocking``) is then in the span's ``run.json`` and
the ``runs`` table; a scheduler reads it there (scripts/schedule/). Where
the launching process does wait (DirectRunner, or Dataflow without a
template), it reads ``run.json`` back and exits 0 or 3 as usual.
"""

import datetime as dt
import importlib
import logging
from typing import Any, Dict

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions

from transforms.io import artifacts
from runners import dataflow
from settings import job as job_settings
from transforms.io import sources
from transforms import span_stats
from transforms.errors import EmptySpanError, UserError

_log = logging.getLogger(__name__)

EXIT_OK, EXIT_BLOCKING = 0, 3


class _FinishFn(beam.DoFn):
  """One element in, the job's exit code out; the statistics as side inputs.

  The job's settings (frozen) are pickled along to the worker.
  """

  def __init__(self, settings: job_settings.JobSettings,
               run: Dict[str, Any], job_module: str, kwargs: Dict[str, Any]):
    super().__init__()
    self._settings, self._run = settings, run
    self._job_module, self._kwargs = job_module, kwargs

  def process(self, unused_element, stats, stats_written, dead_letters,
              num_malformed, pii_written=None, shift_written=None,
              sample_written=None):
    # These side inputs only order the step after the files are written.
    del unused_element, stats_written, pii_written
    del shift_written, sample_written
    settings, run = self._settings, self._run
    key = run['key']
    store = artifacts.SpanArtifacts(run['root'], **key)
    span = span_stats.SpanStatistics(
        run_id=run['run_id'], run_ts=dt.datetime.fromisoformat(run['run_ts']),
        key=key, store=store, scratch=run['scratch'], stats=stats,
        num_examples=span_stats._num_examples(stats),  # pylint: disable=protected-access
        num_malformed=num_malformed,
        num_files=len(sources.match_files(run['path'])) if run['path'] else 0,
        dead_letters=[p for p in dead_letters
                      if span_stats._non_empty(p)],  # pylint: disable=protected-access
        started=run['started'],
        pii_counts=span_stats.read_pii_counts(run["scratch"]))
    if span.num_examples == 0:
      span_stats.discard(span)
      raise EmptySpanError(
          f'dataset.path {run["path"]!r}: span {key["span"]!r} has no rows')
    span_stats.read_shift_inputs(
        span, settings.stats_pass.run_privacy(span.pii_counts))
    module = importlib.import_module(self._job_module)
    yield module.finish_on_worker(settings, span, **self._kwargs)


class FinishRun(beam.PTransform):
  """The statistics pass's outputs in; the job's exit code (one int) out."""

  def __init__(self, settings: job_settings.JobSettings,
               run: Dict[str, Any], job_module: str, kwargs: Dict[str, Any]):
    super().__init__()
    self._fn = _FinishFn(settings, run, job_module, kwargs)

  def expand(self, outputs):
    pipeline = outputs['stats'].pipeline
    malformed = outputs['malformed'] | 'CountMalformed' >> (
        beam.combiners.Count.Globally())
    extra = {}
    for name in ('pii_written', 'shift_written', 'sample_written'):
      if name in outputs:
        extra[name] = beam.pvalue.AsList(outputs[name])
    return (pipeline
            | 'Once' >> beam.Create([None])
            | 'ChecksAndResults' >> beam.ParDo(
                self._fn,
                stats=beam.pvalue.AsSingleton(outputs['stats']),
                stats_written=beam.pvalue.AsList(outputs['stats_written']),
                dead_letters=beam.pvalue.AsList(
                    outputs['dead_letters_written']),
                num_malformed=beam.pvalue.AsSingleton(malformed), **extra))


def launch(settings: job_settings.JobSettings, job_module: str,
           **kwargs) -> int:
  """Runs the statistics pass with ``FinishRun`` as its last step.

  Returns the exit code: read back from run.json when the runner waited for
  the pipeline, else 0 once the job was handed over (a template launch).
  """
  job = settings.job
  plan = span_stats.plan_pass(settings.stats_pass, settings.runner.options)
  run = {
      'run_id': plan.run_id, 'run_ts': plan.run_ts.isoformat(),
      'key': plan.key, 'root': plan.store.root, 'scratch': plan.scratch,
      'path': plan.spec.path, 'started': plan.started,
  }
  then = 'FinishRun' >> FinishRun(settings, run, job_module, kwargs)
  template = plan.options.view_as(GoogleCloudOptions).template_location
  if not template:  # a template's runs start later, on Dataflow
    artifacts.start_scratch(plan.store.root, plan.scratch, plan.run_id)
  try:
    with plan.reporter() as reporter:
      result = plan.pipeline(then, tracker=reporter.tracker).run()
      if template:
        print(f'{job}: Dataflow job '
              f'{plan.options.view_as(GoogleCloudOptions).job_name} written '
              f'to {template}; Dataflow runs it. Its outcome (ok / blocking) '
              f'will be in {plan.store.run_path} (run_id {plan.run_id}) and '
              f'the runs table.')
        return EXIT_OK
      dataflow.log_console_link(result, plan.options)
      result.wait_until_finish()
  except UserError:
    artifacts.delete_scratch(plan.scratch)
    raise
  except Exception as e:
    artifacts.delete_scratch(plan.scratch)
    raise span_stats._as_user_error(  # pylint: disable=protected-access
        e, plan.spec, plan.store.root) from e
  record = artifacts.read_json(plan.store.run_path)
  if record.get('run_id') != plan.run_id:
    raise UserError(f'{plan.store.run_path}: holds run '
                    f'{record.get("run_id")}, not this run {plan.run_id}')
  return EXIT_BLOCKING if record.get('status') == 'blocking' else EXIT_OK
