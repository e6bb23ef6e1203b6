"""The BigQuery sink: the result tables of ``transforms/io/tables.py`` in BigQuery.

Rows are written from the launcher, after the pipeline, through the
``google-cloud-bigquery`` client rather than Beam's ``WriteToBigQuery``:

- a run's rows are a few thousand at most (one per feature, slice and
  check), computed by the launcher from the stored statistics, so there is
  nothing to distribute;
- the client can be pointed at an emulator (``sink.endpoint``), Beam's
  BigQuery IO cannot, so the same code path is tested here end to end;
- a run must land all at once or not at all, which takes a transaction.

How one run is written (``write_run``):

1. one load job per table (never streaming inserts) into a staging table
   ``{prefix}_staging_{table}_{run}`` that expires on its own after
   ``sink.staging_expiration_hours`` should the job die half way;
2. one multi-statement transaction deletes the rows of earlier runs with the
   same job, dataset, split and span (and, for span-scoped tables, every row
   of that span), inserts the staged rows and commits. A failure anywhere
   rolls everything back, so readers never see a half-written run;
3. the staging tables are dropped.

Tables are created when missing, partitioned by day of ``run_ts`` and
clustered by ``dataset`` and ``feature`` (``runs``: ``dataset`` and
``split``), with the column descriptions of ``tables.py``.
"""

import datetime as dt
import math
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions
from google.auth import credentials as gauth_credentials
from google.auth import exceptions as gauth_exceptions
from google.cloud import bigquery
import requests

from transforms.io import tables
from transforms.errors import UserError

_NAME = re.compile(r'^[A-Za-z0-9_]+$')
# Project ids: lowercase letters, digits, hyphens; domain-scoped ids have a
# 'example.com:' prefix.
_PROJECT = re.compile(r'^[a-z][a-z0-9.:-]{0,99}$')

CLUSTERING = {
    'runs': ['dataset', 'split'],
    'feature_stats': ['dataset', 'feature'],
    'anomalies': ['dataset', 'feature'],
    'drift_skew': ['dataset', 'feature'],
}
PARTITION_COLUMN = 'run_ts'

ROLES_HINT = ('the job\'s account needs roles/bigquery.dataEditor on the '
              'dataset and roles/bigquery.jobUser on the project')


def schema_fields(table: str) -> List[bigquery.SchemaField]:
  """The table's columns (tables.py) as BigQuery schema fields."""
  return [_field(name, bq_type, description)
          for name, bq_type, description in tables.TABLES[table]]


def _field(name: str, bq_type: str, description: Optional[str] = None
          ) -> bigquery.SchemaField:
  t = bq_type.strip()
  mode = 'NULLABLE'
  if t.startswith('ARRAY<') and t.endswith('>'):
    mode, t = 'REPEATED', t[6:-1].strip()
  if t.startswith('STRUCT<') and t.endswith('>'):
    subfields = []
    for part in tables.split_top_level(t[7:-1]):
      sub_name, sub_type = part.strip().split(' ', 1)
      subfields.append(_field(sub_name, sub_type))
    return bigquery.SchemaField(name, 'RECORD', mode=mode,
                                description=description, fields=subfields)
  return bigquery.SchemaField(name, t, mode=mode, description=description)


def _json_value(value: Any) -> Any:
  """A row value as load-job JSON: ISO timestamps, no NaN or infinity."""
  if isinstance(value, dt.datetime):
    if value.tzinfo is None:
      value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, (list, tuple)):
    return [_json_value(v) for v in value]
  if isinstance(value, dict):
    return {k: _json_value(v) for k, v in value.items()}
  return value


def json_rows(table: str, rows: Sequence[Mapping[str, Any]]) -> List[dict]:
  """Rows with exactly the table's columns, ready for a JSON load job."""
  names = tables.column_names(table)
  return [{n: _json_value(row.get(n)) for n in names} for row in rows]


def _sql_string(value: Any) -> str:
  """A GoogleSQL string literal for ``value``."""
  text = str(value)
  if any(ord(c) < 32 for c in text):
    raise UserError(f'{text!r}: control characters are not allowed in names')
  return "'" + text.replace('\\', '\\\\').replace("'", "\\'") + "'"


class BigQuerySink:
  """Writes and reads the result tables in one BigQuery dataset."""

  def __init__(self, project: str, dataset: str, table_prefix: str = '',
               location: Optional[str] = None, endpoint: Optional[str] = None,
               timeout_s: float = 60.0, staging_expiration_hours: int = 24):
    if not project or not _PROJECT.match(project):
      raise UserError(f'sink.project={project!r}: not a valid Google Cloud '
                      f'project id')
    if not dataset or not _NAME.match(dataset):
      raise UserError(f'sink.dataset={dataset!r}: BigQuery dataset names use '
                      f'letters, digits and underscores only')
    if table_prefix and not _NAME.match(table_prefix):
      raise UserError(f'sink.table_prefix={table_prefix!r}: use letters, '
                      f'digits and underscores only')
    self.project, self.dataset = project, dataset
    self.prefix = table_prefix
    self.location = location
    self.endpoint = endpoint
    self.timeout_s = float(timeout_s)
    self.staging_expiration = dt.timedelta(hours=staging_expiration_hours)
    self._retry = gretry.Retry(deadline=self.timeout_s)
    self._client = None
    self._checked = False

  # -- plumbing --------------------------------------------------------------

  @property
  def client(self) -> bigquery.Client:
    if self._client is None:
      if self.endpoint:
        # An emulator: no Google credentials, no metadata server lookups.
        self._client = bigquery.Client(
            project=self.project, location=self.location,
            credentials=gauth_credentials.AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.endpoint))
      else:
        try:
          self._client = bigquery.Client(project=self.project,
                                         location=self.location)
        except gauth_exceptions.DefaultCredentialsError as e:
          raise UserError(
              f'sink=bigquery: no Google credentials found (run `gcloud auth '
              f'application-default login` or set '
              f'GOOGLE_APPLICATION_CREDENTIALS), or set sink.endpoint for an '
              f'emulator') from e
    return self._client

  def table_id(self, table: str) -> str:
    name = f'{self.prefix}_{table}' if self.prefix else table
    return f'{self.project}.{self.dataset}.{name}'

  def describe(self) -> str:
    where = f' at {self.endpoint}' if self.endpoint else ''
    return f'bigquery:{self.project}.{self.dataset}{where}'

  def _fail(self, e: Exception, doing: str) -> UserError:
    """One line naming the config key that most likely needs fixing."""
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, (requests.exceptions.ConnectionError,
                      requests.exceptions.Timeout, gexc.RetryError)):
      key = f'sink.endpoint={self.endpoint!r}' if self.endpoint else 'BigQuery'
      return UserError(f'{key}: cannot reach BigQuery while {doing} '
                       f'({type(e).__name__})')
    if isinstance(e, gexc.Forbidden):
      return UserError(f'sink.project={self.project!r} sink.dataset='
                       f'{self.dataset!r}: permission denied while {doing}: '
                       f'{ROLES_HINT} ({first})')
    if isinstance(e, gexc.NotFound):
      return UserError(f'sink.project={self.project!r} sink.dataset='
                       f'{self.dataset!r}: not found while {doing} ({first})')
    return UserError(f'sink=bigquery {self.describe()}: {doing} failed: '
                     f'{first}')

  def _call(self, doing: str, fn, *args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except UserError:
      raise
    except (gexc.GoogleAPIError, requests.exceptions.RequestException,
            gauth_exceptions.GoogleAuthError) as e:
      raise self._fail(e, doing) from e

  # -- tables ----------------------------------------------------------------

  def check(self) -> None:
    """Creates the dataset and tables if missing; fails fast on bad config."""
    ref = bigquery.Dataset(f'{self.project}.{self.dataset}')
    if self.location:
      ref.location = self.location
    self._call('creating the dataset', self.client.create_dataset, ref,
               exists_ok=True, retry=self._retry, timeout=self.timeout_s)
    for name in tables.TABLES:
      self._ensure_table(name)
    self._checked = True

  def _ensure_table(self, name: str) -> None:
    wanted = schema_fields(name)
    try:
      existing = self.client.get_table(self.table_id(name), retry=self._retry,
                                       timeout=self.timeout_s)
    except gexc.NotFound:
      table = bigquery.Table(self.table_id(name), schema=wanted)
      table.time_partitioning = bigquery.TimePartitioning(
          type_=bigquery.TimePartitioningType.DAY, field=PARTITION_COLUMN)
      table.clustering_fields = CLUSTERING[name]
      table.description = f'Data validation results: {name} (one row per ' \
          f'{"run" if name == "runs" else "result"}).'
      self._call(f'creating table {name}', self.client.create_table, table,
                 exists_ok=True, retry=self._retry, timeout=self.timeout_s)
      return
    except Exception as e:  # pylint: disable=broad-except
      raise self._fail(e, f'reading table {name}') from e
    have = {f.name for f in existing.schema}
    added = [c for c in tables.TABLES[name] if c[0] not in have]
    if added:  # columns added by a later version of this project
      self._call(f'adding columns {", ".join(c[0] for c in added)} to {name}',
                 self._add_columns, name, added)

  def _add_columns(self, name: str, columns: Sequence[tables.Column]) -> None:
    """Adds columns to an existing table, at its end, with their descriptions.

    DDL (``ADD COLUMN IF NOT EXISTS``, one statement per column) rather than a
    schema patch through the tables API: it is idempotent when two jobs
    upgrade the same table at once, and bqemulator applies it to the stored
    table (a schema patch there changes only the table's metadata).
    """
    table = self.table_id(name)
    script = '\n'.join(
        f'ALTER TABLE `{table}` ADD COLUMN IF NOT EXISTS `{column}` '
        f'{bq_type} OPTIONS(description={_sql_string(description)});'
        for column, bq_type, description in columns)
    job = self.client.query(script, timeout=self.timeout_s)
    job.result(timeout=self.timeout_s)

  # -- writing ---------------------------------------------------------------

  def write_run(self, run: Mapping[str, Any],
                rows: Mapping[str, List[Mapping[str, Any]]]) -> None:
    """Writes one run (a ``runs`` row) and its rows, replacing earlier runs.

    Same contract as ``DuckDBWarehouse.write_run``: every row gets the run's
    ``run_id``, ``run_ts``, ``dataset``, ``split`` and ``span``; earlier runs
    with the same job, dataset, split and span disappear, in every table;
    span-scoped tables keep only this run's rows for the span.
    """
    shared = {k: run[k] for k in ('run_id', 'run_ts', 'dataset', 'split',
                                  'span')}
    batches = {'runs': [run]}
    for name, table_rows in rows.items():
      if table_rows:
        batches[name] = [{**row, **shared} for row in table_rows]
    if not self._checked:
      self.check()
    suffix = re.sub(r'[^A-Za-z0-9_]', '_', str(run['run_id']))
    staged = {}
    try:
      for name, table_rows in batches.items():
        staged[name] = self._stage(name, table_rows, suffix)
      self._call('replacing the run\'s rows', self._swap_in, run, staged)
    finally:
      for staging_id in staged.values():
        try:
          self.client.delete_table(staging_id, not_found_ok=True,
                                   timeout=self.timeout_s)
        except Exception:  # pylint: disable=broad-except
          pass  # expires by itself

  def _stage(self, name: str, table_rows, suffix: str) -> str:
    """One load job: the run's rows of one table into a staging table."""
    staging_id = self.table_id(f'_staging_{name}_{suffix}')
    table = bigquery.Table(staging_id, schema=schema_fields(name))
    table.expires = (dt.datetime.now(dt.timezone.utc) +
                     self.staging_expiration)
    self._call(f'creating staging table for {name}', self.client.create_table,
               table, exists_ok=True, retry=self._retry,
               timeout=self.timeout_s)
    config = bigquery.LoadJobConfig(
        schema=schema_fields(name),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON)
    job = self._call(f'loading {name} rows', self.client.load_table_from_json,
                     json_rows(name, table_rows), staging_id,
                     job_config=config, timeout=self.timeout_s)
    self._call(f'loading {name} rows', job.result, timeout=self.timeout_s)
    return staging_id

  def _swap_in(self, run: Mapping[str, Any], staged: Dict[str, str]) -> None:
    runs = self.table_id('runs')
    statements = ['BEGIN TRANSACTION;']
    # Rows of earlier runs of the same job over the same span, in every table
    # (the runs table last: the others find those run ids there).
    # The run key goes in as escaped literals, not @parameters: bqemulator
    # does not bind parameters inside multi-statement scripts (BigQuery
    # does). Its values are already restricted to folder-name characters.
    key = {k: _sql_string(run[k]) for k in tables.RUN_KEY}
    same_span = (f'dataset = {key["dataset"]} AND split = {key["split"]} AND '
                 f'span = {key["span"]}')
    earlier = (f'SELECT run_id FROM `{runs}` WHERE job = {key["job"]} AND '
               f'{same_span}')
    for name in [t for t in tables.TABLES if t != 'runs'] + ['runs']:
      statements.append(f'DELETE FROM `{self.table_id(name)}` WHERE run_id IN '
                        f'({earlier});')
    for name in tables.SPAN_SCOPED:
      if name in staged:
        statements.append(
            f'DELETE FROM `{self.table_id(name)}` WHERE {same_span};')
    for name, staging_id in staged.items():
      cols = ', '.join(f'`{c}`' for c in tables.column_names(name))
      statements.append(f'INSERT INTO `{self.table_id(name)}` ({cols}) '
                        f'SELECT {cols} FROM `{staging_id}`;')
    statements.append('COMMIT TRANSACTION;')
    job = self.client.query('\n'.join(statements), timeout=self.timeout_s)
    job.result(timeout=self.timeout_s)

  # -- reading ---------------------------------------------------------------

  def read_rows(self, table: str, dataset: str,
                split: Optional[str] = None) -> List[dict]:
    """Every row of ``table`` for ``dataset`` (and ``split``), as dicts."""
    if table not in tables.TABLES:
      raise ValueError(f'unknown table {table!r}')
    sql = f'SELECT * FROM `{self.table_id(table)}` WHERE dataset = @dataset'
    params = [bigquery.ScalarQueryParameter('dataset', 'STRING', dataset)]
    if split is not None:
      sql += ' AND split = @split'
      params.append(bigquery.ScalarQueryParameter('split', 'STRING', split))
    try:
      job = self.client.query(sql, job_config=bigquery.QueryJobConfig(
          query_parameters=params), timeout=self.timeout_s)
      return [dict(row.items()) for row in job.result(timeout=self.timeout_s)]
    except gexc.NotFound:
      return []
    except (gexc.GoogleAPIError, requests.exceptions.RequestException) as e:
      raise self._fail(e, f'reading {table}') from e
