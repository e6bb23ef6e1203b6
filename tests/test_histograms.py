"""The vectorized equal-width histogram equals TFDV's, bucket for bucket.

Inputs come from tfx_bsl's quantile sketch as TFDV's statistics generator
uses it (1,000 quantiles, eps 0.01), over distributions with ties, point
masses, infinities, one value, and weights.
"""

import numpy as np
import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import quantiles_util
from tfx_bsl import sketches

from transforms import histograms


def _sketch_inputs(values, weights=None):
  values = np.asarray(values, dtype=np.float64)
  finite = values[np.isfinite(values)]
  sketch = sketches.QuantilesSketch(0.01, 1 << 32, 1)
  if weights is None:
    sketch.AddValues(pa.array(values))
  else:
    sketch.AddValues(pa.array(values), pa.array(weights, pa.float64()))
  quantiles, counts = sketch.GetQuantilesAndCumulativeWeights(1000)
  quantiles = np.asarray(quantiles.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
  counts = np.asarray(counts.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
  return (quantiles, counts,
          float(finite.min()) if finite.size else float('inf'),
          float(finite.max()) if finite.size else float('-inf'),
          float(np.sum(values == np.inf)))


def _cases():
  rng = np.random.default_rng(0)
  yield 'normal', rng.normal(size=50_000), None
  yield 'lognormal', rng.lognormal(0, 2, 50_000), None
  yield 'few values', rng.integers(0, 4, 20_000).astype(float), None
  yield 'point mass at min', np.r_[np.zeros(9_000), rng.random(1_000)], None
  yield 'point mass inside', np.r_[np.full(5_000, 0.3), rng.random(5_000)], None
  yield 'one value', np.full(100, 7.0), None
  yield 'one row', np.array([2.5]), None
  yield 'infinities', np.r_[rng.normal(size=5_000), [np.inf] * 30,
                            [-np.inf] * 20], None
  yield 'only infinities', np.array([np.inf, -np.inf, np.inf]), None
  yield 'huge range', np.r_[rng.normal(size=1_000), [1e300, -1e300]], None
  yield 'weighted', rng.exponential(size=10_000), rng.random(10_000) * 3
  yield 'integers 0/1', rng.integers(0, 2, 30_000).astype(float), None
  for seed in range(20):
    r = np.random.default_rng(100 + seed)
    n = int(r.integers(1, 20_000))
    yield f'mixture {seed}', np.round(r.normal(size=n) * r.integers(1, 5),
                                      int(r.integers(0, 3))), None


@pytest.mark.parametrize('name, values, weights', list(_cases()))
@pytest.mark.parametrize('num_buckets', [10, 3])
def test_equal_to_tfdv(name, values, weights, num_buckets):
  quantiles, counts, low, high, pos_inf = _sketch_inputs(values, weights)
  ours = histograms.equi_width_histogram(quantiles, counts, low, high,
                                         num_buckets, pos_inf)
  theirs = histograms.original()(quantiles, counts, low, high, num_buckets,
                                 pos_inf)
  assert ours == theirs, name  # protos: every bound and count, exactly
  assert len(ours.buckets) >= 1 or name == 'huge range'


def test_installed_for_the_checked_tfdv_only():
  try:
    assert histograms.install() == (tfdv.__version__ ==
                                    histograms.CHECKED_TFDV)
    if tfdv.__version__ == histograms.CHECKED_TFDV:
      assert (quantiles_util.generate_equi_width_histogram is
              histograms.equi_width_histogram)
  finally:
    quantiles_util.generate_equi_width_histogram = histograms.original()
