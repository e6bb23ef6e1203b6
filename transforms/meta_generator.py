"""``FeatureMetaGenerator``: the ``dv/*`` statistics of transforms/feature_meta.py
for TFDV's generators (stats.engine=tfdv).

A TFDV combiner statistics generator, so TFDV runs it for the whole span and
for every slice, and its output lands in the same ``stats.pb`` as
``custom_stats`` of each feature. It is a module of its own because it
subclasses a TFDV class: feature_meta.py (the names and the readers) is used
by the vectorized engine, which writes the same statistics itself
(transforms/engine/output.py) and must not import TFDV.
"""

from typing import Dict, Mapping, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_data_validation.statistics.generators import stats_generator
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx_bsl.arrow import array_util
from tfx_bsl.arrow import table_util
from tfx_bsl.sketches import KmvSketch

from transforms import arrow_types
from transforms import histograms
from transforms.feature_meta import (
    DISTINCT, DISTINCT_SKETCH_SIZE, DOMAIN_INFO, EVENT_AFTER, EVENT_BEFORE,
    EVENT_FUTURE, EVENT_ROWS, KIND, NOW, VALUE_COUNTS, WINDOW_END,
    WINDOW_START, EventTimeSpec, Path)


class _Acc:
  __slots__ = ('counts', 'distinct', 'event', 'kinds')

  def __init__(self):
    # kinds of features the reader did not know in advance (tf.Example,
    # BigQuery rows), from their values
    self.kinds: Dict[Path, str] = {}
    # feature path -> {value: count}, or None once over the limit
    self.counts: Dict[Path, Optional[Dict[int, int]]] = {}
    # feature path -> KMV sketch of its distinct integer values
    self.distinct: Dict[Path, KmvSketch] = {}
    # rows with a time, before, after, in the future
    self.event = np.zeros(4, dtype=np.int64)


class FeatureMetaGenerator(stats_generator.CombinerStatsGenerator):
  """Kinds, time domains, small-integer value counts and event-time counts."""

  def __init__(self, kinds: Mapping[Path, str], max_categorical_values: int,
               event_time: Optional[EventTimeSpec] = None,
               name: str = 'FeatureMetaGenerator'):
    super().__init__(name)
    self._kinds = dict(kinds)
    self._max = max_categorical_values
    self._event = event_time
    self._counted = {path for path, k in self._kinds.items()
                     if k in (arrow_types.INT, arrow_types.BOOL)}

  def setup(self):
    # Runs where the combiners run (every worker): TFDV's standard histograms
    # from the vectorized function (transforms/histograms.py).
    histograms.install()

  def create_accumulator(self) -> _Acc:
    return _Acc()

  def add_input(self, acc: _Acc, record_batch: pa.RecordBatch) -> _Acc:
    for path, array in table_util.enumerate_arrays(
        record_batch, enumerate_leaves_only=True):
      name = tuple(path.steps())
      if name not in self._kinds and name not in acc.kinds:
        found = _kind_of_values(array)
        if found is None:
          continue
        acc.kinds[name] = found
      if name in self._counted or acc.kinds.get(name) in (arrow_types.INT,
                                                          arrow_types.BOOL):
        self._count(acc, name, array)
      if self._event is not None and name == (self._event.feature,):
        self._count_event_time(acc, array)
    return acc

  def _count(self, acc: _Acc, name: Path, array: pa.Array) -> None:
    flat, _ = array_util.flatten_nested(array)
    if pa.types.is_null(flat.type) or len(flat) == flat.null_count:
      acc.counts.setdefault(name, {})
      return
    present = flat.drop_null()
    if pa.types.is_integer(present.type):
      sketch = acc.distinct.get(name)
      if sketch is None:
        sketch = acc.distinct[name] = KmvSketch(DISTINCT_SKETCH_SIZE)
      sketch.AddValues(present)
    if name in acc.counts and acc.counts[name] is None:
      return  # already more distinct values than the limit
    counts = pc.value_counts(present)
    current = acc.counts.setdefault(name, {})
    for value, count in zip(counts.field('values').to_pylist(),
                            counts.field('counts').to_pylist()):
      current[value] = current.get(value, 0) + count
    if len(current) > self._max:
      acc.counts[name] = None

  def _count_event_time(self, acc: _Acc, array: pa.Array) -> None:
    flat, _ = array_util.flatten_nested(array)
    if pa.types.is_null(flat.type):
      return
    acc.event += self._event.count(
        flat.drop_null().to_numpy(zero_copy_only=False))

  def merge_accumulators(self, accs) -> _Acc:
    out = _Acc()
    for acc in accs:
      out.event += acc.event
      out.kinds.update(acc.kinds)
      for name, sketch in acc.distinct.items():
        if name not in out.distinct:  # a new one: inputs stay unchanged
          out.distinct[name] = KmvSketch(DISTINCT_SKETCH_SIZE)
        out.distinct[name].Merge(sketch)
      for name, counts in acc.counts.items():
        if name in out.counts and out.counts[name] is None:
          continue
        if counts is None:
          out.counts[name] = None
          continue
        merged = out.counts.setdefault(name, {})
        for value, count in counts.items():
          merged[value] = merged.get(value, 0) + count
        if len(merged) > self._max:
          out.counts[name] = None
    return out

  def extract_output(self, acc: _Acc
                     ) -> statistics_pb2.DatasetFeatureStatistics:
    out = statistics_pb2.DatasetFeatureStatistics()
    kinds = dict(acc.kinds)
    kinds.update(self._kinds)
    for name, feature_kind in sorted(kinds.items()):
      feature = out.features.add()
      feature.path.step.extend(name)
      _custom(feature, KIND).str = feature_kind
      time_format = arrow_types.time_format(feature_kind)
      if time_format:
        _custom(feature, DOMAIN_INFO).str = (
            f'time_domain {{integer_format: {time_format}}}')
      sketch = acc.distinct.get(name)
      if sketch is not None:
        _custom(feature, DISTINCT).num = float(sketch.Estimate())
      counts = acc.counts.get(name)
      if counts:
        histogram = _custom(feature, VALUE_COUNTS).rank_histogram
        for value, count in sorted(counts.items(), key=lambda kv: (-kv[1],
                                                                    kv[0])):
          bucket = histogram.buckets.add()
          bucket.label = str(value)
          bucket.sample_count = count
      if self._event is not None and name == (self._event.feature,):
        spec = self._event
        for key, value in ((EVENT_ROWS, acc.event[0]),
                           (EVENT_FUTURE, acc.event[3]),
                           (NOW, spec.now_us)):
          _custom(feature, key).num = float(value)
        if spec.window_start_us is not None:
          for key, value in ((EVENT_BEFORE, acc.event[1]),
                             (EVENT_AFTER, acc.event[2]),
                             (WINDOW_START, spec.window_start_us),
                             (WINDOW_END, spec.window_end_us)):
            _custom(feature, key).num = float(value)
    return out


def _kind_of_values(array: pa.Array) -> Optional[str]:
  flat, _ = array_util.flatten_nested(array)
  t = flat.type
  if pa.types.is_integer(t):
    return arrow_types.INT
  if pa.types.is_floating(t):
    return arrow_types.FLOAT
  if pa.types.is_binary(t) or pa.types.is_large_binary(t) or (
      pa.types.is_string(t) or pa.types.is_large_string(t)):
    return arrow_types.STRING
  return None


def _custom(feature, name: str) -> statistics_pb2.CustomStatistic:
  stat = feature.custom_stats.add()
  stat.name = name
  return stat
