"""The typed schema of the jobs' configuration, registered in Hydra's ConfigStore.

The YAML files in ``conf/`` keep every default and its comment; these
dataclasses give each key its type (``MISSING`` here: the value comes from
YAML). Each YAML file names its schema first in its defaults list
(``- validate_schema``, ``- custom_schema`` ...), so composition itself
refuses a key the schema does not have or a value of the wrong type, and
names the key. Ranges that types cannot express (a share in [0, 1]) are
checked in ``settings/config.py`` when the job starts.
"""

import dataclasses
import enum
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


def _field():
  return dataclasses.field(default=MISSING)


class Severity(str, enum.Enum):
  """How serious an anomaly is (its row's ``severity``)."""
  INFO = 'INFO'
  WARNING = 'WARNING'
  ERROR = 'ERROR'

  def __str__(self) -> str:
    return self.value


# --- groups -----------------------------------------------------------------


@dataclasses.dataclass
class CsvSchema:
  delimiter: Optional[str] = MISSING
  header: bool = MISSING
  column_names: List[str] = MISSING
  quote_char: Optional[str] = MISSING
  encoding: Optional[str] = MISSING
  null_values: List[str] = MISSING


@dataclasses.dataclass
class DatasetSchema:
  """conf/dataset/*.yaml"""
  name: str = MISSING
  path: Optional[str] = MISSING
  format: Optional[str] = MISSING
  table: Optional[str] = MISSING
  partition_column: Optional[str] = MISSING
  query: Optional[str] = MISSING
  bigquery_method: str = MISSING
  csv: CsvSchema = dataclasses.field(default_factory=CsvSchema)
  column_types: Any = MISSING  # a mapping, or null (free-form keys)
  columns: List[str] = MISSING
  # auto, none, false or a column name
  event_time: Any = MISSING
  label: Optional[str] = MISSING
  # names, lists of names, {name: [values]}
  slices: List[Any] = MISSING


@dataclasses.dataclass
class DirectRunnerSchema:
  """conf/runner/direct.yaml"""
  name: str = MISSING
  options: Any = MISSING  # a mapping, or null (free-form keys)


@dataclasses.dataclass
class DataflowRunnerSchema:
  """conf/runner/dataflow.yaml"""
  name: str = MISSING
  dry_run: bool = MISSING
  dry_run_dir: str = MISSING
  project: str = MISSING
  region: str = MISSING
  temp_location: str = MISSING
  staging_location: Optional[str] = MISSING
  service_account_email: Optional[str] = MISSING
  machine_type: Optional[str] = MISSING
  num_workers: Optional[int] = MISSING
  max_num_workers: Optional[int] = MISSING
  disk_size_gb: Optional[int] = MISSING
  network: Optional[str] = MISSING
  subnetwork: Optional[str] = MISSING
  use_public_ips: Optional[bool] = MISSING
  labels: Any = MISSING  # a mapping, or null (free-form keys)
  job_name: Optional[str] = MISSING
  setup_file: Optional[str] = MISSING
  sdk_container_image: Optional[str] = MISSING
  template_location: Optional[str] = MISSING
  finish_in_pipeline: Optional[bool] = MISSING
  options: Any = MISSING  # a mapping, or null (free-form keys)


@dataclasses.dataclass
class FlinkRunnerSchema:
  """conf/runner/flink.yaml"""
  name: str = MISSING
  flink_master: str = MISSING
  parallelism: int = MISSING
  job_server_jar: Optional[str] = MISSING
  sdk_workers: str = MISSING
  worker_pool: Optional[str] = MISSING
  sdk_worker_parallelism: Optional[int] = MISSING
  job_name: Optional[str] = MISSING
  options: Any = MISSING  # a mapping, or null (free-form keys)


@dataclasses.dataclass
class DuckDBSinkSchema:
  """conf/sink/duckdb.yaml"""
  kind: str = MISSING
  path: str = MISSING


@dataclasses.dataclass
class BigQuerySinkSchema:
  """conf/sink/bigquery.yaml"""
  kind: str = MISSING
  project: str = MISSING
  dataset: str = MISSING
  table_prefix: Optional[str] = MISSING
  location: Optional[str] = MISSING
  endpoint: Optional[str] = MISSING
  timeout_s: float = MISSING
  staging_expiration_hours: int = MISSING


# --- base.yaml --------------------------------------------------------------


@dataclasses.dataclass
class StoreSchema:
  root: str = MISSING


@dataclasses.dataclass
class StatsSchema:
  batch_size: int = MISSING
  batch_mib: Optional[int] = MISSING
  num_top_values: int = MISSING
  num_rank_histogram_buckets: int = MISSING
  num_histogram_buckets: int = MISSING
  num_quantiles_histogram_buckets: int = MISSING
  epsilon: float = MISSING
  top_values: Optional[str] = MISSING
  sample_rate: Optional[float] = MISSING
  max_categorical_values: Optional[int] = MISSING
  progress_interval_s: Optional[float] = MISSING
  engine: str = MISSING


@dataclasses.dataclass
class EventTimeSchema:
  max_age_hours: Optional[float] = MISSING
  dated_max_age_hours: float = MISSING
  max_outside_window_share: float = MISSING
  max_future_share: float = MISSING
  future_tolerance_minutes: float = MISSING
  timezone: str = MISSING
  severity: Severity = MISSING


@dataclasses.dataclass
class ShiftSchema:
  enabled: bool = MISSING
  features: Optional[List[str]] = MISSING
  exclude: List[str] = MISSING
  max_values: int = MISSING
  sample_size: int = MISSING
  min_bucket_examples: int = MISSING
  max_label_change: float = MISSING
  max_conditional_change: float = MISSING
  max_domain_auc: float = MISSING
  max_calibration_change: float = MISSING
  alpha: float = MISSING
  severity: Severity = MISSING


@dataclasses.dataclass
class PrivacySchema:
  min_value_count: int = MISSING
  hashed_features: List[str] = MISSING
  salt: Optional[str] = MISSING
  raw_values_in_results: bool = MISSING


@dataclasses.dataclass
class PIISchema:
  enabled: bool = MISSING
  max_values_per_batch: int = MISSING
  min_share: float = MISSING
  allowed_features: List[str] = MISSING
  severity: Severity = MISSING


@dataclasses.dataclass
class BaseSchema:
  """conf/base.yaml: the keys every job has."""
  dataset: DatasetSchema = MISSING
  runner: Any = MISSING
  sink: Any = MISSING
  job: str = MISSING
  split: str = MISSING
  span: Optional[str] = MISSING
  run_date: Optional[str] = MISSING
  store: StoreSchema = dataclasses.field(default_factory=StoreSchema)
  stats: StatsSchema = dataclasses.field(default_factory=StatsSchema)
  event_time: EventTimeSchema = dataclasses.field(
      default_factory=EventTimeSchema)
  shift: ShiftSchema = dataclasses.field(default_factory=ShiftSchema)
  privacy: PrivacySchema = dataclasses.field(default_factory=PrivacySchema)
  pii: PIISchema = dataclasses.field(default_factory=PIISchema)
  log_level: str = MISSING


# --- job configs ------------------------------------------------------------


@dataclasses.dataclass
class StatsJobSchema(BaseSchema):
  """conf/stats.yaml"""


@dataclasses.dataclass
class ValidateSchemaGroup:
  version: Optional[int] = MISSING
  environment: Optional[str] = MISSING
  serving_splits: List[str] = MISSING


@dataclasses.dataclass
class DriftSchema:
  enabled: bool = MISSING
  baseline_span: Optional[str] = MISSING
  categorical_metric: str = MISSING
  categorical_threshold: float = MISSING
  categorical_error_threshold: Optional[float] = MISSING
  numeric_metric: str = MISSING
  numeric_threshold: float = MISSING
  numeric_error_threshold: Optional[float] = MISSING
  also_measure: List[str] = MISSING
  # {feature: {metric: ..., threshold: ...}}
  features: Any = MISSING  # a mapping, or null (free-form keys)
  exclude: List[str] = MISSING
  max_unique_ratio: float = MISSING
  id_min_distinct_share: float = MISSING
  id_max_spacing_error: float = MISSING
  min_slice_examples: int = MISSING
  noise_alpha: Optional[float] = MISSING


@dataclasses.dataclass
class SkewSchema(DriftSchema):
  baseline_split: str = MISSING


@dataclasses.dataclass
class HistorySchema:
  enabled: bool = MISSING
  metrics: List[str] = MISSING
  window: int = MISSING
  min_spans: int = MISSING
  k: float = MISSING
  min_change: float = MISSING
  severity: Severity = MISSING
  partition_keys: bool = MISSING
  partition_key_min_spans: int = MISSING
  weekly: bool = MISSING
  weekly_min_weeks: int = MISSING
  weekly_weeks: int = MISSING
  weekly_max_error_ratio: float = MISSING


@dataclasses.dataclass
class FairnessSchema:
  sensitive: List[str] = MISSING
  min_share: float = MISSING
  max_share_change: float = MISSING
  min_group_examples: int = MISSING
  parity_threshold: float = MISSING
  parity_change: float = MISSING
  severity: Severity = MISSING


@dataclasses.dataclass
class AlertSchema:
  webhook_url: Optional[str] = MISSING
  pubsub_topic: Optional[str] = MISSING
  max_anomalies: Optional[int] = MISSING
  timeout_s: Optional[float] = MISSING


@dataclasses.dataclass
class ValidateJobSchema(BaseSchema):
  """conf/validate.yaml"""
  schema: ValidateSchemaGroup = dataclasses.field(
      default_factory=ValidateSchemaGroup)
  drift: DriftSchema = dataclasses.field(default_factory=DriftSchema)
  skew: SkewSchema = dataclasses.field(default_factory=SkewSchema)
  history: HistorySchema = dataclasses.field(default_factory=HistorySchema)
  fairness: FairnessSchema = dataclasses.field(default_factory=FairnessSchema)
  # upper-cased when checked: error and ERROR are the same
  fail_on: str = MISSING
  alert: AlertSchema = dataclasses.field(default_factory=AlertSchema)


@dataclasses.dataclass
class ReportGroup:
  output: Optional[str] = MISSING


@dataclasses.dataclass
class CompareSchema:
  dataset: Optional[str] = MISSING
  split: Optional[str] = MISSING
  span: Optional[str] = MISSING


@dataclasses.dataclass
class ReportJobSchema(ValidateJobSchema):
  """conf/report.yaml"""
  report: ReportGroup = dataclasses.field(default_factory=ReportGroup)
  compare: CompareSchema = dataclasses.field(default_factory=CompareSchema)


@dataclasses.dataclass
class SiteGroup:
  output: Optional[str] = MISSING
  full: bool = MISSING
  table_spans: int = MISSING
  top_value_charts: int = MISSING


@dataclasses.dataclass
class SiteJobSchema(BaseSchema):
  """conf/site.yaml"""
  site: SiteGroup = dataclasses.field(default_factory=SiteGroup)


@dataclasses.dataclass
class InferSchemaGroup:
  note: str = MISSING
  promote: bool = MISSING
  environments: List[str] = MISSING
  label_absent_at_serving: bool = MISSING


@dataclasses.dataclass
class InferSchemaJobSchema(BaseSchema):
  """conf/infer_schema.yaml"""
  schema: InferSchemaGroup = dataclasses.field(
      default_factory=InferSchemaGroup)


@dataclasses.dataclass
class SchemaGroup:
  version: Optional[int] = MISSING
  other: Optional[int] = MISSING
  note: str = MISSING


@dataclasses.dataclass
class SchemaJobSchema(BaseSchema):
  """conf/schema.yaml"""
  action: str = MISSING
  schema: SchemaGroup = dataclasses.field(default_factory=SchemaGroup)


@dataclasses.dataclass
class FeatureSkewGroup:
  identifiers: List[str] = MISSING
  baseline_split: str = MISSING
  baseline_path: Optional[str] = MISSING
  ignore: List[str] = MISSING
  float_round_ndigits: int = MISSING
  mismatch_threshold: float = MISSING
  severity: Severity = MISSING
  unmatched_threshold: float = MISSING
  unmatched_severity: Severity = MISSING
  sample_size: int = MISSING


@dataclasses.dataclass
class FeatureSkewJobSchema(BaseSchema):
  """conf/feature_skew.yaml"""
  feature_skew: FeatureSkewGroup = dataclasses.field(
      default_factory=FeatureSkewGroup)
  fail_on: str = MISSING


JOBS = {
    'stats': StatsJobSchema,
    'validate': ValidateJobSchema,
    'report': ReportJobSchema,
    'infer_schema': InferSchemaJobSchema,
    'schema': SchemaJobSchema,
    'feature_skew': FeatureSkewJobSchema,
    'site': SiteJobSchema,
}
GROUPS = {
    ('dataset', 'custom'): DatasetSchema,
    ('runner', 'direct'): DirectRunnerSchema,
    ('runner', 'dataflow'): DataflowRunnerSchema,
    ('runner', 'flink'): FlinkRunnerSchema,
    ('sink', 'duckdb'): DuckDBSinkSchema,
    ('sink', 'bigquery'): BigQuerySinkSchema,
}


def register() -> None:
  """Stores every schema in Hydra's ConfigStore (``{name}_schema``)."""
  cs = ConfigStore.instance()
  for job, node in JOBS.items():
    cs.store(name=f'{job}_schema', node=node)
  for (group, name), node in GROUPS.items():
    cs.store(group=group, name=f'{name}_schema', node=node)


register()
