"""The size of a change in the feature's own units, in words.

A drift or skew distance (0.21 of Jensen-Shannon, a PSI of 0.3) says that a
feature moved, not how. These sentences say it in the feature's units, from
the statistics both spans already store (no data is re-read), baseline
first, this span second:

- numbers: ``mean 35.6 -> 80.1; median 37 -> 79; share above the
  baseline's p90 (48) 10% -> 100%`` (or below its p10, whichever tail moved
  more). The mean and median are TFDV's; the percentiles and shares come
  from the quantiles histograms (``metrics.quantile_function`` /
  ``metrics.cdf``, values spread evenly inside a bucket), so they are as
  approximate as those histograms;
- categories (strings, and integers whose values were all counted): the
  value whose share moved most, ``share of 'Gentoo' 74% -> 0%``;
- any feature: ``missing 76% -> 89%`` when the missing share reads
  differently.

Privacy follows the warehouse's rules (``statistics.PrivacySpec``): values of
``privacy.hashed_features`` (the PII scan's finds included) appear only as
salted hashes, and a value seen fewer than ``privacy.min_value_count`` times
on a side where it occurs is not named. Without privacy rules no value is
named.
"""

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms.checks import metrics
from transforms import statistics

_ARROW = '->'


def number(x: float) -> str:
  """A value in the feature's units: 3 significant digits, no exponent up
  to a billion, thousands grouped."""
  if not math.isfinite(x):
    return str(x)
  a = abs(x)
  if a >= 1e9 or (0 < a < 1e-4):
    return f'{x:.3g}'
  if a >= 1000:
    return f'{x:,.0f}'
  if a >= 100:
    return f'{x:.0f}'
  return f'{x:.3g}'


def share(s: float) -> str:
  """A share as a percentage: whole percents from 10%, two significant
  digits below (0.43%, 6.9%)."""
  pct = 100 * s
  if pct >= 10 or pct == 0:
    return f'{pct:.0f}%'
  return f'{pct:.2g}%'


def _missing_share(feature: statistics_pb2.FeatureNameStatistics
                   ) -> Optional[float]:
  common = statistics.common_stats(feature)
  if common is None:
    return None
  total = common.num_missing + common.num_non_missing
  return common.num_missing / total if total else None


def _missing_words(current, baseline) -> List[str]:
  now, then = _missing_share(current), _missing_share(baseline)
  if now is None or then is None or share(now) == share(then):
    return []
  return [f'missing {share(then)} {_ARROW} {share(now)}']


def _quantile_buckets(feature) -> List[Tuple[float, float, float]]:
  """(low, high, count) of the quantiles histogram, finite and non-empty."""
  for h in feature.num_stats.histograms:
    if h.type == statistics_pb2.Histogram.QUANTILES:
      return [(b.low_value, b.high_value, b.sample_count) for b in h.buckets
              if b.sample_count > 0 and math.isfinite(b.low_value) and
              math.isfinite(b.high_value)]
  return []


def _present(feature) -> bool:
  return bool(feature.HasField('num_stats') and
              feature.num_stats.common_stats.num_non_missing)


def numeric_words(current: statistics_pb2.FeatureNameStatistics,
                  baseline: statistics_pb2.FeatureNameStatistics
                  ) -> List[str]:
  """Mean, median and the tail that moved more, baseline -> this span."""
  if not (_present(current) and _present(baseline)):
    return []
  now, then = current.num_stats, baseline.num_stats
  words = [f'mean {number(then.mean)} {_ARROW} {number(now.mean)}',
           f'median {number(then.median)} {_ARROW} {number(now.median)}']
  base, cur = _quantile_buckets(baseline), _quantile_buckets(current)
  if base and cur:
    p10, p90 = metrics.quantile_function(base, np.array([0.1, 0.9]))
    tails = [
        ('above', 'p90', p90, 1 - metrics.cdf(base, p90),
         1 - metrics.cdf(cur, p90)),
        ('below', 'p10', p10, metrics.cdf(base, p10), metrics.cdf(cur, p10)),
    ]
    side, name, cut, was, is_now = max(tails, key=lambda t: abs(t[4] - t[3]))
    words.append(f'share {side} the baseline\'s {name} ({number(cut)}) '
                 f'{share(was)} {_ARROW} {share(is_now)}')
  return words


def _named(feature: str, value: str, counts: Sequence[float],
           privacy: Optional[statistics.PrivacySpec]) -> Optional[str]:
  """How ``value`` may be written, or None when it may not be named."""
  if privacy is None:
    return None
  if any(0 < c < privacy.min_value_count for c in counts):
    return None
  if feature in privacy.hashed_features:
    return f'<{privacy.value(feature, value)}>'
  return f"'{value}'"


def categorical_words(name: str,
                      current: statistics_pb2.FeatureNameStatistics,
                      baseline: statistics_pb2.FeatureNameStatistics,
                      privacy: Optional[statistics.PrivacySpec]
                      ) -> List[str]:
  """The share of the value that moved most, baseline -> this span."""
  now, then = metrics.value_shares(current), metrics.value_shares(baseline)
  if not now or not then:
    return []
  n_now, n_then = sum(now.values()), sum(then.values())
  if not n_now or not n_then:
    return []
  moved = max(sorted(set(now) | set(then)), key=lambda v: abs(
      now.get(v, 0.0) / n_now - then.get(v, 0.0) / n_then))
  was, is_now = then.get(moved, 0.0) / n_then, now.get(moved, 0.0) / n_now
  shown = _named(name, str(moved), (then.get(moved, 0.0),
                                    now.get(moved, 0.0)), privacy)
  if shown is None:
    why = ('privacy.min_value_count' if privacy is not None else
           'no privacy rules given')
    shown = f'one value (not named: {why})'
  return [f'share of {shown} {share(was)} {_ARROW} {share(is_now)}']


def describe(name: str, current: statistics_pb2.FeatureNameStatistics,
             baseline: statistics_pb2.FeatureNameStatistics,
             privacy: Optional[statistics.PrivacySpec]) -> str:
  """The change of feature ``name`` in its units ('' when nothing to say)."""
  words: List[str] = []
  if metrics.value_shares(current) is not None and (
      metrics.value_shares(baseline) is not None):
    words += categorical_words(name, current, baseline, privacy)
    if _present(current) and _present(baseline):  # counted integers
      words.append(f'mean {number(baseline.num_stats.mean)} {_ARROW} '
                   f'{number(current.num_stats.mean)}')
  else:
    words += numeric_words(current, baseline)
  words += _missing_words(current, baseline)
  return '; '.join(words)


def _by_slice(stats) -> Dict[Tuple[str, str], Any]:
  return {(statistics.slice_name(d), statistics.feature_path(f)): f
          for d in stats.datasets for f in d.features}


def annotate(stats: statistics_pb2.DatasetFeatureStatisticsList,
             baseline: statistics_pb2.DatasetFeatureStatisticsList,
             anomalies: Sequence[Dict[str, Any]],
             measurements: Sequence[Dict[str, Any]],
             privacy: Optional[statistics.PrivacySpec]) -> None:
  """Adds the change in words to drift/skew rows, in place.

  Anomaly rows with a distance get it after their description; measured
  rows (a value) get it as their ``note``, after any note already there
  (e.g. "within sampling noise").
  """
  now, then = _by_slice(stats), _by_slice(baseline)
  cache: Dict[Tuple[str, str], str] = {}

  def words(row: Mapping[str, Any]) -> str:
    key = (row.get('slice') or '', row.get('feature') or '')
    if key not in cache:
      c, b = now.get(key), then.get(key)
      cache[key] = (describe(key[1], c, b, privacy)
                    if c is not None and b is not None else '')
    return cache[key]

  for row in anomalies:
    if row.get('metric') and row.get('feature'):
      said = words(row)
      if said:
        row['description'] = (f'{row["description"]} Change (baseline '
                              f'{_ARROW} this span): {said}.')
  for row in measurements:
    if row.get('value') is not None and row.get('feature'):
      said = words(row)
      if said:
        note = row.get('note')
        row['note'] = f'{note}; {said}' if note else said
