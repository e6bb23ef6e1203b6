"""What every source column type means, decided in one place.

Every source (CSV, Parquet, JSON lines, TFRecord, BigQuery rows) ends in
Arrow columns. Three steps give each column its meaning:

1. ``read_type``: the type a span's column is read as, the same for every
   file of the span (dictionary-encoded, large and small variants folded;
   time kept as time, nested records kept nested).
2. ``kind``: what the column is to a user (``int``, ``timestamp``, ``struct``,
   ...); stored with the statistics so that schema inference, comparisons and
   the report treat it alike (see ``transforms/feature_meta.py``).
3. ``to_tfdv``: the column as TFDV reads it: a ``large_list`` of int64,
   float64 or large_binary values, or of structs whose fields are such lists
   (TFDV's nested features ``addr.city``).

``TYPE_TABLE`` is the table the README shows; a test keeps the two equal.
"""

import datetime as dt
import json
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tfx_bsl.arrow import array_util

# Kinds of values, in the user's words.
INT = 'int'
FLOAT = 'float'
BOOL = 'bool'
STRING = 'string'
BYTES = 'bytes'
TIMESTAMP = 'timestamp'
DATE = 'date'
TIME_OF_DAY = 'time_of_day'
DURATION = 'duration'
STRUCT = 'struct'
# Kinds whose values are moments: they always move between spans, so they
# are summarized (earliest, latest) and checked for freshness, never compared
# value by value.
TIME_KINDS = (TIMESTAMP, DATE)
# The unit TFDV sees for each time kind (tensorflow_metadata TimeDomain).
TIME_FORMATS = {TIMESTAMP: 'UNIX_MICROSECONDS', DATE: 'UNIX_DAYS'}

UTC_MICROS = pa.timestamp('us', tz='UTC')

# (source types, read as, kind, statistics, drift and skew): the README table.
TYPE_TABLE: List[Tuple[str, str, str, str]] = [
    ('bool (CSV `true`/`false`, JSON booleans, BigQuery BOOL)', BOOL,
     'integer 0/1: counts, mean (= share of true), exact value counts',
     'L-infinity of value shares'),
    ('int8-64, uint8-32 (BigQuery INT64)', INT,
     'numeric; exact value counts while at most `stats.max_categorical_values` '
     'distinct values', 'L-infinity of value shares when few distinct values '
     '(labels, codes, months), else PSI on the baseline\'s deciles'),
    ('uint64', FLOAT, 'numeric (float64: above 2^53 values lose precision)',
     'PSI on the baseline\'s deciles'),
    ('float16/32/64, decimal128/256 (BigQuery FLOAT64, NUMERIC, BIGNUMERIC)',
     FLOAT, 'numeric; NaN counted apart, infinities in the outer buckets',
     'PSI on the baseline\'s deciles (or Wasserstein, quantile shift, '
     'Jensen-Shannon)'),
    ('string, large_string, dictionary<string> (BigQuery STRING, JSON, '
     'GEOGRAPHY)', STRING, 'top values, distinct count, lengths',
     'L-infinity of value shares; identifier-like ones are not compared'),
    ('binary, large_binary, fixed_size_binary (BigQuery BYTES)', BYTES,
     'top values, distinct count, lengths', 'L-infinity of value shares'),
    ('timestamp (any unit, any zone; BigQuery TIMESTAMP, DATETIME; CSV, JSON '
     'and Parquet ISO-8601 text)', TIMESTAMP,
     'microseconds since 1970-01-01 UTC: earliest, latest (as timestamps), '
     'quantiles; schema time domain UNIX_MICROSECONDS',
     'not compared (event time always moves); freshness and window checks '
     'on `dataset.event_time`'),
    ('date32, date64 (BigQuery DATE; CSV, JSON and Parquet `YYYY-MM-DD` '
     'text)', DATE,
     'days since 1970-01-01: earliest, latest; schema time domain UNIX_DAYS',
     'not compared; freshness and window checks when it is the event time'),
    ('time32, time64 (BigQuery TIME; CSV `HH:MM:SS`)', TIME_OF_DAY,
     'seconds since midnight, numeric',
     'PSI on the baseline\'s deciles'),
    ('duration', DURATION, 'seconds, numeric',
     'PSI on the baseline\'s deciles'),
    ('struct (BigQuery RECORD, JSON objects)', STRUCT,
     'the record\'s presence, and every field as a feature `parent.field`',
     'each field by its own kind; the record itself is not compared'),
    ('list, large_list, fixed_size_list of any of these (BigQuery REPEATED, '
     'JSON arrays)', 'kind of the items',
     'values per example (min, max, mean) and the items\' statistics',
     'the items\' distribution, by their kind'),
    ('map<key, value>', STRUCT,
     'a repeated record with fields `m.key` and `m.value`',
     'keys and values by their kind'),
    ('lists of lists, unions, other types', STRING,
     'the value as JSON text', 'L-infinity of value shares'),
    ('null (a column with no values)', STRING, 'all missing',
     'nothing to compare: recorded as not computed'),
]


def _is_textual(t: pa.DataType) -> bool:
  return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_binary(t: pa.DataType) -> bool:
  return (pa.types.is_binary(t) or pa.types.is_large_binary(t) or
          pa.types.is_fixed_size_binary(t))


def _is_list(t: pa.DataType) -> bool:
  return (pa.types.is_list(t) or pa.types.is_large_list(t) or
          pa.types.is_fixed_size_list(t))


def read_type(t: pa.DataType) -> pa.DataType:
  """The type a column of source type ``t`` is read as, for the whole span."""
  if pa.types.is_dictionary(t):
    return read_type(t.value_type)
  if pa.types.is_boolean(t):
    return pa.bool_()
  if pa.types.is_uint64(t):
    return pa.float64()
  if pa.types.is_integer(t):
    return pa.int64()
  if pa.types.is_floating(t) or pa.types.is_decimal(t):
    return pa.float64()
  if _is_textual(t) or pa.types.is_null(t):
    return pa.string()
  if _is_binary(t):
    return pa.large_binary()
  if pa.types.is_timestamp(t):
    # Zone-less timestamps are taken as UTC (BigQuery DATETIME, naive CSV).
    return UTC_MICROS
  if pa.types.is_date(t):
    return pa.date32()
  if pa.types.is_time(t):
    return pa.time64('us')
  if pa.types.is_duration(t):
    return pa.duration('us')
  if pa.types.is_struct(t):
    return pa.struct([pa.field(f.name, read_type(f.type)) for f in t])
  if pa.types.is_map(t):
    return pa.map_(read_type(t.key_type), read_type(t.item_type))
  if _is_list(t):
    inner = read_type(t.value_type)
    if _is_list(inner) or pa.types.is_map(inner):
      return pa.large_list(pa.string())  # lists of lists: items as JSON text
    return pa.large_list(inner)
  return pa.string()  # unions, extension types: JSON text


def kind(t: pa.DataType) -> str:
  """What values of type ``t`` are, in the user's words: the meaning of the
  type they are read as (``read_type``)."""
  t = read_type(t)
  while _is_list(t):
    t = t.value_type
  if pa.types.is_boolean(t):
    return BOOL
  if pa.types.is_integer(t):
    return INT
  if pa.types.is_floating(t):
    return FLOAT
  if _is_binary(t):
    return BYTES
  if pa.types.is_timestamp(t):
    return TIMESTAMP
  if pa.types.is_date(t):
    return DATE
  if pa.types.is_time(t):
    return TIME_OF_DAY
  if pa.types.is_duration(t):
    return DURATION
  if pa.types.is_struct(t) or pa.types.is_map(t):
    return STRUCT
  return STRING


def feature_kinds(schema: pa.Schema) -> Dict[Tuple[str, ...], str]:
  """{feature path: kind} for every column and nested field of a schema.

  Paths are TFDV's steps: ``('addr', 'city')`` (shown ``addr.city``); a map
  ``m`` has ``('m', 'key')`` and ``('m', 'value')``. A column named
  ``Solar.R`` is the one step ``('Solar.R',)``.
  """
  out: Dict[Tuple[str, ...], str] = {}

  def visit(path: Tuple[str, ...], t: pa.DataType):
    out[path] = kind(t)
    inner = t
    while _is_list(inner):
      inner = inner.value_type
    if pa.types.is_struct(inner):
      for f in inner:
        visit(path + (f.name,), f.type)
    elif pa.types.is_map(inner):
      visit(path + ('key',), inner.key_type)
      visit(path + ('value',), inner.item_type)

  for field in schema:
    visit((field.name,), field.type)
  return out


# ----------------------------------------------------------------------------
# Values as TFDV reads them


def _flat_values(array: pa.Array) -> pa.Array:
  """A flat (non-list) array of read type as int64, float64 or large_binary.

  Structs and maps are handled by the caller.
  """
  t = array.type
  if pa.types.is_boolean(t):
    return pc.cast(array, pa.int64())
  if pa.types.is_integer(t):
    return pc.cast(array, pa.int64())
  if pa.types.is_floating(t) or pa.types.is_decimal(t):
    return pc.cast(array, pa.float64(), safe=False)
  if pa.types.is_timestamp(t):
    return pc.cast(pc.cast(array, UTC_MICROS), pa.int64())
  if pa.types.is_date(t):
    return pc.cast(pc.cast(array, pa.date32()), pa.int32()).cast(pa.int64())
  if pa.types.is_time(t):
    micros = pc.cast(pc.cast(array, pa.time64('us')), pa.int64())
    return pc.divide(pc.cast(micros, pa.float64()), 1e6)
  if pa.types.is_duration(t):
    micros = pc.cast(pc.cast(array, pa.duration('us')), pa.int64())
    return pc.divide(pc.cast(micros, pa.float64()), 1e6)
  if _is_textual(t) or _is_binary(t):
    return pc.cast(array, pa.large_binary())
  if pa.types.is_null(t):
    return pa.nulls(len(array), pa.large_binary())
  return pc.cast(as_json_text(array), pa.large_binary())


def as_json_text(array: pa.Array) -> pa.Array:
  """Each value as compact JSON text (strings as they are); nulls stay null."""
  return pa.array([None if v is None else v if isinstance(v, str) else
                   json.dumps(v, sort_keys=True, default=str)
                   for v in array.to_pylist()], type=pa.string())


def _items(array: pa.Array) -> pa.Array:
  """Items of a (possibly nested-list) array, for TFDV: primitives or structs."""
  t = array.type
  if pa.types.is_struct(t):
    return _struct_of_lists(array)
  if pa.types.is_map(t):
    return _map_as_struct(array)
  return _flat_values(array)


def _struct_of_lists(array: pa.Array) -> pa.Array:
  """A struct array whose fields are list-wrapped, as TFDV's nested features."""
  if isinstance(array, pa.ChunkedArray):
    array = array.combine_chunks()
  fields = [array.field(i) for i in range(array.type.num_fields)]
  children = [to_tfdv(child) for child in fields]
  names = [f.name for f in array.type]
  if not children:  # an empty record: nothing inside to describe
    children, names = [pa.nulls(len(array), pa.large_list(pa.int64()))], [
        '_empty']
  mask = pc.is_null(array) if array.null_count else None
  return pa.StructArray.from_arrays(children, names=names, mask=mask)


def _map_as_struct(array: pa.MapArray) -> pa.Array:
  """map<k, v> as a list of records {key, value} per row (keys, values flat)."""
  keys = to_tfdv(array.keys)
  values = to_tfdv(array.items)
  entries = pa.StructArray.from_arrays([keys, values], names=['key', 'value'])
  offsets = pc.cast(array.offsets, pa.int64())
  mask = pc.is_null(array) if array.null_count else None
  return pa.LargeListArray.from_arrays(offsets, entries, mask=mask)


def to_tfdv(array: Any) -> pa.Array:
  """One column of read type as TFDV's canonical column (``large_list``)."""
  if isinstance(array, pa.ChunkedArray):
    array = array.combine_chunks()
  t = array.type
  if array.offset and (pa.types.is_map(t) or _is_list(t)):
    array = pa.concat_arrays([array])  # offsets from 0 over its own values
  if pa.types.is_map(t):
    return _map_as_struct(array)
  if _is_list(t):
    if pa.types.is_fixed_size_list(t):
      array = pc.cast(array, pa.large_list(t.value_type))
    elif pa.types.is_list(t):
      array = pc.cast(array, pa.large_list(t.value_type))
    values = array.values
    if _is_list(values.type) or pa.types.is_map(values.type):
      values = as_json_text(values)
    items = _items(values)
    offsets = pc.cast(array.offsets, pa.int64())
    mask = pc.is_null(array) if array.null_count else None
    return pa.LargeListArray.from_arrays(offsets, items, mask=mask)
  if pa.types.is_struct(t):
    return array_util.ToSingletonListArray(_struct_of_lists(array))
  return _singleton_lists(_flat_values(array))


def _singleton_lists(values: pa.Array) -> pa.LargeListArray:
  """``array_util.ToSingletonListArray`` of a flat array, the same array in
  fewer steps: [value] per row, null where the value is null. Its per-call
  overhead was ~0.3 ms a column and batch (5,000 columns: 1.5 s a batch)."""
  n = len(values)
  if not values.null_count:
    return pa.LargeListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int64)), values)
  valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False))
  offsets = np.zeros(n + 1, np.int64)
  np.cumsum(valid, out=offsets[1:])
  # The mask has one more entry than rows (it is read over the offsets); the
  # last is always valid.
  mask = np.zeros(n + 1, bool)
  mask[:n] = ~valid
  return pa.LargeListArray.from_arrays(pa.array(offsets, mask=mask),
                                       values.drop_null())


def columns_by_name(table: Any) -> Dict[str, Any]:
  """{name: column} of a Table or RecordBatch, the first column of each name:
  looked up once per table. ``table.column_names`` builds a new list on
  every call and ``table.column(name)`` searches the schema, so per column
  they are quadratic in the width (5,000 columns: seconds per batch)."""
  out: Dict[str, Any] = {}
  for name, column in zip(table.schema.names, table.columns):
    out.setdefault(name, column)
  return out


def table_to_tfdv(table: pa.Table) -> pa.RecordBatch:
  """A table of read-type columns as one canonical TFDV RecordBatch."""
  columns = [to_tfdv(table.column(i)) for i in range(table.num_columns)]
  if not columns:
    return pa.RecordBatch.from_arrays([], names=[])
  return pa.RecordBatch.from_arrays(columns, names=table.column_names)


# ----------------------------------------------------------------------------
# Time written as text: which text columns are times


# ISO-8601 as data tools write it: a date, or a date and a time of day (to
# the minute at least), optional fraction and zone. Anchored: nothing else
# may be in the value.
ISO_TIMESTAMP_PATTERN = (r'^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}'
                         r'(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$')
ISO_DATE_PATTERN = r'^\d{4}-\d{2}-\d{2}$'


def text_time_type(values: Any) -> Optional[pa.DataType]:
  """The time type of a text column's sample values, or None: its text.

  One rule for every source whose text columns are typed from their first
  rows (JSON lines, Parquet and CSV strings): ``date32`` when every present
  value is an ISO-8601 date (``2013-01-01``), a UTC timestamp when every
  present value is an ISO-8601 date and time (``2013-01-01T10:00:00Z``,
  ``2013-01-01 10:00``, no zone meaning UTC); otherwise the column stays
  text. No present value: text. Ordinary strings never match (the patterns
  are anchored at both ends), and ``dataset.column_types: {col: string}``
  keeps a matching column as text.
  """
  array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else (
      pa.array(list(values), type=pa.string()))
  if isinstance(array, pa.ChunkedArray):
    array = array.combine_chunks()
  if pa.types.is_dictionary(array.type):
    array = array.dictionary_decode()
  if not _is_textual(array.type):
    return None
  array = array.drop_null()
  if not len(array):
    return None
  for pattern, found in ((ISO_DATE_PATTERN, pa.date32()),
                         (ISO_TIMESTAMP_PATTERN, UTC_MICROS)):
    if pc.all(pc.match_substring_regex(array, pattern)).as_py():
      return found
  return None


# A value outside TFDV's few types that people write for a moment, in text:
# ISO-8601 and the usual day/month/year orders, with an optional time. Used
# to keep schema inference from building a value domain of moments.
_TIME_TEXT = re.compile(
    r'^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})'
    r'([T ]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s*([AaPp][Mm])?'
    r'(Z|\s?[+-]\d{2}(:?\d{2})?|\s?UTC)?)?$')


def looks_like_time_text(values: Any) -> bool:
  """Whether every one of ``values`` (text) is a date or a date and time
  written as text (ISO-8601, ``2013/01/31``, ``31.01.2013 10:00``,
  ``1/31/2013 10:00 PM``). An empty sample is not."""
  seen = False
  for value in values:
    if value is None:
      continue
    if isinstance(value, bytes):
      value = value.decode('utf-8', errors='replace')
    if not _TIME_TEXT.match(str(value).strip()):
      return False
    seen = True
  return seen


# ----------------------------------------------------------------------------
# Text to time (CSV cells, JSON strings): pyarrow 10 casts text to timestamps
# only when every value has (or lacks) a zone, and not to dates or times.


def text_to(array: pa.Array, target: pa.DataType) -> pa.Array:
  """Casts text to a time type; raises ArrowInvalid for a value that is not.

  Timestamps may mix values with and without a zone (no zone means UTC).
  """
  if isinstance(array, pa.ChunkedArray):
    array = array.combine_chunks()
  if pa.types.is_timestamp(target):
    try:
      return pc.cast(array, UTC_MICROS)
    except pa.ArrowInvalid:
      pass
    try:
      return pc.cast(pc.cast(array, pa.timestamp('us')), UTC_MICROS)
    except pa.ArrowInvalid:
      pass
    out = []
    for v in array.to_pylist():
      out.append(None if v is None else _one_timestamp(v))
    return pa.array(out, type=pa.int64()).cast(UTC_MICROS)
  if pa.types.is_date(target):
    return pc.cast(pc.cast(array, pa.timestamp('s')), pa.date32())
  if pa.types.is_time(target):
    stamps = pc.cast(pc.binary_join_element_wise(
        '1970-01-01T', array, ''), pa.timestamp('us'))
    return pc.cast(pc.cast(stamps, pa.int64()), pa.time64('us'))
  raise pa.ArrowInvalid(f'no conversion of text to {target}')


def _one_timestamp(value: str) -> int:
  one = pa.array([value])
  for target in (UTC_MICROS, pa.timestamp('us')):
    try:
      return pc.cast(pc.cast(pc.cast(one, target), UTC_MICROS),
                     pa.int64())[0].as_py()
    except pa.ArrowInvalid:
      continue
  raise pa.ArrowInvalid(f'{value!r} is not a timestamp')


def cast_column(array: Any, target: pa.DataType) -> Any:
  """``array`` as ``target``; raises ArrowInvalid/NotImplemented if it can't."""
  source = array.type
  if source == target:
    return array
  if pa.types.is_dictionary(source) and not pa.types.is_dictionary(target):
    # Parquet and Arrow files keep low-cardinality text dictionary-encoded.
    if isinstance(array, pa.ChunkedArray):
      array = array.combine_chunks()
    return cast_column(array.dictionary_decode(), target)
  if _is_textual(source) and (pa.types.is_timestamp(target) or
                              pa.types.is_date(target) or
                              pa.types.is_time(target)):
    return text_to(array, target)
  if _is_textual(target) and not _is_textual(source) and not (
      pa.types.is_null(source)):
    if isinstance(array, pa.ChunkedArray):
      array = array.combine_chunks()
    if pa.types.is_struct(source) or _is_list(source) or pa.types.is_map(
        source):
      return as_json_text(array)
  if pa.types.is_uint64(source) or pa.types.is_decimal(source) or (
      pa.types.is_timestamp(source) and pa.types.is_timestamp(target)) or (
          pa.types.is_time(source) and pa.types.is_time(target)) or (
              pa.types.is_duration(source) and pa.types.is_duration(target)):
    # Finer units are truncated to microseconds; uint64 and decimals may
    # round (documented in TYPE_TABLE).
    return pc.cast(array, target, safe=False)
  try:
    return pc.cast(array, target)
  except pa.ArrowNotImplementedError:
    if not (pa.types.is_struct(target) or _is_list(target) or
            pa.types.is_map(target)):
      raise
  # Nested types pyarrow cannot cast (lists of lists as text, records whose
  # fields changed type): value by value.
  return pa.array([fit(v, target) for v in array.to_pylist()], type=target)


def fit(value: Any, target: pa.DataType) -> Any:
  """A Python value (from JSON or Arrow) shaped for ``target``.

  Text targets take any other value as JSON text; records keep their known
  fields; lists fit each item. A scalar where a record or list belongs raises
  ArrowInvalid; anything else that does not fit is left for pyarrow to
  reject.
  """
  if value is None:
    return None
  if _is_textual(target):
    if isinstance(value, str):
      return value
    return json.dumps(value, sort_keys=True, default=str)
  if pa.types.is_struct(target):
    if not isinstance(value, dict):
      raise pa.ArrowInvalid(f'{type(value).__name__} is not a record')
    return {f.name: fit(value.get(f.name), f.type) for f in target}
  if pa.types.is_map(target):
    pairs = value.items() if isinstance(value, dict) else value
    return [(fit(k, target.key_type), fit(v, target.item_type))
            for k, v in pairs]
  if _is_list(target):
    # pyarrow would take a string for a list of its characters.
    if not isinstance(value, (list, tuple)):
      raise pa.ArrowInvalid(f'{type(value).__name__} is not a list')
    return [fit(v, target.value_type) for v in value]
  if isinstance(value, str) and (pa.types.is_timestamp(target) or
                                 pa.types.is_date(target)):
    # ISO-8601 text inside records and lists (JSON); no zone means UTC.
    try:
      moment = dt.datetime.fromisoformat(value)
    except ValueError:
      return value  # left for pyarrow to reject
    if pa.types.is_date(target):
      return moment.date()
    if moment.tzinfo is None:
      moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment
  if pa.types.is_floating(target) and isinstance(value, int) and not (
      isinstance(value, bool)):
    return float(value)
  if pa.types.is_integer(target) and isinstance(value, float) and (
      value.is_integer()):
    return int(value)
  return value


def time_format(kind_name: str) -> Optional[str]:
  return TIME_FORMATS.get(kind_name)
