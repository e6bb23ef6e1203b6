"""Statistics: TFDV or the engine over RecordBatches, and statistics protos
as table rows.

TFDV is imported only by the functions of stats.engine=tfdv (``stats_options``
and ``ComputeStatistics`` without an engine): the vectorized pass, and every
job that only reads statistics, runs without TFDV and TensorFlow.
"""

import copy
import dataclasses
import datetime as dt
import hashlib
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Mapping,
                    Optional, Sequence, Union)

import apache_beam as beam
import numpy as np
import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx_bsl.statistics import merge_util

from transforms import arrow_types
from transforms import feature_meta
from transforms import slicing
from transforms.engine import combine as engine_combine
from transforms.engine import state as engine_state
from transforms.errors import UserError

if TYPE_CHECKING:
  import tensorflow_data_validation as tfdv  # pylint: disable=g-bad-import-order

# TFDV's name for the slice that holds every example.
OVERALL_SLICE = 'All Examples'

# Sketch sizes of stats.top_values=sketch: top values are exact for features
# with at most MISRA_GRIES_SIZE distinct values, distinct counts up to KMV_SIZE.
MISRA_GRIES_SIZE = 1024
KMV_SIZE = 65536

# How many pieces TFDV's final merge is split into when slicing (see
# stats_options).
RESULT_PARTITIONS = 16

SliceSpec = Union[str, Sequence[str], Mapping[str, Optional[Sequence[Any]]]]


@dataclasses.dataclass(frozen=True)
class PrivacySpec:
  """How raw values may appear in warehouse rows (see conf/privacy)."""
  # A top value seen fewer times than this in the span is not written: a rare
  # value can single out a person.
  min_value_count: int = 10
  # Features whose values are written only as salted hashes.
  hashed_features: Sequence[str] = ()
  salt: str = ''

  def value(self, feature: str, raw: str) -> str:
    if feature in self.hashed_features:
      return hash_value(raw, self.salt)
    return raw


def hash_value(raw: str, salt: str = '') -> str:
  """A short, stable, salted digest that stands in for a raw value."""
  digest = hashlib.sha256((salt + '\x00' + raw).encode('utf-8')).hexdigest()
  return 'sha256:' + digest[:16]


def slice_functions(slices: Sequence[SliceSpec], columns: Sequence[str],
                    key: str = 'dataset.slices') -> list:
  """TFDV slice functions for the configured slices.

  Each entry is a feature name (one slice per value), a list of names (one per
  combination of values), or a mapping of names to the values to keep.
  """
  functions = []
  for i, entry in enumerate(slices):
    if isinstance(entry, str):
      features = {entry: None}
    elif isinstance(entry, Mapping):
      features = {k: (list(v) if v is not None else None)
                  for k, v in entry.items()}
    else:
      features = {name: None for name in entry}
    if not features:
      raise UserError(f'{key}[{i}]: empty slice')
    for name in features:
      if columns and name not in columns:
        raise UserError(f'{key}[{i}]: no feature {name!r} in the data '
                        f'(columns: {", ".join(list(columns)[:20])})')
    functions.append(slicing.feature_value_slicer(features))
  return functions


def stats_options(*, num_top_values: int, num_rank_histogram_buckets: int,
                  num_histogram_buckets: int,
                  num_quantiles_histogram_buckets: int, epsilon: float,
                  sample_rate: Optional[float] = None,
                  sketch_top_values: bool = True,
                  label_feature: Optional[str] = None,
                  slices: Sequence[SliceSpec] = (),
                  columns: Sequence[str] = (),
                  generators: Sequence[Any] = ()) -> 'tfdv.StatsOptions':
  """Builds TFDV's StatsOptions from config values (stats.engine=tfdv).

  ``generators`` are TFDV combiner generators run beside TFDV's own, for the
  whole span and every slice (``meta_generator.FeatureMetaGenerator``).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv
  from tensorflow_data_validation.statistics.generators import basic_stats_generator
  from tensorflow_data_validation.statistics.generators import top_k_uniques_sketch_stats_generator
  # pylint: enable=g-import-not-at-top
  # Booleans arrive as 0/1 integers and get numeric statistics (the mean is
  # the share of true), as in TFDV's own dataframe helper.
  functions = slice_functions(slices, columns)
  generators = list(generators)
  if sketch_top_values:
    # TFDV's own generators, with a KMV sketch of 65536 hashes instead of
    # TFDV's fixed 16384: distinct counts of 2M unique ids came out 1.5% off
    # with 16384 (standard error 1/sqrt(k): 0.8% -> 0.4%). The sketches
    # merge in the combiner instead of shuffling a record per value.
    generators = [
        basic_stats_generator.BasicStatsGenerator(
            num_histogram_buckets=num_histogram_buckets,
            num_quantiles_histogram_buckets=num_quantiles_histogram_buckets,
            epsilon=epsilon),
        top_k_uniques_sketch_stats_generator.TopKUniquesSketchStatsGenerator(
            num_top_values=num_top_values,
            num_rank_histogram_buckets=num_rank_histogram_buckets,
            num_misragries_buckets=MISRA_GRIES_SIZE,
            num_kmv_buckets=KMV_SIZE),
    ] + generators
  return tfdv.StatsOptions(
      generators=generators or None,
      # With sketches, the generators above replace TFDV's defaults.
      add_default_generators=not sketch_top_values,
      label_feature=label_feature or None,
      sample_rate=sample_rate,
      num_top_values=num_top_values,
      num_rank_histogram_buckets=num_rank_histogram_buckets,
      num_histogram_buckets=num_histogram_buckets,
      num_quantiles_histogram_buckets=num_quantiles_histogram_buckets,
      epsilon=epsilon,
      experimental_slice_functions=functions or None,
      # TFDV merges its per-slice outputs with a Beam combiner that
      # re-serializes the growing result every 10 inputs: quadratic in the
      # number of slices (8.5 s of a 600k-row pass with 100 slices). Split by
      # feature into partitions, each merge is small; ComputeStatistics
      # joins the partitions once.
      experimental_result_partitions=RESULT_PARTITIONS if functions else 1)


@dataclasses.dataclass
class EngineStatsOptions:
  """What the vectorized engine takes of TFDV's StatsOptions, under the same
  names, built without TFDV: the slice functions and the sample rate."""
  experimental_slice_functions: Optional[List[Callable]] = None
  sample_rate: Optional[float] = None


def engine_stats_options(*, sample_rate: Optional[float] = None,
                         slices: Sequence[SliceSpec] = (),
                         columns: Sequence[str] = ()) -> EngineStatsOptions:
  """``stats_options`` for stats.engine=vectorized: the same slice functions
  and sample rate, without importing TFDV."""
  return EngineStatsOptions(
      experimental_slice_functions=slice_functions(slices, columns) or None,
      sample_rate=sample_rate)


class ComputeStatistics(beam.PTransform):
  """RecordBatches of a span in, one ``DatasetFeatureStatisticsList`` out.

  The list holds one ``DatasetFeatureStatistics`` for the whole span (named
  ``All Examples``) and one per configured slice value. ``engine``
  (stats.engine=vectorized) computes them with transforms/engine instead of
  TFDV's generators, with the slice functions and sample rate of
  ``options`` (TFDV's StatsOptions or ``EngineStatsOptions``).
  """

  def __init__(self, options: Union['tfdv.StatsOptions', EngineStatsOptions],
               engine: Optional[engine_state.EngineOptions] = None):
    super().__init__()
    self._engine = engine
    # TFDV's own sample_rate keeps or drops whole batches (100k rows each by
    # default), so a small span could come out empty; rows are sampled here
    # instead.
    self._sample_rate = options.sample_rate
    self._options = copy.copy(options)
    self._options.sample_rate = None

  def expand(self, batches):
    if self._sample_rate is not None and self._sample_rate < 1:
      batches |= 'SampleRows' >> beam.ParDo(
          _SampleRowsFn(self._sample_rate)).with_output_types(pa.RecordBatch)
    if self._engine is not None:
      return batches | 'VectorizedStatistics' >> engine_combine.ComputeStatistics(
          self._engine, self._options.experimental_slice_functions)
    import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
    stats = batches | 'GenerateStatistics' >> tfdv.GenerateStatistics(
        self._options)
    if self._options.experimental_result_partitions > 1:
      stats |= 'JoinPartitions' >> beam.CombineGlobally(_JoinPartitionsFn())
    return stats


class _JoinPartitionsFn(beam.CombineFn):
  """One DatasetFeatureStatisticsList from TFDV's result partitions.

  Merged once at the end (not every few inputs), then sorted: datasets by
  name, features by path, so the file is the same whatever order the
  partitions arrive in.
  """

  def create_accumulator(self):
    return []

  def add_input(self, acc, stats):
    acc.append(stats)
    return acc

  def merge_accumulators(self, accs):
    return [s for acc in accs for s in acc]

  def extract_output(self, acc):
    merged = merge_util.merge_dataset_feature_statistics_list(acc)
    datasets = sorted(merged.datasets, key=lambda d: d.name)
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for dataset in datasets:
      copy_ = out.datasets.add()
      copy_.CopyFrom(dataset)
      features = sorted(copy_.features, key=feature_path)
      del copy_.features[:]
      copy_.features.extend(features)
    return out


class _SampleRowsFn(beam.DoFn):
  """Keeps each row of a RecordBatch with probability ``rate`` (Bernoulli)."""

  def __init__(self, rate: float):
    self._rate = rate
    self._rng = None

  def setup(self):
    self._rng = np.random.default_rng()

  def process(self, batch: pa.RecordBatch):
    keep = self._rng.random(batch.num_rows) < self._rate
    if keep.any():
      yield batch.filter(pa.array(keep))


# ----------------------------------------------------------------------------
# Statistics protos as rows


def feature_path(feature: statistics_pb2.FeatureNameStatistics) -> str:
  if feature.HasField('path'):
    return '.'.join(feature.path.step)
  return feature.name


def _type_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
  return statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)


def _quantiles(num: statistics_pb2.NumericStatistics) -> List[float]:
  for h in num.histograms:
    if h.type == statistics_pb2.Histogram.QUANTILES and h.buckets:
      return [b.low_value for b in h.buckets] + [h.buckets[-1].high_value]
  return []


def common_stats(feature) -> Optional[statistics_pb2.CommonStatistics]:
  kind = feature.WhichOneof('stats')
  if kind == 'num_stats':
    return feature.num_stats.common_stats
  if kind == 'string_stats':
    return feature.string_stats.common_stats
  if kind == 'bytes_stats':
    return feature.bytes_stats.common_stats
  if kind == 'struct_stats':
    return feature.struct_stats.common_stats
  return None


def slice_name(dataset: statistics_pb2.DatasetFeatureStatistics) -> str:
  """'' for the whole span, else TFDV's slice key (e.g. ``sex_Female``)."""
  return '' if dataset.name in ('', OVERALL_SLICE) else dataset.name


def feature_rows(stats: statistics_pb2.DatasetFeatureStatisticsList,
                 privacy: PrivacySpec) -> List[Dict[str, Any]]:
  """One row per (slice, feature): the feature statistics history table.

  Top values rarer than ``privacy.min_value_count`` are left out, and values
  of ``privacy.hashed_features`` are replaced by salted hashes.
  """
  rows = []
  for dataset in stats.datasets:
    n = dataset.num_examples
    for feature in dataset.features:
      name = feature_path(feature)
      common = common_stats(feature)
      present = common.num_non_missing if common else 0
      missing = common.num_missing if common else 0
      kind = feature_meta.kind_of(feature)  # None for older statistics
      row = {
          'slice': slice_name(dataset),
          'feature': name,
          'type': _type_name(feature),
          'num_examples': n,
          'num_present': present,
          'num_missing': missing,
          'missing_rate': (missing / n) if n else None,
          'min_num_values': common.min_num_values if common else None,
          'max_num_values': common.max_num_values if common else None,
          'avg_num_values': common.avg_num_values if common else None,
          'mean': None, 'std_dev': None, 'min': None, 'max': None,
          'median': None, 'num_zeros': None, 'quantiles': [],
          'unique': None, 'avg_length': None, 'top_values': [],
          'kind': kind, 'earliest': None, 'latest': None,
      }
      if feature.HasField('num_stats') and present:
        num = feature.num_stats
        # Time kinds keep the stored unit here (microseconds or days since
        # 1970); earliest and latest say it as timestamps.
        row.update(mean=num.mean, std_dev=num.std_dev, min=num.min,
                   max=num.max, median=num.median, num_zeros=num.num_zeros,
                   quantiles=_quantiles(num))
        if kind in arrow_types.TIME_KINDS:
          row.update(earliest=_as_time(kind, num.min),
                     latest=_as_time(kind, num.max))
      elif feature.HasField('string_stats'):
        s = feature.string_stats
        row.update(unique=s.unique, avg_length=s.avg_length,
                   top_values=[
                       {'value': privacy.value(name, tv.value),
                        'count': tv.frequency}
                       for tv in s.top_values
                       if tv.frequency >= privacy.min_value_count])
      rows.append(row)
  return rows


def _as_time(kind: str, value: float) -> Optional[dt.datetime]:
  """A stored time value as an aware UTC datetime; None if out of range."""
  try:
    return feature_meta.as_time(kind, value)
  except (OverflowError, ValueError):
    return None


def time_text(kind: Optional[str], when: Optional[dt.datetime]) -> str:
  """An earliest/latest value for people: a date, or a UTC time to the second
  (the caller says UTC once)."""
  if when is None:
    return '–'
  if when.tzinfo is not None:
    when = when.astimezone(dt.timezone.utc)
  if kind == arrow_types.DATE:
    return when.strftime('%Y-%m-%d')
  return when.strftime('%Y-%m-%d %H:%M:%S')


def time_ranges(dataset: statistics_pb2.DatasetFeatureStatistics
                ) -> List[Dict[str, Any]]:
  """{feature, kind, earliest, latest} of each time feature with values."""
  out = []
  for feature in dataset.features:
    kind = feature_meta.kind_of(feature)
    if kind not in arrow_types.TIME_KINDS or not feature.HasField('num_stats'):
      continue
    if not feature.num_stats.common_stats.num_non_missing:
      continue
    out.append({'feature': feature_path(feature), 'kind': kind,
                'earliest': _as_time(kind, feature.num_stats.min),
                'latest': _as_time(kind, feature.num_stats.max)})
  return out


def overall(stats: statistics_pb2.DatasetFeatureStatisticsList
           ) -> statistics_pb2.DatasetFeatureStatistics:
  """The whole-span entry of a statistics list."""
  for dataset in stats.datasets:
    if slice_name(dataset) == '':
      return dataset
  raise ValueError('statistics hold no whole-span entry')
