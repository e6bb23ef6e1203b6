"""TFDV's equal-width histogram, computed with arrays instead of a Python loop.

For every numeric feature of every dataset (the span and each slice) TFDV
1.16 turns ~1,000 quantile buckets into the 10-bucket standard histogram
(``quantiles_util.generate_equi_width_histogram``): it first builds a
1,000-bucket proto, then walks it with a Python call per bucket. That costs
~9 ms per (dataset, feature), which is nothing for one dataset and ~12 s of a
100-slice pass over 13 numeric features. ``equi_width_histogram`` returns the
same proto (bucket bounds and counts equal to the last bit; tests compare the
two on many inputs) from the same arrays in well under a millisecond.

``install()`` makes TFDV's statistics generators use it. It is installed only
for the TFDV version it was checked against; any other version keeps TFDV's
own function.
"""

import numpy as np
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import quantiles_util
from tensorflow_metadata.proto.v0 import statistics_pb2

# The TFDV version whose function this reproduces (the pinned stack).
CHECKED_TFDV = '1.16.1'
_ORIGINAL = quantiles_util.generate_equi_width_histogram


def _overlaps(low: np.ndarray, high: np.ndarray, low_bounds: np.ndarray,
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
  quantiles, cumulative_counts, num_neg_inf = quantiles_util._strip_infinities(  # pylint: disable=protected-access
      quantiles, cumulative_counts, finite_max, num_pos_inf)
  low, high, weights = quantiles_util._get_bin_weights(  # pylint: disable=protected-access
      quantiles, cumulative_counts)
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
  parts = _overlaps(low, high, boundaries[:-1], boundaries[1:]) * weights
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


def install() -> bool:
  """Makes TFDV use ``equi_width_histogram``; False on another TFDV version."""
  if tfdv.__version__ != CHECKED_TFDV:
    return False
  quantiles_util.generate_equi_width_histogram = equi_width_histogram
  return True


def original():
  """TFDV's own function (for the tests that compare the two)."""
  return _ORIGINAL
