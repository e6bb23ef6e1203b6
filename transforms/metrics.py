"""Drift metrics TFDV does not have, computed from stored statistics.

Both work on the histograms TFDV already stores for every numeric feature, so
no data is re-read:

- ``PSI``, the population stability index, over ten bins cut at the
  baseline's deciles (its quantiles histogram): sum over bins of
  ``(a - e) * ln(a / e)`` with the span's share ``a`` and the baseline's share
  ``e`` (shares floored at 1e-4 so an empty bin stays finite). Rule of thumb:
  < 0.1 stable, 0.1-0.25 moderate, > 0.25 large shift.
- ``WASSERSTEIN``: the earth mover's distance between the two distributions
  (the mean absolute difference of their quantile functions), divided by the
  baseline's standard deviation so that one threshold suits every feature.

Shares inside a histogram bucket are taken as evenly spread, the usual
assumption when rebinning a histogram.
"""

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

OWN_METRICS = ('PSI', 'WASSERSTEIN')
ANOMALY_TYPES = {'PSI': 'POPULATION_STABILITY_INDEX_HIGH',
                 'WASSERSTEIN': 'NORMALIZED_WASSERSTEIN_DISTANCE_HIGH'}
_FLOOR = 1e-4

Bucket = Tuple[float, float, float]  # low, high, count


def _buckets(feature: statistics_pb2.FeatureNameStatistics,
             kind: int) -> List[Bucket]:
  if not feature.HasField('num_stats'):
    return []
  for h in feature.num_stats.histograms:
    if h.type == kind:
      return [(b.low_value, b.high_value, b.sample_count) for b in h.buckets
              if b.sample_count > 0 and math.isfinite(b.low_value) and
              math.isfinite(b.high_value)]
  return []


def cdf(buckets: Sequence[Bucket], x: float) -> float:
  """Share of the histogram's mass at or below ``x`` (even spread per bucket)."""
  total = sum(c for _, _, c in buckets)
  if not total:
    return 0.0
  below = 0.0
  for low, high, count in buckets:
    if x >= high:
      below += count
    elif x > low:
      below += count * (x - low) / (high - low)
  return below / total


def bin_shares(buckets: Sequence[Bucket], edges: Sequence[float]
               ) -> np.ndarray:
  """Shares of the histogram in (-inf, e1], (e1, e2], ..., (ek, inf)."""
  points = [0.0] + [cdf(buckets, e) for e in edges] + [1.0]
  return np.diff(np.array(points))


def psi(expected: Sequence[float], actual: Sequence[float],
        floor: float = _FLOOR) -> float:
  """Population stability index of ``actual`` shares against ``expected``."""
  e = np.maximum(np.asarray(expected, dtype=float), floor)
  a = np.maximum(np.asarray(actual, dtype=float), floor)
  return float(np.sum((a - e) * np.log(a / e)))


def decile_edges(feature: statistics_pb2.FeatureNameStatistics
                 ) -> List[float]:
  """Interior cut points at the feature's deciles, duplicates removed."""
  qs = _buckets(feature, statistics_pb2.Histogram.QUANTILES)
  edges = sorted({b[1] for b in qs[:-1]})
  return edges


def population_stability_index(
    current: statistics_pb2.FeatureNameStatistics,
    baseline: statistics_pb2.FeatureNameStatistics) -> Optional[float]:
  """PSI of the span against the baseline on the baseline's decile bins."""
  edges = decile_edges(baseline)
  cur = _buckets(current, statistics_pb2.Histogram.STANDARD)
  base = _buckets(baseline, statistics_pb2.Histogram.STANDARD)
  if not edges or not cur or not base:
    return None
  return psi(bin_shares(base, edges), bin_shares(cur, edges))


def quantile_function(buckets: Sequence[Bucket], levels: np.ndarray
                      ) -> np.ndarray:
  """The histogram's inverse CDF at ``levels`` (linear inside buckets)."""
  total = sum(c for _, _, c in buckets)
  xs, ps = [buckets[0][0]], [0.0]
  run = 0.0
  for low, high, count in buckets:
    if low > xs[-1]:  # a gap between buckets holds no mass
      xs.append(low)
      ps.append(run / total)
    run += count
    xs.append(high)
    ps.append(run / total)
  return np.interp(levels, ps, xs)


def normalized_wasserstein(
    current: statistics_pb2.FeatureNameStatistics,
    baseline: statistics_pb2.FeatureNameStatistics,
    points: int = 1001) -> Optional[float]:
  """Earth mover's distance between the two, over the baseline's std dev."""
  cur = _buckets(current, statistics_pb2.Histogram.QUANTILES)
  base = _buckets(baseline, statistics_pb2.Histogram.QUANTILES)
  if not cur or not base:
    return None
  levels = (np.arange(points) + 0.5) / points
  distance = float(np.mean(np.abs(quantile_function(cur, levels) -
                                  quantile_function(base, levels))))
  scale = baseline.num_stats.std_dev
  if not scale or not math.isfinite(scale):
    lo = min(b[0] for b in base)
    hi = max(b[1] for b in base)
    scale = (hi - lo) or 1.0
  return distance / scale


def measure(metric: str, current, baseline) -> Optional[float]:
  """``metric`` (one of OWN_METRICS) of two FeatureNameStatistics."""
  if metric == 'PSI':
    return population_stability_index(current, baseline)
  if metric == 'WASSERSTEIN':
    return normalized_wasserstein(current, baseline)
  raise ValueError(metric)


def describe(metric: str, value: float, threshold: float,
             baseline: dict) -> str:
  name = ('The population stability index' if metric == 'PSI' else
          'The normalized Wasserstein distance')
  return (f'{name} between the span and {baseline.get("split")} span '
          f'{baseline.get("span")} is {value:.4g}, above the threshold '
          f'{threshold:g}.')

