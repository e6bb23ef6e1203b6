"""Sources: read a dataset span into Arrow RecordBatches that TFDV accepts.

Every format goes through Beam's filesystems, so local paths, globs and
``gs://`` paths work the same way. Files are the unit of parallelism (for
Parquet, row groups), and each file is read in blocks, so memory is bounded by
the batch size rather than by the number of rows.

Output of ``ReadSpan``: a PCollection of ``pa.RecordBatch`` whose columns are
``large_list`` arrays of TFDV's canonical types (int64, float64, large_binary),
exactly what TFDV's own ``generate_statistics_from_dataframe`` feeds its
generators; and, under the ``malformed`` tag, one JSON string per row that
could not be read (``{"file", "line", "reason", "row"}``).
"""

import codecs
import csv
import dataclasses
import json
import logging
import re
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from transforms import arrow_types
from transforms import import_hooks
from transforms.io import csv_dialect
from transforms import errors
from transforms.errors import UserError

_log = logging.getLogger(__name__)

FORMATS = ('csv', 'parquet', 'jsonl', 'tfrecord', 'bigquery')
MALFORMED_TAG = errors.MALFORMED_TAG
_METRICS_NAMESPACE = 'dv.source'
# Bytes pyarrow's CSV reader parses per block; blocks are re-cut into batches.
_CSV_BLOCK_BYTES = 8 << 20
# Rows of the first file used to infer column types when config gives none.
_INFERENCE_ROWS = 10_000

_TYPE_NAMES = {
    'int': pa.int64(),
    'float': pa.float64(),
    'string': pa.string(),
    'bool': pa.bool_(),
}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What to read: validated from the ``dataset`` config group."""
  name: str
  path: str
  format: str
  batch_size: int = 100_000
  # Batches are also cut at about this many bytes of Arrow data, so that a
  # wide table (500 columns) does not make 100k-row batches of 400 MB.
  batch_bytes: int = 64 << 20
  # CSV. delimiter / quote_char None: detected from the first file of the
  # span (resolve_csv_dialect); read as ',' / '"' where nothing was detected.
  delimiter: Optional[str] = None
  # Any Python codec name; UTF-8 (with or without a BOM) is read natively.
  encoding: str = 'utf-8'
  header: bool = True
  column_names: Tuple[str, ...] = ()
  quote_char: str = '"'
  null_values: Tuple[str, ...] = ('', 'NA', 'N/A', 'NULL', 'null', 'NaN', 'nan')
  column_types: Tuple[Tuple[str, str], ...] = ()
  columns: Tuple[str, ...] = ()
  # format=bigquery: the query that reads the span, and how Beam reads it.
  query: str = ''
  bigquery_method: str = 'DIRECT_READ'


def format_from_path(path: str) -> Optional[str]:
  """Guesses the format from a path's extension, or None."""
  lowered = path.lower()
  for suffix in ('.gz', '.bz2', '.deflate', '.zst'):
    if lowered.endswith(suffix):
      lowered = lowered[:-len(suffix)]
  for ext, fmt in (('.csv', 'csv'), ('.tsv', 'csv'), ('.parquet', 'parquet'),
                   ('.pq', 'parquet'), ('.jsonl', 'jsonl'), ('.json', 'jsonl'),
                   ('.ndjson', 'jsonl'), ('.tfrecord', 'tfrecord'),
                   ('.tfrecords', 'tfrecord')):
    if lowered.endswith(ext):
      return fmt
  return None


def match_files(pattern: str) -> List[str]:
  """Lists the files a path or glob names, sorted; UserError if there are none."""
  try:
    result = FileSystems.match([pattern])[0]
  except Exception as e:  # Beam wraps filesystem errors in several types.
    raise UserError(f'dataset.path {pattern!r}: cannot list files '
                    f'({_first_line(e)})') from e
  paths = sorted(m.path for m in result.metadata_list if not
                 _is_hidden(m.path))
  if not paths:
    raise UserError(f'dataset.path {pattern!r}: no such file (nothing matches)')
  return paths


def _is_hidden(path: str) -> bool:
  base = path.rstrip('/').rsplit('/', 1)[-1]
  return base.startswith('.') or base.startswith('_')


def _first_line(e: BaseException) -> str:
  text = str(e).strip() or type(e).__name__
  return text.splitlines()[0][:300]


# ----------------------------------------------------------------------------
# Column types


def _normalize_type(t: pa.DataType) -> pa.DataType:
  """The type a column is read as for the whole span (transforms/arrow_types)."""
  return arrow_types.read_type(t)


def _apply_overrides(schema: pa.Schema, spec: DatasetSpec) -> pa.Schema:
  fields = [pa.field(f.name, _normalize_type(f.type)) for f in schema]
  overrides = dict(spec.column_types)
  names = [f.name for f in fields]
  for col in overrides:
    if col not in names:
      raise UserError(f'dataset.column_types.{col}: no column {col!r} in '
                      f'{spec.path!r} (columns: {", ".join(names[:20])})')
  fields = [pa.field(f.name, _TYPE_NAMES[overrides[f.name]])
            if f.name in overrides else f for f in fields]
  if spec.columns:
    missing = [c for c in spec.columns if c not in names]
    if missing:
      raise UserError(f'dataset.columns: no column {missing[0]!r} in '
                      f'{spec.path!r}')
    fields = [f for f in fields if f.name in spec.columns]
  return pa.schema(fields)


def declared_schema(spec: DatasetSpec) -> pa.Schema:
  """The column types config states (``dataset.column_types``), no file read.

  Used where the input must not be touched (a Dataflow dry run): Parquet and
  TFRecord carry their own types anyway; for CSV and JSON lines the columns
  not listed are typed from the first file when the job really runs.
  """
  fields = [pa.field(name, _TYPE_NAMES[typ]) for name, typ in spec.column_types
            if not spec.columns or name in spec.columns]
  return pa.schema(fields)


def infer_schema(spec: DatasetSpec, first_path: str) -> pa.Schema:
  """Infers the span's column types from its first file.

  Parquet and TFRecord carry their own types (Parquet text columns holding
  ISO-8601 dates or timestamps are read as such, ``_with_text_times``); CSV
  and JSON lines are inferred from the first rows of the first file, and
  ``dataset.column_types`` wins.
  Every file of the span is then read with these types, so one column never
  changes type between batches (TFDV rejects that).
  """
  try:
    if spec.format == 'parquet':
      with _open_binary(first_path) as f:
        pf = pq.ParquetFile(f)
        schema = _with_text_times(pf.schema_arrow, pf)
    elif spec.format == 'csv':
      schema = _infer_csv_schema(spec, first_path)
    elif spec.format == 'jsonl':
      schema = _infer_jsonl_schema(first_path)
    else:
      return pa.schema([])  # tf.Example carries its own types.
  except UserError:
    raise
  except Exception as e:
    raise UserError(f'{first_path}: cannot read as {spec.format} '
                    f'({_first_line(e)})') from e
  return _apply_overrides(schema, spec)


def _with_text_times(schema: pa.Schema, pf: pq.ParquetFile) -> pa.Schema:
  """A Parquet file's schema, its text columns that hold ISO-8601 dates or
  timestamps typed as such (``arrow_types.text_time_type`` on the first
  ``_INFERENCE_ROWS`` rows, the rule CSV and JSON lines follow): time
  written as text is time in every format."""
  text = [f.name for f in schema
          if arrow_types.kind(f.type) == arrow_types.STRING and not (
              pa.types.is_null(f.type))]
  if not text or not pf.metadata.num_rows:
    return schema
  head = next(pf.iter_batches(batch_size=_INFERENCE_ROWS, columns=text,
                              use_threads=False), None)
  if head is None:
    return schema
  fields = []
  for field in schema:
    found = (arrow_types.text_time_type(head.column(field.name))
             if field.name in text else None)
    fields.append(field if found is None else pa.field(field.name, found))
  return pa.schema(fields)


def resolve_csv_dialect(spec: DatasetSpec, first_path: str) -> DatasetSpec:
  """The spec with the CSV delimiter and quote character the span is read with.

  Those not set (None) are detected from the first ``SAMPLE_BYTES`` of the
  span's first file (csv_dialect.detect), once, where the column types are
  inferred; every worker then reads with the spec returned. The sample is
  decoded with ``dataset.csv.encoding`` either way, so a file in another
  encoding ends the run here with one line. Other formats: ``spec`` as is.
  """
  if spec.format != 'csv':
    return spec
  try:
    raw, complete = _csv_sample(first_path)
  except Exception as e:  # Beam and Arrow raise several types.
    raise UserError(f'{first_path}: cannot read as csv '
                    f'({_first_line(e)})') from e
  if raw.startswith(codecs.BOM_UTF8) and not csv_dialect.is_utf8(
      spec.encoding):
    raise UserError(f'{first_path}: starts with a UTF-8 byte order mark but '
                    f'dataset.csv.encoding={spec.encoding!r}: set '
                    f'dataset.csv.encoding=utf-8')
  try:
    text = csv_dialect.decode_sample(raw, spec.encoding, complete)
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b'\n') + 1
    raise _encoding_error(
        spec, first_path, f'byte 0x{raw[e.start]:02x} on line {line}',
        _encoding_suggestion(raw, spec.encoding)) from e
  if spec.delimiter is not None and spec.quote_char is not None:
    return spec
  found = csv_dialect.detect(
      text, delimiter=spec.delimiter, quote_char=spec.quote_char,
      header=spec.header and not spec.column_names,
      expected_columns=len(spec.column_names) or None)
  if spec.delimiter is None:
    if found.columns > 1:
      _log.info('dataset.csv.delimiter not set: detected %s in %s (%d '
                'columns, quote %s)', csv_dialect.shown(found.delimiter),
                first_path, found.columns, csv_dialect.shown(
                    found.quote_char) if found.quote_char else 'none')
    else:
      _log.info('dataset.csv.delimiter not set: no delimiter found in %s, '
                'read as one column', first_path)
  return dataclasses.replace(spec, delimiter=found.delimiter,
                             quote_char=found.quote_char)


def _csv_sample(path: str) -> Tuple[bytes, bool]:
  """The first bytes of a file, decompressed, and whether that is all of it."""
  limit = csv_dialect.SAMPLE_BYTES
  chunks, size = [], 0
  with _open_arrow_stream(path) as f:
    while size < limit:
      chunk = f.read(limit - size)
      if not chunk:
        break
      chunks.append(chunk)
      size += len(chunk)
  return b''.join(chunks), size < limit


def _encoding_suggestion(raw: bytes, encoding: str) -> str:
  """An encoding the sample decodes in, to name in the error."""
  if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
    return 'utf-16'
  current = csv_dialect.canonical_encoding(encoding)
  for name in ('utf-8', 'cp1252', 'latin-1'):
    if csv_dialect.canonical_encoding(name) == current:
      continue
    try:
      csv_dialect.decode_sample(raw, name, complete=False)
      return name
    except UnicodeDecodeError:
      continue
  return 'latin-1'


def _encoding_error(spec: DatasetSpec, path: str, where: str,
                    suggestion: str = 'latin-1') -> UserError:
  return UserError(f'{path}: not valid {spec.encoding} text ({where}): set '
                   f'dataset.csv.encoding to the encoding of the file (e.g. '
                   f'dataset.csv.encoding={suggestion})')


def _as_encoding_error(spec: DatasetSpec, path: str,
                       e: BaseException) -> Optional[UserError]:
  """The one-line error for text a CSV reader could not decode, or None."""
  if isinstance(e, UnicodeDecodeError):
    return _encoding_error(spec, path, f'byte 0x{e.object[e.start]:02x}')
  if isinstance(e, pa.ArrowInvalid) and 'invalid UTF8' in str(e):
    row = re.search(r'Row #(\d+)', str(e))
    return _encoding_error(spec, path, f'row {row.group(1)}' if row else
                           'a text value')
  return None


def _csv_parse_options(spec: DatasetSpec,
                       invalid_row_handler) -> pacsv.ParseOptions:
  quote = (csv_dialect.DEFAULT_QUOTE if spec.quote_char is None else
           spec.quote_char)
  return pacsv.ParseOptions(
      delimiter=spec.delimiter or csv_dialect.DEFAULT_DELIMITER,
      quote_char=quote or False, invalid_row_handler=invalid_row_handler)


# Bytes of a file's start that type inference (and the top-values probe)
# parse: the first block of rows.
_CSV_HEAD_BYTES = 1 << 20


def _csv_head_table(spec: DatasetSpec, path: str,
                    convert_options: pacsv.ConvertOptions
                    ) -> Tuple[Optional[pa.Table], Optional[pa.Schema]]:
  """The rows of the first ~1 MiB of a CSV file: (table, header-only schema).

  The head is read into memory and parsed from there: pyarrow 10's streaming
  reader over a Python file, dropped after its first batch, can deadlock
  with its read-ahead thread (seen on a 33 MB file).
  """
  with _open_arrow_stream(path) as f:
    head = f.read(_CSV_HEAD_BYTES)
    complete = len(head) < _CSV_HEAD_BYTES or not f.read(1)
  if not complete:
    cut = head.rfind(b'\n')
    head = head[:cut + 1] if cut >= 0 else head
  reader = _open_csv_or_none(
      pa.BufferReader(head),
      read_options=_csv_read_options(spec, block_size=_CSV_HEAD_BYTES + 1),
      parse_options=_csv_parse_options(spec, lambda row: 'skip'),
      convert_options=convert_options)
  if reader is None:
    return None, None
  batches = list(reader)
  if not batches:
    return None, reader.schema
  return pa.Table.from_batches(batches), reader.schema


def _infer_csv_schema(spec: DatasetSpec, path: str) -> pa.Schema:
  try:
    table, header = _csv_head_table(spec, path, pacsv.ConvertOptions(
        null_values=list(spec.null_values), strings_can_be_null=True))
  except (UnicodeDecodeError, pa.ArrowInvalid) as e:
    error = _as_encoding_error(spec, path, e)
    if error is None:
      raise
    raise error from e
  if table is None:
    if header is None:
      return pa.schema([])
    _check_one_column(spec, path, header.names, [])
    return header
  table = table.slice(0, _INFERENCE_ROWS)
  if table.num_columns == 1:
    _check_one_column(spec, path, table.column_names,
                      table.column(0).slice(0, 1000).to_pylist())
  return table.schema


def _check_one_column(spec: DatasetSpec, path: str, names: List[str],
                      values: list) -> None:
  """UserError when one column was read whose text holds another delimiter."""
  if len(names) != 1:
    return
  used = spec.delimiter or csv_dialect.DEFAULT_DELIMITER
  header = spec.header and not spec.column_names
  found = csv_dialect.misread_delimiter(names[0], values, used, header=header)
  if found is None:
    return
  name = names[0] if len(names[0]) <= 60 else names[0][:57] + '...'
  where = (f'dataset.path {path!r}' if spec.path == path else
           f'dataset.path {spec.path!r}: {path}')
  holders = ('header and values' if header and any(
      v is not None and found in str(v) for v in values) else
             'header' if header else 'values')
  shown = csv_dialect.shown(found)
  verb = 'contains' if holders == 'header' else 'contain'
  raise UserError(f'{where} read with delimiter '
                  f'{csv_dialect.shown(used)} as one column {name!r} whose '
                  f'{holders} {verb} {shown}: set '
                  f'"dataset.csv.delimiter={shown}"')


def _infer_jsonl_schema(path: str) -> pa.Schema:
  rows = []
  for line in _lines(path):
    if len(rows) >= _INFERENCE_ROWS:
      break
    try:
      value = json.loads(line)
    except ValueError:
      continue
    if isinstance(value, dict):
      rows.append(value)
  names = list(dict.fromkeys(k for r in rows for k in r))
  return pa.schema([pa.field(n, json_type([r.get(n) for r in rows]))
                    for n in names])


def _json_kind(value) -> str:
  if isinstance(value, bool):
    return 'bool'
  if isinstance(value, int):
    return 'int'
  if isinstance(value, float):
    return 'float'
  if isinstance(value, str):
    return 'str'
  if isinstance(value, dict):
    return 'dict'
  if isinstance(value, list):
    return 'list'
  return 'other'


def json_type(values: Sequence) -> pa.DataType:
  """The type of a JSON field from sample values, by one fixed rule.

  Only booleans: bool. Only integers: int. Integers and decimals: float.
  Only strings: timestamp or date when every one is ISO-8601, else string
  (``arrow_types.text_time_type``, the rule Parquet text columns follow too).
  Only objects: a record of every key seen. Only arrays: a list of the
  items' type. Any other mix (``5`` in one row, ``"5 kg"`` in another):
  string, where non-string values are read as their JSON text and counted.
  """
  present = [v for v in values if v is not None]
  kinds = {_json_kind(v) for v in present}
  if not kinds:
    return pa.string()
  if kinds == {'bool'}:
    return pa.bool_()
  if kinds == {'int'}:
    return pa.int64()
  if kinds <= {'int', 'float'}:
    return pa.float64()
  if kinds == {'str'}:
    return arrow_types.text_time_type(present) or pa.string()
  if kinds == {'dict'}:
    names = list(dict.fromkeys(k for v in present for k in v))
    return pa.struct([pa.field(n, json_type([v.get(n) for v in present]))
                      for n in names])
  if kinds == {'list'}:
    return pa.large_list(json_type([x for v in present for x in v]))
  return pa.string()


def _csv_read_options(spec: DatasetSpec, block_size: int) -> pacsv.ReadOptions:
  return pacsv.ReadOptions(
      block_size=block_size,
      use_threads=False,
      column_names=list(spec.column_names) or None,
      autogenerate_column_names=not spec.header and not spec.column_names,
      # 'utf8' is decoded by Arrow itself (which also skips a UTF-8 BOM);
      # other encodings go through Python's codec.
      encoding=('utf8' if csv_dialect.is_utf8(spec.encoding) else
                spec.encoding))


def _open_binary(path: str):
  return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


_CODECS = {'.gz': 'gzip', '.bz2': 'bz2', '.zst': 'zstd'}


def _open_arrow_stream(path: str) -> pa.NativeFile:
  """An Arrow input stream over a (possibly compressed) file on any Beam FS.

  pyarrow cannot read Beam's own decompressing wrapper, so the raw bytes are
  handed to Arrow's codec instead.
  """
  raw = pa.PythonFile(_open_binary(path), mode='r')
  for ext, codec in _CODECS.items():
    if path.lower().endswith(ext):
      return pa.CompressedInputStream(raw, codec)
  return raw


def _lines(path: str) -> Iterator[str]:
  """Text lines of a (possibly compressed) file on any Beam filesystem."""
  with FileSystems.open(path) as f:
    while True:
      line = f.readline()
      if not line:
        return
      yield line.decode('utf-8', errors='replace')


# ----------------------------------------------------------------------------
# Conversion of read blocks into canonical batches


class _Conformer:
  """Casts blocks to the span's types and picks out rows that do not fit."""

  def __init__(self, schema: pa.Schema):
    self._types = {f.name: f.type for f in schema}
    self._order = [f.name for f in schema]

  def conform(self, table: pa.Table) -> Tuple[pa.Table, List[Tuple[int, str]]]:
    """Returns (table with the span's types, [(row index, reason)])."""
    bad: Dict[int, str] = {}
    arrays, names = [], []
    columns = arrow_types.columns_by_name(table)
    for name in self._order:
      col = columns.get(name)
      if col is not None:
        arrays.append(self._cast(name, col, bad))
      else:
        arrays.append(pa.nulls(table.num_rows, self._types[name]))
      names.append(name)
    for name, col in columns.items():
      if name not in self._types:  # a column the first file did not have
        arrays.append(col if pa.types.is_string(col.type) else
                      _cast_lenient(col, pa.string()))
        names.append(name)
    out = pa.Table.from_arrays(arrays, names=names)
    if bad:
      keep = pa.array([i not in bad for i in range(out.num_rows)])
      out = out.filter(keep)
    return out, sorted(bad.items())

  def _cast(self, name, col, bad) -> pa.ChunkedArray:
    target = self._types[name]
    if col.type == target:
      return col
    try:
      return arrow_types.cast_column(col, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
      pass
    # Rare path: find the values that do not convert, one by one.
    out = []
    for i, v in enumerate(col.to_pylist()):
      if v is None:
        out.append(None)
        continue
      try:
        one = arrow_types.cast_column(
            pa.array([v], type=col.type), target)[0].as_py()
        out.append(one)
      except (pa.ArrowInvalid, pa.ArrowNotImplementedError,
              pa.ArrowTypeError, ValueError, TypeError):
        bad.setdefault(i, f'column {name!r}: value is not {_type_word(target)}')
        out.append(None)
    return pa.chunked_array([pa.array(out, type=target)])


def _cast_lenient(col, target):
  try:
    return arrow_types.cast_column(col, target)
  except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
    return pa.array([None if v is None else str(v) for v in col.to_pylist()],
                    type=target)


_TYPE_WORDS = {
    arrow_types.INT: 'an integer', arrow_types.FLOAT: 'a number',
    arrow_types.BOOL: 'a boolean', arrow_types.TIMESTAMP: 'a timestamp',
    arrow_types.DATE: 'a date', arrow_types.TIME_OF_DAY: 'a time of day',
    arrow_types.DURATION: 'a duration', arrow_types.STRUCT: 'a record',
}


def _type_word(t: pa.DataType) -> str:
  if pa.types.is_large_list(t) or pa.types.is_list(t):
    return 'a list'
  return _TYPE_WORDS.get(arrow_types.kind(t), str(t))


def to_tfdv_batch(table: pa.Table) -> pa.RecordBatch:
  """Turns a table of read-type columns into one canonical TFDV RecordBatch."""
  return arrow_types.table_to_tfdv(table)


class RecordBatchCoder(beam.coders.Coder):
  """Arrow IPC coder for RecordBatches, with a size estimate that copies nothing.

  Beam estimates the byte size of the first elements of every PCollection
  (and a sample of the rest) by encoding them. With the default pickle coder
  that serialized each 100k-row batch once per PCollection it passes through
  (four in the statistics pipeline): about 15% of the run time on 4M rows.
  Arrow knows the size of its buffers, so the estimate is free.
  """

  def encode(self, value: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, value.schema) as writer:
      writer.write_batch(value)
    return sink.getvalue().to_pybytes()

  def decode(self, encoded: bytes) -> pa.RecordBatch:
    return pa.ipc.open_stream(encoded).read_next_batch()

  def estimate_size(self, value: pa.RecordBatch) -> int:
    return value.nbytes

  def is_deterministic(self) -> bool:
    return False

  def to_type_hint(self):
    return pa.RecordBatch

  def __eq__(self, other):
    return type(self) is type(other)

  def __hash__(self):
    return hash(type(self))


def use_record_batch_coder() -> None:
  """Makes ``RecordBatchCoder`` Beam's coder for ``pa.RecordBatch``."""
  beam.coders.registry.register_coder(pa.RecordBatch, RecordBatchCoder)


# Ours for every PCollection typed pa.RecordBatch. This module does not import
# TFDV (the vectorized pass never does); when code that needs TFDV imports it,
# its types module registers TFDV's own coder for the type, and ours is put
# back right after (transforms/import_hooks.py).
use_record_batch_coder()
import_hooks.after_import('tensorflow_data_validation.types',
                          use_record_batch_coder)


def rows_per_batch(max_rows: int, max_bytes: int, bytes_per_row: float) -> int:
  """Rows of a batch: at most ``max_rows`` and about ``max_bytes``."""
  if bytes_per_row <= 0:
    return max_rows
  return max(1, min(max_rows, int(max_bytes // bytes_per_row)))


class _Rebatcher:
  """Collects tables and hands back tables of ``size`` rows, or fewer rows
  when that many would exceed ``max_bytes`` (sized on the first table)."""

  def __init__(self, size: int, max_bytes: Optional[int] = None):
    self._size = size
    self._max_bytes = max_bytes
    self._parts: List[pa.Table] = []
    self._rows = 0

  def add(self, table: pa.Table) -> Iterator[pa.Table]:
    if table.num_rows == 0:
      return
    if self._max_bytes and not self._parts and self._rows == 0:
      self._size = rows_per_batch(self._size, self._max_bytes,
                                  table.nbytes / table.num_rows)
      self._max_bytes = None  # sized once, on the first rows of the unit
    self._parts.append(table)
    self._rows += table.num_rows
    while self._rows >= self._size:
      merged = pa.concat_tables(self._parts, promote=True)
      yield merged.slice(0, self._size)
      rest = merged.slice(self._size)
      self._parts = [rest] if rest.num_rows else []
      self._rows = rest.num_rows

  def flush(self) -> Iterator[pa.Table]:
    if self._rows:
      yield pa.concat_tables(self._parts, promote=True)
    self._parts, self._rows = [], 0


# ----------------------------------------------------------------------------
# Per-format readers (DoFns over file paths)


class _ReadFileFn(beam.DoFn):
  """Base DoFn: a unit of work (a file) in, canonical RecordBatches and
  malformed rows out. Subclasses implement ``read_blocks``."""

  # A progress.Tracker (set by ReadSpan on local runs), or None.
  _tracker = None

  def __init__(self, spec: DatasetSpec, schema: pa.Schema):
    self._spec = spec
    self._schema = schema
    self._rows = Metrics.counter(_METRICS_NAMESPACE, 'rows_read')
    self._malformed = Metrics.counter(_METRICS_NAMESPACE, 'rows_malformed')
    self._units = Metrics.counter(_METRICS_NAMESPACE, 'files_read')

  def process(self, item):
    path = item[0] if isinstance(item, tuple) else item
    conformer = _Conformer(self._schema)
    rebatcher = _Rebatcher(self._spec.batch_size, self._spec.batch_bytes)
    self._units.inc()
    for table, bad in self.read_blocks(item):
      if bad:
        self._malformed.inc(len(bad))
        for record in bad:
          yield beam.pvalue.TaggedOutput(MALFORMED_TAG, json.dumps(record))
      conformed, rejected = conformer.conform(table)
      if rejected:
        self._malformed.inc(len(rejected))
        for index, reason in rejected:
          yield beam.pvalue.TaggedOutput(MALFORMED_TAG, json.dumps({
              'file': path, 'line': None, 'reason': reason,
              'row': _row_text(table, index)}))
      for out in rebatcher.add(conformed):
        yield self._emit(out)
    for out in rebatcher.flush():
      yield self._emit(out)
    if self._tracker is not None:
      self._tracker.add(units=1)

  def finish_bundle(self):
    if self._tracker is not None:
      self._tracker.flush()

  def _emit(self, table: pa.Table) -> pa.RecordBatch:
    self._rows.inc(table.num_rows)
    if self._tracker is not None:
      self._tracker.add(rows=table.num_rows)
    return to_tfdv_batch(table)

  def read_blocks(self, item) -> Iterator[Tuple[pa.Table, list]]:
    """Yields (block of rows as read, [malformed row records])."""
    raise NotImplementedError


def _row_text(table: pa.Table, index: int) -> str:
  row = table.slice(index, 1).to_pylist()[0]
  return json.dumps(row, default=str)


class _ReadCsvFn(_ReadFileFn):
  """Reads one CSV file (any Beam compression) in blocks.

  All cells are parsed as text first and then cast to the span's column types,
  so a row with a wrong number of cells or a value that does not fit its
  column's type is set aside as malformed instead of failing the file.
  """

  def read_blocks(self, path):
    spec = self._spec
    bad: List[dict] = []

    def on_invalid(row) -> str:
      bad.append({'file': path, 'line': row.number,
                  'reason': (f'expected {row.expected_columns} cells, '
                             f'found {row.actual_columns}'),
                  'row': row.text})
      return 'skip'

    try:
      with _open_arrow_stream(path) as f:
        reader = _open_csv_or_none(
            f,
            read_options=_csv_read_options(spec, block_size=_CSV_BLOCK_BYTES),
            parse_options=_csv_parse_options(spec, on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=_all_strings_for(self._schema),
                null_values=list(spec.null_values), strings_can_be_null=True,
                include_columns=list(spec.columns) or None))
        if reader is None:
          return
        for batch in reader:
          yield pa.Table.from_batches([batch]), list(bad)
          bad.clear()
        if bad:
          yield pa.table({}), list(bad)
    except (UnicodeDecodeError, pa.ArrowInvalid) as e:
      # Text the configured encoding cannot decode fails the file as a whole
      # (Arrow decodes blocks, not rows): one line naming the file and key.
      error = _as_encoding_error(spec, path, e)
      if error is None:
        raise
      raise error from e


def _all_strings_for(schema: pa.Schema) -> Dict[str, pa.DataType]:
  return {f.name: pa.string() for f in schema}


def _open_csv_or_none(f, **options) -> Optional[pacsv.CSVStreamingReader]:
  """pyarrow's streaming CSV reader, or None for a file with no bytes."""
  try:
    return pacsv.open_csv(f, **options)
  except pa.ArrowInvalid as e:
    if 'Empty CSV file' in str(e):
      return None
    raise


class _ReadJsonLinesFn(_ReadFileFn):
  """Reads one JSON-lines file: one object per line; other lines are malformed.

  Values are fitted to the span's column types (``json_type``): a number in
  a text column becomes its JSON text (counted as ``values_as_text``), an
  integer in a float column a float; a value that fits nowhere (text in a
  number column, a list in a record) sets its row aside as malformed.
  """

  def __init__(self, spec: DatasetSpec, schema: pa.Schema):
    super().__init__(spec, schema)
    self._as_text = Metrics.counter(_METRICS_NAMESPACE, 'values_as_text')

  def read_blocks(self, path):
    rows, numbers, bad = [], [], []
    # Parsed JSON objects take several times their text's size: cut blocks
    # at a quarter of batch_bytes of text too.
    limit, text_bytes = self._spec.batch_size, 0
    for number, line in enumerate(_lines(path), start=1):
      if not line.strip():
        continue
      try:
        value = json.loads(line)
        if not isinstance(value, dict):
          raise ValueError('not a JSON object')
      except ValueError as e:
        bad.append({'file': path, 'line': number,
                    'reason': f'not a JSON object ({_first_line(e)})',
                    'row': line.rstrip('\n')})
        continue
      rows.append(value)
      numbers.append(number)
      text_bytes += len(line)
      if len(rows) >= limit or text_bytes >= self._spec.batch_bytes // 4:
        yield self._to_table(path, rows, numbers, bad)
        rows, numbers, bad, text_bytes = [], [], [], 0
    if rows or bad:
      yield self._to_table(path, rows, numbers, bad)

  def _to_table(self, path, rows: List[dict], numbers: List[int],
                bad: List[dict]) -> Tuple[pa.Table, List[dict]]:
    types = {f.name: f.type for f in self._schema}
    names = list(types) + [k for k in dict.fromkeys(
        k for r in rows for k in r) if k not in types]
    rejected: Dict[int, str] = {}
    columns = {}
    for name in names:
      target = types.get(name, pa.string())
      values = [r.get(name) for r in rows]
      if pa.types.is_string(target):
        retyped = sum(1 for v in values
                      if v is not None and not isinstance(v, str))
        if retyped:
          self._as_text.inc(retyped)
      columns[name] = _json_column(name, values, target, rejected)
    bad = list(bad)
    for index in sorted(rejected):
      bad.append({'file': path, 'line': numbers[index],
                  'reason': rejected[index],
                  'row': json.dumps(rows[index], default=str)})
    table = pa.table(columns) if columns else pa.table({})
    if rejected:
      keep = pa.array([i not in rejected for i in range(len(rows))])
      table = table.filter(keep)
    return table, bad


def _json_column(name: str, values: List, target: pa.DataType,
                 rejected: Dict[int, str]) -> pa.Array:
  """JSON values as an array of ``target``; rows that do not fit are noted."""
  errors = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
            TypeError, ValueError, OverflowError)
  try:
    return pa.array([arrow_types.fit(v, target) for v in values],
                    type=target)
  except errors:
    pass
  out = []
  for i, v in enumerate(values):
    try:
      out.append(None if v is None else pa.array(
          [arrow_types.fit(v, target)], type=target)[0].as_py())
    except errors:
      rejected.setdefault(i, f'field {name!r}: value is not '
                             f'{_type_word(target)}')
      out.append(None)
  return pa.array(out, type=target)


class _ListParquetRowGroupsFn(beam.DoFn):
  """Path in, (path, row group) out: row groups are Parquet's unit of work.

  ``tracker`` (progress.Tracker or None) counts the row groups listed: the
  total that progress lines count the row groups read against.
  """

  def __init__(self, tracker=None):
    self._tracker = tracker

  def process(self, path: str):
    with _open_binary(path) as f:
      try:
        n = pq.ParquetFile(f).num_row_groups
      except Exception as e:
        raise UserError(f'{path}: not a readable Parquet file '
                        f'({_first_line(e)})') from e
    if self._tracker is not None:
      self._tracker.add(listed=n)
    for i in range(n):
      yield path, i

  def finish_bundle(self):
    if self._tracker is not None:
      self._tracker.flush()


class _TrackRowsFn(beam.DoFn):
  """Batches in and out unchanged, their rows counted for progress lines
  (sources whose reader is not ours: TFRecord, BigQuery)."""

  def __init__(self, tracker):
    self._tracker = tracker

  def process(self, batch: pa.RecordBatch):
    self._tracker.add(rows=batch.num_rows)
    yield batch

  def finish_bundle(self):
    self._tracker.flush()


# A column chunk this small is most likely one data page (1 MiB is the page
# size pyarrow, Spark and parquet-mr write by default).
ONE_PAGE_BYTES = 1 << 20
# Columns read at a time when a row group is read column by column.
COLUMNS_PER_READ = 64


def reads_by_columns(meta: pq.RowGroupMetaData) -> bool:
  """Whether a row group is better read whole, a few columns at a time, than
  streamed in batches.

  Arrow's batch reader keeps each column's compressed chunk and its current
  decoded page until the row group ends. When every chunk is about one page,
  that is the whole row group twice (200k x 500 columns: 960 MiB of Arrow
  memory for a 300 MiB row group); read a few columns at a time, it is there
  once (444 MiB), and the read takes half the time.
  """
  columns = meta.num_columns
  return bool(columns) and meta.total_byte_size / columns <= ONE_PAGE_BYTES


def _read_row_group_by_columns(pf: pq.ParquetFile, row_group: int,
                               columns: Optional[List[str]]) -> pa.Table:
  names = columns or pf.schema_arrow.names
  parts = [pf.read_row_group(row_group, columns=names[i:i + COLUMNS_PER_READ],
                             use_threads=False)
           for i in range(0, len(names), COLUMNS_PER_READ)]
  if len(parts) == 1:
    return parts[0]
  fields = [field for part in parts for field in part.schema]
  arrays = [column for part in parts for column in part.columns]
  return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class _ReadParquetRowGroupFn(_ReadFileFn):
  """Reads one (path, row group) in batches of ``batch_size`` rows, fewer
  when the row group's size says they would exceed ``batch_bytes``."""

  def read_blocks(self, item):
    path, row_group = item
    columns = [f.name for f in self._schema] or None
    with _open_binary(path) as f:
      pf = pq.ParquetFile(f)
      meta = pf.metadata.row_group(row_group)
      # Uncompressed bytes in the file; Arrow's in memory are of that order.
      rows = rows_per_batch(self._spec.batch_size, self._spec.batch_bytes,
                            meta.total_byte_size / max(meta.num_rows, 1))
      if reads_by_columns(meta):
        table = _read_row_group_by_columns(pf, row_group, columns)
        for start in range(0, table.num_rows, rows):
          yield table.slice(start, rows), []
        return
      for batch in pf.iter_batches(batch_size=rows,
                                   row_groups=[row_group], columns=columns,
                                   use_threads=False):
        yield pa.Table.from_batches([batch]), []


def high_cardinality_columns(spec: DatasetSpec, path: str, schema: pa.Schema,
                             max_distinct: int, rows: int = 10_000
                             ) -> List[str]:
  """Text columns of the first ``rows`` rows of ``path`` that have more than
  ``max_distinct`` distinct values, or more distinct values than half their
  values (ids): where exact top-k counting shuffles a record per value."""
  if spec.format == 'csv':  # the head only, parsed in memory
    table, _ = _csv_head_table(spec, path, pacsv.ConvertOptions(
        column_types=_all_strings_for(schema),
        null_values=list(spec.null_values), strings_can_be_null=True))
    if table is None:
      return []
    table = table.select([f.name for f in schema
                          if pa.types.is_string(f.type) and
                          f.name in table.column_names])
  else:
    fn = {'parquet': _ReadParquetRowGroupFn, 'jsonl': _ReadJsonLinesFn}[
        spec.format](dataclasses.replace(spec, batch_size=rows), schema)
    item = (path, 0) if spec.format == 'parquet' else path
    blocks = fn.read_blocks(item)
    try:
      table, _ = next(iter(blocks))
    except StopIteration:
      return []
    finally:
      blocks.close()
  table = table.slice(0, rows)
  as_text = {f.name for f in schema
             if arrow_types.kind(f.type) in (arrow_types.STRING,
                                             arrow_types.BYTES)}
  found = []
  for name in table.column_names:
    if schema.names and name not in as_text:
      continue  # read as another type (e.g. ISO-8601 text read as time)
    column = table.column(name)
    if not (pa.types.is_string(column.type) or
            pa.types.is_large_string(column.type) or
            pa.types.is_binary(column.type) or
            pa.types.is_large_binary(column.type) or
            pa.types.is_dictionary(column.type)):
      continue
    values = column.drop_null()
    if not len(values):
      continue
    distinct = len(pc.unique(values))
    if distinct > max_distinct or (len(values) >= 100 and
                                   distinct > len(values) / 2):
      found.append(name)
  return found


class ReadSpan(beam.PTransform):
  """Reads every file of a span.

  Input: the pipeline root. Output: a dict of two PCollections: ``batches``,
  canonical ``pa.RecordBatch``es, and ``malformed``, JSON text of each row
  that could not be read. ``tracker``: a progress.Tracker that the readers
  report to (local runs; runners/progress.py), or None.
  """

  def __init__(self, spec: DatasetSpec, schema: pa.Schema, tracker=None):
    super().__init__()
    self._spec = spec
    self._schema = schema
    self._tracker = tracker

  def expand(self, pbegin):
    spec = self._spec
    if spec.format in ('tfrecord', 'bigquery'):
      if spec.format == 'tfrecord':
        out = self._expand_tfrecord(pbegin)
      else:
        from transforms.io import bigquery_source  # pylint: disable=g-import-not-at-top
        out = pbegin | 'ReadBigQuery' >> bigquery_source.ReadBigQuery(
            spec.query, spec.batch_size, spec.bigquery_method)
      if self._tracker is not None:
        out = dict(out, batches=out['batches'] | 'TrackRows' >> beam.ParDo(
            _TrackRowsFn(self._tracker)).with_output_types(pa.RecordBatch))
      return out
    paths = (pbegin
             | 'MatchFiles' >> fileio.MatchFiles(spec.path)
             | 'Paths' >> beam.Map(lambda m: m.path)
             | 'SkipHidden' >> beam.Filter(lambda p: not _is_hidden(p)))
    if spec.format == 'parquet':
      work = (paths
              | 'ListRowGroups' >> beam.ParDo(
                  _ListParquetRowGroupsFn(self._tracker))
              | 'SpreadRowGroups' >> beam.Reshuffle())
      fn = _ReadParquetRowGroupFn(spec, self._schema)
    else:
      work = paths | 'SpreadFiles' >> beam.Reshuffle()
      fn = (_ReadCsvFn if spec.format == 'csv' else _ReadJsonLinesFn)(
          spec, self._schema)
    fn._tracker = self._tracker  # pylint: disable=protected-access
    out = work | 'ReadFiles' >> beam.ParDo(fn).with_output_types(
        pa.RecordBatch).with_outputs(MALFORMED_TAG, main='batches')
    return {'batches': out.batches, 'malformed': out[MALFORMED_TAG]}

  def _expand_tfrecord(self, pbegin):
    from tfx_bsl.public import tfxio  # pylint: disable=g-import-not-at-top
    source = tfxio.TFExampleRecord(
        file_pattern=self._spec.path, telemetry_descriptors=['dv'])
    # validate=False: the files were listed before the pipeline was built (or,
    # in a Dataflow dry run, must not be); Beam's default would list them
    # again while building the pipeline.
    batches = (pbegin
               | 'ReadTFRecord' >> beam.io.ReadFromTFRecord(
                   self._spec.path, coder=beam.coders.BytesCoder(),
                   validate=False)
               | 'DecodeExamples' >> source.RawRecordToRecordBatch(
                   batch_size=self._spec.batch_size))
    # tf.Example records are typed; a corrupt file fails the run instead.
    malformed = pbegin | 'NoMalformed' >> beam.Create([])
    return {'batches': batches, 'malformed': malformed}
