"""Metric history checks: a span against the trailing history of its feature.

For every feature of the whole span, the row count, missing rate and mean
(numeric features other than timestamps and dates, whose mean moves with
time) are compared with the same metric over the last
``window`` earlier spans in the feature statistics history table. A value is
flagged when its robust z-score, ``|value - median| / (1.4826 * MAD)``, is
above ``k`` (the 1.4826 makes a MAD comparable to a standard deviation for
normal data). A history that never moved (MAD 0) would flag any change at
all, so the spread is floored at ``min_change`` times the median's size (or
``min_change`` itself for a median of 0): tiny wobbles stay quiet.
"""

import dataclasses
import statistics as pystats
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from transforms import arrow_types
from transforms.checks import findings

METRICS = ('num_examples', 'missing_rate', 'mean')
ANOMALY_TYPES = {
    'num_examples': 'HISTORY_ROW_COUNT_OUTLIER',
    'missing_rate': 'HISTORY_MISSING_RATE_OUTLIER',
    'mean': 'HISTORY_MEAN_OUTLIER',
}


@dataclasses.dataclass(frozen=True)
class HistorySpec:
  """The ``history`` config group."""
  enabled: bool = True
  metrics: Sequence[str] = METRICS
  window: int = 8
  min_spans: int = 4
  k: float = 4.0
  min_change: float = 0.01
  severity: str = 'WARNING'


def robust_z(value: float, history: Sequence[float],
             min_change: float) -> Tuple[float, float, float]:
  """(score, median, spread) of ``value`` against ``history``."""
  median = pystats.median(history)
  mad = pystats.median(abs(h - median) for h in history)
  spread = max(1.4826 * mad, min_change * (abs(median) or 1.0))
  return abs(value - median) / spread, median, spread


def _value(row: Mapping[str, Any], metric: str) -> Optional[float]:
  value = row.get(metric)
  return None if value is None else float(value)


def check(current: Sequence[Mapping[str, Any]],
          history: Sequence[Mapping[str, Any]], span: str,
          spec: HistorySpec) -> Tuple[List[Dict], List[Dict]]:
  """(anomaly rows, measurement rows) for the span's whole-span features.

  ``current`` are this run's feature statistics rows; ``history`` the
  feature_stats rows of the same dataset and split (other spans).
  """
  if not spec.enabled:
    return [], []
  earlier = sorted({r['span'] for r in history if r['span'] < span})
  window = earlier[-spec.window:]
  if len(window) < spec.min_spans:
    return [], []
  past: Dict[str, Dict[str, Mapping]] = {}
  for r in history:
    if not r['slice'] and r['span'] in window:
      past.setdefault(r['feature'], {})[r['span']] = r
  described = f'{window[0]}..{window[-1]}'
  # The baseline of a history measurement is the window of spans it used.
  found = findings.Findings('history', {'span': described})
  seen_count = False
  for row in current:
    if row['slice']:
      continue
    for metric in spec.metrics:
      if metric == 'num_examples':
        if seen_count:  # one row count per span, not per feature
          continue
        seen_count = True
      if metric == 'mean' and row.get('kind') in arrow_types.TIME_KINDS:
        continue  # the mean of event times moves with every span
      value = _value(row, metric)
      series = [_value(r, metric) for s, r in sorted(past.get(
          row['feature'], {}).items())]
      series = [v for v in series if v is not None]
      if value is None or len(series) < spec.min_spans:
        continue
      score, median, spread = robust_z(value, series, spec.min_change)
      feature = '' if metric == 'num_examples' else row['feature']
      found.add(
          feature, f'ROBUST_Z_{metric.upper()}', score, spec.k,
          score > spec.k, ANOMALY_TYPES[metric], spec.severity,
          f'{metric} is {value:.6g}; over the last {len(series)} spans '
          f'({described}) its median was {median:.6g} with a robust spread '
          f'of {spread:.3g}: {score:.1f} robust z, above {spec.k:g}.')
  return found.rows()
