"""Sink choice: where a run's rows go (config group ``sink``).

Every sink takes the same rows (``transforms/io/tables.py`` defines the tables)
through ``write_run(run_row, {table: rows})``, all of a run or nothing, reads
them back with ``read_rows(table, dataset, split=None)``, and says where they
are with ``describe()``.
"""

from omegaconf import DictConfig

from settings import config
from transforms.errors import UserError
from transforms.io.warehouse import DuckDBWarehouse

KINDS = ('duckdb', 'bigquery')


def open_sink(cfg: DictConfig):
  """The configured sink, checked before any work starts."""
  kind = config.get(cfg, 'sink.kind')
  if kind == 'duckdb':
    return DuckDBWarehouse(config.sink_path(cfg))
  if kind == 'bigquery':
    from transforms.io import bigquery_sink  # pylint: disable=g-import-not-at-top
    sink = bigquery_sink.BigQuerySink(**config.bigquery_sink_settings(cfg))
    sink.check()  # reachable, permitted, tables in place: before any work
    return sink
  raise UserError(f'sink.kind={kind!r}: expected one of {", ".join(KINDS)}')
