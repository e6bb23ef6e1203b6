"""The engine's state: what one slice of a span has seen, small and mergeable.

``SliceState`` holds the number of examples and one ``FeatureState`` per
feature path (top-level columns, struct arrays and their fields, as TFDV
enumerates them). ``update`` takes one TFDV-form RecordBatch (every column a
``large_list`` of int64, float64, large_binary or struct); every statistic
is computed column-wise with pyarrow.compute and numpy, never row by row.
``merge`` adds two states; ``to_bytes`` / ``from_bytes`` carry a state
between workers as sketch bytes and numpy arrays behind a small JSON header.

A feature's state:
- presence: examples with a value list, the least / most / total values per
  list, and exact counts of list lengths (the ``num_values_histogram``);
- numbers: count, mean and sum of squared deviations (merged with Chan et
  al.'s pairwise formula), min / max (and finite ones), zeros, NaN, +inf,
  exact value counts while at most ``exact_numbers`` distinct values (exact
  quantiles; the ``dv/value_counts`` of int/bool features), then a KLL
  sketch of the values;
- text: total length, invalid UTF-8 values, exact value counts while at most
  ``exact_values`` distinct values, then a Misra-Gries sketch and a
  HyperLogLog (``sketches.py`` states their error bounds).
"""

import dataclasses
import json
import struct
import zlib
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import kll_doubles_sketch
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx_bsl import sketches as tfx_sketches
from tfx_bsl.arrow import array_util
from tfx_bsl.arrow import table_util

from transforms import arrow_types
from transforms import stats_names
from transforms.engine import sketches

Path = Tuple[str, ...]

INT = statistics_pb2.FeatureNameStatistics.INT
FLOAT = statistics_pb2.FeatureNameStatistics.FLOAT
STRING = statistics_pb2.FeatureNameStatistics.STRING
STRUCT = statistics_pb2.FeatureNameStatistics.STRUCT

# TFDV's names for values its top values cannot show (tensorflow_data_validation
# constants; the Misra-Gries sketch is given the same ones).
NON_UTF8_PLACEHOLDER = '__BYTES_VALUE__'
LARGE_BYTES_PLACEHOLDER = '__LARGE_BYTES__'
LARGE_STRING_THRESHOLD = 1024
# Text values longer than this in all are zlib-compressed in a state's bytes.
_COMPRESS_ABOVE = 4 * 1024


def _pack_text(data: bytes) -> bytes:
  """Text values (user agents, URLs) repeat their parts: zlib's fastest
  level shrinks them several times (a 1,024-value state of user agents:
  197 -> 30 KiB). Numbers and sketches are stored as they are."""
  if len(data) > _COMPRESS_ABOVE:
    return b'Z' + zlib.compress(data, 1)
  return b'R' + data


def _unpack_text(data: bytes) -> bytes:
  return zlib.decompress(data[1:]) if data[:1] == b'Z' else data[1:]


@dataclasses.dataclass(frozen=True)
class EngineOptions:
  """What the engine computes; built from ``stats.*`` config
  (``span_stats.plan_pass``)."""
  num_top_values: int = 20
  num_rank_histogram_buckets: int = 1000
  num_histogram_buckets: int = 10
  num_quantiles_histogram_buckets: int = 10
  # TFDV's default for the histogram of values per example.
  num_values_histogram_buckets: int = 10
  epsilon: float = 0.01
  # Text features: exact value counts up to this many distinct values, and
  # the Misra-Gries sketch's size after that.
  exact_values: int = 1024
  # Numeric features: exact value counts (exact quantiles, TFDV's own numbers
  # for codes, days, labels) up to this many distinct values, then KLL. At
  # least max_categorical_values: the dv/value_counts come from them.
  exact_numbers: int = 1024
  max_categorical_values: int = 50
  # {path: kind} from the first file (arrow_types.feature_kinds); features
  # not in it get a kind from their values.
  kinds: Mapping[Path, str] = dataclasses.field(default_factory=dict)
  event_time: Optional[stats_names.EventTimeSpec] = None

  @property
  def kll_k(self) -> int:
    # Half the error bound: two runs (or two merge orders) of the same data
    # then stay within ``epsilon`` of each other, as each stays within
    # ``epsilon`` of the truth.
    return sketches.kll_k(self.epsilon / 2)


def _arrow_feature_type(t: pa.DataType) -> Optional[int]:
  """TFDV's feature type of a column type (None: no values seen yet)."""
  if pa.types.is_null(t):
    return None
  while array_util.is_list_like(t):
    t = t.value_type
  if pa.types.is_integer(t):
    return INT
  if pa.types.is_floating(t):
    return FLOAT
  if (pa.types.is_binary(t) or pa.types.is_large_binary(t) or
      pa.types.is_string(t) or pa.types.is_large_string(t)):
    return STRING
  if pa.types.is_struct(t):
    return STRUCT
  if pa.types.is_null(t):
    return None
  raise TypeError(f'unsupported column type {t}')


def _kind_of_values(t: pa.DataType) -> Optional[str]:
  """The kind of a leaf column the first file did not type (tf.Example,
  BigQuery rows), as ``feature_meta._kind_of_values`` says it."""
  feature_type = _arrow_feature_type(t)
  return {INT: arrow_types.INT, FLOAT: arrow_types.FLOAT,
          STRING: arrow_types.STRING}.get(feature_type)


def _add_counts(into: Dict, values: List, counts: List) -> None:
  for value, count in zip(values, counts):
    into[value] = into.get(value, 0) + count


class FeatureState:
  """One feature's statistics so far (see the module docstring)."""

  __slots__ = (
      'type', 'kind', 'non_missing', 'min_values', 'max_values',
      'total_values', 'lengths', 'n', 'mean', 'm2', 'min', 'max',
      'finite_min', 'finite_max', 'zeros', 'nan', 'pos_inf', 'kll',
      'exact', 'text_bytes', 'invalid_utf8', 'text_counts', 'mg', 'hll',
      'num_hll', 'event')

  def __init__(self):
    self.type: Optional[int] = None
    self.kind: Optional[str] = None  # found in the values (not in kinds)
    self.non_missing = 0
    self.min_values = None  # None until a present list is seen
    self.max_values = 0
    self.total_values = 0
    self.lengths: Dict[int, int] = {}  # values per present list -> lists
    self.n = 0  # values that are numbers (NaN excluded)
    self.mean = 0.0
    self.m2 = 0.0
    self.min = float('inf')
    self.max = float('-inf')
    self.finite_min = float('inf')
    self.finite_max = float('-inf')
    self.zeros = 0
    self.nan = 0
    self.pos_inf = 0
    self.kll = None
    # (distinct values ascending, their counts) while at most exact_numbers
    # distinct values (the KLL sketch is made then); None after that
    self.exact: Optional[Tuple[np.ndarray, np.ndarray]] = (
        np.zeros(0), np.zeros(0, np.int64))
    self.text_bytes = 0
    self.invalid_utf8 = 0
    self.text_counts: Optional[Dict[bytes, int]] = {}
    self.mg = None
    self.hll: Optional[sketches.HyperLogLog] = None
    # distinct integers once too many for exact counts (dv/distinct: the
    # drift check tells ids from values that repeat by it)
    self.num_hll: Optional[sketches.HyperLogLog] = None
    self.event: Optional[np.ndarray] = None

  # -- updates ---------------------------------------------------------------

  def update(self, array: pa.Array, options: EngineOptions,
             event: bool) -> None:
    feature_type = _arrow_feature_type(array.type)
    if feature_type is not None:
      if self.type is None:
        self.type = feature_type
      elif self.type != feature_type:
        raise TypeError(f'values of types {self.type} and {feature_type}')
    if not len(array) or pa.types.is_null(array.type):
      return
    if array_util.is_list_like(array.type.value_type):
      raise TypeError('lists of lists are read as JSON text; a column of '
                      f'type {array.type} cannot be described')
    self._presence(array)
    if feature_type in (INT, FLOAT):
      flat, _ = array_util.flatten_nested(array)
      self._numbers(flat, options)
      if event:
        values = flat.drop_null().to_numpy(zero_copy_only=False)
        counted = options.event_time.count(values)
        self.event = counted if self.event is None else self.event + counted
    elif feature_type == STRING:
      flat, _ = array_util.flatten_nested(array)
      self._text(flat, options)

  def _presence(self, array: pa.Array) -> None:
    present = len(array) - array.null_count
    if not present:
      return
    lengths = np.asarray(array_util.ListLengthsFromListArray(array))
    if array.null_count:
      valid = ~np.asarray(
          array_util.GetArrayNullBitmapAsByteArray(array)).view(bool)
      lengths = lengths[valid]
    self.non_missing += present
    low, high = int(lengths.min()), int(lengths.max())
    self.min_values = low if self.min_values is None else min(
        self.min_values, low)
    self.max_values = max(self.max_values, high)
    self.total_values += int(lengths.sum())
    if low == high:
      self.lengths[low] = self.lengths.get(low, 0) + len(lengths)
    else:
      counts = pc.value_counts(pa.array(lengths))
      _add_counts(self.lengths, counts.field(0).to_pylist(),
                  counts.field(1).to_pylist())

  def _numbers(self, flat: pa.Array, options: EngineOptions) -> None:
    if not len(flat):
      return
    values = flat.to_numpy(zero_copy_only=False)
    if self.type == FLOAT:
      nan = np.isnan(values)
      num_nan = int(np.count_nonzero(nan))
      if num_nan:
        self.nan += num_nan
        values = values[~nan]
    if not values.size:
      return
    # float64 copies: writable (the KLL sketch takes them in place) and no
    # integer overflow in the sums
    as_float = np.array(values, dtype=np.float64)
    n = as_float.size
    mean = float(as_float.mean())
    m2 = float(np.square(as_float - mean).sum())
    self._add_moments(n, mean, m2)
    low, high = values.min(), values.max()
    self.min = min(self.min, float(low))
    self.max = max(self.max, float(high))
    if np.isinf(low) or np.isinf(high):
      finite = as_float[np.isfinite(as_float)]
      if finite.size:
        self.finite_min = min(self.finite_min, float(finite.min()))
        self.finite_max = max(self.finite_max, float(finite.max()))
      self.pos_inf += int(np.count_nonzero(np.isposinf(as_float)))
    else:
      self.finite_min = min(self.finite_min, float(low))
      self.finite_max = max(self.finite_max, float(high))
    self.zeros += n - int(np.count_nonzero(values))
    if self.exact is not None:
      counts = pc.value_counts(pa.array(values))
      batch = (counts.field(0).to_numpy(zero_copy_only=False),
               counts.field(1).to_numpy(zero_copy_only=False))
      if len(batch[0]) <= options.exact_numbers:
        self.exact = _merge_exact(self.exact, batch)
        if len(self.exact[0]) > options.exact_numbers:
          self._to_kll(options)
        return
      self._to_kll(options)
    self.kll.update(as_float)
    if self.num_hll is not None:
      self.num_hll.add(sketches.hash_integers(values))

  def _to_kll(self, options: EngineOptions) -> None:
    """From exact value counts to a KLL sketch, once too many values."""
    if self.kll is None:
      self.kll = kll_doubles_sketch(options.kll_k)
    values, counts = self.exact
    self.exact = None
    if self.type == INT and self.num_hll is None:
      self.num_hll = sketches.HyperLogLog()
    if len(values):
      self.kll.update(np.repeat(values.astype(np.float64), counts))
      if self.num_hll is not None:
        self.num_hll.add(sketches.hash_integers(values))

  def _add_moments(self, n: int, mean: float, m2: float) -> None:
    """Chan, Golub & LeVeque's pairwise update of (count, mean, M2)."""
    total = self.n + n
    delta = mean - self.mean
    self.mean += delta * n / total
    self.m2 += m2 + delta * delta * self.n * n / total
    self.n = total

  def _text(self, flat: pa.Array, options: EngineOptions) -> None:
    if not len(flat):
      return
    self.text_bytes += int(array_util.GetBinaryArrayTotalByteSize(flat))
    self.invalid_utf8 += int(array_util.CountInvalidUTF8(flat))
    counts = pc.value_counts(flat)
    values, numbers = counts.field(0), counts.field(1)
    if self.text_counts is not None:
      if len(values) <= options.exact_values:
        _add_counts(self.text_counts, values.to_pylist(), numbers.to_pylist())
        if len(self.text_counts) > options.exact_values:
          self._to_sketches(options)  # the batch is in the counts already
        return
      self._to_sketches(options)
    self._sketch(values, numbers)

  def _to_sketches(self, options: EngineOptions) -> None:
    """From exact counts to sketches, once too many distinct values."""
    self.mg = _misra_gries(options)
    self.hll = sketches.HyperLogLog()
    counts, self.text_counts = self.text_counts, None
    if counts:
      self._sketch(pa.array(list(counts), pa.large_binary()),
                   pa.array(list(counts.values()), pa.int64()))

  def _sketch(self, values: pa.Array, counts: pa.Array) -> None:
    self.mg.AddValues(values, pc.cast(counts, pa.float32()))
    self.hll.add(sketches.hash_values(values))

  # -- merging ---------------------------------------------------------------

  def merge(self, other: 'FeatureState', options: EngineOptions) -> None:
    if other.type is not None:
      if self.type is None:
        self.type = other.type
      elif self.type != other.type:
        raise TypeError(f'values of types {self.type} and {other.type}')
    self.kind = self.kind or other.kind
    self.non_missing += other.non_missing
    if other.min_values is not None:
      self.min_values = other.min_values if self.min_values is None else min(
          self.min_values, other.min_values)
    self.max_values = max(self.max_values, other.max_values)
    self.total_values += other.total_values
    _add_counts(self.lengths, list(other.lengths), list(other.lengths.values()))
    if other.n:
      self._add_moments(other.n, other.mean, other.m2)
    self.min, self.max = min(self.min, other.min), max(self.max, other.max)
    self.finite_min = min(self.finite_min, other.finite_min)
    self.finite_max = max(self.finite_max, other.finite_max)
    self.zeros += other.zeros
    self.nan += other.nan
    self.pos_inf += other.pos_inf
    if self.exact is not None and other.exact is not None:
      self.exact = _merge_exact(self.exact, other.exact)
      if len(self.exact[0]) > options.exact_numbers:
        self._to_kll(options)
    else:
      if self.exact is not None:
        self._to_kll(options)
      if other.exact is not None:
        values, counts = other.exact
        if len(values):
          self.kll.update(np.repeat(values.astype(np.float64), counts))
          if self.num_hll is not None:
            self.num_hll.add(sketches.hash_integers(values))
      else:
        self.kll.merge(other.kll)
        if self.num_hll is not None and other.num_hll is not None:
          self.num_hll.merge(other.num_hll)
    self.text_bytes += other.text_bytes
    self.invalid_utf8 += other.invalid_utf8
    if self.text_counts is not None and other.text_counts is not None:
      _add_counts(self.text_counts, list(other.text_counts),
                  list(other.text_counts.values()))
      if len(self.text_counts) > options.exact_values:
        self._to_sketches(options)
    else:
      if self.text_counts is not None:
        self._to_sketches(options)
      if other.text_counts is not None:
        if other.text_counts:
          self._sketch(pa.array(list(other.text_counts), pa.large_binary()),
                       pa.array(list(other.text_counts.values()), pa.int64()))
      else:
        self.mg.Merge(other.mg)
        self.hll.merge(other.hll)
    if other.event is not None:
      self.event = other.event if self.event is None else self.event + other.event


def _merge_exact(a: Tuple[np.ndarray, np.ndarray],
                 b: Tuple[np.ndarray, np.ndarray]
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """Two (values, counts) pairs as one, values ascending."""
  if not len(a[0]):
    values, counts = b
  else:
    values = np.concatenate([a[0], b[0]])
    counts = np.concatenate([a[1], b[1]])
  unique, inverse = np.unique(values, return_inverse=True)
  summed = np.zeros(len(unique), np.int64)
  np.add.at(summed, inverse, counts)
  return unique, summed


def _misra_gries(options: EngineOptions):
  # TFDV's sketch generator: max(buckets, top values, rank histogram size).
  return tfx_sketches.MisraGriesSketch(
      num_buckets=max(options.exact_values, options.num_top_values,
                      options.num_rank_histogram_buckets),
      invalid_utf8_placeholder=NON_UTF8_PLACEHOLDER,
      large_string_threshold=LARGE_STRING_THRESHOLD,
      large_string_placeholder=LARGE_BYTES_PLACEHOLDER)


class SliceState:
  """Examples and per-feature states of one slice (the combiner's
  accumulator)."""

  __slots__ = ('num_examples', 'features')

  def __init__(self):
    self.num_examples = 0
    self.features: Dict[Path, FeatureState] = {}

  def update(self, batch: pa.RecordBatch, options: EngineOptions) -> None:
    self.num_examples += batch.num_rows
    event = options.event_time
    for path, array in table_util.enumerate_arrays(
        batch, enumerate_leaves_only=False):
      name = tuple(path.steps())
      state = self.features.get(name)
      if state is None:
        state = self.features[name] = FeatureState()
      if name not in options.kinds and state.kind is None:
        state.kind = _kind_of_values(array.type)
      state.update(array, options,
                   event=event is not None and name == (event.feature,))

  def merge(self, other: 'SliceState', options: EngineOptions) -> None:
    self.num_examples += other.num_examples
    for name, state in other.features.items():
      mine = self.features.get(name)
      if mine is None:
        self.features[name] = state
      else:
        mine.merge(state, options)

  # -- bytes -----------------------------------------------------------------

  def to_bytes(self) -> bytes:
    """The state as a JSON header and binary blobs (sketches, arrays)."""
    blobs: List[bytes] = []

    def blob(data: bytes) -> int:
      blobs.append(data)
      return len(blobs) - 1

    features = []
    for name, s in self.features.items():
      entry = {'path': list(name), 'type': s.type, 'kind': s.kind,
               'presence': [s.non_missing, s.min_values, s.max_values,
                            s.total_values]}
      if s.lengths:
        entry['lengths'] = blob(np.array(
            [list(s.lengths), list(s.lengths.values())],
            dtype=np.int64).tobytes())
      if s.n or s.nan:
        entry['numbers'] = [s.n, s.mean, s.m2, s.min, s.max, s.finite_min,
                            s.finite_max, s.zeros, s.nan, s.pos_inf]
      if s.kll is not None:
        entry['kll'] = blob(s.kll.serialize())
      if s.exact is not None and len(s.exact[0]):
        values, counts = s.exact
        entry['exact'] = [values.dtype.str, blob(values.tobytes()),
                          blob(counts.astype(np.int64).tobytes())]
      if s.num_hll is not None:
        entry['num_hll'] = blob(s.num_hll.to_bytes())
      if s.text_bytes or s.invalid_utf8:
        entry['text'] = [s.text_bytes, s.invalid_utf8]
      if s.text_counts is None:
        entry['mg'] = blob(_pack_text(s.mg.Serialize()))
        entry['hll'] = blob(s.hll.to_bytes())
      elif s.text_counts:
        values = list(s.text_counts)
        entry['text_counts'] = [
            blob(np.array([len(v) for v in values], np.int64).tobytes()),
            blob(_pack_text(b''.join(values))),
            blob(np.array(list(s.text_counts.values()), np.int64).tobytes())]
      if s.event is not None:
        entry['event'] = s.event.tolist()
      features.append(entry)
    header = json.dumps({'n': self.num_examples, 'f': features},
                        separators=(',', ':')).encode('utf-8')
    sizes = [len(header)] + [len(b) for b in blobs]
    return b''.join([struct.pack('<I', len(sizes)),
                     np.array(sizes, dtype=np.uint32).tobytes(), header]
                    + blobs)

  @classmethod
  def from_bytes(cls, data: bytes) -> 'SliceState':
    count = struct.unpack_from('<I', data)[0]
    sizes = np.frombuffer(data, dtype=np.uint32, count=count, offset=4)
    starts = 4 + 4 * count + np.r_[0, np.cumsum(sizes.astype(np.int64))]
    parts = [data[starts[i]:starts[i + 1]] for i in range(count)]
    header, blobs = json.loads(parts[0]), parts[1:]
    out = cls()
    out.num_examples = header['n']
    for entry in header['f']:
      s = FeatureState()
      s.type, s.kind = entry['type'], entry['kind']
      (s.non_missing, s.min_values, s.max_values,
       s.total_values) = entry['presence']
      if 'lengths' in entry:
        keys, counts = np.frombuffer(blobs[entry['lengths']],
                                     np.int64).reshape(2, -1)
        s.lengths = dict(zip(keys.tolist(), counts.tolist()))
      if 'numbers' in entry:
        (s.n, s.mean, s.m2, s.min, s.max, s.finite_min, s.finite_max,
         s.zeros, s.nan, s.pos_inf) = entry['numbers']
      if 'kll' in entry:
        s.kll = kll_doubles_sketch.deserialize(blobs[entry['kll']])
      if 'exact' in entry:
        dtype, values, counts = entry['exact']
        s.exact = (np.frombuffer(blobs[values], np.dtype(dtype)).copy(),
                   np.frombuffer(blobs[counts], np.int64).copy())
      elif s.kll is not None:
        s.exact = None
      if 'num_hll' in entry:
        s.num_hll = sketches.HyperLogLog.from_bytes(blobs[entry['num_hll']])
      if 'text' in entry:
        s.text_bytes, s.invalid_utf8 = entry['text']
      if 'mg' in entry:
        s.text_counts = None
        s.mg = tfx_sketches.MisraGriesSketch.Deserialize(
            _unpack_text(blobs[entry['mg']]))
        s.hll = sketches.HyperLogLog.from_bytes(blobs[entry['hll']])
      elif 'text_counts' in entry:
        lengths, joined, counts = (blobs[i] for i in entry['text_counts'])
        joined = _unpack_text(joined)
        ends = np.cumsum(np.frombuffer(lengths, np.int64)).tolist()
        values = [joined[a:b] for a, b in zip([0] + ends[:-1], ends)]
        s.text_counts = dict(zip(values,
                                 np.frombuffer(counts, np.int64).tolist()))
      if 'event' in entry:
        s.event = np.array(entry['event'], dtype=np.int64)
      out.features[tuple(entry['path'])] = s
    return out
