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

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import quantiles_util

# The function itself lives with the statistics engine, which must not import
# TFDV; it is the same function for both engines.
from transforms.engine.quantiles import equi_width_histogram  # pylint: disable=unused-import

# The TFDV version whose function this reproduces (the pinned stack).
CHECKED_TFDV = '1.16.1'
_ORIGINAL = quantiles_util.generate_equi_width_histogram


def install() -> bool:
  """Makes TFDV use ``equi_width_histogram``; False on another TFDV version."""
  if tfdv.__version__ != CHECKED_TFDV:
    return False
  quantiles_util.generate_equi_width_histogram = equi_width_histogram
  return True


def original():
  """TFDV's own function (for the tests that compare the two)."""
  return _ORIGINAL
