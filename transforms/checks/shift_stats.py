"""What the statistics pass keeps for the shift check (transforms/checks/shift.py).

Two combiners over the span's RecordBatches, for every span whatever its
baseline will be:

- ``LabelByBucket`` (when ``dataset.label`` is in the data): for the whole
  span and each slice, the label's distribution overall and within each
  bucket of every shift feature. Class counts for labels with at most
  ``MAX_CLASSES`` values (0/1 integers, booleans, strings), and count, sum and
  sum of squares for every label (a numeric label's mean and spread).
  Numbers are bucketed on a fixed logarithmic grid (``RESOLUTION`` buckets per
  doubling, sign kept, zero and missing apart), the same for every span, so
  the check can later merge both sides' buckets into the baseline's deciles
  without re-reading data. Text and other values are their own buckets, up
  to ``max_values`` per feature; a feature with more is marked ``overflow``
  and not bucketed (identifier-like).
- ``RowSample``: a uniform sample of at most ``sample_size`` rows (bottom-k:
  each row gets a hash of its values as its key and the k smallest keys
  stay), the same rows whatever the batching, runner or number of workers.
  It feeds the domain classifier and label model (transforms/checks/shift_model.py).

Both accumulate Python dicts / Arrow tables whose size is bounded by the
number of buckets, classes and sample rows, not by the span.
"""

import collections
import json
import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms import arrow_types

# Buckets per doubling of a number's magnitude: neighbouring bucket bounds
# differ by 2**(1/32) - 1 = 2.2%.
RESOLUTION = 32
_OFFSET = 1 << 20           # keeps negative exponents' codes apart from 0
MISSING = 'missing'         # bucket of rows without a value
MAX_CLASSES = 50            # more label values: the label is numeric only
OVERALL = ''                # slice name of the whole span


# ----------------------------------------------------------------------------
# Columns of TFDV batches (large_list<values>) as one value per row


def flat_column(column: pa.Array) -> pa.Array:
  """One value per row: the row's value when it has exactly one, else null."""
  if not (pa.types.is_list(column.type) or
          pa.types.is_large_list(column.type)):
    return column
  n = len(column)
  offsets = np.asarray(column.offsets, dtype=np.int64)
  lengths = offsets[1:] - offsets[:-1]
  one = lengths == 1
  if column.null_count:
    one &= np.asarray(column.is_valid(), dtype=bool)
  index = pa.array(offsets[:-1], mask=~one) if n else pa.array([], pa.int64())
  return column.values.take(index)


def _is_text(t: pa.DataType) -> bool:
  return (pa.types.is_string(t) or pa.types.is_large_string(t) or
          pa.types.is_binary(t) or pa.types.is_large_binary(t))


def _as_float(values: pa.Array) -> np.ndarray:
  return np.asarray(pc.cast(values, pa.float64()).to_numpy(
      zero_copy_only=False), dtype=np.float64)


def number_buckets(x: np.ndarray) -> np.ndarray:
  """Bucket codes of numbers: 0 for zero, +-(exponent + offset) else;
  ``_OFFSET * 4`` for NaN, infinities and missing values."""
  code = np.full(x.shape, _OFFSET * 4, dtype=np.int64)
  finite = np.isfinite(x)
  nonzero = finite & (x != 0)
  code[finite & (x == 0)] = 0
  v = x[nonzero]
  k = np.floor(np.log2(np.abs(v)) * RESOLUTION).astype(np.int64)
  code[nonzero] = np.sign(v).astype(np.int64) * (k + _OFFSET)
  return code


def bucket_bounds(code: int) -> Tuple[float, float]:
  """The [low, high) range of numbers in a bucket code (zero: [0, 0])."""
  if code == 0:
    return 0.0, 0.0
  k = abs(code) - _OFFSET
  low, high = 2.0 ** (k / RESOLUTION), 2.0 ** ((k + 1) / RESOLUTION)
  return (low, high) if code > 0 else (-high, -low)


def is_missing_code(code) -> bool:
  return code == _OFFSET * 4 or code == MISSING


def _text(value) -> str:
  if isinstance(value, bytes):
    return value.decode('utf-8', errors='replace')
  return str(value)


def _label_values(values: pa.Array) -> Tuple[np.ndarray, List[Any], np.ndarray]:
  """(class index per row, -1 where missing; class values; numeric value or
  NaN per row)."""
  if _is_text(values.type):
    y = np.full(len(values), np.nan)
  else:
    y = _as_float(values)
  encoded = values.dictionary_encode()
  index = np.asarray(encoded.indices.fill_null(-1).to_numpy(
      zero_copy_only=False), dtype=np.int64)
  classes = [_label_class(v) for v in encoded.dictionary.to_pylist()]
  return index, classes, y


def _label_class(value):
  if isinstance(value, bytes):
    return value.decode('utf-8', errors='replace')
  if isinstance(value, float) and value.is_integer():
    return int(value)
  return value


# ----------------------------------------------------------------------------
# Label by bucket


def _new_slice() -> Dict[str, Any]:
  return {'n': 0, 'classes': collections.Counter(), 'class_overflow': False,
          'moments': [0, 0.0, 0.0], 'features': {}}


def _drop_buckets(feature: Dict[str, Any]) -> None:
  feature.update(overflow=True, counts=collections.Counter(), moments={})


def _new_feature(kind: str) -> Dict[str, Any]:
  return {'kind': kind, 'overflow': False,
          'counts': collections.Counter(), 'moments': {}}


class LabelByBucketFn(beam.CombineFn):
  """RecordBatches in; per slice, the label's distribution per bucket out."""

  def __init__(self, label: str, features: Mapping[str, str],
               slices: Sequence[Any], max_values: int):
    """``features``: {column: 'number' | 'text'}; ``slices``: entries of
    ``dataset.slices`` (a name, a list of names, or {name: [values]})."""
    super().__init__()
    self._label = label
    self._features = dict(features)
    self._slices = list(slices)
    self._max_values = max_values

  def create_accumulator(self):
    return {}

  def add_input(self, acc, batch: pa.RecordBatch):
    names = batch.schema.names
    if self._label not in names or batch.num_rows == 0:
      return acc
    label_index, classes, y = _label_values(
        flat_column(batch.column(names.index(self._label))))
    has_label = label_index >= 0
    columns = {}
    for name, kind in self._features.items():
      if name in names:
        columns[name] = self._codes(
            flat_column(batch.column(names.index(name))), kind)
    for slice_name, rows in self._groups(batch, names):
      rows = (np.flatnonzero(has_label) if rows is None
              else rows[has_label[rows]])
      if not len(rows):
        continue
      acc_slice = acc.setdefault(slice_name, _new_slice())
      self._add_slice(acc_slice, rows, label_index, classes, y, columns)
    return acc

  def _codes(self, values: pa.Array, kind: str):
    """(bucket code per row, bucket keys): numbers on the log grid, other
    values dictionary-encoded; missing rows get the MISSING key."""
    if kind == 'number':
      # Hash-based encoding: no sort of the batch's codes.
      encoded = pa.array(number_buckets(_as_float(values))).dictionary_encode()
      index = np.asarray(encoded.indices.to_numpy(zero_copy_only=False),
                         dtype=np.int64)
      return index, [MISSING if is_missing_code(k) else k
                     for k in encoded.dictionary.to_pylist()]
    encoded = values.dictionary_encode()
    index = np.asarray(encoded.indices.fill_null(-1).to_numpy(
        zero_copy_only=False), dtype=np.int64)
    keys = [_text(v) for v in encoded.dictionary.to_pylist()] + [MISSING]
    index = np.where(index < 0, len(keys) - 1, index)
    return index, keys

  def _groups(self, batch: pa.RecordBatch, names: List[str]):
    """(slice name, row indices or None for every row) of the batch."""
    yield OVERALL, None
    for entry in self._slices:
      if isinstance(entry, str):
        wanted = {entry: None}
      elif isinstance(entry, Mapping):
        wanted = {k: (set(map(str, v)) if v is not None else None)
                  for k, v in entry.items()}
      else:
        wanted = {k: None for k in entry}
      if any(name not in names for name in wanted):
        continue
      texts = []
      keep = np.ones(batch.num_rows, dtype=bool)
      for name, allowed in wanted.items():
        values = flat_column(batch.column(names.index(name)))
        if pa.types.is_floating(values.type):
          keep[:] = False  # TFDV slices on integers and text only
          break
        encoded = values.dictionary_encode()
        index = np.asarray(encoded.indices.fill_null(-1).to_numpy(
            zero_copy_only=False), dtype=np.int64)
        words = [_text(v) for v in encoded.dictionary.to_pylist()]
        keep &= index >= 0
        if allowed is not None:
          ok = np.array([w in allowed for w in words] + [False])
          keep &= ok[index]
        texts.append((name, index, words))
      if not keep.any():
        continue
      combined = np.zeros(batch.num_rows, dtype=np.int64)
      for _, index, words in texts:
        combined = combined * (len(words) + 1) + (index + 1)
      rows = np.flatnonzero(keep)
      keys, inverse = np.unique(combined[rows], return_inverse=True)
      for i in range(len(keys)):
        first = rows[np.argmax(inverse == i)]
        name = '_'.join(f'{feature}_{words[index[first]]}'
                        for feature, index, words in texts)
        yield name, rows[inverse == i]

  def _add_slice(self, acc, rows, label_index, classes, y, columns):
    acc['n'] += int(len(rows))
    li = label_index[rows]
    yy = y[rows]
    numeric = ~np.isnan(yy)
    acc['moments'][0] += int(numeric.sum())
    acc['moments'][1] += float(yy[numeric].sum())
    acc['moments'][2] += float((yy[numeric] ** 2).sum())
    n_classes = len(classes)
    if not acc['class_overflow']:
      for c, count in enumerate(np.bincount(li, minlength=n_classes)):
        if count:
          acc['classes'][classes[c]] += int(count)
      if len(acc['classes']) > MAX_CLASSES:
        acc['class_overflow'] = True
        acc['classes'] = collections.Counter()
    for name, (index, keys) in columns.items():
      feature = acc['features'].setdefault(
          name, _new_feature(self._features[name]))
      if feature['overflow']:
        continue
      bi = index[rows]
      if not acc['class_overflow']:
        combined = np.bincount(bi * n_classes + li,
                               minlength=len(keys) * n_classes)
        for code in np.flatnonzero(combined):
          feature['counts'][(keys[code // n_classes],
                             classes[code % n_classes])] += int(
                                 combined[code])
      if numeric.any():
        present = bi[numeric]
        n = np.bincount(present)
        s = np.bincount(present, weights=yy[numeric])
        ss = np.bincount(present, weights=yy[numeric] ** 2)
        for code in np.flatnonzero(n):
          m = feature['moments'].setdefault(keys[code], [0, 0.0, 0.0])
          m[0] += int(n[code])
          m[1] += float(s[code])
          m[2] += float(ss[code])
      self._check_overflow(feature)

  def _check_overflow(self, feature: Dict[str, Any]) -> None:
    """A text feature with more than max_values values (and missing) is
    identifier-like: its buckets are dropped and it stays marked."""
    if feature['kind'] == 'text' and len(
        feature['moments'] or {k for k, _ in feature['counts']}) > (
            self._max_values + 1):
      _drop_buckets(feature)

  def merge_accumulators(self, accumulators: Iterable[Dict[str, Any]]):
    out: Dict[str, Any] = {}
    for acc in accumulators:
      for slice_name, part in acc.items():
        into = out.setdefault(slice_name, _new_slice())
        into['n'] += part['n']
        for i in range(3):
          into['moments'][i] += part['moments'][i]
        if part['class_overflow'] or into['class_overflow']:
          into['class_overflow'] = True
          into['classes'] = collections.Counter()
        else:
          into['classes'].update(part['classes'])
          if len(into['classes']) > MAX_CLASSES:
            into['class_overflow'] = True
            into['classes'] = collections.Counter()
        for name, feature in part['features'].items():
          target = into['features'].setdefault(name,
                                               _new_feature(feature['kind']))
          if target['overflow'] or feature['overflow']:
            _drop_buckets(target)
            continue
          target['counts'].update(feature['counts'])
          for key, m in feature['moments'].items():
            t = target['moments'].setdefault(key, [0, 0.0, 0.0])
            for i in range(3):
              t[i] += m[i]
          self._check_overflow(target)
        if into['class_overflow']:
          for feature in into['features'].values():
            feature['counts'] = collections.Counter()
    return out

  def extract_output(self, acc) -> str:
    """The accumulator as JSON (the span's shift.json)."""
    return json.dumps(to_json(self._label, acc), sort_keys=True)


def _order(row) -> Tuple[str, ...]:
  return tuple(str(v) for v in row[:2])


def to_json(label: str, acc: Mapping[str, Any]) -> Dict[str, Any]:
  """The accumulator as JSON-ready lists, in a fixed order."""
  slices = {}
  for name, part in acc.items():
    slices[name] = {
        'n': part['n'],
        'classes': (None if part['class_overflow'] else
                    sorted(([c, n] for c, n in part['classes'].items()),
                           key=_order)),
        'moments': part['moments'],
        'features': {
            f: {'kind': v['kind'], 'overflow': v['overflow'],
                'counts': sorted(([b, c, n] for (b, c), n in
                                  v['counts'].items()), key=_order),
                'moments': sorted(([b] + m for b, m in v['moments'].items()),
                                  key=_order)}
            for f, v in part['features'].items()},
    }
  return {'label': label, 'resolution': RESOLUTION, 'offset': _OFFSET,
          'slices': slices}


class LabelByBucket(beam.PTransform):
  """RecordBatches in; one JSON string (the span's shift.json) out."""

  def __init__(self, label: str, features: Mapping[str, str],
               slices: Sequence[Any], max_values: int):
    super().__init__()
    self._fn = LabelByBucketFn(label, features, slices, max_values)

  def expand(self, batches):
    return batches | 'Combine' >> beam.CombineGlobally(
        self._fn).without_defaults()


# ----------------------------------------------------------------------------
# Row sample


_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def mix(x: np.ndarray) -> np.ndarray:
  """splitmix64's finalizer: spreads every input bit over the output."""
  with np.errstate(over='ignore'):
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _is_number(t: pa.DataType) -> bool:
  return (pa.types.is_integer(t) or pa.types.is_floating(t) or
          pa.types.is_boolean(t))


def _number_bits(column: pa.Array) -> np.ndarray:
  """float64 values (nulls and NaN alike) as their bits, before mixing."""
  x = np.asarray(pc.cast(column, pa.float64()).to_numpy(
      zero_copy_only=False), dtype=np.float64)
  return np.where(np.isnan(x), np.float64(-1.2345e300), x).view(np.uint64)


def _column_hash(column: pa.Array) -> np.ndarray:
  """A 64-bit hash per value (nulls hash alike), vectorized: numbers by
  their float64 bits, text by hashing its dictionary once."""
  if isinstance(column, pa.ChunkedArray):
    column = column.combine_chunks()
  if _is_number(column.type):
    return mix(_number_bits(column))
  encoded = column.dictionary_encode()
  dictionary = encoded.dictionary
  if _is_text(dictionary.type):
    # The same str / bytes objects as to_pylist() gives, so the same hashes,
    # ~4x faster (1M distinct ids: 1.09 -> 0.28 s).
    objects = np.append(dictionary.to_numpy(zero_copy_only=False), None)
  else:
    objects = np.asarray(dictionary.to_pylist() + [None], dtype=object)
  words = pd.util.hash_array(objects, categorize=False)
  index = np.asarray(encoded.indices.fill_null(-1).to_numpy(
      zero_copy_only=False), dtype=np.int64)
  return words[index]  # -1: the None appended last


# Values hashed at once by _row_keys (2 MiB of hashes; mixing makes a few
# temporaries of that size).
_HASH_BLOCK_VALUES = 1 << 18


def _row_keys(table: pa.Table) -> np.ndarray:
  """A 64-bit hash of each row's values: the sample's random order, the same
  for the same row wherever and whenever it is read."""
  columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c
             for c in table.columns]
  # Number columns are hashed a block at a time, in one 2-D mix (on 4,000
  # columns the per-call overhead was most of the cost), blocks of about
  # _HASH_BLOCK_VALUES values so that wide batches stay small. Same keys.
  numbers = [i for i, c in enumerate(columns) if _is_number(c.type)]
  place = {i: k for k, i in enumerate(numbers)}
  block = max(1, _HASH_BLOCK_VALUES // max(table.num_rows, 1))
  hashes: Dict[int, np.ndarray] = {}
  keys = np.zeros(table.num_rows, dtype=np.uint64)
  with np.errstate(over='ignore'):
    for i, column in enumerate(columns):
      if i in place:
        if i not in hashes:
          ahead = numbers[place[i]:place[i] + block]
          hashes = dict(zip(ahead, mix(np.stack(
              [_number_bits(columns[j]) for j in ahead]))))
        h = hashes[i]
      else:
        h = _column_hash(column)
      keys = mix(keys ^ h ^ np.uint64(i + 1))
  return keys


class RowSampleFn(beam.CombineFn):
  """RecordBatches in; up to ``size`` rows, uniformly chosen, out (a Table
  of the ``columns`` as one value per row)."""

  def __init__(self, columns: Sequence[str], size: int):
    super().__init__()
    self._columns = list(columns)
    self._size = size

  def create_accumulator(self):
    return None

  def _flat_table(self, batch: pa.RecordBatch) -> pa.Table:
    columns = arrow_types.columns_by_name(batch)
    arrays, kept = [], []
    for name in self._columns:
      if name in columns:
        arrays.append(flat_column(columns[name]))
        kept.append(name)
    return pa.Table.from_arrays(arrays, names=kept)

  def _smallest(self, table: pa.Table, keys: np.ndarray):
    if len(keys) > self._size:
      chosen = np.argpartition(keys, self._size - 1)[:self._size]
      return table.take(pa.array(chosen)), keys[chosen]
    return table, keys

  def add_input(self, acc, batch: pa.RecordBatch):
    if batch.num_rows == 0:
      return acc
    table = self._flat_table(batch)
    keys = _row_keys(table)
    if acc is not None and len(acc[1]) >= self._size:
      # Only rows that beat the current k-th key can enter.
      below = keys < acc[1].max()
      table, keys = table.filter(pa.array(below)), keys[below]
    return self._merge(acc, (table, keys))

  def _merge(self, acc, part):
    if acc is None:
      return self._smallest(*part)
    if part is None or not len(part[1]):
      return acc
    table = _concat([acc[0], part[0]])
    return self._smallest(table, np.concatenate([acc[1], part[1]]))

  def merge_accumulators(self, accumulators):
    out = None
    for acc in accumulators:
      if acc is not None:
        out = self._merge(out, acc)
    return out

  def extract_output(self, acc) -> Optional[pa.Table]:
    if acc is None:
      return None
    table, keys = acc
    # Sorted by key: the sample's first n rows are a uniform sample of n.
    return table.take(pa.array(np.argsort(keys, kind='stable')))


def _concat(tables: List[pa.Table]) -> pa.Table:
  """Concatenates tables whose columns may differ in presence or in type
  (a column all null in one batch reads as null type)."""
  names: List[str] = []
  types: Dict[str, pa.DataType] = {}
  for t in tables:
    for field in t.schema:
      if field.name not in types:
        names.append(field.name)
        types[field.name] = field.type
      elif pa.types.is_null(types[field.name]):
        types[field.name] = field.type
  aligned = []
  for t in tables:
    if t.schema.names == names and all(
        f.type == types[f.name] for f in t.schema):
      aligned.append(t)  # the usual case: nothing to align
      continue
    by_name = arrow_types.columns_by_name(t)
    columns = []
    for name in names:
      if name in by_name:
        column = by_name[name]
        if column.type != types[name]:
          column = pc.cast(column, types[name])
      else:
        column = pa.nulls(t.num_rows, types[name])
      columns.append(column)
    aligned.append(pa.Table.from_arrays(columns, names=names))
  return pa.concat_tables(aligned)


class RowSample(beam.PTransform):
  """RecordBatches in; one Parquet file's bytes (the span's sample) out."""

  def __init__(self, columns: Sequence[str], size: int):
    super().__init__()
    self._fn = RowSampleFn(columns, size)

  def expand(self, batches):
    return (batches
            | 'Combine' >> beam.CombineGlobally(self._fn).without_defaults()
            | 'AsParquet' >> beam.Map(table_bytes))


def table_bytes(table: Optional[pa.Table]) -> bytes:
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  sink = pa.BufferOutputStream()
  pq.write_table(table if table is not None else pa.table({}), sink)
  return sink.getvalue().to_pybytes()


def load_buckets(store) -> Optional[Dict[str, Any]]:
  """A stored span's shift.json (artifacts.SpanArtifacts), or None."""
  from transforms.io import artifacts  # pylint: disable=g-import-not-at-top
  data = store.load_bytes(artifacts.SHIFT_FILE)
  return None if data is None else json.loads(data.decode('utf-8'))


def read_table(data: bytes) -> pa.Table:
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  return pq.read_table(pa.BufferReader(data))


# The row sample's budget: at most this many bytes of values (estimated from
# the column kinds), whatever shift.sample_size says. On a 19-column table
# 50,000 rows are ~12 MB; on 500 columns they were ~280 MB, and every
# bundle's partial sample travels between steps: +0.5 GB peak and +9 s on
# the 200k x 500 benchmark, against none for ~12,000 rows.
SAMPLE_BUDGET_BYTES = 64 << 20
# Estimated bytes per value: a number or boolean; a text value (offset and a
# short string).
_NUMBER_BYTES, _TEXT_BYTES = 8, 24


def sample_rows(size: int, columns: Sequence[str],
                kinds: Mapping[tuple, str]) -> int:
  """``size`` (shift.sample_size), lowered so that the sample of ``columns``
  fits SAMPLE_BUDGET_BYTES. Decided from the schema before the pass, so every
  runner and worker keeps the same rows."""
  if size <= 0 or not columns:
    return size
  row_bytes = sum(_TEXT_BYTES if kinds.get((c,)) in ('string', 'bytes')
                  else _NUMBER_BYTES for c in columns)
  return max(1, min(size, SAMPLE_BUDGET_BYTES // row_bytes))


def sample_columns(schema: Optional[pa.Schema], kinds: Mapping[tuple, str]
                   ) -> List[str]:
  """Top-level columns the sample can hold: numbers, booleans and text."""
  if schema is None:
    return []
  return [name for name in schema.names
          if kinds.get((name,)) in ('int', 'float', 'bool', 'string', 'bytes')]


def feature_kinds_for_buckets(names: Sequence[str], kinds: Mapping[tuple, str]
                              ) -> Dict[str, str]:
  """{column: 'number' | 'text'} of the columns LabelByBucket can bucket."""
  out = {}
  for name in names:
    kind = kinds.get((name,))
    if kind in ('int', 'float', 'bool'):
      out[name] = 'number'
    elif kind in ('string', 'bytes'):
      out[name] = 'text'
  return out


def finite(value: float) -> bool:
  return value is not None and math.isfinite(value)


# ----------------------------------------------------------------------------
# Privacy: hashed features stay hashed in the shift check's files


def hash_buckets(buckets: Mapping[str, Any], hashed: Iterable[str], privacy
                 ) -> Dict[str, Any]:
  """shift.json with the text buckets of ``hashed`` features (and a hashed
  label's classes) as salted hashes (``privacy.value``)."""
  hashed = set(hashed)
  label = buckets.get('label')
  out = json.loads(json.dumps(buckets))

  def cls(c):
    return privacy.value(label, _text(c)) if label in hashed else c

  for part in out['slices'].values():
    if part.get('classes') is not None:
      part['classes'] = [[cls(c), n] for c, n in part['classes']]
    for name, feature in part['features'].items():
      text = feature['kind'] == 'text' and name in hashed
      key = ((lambda b, name=name: b if b == MISSING
              else privacy.value(name, _text(b))) if text
             else (lambda b: b))
      feature['counts'] = [[key(b), cls(c), n] for b, c, n in
                           feature['counts']]
      feature['moments'] = [[key(m[0])] + m[1:] for m in feature['moments']]
  return out


def hash_columns(table: pa.Table, hashed: Iterable[str], privacy) -> pa.Table:
  """The sample with the ``hashed`` columns as salted hashes (as text)."""
  for name in set(hashed) & set(table.column_names):
    values = [None if v is None else privacy.value(name, _text(v))
              for v in table.column(name).to_pylist()]
    table = table.set_column(table.column_names.index(name), name,
                             pa.array(values, pa.string()))
  return table
