"""Sink choice: where a run's rows go (config group ``sink``).

Every sink takes the same rows (``transforms/io/tables.py`` defines the tables)
through ``write_run(run_row, {table: rows})``, all of a run or nothing, reads
them back with ``read_rows(table, dataset, split=None)``, and says where they
are with ``describe()``.
"""

import dataclasses
from typing import Any, Dict, Optional

from transforms.io.warehouse import DuckDBWarehouse

KINDS = ('duckdb', 'bigquery')


@dataclasses.dataclass(frozen=True)
class SinkSpec:
  """The ``sink`` group, checked (settings/config.py: ``sink_spec``)."""
  kind: str                                 # one of KINDS
  path: Optional[str] = None                # the DuckDB file (duckdb)
  bigquery: Optional[Dict[str, Any]] = None  # BigQuerySink's arguments


def open_sink(spec: SinkSpec):
  """The configured sink, checked before any work starts."""
  if spec.kind == 'bigquery':
    from transforms.io import bigquery_sink  # pylint: disable=g-import-not-at-top
    sink = bigquery_sink.BigQuerySink(**spec.bigquery)
    sink.check()  # reachable, permitted, tables in place: before any work
    return sink
  return DuckDBWarehouse(spec.path)
