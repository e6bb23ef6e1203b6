"""The one-screen summary a job prints when it ends."""

from transforms import statistics
from transforms.span_stats import SpanStatistics


def _numeric(feature) -> bool:
  return feature.HasField('num_stats')


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
      f'  rows:       {span.num_examples:,} read, {span.num_malformed:,} '
      f'malformed' + (f' (kept in {span.store.dead_letter_dir})'
                      if span.dead_letters else ''),
      f'  features:   {len(features)} ({numeric} numeric, '
      f'{len(features) - numeric} categorical); slices: {len(slices)}',
  ]
  if missing:
    lines.append('  most missing: ' + ', '.join(
        f'{name} {rate:.1%}' for rate, name in missing[:5]))
  lines += [
      f'  statistics: {span.store.stats_path}',
      f'  warehouse:  {warehouse_path} (tables runs, feature_stats)',
  ]
  return '\n'.join(lines)
