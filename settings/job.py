"""A job's settings: its config parsed once, at the start, into a frozen object.

  settings = job.parse(cfg, 'validate')

Every job's ``run(cfg)`` starts here: the composed Hydra config becomes one
``JobSettings`` of typed, checked specs, and only those travel further
(``transforms/`` and ``runners/`` never see the config). A bad value ends the
job with one line naming its key (settings/config.py, settings/runner.py)
before any work starts. Each job gets the parts its config has: a statistics
pass for ``stats`` and ``validate``, checks for ``validate``, and so on; the
others are None.

The object pickles: a run that finishes on a Dataflow worker
(runners/in_pipeline.py) takes it along.
"""

import dataclasses
import os
from typing import Any, Dict, List, Optional, Tuple

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from omegaconf import DictConfig, OmegaConf

from runners import alerts
from settings import config
from settings import runner as runner_settings
from transforms import span_stats
from transforms.checks import feature_skew
from transforms.checks import fairness
from transforms.checks import history
from transforms.checks import validation
from transforms.errors import UserError
from transforms.io import artifacts
from transforms.io import sinks
from transforms.io import sources
from transforms.statistics import PrivacySpec


@dataclasses.dataclass(frozen=True)
class Checks:
  """validate: what the span's statistics are checked against."""
  fail_on: str                        # the lowest blocking severity
  schema_version: Optional[int]       # None: the latest promoted version
  schema_environment: Optional[str]   # None: by split (serving_splits)
  serving_splits: Tuple[str, ...]
  drift_enabled: bool
  drift_baseline_span: Optional[str]  # None: the latest earlier span
  drift: validation.ComparisonSpec
  skew_enabled: bool
  skew_baseline_split: str
  skew_baseline_span: Optional[str]   # None: the same span or the latest
  skew: validation.ComparisonSpec
  history: history.HistorySpec
  fairness: fairness.FairnessSpec
  alert: alerts.AlertSpec
  raw_values_in_results: bool         # privacy.raw_values_in_results

  def environment(self, split: str) -> str:
    """The schema environment a split is checked in."""
    if self.schema_environment:
      return self.schema_environment
    return 'SERVING' if split in self.serving_splits else 'TRAINING'


@dataclasses.dataclass(frozen=True)
class InferSchemaSettings:
  """infer_schema: which stored statistics, and what to make of them."""
  dataset: str
  split: str
  span: Optional[str]                 # None: the latest span of the split
  label: Optional[str]
  label_absent_at_serving: bool
  environments: List[str]
  note: str
  promote: bool


@dataclasses.dataclass(frozen=True)
class SchemaSettings:
  """schema: the action and the versions it works on."""
  action: str
  dataset: str
  version: Optional[int]              # schema.version
  other: Optional[int]                # schema.other (diff)
  split: Optional[str]                # propose only
  span: Optional[str]                 # propose: None, the latest span
  note: str


@dataclasses.dataclass(frozen=True)
class ReportSettings:
  """report: where the page goes and, for a comparison, with what."""
  output: Optional[str]               # None: in the span's folder
  # The other span's key (compare.*), or None: rebuild the span's report.
  compare: Optional[Dict[str, str]]
  drift: Optional[validation.ComparisonSpec]  # comparisons only
  fail_on: Optional[str]                      # comparisons only
  privacy: PrivacySpec
  pii: Any                            # pii.PIISpec
  raw_values_in_results: bool


@dataclasses.dataclass(frozen=True)
class SiteSettings:
  """site: which datasets, where the pages go, incremental or full."""
  spec: Any                           # report.site.SiteSpec


@dataclasses.dataclass(frozen=True)
class FeatureSkewSettings:
  """feature_skew: the two sides to join and the thresholds."""
  spec: feature_skew.FeatureSkewSpec
  baseline_split: str
  training: sources.DatasetSpec
  serving: sources.DatasetSpec
  privacy: PrivacySpec
  raw_values_in_results: bool
  fail_on: str


@dataclasses.dataclass(frozen=True)
class JobSettings:
  """One job's config, parsed and checked: what its run needs, typed."""
  job: str
  store_root: str
  runner: runner_settings.RunnerSpec
  # dataset, split and span (None for infer_schema and schema)
  key: Optional[Dict[str, str]] = None
  sink: Optional[sinks.SinkSpec] = None  # None: the job writes no rows
  # The resolved config, as the run row's ``config`` (None: no run row).
  config: Optional[Dict[str, Any]] = None
  stats_pass: Optional[span_stats.PassSpec] = None  # stats, validate
  checks: Optional[Checks] = None                    # validate
  infer_schema: Optional[InferSchemaSettings] = None
  schema: Optional[SchemaSettings] = None
  report: Optional[ReportSettings] = None
  feature_skew: Optional[FeatureSkewSettings] = None
  site: Optional[SiteSettings] = None


def parse(cfg: DictConfig, job: str) -> JobSettings:
  """The job's settings from its composed config; UserError (one line
  naming the key) on the first bad value."""
  return _PARSERS[job](cfg, job)


def _pass_spec(cfg: DictConfig) -> Tuple[span_stats.PassSpec,
                                         PipelineOptions]:
  """The statistics pass and the runner's options."""
  privacy = config.privacy_spec(cfg)
  key = config.run_key(cfg)
  dataset = config.dataset_spec(cfg)
  stats = config.stats_settings(cfg)
  progress_interval_s = config.progress_interval_s(cfg)
  options = runner_settings.pipeline_options(cfg)
  spec = span_stats.PassSpec(
      key=key, store_root=config.store_root(cfg), dataset=dataset,
      stats=stats, slices=config.slices(cfg), label=config.label(cfg),
      event_time=config.event_time(cfg),
      event_time_settings=config.event_time_settings(cfg),
      max_categorical_values=config.max_categorical_values(cfg),
      privacy=privacy, pii=config.pii_spec(cfg),
      shift=config.shift_spec(cfg), progress_interval_s=progress_interval_s,
      engine=config.stats_engine(cfg))
  return spec, options


def _stats(cfg: DictConfig, job: str, **parts) -> JobSettings:
  """The settings of a job that runs a statistics pass (stats, validate)."""
  name = config.runner_name(cfg)
  if runner_settings.is_dry_run(cfg):
    # A dry run builds the pass's Dataflow job: no sink, no run row.
    stats_pass, options = _pass_spec(cfg)
    runner = runner_settings.RunnerSpec(
        name, options, dry_run_dir=runner_settings.dry_run_dir(cfg))
    sink = resolved = None
  else:
    finish_in_pipeline = runner_settings.finishes_in_pipeline(cfg)
    sink = config.sink_spec(cfg)
    stats_pass, options = _pass_spec(cfg)
    runner = runner_settings.RunnerSpec(
        name, options, finish_in_pipeline=finish_in_pipeline)
    resolved = config.to_plain(cfg)
  return JobSettings(job=job, store_root=stats_pass.store_root, runner=runner,
                     key=stats_pass.key, sink=sink, config=resolved,
                     stats_pass=stats_pass, **parts)


def _validate(cfg: DictConfig, job: str) -> JobSettings:
  checks = Checks(
      fail_on=config.fail_on(cfg),
      drift=config.comparison_spec(cfg, 'drift'),
      skew=config.comparison_spec(cfg, 'skew'),
      history=config.history_spec(cfg),
      fairness=config.fairness_spec(cfg),
      alert=config.alert_spec(cfg),
      schema_version=config.optional_int(cfg, 'schema.version'),
      schema_environment=_optional_str(cfg, 'schema.environment'),
      serving_splits=tuple(config.get(cfg, 'schema.serving_splits',
                                      required=False) or ()),
      drift_enabled=bool(config.get(cfg, 'drift.enabled')),
      drift_baseline_span=_optional_str(cfg, 'drift.baseline_span'),
      skew_enabled=bool(config.get(cfg, 'skew.enabled')),
      skew_baseline_split=str(config.get(cfg, 'skew.baseline_split')),
      skew_baseline_span=_optional_str(cfg, 'skew.baseline_span'),
      raw_values_in_results=bool(config.get(
          cfg, 'privacy.raw_values_in_results')))
  return _stats(cfg, job, checks=checks)


def _optional_str(cfg: DictConfig, key: str) -> Optional[str]:
  value = config.get(cfg, key, required=False)
  return None if value is None else str(value)


def _store_only(cfg: DictConfig, job: str) -> runner_settings.RunnerSpec:
  """The runner of a job that reads and writes the store only."""
  runner_settings.no_dry_run(cfg, job)
  return runner_settings.RunnerSpec(config.runner_name(cfg))


def _infer_schema(cfg: DictConfig, job: str) -> JobSettings:
  runner = _store_only(cfg, job)
  root = config.store_root(cfg)
  dataset = config.folder_name(cfg, 'dataset.name')
  split = config.folder_name(cfg, 'split')
  return JobSettings(job=job, store_root=root, runner=runner,
                     infer_schema=InferSchemaSettings(
                         dataset=dataset, split=split,
                         span=_optional_str(cfg, 'span'),
                         label=config.label(cfg),
                         label_absent_at_serving=bool(config.get(
                             cfg, 'schema.label_absent_at_serving')),
                         environments=config.get(cfg, 'schema.environments'),
                         note=str(config.get(cfg, 'schema.note') or ''),
                         promote=bool(config.get(cfg, 'schema.promote'))))


SCHEMA_ACTIONS = ('list', 'show', 'diff', 'propose', 'promote')


def _schema(cfg: DictConfig, job: str) -> JobSettings:
  runner = _store_only(cfg, job)
  action = config.get(cfg, 'action')
  if action not in SCHEMA_ACTIONS:
    raise UserError(f'action={action!r}: expected one of '
                    f'{", ".join(SCHEMA_ACTIONS)}')
  root = config.store_root(cfg)
  dataset = config.folder_name(cfg, 'dataset.name')
  version = config.optional_int(cfg, 'schema.version')
  other = config.optional_int(cfg, 'schema.other')
  split = span = None
  if action == 'propose':
    split = config.folder_name(cfg, 'split')
    span = _optional_str(cfg, 'span')
  return JobSettings(job=job, store_root=root, runner=runner,
                     schema=SchemaSettings(
                         action=action, dataset=dataset, version=version,
                         other=other, split=split, span=span,
                         note=str(config.get(cfg, 'schema.note') or '')))


def _report(cfg: DictConfig, job: str) -> JobSettings:
  runner = _store_only(cfg, job)
  key = config.run_key(cfg)
  root = config.store_root(cfg)
  compare = drift = fail_on = None
  if config.get(cfg, 'compare.span', required=False) is not None:
    compare = {
        'dataset': artifacts.check_name('compare.dataset', config.get(
            cfg, 'compare.dataset', required=False) or key['dataset']),
        'split': artifacts.check_name('compare.split', config.get(
            cfg, 'compare.split', required=False) or key['split']),
        'span': config.folder_name(cfg, 'compare.span'),
    }
    drift = config.comparison_spec(cfg, 'drift')
    fail_on = config.fail_on(cfg)
    sink = None
  else:
    sink = config.sink_spec(cfg)
  output = config.get(cfg, 'report.output', required=False)
  return JobSettings(job=job, store_root=root, runner=runner, key=key,
                     sink=sink, report=ReportSettings(
                         output=str(output) if output else None,
                         compare=compare, drift=drift, fail_on=fail_on,
                         privacy=config.privacy_spec(cfg),
                         pii=config.pii_spec(cfg),
                         raw_values_in_results=bool(config.get(
                             cfg, 'privacy.raw_values_in_results'))))


def _site(cfg: DictConfig, job: str) -> JobSettings:
  from report import site  # pylint: disable=g-import-not-at-top
  runner = _store_only(cfg, job)
  root = config.store_root(cfg)
  # dataset.name left unset: every dataset in the store.
  every = OmegaConf.is_missing(cfg.dataset, 'name') or (
      cfg.dataset.name is None)
  datasets = None if every else [config.folder_name(cfg, 'dataset.name')]
  output = config.get(cfg, 'site.output', required=False)
  if output is None:
    output = FileSystems.join(root, 'site')
  elif '://' not in str(output):
    output = os.path.abspath(str(output))
  return JobSettings(job=job, store_root=root, runner=runner,
                     site=SiteSettings(spec=site.SiteSpec(
                         root=root, output=str(output), datasets=datasets,
                         full=bool(config.get(cfg, 'site.full')),
                         layout=site.Layout(
                             table_spans=_at_least(cfg, 'site.table_spans', 1),
                             top_value_charts=_at_least(
                                 cfg, 'site.top_value_charts', 0)),
                         privacy=config.privacy_spec(cfg),
                         pii=config.pii_spec(cfg))))


def _at_least(cfg: DictConfig, key: str, low: int) -> int:
  value = config.get(cfg, key)
  if isinstance(value, bool) or not isinstance(value, int) or value < low:
    raise UserError(f'{key}={value!r}: expected a whole number >= {low}')
  return value


def _feature_skew(cfg: DictConfig, job: str) -> JobSettings:
  runner_settings.no_dry_run(cfg, job)
  sink = config.sink_spec(cfg)
  spec = config.feature_skew_spec(cfg)
  key = config.run_key(cfg)
  training_cfg = _training_side(cfg)
  privacy = config.privacy_spec(cfg)
  raw_values = bool(config.get(cfg, 'privacy.raw_values_in_results'))
  fail_on = config.fail_on(cfg)
  root = config.store_root(cfg)
  runner = runner_settings.RunnerSpec(
      config.runner_name(cfg), runner_settings.pipeline_options(cfg))
  training = _files_only(config.dataset_spec(training_cfg))
  serving = _files_only(config.dataset_spec(cfg))
  return JobSettings(job=job, store_root=root, runner=runner, key=key,
                     sink=sink, config=config.to_plain(cfg),
                     feature_skew=FeatureSkewSettings(
                         spec=spec, baseline_split=str(training_cfg.split),
                         training=training, serving=serving,
                         privacy=privacy, raw_values_in_results=raw_values,
                         fail_on=fail_on))


def _files_only(spec: sources.DatasetSpec) -> sources.DatasetSpec:
  if spec.format == 'bigquery':
    raise UserError('dataset.format=bigquery: the feature_skew job reads '
                    'files only (csv, parquet, jsonl, tfrecord); export the '
                    'span, or use the validate job for skew statistics')
  return spec


def _training_side(cfg: DictConfig) -> DictConfig:
  """The config with split (and path) switched to the training side."""
  other = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
  other.split = config.get(cfg, 'feature_skew.baseline_split')
  path = config.get(cfg, 'feature_skew.baseline_path', required=False)
  if path:
    other.dataset.path = path
  return other


_PARSERS = {
    'stats': _stats,
    'validate': _validate,
    'infer_schema': _infer_schema,
    'schema': _schema,
    'report': _report,
    'feature_skew': _feature_skew,
    'site': _site,
}
