"""The engine in a Beam pipeline: RecordBatches in, TFDV's statistics out.

``ComputeStatistics`` cuts each batch into its slices (the whole span is the
slice ``All Examples``), combines per slice with one ``CombineFn`` over all
features (``SliceStatsFn``: its accumulator is a ``SliceState``, carried
between workers as ``SliceState.to_bytes``, so Beam's combiner lifting runs
it before the shuffle on Dataflow and Flink) and gathers the slices into one
``DatasetFeatureStatisticsList``, datasets by name and features by path.
"""

from typing import Callable, Iterable, Optional, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms.engine import output
from transforms.engine import state as st

# TFDV's name for the slice that holds every example.
OVERALL_SLICE = 'All Examples'


class SliceStateCoder(beam.coders.Coder):
  """A ``SliceState`` as its compact bytes (sketches and arrays)."""

  def encode(self, value: st.SliceState) -> bytes:
    return value.to_bytes()

  def decode(self, encoded: bytes) -> st.SliceState:
    return st.SliceState.from_bytes(encoded)

  def is_deterministic(self) -> bool:
    return False

  def __eq__(self, other):
    return type(self) is type(other)

  def __hash__(self):
    return hash(type(self))


class SliceStatsFn(beam.CombineFn):
  """RecordBatches of one slice in, its ``DatasetFeatureStatistics`` out."""

  def __init__(self, options: st.EngineOptions):
    super().__init__()
    self._options = options

  def create_accumulator(self) -> st.SliceState:
    return st.SliceState()

  def add_input(self, acc: st.SliceState, batch: pa.RecordBatch
                ) -> st.SliceState:
    acc.update(batch, self._options)
    return acc

  def merge_accumulators(self, accs: Iterable[st.SliceState]
                         ) -> st.SliceState:
    accs = iter(accs)
    out = next(accs)
    for acc in accs:
      out.merge(acc, self._options)
    return out

  def extract_output(self, acc: st.SliceState
                     ) -> statistics_pb2.DatasetFeatureStatistics:
    return output.dataset_statistics(acc, self._options, '')

  def get_accumulator_coder(self):
    return SliceStateCoder()


class _SliceFn(beam.DoFn):
  """(slice key, batch) for the whole span and every slice of a batch."""

  def __init__(self, slice_functions: Sequence[Callable]):
    super().__init__()
    self._functions = list(slice_functions)

  def process(self, batch: pa.RecordBatch
              ) -> Iterable[Tuple[str, pa.RecordBatch]]:
    # TFDV names the whole span only when there are slices.
    yield OVERALL_SLICE if self._functions else '', batch
    for function in self._functions:
      yield from function(batch)


def _named(key: str, stats: statistics_pb2.DatasetFeatureStatistics
           ) -> statistics_pb2.DatasetFeatureStatistics:
  stats.name = key
  return stats


class _ListFn(beam.CombineFn):
  """Every slice's statistics as one list, datasets in name order."""

  def create_accumulator(self):
    return []

  def add_input(self, acc, stats):
    acc.append(stats)
    return acc

  def merge_accumulators(self, accs):
    return [s for acc in accs for s in acc]

  def extract_output(self, acc):
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for stats in sorted(acc, key=lambda d: d.name):
      out.datasets.add().CopyFrom(stats)
    return out


class ComputeStatistics(beam.PTransform):
  """RecordBatches (TFDV form) of a span in, one
  ``DatasetFeatureStatisticsList`` out: ``All Examples`` and one dataset per
  slice value, as TFDV's ``GenerateStatistics`` names them.

  ``slice_functions``: TFDV-style slice functions (batch -> (key, batch)
  pairs), e.g. ``statistics.slice_functions``.
  """

  def __init__(self, options: st.EngineOptions,
               slice_functions: Optional[Sequence[Callable]] = None):
    super().__init__()
    self._options = options
    self._functions = list(slice_functions or ())

  def expand(self, batches):
    return (batches
            | 'Slice' >> beam.ParDo(_SliceFn(self._functions))
            | 'CombinePerSlice' >> beam.CombinePerKey(
                SliceStatsFn(self._options))
            | 'Name' >> beam.MapTuple(_named)
            | 'ToList' >> beam.CombineGlobally(_ListFn()))


def statistics_in_memory(batches: Iterable[pa.RecordBatch],
                         options: st.EngineOptions,
                         slice_functions: Sequence[Callable] = ()
                         ) -> statistics_pb2.DatasetFeatureStatisticsList:
  """The same statistics without Beam (tests, notebooks, benchmarks)."""
  states = {}
  slicer = _SliceFn(slice_functions)
  for batch in batches:
    for key, part in slicer.process(batch):
      states.setdefault(key, st.SliceState()).update(part, options)
  return _ListFn().extract_output([
      output.dataset_statistics(s, options, key)
      for key, s in states.items()])
