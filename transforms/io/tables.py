"""The warehouse tables, defined once for every sink.

Each column is (name, type, description). Types are BigQuery's standard SQL
names; sinks translate them (see ``duckdb_type``). ``ARRAY<...>`` and
``STRUCT<...>`` nest as in BigQuery.
"""

from typing import Dict, List, Tuple

Column = Tuple[str, str, str]

RUN_KEY = ('job', 'dataset', 'split', 'span')

RUNS: List[Column] = [
    ('run_id', 'STRING', 'Unique id of the run'),
    ('run_ts', 'TIMESTAMP', 'When the run started (UTC)'),
    ('job', 'STRING', 'Job that produced the run: stats, validate, ...'),
    ('dataset', 'STRING', 'dataset.name'),
    ('split', 'STRING', 'split, e.g. train or serving'),
    ('span', 'STRING', 'span, e.g. a date'),
    ('status', 'STRING', 'ok, or blocking when blocking anomalies were found'),
    ('runner', 'STRING', 'Beam runner that executed the pipeline'),
    ('num_examples', 'INT64', 'Rows read into statistics'),
    ('num_malformed', 'INT64', 'Rows set aside as malformed'),
    ('num_files', 'INT64', 'Files (Parquet: row groups) read'),
    ('num_features', 'INT64', 'Features in the whole-span statistics'),
    ('num_anomalies', 'INT64', 'Anomaly rows written by this run'),
    ('stats_uri', 'STRING', 'Statistics artifact (DatasetFeatureStatisticsList)'),
    ('dead_letter_uri', 'STRING', 'Where malformed rows were kept, if any'),
    ('schema_version', 'INT64', 'Schema version validated against, if any'),
    ('duration_s', 'FLOAT64', 'Wall time of the run in seconds'),
    ('config', 'STRING', 'Resolved job config as JSON'),
]

FEATURE_STATS: List[Column] = [
    ('run_id', 'STRING', 'runs.run_id'),
    ('run_ts', 'TIMESTAMP', 'runs.run_ts'),
    ('dataset', 'STRING', 'dataset.name'),
    ('split', 'STRING', 'split'),
    ('span', 'STRING', 'span'),
    ('slice', 'STRING', "'' for the whole span, else the slice key"),
    ('feature', 'STRING', 'Feature path'),
    ('type', 'STRING', "TFDV's type: INT, FLOAT, STRING, BYTES or STRUCT "
     '(see kind)'),
    ('num_examples', 'INT64', 'Examples in the slice'),
    ('num_present', 'INT64', 'Examples where the feature is present'),
    ('num_missing', 'INT64', 'Examples where the feature is missing'),
    ('missing_rate', 'FLOAT64', 'num_missing / num_examples'),
    ('min_num_values', 'INT64', 'Fewest values in one example'),
    ('max_num_values', 'INT64', 'Most values in one example'),
    ('avg_num_values', 'FLOAT64', 'Average values per example'),
    # For time kinds (timestamp, date) the numeric columns below hold the
    # stored unit, microseconds (timestamp) or days (date) since 1970-01-01
    # UTC, as TFDV computed them; earliest and latest say it as timestamps.
    ('mean', 'FLOAT64', 'Numeric: mean (time kinds: in the stored unit, '
     'microseconds or days since 1970)'),
    ('std_dev', 'FLOAT64', 'Numeric: standard deviation (time kinds: stored '
     'unit)'),
    ('min', 'FLOAT64', 'Numeric: minimum (time kinds: stored unit; see '
     'earliest)'),
    ('max', 'FLOAT64', 'Numeric: maximum (time kinds: stored unit; see '
     'latest)'),
    ('median', 'FLOAT64', 'Numeric: approximate median (time kinds: stored '
     'unit)'),
    ('num_zeros', 'INT64', 'Numeric: count of zeros'),
    ('quantiles', 'ARRAY<FLOAT64>', 'Numeric: approximate quantile bounds '
     '(time kinds: stored unit)'),
    ('unique', 'INT64', 'Categorical: distinct values'),
    ('avg_length', 'FLOAT64', 'Categorical: average string length'),
    ('top_values', 'ARRAY<STRUCT<value STRING, count FLOAT64>>',
     'Categorical: most frequent values (privacy rules applied)'),
    # Added later: last, so tables upgraded in place (ALTER TABLE ADD COLUMN)
    # and new ones have the same column order.
    ('kind', 'STRING', 'What the feature is: int, float, bool, string, bytes, '
     'timestamp, date, time_of_day, duration or struct (transforms/'
     'arrow_types.py); NULL for statistics made before kinds were stored'),
    ('earliest', 'TIMESTAMP', 'Time kinds (timestamp, date): the earliest '
     'value (UTC)'),
    ('latest', 'TIMESTAMP', 'Time kinds (timestamp, date): the latest value '
     '(UTC)'),
]

ANOMALIES: List[Column] = [
    ('run_id', 'STRING', 'runs.run_id'),
    ('run_ts', 'TIMESTAMP', 'runs.run_ts'),
    ('dataset', 'STRING', 'dataset.name'),
    ('split', 'STRING', 'split'),
    ('span', 'STRING', 'span'),
    ('slice', 'STRING', "'' for the whole span, else the slice key"),
    ('feature', 'STRING', "Feature path; '' for dataset-level anomalies"),
    ('check', 'STRING', 'schema, drift, skew, history, representation, '
     'label_parity, pii, event_time, shift or feature_skew'),
    ('anomaly_type', 'STRING',
     "TFDV's reason type, e.g. ENUM_TYPE_UNEXPECTED_STRING_VALUES"),
    ('severity', 'STRING', 'ERROR, WARNING or INFO'),
    ('description', 'STRING', 'What TFDV found (raw values redacted)'),
    ('metric', 'STRING', 'Drift/skew: L_INFTY, JENSEN_SHANNON_DIVERGENCE, ...'),
    ('value', 'FLOAT64', 'Drift/skew: the measured distance'),
    ('threshold', 'FLOAT64', 'Drift/skew: the threshold it exceeded'),
    ('schema_version', 'INT64', 'Schema version validated against'),
    ('baseline_split', 'STRING', 'Drift/skew: split compared with'),
    ('baseline_span', 'STRING', 'Drift/skew: span compared with'),
    ('anomaly_id', 'STRING', 'Stable id: same span, slice, feature, check '
     'and type give the same id'),
]

DRIFT_SKEW: List[Column] = [
    ('run_id', 'STRING', 'runs.run_id'),
    ('run_ts', 'TIMESTAMP', 'runs.run_ts'),
    ('dataset', 'STRING', 'dataset.name'),
    ('split', 'STRING', 'split'),
    ('span', 'STRING', 'span'),
    ('slice', 'STRING', "'' for the whole span, else the slice key"),
    ('feature', 'STRING', 'Feature path'),
    ('check', 'STRING', 'drift, skew, shift, or the other checks that '
     'measure (history, pii, event_time, ...)'),
    ('metric', 'STRING', 'L_INFTY, JENSEN_SHANNON_DIVERGENCE, ...; NULL '
     'when not compared'),
    ('value', 'FLOAT64', 'Measured distance to the baseline; NULL when it '
     'could not be computed (never 0 for that: see note)'),
    ('threshold', 'FLOAT64', 'Threshold in force'),
    ('is_anomaly', 'BOOL', 'value > threshold'),
    ('baseline_split', 'STRING', 'Split compared with'),
    ('baseline_span', 'STRING', 'Span compared with'),
    ('note', 'STRING', 'Why a feature or slice was not compared (time '
     'feature, identifier-like, no values on a side, slice too small, ...); '
     'for a drift or skew distance, the change in the feature\'s units '
     '(mean 35.6 -> 80.1; share of \'x\' 12% -> 30%; missing 1% -> 7%)'),
]

TABLES: Dict[str, List[Column]] = {
    'runs': RUNS,
    'feature_stats': FEATURE_STATS,
    'anomalies': ANOMALIES,
    'drift_skew': DRIFT_SKEW,
}

# Tables that hold one copy per span whichever job wrote it: a later run over
# the same dataset, split and span replaces their rows.
SPAN_SCOPED = ('feature_stats',)

_DUCKDB_SCALARS = {
    'STRING': 'VARCHAR',
    'INT64': 'BIGINT',
    'FLOAT64': 'DOUBLE',
    'BOOL': 'BOOLEAN',
    'TIMESTAMP': 'TIMESTAMP',
}


def duckdb_type(bq_type: str) -> str:
  """Translates one of the column types above to DuckDB's SQL."""
  t = bq_type.strip()
  if t.startswith('ARRAY<') and t.endswith('>'):
    return duckdb_type(t[6:-1]) + '[]'
  if t.startswith('STRUCT<') and t.endswith('>'):
    fields = []
    for part in split_top_level(t[7:-1]):
      name, inner = part.strip().split(' ', 1)
      fields.append(f'"{name}" {duckdb_type(inner)}')
    return 'STRUCT(' + ', '.join(fields) + ')'
  return _DUCKDB_SCALARS[t]


def split_top_level(text: str) -> List[str]:
  parts, depth, start = [], 0, 0
  for i, ch in enumerate(text):
    if ch == '<':
      depth += 1
    elif ch == '>':
      depth -= 1
    elif ch == ',' and depth == 0:
      parts.append(text[start:i])
      start = i + 1
  parts.append(text[start:])
  return parts


def column_names(table: str) -> List[str]:
  return [c[0] for c in TABLES[table]]
