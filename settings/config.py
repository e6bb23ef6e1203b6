"""Config checks: turn the Hydra config into typed specs, or fail naming the key.

Every check raises ``UserError`` with the offending key in the message, so a
typo on the command line ends the job with one line, before any work starts.
The jobs call these once, through ``settings.job.parse``; nothing under
``transforms/`` reads the config.
"""

import codecs
import enum
import os
import re
import zoneinfo
from typing import Any, Dict, List, Optional, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf import errors as omegaconf_errors

from transforms.io import artifacts
from runners import dates
from transforms.io import sinks
from transforms.io import sources
from transforms.checks import validation
from transforms.errors import UserError
from transforms.statistics import PrivacySpec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ${dv_repo:} in config: the repository root, for the bundled demo data.
if not OmegaConf.has_resolver('dv_repo'):
  OmegaConf.register_new_resolver('dv_repo', lambda: REPO)
# ${dv_if_local:A,B}: A when it is a local path, else B (the DuckDB
# warehouse's default next to a local store, conf/sink/duckdb.yaml).
if not OmegaConf.has_resolver('dv_if_local'):
  OmegaConf.register_new_resolver(
      'dv_if_local', lambda path, other: other if '://' in str(path) else path)
# ${dv_date:-1}: the day before the run date (run_date= or DV_RUN_DATE; see
# runners/dates.py), for spans and paths of scheduled runs.
if not OmegaConf.has_resolver('dv_date'):
  OmegaConf.register_new_resolver('dv_date', dates.resolver)


def to_plain(node: Any) -> Any:
  """A resolved plain-Python copy of a config node; UserError on bad config."""
  if not isinstance(node, (DictConfig, ListConfig)):
    return node
  try:
    return OmegaConf.to_container(node, resolve=True,
                                  throw_on_missing=True, enum_to_str=True)
  except omegaconf_errors.MissingMandatoryValue as e:
    raise UserError(f'{_full_key(e)} is not set: pass {_full_key(e)}=<value> '
                    f'on the command line') from e
  except omegaconf_errors.OmegaConfBaseException as e:
    raise UserError(f'{_full_key(e)}: {str(e).splitlines()[0]}') from e


def _full_key(e: omegaconf_errors.OmegaConfBaseException) -> str:
  return getattr(e, 'full_key', None) or 'config'


def get(cfg: DictConfig, key: str, required: bool = True) -> Any:
  """Reads ``key`` (dotted) resolved; UserError names the key when missing."""
  try:
    value = OmegaConf.select(cfg, key, throw_on_missing=True)
  except omegaconf_errors.MissingMandatoryValue as e:
    raise UserError(f'{key} is not set: pass {key}=<value> on the command '
                    f'line') from e
  except omegaconf_errors.OmegaConfBaseException as e:
    raise UserError(f'{key}: {str(e).splitlines()[0]}') from e
  if value is None and required:
    raise UserError(f'{key} is not set: pass {key}=<value> on the command line')
  if isinstance(value, enum.Enum):  # a typed choice (settings/schema.py)
    return value.value
  return to_plain(value)


def _positive_int(cfg: DictConfig, key: str) -> int:
  value = get(cfg, key)
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise UserError(f'{key}={value!r}: expected a whole number >= 1')
  return value


def _string_list(cfg: DictConfig, key: str) -> List[str]:
  value = get(cfg, key, required=False) or []
  if isinstance(value, str):
    value = [value]
  if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
    raise UserError(f'{key}={value!r}: expected a list of names')
  return value


def folder_name(cfg: DictConfig, key: str) -> str:
  """``key``'s value, checked as a folder name of the artifact store."""
  return artifacts.check_name(key, get(cfg, key))


def run_key(cfg: DictConfig) -> Dict[str, str]:
  """dataset.name, split and span, each checked as a folder name."""
  return {'dataset': folder_name(cfg, 'dataset.name'),
          'split': folder_name(cfg, 'split'),
          'span': folder_name(cfg, 'span')}


def store_root(cfg: DictConfig) -> str:
  root = str(get(cfg, 'store.root'))
  return root if '://' in root else os.path.abspath(root)


def dataset_spec(cfg: DictConfig) -> sources.DatasetSpec:
  """The ``dataset`` group (plus stats.batch_size) as a DatasetSpec."""
  fmt = get(cfg, 'dataset.format', required=False)
  if fmt == 'bigquery':
    return _bigquery_spec(cfg)
  path = str(get(cfg, 'dataset.path'))
  if fmt is None:
    fmt = sources.format_from_path(path)
    if fmt is None:
      raise UserError(f'dataset.format is not set and {path!r} has no known '
                      f'extension: pass dataset.format=' +
                      '|'.join(sources.FORMATS))
  if fmt not in sources.FORMATS:
    raise UserError(f'dataset.format={fmt!r}: expected one of '
                    f'{", ".join(sources.FORMATS)}')
  csv = get(cfg, 'dataset.csv', required=False) or {}
  delimiter, quote_char, encoding = _csv_dialect(csv)
  column_types = get(cfg, 'dataset.column_types', required=False) or {}
  if not isinstance(column_types, dict):
    raise UserError('dataset.column_types: expected a mapping column -> type')
  for col, typ in column_types.items():
    if typ not in ('int', 'float', 'string', 'bool'):
      raise UserError(f'dataset.column_types.{col}={typ!r}: expected int, '
                      f'float, string or bool')
  if path.startswith('~'):
    path = os.path.expanduser(path)
  return sources.DatasetSpec(
      name=get(cfg, 'dataset.name'),
      path=path,
      format=fmt,
      batch_size=_positive_int(cfg, 'stats.batch_size'),
      batch_bytes=_batch_bytes(cfg),
      delimiter=delimiter,
      encoding=encoding,
      header=bool(csv.get('header', True)),
      column_names=tuple(_string_list(cfg, 'dataset.csv.column_names')),
      quote_char=quote_char,
      null_values=tuple(str(v) for v in csv.get('null_values', ()) or ()),
      column_types=tuple(sorted(column_types.items())),
      columns=tuple(_string_list(cfg, 'dataset.columns')),
  )


def _csv_dialect(csv: Dict[str, Any]
                 ) -> Tuple[Optional[str], Optional[str], str]:
  """dataset.csv.delimiter, quote_char and encoding, checked.

  A null delimiter or quote_char is detected from the first file of the span
  (sources.resolve_csv_dialect); quote_char '' reads without quoting.
  """
  delimiter = csv.get('delimiter')
  if isinstance(delimiter, str) and delimiter.lower() in ('\\t', 'tab'):
    delimiter = '\t'  # '\t' on the command line reaches config as 2 chars
  if delimiter is not None and (not isinstance(delimiter, str) or
                                len(delimiter) != 1 or delimiter in '\r\n"'):
    raise UserError(f'dataset.csv.delimiter={delimiter!r}: expected one '
                    f"character (e.g. ';', '\\t' for a tab), or null to detect "
                    f'it')
  quote_char = csv.get('quote_char')
  if quote_char is not None and (not isinstance(quote_char, str) or
                                 len(quote_char) > 1 or
                                 (quote_char and quote_char == delimiter)):
    raise UserError(f'dataset.csv.quote_char={quote_char!r}: expected one '
                    f"character other than the delimiter, '' for no quoting, "
                    f'or null to detect it')
  encoding = csv.get('encoding') or 'utf-8'
  try:
    if not isinstance(encoding, str) or not getattr(
        codecs.lookup(encoding), '_is_text_encoding', True):
      raise LookupError(encoding)
  except LookupError:
    raise UserError(f'dataset.csv.encoding={encoding!r}: unknown text '
                    f'encoding (e.g. utf-8, latin-1, cp1252, utf-16)') from None
  return delimiter, quote_char, encoding


def _batch_bytes(cfg: DictConfig) -> int:
  if get(cfg, 'stats.batch_mib', required=False) is None:
    return sources.DatasetSpec.batch_bytes
  return _positive_int(cfg, 'stats.batch_mib') << 20


def _bigquery_spec(cfg: DictConfig) -> sources.DatasetSpec:
  from transforms.io import bigquery_source  # pylint: disable=g-import-not-at-top
  table = get(cfg, 'dataset.table', required=False)
  columns = _string_list(cfg, 'dataset.columns')
  query = bigquery_source.build_query(
      table=table, query=get(cfg, 'dataset.query', required=False),
      partition_column=get(cfg, 'dataset.partition_column', required=False),
      columns=columns, span=str(get(cfg, 'span')))
  method = str(get(cfg, 'dataset.bigquery_method'))
  if method not in bigquery_source.METHODS:
    raise UserError(f'dataset.bigquery_method={method!r}: expected one of '
                    f'{", ".join(bigquery_source.METHODS)}')
  return sources.DatasetSpec(
      name=get(cfg, 'dataset.name'),
      path=f'bigquery:{table}' if table else 'bigquery:dataset.query',
      format='bigquery',
      batch_size=_positive_int(cfg, 'stats.batch_size'),
      batch_bytes=_batch_bytes(cfg),
      columns=tuple(columns), query=query, bigquery_method=method)


def slices(cfg: DictConfig) -> List[Any]:
  """dataset.slices, plus one slice per sensitive feature (fairness)."""
  value = get(cfg, 'dataset.slices', required=False) or []
  if not isinstance(value, list):
    raise UserError('dataset.slices: expected a list, e.g. [sex, [race, sex]]')
  sensitive = _string_list(cfg, 'fairness.sensitive')
  return value + [f for f in sensitive if f not in value]


def _number(cfg: DictConfig, key: str, low: float = 0.0,
            high: Optional[float] = None) -> float:
  value = get(cfg, key)
  if isinstance(value, bool) or not isinstance(value, (int, float)) or (
      value < low or (high is not None and value > high)):
    span = f'in [{low:g}, {high:g}]' if high is not None else f'>= {low:g}'
    raise UserError(f'{key}={value!r}: expected a number {span}')
  return float(value)


def _severity(cfg: DictConfig, key: str) -> str:
  value = get(cfg, key)
  if value not in validation.SEVERITIES:
    raise UserError(f'{key}={value!r}: expected one of '
                    f'{", ".join(validation.SEVERITIES)}')
  return value


def pii_spec(cfg: DictConfig):
  """The ``pii`` group as a pii.PIISpec."""
  from transforms.checks import pii  # pylint: disable=g-import-not-at-top
  if not get(cfg, 'pii', required=False):
    return pii.PIISpec(enabled=False)
  return pii.PIISpec(
      enabled=bool(get(cfg, 'pii.enabled')),
      max_values_per_batch=_positive_int(cfg, 'pii.max_values_per_batch'),
      min_share=_number(cfg, 'pii.min_share', 0, 1),
      allowed_features=tuple(_string_list(cfg, 'pii.allowed_features')),
      severity=_severity(cfg, 'pii.severity'))


def history_spec(cfg: DictConfig):
  """The ``history`` group as a history.HistorySpec."""
  from transforms.checks import history  # pylint: disable=g-import-not-at-top
  if not get(cfg, 'history', required=False):
    return history.HistorySpec(enabled=False)
  chosen = _string_list(cfg, 'history.metrics')
  for m in chosen:
    if m not in history.METRICS:
      raise UserError(f'history.metrics: {m!r} is not one of '
                      f'{", ".join(history.METRICS)}')
  return history.HistorySpec(
      enabled=bool(get(cfg, 'history.enabled')), metrics=tuple(chosen),
      window=_positive_int(cfg, 'history.window'),
      min_spans=_positive_int(cfg, 'history.min_spans'),
      k=_number(cfg, 'history.k'),
      min_change=_number(cfg, 'history.min_change'),
      severity=_severity(cfg, 'history.severity'),
      partition_keys=bool(get(cfg, 'history.partition_keys')),
      partition_key_min_spans=_positive_int(
          cfg, 'history.partition_key_min_spans'),
      weekly=bool(get(cfg, 'history.weekly')),
      weekly_min_weeks=_positive_int(cfg, 'history.weekly_min_weeks'),
      weekly_weeks=_positive_int(cfg, 'history.weekly_weeks'),
      weekly_max_error_ratio=_number(cfg, 'history.weekly_max_error_ratio',
                                     0, 1))


def fairness_spec(cfg: DictConfig):
  """The ``fairness`` group as a fairness.FairnessSpec."""
  from transforms.checks import fairness  # pylint: disable=g-import-not-at-top
  if not get(cfg, 'fairness', required=False):
    return fairness.FairnessSpec()
  return fairness.FairnessSpec(
      sensitive=tuple(_string_list(cfg, 'fairness.sensitive')),
      min_share=_number(cfg, 'fairness.min_share', 0, 1),
      max_share_change=_number(cfg, 'fairness.max_share_change', 0, 1),
      min_group_examples=_positive_int(cfg, 'fairness.min_group_examples'),
      parity_threshold=_number(cfg, 'fairness.parity_threshold', 0, 1),
      parity_change=_number(cfg, 'fairness.parity_change', 0, 1),
      severity=_severity(cfg, 'fairness.severity'))


def shift_spec(cfg: DictConfig):
  """The ``shift`` group as a shift.ShiftSpec."""
  from transforms.checks import shift  # pylint: disable=g-import-not-at-top
  if not get(cfg, 'shift', required=False):
    return shift.ShiftSpec(enabled=False)
  features = get(cfg, 'shift.features', required=False)
  if features is not None:
    features = tuple(_string_list(cfg, 'shift.features'))
  sample_size = get(cfg, 'shift.sample_size')
  if isinstance(sample_size, bool) or not isinstance(sample_size, int) or (
      sample_size < 0):
    raise UserError(f'shift.sample_size={sample_size!r}: expected a whole '
                    f'number >= 0 (0: no row sample)')
  return shift.ShiftSpec(
      enabled=bool(get(cfg, 'shift.enabled')), features=features,
      exclude=tuple(_string_list(cfg, 'shift.exclude')),
      max_values=_positive_int(cfg, 'shift.max_values'),
      sample_size=sample_size,
      min_bucket_examples=_positive_int(cfg, 'shift.min_bucket_examples'),
      max_label_change=_number(cfg, 'shift.max_label_change', 0),
      max_conditional_change=_number(cfg, 'shift.max_conditional_change', 0),
      max_domain_auc=_number(cfg, 'shift.max_domain_auc', 0.5, 1),
      max_calibration_change=_number(cfg, 'shift.max_calibration_change', 0),
      alpha=_number(cfg, 'shift.alpha', 0, 1),
      severity=_severity(cfg, 'shift.severity'))


def label(cfg: DictConfig) -> Optional[str]:
  value = get(cfg, 'dataset.label', required=False)
  if value is not None and not isinstance(value, str):
    raise UserError(f'dataset.label={value!r}: expected a feature name')
  return value


def stats_settings(cfg: DictConfig) -> Dict[str, Any]:
  """The ``stats`` keys that become TFDV StatsOptions."""
  sample_rate = get(cfg, 'stats.sample_rate', required=False)
  if sample_rate is not None and not (
      isinstance(sample_rate, (int, float)) and 0 < sample_rate <= 1):
    raise UserError(f'stats.sample_rate={sample_rate!r}: expected a number in '
                    f'(0, 1] or null')
  epsilon = get(cfg, 'stats.epsilon')
  if not isinstance(epsilon, (int, float)) or not 0 < epsilon < 1:
    raise UserError(f'stats.epsilon={epsilon!r}: expected a number in (0, 1)')
  top_values = get(cfg, 'stats.top_values', required=False) or 'auto'
  if top_values not in ('auto', 'sketch', 'exact'):
    raise UserError(f'stats.top_values={top_values!r}: expected auto, sketch '
                    f'or exact')
  return {
      # None: decided per span from the first file (span_stats.plan_pass).
      'sketch_top_values': {'auto': None, 'sketch': True,
                            'exact': False}[top_values],
      'num_top_values': _positive_int(cfg, 'stats.num_top_values'),
      'num_rank_histogram_buckets': _positive_int(
          cfg, 'stats.num_rank_histogram_buckets'),
      'num_histogram_buckets': _positive_int(cfg, 'stats.num_histogram_buckets'),
      'num_quantiles_histogram_buckets': _positive_int(
          cfg, 'stats.num_quantiles_histogram_buckets'),
      'epsilon': float(epsilon),
      'sample_rate': sample_rate,
  }


def stats_engine(cfg: DictConfig) -> str:
  """stats.engine: ``tfdv`` (TFDV's generators) or ``vectorized``
  (transforms/engine)."""
  engine = get(cfg, 'stats.engine', required=False) or 'tfdv'
  if engine not in ('tfdv', 'vectorized'):
    raise UserError(f'stats.engine={engine!r}: expected tfdv or vectorized')
  return engine


def max_categorical_values(cfg: DictConfig) -> int:
  """stats.max_categorical_values: integers with at most this many distinct
  values get exact value counts and are compared on their value shares."""
  if get(cfg, 'stats.max_categorical_values', required=False) is None:
    return 50
  return _positive_int(cfg, 'stats.max_categorical_values')


def event_time(cfg: DictConfig) -> Optional[str]:
  """``dataset.event_time`` as configured: ``auto``, a column name, or None
  (``none``, ``false``, null). Which column it is depends on the data
  (feature_meta.event_time_column)."""
  value = get(cfg, 'dataset.event_time', required=False)
  if value is None or value is False or value == 'none':
    return None
  return str(value)


def _timezone(cfg: DictConfig, key: str) -> str:
  """An IANA time-zone name (UTC, America/New_York), checked."""
  name = str(get(cfg, key))
  try:
    zoneinfo.ZoneInfo(name)
  except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise UserError(f'{key}={name!r}: not a time zone; use an IANA name '
                    f'such as UTC or America/New_York') from None
  return name


def event_time_settings(cfg: DictConfig) -> Dict[str, Any]:
  """The ``event_time`` group: freshness and window checks, checked.

  ``max_age_hours`` None: not set (freshness only for a dated run, at
  ``dated_max_age_hours``); ``run_date`` the scheduler's date or None.
  """
  run_date = get(cfg, 'run_date', required=False)
  max_age = get(cfg, 'event_time.max_age_hours', required=False)
  return {
      'max_age_hours': (None if max_age is None else
                        _number(cfg, 'event_time.max_age_hours')),
      'dated_max_age_hours': _number(cfg, 'event_time.dated_max_age_hours'),
      'run_date': (None if run_date is None or str(run_date).strip() in (
          '', 'null', 'None') else dates.parse_run_date(run_date)),
      'max_outside_window_share': _number(
          cfg, 'event_time.max_outside_window_share', 0, 1),
      'max_future_share': _number(cfg, 'event_time.max_future_share', 0, 1),
      'future_tolerance_minutes': _number(
          cfg, 'event_time.future_tolerance_minutes'),
      'severity': _severity(cfg, 'event_time.severity'),
      'timezone': _timezone(cfg, 'event_time.timezone'),
  }


def privacy_spec(cfg: DictConfig) -> PrivacySpec:
  min_count = get(cfg, 'privacy.min_value_count')
  if isinstance(min_count, bool) or not isinstance(min_count, int) or (
      min_count < 0):
    raise UserError(f'privacy.min_value_count={min_count!r}: expected a whole '
                    f'number >= 0')
  return PrivacySpec(
      min_value_count=min_count,
      hashed_features=tuple(_string_list(cfg, 'privacy.hashed_features')),
      salt=str(get(cfg, 'privacy.salt', required=False) or ''))


def sink_path(cfg: DictConfig) -> str:
  """The DuckDB warehouse file (sink.kind=duckdb)."""
  path = str(get(cfg, 'sink.path'))
  if '://' in path:
    raise UserError(f'sink.path={path!r}: the DuckDB warehouse must be a '
                    f'local file (set sink.path=./warehouse.duckdb, or use '
                    f'sink=bigquery)')
  return os.path.abspath(path)


def bigquery_sink_settings(cfg: DictConfig) -> Dict[str, Any]:
  """The ``sink`` group for sink.kind=bigquery, checked."""
  timeout = get(cfg, 'sink.timeout_s')
  if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or (
      timeout <= 0):
    raise UserError(f'sink.timeout_s={timeout!r}: expected seconds > 0')
  endpoint = get(cfg, 'sink.endpoint', required=False)
  if endpoint is not None and not str(endpoint).startswith(('http://',
                                                             'https://')):
    raise UserError(f'sink.endpoint={endpoint!r}: expected an http(s):// URL '
                    f'or null')
  return {
      'project': str(get(cfg, 'sink.project')),
      'dataset': str(get(cfg, 'sink.dataset')),
      'table_prefix': str(get(cfg, 'sink.table_prefix', required=False) or ''),
      'location': get(cfg, 'sink.location', required=False),
      'endpoint': endpoint,
      'timeout_s': float(timeout),
      'staging_expiration_hours': _positive_int(
          cfg, 'sink.staging_expiration_hours'),
  }


def sink_spec(cfg: DictConfig) -> sinks.SinkSpec:
  """The ``sink`` group as a sinks.SinkSpec."""
  kind = get(cfg, 'sink.kind')
  if kind == 'duckdb':
    return sinks.SinkSpec(kind, path=sink_path(cfg))
  if kind == 'bigquery':
    return sinks.SinkSpec(kind, bigquery=bigquery_sink_settings(cfg))
  raise UserError(f'sink.kind={kind!r}: expected one of '
                  f'{", ".join(sinks.KINDS)}')


def progress_interval_s(cfg: DictConfig) -> float:
  """``stats.progress_interval_s``: seconds between progress lines; 0 turns
  them off (runners/progress.py)."""
  key = 'stats.progress_interval_s'
  value = get(cfg, key, required=False)
  if value is None:
    return 5.0
  if isinstance(value, bool) or not isinstance(value, (int, float)) or (
      value < 0):
    raise UserError(f'{key}={value!r}: expected a number of seconds >= 0 '
                    f'(0 turns progress lines off)')
  return float(value)


_TOPIC = re.compile(r'^projects/[a-z][-a-z0-9:.]*[a-z0-9]/topics/[A-Za-z]'
                    r'[-A-Za-z0-9_.~+%]{2,254}$')


def alert_spec(cfg: DictConfig):
  """The ``alert`` group as an alerts.AlertSpec."""
  from runners import alerts  # pylint: disable=g-import-not-at-top
  url = get(cfg, 'alert.webhook_url', required=False)
  if url is not None and not re.match(r'^https?://[^\s/]+', str(url)):
    raise UserError(f'alert.webhook_url={url!r}: expected an http:// or '
                    f'https:// URL')
  topic = get(cfg, 'alert.pubsub_topic', required=False)
  if topic is not None and not _TOPIC.match(str(topic)):
    raise UserError(f'alert.pubsub_topic={topic!r}: expected '
                    f'projects/PROJECT/topics/TOPIC')
  n = get(cfg, 'alert.max_anomalies', required=False)
  if n is not None and (isinstance(n, bool) or not isinstance(n, int) or
                        n < 0):
    raise UserError(f'alert.max_anomalies={n!r}: expected a whole number >= 0')
  timeout = get(cfg, 'alert.timeout_s', required=False)
  return alerts.AlertSpec(
      webhook_url=str(url) if url else None,
      pubsub_topic=str(topic) if topic else None,
      max_anomalies=10 if n is None else n,
      timeout_s=float(timeout or 10))


def runner_name(cfg: DictConfig) -> str:
  return str(get(cfg, 'runner.name', required=False) or 'direct')


def comparison_spec(cfg: DictConfig, kind: str):
  """The ``drift`` or ``skew`` group as a validation.ComparisonSpec."""
  out = {}
  for side in ('categorical', 'numeric'):
    metric = get(cfg, f'{kind}.{side}_metric')
    allowed = (validation.ALL_METRICS if side == 'numeric' else
               validation.METRICS)
    if metric not in allowed:
      raise UserError(f'{kind}.{side}_metric={metric!r}: expected one of '
                      f'{", ".join(allowed)}')
    threshold = get(cfg, f'{kind}.{side}_threshold')
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)
                                                      ) or threshold < 0:
      raise UserError(f'{kind}.{side}_threshold={threshold!r}: expected a '
                      f'number >= 0')
    out[f'{side}_metric'] = metric
    out[f'{side}_threshold'] = float(threshold)
    error = get(cfg, f'{kind}.{side}_error_threshold', required=False)
    if error is not None and (isinstance(error, bool) or not isinstance(
        error, (int, float)) or error < 0):
      raise UserError(f'{kind}.{side}_error_threshold={error!r}: expected a '
                      f'number >= 0, or null for one tier (every anomaly an '
                      f'ERROR)')
    out[f'{side}_error_threshold'] = (float(error) if error is not None
                                      else None)
  features = get(cfg, f'{kind}.features', required=False) or {}
  if not isinstance(features, dict) or not all(
      isinstance(v, dict) for v in features.values()):
    raise UserError(f'{kind}.features: expected a mapping feature -> '
                    f'{{metric: ..., threshold: ...}}')
  for name, spec in features.items():
    unknown = set(spec) - {'metric', 'threshold'}
    if unknown:
      raise UserError(f'{kind}.features.{name}: unknown key '
                      f'{sorted(unknown)[0]!r} (use metric, threshold)')
  also = tuple(_string_list(cfg, f'{kind}.also_measure'))
  for metric in also:
    if metric not in validation.NUMERIC_METRICS:
      raise UserError(f'{kind}.also_measure: {metric!r} is not one of '
                      f'{", ".join(validation.NUMERIC_METRICS)}')
  ratio = get(cfg, f'{kind}.max_unique_ratio')
  if not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
    raise UserError(f'{kind}.max_unique_ratio={ratio!r}: expected a number '
                    f'in (0, 1]')
  id_rule = {}
  for key in ('id_min_distinct_share', 'id_max_spacing_error'):
    value = get(cfg, f'{kind}.{key}')
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        not 0 <= value <= 1):
      raise UserError(f'{kind}.{key}={value!r}: expected a number in [0, 1]')
    id_rule[key] = float(value)
  min_slice = get(cfg, f'{kind}.min_slice_examples')
  if isinstance(min_slice, bool) or not isinstance(min_slice, int) or (
      min_slice < 0):
    raise UserError(f'{kind}.min_slice_examples={min_slice!r}: expected a '
                    f'whole number >= 0')
  alpha = get(cfg, f'{kind}.noise_alpha', required=False)
  if alpha is not None and (isinstance(alpha, bool) or not isinstance(
      alpha, (int, float)) or not 0 < alpha < 1):
    raise UserError(f'{kind}.noise_alpha={alpha!r}: expected a number in '
                    f'(0, 1), or null for thresholds alone')
  return validation.ComparisonSpec(
      **out, also_measure=also, features=features,
      exclude=tuple(_string_list(cfg, f'{kind}.exclude')),
      max_unique_ratio=float(ratio), **id_rule, min_slice_examples=min_slice,
      noise_alpha=float(alpha) if alpha is not None else None)


def feature_skew_spec(cfg: DictConfig):
  """The ``feature_skew`` group as a feature_skew.FeatureSkewSpec."""
  from transforms.checks import feature_skew  # pylint: disable=g-import-not-at-top
  identifiers = get(cfg, 'feature_skew.identifiers')
  if isinstance(identifiers, str):
    identifiers = [identifiers]
  if not identifiers or not all(isinstance(i, str) for i in identifiers):
    raise UserError('feature_skew.identifiers: expected a list of feature '
                    'names, e.g. [user_id]')
  ndigits = optional_int(cfg, 'feature_skew.float_round_ndigits')
  spec = feature_skew.FeatureSkewSpec(
      identifiers=tuple(identifiers),
      ignore=tuple(get(cfg, 'feature_skew.ignore', required=False) or ()),
      float_round_ndigits=ndigits,
      mismatch_threshold=float(get(cfg, 'feature_skew.mismatch_threshold')),
      unmatched_threshold=float(get(cfg, 'feature_skew.unmatched_threshold')),
      sample_size=int(get(cfg, 'feature_skew.sample_size')),
      severity=str(get(cfg, 'feature_skew.severity')),
      unmatched_severity=str(get(cfg, 'feature_skew.unmatched_severity')))
  for key in ('severity', 'unmatched_severity'):
    if getattr(spec, key) not in validation.SEVERITIES:
      raise UserError(f'feature_skew.{key}={getattr(spec, key)!r}: expected '
                      f'one of {", ".join(validation.SEVERITIES)}')
  return spec


def fail_on(cfg: DictConfig) -> str:
  value = str(get(cfg, 'fail_on')).upper()
  if value not in validation.SEVERITIES:
    raise UserError(f'fail_on={value!r}: expected one of '
                    f'{", ".join(validation.SEVERITIES)}')
  return value


def optional_int(cfg: DictConfig, key: str) -> Optional[int]:
  value = get(cfg, key, required=False)
  if value is None:
    return None
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise UserError(f'{key}={value!r}: expected a version number >= 1')
  return value
