"""BigQuery as a source: a table partition or a query, read on the workers.

  dataset.format=bigquery dataset.table=proj.events.clicks dataset.partition_column=dt
  dataset.format=bigquery 'dataset.query=SELECT * FROM `proj.ev.clicks` WHERE DATE(ts) = "${span}"'

Rows arrive from Beam's ``ReadFromBigQuery`` as dicts typed by the table's
schema; they are grouped into RecordBatches of ``stats.batch_size`` rows and
turned into the canonical columns TFDV reads, like the file sources:
INT64/BOOL -> int, FLOAT64/NUMERIC -> float, TIMESTAMP/DATETIME -> timestamp,
DATE -> date, TIME -> time of day, RECORD -> struct (nested features
``rec.field``), REPEATED -> lists, STRING and everything else -> text (the
table in transforms/arrow_types.py).
"""

import datetime as dt
import decimal
import json
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
import pyarrow as pa

from transforms import arrow_types
from transforms import errors
from transforms.errors import UserError

_TABLE = re.compile(r'^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$')
_COLUMN = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_SPAN = re.compile(r'^[A-Za-z0-9_.:+ -]+$')
METHODS = ('DIRECT_READ', 'EXPORT')


def build_query(*, table: Optional[str], query: Optional[str],
                partition_column: Optional[str], columns: Sequence[str],
                span: str) -> str:
  """The GoogleSQL query that reads one span; UserError names the bad key.

  ``dataset.query`` is used as given (put ``${span}`` in it); else
  ``dataset.table``, filtered to ``partition_column = '<span>'`` when a
  partition column is configured (a DATE or STRING column: BigQuery turns the
  literal into a DATE; for a TIMESTAMP column write the query yourself, e.g.
  ``WHERE DATE(ts) = '${span}'``).
  """
  if bool(table) == bool(query):
    raise UserError('dataset.table / dataset.query: with dataset.format='
                    'bigquery set exactly one of them')
  if query:
    if partition_column:
      raise UserError('dataset.partition_column: only used with dataset.table;'
                      ' put the filter in dataset.query')
    return str(query)
  if not _TABLE.match(str(table)):
    raise UserError(f'dataset.table={table!r}: expected project.dataset.table')
  for col in columns:
    if not _COLUMN.match(col):
      raise UserError(f'dataset.columns: {col!r} is not a column name')
  select = ', '.join(f'`{c}`' for c in columns) if columns else '*'
  sql = f'SELECT {select} FROM `{table}`'
  if partition_column:
    if not _COLUMN.match(str(partition_column)):
      raise UserError(f'dataset.partition_column={partition_column!r}: not a '
                      f'column name')
    if not _SPAN.match(span):
      raise UserError(f'span={span!r}: cannot be used as a partition value')
    sql += f" WHERE `{partition_column}` = '{span}'"
  return sql


def _plain(value: Any) -> Any:
  """A BigQuery client value as int, float, str, bytes, list or None."""
  if value is None or isinstance(value, (str, bytes, float)):
    return value
  if isinstance(value, bool):
    return int(value)
  if isinstance(value, int):
    return value
  if isinstance(value, decimal.Decimal):
    return float(value)
  if isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
    return value  # typed by Arrow: timestamp, date, time, duration
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  if isinstance(value, dict):
    return {k: _plain(v) for k, v in value.items()}  # RECORD: a struct
  return str(value)


def rows_to_batch(rows: Sequence[Dict[str, Any]]) -> Optional[pa.RecordBatch]:
  """Rows (dicts) as one canonical TFDV RecordBatch; None for no rows.

  A column that is null in every row of the batch is left out of it: TFDV
  counts it as missing there, exactly as for a null value, and an all-null
  column has no type to agree with the other batches.
  """
  if not rows:
    return None
  names: Dict[str, None] = {}
  for row in rows:
    names.update(dict.fromkeys(row))
  columns, fields = [], []
  for name in names:
    values = [_plain(row.get(name)) for row in rows]
    if all(v is None for v in values):
      continue
    array = pa.array(values)
    # The span-wide read type (transforms/arrow_types.py): every batch of a
    # column agrees, whatever its values.
    array = arrow_types.cast_column(array, arrow_types.read_type(array.type))
    columns.append(array)
    fields.append(name)
  table = pa.Table.from_arrays(columns, names=fields)
  return arrow_types.table_to_tfdv(table)


class _RowsToBatchesFn(beam.DoFn):
  """Lists of BigQuery rows in, canonical RecordBatches out.

  A list that cannot be converted (mixed types in one column) goes to the
  ``malformed`` output row by row, as JSON, instead of failing the run.
  """

  def __init__(self, source: str):
    self._source = source
    self._rows = Metrics.counter('dv.source', 'rows_read')
    self._bad = Metrics.counter('dv.source', 'rows_malformed')

  def process(self, rows: List[Dict[str, Any]]) -> Iterable[Any]:
    try:
      batch = rows_to_batch(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
      self._bad.inc(len(rows))
      for row in rows:
        yield beam.pvalue.TaggedOutput(errors.MALFORMED_TAG, json.dumps({
            'file': self._source, 'line': None,
            'reason': str(e).splitlines()[0][:200],
            'row': {k: _plain(v) for k, v in row.items()}}, default=str))
      return
    if batch is not None:
      self._rows.inc(batch.num_rows)
      yield batch


class ReadBigQuery(beam.PTransform):
  """Pipeline root in; ``{'batches', 'malformed'}`` out, like ReadSpan."""

  def __init__(self, query: str, batch_size: int, method: str = 'DIRECT_READ',
               project: Optional[str] = None):
    super().__init__()
    if method not in METHODS:
      raise UserError(f'dataset.bigquery_method={method!r}: expected one of '
                      f'{", ".join(METHODS)}')
    self._query, self._batch_size = query, batch_size
    self._method, self._project = method, project

  def expand(self, pbegin):
    rows = pbegin | 'ReadFromBigQuery' >> beam.io.ReadFromBigQuery(
        query=self._query, use_standard_sql=True, project=self._project,
        method=getattr(beam.io.ReadFromBigQuery.Method, self._method))
    out = (rows
           | 'BatchRows' >> beam.BatchElements(
               min_batch_size=self._batch_size,
               max_batch_size=self._batch_size)
           | 'ToRecordBatches' >> beam.ParDo(
               _RowsToBatchesFn('bigquery')).with_output_types(
                   pa.RecordBatch).with_outputs(errors.MALFORMED_TAG,
                                                main='batches'))
    return {'batches': out.batches, 'malformed': out[errors.MALFORMED_TAG]}
