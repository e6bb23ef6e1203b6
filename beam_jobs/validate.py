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
import functools
import json
from typing import Dict, List, Optional

import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from beam_jobs import summary
from runners import alerts
from transforms.io import artifacts
from runners import dataflow
from transforms.checks import event_time
from transforms.checks import fairness
from transforms.checks import history
from transforms.checks import partition_keys
from runners import in_pipeline
from transforms.checks import pii
from report import html as report
from settings import job as job_settings
from transforms import arrow_types
from transforms import schemas
from transforms.checks import shift
from transforms.checks import shift_stats
from transforms.io import sinks
from transforms.io import span_order
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


def _baseline(root: str, key: Dict[str, str], split: str,
              pinned: Optional[str], what: str):
  """(span, stats, how it was chosen) of the drift or skew baseline, or
  (None, why there is none, None); the rules are in transforms.io.span_order."""
  spans = artifacts.list_spans(root, key['dataset'], split)
  if pinned is not None:
    pinned = str(pinned)
    if pinned not in spans:
      raise UserError(
          f'{what}.baseline_span={pinned!r}: no statistics for '
          f'{key["dataset"]}/{split} span {pinned} in the store '
          f'(have: {", ".join(spans[-5:]) or "none"})')
    span, how = pinned, f'pinned by {what}.baseline_span'
  else:
    choose = (span_order.drift_baseline if what == 'drift'
              else span_order.skew_baseline)
    span, how = choose(spans, key['span'], functools.partial(
        artifacts.run_time, root, key['dataset'], split))
    if span is None:
      return None, (f'{what}: no baseline in split {split!r}: {how}; not '
                    f'checked'), None
  stats = artifacts.SpanArtifacts(root, key['dataset'], split,
                                  span).load_stats()
  return span, stats, how


def check(settings: job_settings.JobSettings,
          span: span_stats.SpanStatistics, version: schemas.SchemaVersion,
          sink, privacy: statistics.PrivacySpec) -> Validation:
  """Runs every check on the span's statistics (no data is re-read).

  Schema, drift and skew (TFDV, plus PSI/Wasserstein), metric history
  (from the sink's feature_stats table), PII, event time (freshness, window,
  future) and representation/label parity.
  """
  key, stats = span.key, span.stats
  checks, stats_pass = settings.checks, settings.stats_pass
  schema = version.load()
  env = checks.environment(key['split'])
  root = settings.store_root
  allow_raw = checks.raw_values_in_results
  notes: List[str] = []
  protos: Dict[str, bytes] = {}

  baselines = {}
  chosen: Dict[str, str] = {}  # how each baseline was chosen, for the notes
  if checks.drift_enabled:
    drift_span, drift_stats, how = _baseline(
        root, key, key['split'], checks.drift_baseline_span, 'drift')
    if drift_span is None:
      notes.append(drift_stats)
    else:
      baselines['drift'] = ({'split': key['split'], 'span': drift_span},
                            drift_stats)
      chosen['drift'] = how
  skew_split = checks.skew_baseline_split
  if checks.skew_enabled and skew_split != key['split']:
    skew_span, skew_stats, how = _baseline(
        root, key, skew_split, checks.skew_baseline_span, 'skew')
    if skew_span is None:
      notes.append(skew_stats)
    else:
      baselines['skew'] = ({'split': skew_split, 'span': skew_span},
                           skew_stats)
      chosen['skew'] = how

  redact = validation.Redactor(
      privacy.salt, allow_raw,
      [stats] + [b[1] for b in baselines.values()], schema)
  feature_rows = statistics.feature_rows(stats, privacy)
  feature_history = sink.read_rows('feature_stats', key['dataset'],
                                   key['split'])
  keys = _partition_keys(checks.history, feature_rows, feature_history,
                         key['span'])
  found = validation.check_schema(stats, schema, env)
  protos['schema'] = found.SerializeToString()
  rows, folded = partition_keys.fold_schema_rows(
      validation.anomaly_rows(found, 'schema', redact, version.version), keys)
  rows += partition_keys.rows(keys, folded, allow_raw)
  set_aside = {name: (f'partition key: one value per span, a new one in '
                      f'every span (see the {partition_keys.CHECK} row)')
               for name in keys}
  text_times = _text_time_features(stats)
  for name in text_times:
    set_aside.setdefault(name, (
        'time written as text (every value a date or date and time): '
        'moments move between spans, so not compared value by value'))
  measurements = []
  for kind, (where, baseline) in baselines.items():
    kind_aside = set_aside
    if kind == 'skew' and keys:
      # Against training data, only a key the training spans show too.
      shown = _partition_keys(
          checks.history, feature_rows,
          sink.read_rows('feature_stats', key['dataset'], where['split']),
          key['span'], same_span=True)
      kind_aside = {k: v for k, v in set_aside.items() if k in shown}
    found, kind_rows, kind_measurements = validation.compare(
        kind, stats, baseline, schema, env, getattr(checks, kind), where,
        redact, version.version, privacy, kind_aside)
    protos[kind] = found.SerializeToString()
    rows += kind_rows
    measurements += kind_measurements
    notes.append(f'{kind}: compared with {where["split"]} span '
                 f'{where["span"]} ({chosen[kind]})')
  if keys:
    notes.append(f'partition keys (not compared): {", ".join(sorted(keys))}')
  found_rows, found_measurements = history.check(
      feature_rows, feature_history, key['span'], checks.history, keys)
  rows += found_rows
  measurements += found_measurements
  pii_spec = stats_pass.pii
  if pii_spec.enabled:
    found_rows, found_measurements = pii.findings(span.pii_counts, pii_spec)
    rows += found_rows
    measurements += found_measurements
  # Freshness, window and future checks on the feature the statistics pass
  # counted as event time (dataset.event_time), if any.
  event_feature = event_time.event_feature(stats)
  if event_feature is not None:
    found_rows, found_measurements = event_time.check(
        stats, stats_pass.event_time_settings, event_feature, span.run_ts)
    rows += found_rows
    measurements += found_measurements
    notes += event_time.notes(stats, event_feature,
                              stats_pass.event_time_settings)
  fair = checks.fairness
  if fair.sensitive:
    found_rows, found_measurements, fair_notes = fairness.check(
        stats, baselines.get('skew') or baselines.get('drift'), fair,
        stats_pass.label, privacy.value,
        _slice_feature_names(stats_pass.slices))
    rows += found_rows
    measurements += found_measurements
    notes += fair_notes
  shift_charts = {}
  shift_spec = stats_pass.shift
  if shift_spec.enabled:
    for kind, (where, _) in baselines.items():
      found_rows, found_measurements, charts, shift_notes = check_shift(
          stats_pass, span, kind, where,
          exclude=set(keys) | set(text_times), ids=getattr(checks, kind))
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


def _text_time_features(stats) -> List[str]:
  """Whole-span text features whose every counted value is a moment
  (arrow_types.looks_like_time_text): time that stayed text (a BigQuery
  STRING, a format not read as time)."""
  found = []
  for feature in statistics.overall(stats).features:
    if not feature.HasField('string_stats'):
      continue
    labels = [b.label for b in feature.string_stats.rank_histogram.buckets]
    labels = labels or [v.value for v in feature.string_stats.top_values]
    if arrow_types.looks_like_time_text(labels):
      found.append(statistics.feature_path(feature))
  return found


def _partition_keys(spec: history.HistorySpec, feature_rows: List[dict],
                    feature_history: List[dict], span: str,
                    same_span: bool = False) -> Dict[str, object]:
  """{feature: partition_keys.PartitionKey} of the span (none when the
  history check or its partition keys are turned off). ``same_span``:
  ``feature_history`` is another split's (skew's training data), where the
  history alone must show a key."""
  if not (spec.enabled and spec.partition_keys):
    return {}
  return partition_keys.recognize(
      feature_rows, feature_history, span, spec.window,
      spec.partition_key_min_spans, by_span_name=not same_span,
      same_span=same_span)


def check_shift(stats_pass: span_stats.PassSpec,
                span: span_stats.SpanStatistics, kind: str,
                where: Dict[str, str], exclude=(),
                ids: validation.ComparisonSpec = validation.ComparisonSpec()):
  """The shift check of the span against one baseline (shift.check):
  (anomaly rows, measurement rows, shift.Charts or None, notes).
  ``exclude``: features left out of the models (partition keys, whose
  value alone tells the spans apart); ``ids``: the comparison whose
  identifier rule (by values) keeps ids out of the models too."""
  spec = stats_pass.shift
  store = artifacts.SpanArtifacts(stats_pass.store_root, span.key['dataset'],
                                  where['split'], where['span'])
  base_buckets = shift_stats.load_buckets(store)
  data = store.load_bytes(artifacts.SAMPLE_FILE)
  base_sample = None if data is None else shift_stats.read_table(data)
  label = stats_pass.label
  features = [f for f in shift.model_features(
      span.sample, label, spec, ids.max_unique_ratio,
      ids.id_min_distinct_share, ids.id_max_spacing_error)
              if base_sample is not None and f in base_sample.column_names
              and f not in exclude]
  anomalies, measurements, result, notes = shift.check(
      kind, where, label, span.shift_buckets, base_buckets, span.sample,
      base_sample, features, spec)
  return anomalies, measurements, result.charts, notes


def _slice_feature_names(slices: List[object]) -> List[str]:
  names = []
  for entry in slices:
    names += [entry] if isinstance(entry, str) else list(entry)
  return names


def run(cfg: DictConfig) -> int:
  """Runs the job; returns the exit code. Raises UserError on bad input."""
  settings = job_settings.parse(cfg, JOB)  # bad config fails before any work
  runner = settings.runner
  if runner.dry_run:
    # Only the statistics pass is a pipeline; the checks read the store and
    # the results go to the sink, neither of which a dry run touches.
    print(dataflow.dry_run_summary(JOB, span_stats.dry_run(
        settings.stats_pass, runner.options, runner.dry_run_dir)))
    return _cli.EXIT_OK
  warehouse = sinks.open_sink(settings.sink)
  registry = schemas.SchemaRegistry(settings.store_root,
                                    settings.key['dataset'])
  version = registry.get(settings.checks.schema_version)
  if runner.finish_in_pipeline:
    # The checks run as the pipeline's last step, against this version.
    return in_pipeline.launch(settings, 'beam_jobs.validate',
                              version=version.version)

  span = span_stats.compute(settings.stats_pass, runner.options)
  return finish(settings, span, warehouse, version)


def finish_on_worker(settings: job_settings.JobSettings,
                     span: span_stats.SpanStatistics, version: int) -> int:
  """``finish`` as the last step of the pipeline (runner.finish_in_pipeline)."""
  registry = schemas.SchemaRegistry(settings.store_root, span.key['dataset'])
  return finish(settings, span, sinks.open_sink(settings.sink),
                registry.get(version))


def finish(settings: job_settings.JobSettings,
           span: span_stats.SpanStatistics, warehouse,
           version: schemas.SchemaVersion) -> int:
  """Checks the span's statistics, writes results; returns the exit code."""
  key = span.key
  # Features that carry PII are written only as hashes.
  privacy = span.privacy
  fail_on = settings.checks.fail_on
  try:
    result = check(settings, span, version, warehouse, privacy)
    blocking = validation.blocking(result.anomalies, fail_on)
    run_row = span.run_row(JOB, settings.runner.name, settings.config,
                           status='blocking' if blocking else 'ok',
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
    # The rows again, next to the statistics: the site (beam_jobs/site.py)
    # reads the store only, so it draws the same with either sink.
    extra[artifacts.CHECKS_FILE] = span_stats.write_scratch(
        span, artifacts.CHECKS_FILE, json.dumps({
            'run_id': run_row['run_id'], 'anomalies': result.anomalies,
            'measurements': result.measurements}, sort_keys=True,
            default=str).encode('utf-8'))
    span_stats.commit(span, run_row, extra)
  except BaseException:
    span_stats.discard(span)
    raise
  print(summary.validate_summary(span, warehouse.describe(), version.version,
                                 result.anomalies, result.notes, fail_on,
                                 len(blocking)))
  if blocking:
    sent = alerts.notify(settings.checks.alert, span, version.version,
                         result.anomalies, fail_on, len(blocking))
    if sent:
      print(f'  alert:      sent ({", ".join(sent)})')
  return _cli.EXIT_BLOCKING if blocking else _cli.EXIT_OK


@hydra.main(config_path='pkg://conf', config_name='validate',
            version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)
