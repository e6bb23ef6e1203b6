"""The one-screen summary a job prints when it ends."""

import collections

from transforms import arrow_types
from transforms.checks import event_time
from transforms import statistics
from transforms.checks import validation
from transforms.span_stats import SpanStatistics


def _numeric(feature) -> bool:
  return feature.HasField('num_stats')


def _time_lines(span: SpanStatistics, limit: int = 3) -> list:
  """The time features' ranges, at most ``limit`` lines (event time first)."""
  ranges = statistics.time_ranges(span.overall)
  if not ranges:
    return []
  event = event_time.event_feature(span.stats)
  ranges.sort(key=lambda r: (r['feature'] != event, r['feature']))
  lines = []
  for i, r in enumerate(ranges[:limit]):
    mark = ' (event time)' if r['feature'] == event else ''
    zone = '' if r['kind'] == arrow_types.DATE else ' UTC'
    lines.append(f'  {"time:" if i == 0 else "":<12}{r["feature"]}{mark} '
                 f'{statistics.time_text(r["kind"], r["earliest"])} .. '
                 f'{statistics.time_text(r["kind"], r["latest"])}{zone}')
  if len(ranges) > limit:
    lines.append(f'  {"":<12}... {len(ranges) - limit} more time features in '
                 f'feature_stats (earliest, latest)')
  return lines


def _rows_line(span: SpanStatistics) -> str:
  line = (f'  rows:       {span.num_examples:,} read, {span.num_malformed:,} '
          f'malformed' + (f' (kept in {span.store.dead_letter_dir})'
                          if span.dead_letters else ''))
  if span.num_values_as_text:
    line += (f'; {span.num_values_as_text:,} JSON values of another type '
             f'read as text')
  return line


def stats_summary(span: SpanStatistics, warehouse_path: str) -> str:
  overall = span.overall
  features = list(overall.features)
  numeric = sum(1 for f in features if _numeric(f))
  slices = [d for d in span.stats.datasets if statistics.slice_name(d)]
  missing = []
  for f in features:
    common = statistics.common_stats(f)
    if common and overall.num_examples and common.num_missing:
      missing.append((common.num_missing / overall.num_examples,
                      statistics.feature_path(f)))
  missing.sort(reverse=True)
  key = span.key
  lines = [
      f'stats: dataset={key["dataset"]} split={key["split"]} '
      f'span={key["span"]} run_id={span.run_id}',
      _rows_line(span),
      f'  features:   {len(features)} ({numeric} numeric, '
      f'{len(features) - numeric} categorical); slices: {len(slices)}',
  ]
  if missing:
    lines.append('  most missing: ' + ', '.join(
        f'{name} {rate:.1%}' for rate, name in missing[:5]))
  lines += _time_lines(span)
  lines += [
      f'  statistics: {span.store.stats_path}',
      f'  warehouse:  {warehouse_path} (tables runs, feature_stats)',
  ]
  return '\n'.join(lines)


def validate_summary(span: SpanStatistics, warehouse_path: str,
                     schema_version: int, anomalies, notes, fail_on: str,
                     num_blocking: int) -> str:
  """Counts by check and severity, the top anomalies, where results are."""
  key = span.key
  lines = [
      f'validate: dataset={key["dataset"]} split={key["split"]} '
      f'span={key["span"]} run_id={span.run_id}',
      _rows_line(span),
      f'  schema:     version {schema_version}',
  ]
  lines += _time_lines(span)
  lines += [f'  {note}' for note in notes]
  counts = collections.Counter((a['check'], a['severity']) for a in anomalies)
  if counts:
    lines.append('  anomalies:  ' + ', '.join(
        f'{check} {severity} {n}' for (check, severity), n in
        sorted(counts.items())))
  else:
    lines.append('  anomalies:  none')
  top = validation.worst_first(anomalies)[:10]
  for a in top:
    where = a['feature'] or '(dataset)'
    if a['slice']:
      where += f' [{a["slice"]}]'
    measure = ('' if a.get('value') is None else
               f' {a["metric"]}={a["value"]:.3f}' if a.get('threshold') is None
               else f' {a["metric"]}={a["value"]:.3f}>{a["threshold"]:g}')
    lines.append(f'    {a["severity"]:<7} {a["check"]:<6} {where}: '
                 f'{a["anomaly_type"]}{measure}')
  if len(anomalies) > len(top):
    lines.append(f'    ... {len(anomalies) - len(top)} more in the '
                 f'anomalies table')
  verdict = (f'BLOCKING: {num_blocking} anomalies at or above {fail_on}'
             if num_blocking else f'OK: nothing at or above {fail_on}')
  lines += [
      f'  result:     {verdict}',
      f'  statistics: {span.store.stats_path}',
      f'  warehouse:  {warehouse_path} (tables runs, anomalies, drift_skew, '
      f'feature_stats)',
      f'  report:     {span.store.report_path}',
  ]
  return '\n'.join(lines)
