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

**Daily spans and the week.** Daily data has a weekly rhythm (a Saturday
has a fifth fewer flights than a weekday), and eight mixed days are the
wrong baseline for a Saturday. When the span and its earlier spans are
dates (``2013-01-26``, ``20130126``), the history holds at least
``weekly_min_weeks`` earlier values on the span's weekday and values on
other weekdays, and the series shows a weekly pattern, the value is
compared with the same weekday only: the median of that weekday over the
last ``weekly_weeks`` weeks. The spread is the typical error of that
same-weekday model on the history itself (each earlier value against the
median of the *other* values of its weekday, leave-one-out, so the model is
judged on values it did not see), floored like above. The pattern is shown
when that typical error is at most ``weekly_max_error_ratio`` times the
flat model's (each value against the median of all the others): the
weekday explains the series better than its overall level. Why a
same-weekday median rather than a fitted seasonal model (Holt-Winters,
STL): it needs three values per weekday instead of several seasons, a
holiday or an incident in the history moves a median little, and its
verdict reads in one line ("on the last 3 Saturdays its median was 690").
Each metric of each feature decides on its own: the row count of daily
flights has a strong weekly pattern (same-weekday error 0.29-0.67 of the
flat one over the fourth week of January 2013), their missing rates none
(0.97-1.45), so a Monday with 6.9% of a feature missing is still measured
against the last eight days.

Partition keys (``transforms/checks/partition_keys.py``) have no mean
compared: theirs moves with every span by design.
"""

import dataclasses
import datetime as dt
import statistics as pystats
from typing import (Any, Collection, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

from transforms import arrow_types
from transforms.checks import findings
from transforms.io import span_order

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
  # Partition keys (partition_keys.py): recognized from this many earlier
  # spans (fewer when the span names say the values).
  partition_keys: bool = True
  partition_key_min_spans: int = 2
  # Daily spans: compare with the same weekday when the history shows a
  # weekly pattern (module docstring).
  weekly: bool = True
  weekly_min_weeks: int = 3
  weekly_weeks: int = 8
  weekly_max_error_ratio: float = 0.75


def robust_z(value: float, history: Sequence[float],
             min_change: float) -> Tuple[float, float, float]:
  """(score, median, spread) of ``value`` against ``history``."""
  median = pystats.median(history)
  mad = pystats.median(abs(h - median) for h in history)
  spread = max(1.4826 * mad, min_change * (abs(median) or 1.0))
  return abs(value - median) / spread, median, spread


_DAY_US = 86_400_000_000


def span_date(span: Any) -> Optional[dt.date]:
  """The day a span's name is (``2013-01-26`` or ``20130126``), or None
  (months and years are not days)."""
  window = span_order.span_window(str(span))
  if window is None or window[1] - window[0] != _DAY_US:
    return None
  return (dt.datetime(1970, 1, 1) +
          dt.timedelta(microseconds=window[0])).date()


def _typical_error(errors: Sequence[float]) -> Optional[float]:
  if not errors:
    return None
  return 1.4826 * pystats.median(abs(e) for e in errors)


@dataclasses.dataclass(frozen=True)
class Weekly:
  """The same-weekday comparison of one value, when the history shows it."""
  median: float
  spread: float
  values: int            # earlier values on the span's weekday used
  weekday: str           # 'Saturday'
  error_ratio: float     # same-weekday model's typical error / flat model's


def weekly(day: dt.date, series: Sequence[Tuple[dt.date, float]],
           spec: HistorySpec) -> Optional[Weekly]:
  """The same-weekday comparison for the value of ``day``, or None when the
  dated ``series`` (earlier days, any order) cannot show a weekly pattern or
  does not: then the flat window is the baseline."""
  if not spec.weekly:
    return None
  start = day - dt.timedelta(weeks=spec.weekly_weeks)
  points = [(d, v) for d, v in series if start <= d < day]
  same = [v for d, v in points if d.weekday() == day.weekday()]
  others = {d.weekday() for d, _ in points} - {day.weekday()}
  if len(same) < spec.weekly_min_weeks or len(others) < 2:
    return None
  by_weekday: Dict[int, List[Tuple[dt.date, float]]] = {}
  for d, v in points:
    by_weekday.setdefault(d.weekday(), []).append((d, v))
  seasonal, flat = [], []
  for d, v in points:
    rest = [u for e, u in by_weekday[d.weekday()] if e != d]
    if len(rest) >= 2:
      seasonal.append(v - pystats.median(rest))
    flat.append(v - pystats.median([u for e, u in points if e != d]))
  seasonal_error, flat_error = _typical_error(seasonal), _typical_error(flat)
  if seasonal_error is None or not flat_error:
    return None
  ratio = seasonal_error / flat_error
  if ratio > spec.weekly_max_error_ratio:
    return None
  median = pystats.median(same)
  spread = max(seasonal_error, spec.min_change * (abs(median) or 1.0))
  return Weekly(median, spread, len(same), day.strftime('%A'), ratio)


def _value(row: Mapping[str, Any], metric: str) -> Optional[float]:
  value = row.get(metric)
  return None if value is None else float(value)


def check(current: Sequence[Mapping[str, Any]],
          history: Sequence[Mapping[str, Any]], span: str,
          spec: HistorySpec, partition_keys: Collection[str] = ()
          ) -> Tuple[List[Dict], List[Dict]]:
  """(anomaly rows, measurement rows) for the span's whole-span features.

  ``current`` are this run's feature statistics rows; ``history`` the
  feature_stats rows of the same dataset and split (other spans);
  ``partition_keys`` features whose mean is not compared.
  """
  if not spec.enabled:
    return [], []
  mine = span_order.sort_key(span)
  earlier = span_order.ordered({r['span'] for r in history
                                if span_order.sort_key(r['span']) < mine})
  window = earlier[-spec.window:]
  day = span_date(span)
  # Daily spans: the same-weekday lookback reaches further than the window.
  dated = [s for s in earlier if day is not None and span_date(s) is not None
           and span_date(s) >= day - dt.timedelta(weeks=spec.weekly_weeks)]
  if len(window) < spec.min_spans and len(dated) < spec.weekly_min_weeks:
    return [], []
  looked_at = set(window) | set(dated)
  past: Dict[str, Dict[str, Mapping]] = {}
  for r in history:
    if not r['slice'] and r['span'] in looked_at:
      past.setdefault(r['feature'], {})[r['span']] = r
  described = f'{window[0]}..{window[-1]}' if window else ''
  # The baseline of a history measurement is the window of spans it used.
  found = findings.Findings('history', {'span': described})
  by_weekday = findings.Findings('history', {
      'span': f'{dated[0]}..{dated[-1]} (same weekday)' if dated else ''})
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
      if metric == 'mean' and row['feature'] in partition_keys:
        continue  # so does a partition key's (reported as such)
      value = _value(row, metric)
      if value is None:
        continue
      by_span = past.get(row['feature'], {})
      feature = '' if metric == 'num_examples' else row['feature']
      same_day = None
      if day is not None:
        series = [(span_date(s), _value(r, metric))
                  for s, r in by_span.items() if s in dated]
        same_day = weekly(day, [(d, v) for d, v in series if v is not None],
                          spec)
      if same_day is not None:
        score = abs(value - same_day.median) / same_day.spread
        by_weekday.add(
            feature, f'ROBUST_Z_{metric.upper()}', score, spec.k,
            score > spec.k, ANOMALY_TYPES[metric], spec.severity,
            f'{metric} is {value:.6g}; on the last {same_day.values} '
            f'{same_day.weekday}s its median was {same_day.median:.6g}, and '
            f'comparing each day with its own weekday errs by '
            f'{same_day.spread:.3g} typically ({same_day.error_ratio:.2f} of '
            f'the error of one level for all days: a weekly pattern): '
            f'{score:.1f} robust z, {"above" if score > spec.k else "within"}'
            f' {spec.k:g}.')
        continue
      series = [_value(by_span[s], metric) for s in window if s in by_span]
      series = [v for v in series if v is not None]
      if len(series) < spec.min_spans:
        continue
      score, median, spread = robust_z(value, series, spec.min_change)
      found.add(
          feature, f'ROBUST_Z_{metric.upper()}', score, spec.k,
          score > spec.k, ANOMALY_TYPES[metric], spec.severity,
          f'{metric} is {value:.6g}; over the last {len(series)} spans '
          f'({described}) its median was {median:.6g} with a robust spread '
          f'of {spread:.3g}: {score:.1f} robust z, above {spec.k:g}.')
  return (found.anomalies + by_weekday.anomalies,
          found.measurements + by_weekday.measurements)
