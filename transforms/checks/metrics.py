"""Drift metrics TFDV does not have, computed from stored statistics.

All of them work on the quantile histograms TFDV already stores for every
numeric feature (``stats.num_quantiles_histogram_buckets`` equal-mass
buckets, 10 by default), so no data is re-read:

- ``WASSERSTEIN``: the earth mover's distance between the two distributions
  (the mean absolute difference of their quantile functions), divided by the
  baseline's standard deviation so that one threshold suits every feature.
  It sees a shift of location, of scale and of a tail alike, in the
  feature's own spread: 0.5 is a shift of half a standard deviation.
- ``QUANTILE_SHIFT``: the largest move of one of the baseline's deciles
  (its quantile histogram's interior boundaries), in baseline standard
  deviations. They are stored exactly (to the sketch's epsilon), so the
  baseline's side needs no interpolation.
- ``PSI``, the population stability index, over the bins cut at the
  baseline's quantiles: sum over bins of ``(a - e) * ln(a / e)`` with the
  span's share ``a`` and the baseline's share ``e`` (shares floored at 1e-4
  so an empty bin stays finite). Rule of thumb: < 0.1 stable, 0.1-0.25
  moderate, > 0.25 large shift.
- ``JENSEN_SHANNON_DIVERGENCE`` of the shares in the same bins (for
  numbers; for categories, of the value shares).

Shares inside a histogram bucket are taken as evenly spread, the usual
assumption when rebinning a histogram. Every numeric metric carries the same
sampling-noise test: the baseline bin whose share moved most must pass a
two-proportion z-test (``Measurement``), so a large distance on a few dozen
rows is reported, not flagged.
"""

import dataclasses
import math
from statistics import NormalDist
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

# Measured here from quantile histograms; numeric features only.
OWN_METRICS = ('PSI', 'WASSERSTEIN', 'QUANTILE_SHIFT')
ANOMALY_TYPES = {'PSI': 'POPULATION_STABILITY_INDEX_HIGH',
                 'WASSERSTEIN': 'NORMALIZED_WASSERSTEIN_DISTANCE_HIGH',
                 'QUANTILE_SHIFT': 'QUANTILE_SHIFT_HIGH',
                 # computed here where TFDV cannot (integers' value shares,
                 # nested features): the same reason types as TFDV's
                 'L_INFTY': 'COMPARATOR_L_INFTY_HIGH',
                 'JENSEN_SHANNON_DIVERGENCE':
                     'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH'}
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


def quantile_buckets(feature: statistics_pb2.FeatureNameStatistics
                     ) -> List[Bucket]:
  """The feature's quantile histogram as (low, high, count) buckets."""
  return _buckets(feature, statistics_pb2.Histogram.QUANTILES)


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
  """Interior cut points at the feature's deciles, duplicates removed.

  The boundaries of its quantile histogram (deciles with the default 10
  buckets). Tied values make TFDV merge buckets (diamonds' ``table``:
  43-55, 55-56, 56-56, ...): the boundaries stay true quantiles, whereas
  levels interpolated inside a wide bucket would cut where no value lies.
  """
  qs = _buckets(feature, statistics_pb2.Histogram.QUANTILES)
  return sorted({b[1] for b in qs[:-1]})


def population_stability_index(
    current: statistics_pb2.FeatureNameStatistics,
    baseline: statistics_pb2.FeatureNameStatistics) -> Optional[float]:
  """PSI of the span against the baseline on the baseline's decile bins.

  Both sides' shares come from their quantile histograms: equal-mass
  buckets follow the data where it is dense, whereas the equal-width
  histogram puts the whole body of a skewed feature (delays: -30 to 1,300
  minutes) in one or two buckets, and rebinning it guesses.
  """
  edges = decile_edges(baseline)
  cur = _buckets(current, statistics_pb2.Histogram.QUANTILES)
  base = _buckets(baseline, statistics_pb2.Histogram.QUANTILES)
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
  return distance / _scale(baseline, base)


def _scale(baseline: statistics_pb2.FeatureNameStatistics,
           base: Sequence[Bucket]) -> float:
  """The baseline's standard deviation; its range when that is 0 or unset,
  and 1 for a constant (any move of a constant is then in its units)."""
  scale = baseline.num_stats.std_dev
  if not scale or not math.isfinite(scale):
    lo = min(b[0] for b in base)
    hi = max(b[1] for b in base)
    scale = (hi - lo) or 1.0
  return scale


def quantile_shift(current: statistics_pb2.FeatureNameStatistics,
                   baseline: statistics_pb2.FeatureNameStatistics
                   ) -> Optional[float]:
  """The largest move of a baseline decile, in baseline std devs.

  At the levels of the baseline's interior quantile boundaries (its deciles
  with 10 buckets, where ties did not merge buckets), the span's quantile
  (read from its own quantile histogram) against the baseline's.
  """
  cur = _buckets(current, statistics_pb2.Histogram.QUANTILES)
  base = _buckets(baseline, statistics_pb2.Histogram.QUANTILES)
  if not cur or not base:
    return None
  total = sum(c for _, _, c in base)
  levels = np.cumsum([c for _, _, c in base])[:-1] / total
  if not len(levels):
    return None
  gaps = np.abs(quantile_function(cur, levels) -
                quantile_function(base, levels))
  return float(np.max(gaps)) / _scale(baseline, base)


def value_shares(feature: statistics_pb2.FeatureNameStatistics
                 ) -> Optional[Dict[str, float]]:
  """{value: count} of a feature: exact counts of a small-integer feature
  (feature_meta), else the rank histogram TFDV keeps for strings."""
  from transforms import feature_meta  # pylint: disable=g-import-not-at-top
  counts = feature_meta.value_counts(feature)
  if counts is not None:
    return counts
  if feature.HasField('string_stats'):
    buckets = feature.string_stats.rank_histogram.buckets
    if buckets:
      return {b.label: b.sample_count for b in buckets}
  return None


@dataclasses.dataclass(frozen=True)
class Measurement:
  """A distance, and whether sampling noise alone could explain it."""
  value: Optional[float]
  # The z-score of the largest per-value (per-bin) difference and the
  # critical z it is held against; None where no test applies.
  z: Optional[float] = None
  critical: Optional[float] = None
  sizes: Tuple[float, float] = (0.0, 0.0)

  @property
  def within_noise(self) -> bool:
    return (self.z is not None and self.critical is not None and
            self.z < self.critical)

  def noise_note(self) -> str:
    return (f'above the threshold but within sampling noise for '
            f'{self.sizes[0]:.0f} vs {self.sizes[1]:.0f} values (largest '
            f'difference z={self.z:.2f} < {self.critical:.2f})')


def compare_counts(current: Mapping[str, float], baseline: Mapping[str, float],
                   alpha: Optional[float]) -> Tuple[float, Optional[float],
                                                    Optional[float]]:
  """(L-infinity of the shares, z of the largest difference, critical z).

  The z-score is the two-proportion test of the value (or bin) whose shares
  differ most; the critical value is Bonferroni-corrected for the number of
  values at level ``alpha`` (None: no test).
  """
  a_total, b_total = sum(current.values()), sum(baseline.values())
  keys = set(current) | set(baseline)
  best, best_z = -1.0, None
  for key in keys:
    a, b = current.get(key, 0.0), baseline.get(key, 0.0)
    diff = abs(a / a_total - b / b_total)
    if diff > best:
      pooled = (a + b) / (a_total + b_total)
      se = math.sqrt(max(pooled * (1 - pooled), 0.0) *
                     (1 / a_total + 1 / b_total))
      best, best_z = diff, (diff / se if se > 0 else math.inf)
  critical = None
  if alpha:
    critical = NormalDist().inv_cdf(
        1 - alpha / (2 * max(len(keys), 1)))
  return float(best), best_z, critical


def _jsd(p: np.ndarray, q: np.ndarray) -> float:
  """Jensen-Shannon divergence (log base 2, in [0, 1]) of two share vectors."""
  p = p / p.sum()
  q = q / q.sum()
  m = (p + q) / 2

  def kl(a):
    nz = a > 0
    return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

  return max(0.0, (kl(p) + kl(q)) / 2)


def decile_counts(current: statistics_pb2.FeatureNameStatistics,
                  baseline: statistics_pb2.FeatureNameStatistics
                  ) -> Optional[Tuple[Dict[str, float], Dict[str, float]]]:
  """How many values of each side fall in the baseline's decile bins.

  Bins are cut at the baseline's interior deciles (as PSI's), so an outlier
  that stretches a histogram's range moves nothing, and a constant that
  changes (1 -> 7) puts all values in another bin.
  """
  edges = decile_edges(baseline)
  cur = _buckets(current, statistics_pb2.Histogram.QUANTILES)
  base = _buckets(baseline, statistics_pb2.Histogram.QUANTILES)
  if not edges or not cur or not base:
    return None
  a_total = sum(c for _, _, c in cur)
  b_total = sum(c for _, _, c in base)
  a = bin_shares(cur, edges) * a_total
  b = bin_shares(base, edges) * b_total
  return ({str(i): float(v) for i, v in enumerate(a)},
          {str(i): float(v) for i, v in enumerate(b)})


_NUMERIC = {'PSI': population_stability_index,
            'WASSERSTEIN': normalized_wasserstein,
            'QUANTILE_SHIFT': quantile_shift}


def measure(metric: str, current, baseline,
            alpha: Optional[float] = None) -> Measurement:
  """``metric`` of two FeatureNameStatistics (value None when they lack what
  it needs), with a sampling-noise test for the share-based metrics.

  L_INFTY: value shares (exact counts of small-integer features, the rank
  histogram of strings). JENSEN_SHANNON_DIVERGENCE: value shares, or for
  numbers the shares in the baseline's decile bins. PSI, WASSERSTEIN,
  QUANTILE_SHIFT: from the quantile histograms (module docstring), with the
  noise test of the decile bins.
  """
  if metric in _NUMERIC:
    value = _NUMERIC[metric](current, baseline)
    binned = decile_counts(current, baseline)
    if value is None or binned is None:
      return Measurement(value)
    # The same noise test as Jensen-Shannon's: the baseline decile bin
    # whose share moved most.
    a, b = binned
    _, z, critical = compare_counts(a, b, alpha)
    return Measurement(value, z, critical, (sum(a.values()),
                                            sum(b.values())))
  a, b = value_shares(current), value_shares(baseline)
  if metric == 'L_INFTY':
    if a is None or b is None or not sum(a.values()) or not sum(b.values()):
      return Measurement(None)
    binned = (decile_counts(current, baseline)
              if current.HasField('num_stats') and
              baseline.HasField('num_stats') else None)
    if binned is None:
      value, z, critical = compare_counts(a, b, alpha)
      return Measurement(value, z, critical, (sum(a.values()),
                                              sum(b.values())))
    # Counted integers are ordered: a shift spread over many values (a
    # month's temperatures, 26-31 days a side) moves no single value's
    # share beyond noise, but moves the decile bins. Either test may show
    # it, each at alpha / 2.
    half = alpha / 2 if alpha else alpha
    value, z, critical = compare_counts(a, b, half)
    _, z_bins, critical_bins = compare_counts(*binned, half)
    if critical is not None and z_bins / critical_bins > z / critical:
      z, critical = z_bins, critical_bins
    return Measurement(value, z, critical, (sum(a.values()),
                                            sum(b.values())))
  if metric == 'JENSEN_SHANNON_DIVERGENCE':
    if a is None or b is None:
      binned = decile_counts(current, baseline)
      if binned is None:
        return Measurement(None)
      a, b = binned
    if not sum(a.values()) or not sum(b.values()):
      return Measurement(None)
    keys = sorted(set(a) | set(b))
    value = _jsd(np.array([a.get(k, 0.0) for k in keys]),
                 np.array([b.get(k, 0.0) for k in keys]))
    _, z, critical = compare_counts(a, b, alpha)
    return Measurement(value, z, critical, (sum(a.values()),
                                            sum(b.values())))
  raise ValueError(metric)


_NAMES = {
    'PSI': 'The population stability index',
    'WASSERSTEIN': 'The normalized Wasserstein distance',
    'QUANTILE_SHIFT': ('The largest shift of a baseline quantile (in '
                       'baseline standard deviations)'),
    'L_INFTY': 'The largest difference of value shares (L-infinity)',
    'JENSEN_SHANNON_DIVERGENCE': 'The Jensen-Shannon divergence',
}


def describe(metric: str, value: float, threshold: float,
             baseline: dict) -> str:
  return (f'{_NAMES[metric]} between the span and {baseline.get("split")} '
          f'span {baseline.get("span")} is {value:.4g}, above the threshold '
          f'{threshold:g}.')

