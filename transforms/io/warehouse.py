"""The embedded warehouse: the result tables in a local DuckDB file.

A run's rows are written in one transaction. Rows of an earlier run of the
same job over the same dataset, split and span are deleted in that same
transaction, so a rerun replaces results instead of duplicating them and a
failed run leaves nothing behind.
"""

import datetime as dt
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import duckdb
import pyarrow as pa

from transforms.io import tables
from transforms.errors import UserError

_ARROW_SCALARS = {
    'STRING': pa.string(),
    'INT64': pa.int64(),
    'FLOAT64': pa.float64(),
    'BOOL': pa.bool_(),
    'TIMESTAMP': pa.timestamp('us'),
}


def arrow_type(bq_type: str) -> pa.DataType:
  t = bq_type.strip()
  if t.startswith('ARRAY<'):
    return pa.list_(arrow_type(t[6:-1]))
  if t.startswith('STRUCT<'):
    fields = []
    for part in tables.split_top_level(t[7:-1]):
      name, inner = part.strip().split(' ', 1)
      fields.append(pa.field(name, arrow_type(inner)))
    return pa.struct(fields)
  return _ARROW_SCALARS[t]


def arrow_schema(table: str) -> pa.Schema:
  return pa.schema([pa.field(n, arrow_type(t)) for n, t, _ in
                    tables.TABLES[table]])


def to_arrow(table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
  """Rows as an Arrow table with exactly the table's columns and types."""
  schema = arrow_schema(table)
  columns = {name: [_naive_utc(r.get(name)) for r in rows]
             for name in schema.names}
  return pa.table(columns, schema=schema)


def _naive_utc(value):
  if isinstance(value, dt.datetime) and value.tzinfo is not None:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
  return value


class DuckDBWarehouse:
  """Writes and reads the result tables in one DuckDB database file."""

  def __init__(self, path: str):
    self.path = path

  def describe(self) -> str:
    """Where the rows are, for summaries."""
    return self.path

  def _connect(self, read_only: bool = False):
    if read_only and not os.path.exists(self.path):
      raise UserError(f'sink.path {self.path!r}: no warehouse there yet '
                      f'(run a job first)')
    if not read_only:
      os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
    try:
      return duckdb.connect(self.path, read_only=read_only)
    except duckdb.Error as e:
      raise UserError(f'sink.path {self.path!r}: cannot open the DuckDB '
                      f'warehouse ({str(e).splitlines()[0]})') from e

  @staticmethod
  def _create_tables(con) -> None:
    for name, columns in tables.TABLES.items():
      cols = ', '.join(f'"{n}" {tables.duckdb_type(t)}' for n, t, _ in columns)
      con.execute(f'CREATE TABLE IF NOT EXISTS {name} ({cols})')
      existing = {r[0] for r in con.execute(
          'SELECT column_name FROM information_schema.columns '
          'WHERE table_name = ?', [name]).fetchall()}
      for n, t, _ in columns:  # columns added by later versions
        if n not in existing:
          con.execute(f'ALTER TABLE {name} ADD COLUMN "{n}" '
                      f'{tables.duckdb_type(t)}')

  def write_run(self, run: Mapping[str, Any],
                rows: Mapping[str, List[Mapping[str, Any]]]) -> None:
    """Writes one run (a ``runs`` row) and its rows in other tables.

    Every row gets the run's ``run_id``, ``run_ts``, ``dataset``, ``split``
    and ``span``. Earlier runs with the same job, dataset, split and span are
    replaced, rows in every table included; span-scoped tables (statistics)
    keep only the newest rows of a span, whichever job wrote them.
    """
    shared = {k: run[k] for k in ('run_id', 'run_ts', 'dataset', 'split',
                                  'span')}
    con = self._connect()
    try:
      con.execute('BEGIN TRANSACTION')
      self._create_tables(con)
      old = [r[0] for r in con.execute(
          'SELECT run_id FROM runs WHERE job = ? AND dataset = ? AND '
          'split = ? AND span = ?',
          [run[k] for k in tables.RUN_KEY]).fetchall()]
      if old:
        marks = ', '.join('?' for _ in old)
        for name in tables.TABLES:
          con.execute(f'DELETE FROM {name} WHERE run_id IN ({marks})', old)
      for name in tables.SPAN_SCOPED:
        if rows.get(name):
          con.execute(f'DELETE FROM {name} WHERE dataset = ? AND split = ? '
                      f'AND span = ?', [run['dataset'], run['split'],
                                        run['span']])
      self._insert(con, 'runs', [run])
      for name, table_rows in rows.items():
        if table_rows:
          self._insert(con, name, [{**row, **shared} for row in table_rows])
      con.execute('COMMIT')
    except Exception:
      try:
        con.execute('ROLLBACK')
      except duckdb.Error:
        pass
      raise
    finally:
      con.close()

  @staticmethod
  def _insert(con, name: str, rows) -> None:
    incoming = to_arrow(name, rows)
    con.register('incoming', incoming)
    cols = ', '.join(f'"{c}"' for c in incoming.schema.names)
    con.execute(f'INSERT INTO {name} ({cols}) SELECT {cols} FROM incoming')
    con.unregister('incoming')

  def read_rows(self, table: str, dataset: str,
                split: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every row of ``table`` for ``dataset`` (and ``split``), as dicts.

    [] when nothing was written yet.
    """
    if table not in tables.TABLES:
      raise ValueError(f'unknown table {table!r}')
    if not os.path.exists(self.path):
      return []
    sql = f'SELECT * FROM {table} WHERE dataset = ?'
    params = [dataset]
    if split is not None:
      sql += ' AND split = ?'
      params.append(split)
    con = self._connect(read_only=True)
    try:
      exists = con.execute('SELECT count(*) FROM information_schema.tables '
                           'WHERE table_name = ?', [table]).fetchone()[0]
      if not exists:
        return []
      cursor = con.execute(sql, params)
      names = [d[0] for d in cursor.description]
      return [dict(zip(names, r)) for r in cursor.fetchall()]
    finally:
      con.close()

  def query(self, sql: str, params: Sequence[Any] = ()) -> List[Dict[str, Any]]:
    """Runs a read-only query and returns rows as dicts."""
    con = self._connect(read_only=True)
    try:
      cursor = con.execute(sql, list(params))
      names = [d[0] for d in cursor.description]
      return [dict(zip(names, r)) for r in cursor.fetchall()]
    finally:
      con.close()
