"""The validate job: statistics once, then schema, drift and skew checks.

  python -m beam_jobs.validate dataset.name=mydata dataset.path=/data/x.csv \
      split=serving span=2024-06-02

Reads the span and computes its statistics (stored like the stats job), then
checks them against a schema version, against an earlier span of the same
split (drift) and, for a serving split, against the training statistics
(skew), for the whole span and each slice. Writes ``anomalies`` and
``drift_skew`` rows, the anomalies protos, and exits 3 when it found anomalies
at or above ``fail_on``.
"""

import dataclasses
from typing import Dict, List, Optional

import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from beam_jobs import summary
from runners import alerts
from transforms.io import artifacts
from settings import config
from runners import dataflow
from transforms.checks import event_time
from transforms.checks import fairness
from transforms.checks import history
from runners import in_pipeline
from transforms.checks import pii
from report import html as report
from transforms import schemas
from transforms.checks import shift
from transforms.checks import shift_stats
from transforms.io import sinks
from transforms import span_stats
from transforms import statistics
from transforms.checks import validation
from transforms.errors import UserError

JOB = 'validate'


@dataclasses.dataclass
class Validation:
  """What the checks found: rows for the warehouse and notes for the summary."""
  anomalies: List[dict]
  measurements: List[dict]
  protos: Dict[str, bytes]
  notes: List[str]
  # 'drift' / 'skew' -> ({'split', 'span'}, baseline statistics)
  baselines: Dict[str, tuple]
  # The span's feature_stats rows, under the run's privacy rules.
  feature_rows: List[dict]
  # {(baseline split, span): shift.Charts} for the report
  shift_charts: Dict[tuple, shift.Charts] = dataclasses.field(
      default_factory=dict)


def environment(cfg: DictConfig, split: str) -> str:
  env = config.get(cfg, 'schema.environment', required=False)
  if env:
    return str(env)
  serving = config.get(cfg, 'schema.serving_splits', required=False) or []
  return 'SERVING' if split in serving else 'TRAINING'


def _baseline(root: str, key: Dict[str, str], split: str,
              pinned: Optional[str], same_span_ok: bool, what: str):
  """(span, stats) of the baseline, or (None, note) when there is none."""
  spans = artifacts.list_spans(root, key['dataset'], split)
  if pinned is not None:
    pinned = str(pinned)
    if pinned not in spans:
      raise UserError(
          f'{what}.baseline_span={pinned!r}: no statistics for '
          f'{key["dataset"]}/{split} span {pinned} in the store '
          f'(have: {", ".join(spans[-5:]) or "none"})')
    span = pinned
  else:
    earlier = [s for s in spans if s < key['span'] or (
        same_span_ok and s == key['span'])]
    if not earlier:
      return None, (f'{what}: no {"" if same_span_ok else "earlier "}span of '
                    f'split {split!r} in the store; not checked')
    span = earlier[-1]
  stats = artifacts.SpanArtifacts(root, key['dataset'], split,
                                  span).load_stats()
  return span, stats


def check(cfg: DictConfig, span: span_stats.SpanStatistics,
          version: schemas.SchemaVersion, sink,
          privacy: statistics.PrivacySpec) -> Validation:
  """Runs every check on the span's statistics (no data is re-read).

  Schema, drift and skew (TFDV, plus PSI/Wasserstein), metric history
  (from the sink's feature_stats table), PII, event time (freshness, window,
  future) and representation/label parity.
  """
  key, stats = span.key, span.stats
  schema = version.load()
  env = environment(cfg, key['split'])
  root = config.store_root(cfg)
  allow_raw = bool(config.get(cfg, 'privacy.raw_values_in_results'))
  notes: List[str] = []
  protos: Dict[str, bytes] = {}

  baselines = {}
  if config.get(cfg, 'drift.enabled'):
    drift_span, drift_stats = _baseline(
        root, key, key['split'], config.get(cfg, 'drift.baseline_span',
                                            required=False),
        same_span_ok=False, what='drift')
    if drift_span is None:
      notes.append(drift_stats)
    else:
      baselines['drift'] = ({'split': key['split'], 'span': drift_span},
                            drift_stats)
  skew_split = str(config.get(cfg, 'skew.baseline_split'))
  if config.get(cfg, 'skew.enabled') and skew_split != key['split']:
    skew_span, skew_stats = _baseline(
        root, key, skew_split, config.get(cfg, 'skew.baseline_span',
                                          required=False),
        same_span_ok=True, what='skew')
    if skew_span is None:
      notes.append(skew_stats)
    else:
      baselines['skew'] = ({'split': skew_split, 'span': skew_span},
                           skew_stats)

  redact = validation.Redactor(
      privacy.salt, allow_raw,
      [stats] + [b[1] for b in baselines.values()], schema)
  found = validation.check_schema(stats, schema, env)
  protos['schema'] = found.SerializeToString()
  rows = validation.anomaly_rows(found, 'schema', redact, version.version)
  measurements = []
  for kind, (where, baseline) in baselines.items():
    found, kind_rows, kind_measurements = validation.compare(
        kind, stats, baseline, schema, env, config.comparison_spec(cfg, kind),
        where, redact, version.version)
    protos[kind] = found.SerializeToString()
    rows += kind_rows
    measurements += kind_measurements
    notes.append(f'{kind}: compared with {where["split"]} span '
                 f'{where["span"]}')
  feature_rows = statistics.feature_rows(stats, privacy)
  found_rows, found_measurements = history.check(
      feature_rows,
      sink.read_rows('feature_stats', key['dataset'], key['split']),
      key['span'], config.history_spec(cfg))
  rows += found_rows
  measurements += found_measurements
  pii_spec = config.pii_spec(cfg)
  if pii_spec.enabled:
    found_rows, found_measurements = pii.findings(span.pii_counts, pii_spec)
    rows += found_rows
    measurements += found_measurements
  # Freshness, window and future checks on the feature the statistics pass
  # counted as event time (dataset.event_time), if any.
  event_feature = event_time.event_feature(stats)
  if event_feature is not None:
    found_rows, found_measurements = event_time.check(
        stats, config.event_time_settings(cfg), event_feature, span.run_ts)
    rows += found_rows
    measurements += found_measurements
    notes += event_time.notes(stats, event_feature)
  fair = config.fairness_spec(cfg)
  if fair.sensitive:
    found_rows, found_measurements, fair_notes = fairness.check(
        stats, baselines.get('skew') or baselines.get('drift'), fair,
        config.label(cfg), privacy.value, _slice_feature_names(cfg))
    rows += found_rows
    measurements += found_measurements
    notes += fair_notes
  shift_charts = {}
  shift_spec = config.shift_spec(cfg)
  if shift_spec.enabled:
    for kind, (where, _) in baselines.items():
      found_rows, found_measurements, charts, shift_notes = check_shift(
          cfg, span, kind, where, shift_spec)
      rows += found_rows
      measurements += found_measurements
      notes += shift_notes
      if charts is not None:
        shift_charts[(where['split'], where['span'])] = charts
  for row in rows:
    if row.get('schema_version') is None:
      row['schema_version'] = version.version
    row['anomaly_id'] = validation.anomaly_id(key, row)
  return Validation(rows, measurements, protos, notes, baselines,
                    feature_rows, shift_charts)


def check_shift(cfg: DictConfig, span: span_stats.SpanStatistics, kind: str,
                where: Dict[str, str], spec: shift.ShiftSpec):
  """The shift check of the span against one baseline (shift.check):
  (anomaly rows, measurement rows, shift.Charts or None, notes)."""
  store = artifacts.SpanArtifacts(config.store_root(cfg), span.key['dataset'],
                                  where['split'], where['span'])
  base_buckets = shift_stats.load_buckets(store)
  data = store.load_bytes(artifacts.SAMPLE_FILE)
  base_sample = None if data is None else shift_stats.read_table(data)
  label = config.label(cfg)
  features = [f for f in shift.model_features(span.sample, label, spec)
              if base_sample is not None and f in base_sample.column_names]
  anomalies, measurements, result, notes = shift.check(
      kind, where, label, span.shift_buckets, base_buckets, span.sample,
      base_sample, features, spec)
  return anomalies, measurements, result.charts, notes


def _slice_feature_names(cfg: DictConfig) -> List[str]:
  names = []
  for entry in config.slices(cfg):
    names += [entry] if isinstance(entry, str) else list(entry)
  return names


def run(cfg: DictConfig) -> int:
  """Runs the job; returns the exit code. Raises UserError on bad input."""
  config.privacy_spec(cfg)  # bad config fails before any work
  config.fail_on(cfg)
  for kind in ('drift', 'skew'):
    config.comparison_spec(cfg, kind)  # bad thresholds fail before any work
  config.history_spec(cfg)
  config.fairness_spec(cfg)
  config.pii_spec(cfg)
  config.event_time_settings(cfg)
  config.shift_spec(cfg)
  alerts.check(cfg)
  key = config.run_key(cfg)
  if dataflow.is_dry_run(cfg):
    # Only the statistics pass is a pipeline; the checks read the store and
    # the results go to the sink, neither of which a dry run touches.
    print(dataflow.dry_run_summary(JOB, span_stats.dry_run(cfg)))
    return _cli.EXIT_OK
  finish_in_pipeline = dataflow.finishes_in_pipeline(cfg)
  warehouse = sinks.open_sink(cfg)
  registry = schemas.SchemaRegistry(config.store_root(cfg), key['dataset'])
  version = registry.get(config.optional_int(cfg, 'schema.version'))
  if finish_in_pipeline:
    # The checks run as the pipeline's last step, against this version.
    return in_pipeline.launch(cfg, JOB, 'beam_jobs.validate',
                              version=version.version)

  span = span_stats.compute(cfg)
  return finish(cfg, span, warehouse, version)


def finish_on_worker(cfg: DictConfig, span: span_stats.SpanStatistics,
                     version: int) -> int:
  """``finish`` as the last step of the pipeline (runner.finish_in_pipeline)."""
  registry = schemas.SchemaRegistry(config.store_root(cfg), span.key['dataset'])
  return finish(cfg, span, sinks.open_sink(cfg), registry.get(version))


def finish(cfg: DictConfig, span: span_stats.SpanStatistics, warehouse,
           version: schemas.SchemaVersion) -> int:
  """Checks the span's statistics, writes results; returns the exit code."""
  key = span.key
  # Features that carry PII are written only as hashes.
  privacy = config.run_privacy(cfg, span.pii_counts)
  fail_on = config.fail_on(cfg)
  try:
    result = check(cfg, span, version, warehouse, privacy)
    blocking = validation.blocking(result.anomalies, fail_on)
    run_row = span.run_row(cfg, JOB, status='blocking' if blocking else 'ok',
                           num_anomalies=len(result.anomalies),
                           schema_version=version.version)
    warehouse.write_run(run_row, {
        'feature_stats': result.feature_rows,
        'anomalies': result.anomalies,
        'drift_skew': result.measurements,
    })
    extra = {f'{artifacts.ANOMALIES_DIR}/{kind}.pb': span_stats.write_scratch(
        span, f'anomalies-{kind}.pb', data)
             for kind, data in result.protos.items()}
    page = report.render(report.ReportInput(
        key=span.key, run=run_row, stats=span.stats,
        baselines=result.baselines, anomalies=result.anomalies,
        measurements=result.measurements,
        history=warehouse.read_rows('feature_stats', key['dataset'],
                                    key['split']),
        measurement_history=warehouse.read_rows('drift_skew', key['dataset'],
                                                key['split']),
        privacy=privacy, notes=result.notes, fail_on=fail_on,
        shift_charts=result.shift_charts))
    extra[artifacts.REPORT_FILE] = span_stats.write_scratch(
        span, artifacts.REPORT_FILE, page.encode('utf-8'))
    span_stats.commit(span, run_row, extra)
  except BaseException:
    span_stats.discard(span)
    raise
  print(summary.validate_summary(span, warehouse.describe(), version.version,
                                 result.anomalies, result.notes, fail_on,
                                 len(blocking)))
  if blocking:
    sent = alerts.notify(cfg, span, version.version, result.anomalies,
                         fail_on, len(blocking))
    if sent:
      print(f'  alert:      sent ({", ".join(sent)})')
  return _cli.EXIT_BLOCKING if blocking else _cli.EXIT_OK


@hydra.main(config_path='pkg://conf', config_name='validate',
            version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)
