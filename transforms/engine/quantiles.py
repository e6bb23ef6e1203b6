"""TFDV's histograms from quantiles, without TFDV (so without TensorFlow).

The same arithmetic as ``tensorflow_data_validation.utils.quantiles_util``
(TFDV 1.16): the quantiles histogram, its re-binning, the median and the
equal-width histogram interpolated from fine quantiles. Results are equal to
TFDV's to the last bit on the same inputs (tests/test_histograms.py and
tests/test_engine.py compare them).
"""

from typing import Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2


def find_median(quantiles: np.ndarray) -> float:
  n = len(quantiles)
  assert n > 0
  middle = int(n / 2)
  if n % 2 == 0:
    return (quantiles[middle - 1] + quantiles[middle]) / 2.0
  return quantiles[middle]


def bin_weights(boundaries: np.ndarray, cumulative: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(lows, highs, weights) of the bins between quantile boundaries; the
  weight of bins with the same upper bound is spread evenly over them, and
  the weight at the first boundary over the leading identical bins."""
  cumulative = cumulative.astype(np.float64)
  low, high = boundaries[:-1], boundaries[1:]
  counts = np.diff(cumulative)
  if low.size:
    starts = np.flatnonzero(np.r_[True, high[1:] != high[:-1]])
    lengths = np.diff(np.r_[starts, low.size])
    if (lengths > 1).any():
      # Sums of runs shorter than 8 in order (as numpy's sum adds them);
      # longer runs with numpy's pairwise sum, as TFDV computes them.
      sums = np.add.reduceat(counts, starts)
      for i in np.flatnonzero(lengths >= 8).tolist():
        sums[i] = counts[starts[i]:starts[i] + lengths[i]].sum()
      counts = np.repeat(sums / lengths, lengths)
    same = (low == low[0]) & (high == high[0])
    lead = int(np.argmin(same)) if not same.all() else low.size
    counts[0:lead] += cumulative[0] / lead
  return low, high, counts


def rebin(quantiles: np.ndarray, cumulative: np.ndarray,
          factor: int) -> Tuple[np.ndarray, np.ndarray]:
  """Every ``factor``-th boundary (TFDV's ``rebin_quantiles``)."""
  if (cumulative.size - 1) % factor:
    raise ValueError(f'Reduction factor {factor} must divide size '
                     f'{cumulative.size - 1}')
  return (np.concatenate([[quantiles[0]], quantiles[factor::factor]]),
          np.concatenate([[cumulative[0]], cumulative[factor::factor]]))


def quantiles_histogram(quantiles: np.ndarray, cumulative: np.ndarray
                        ) -> statistics_pb2.Histogram:
  result = statistics_pb2.Histogram(type=statistics_pb2.Histogram.QUANTILES)
  low, high, weights = bin_weights(quantiles, cumulative)
  for lo, hi, w in zip(low.tolist(), high.tolist(), weights.tolist()):
    result.buckets.add(low_value=lo, high_value=hi, sample_count=w)
  return result


def _strip_infinities(quantiles: np.ndarray, cumulative: np.ndarray,
                      finite_max: float, num_pos_inf: float):
  neg = np.searchsorted(quantiles, float('-inf'), side='right')
  if neg:
    num_neg_inf = cumulative[neg - 1]
    cumulative = cumulative[neg:] - num_neg_inf
    quantiles = quantiles[neg:]
  else:
    num_neg_inf = 0
  if num_pos_inf:
    pos = np.searchsorted(quantiles, float('inf'), side='left')
    finite_max_count = cumulative[-1] - num_pos_inf
    quantiles = np.concatenate([quantiles[:pos], np.array([finite_max])])
    cumulative = np.concatenate([cumulative[:pos],
                                 np.array([finite_max_count])])
  return quantiles, cumulative, num_neg_inf


def overlaps(low: np.ndarray, high: np.ndarray, low_bounds: np.ndarray,
             high_bounds: np.ndarray) -> np.ndarray:
  """The share of each bucket [low, high] inside each interval.

  One row per interval [low_bounds[i], high_bounds[i]], one column per
  bucket. The cases, their order and their formulas are TFDV's ``_overlap``.
  """
  low, high = low[np.newaxis, :], high[np.newaxis, :]
  low_bound, high_bound = low_bounds[:, np.newaxis], high_bounds[:, np.newaxis]
  first = np.zeros((len(low_bounds), 1), dtype=bool)
  first[0] = True
  point = (low == high) & (low == low_bound)
  with np.errstate(divide='ignore', invalid='ignore'):
    width = high - low
    conditions = [
        point & first,  # a point at the left edge of the first interval
        point,  # ... of a later interval: it belongs to the one before
        high < low_bound,  # entirely before
        low > high_bound,  # entirely after
        (low_bound <= low) & (high_bound >= high),  # contained
        low_bound <= low,  # the interval overlaps the bucket's left part
        high_bound >= high,  # ... its right part
        (low_bound > low) & (high_bound < high),  # inside the bucket
    ]
    choices = [1.0, 0.0, 0.0, 0.0, 1.0, (high_bound - low) / width,
               (high - low_bound) / width, (high_bound - low_bound) / width]
    overlap = np.select(conditions, choices, default=np.nan)
  if np.isnan(overlap).any():
    raise ValueError('Unable to compute the overlap of a histogram bucket')
  return overlap


def equi_width_histogram(quantiles: np.ndarray, cumulative_counts: np.ndarray,
                         finite_min: float, finite_max: float,
                         num_buckets: int,
                         num_pos_inf: float) -> statistics_pb2.Histogram:
  """Same arguments and result as TFDV's ``generate_equi_width_histogram``."""
  result = statistics_pb2.Histogram()
  result.type = statistics_pb2.Histogram.STANDARD
  if not np.isfinite(finite_min) and not np.isfinite(finite_max):
    result.buckets.add(low_value=finite_min, high_value=finite_max,
                       sample_count=cumulative_counts[-1])
    return result
  assert np.isfinite(finite_min)
  assert np.isfinite(finite_max)
  assert np.all(quantiles[:-1] <= quantiles[1:])
  quantiles, cumulative_counts, num_neg_inf = _strip_infinities(
      quantiles, cumulative_counts, finite_max, num_pos_inf)
  low, high, weights = bin_weights(quantiles, cumulative_counts)
  # TFDV keeps these in a proto's double fields: same values.
  low, high, weights = (np.asarray(a, dtype=np.float64)
                        for a in (low, high, weights))
  if finite_min == finite_max:
    boundaries = np.array([finite_min, finite_max])
  else:
    boundaries = np.linspace(finite_min, finite_max, num_buckets + 1)
    if not np.isfinite(boundaries).all():
      return result  # overflow: TFDV returns an empty histogram too
  if num_neg_inf:
    result.buckets.add(low_value=float('-inf'), high_value=float('-inf'),
                       sample_count=num_neg_inf)
  parts = overlaps(low, high, boundaries[:-1], boundaries[1:]) * weights
  for i in range(boundaries.size - 1):
    sample_count = 0
    for part in parts[i][parts[i] != 0].tolist():  # TFDV's order of additions
      sample_count += part
    result.buckets.add(low_value=boundaries[i], high_value=boundaries[i + 1],
                       sample_count=sample_count)
  if num_pos_inf:
    result.buckets.add(low_value=float('inf'), high_value=float('inf'),
                       sample_count=num_pos_inf)
  return result
