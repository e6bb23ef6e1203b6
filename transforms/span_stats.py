"""One statistics pass over a span, from config to committed artifacts.

Shared by every job that computes statistics (``stats``, ``validate``): read
the span, compute TFDV statistics for it and its slices, keep malformed rows
in a dead-letter file, and hand back what the job needs to write its rows.
"""

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from typing import Any, Dict, List, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.metrics.metric import MetricsFilter
import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms import arrow_types
from transforms.io import artifacts
from runners import dataflow
from transforms import feature_meta
from transforms.checks import pii
from runners import progress
from transforms.checks import shift
from transforms.checks import shift_stats
from transforms.io import sources
from transforms import statistics
from transforms.engine.state import EngineOptions
from transforms.errors import EmptySpanError, UserError

_log = logging.getLogger(__name__)

# stats.top_values=exact with the engine: text values counted exactly up to
# this many distinct values per feature and slice (in effect, always).
EXACT_TEXT_VALUES = 2 ** 62

# The label of the reading step: a failure inside it is the input's.
READ_STEP = 'ReadSpan'


def new_run_id(now: dt.datetime) -> str:
  """The start time to the millisecond, then 8 random hex digits: run ids
  (and the scratch folders named after them) sort by when runs started,
  also two runs that start within the same second (a run started right
  after one was killed sweeps that one's scratch)."""
  return (f'{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-'
          f'{uuid.uuid4().hex[:8]}')


@dataclasses.dataclass(frozen=True)
class PassSpec:
  """What a statistics pass takes from config, checked before it starts
  (settings/job.py builds it from the job's config)."""
  key: Dict[str, str]               # dataset, split, span
  store_root: str
  dataset: sources.DatasetSpec
  # settings/config.py stats_settings: TFDV StatsOptions keys
  # (sketch_top_values None: decided per span from the first file)
  stats: Dict[str, Any]
  slices: List[Any]                 # dataset.slices and fairness.sensitive
  label: Optional[str]              # dataset.label as configured
  event_time: Optional[str]         # dataset.event_time: auto, a column, None
  event_time_settings: Dict[str, Any]
  max_categorical_values: int
  privacy: statistics.PrivacySpec   # privacy.*, before the PII scan
  pii: pii.PIISpec
  shift: shift.ShiftSpec
  progress_interval_s: float        # 0: no progress lines
  engine: str = 'tfdv'              # stats.engine: tfdv | vectorized

  def run_privacy(self, pii_counts) -> statistics.PrivacySpec:
    """The privacy rules of a run: ``privacy``, with the features its PII
    scan found carrying personal data (and ``pii.allowed_features``) hashed."""
    return pii.protect(self.privacy, pii_counts, self.pii)


@dataclasses.dataclass
class SpanStatistics:
  """What a statistics pass produced, before anything is committed."""
  run_id: str
  run_ts: dt.datetime
  key: Dict[str, str]
  store: artifacts.SpanArtifacts
  scratch: str
  stats: statistics_pb2.DatasetFeatureStatisticsList
  num_examples: int
  num_malformed: int
  num_files: int
  dead_letters: List[str]
  started: float
  # JSON values of another type in a text field, read as their JSON text
  num_values_as_text: int = 0
  # {feature: {pattern: matching values, '_scanned': values looked at}}
  pii_counts: Dict[str, Dict[str, int]] = dataclasses.field(
      default_factory=dict)
  # The shift check's inputs (transforms/checks/shift_stats.py): the label by
  # bucket (shift.json) and the row sample, None when not computed.
  shift_buckets: Optional[Dict[str, object]] = None
  sample: Optional[pa.Table] = None
  # The run's privacy rules (PassSpec.run_privacy), set with the shift inputs
  # they were applied to: the warehouse rows follow the same rules.
  privacy: Optional[statistics.PrivacySpec] = None

  @property
  def overall(self) -> statistics_pb2.DatasetFeatureStatistics:
    return statistics.overall(self.stats)

  def files_to_commit(self) -> Dict[str, str]:
    files = {artifacts.STATS_FILE: FileSystems.join(self.scratch,
                                                     artifacts.STATS_FILE)}
    pii_path = FileSystems.join(self.scratch, artifacts.PII_FILE)
    if FileSystems.exists(pii_path):
      files[artifacts.PII_FILE] = pii_path
    for name in (artifacts.SHIFT_FILE, artifacts.SAMPLE_FILE):
      path = FileSystems.join(self.scratch, name)
      if FileSystems.exists(path):
        files[name] = path
    for path in self.dead_letters:
      name = path.rsplit('/', 1)[-1]
      files[f'{artifacts.DEAD_LETTER_DIR}/{name}'] = path
    return files

  def run_row(self, job: str, runner: str, config: Dict[str, Any],
              **extra) -> Dict[str, object]:
    """The run's ``runs`` row; ``config`` is the run's resolved config."""
    return {
        'run_id': self.run_id,
        'run_ts': self.run_ts,
        'job': job,
        **self.key,
        'status': 'ok',
        'runner': runner,
        'num_examples': self.num_examples,
        'num_malformed': self.num_malformed,
        'num_files': self.num_files,
        'num_features': len(self.overall.features),
        'num_anomalies': 0,
        'stats_uri': self.store.stats_path,
        'dead_letter_uri': (self.store.dead_letter_dir if self.dead_letters
                            else None),
        'schema_version': None,
        'duration_s': time.time() - self.started,
        'config': json.dumps(config, sort_keys=True, default=str),
        **extra,
    }


@dataclasses.dataclass(frozen=True)
class ShiftPlan:
  """What the pass keeps for the shift check (config ``shift``)."""
  label: Optional[str]              # None: no label by bucket
  bucket_features: Dict[str, str]   # {column: 'number' | 'text'}
  slices: List[object]
  max_values: int
  sample_columns: List[str]
  sample_size: int                  # 0: no sample


class _WriteFileFn(beam.DoFn):
  """Writes each element (bytes or text) to one file; the last one wins."""

  def __init__(self, path: str):
    super().__init__()
    self._path = path

  def process(self, data):
    if isinstance(data, str):
      data = data.encode('utf-8')
    with FileSystems.create(self._path) as f:
      f.write(data)
    yield self._path


class WriteStatisticsFile(beam.PTransform):
  """The one ``DatasetFeatureStatisticsList`` in, written to ``path`` as its
  serialized bytes: the file TFDV's ``WriteStatisticsToBinaryFile`` writes
  (the same steps), without importing TFDV."""

  def __init__(self, path: str):
    super().__init__()
    self._path = path

  def expand(self, stats):
    return stats | 'WriteStats' >> beam.io.WriteToText(
        self._path, shard_name_template='', append_trailing_newlines=False,
        coder=beam.coders.ProtoCoder(
            statistics_pb2.DatasetFeatureStatisticsList))


class StatisticsPipeline(beam.PTransform):
  """Pipeline root in; statistics and dead letters written under ``scratch``.

  Steps: ReadSpan -> ComputeStatistics -> WriteStatistics, the malformed
  rows -> WriteDeadLetters and, when PII scanning is on, ReadSpan ->
  ScanForPII -> WritePIICounts. Returns those PCollections by name
  (``stats``, ``stats_written``, ``malformed``, ``dead_letters_written``,
  ``pii_written``) for steps that must run after them
  (runners/in_pipeline.py).
  """

  def __init__(self, spec: sources.DatasetSpec, schema: pa.Schema,
               options, scratch: str,
               pii_values_per_batch: Optional[int] = None, tracker=None,
               shift: Optional[ShiftPlan] = None,
               engine: Optional[EngineOptions] = None):
    super().__init__()
    self._spec, self._schema = spec, schema
    self._engine = engine  # None: TFDV's generators
    self._shift = shift
    self._options, self._scratch = options, scratch
    self._pii_values = pii_values_per_batch
    self._tracker = tracker  # progress.Tracker (local runs) or None

  def expand(self, pbegin):
    read = pbegin | READ_STEP >> sources.ReadSpan(self._spec, self._schema,
                                                  self._tracker)
    stats = read['batches'] | 'ComputeStatistics' >> (
        statistics.ComputeStatistics(self._options, self._engine))
    stats_written = stats | 'WriteStatistics' >> WriteStatisticsFile(
        FileSystems.join(self._scratch, artifacts.STATS_FILE))
    outputs = {}
    if self._pii_values:
      outputs['pii_written'] = (read['batches']
           | 'ScanForPII' >> pii.ScanForPII(self._pii_values)
           | 'WritePIICounts' >> beam.io.WriteToText(
               FileSystems.join(self._scratch, artifacts.PII_FILE),
               shard_name_template=''))
    shift = self._shift
    if shift is not None and shift.label:
      outputs['shift_written'] = (
          read['batches']
          | 'LabelByBucket' >> shift_stats.LabelByBucket(
              shift.label, shift.bucket_features, shift.slices,
              shift.max_values)
          | 'WriteLabelByBucket' >> beam.ParDo(_WriteFileFn(
              FileSystems.join(self._scratch, artifacts.SHIFT_FILE))))
    if shift is not None and shift.sample_size and shift.sample_columns:
      outputs['sample_written'] = (
          read['batches']
          | 'SampleRows' >> shift_stats.RowSample(shift.sample_columns,
                                                  shift.sample_size)
          | 'WriteSample' >> beam.ParDo(_WriteFileFn(
              FileSystems.join(self._scratch, artifacts.SAMPLE_FILE))))
    dead_letters_written = (
        read['malformed']
        | 'WriteDeadLetters' >> beam.io.WriteToText(
            FileSystems.join(self._scratch, artifacts.DEAD_LETTER_DIR,
                             'malformed'),
            file_name_suffix='.jsonl'))
    outputs.update({'stats': stats, 'stats_written': stats_written,
                    'malformed': read['malformed'],
                    'dead_letters_written': dead_letters_written})
    return outputs


@dataclasses.dataclass
class _Plan:
  """Everything a statistics pass needs, checked, before a pipeline exists."""
  started: float
  run_ts: dt.datetime
  run_id: str
  key: Dict[str, str]
  spec: sources.DatasetSpec
  options: object
  store: artifacts.SpanArtifacts
  scratch: str
  files: List[str]
  schema: Optional[pa.Schema]
  # TFDV's StatsOptions (stats.engine=tfdv), or the slice functions and
  # sample rate the engine takes from them (statistics.EngineStatsOptions)
  stats_options: object
  pii_values_per_batch: Optional[int]
  # stats.progress_interval_s: seconds between progress lines; 0: none.
  progress_interval_s: float = 0.0
  shift: Optional[ShiftPlan] = None
  # stats.engine=vectorized: what the engine computes; None: TFDV's generators
  engine_options: Optional[EngineOptions] = None

  def pipeline(self, then=None, tracker=None) -> beam.Pipeline:
    """The statistics pass; ``then`` (a PTransform) gets its outputs;
    ``tracker`` (``reporter().tracker``) gets the readers' progress."""
    pipeline = beam.Pipeline(options=self.options)
    outputs = pipeline | 'StatisticsForSpan' >> StatisticsPipeline(
        self.spec, self.schema, self.stats_options, self.scratch,
        self.pii_values_per_batch, tracker, self.shift, self.engine_options)
    if then is not None:
      _ = outputs | then
    return pipeline

  def reporter(self) -> progress.Reporter:
    """Logs the pass's progress while it runs (local runners only)."""
    return progress.reporter(self.progress_interval_s, self.options,
                             self.spec.format, len(self.files))


def plan_pass(pass_spec: PassSpec, options: PipelineOptions,
              read_input: bool = True) -> _Plan:
  """Plans the pass and, unless ``read_input`` is false, lists the span's
  files and takes the column types from the first one."""
  started = time.time()
  run_ts = dt.datetime.now(dt.timezone.utc)
  key, spec = pass_spec.key, pass_spec.dataset
  settings = dict(pass_spec.stats)
  store = artifacts.SpanArtifacts(pass_spec.store_root, **key)

  if spec.format == 'bigquery':
    # BigQuery types the rows itself; the table is read on the workers.
    files, schema, columns = [], None, list(spec.columns)
  elif read_input:
    files = sources.match_files(spec.path)
    # CSV: the delimiter and quote, when not set, from the first file.
    spec = sources.resolve_csv_dialect(spec, files[0])
    schema = sources.infer_schema(spec, files[0])
    columns = schema.names
  else:
    # A dry run touches no input: no listing, no first file to infer from.
    files, schema, columns = [], sources.declared_schema(spec), []
  label = pass_spec.label
  if label and columns and label not in columns:
    # Serving data has no label by design; the schema check reports a label
    # missing from training data.
    _log.info('dataset.label %r is not in %s; label-aware statistics off',
              label, spec.path)
    label = None
  vectorized = pass_spec.engine == 'vectorized'
  # stats.top_values=exact: the engine never trades its exact counts of text
  # values for sketches either (auto, sketch: sketches past 1024 values).
  exact_text = settings['sketch_top_values'] is False
  if settings['sketch_top_values'] is None:  # stats.top_values=auto
    # The engine counts exactly and sketches past 1024 values on its own.
    settings['sketch_top_values'] = (not vectorized and
                                     _needs_sketch(spec, files, schema))
  kinds = arrow_types.feature_kinds(schema) if schema is not None else {}
  event = event_time_spec(pass_spec, kinds, run_ts)
  engine_options = None
  if not vectorized:
    # TFDV is imported here, and only for stats.engine=tfdv.
    from transforms import meta_generator  # pylint: disable=g-import-not-at-top
    stats_options = statistics.stats_options(
        **settings, label_feature=label, slices=pass_spec.slices,
        columns=columns, generators=[meta_generator.FeatureMetaGenerator(
            kinds, pass_spec.max_categorical_values, event)])
  else:
    # The slice functions and the sample rate of TFDV's options, which the
    # engine uses as they are; the engine writes the dv/* statistics itself.
    stats_options = statistics.engine_stats_options(
        sample_rate=settings.get('sample_rate'), slices=pass_spec.slices,
        columns=columns)
    engine_options = EngineOptions(
        num_top_values=settings['num_top_values'],
        num_rank_histogram_buckets=settings['num_rank_histogram_buckets'],
        num_histogram_buckets=settings['num_histogram_buckets'],
        num_quantiles_histogram_buckets=settings[
            'num_quantiles_histogram_buckets'],
        epsilon=settings['epsilon'],
        max_categorical_values=pass_spec.max_categorical_values,
        exact_numbers=max(EngineOptions.exact_numbers,
                          pass_spec.max_categorical_values),
        exact_values=(EXACT_TEXT_VALUES if exact_text
                      else EngineOptions.exact_values),
        kinds=kinds, event_time=event)

  run_id = new_run_id(run_ts)
  pii_spec = pass_spec.pii
  return _Plan(started=started, run_ts=run_ts, run_id=run_id, key=key,
               spec=spec, options=options, store=store,
               scratch=store.scratch(run_id), files=files, schema=schema,
               stats_options=stats_options,
               pii_values_per_batch=(pii_spec.max_values_per_batch
                                     if pii_spec.enabled else None),
               progress_interval_s=pass_spec.progress_interval_s,
               shift=shift_plan(pass_spec.shift, pass_spec.slices, schema,
                                kinds, label),
               engine_options=engine_options)


def shift_plan(spec: shift.ShiftSpec, slices: List[Any],
               schema: Optional[pa.Schema], kinds: Dict[tuple, str],
               label: Optional[str]) -> Optional[ShiftPlan]:
  """What the pass keeps for the shift check; None when it is off.
  ``kinds``: ``arrow_types.feature_kinds(schema)``."""
  if not spec.enabled or schema is None:
    return None
  columns = shift_stats.sample_columns(schema, kinds)
  if spec.features is not None:
    missing = [f for f in spec.features if f not in schema.names]
    if missing:
      raise UserError(f'shift.features: no column {missing[0]!r} in the data '
                      f'(columns: {", ".join(schema.names[:20])})')
    columns = [c for c in columns if c in spec.features or c == label]
  columns = [c for c in columns if c not in spec.exclude or c == label]
  # Every column is bucketed whatever its name: whether it is an identifier
  # shows in its values, which the pass has not seen yet (an id's buckets
  # hold few rows on both sides, so the check measures nothing there and
  # says so; shift.model_features leaves ids out of the models by value).
  features = [c for c in columns if c != label]
  return ShiftPlan(
      label=label,
      bucket_features=shift_stats.feature_kinds_for_buckets(features, kinds),
      slices=slices, max_values=spec.max_values,
      sample_columns=columns,
      sample_size=shift_stats.sample_rows(spec.sample_size, columns, kinds))


def _needs_sketch(spec: sources.DatasetSpec, files: List[str],
                  schema: Optional[pa.Schema]) -> bool:
  """stats.top_values=auto: sketches when a text column of the first rows
  has more distinct values than the sketch counts exactly."""
  if not files or schema is None or spec.format not in (
      'csv', 'parquet', 'jsonl'):
    return True  # not sampled up front: the choice that scales
  columns = sources.high_cardinality_columns(spec, files[0], schema,
                                             max_distinct=1024)
  if columns:
    _log.info('top values: sketches (stats.top_values=auto; %s has more '
              'than 1024 distinct values or looks like an id in the first '
              'rows)', ', '.join(columns[:3]))
    return True
  return False


def event_time_spec(pass_spec: PassSpec, kinds: Dict[tuple, str],
                    run_ts: dt.datetime) -> Optional[feature_meta.EventTimeSpec]:
  """The event-time feature and its span's window, None when there is none
  (``dataset.event_time``)."""
  column = feature_meta.event_time_column(pass_spec.event_time, kinds)
  event = None
  if column is not None:
    settings = pass_spec.event_time_settings
    window = feature_meta.span_window(pass_spec.key['span'],
                                      settings['timezone'])
    now_us = int(run_ts.timestamp() * 1_000_000)
    event = feature_meta.EventTimeSpec(
        feature=column, kind=kinds.get((column,), arrow_types.TIMESTAMP),
        window_start_us=window[0] if window else None,
        window_end_us=window[1] if window else None, now_us=now_us,
        future_tolerance_us=int(settings['future_tolerance_minutes'] * 60e6))
    _log.info('event time: %s (span window %s)', column,
              'from the span name' if window else 'none: span is not a date')
  return event


def compute(pass_spec: PassSpec, options: PipelineOptions) -> SpanStatistics:
  """Runs the statistics pipeline and reads its results.

  The caller writes its warehouse rows and then calls ``commit``; on any
  failure it calls ``discard``. Raises UserError for bad config or input,
  EmptySpanError when the span has no rows.
  """
  plan = plan_pass(pass_spec, options)
  spec, key, files, scratch = plan.spec, plan.key, plan.files, plan.scratch
  _log.info('run %s: reading %s', plan.run_id,
            f'{len(files)} file(s) of {spec.path}' if files else spec.path)
  artifacts.start_scratch(plan.store.root, scratch, plan.run_id)
  try:
    with plan.reporter() as reporter:
      result = plan.pipeline(tracker=reporter.tracker).run()
      dataflow.log_console_link(result, plan.options)
      result.wait_until_finish()
  except Exception as e:
    artifacts.delete_scratch(scratch)
    raise _as_user_error(e, spec, plan.store.root) from e

  counters = _counters(result)
  stats = artifacts.read_stats(FileSystems.join(scratch, artifacts.STATS_FILE))
  dead = [p for p in artifacts.list_files(FileSystems.join(
      scratch, artifacts.DEAD_LETTER_DIR, '*')) if _non_empty(p)]
  out = SpanStatistics(
      run_id=plan.run_id, run_ts=plan.run_ts, key=key, store=plan.store,
      scratch=scratch, stats=stats, num_examples=_num_examples(stats),
      num_malformed=counters.get('rows_malformed', 0),
      num_values_as_text=counters.get('values_as_text', 0),
      num_files=counters.get('files_read', 0), dead_letters=dead,
      started=plan.started, pii_counts=read_pii_counts(scratch))
  if out.num_examples == 0:
    discard(out)
    raise EmptySpanError(
        f'dataset.path {spec.path!r}: span {key["span"]!r} has no rows '
        f'({len(files)} file(s), {out.num_malformed} malformed row(s))')
  read_shift_inputs(out, pass_spec.run_privacy(out.pii_counts))
  return out


def read_shift_inputs(span: SpanStatistics,
                      privacy: statistics.PrivacySpec) -> None:
  """Loads the pass's shift.json and row sample into ``span``, with the
  run's hashed features (``privacy``: PassSpec.run_privacy) hashed in both
  files before they are committed; keeps ``privacy`` as ``span.privacy``."""
  span.privacy = privacy
  hashed = set(privacy.hashed_features)
  path = FileSystems.join(span.scratch, artifacts.SHIFT_FILE)
  if FileSystems.exists(path):
    with FileSystems.open(path) as f:
      buckets = json.loads(f.read().decode('utf-8'))
    if hashed:
      buckets = shift_stats.hash_buckets(buckets, hashed, privacy)
      write_scratch(span, artifacts.SHIFT_FILE,
                    json.dumps(buckets, sort_keys=True).encode('utf-8'))
    span.shift_buckets = buckets
  path = FileSystems.join(span.scratch, artifacts.SAMPLE_FILE)
  if FileSystems.exists(path):
    with FileSystems.open(path) as f:
      sample = shift_stats.read_table(f.read())
    if hashed & set(sample.column_names):
      sample = shift_stats.hash_columns(sample, hashed, privacy)
      write_scratch(span, artifacts.SAMPLE_FILE,
                    shift_stats.table_bytes(sample))
    span.sample = sample


def read_pii_counts(scratch: str) -> Dict[str, Dict[str, int]]:
  path = FileSystems.join(scratch, artifacts.PII_FILE)
  if not FileSystems.exists(path):
    return {}
  with FileSystems.open(path) as f:
    return json.loads(f.read().decode('utf-8') or '{}')


def dry_run(pass_spec: PassSpec, options: PipelineOptions, out_root: str):
  """Builds the statistics pass as a Dataflow job and writes it to a file
  in ``out_root`` (runner.dry_run_dir), in a folder named after the job.

  Reads no input and writes nothing to the store (runner.dry_run=true).
  Returns the ``dataflow.DryRunJob``.
  """
  plan = plan_pass(pass_spec, options, read_input=False)
  notes = []
  if plan.spec.format in ('csv', 'jsonl'):
    declared = ', '.join(plan.schema.names) or 'none'
    notes.append(
        f'column types come from dataset.column_types here ({declared}); a '
        f'real launch reads the others from the first file of '
        f'{plan.spec.path}')
  if plan.spec.format == 'csv' and plan.spec.delimiter is None:
    notes.append("dataset.csv.delimiter is not set: this job reads with ','; "
                 'a real launch detects the delimiter (and quote) from the '
                 'first file of the span')
  if plan.spec.format == 'bigquery':
    notes.append(f'the workers would read BigQuery with '
                 f'{plan.spec.bigquery_method}: {plan.spec.query}')
  name = plan.options.view_as(GoogleCloudOptions).job_name
  try:
    result = plan.pipeline().run()
    return dataflow.write_dry_run(result, os.path.join(out_root, name), notes)
  except UserError:
    raise
  except Exception as e:
    raise UserError(f'runner.dry_run: building the Dataflow job failed '
                    f'({_short(e)})') from e


def write_scratch(span: SpanStatistics, name: str, data: bytes) -> str:
  """Writes a file into the run's scratch folder; commit moves it into place."""
  path = FileSystems.join(span.scratch, name)
  with FileSystems.create(path) as f:
    f.write(data)
  return path


def commit(span: SpanStatistics, run_record: Dict[str, object],
           extra: Optional[Dict[str, str]] = None) -> None:
  """Moves the run's artifacts into the span's folder, with its run.json.

  ``extra`` maps more names in the span folder to files in scratch.
  """
  record_path = FileSystems.join(span.scratch, artifacts.RUN_FILE)
  artifacts.write_json(record_path, run_record)
  files = span.files_to_commit()
  files.update(extra or {})
  files[artifacts.RUN_FILE] = record_path
  try:
    span.store.commit(span.scratch, files)
  except Exception as e:
    raise UserError(f'store.root={span.store.root!r}: moving the run\'s '
                    f'files into {span.store.dir} failed ({_short(e)})'
                    ) from e


def discard(span: SpanStatistics) -> None:
  artifacts.delete_scratch(span.scratch)


def _num_examples(stats: statistics_pb2.DatasetFeatureStatisticsList) -> int:
  try:
    return statistics.overall(stats).num_examples
  except ValueError:
    return 0


def _non_empty(path: str) -> bool:
  try:
    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes > 0
  except Exception:
    return False


def _counters(result) -> Dict[str, int]:
  out = {}
  query = result.metrics().query(MetricsFilter().with_namespace('dv.source'))
  for counter in query['counters']:
    value = counter.committed
    if value is None:
      value = counter.attempted
    out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + (
        value or 0)
  return out


# The steps that write the run's files into its scratch folder in the store.
WRITE_STEPS = frozenset({'WriteStatistics', 'WritePIICounts',
                         'WriteLabelByBucket', 'WriteSample',
                         'WriteDeadLetters'})


def _as_user_error(e: Exception, spec: sources.DatasetSpec,
                   store_root: str) -> UserError:
  """A pipeline failure as one line that names the input, or ``store.root``
  when writing to the artifact store failed."""
  seen = e
  while seen is not None:
    if isinstance(seen, UserError):
      return seen
    seen = seen.__cause__ or seen.__context__
  text = str(e)
  if 'UserError' in text:  # raised on a worker and re-raised as text
    for line in text.splitlines():
      if 'UserError:' in line:
        return UserError(line.split('UserError:', 1)[1].strip())
  step = _failed_step(text)
  if step is None or READ_STEP in step.split('/'):
    return UserError(f'dataset.path {spec.path!r}: reading {spec.format} '
                     f'failed ({_short(e)})')
  if WRITE_STEPS & set(step.split('/')):
    return UserError(f'store.root={store_root!r}: writing the run\'s files '
                     f'to the artifact store failed in step {step!r} '
                     f'({_short(e)})')
  # Not the input: say which step, so a bug is not taken for a bad file.
  return UserError(f'dataset.path {spec.path!r}: step {step!r} failed '
                   f'after reading ({_short(e)})')


def _failed_step(text: str) -> Optional[str]:
  """The Beam step named in a pipeline error ("[while running 'X']")."""
  found = re.findall(r"\[while running '([^']+)'\]", text)
  return found[-1] if found else None


def _short(e: BaseException) -> str:
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  # Beam prefixes the cause with its own context; the last line is the cause.
  text = lines[-1] if lines else type(e).__name__
  return text[:300]
