"""A ``SliceState`` as TFDV's ``DatasetFeatureStatistics``.

Field by field what TFDV 1.16's ``BasicStatsGenerator``, its top-k/uniques
generators and this project's ``FeatureMetaGenerator`` write (see
``transforms/feature_meta.py`` for the ``dv/*`` custom statistics), so that
schema inference, validation, drift, the report and Facets read the same
proto whichever engine made it.
"""

from typing import Optional

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms import arrow_types
from transforms import stats_names
from transforms.engine import quantiles as q
from transforms.engine import state as st

# TFDV computes this many times more quantiles than the histograms have
# buckets, and derives both histograms and the median from them.
QUANTILES_FACTOR = 100


def dataset_statistics(state: st.SliceState, options: st.EngineOptions,
                       name: str) -> statistics_pb2.DatasetFeatureStatistics:
  """The statistics of one slice (``name``: TFDV's slice key), features in
  path order."""
  out = statistics_pb2.DatasetFeatureStatistics(
      name=name, num_examples=state.num_examples)
  kinds = {path: s.kind for path, s in state.features.items() if s.kind}
  kinds.update(options.kinds)
  paths = set(state.features) | set(kinds)
  for path in sorted(paths, key='.'.join):
    feature = out.features.add()
    feature.path.step.extend(path)
    s = state.features.get(path)
    if s is not None:
      _basic(feature, s, state.features.get(path[:-1]) if len(path) > 1
             else None, state.num_examples, options)
    _meta(feature, s, kinds.get(path), options)
  return out


def _basic(feature: statistics_pb2.FeatureNameStatistics, s: st.FeatureState,
           parent: Optional[st.FeatureState], num_examples: int,
           options: st.EngineOptions) -> None:
  feature.type = s.type if s.type is not None else st.STRING
  common = statistics_pb2.CommonStatistics()
  common.num_non_missing = s.non_missing
  # A struct's field is missing from a struct value that lacks it.
  if len(feature.path.step) > 1:
    common.num_missing = (parent.total_values if parent else 0) - s.non_missing
  else:
    common.num_missing = num_examples - s.non_missing
  if s.non_missing:
    common.tot_num_values = s.total_values
    common.min_num_values = s.min_values
    common.max_num_values = s.max_values
    common.avg_num_values = s.total_values / s.non_missing
    values, counts = zip(*sorted(s.lengths.items()))
    bounds, cumulative = _exact_quantiles(np.array(values, np.float64),
                                          np.array(counts, np.int64),
                                          options.num_values_histogram_buckets)
    common.num_values_histogram.CopyFrom(
        q.quantiles_histogram(bounds, cumulative))
  if feature.type == st.STRING:
    text = feature.string_stats
    text.common_stats.CopyFrom(common)
    if s.total_values:
      text.avg_length = s.text_bytes / s.total_values
    text.invalid_utf8_count = s.invalid_utf8
    _top_values(text, s, options)
  elif feature.type == st.STRUCT:
    feature.struct_stats.common_stats.CopyFrom(common)
  else:
    feature.num_stats.common_stats.CopyFrom(common)
    _numbers(feature.num_stats, s, options)


def _numbers(num: statistics_pb2.NumericStatistics, s: st.FeatureState,
             options: st.EngineOptions) -> None:
  if not s.n:
    if s.nan:
      for kind in (statistics_pb2.Histogram.STANDARD,
                   statistics_pb2.Histogram.QUANTILES):
        num.histograms.add(type=kind).num_nan = s.nan
    return
  num.mean = float(s.mean)
  num.std_dev = float(np.sqrt(max(0.0, s.m2 / s.n)))
  num.num_zeros = s.zeros
  num.min, num.max = s.min, s.max
  fine = QUANTILES_FACTOR * options.num_quantiles_histogram_buckets
  if s.exact is not None:
    bounds, cumulative = _exact_quantiles(s.exact[0].astype(np.float64),
                                          s.exact[1], fine)
  else:
    bounds, cumulative = kll_quantiles(s.kll, fine)
  num.median = float(q.find_median(bounds))
  standard = q.equi_width_histogram(bounds, cumulative, s.finite_min,
                                    s.finite_max,
                                    options.num_histogram_buckets, s.pos_inf)
  standard.num_nan = s.nan
  num.histograms.add().CopyFrom(standard)
  quantile = q.quantiles_histogram(*q.rebin(bounds, cumulative,
                                            QUANTILES_FACTOR))
  quantile.num_nan = s.nan
  num.histograms.add().CopyFrom(quantile)


def kll_quantiles(kll, num: int):
  """``num`` + 1 boundaries at ranks i/num and how many values are at most
  each: what TFDV's ``GetQuantilesAndCumulativeWeights(num)`` returns (the
  same numbers while the sketch holds every value)."""
  ranks = [i / num for i in range(num + 1)]
  bounds = np.array(kll.get_quantiles(ranks, inclusive=False),
                    dtype=np.float64)
  # The ends are the least and greatest values, also once the sketch is
  # approximate (as in TFDV's sketch).
  bounds[0], bounds[-1] = kll.get_min_value(), kll.get_max_value()
  unique, inverse = np.unique(bounds, return_inverse=True)
  cdf = np.array(kll.get_cdf(unique.tolist(), inclusive=True)[:-1])
  cumulative = np.rint(cdf * kll.n)[inverse]
  return bounds, cumulative


def _exact_quantiles(values: np.ndarray, counts: np.ndarray, num: int):
  """Boundaries at ranks i/num of an exactly counted distribution, as TFDV's
  sketch gives them when exact: the value at sorted position
  floor(i * n / num), and how many values are at most each."""
  n = int(counts.sum())
  ends = np.cumsum(counts)
  positions = np.minimum(np.floor(np.arange(num + 1) * n / num), n - 1)
  index = np.searchsorted(ends, positions, side='right')
  return values[index], ends[index].astype(np.float64)


def _label(value) -> str:
  if isinstance(value, bytes):
    try:
      return value.decode('utf-8')
    except UnicodeDecodeError:
      return st.NON_UTF8_PLACEHOLDER
  return str(value)


def _top_values(text: statistics_pb2.StringStatistics, s: st.FeatureState,
                options: st.EngineOptions) -> None:
  if s.text_counts is not None:
    if not s.text_counts:
      return
    text.unique = len(s.text_counts)
    pairs = list(s.text_counts.items())
  else:
    text.unique = int(round(s.hll.estimate()))
    estimate = s.mg.Estimate()
    pairs = list(zip(estimate.field(0).to_pylist(),
                     [int(round(c)) for c in estimate.field(1).to_pylist()]))
  # TFDV's order: by count, then by value, both descending.
  pairs.sort(key=lambda p: (p[1], p[0]), reverse=True)
  for i, (value, count) in enumerate(
      pairs[:max(options.num_top_values, options.num_rank_histogram_buckets)]):
    label = _label(value)
    if i < options.num_top_values:
      text.top_values.add(value=label, frequency=count)
    if i < options.num_rank_histogram_buckets:
      text.rank_histogram.buckets.add(low_rank=i, high_rank=i, label=label,
                                      sample_count=count)


def _meta(feature: statistics_pb2.FeatureNameStatistics,
          s: Optional[st.FeatureState], kind: Optional[str],
          options: st.EngineOptions) -> None:
  """The ``dv/*`` custom statistics (``meta_generator.FeatureMetaGenerator``)."""
  if kind is None:
    return

  def custom(name):
    return feature.custom_stats.add(name=name)

  custom(stats_names.KIND).str = kind
  time_format = arrow_types.time_format(kind)
  if time_format:
    custom(stats_names.DOMAIN_INFO).str = (
        f'time_domain {{integer_format: {time_format}}}')
  exact = s.exact if s is not None else None
  if kind == arrow_types.INT and s is not None and s.type is not None:
    # as the TFDV path's dv/distinct (feature_meta): exact while counted
    distinct = (len(exact[0]) if exact is not None else
                s.num_hll.estimate() if s.num_hll is not None else None)
    if distinct is not None:
      custom(stats_names.DISTINCT).num = float(distinct)
  if (kind in (arrow_types.INT, arrow_types.BOOL) and exact is not None and
      0 < len(exact[0]) <= options.max_categorical_values):
    histogram = custom(stats_names.VALUE_COUNTS).rank_histogram
    pairs = zip(exact[0].tolist(), exact[1].tolist())
    for value, count in sorted(pairs, key=lambda kv: (-kv[1], kv[0])):
      histogram.buckets.add(label=str(value), sample_count=count)
  spec = options.event_time
  if spec is not None and tuple(feature.path.step) == (spec.feature,):
    event = s.event if s is not None and s.event is not None else np.zeros(
        4, np.int64)
    for name, value in ((stats_names.EVENT_ROWS, event[0]),
                        (stats_names.EVENT_FUTURE, event[3]),
                        (stats_names.NOW, spec.now_us)):
      custom(name).num = float(value)
    if spec.window_start_us is not None:
      for name, value in ((stats_names.EVENT_BEFORE, event[1]),
                          (stats_names.EVENT_AFTER, event[2]),
                          (stats_names.WINDOW_START, spec.window_start_us),
                          (stats_names.WINDOW_END, spec.window_end_us)):
        custom(name).num = float(value)
