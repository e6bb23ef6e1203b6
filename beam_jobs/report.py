"""The report job: rebuild a run's HTML report, or compare two stored spans.

  python -m beam_jobs.report dataset.name=mydata split=train span=2024-06-02
  python -m beam_jobs.report dataset.name=mydata split=serving span=2024-06-02 \
      compare.split=train compare.span=2024-06-01

The first form redraws the report of the latest validation of the span from
the artifact store (statistics, run record) and the warehouse (anomalies,
measurements, history). The second draws the span's statistics over any other
stored statistics, with drift distances computed on the spot (thresholds from
the drift.* config), without running a pipeline.
"""

import json
from typing import Any, Dict

import hydra
from omegaconf import DictConfig, OmegaConf
from apache_beam.io.filesystems import FileSystems

from beam_jobs import _cli
from transforms.io import artifacts
from settings import config
from settings import job as job_settings
from report import html as report
from transforms import schemas
from transforms.checks import pii
from transforms.checks import shift
from transforms.checks import shift_stats
from transforms.io import sinks
from transforms.checks import validation
from transforms.errors import UserError

JOB = 'report'


def _stored(root: str, dataset: str, split: str, span: str
            ) -> artifacts.SpanArtifacts:
  store = artifacts.SpanArtifacts(root, dataset, split, span)
  if not store.has_stats():
    spans = artifacts.list_spans(root, dataset, split)
    raise UserError(f'span={span!r}: no statistics for {dataset}/{split} in '
                    f'{root} (have: {", ".join(spans[-5:]) or "none"})')
  return store


def _rebuild(settings: job_settings.JobSettings) -> report.ReportInput:
  key, root = settings.key, settings.store_root
  store = _stored(root, key['dataset'], key['split'], key['span'])
  run: Dict[str, Any] = artifacts.read_json(store.run_path)
  sink = sinks.open_sink(settings.sink)
  anomalies = [r for r in sink.read_rows('anomalies', key['dataset'],
                                         key['split'])
               if r['run_id'] == run['run_id']]
  history = sink.read_rows('drift_skew', key['dataset'], key['split'])
  measurements = [r for r in history if r['run_id'] == run['run_id']]
  baselines = {}
  for m in measurements:
    # drift and skew measurements name their baseline; the other checks
    # (history, fairness, pii) have none to draw.
    if m['check'] in ('drift', 'skew') and m['check'] not in baselines:
      where = {'split': m['baseline_split'], 'span': m['baseline_span']}
      baselines[m['check']] = (where, _stored(
          root, key['dataset'], where['split'], where['span']).load_stats())
  run_config = json.loads(run.get('config') or '{}')
  charts = {}
  if any(m['check'] == 'shift' for m in measurements):
    # The per-bucket label rates, as the run measured them: its label and
    # shift settings (parsed from its stored config), both spans' shift.json.
    ran = OmegaConf.create(run_config)
    label, spec = config.label(ran), config.shift_spec(ran)
    current = shift_stats.load_buckets(store)
    for m in measurements:
      where = (m['baseline_split'], m['baseline_span'])
      if m['check'] == 'shift' and where not in charts:
        found = shift.charts(current, shift_stats.load_buckets(_stored(
            root, key['dataset'], *where)), label, spec)
        if found is not None:
          charts[where] = found
  notes = []
  if run.get('job') != 'validate':
    notes.append(f'the latest run of this span was a {run.get("job")} run: '
                 f'statistics only, nothing was checked')
  return report.ReportInput(
      key=key, run=run, stats=store.load_stats(), baselines=baselines,
      anomalies=anomalies, measurements=measurements,
      history=sink.read_rows('feature_stats', key['dataset'], key['split']),
      measurement_history=history, privacy=_privacy(settings, store),
      notes=notes, fail_on=str(run_config.get('fail_on', 'ERROR')),
      shift_charts=charts)


def _privacy(settings: job_settings.JobSettings,
             store: artifacts.SpanArtifacts):
  """The privacy rules of the run, with its PII-carrying features hashed."""
  path = FileSystems.join(store.dir, artifacts.PII_FILE)
  counts = artifacts.read_json(path) if FileSystems.exists(path) else {}
  return pii.protect(settings.report.privacy, counts, settings.report.pii)


def _compare(settings: job_settings.JobSettings) -> report.ReportInput:
  key, root, other = settings.key, settings.store_root, settings.report.compare
  store = _stored(root, **key)
  stats = store.load_stats()
  baseline = _stored(root, **other).load_stats()
  spec = settings.report.drift
  schema = schemas.infer(baseline)
  where = {'split': other['split'], 'span': other['span']}
  if other['dataset'] != key['dataset']:
    where['split'] = f'{other["dataset"]}/{other["split"]}'
  redact = validation.Redactor(
      settings.report.privacy.salt, settings.report.raw_values_in_results,
      [stats, baseline], schema)
  privacy = _privacy(settings, store)
  _, anomalies, measurements = validation.compare(
      'drift', stats, baseline, schema, 'TRAINING', spec, where, redact, None,
      privacy)
  run = {'run_id': f'comparison with {other["dataset"]}/{other["split"]}/'
                   f'{other["span"]}'}
  return report.ReportInput(
      key=key, run=run, stats=stats, baselines={'drift': (where, baseline)},
      anomalies=anomalies, measurements=measurements,
      history=[], measurement_history=[], privacy=privacy,
      notes=['distances computed for this comparison from the drift.* '
             'thresholds; nothing was written to the warehouse'],
      fail_on=settings.report.fail_on, title='Comparison report')


def run(cfg: DictConfig) -> int:
  settings = job_settings.parse(cfg, JOB)
  key, root = settings.key, settings.store_root
  compare = settings.report.compare
  inp = _compare(settings) if compare else _rebuild(settings)
  out = settings.report.output
  if not out:
    store = artifacts.SpanArtifacts(root, **key)
    out = store.report_path
    if compare:
      out = FileSystems.join(store.dir, f'compare-{compare["split"]}-'
                             f'{compare["span"]}.html')
  with FileSystems.create(str(out)) as f:
    f.write(report.render(inp).encode('utf-8'))
  print(f'report: {len(inp.anomalies)} anomalies, '
        f'{len(inp.measurements)} measurements\n  report: {out}')
  return _cli.EXIT_OK


@hydra.main(config_path='pkg://conf', config_name='report', version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)
