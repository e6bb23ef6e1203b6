"""Validation: schema, drift and skew checks on stored statistics, as rows.

Everything here works on statistics protos (no data is re-read): the span's
statistics are checked against a schema version, against an earlier span of
the same split (drift) and against the training split (skew), for the whole
span and for every slice at once (TFDV's ``validate_corresponding_slices``).
TFDV is imported only when statistics are validated: the stats job uses the
rest of this module without it.
"""

import copy
import dataclasses
import hashlib
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms import arrow_types
from transforms import feature_meta
from transforms.checks import change_words
from transforms.checks import metrics
from transforms import statistics
from transforms.errors import UserError

SEVERITIES = ('INFO', 'WARNING', 'ERROR')
_SLICE_PATH = re.compile(r'^slice\((.*)\)::(.*)$', re.S)
METRICS = {
    'L_INFTY': 'infinity_norm',
    'JENSEN_SHANNON_DIVERGENCE': 'jensen_shannon_divergence',
    'NORMALIZED_ABSOLUTE_DIFFERENCE': 'normalized_abs_difference',
}
ALL_METRICS = tuple(METRICS) + metrics.OWN_METRICS
# What also_measure may list: the distances of numbers measured here.
NUMERIC_METRICS = ('JENSEN_SHANNON_DIVERGENCE',) + metrics.OWN_METRICS
_COMPARATOR_REASONS = ('COMPARATOR_L_INFTY_HIGH',
                       'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH',
                       'COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH')


@dataclasses.dataclass(frozen=True)
class ComparisonSpec:
  """Thresholds of one comparison (drift or skew), from config.

  A default comparison past ``*_threshold`` is a WARNING, past
  ``*_error_threshold`` an ERROR (None: every anomaly is an ERROR). A
  threshold written in the schema or per feature is an ERROR threshold.
  """
  categorical_metric: str = 'L_INFTY'
  categorical_threshold: float = 0.05
  categorical_error_threshold: Optional[float] = 0.1
  numeric_metric: str = 'PSI'
  numeric_threshold: float = 0.075
  numeric_error_threshold: Optional[float] = 0.25
  # Measured as well on every numeric feature compared here, recorded as
  # drift_skew rows without a threshold (never an anomaly).
  also_measure: Sequence[str] = ()
  # feature -> {'metric': ..., 'threshold': ...}; threshold null skips it.
  features: Mapping[str, Mapping[str, Any]] = dataclasses.field(
      default_factory=dict)
  exclude: Sequence[str] = ()
  # Share of distinct values above which a string feature is identifier-like.
  max_unique_ratio: float = 0.5
  # An integer feature is identifier-like (a row number, a sequential id)
  # when at least this share of its values are distinct ...
  id_min_distinct_share: float = 0.95
  # ... and its quantiles lie within this share of its range from evenly
  # spaced ones (values spread evenly from min to max).
  id_max_spacing_error: float = 0.05
  # Slices with fewer examples on either side are not compared: sampling
  # noise alone moves small groups past the thresholds.
  min_slice_examples: int = 200
  # A distance past its threshold is an anomaly only when sampling noise
  # cannot explain it: the largest difference of value (or decile-bin)
  # shares must pass a two-proportion z-test at this level (Bonferroni over
  # the values). None: thresholds alone.
  noise_alpha: Optional[float] = 0.001


def severity_rank(severity: str) -> int:
  return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def blocking(anomalies: Iterable[Mapping[str, Any]], fail_on: str) -> List:
  """The anomaly rows at or above ``fail_on``: they make exit code 3."""
  return [a for a in anomalies
          if severity_rank(a['severity']) >= severity_rank(fail_on)]


def worst_first(anomalies: Iterable[Mapping[str, Any]]) -> List:
  """Anomaly rows most severe first; the whole span before its slices,
  then by check and feature (summaries, alerts, the report)."""
  return sorted(anomalies, key=lambda a: (
      -severity_rank(a['severity']), a['slice'] != '', a['check'],
      a['feature']))


def spacing_error(feature: statistics_pb2.FeatureNameStatistics
                  ) -> Optional[float]:
  """How far the feature's quantiles lie from evenly spaced values between
  its min and max, as a share of the range (0: evenly spread, like row
  numbers); None without a quantile histogram or with a single value."""
  buckets = metrics.quantile_buckets(feature)
  if not buckets:
    return None
  low, high = buckets[0][0], buckets[-1][1]
  if not high > low:
    return None
  counts = [c for _, _, c in buckets]
  levels = np.cumsum(counts)[:-1] / sum(counts)
  bounds = np.array([b[1] for b in buckets[:-1]])
  even = low + levels * (high - low)
  return float(np.max(np.abs(bounds - even))) / (high - low) if len(
      bounds) else 0.0


def identifier_reason(feature: statistics_pb2.FeatureNameStatistics,
                      spec: 'ComparisonSpec') -> Optional[str]:
  """Why a feature's values show it is an id, or None.

  Its name never decides: a string feature is identifier-like when more
  than ``max_unique_ratio`` of its values are distinct (ids, free text);
  an integer feature when at least ``id_min_distinct_share`` of its values
  are distinct and they are spread evenly over their range (row numbers,
  sequential ids). Durations and times of day (``air_time``, ``dep_time``)
  repeat their values, and are compared.
  """
  present = _present(feature)
  if not present:
    return None
  if feature.HasField('string_stats'):
    s = feature.string_stats
    if s.unique / present > spec.max_unique_ratio:
      return (f'identifier-like: {s.unique / present:.0%} of its values are '
              f'distinct (above max_unique_ratio {spec.max_unique_ratio:g})')
    return None
  distinct = feature_meta.distinct_count(feature)
  if distinct is None or feature_meta.kind_of(feature) != arrow_types.INT:
    return None
  # Of all values (a list feature has several per example); the distinct
  # count is estimated above the sketch's size: capped at 1.
  values = statistics.common_stats(feature).tot_num_values or present
  share = min(distinct / values, 1.0)
  if share < spec.id_min_distinct_share or values < 2:
    return None
  error = spacing_error(feature)
  if error is None or error > spec.id_max_spacing_error:
    return None
  return (f'identifier-like: {share:.0%} of its integer values are distinct '
          f'(id_min_distinct_share {spec.id_min_distinct_share:g}) and '
          f'evenly spread from {feature.num_stats.min:.0f} to '
          f'{feature.num_stats.max:.0f} (quantiles within {error:.1%} of '
          f'the range from even spacing; id_max_spacing_error '
          f'{spec.id_max_spacing_error:g}), like row numbers or sequential '
          f'ids')


@dataclasses.dataclass
class ComparisonPlan:
  """How each feature of one drift or skew comparison is measured.

  Chosen from the statistics both sides actually have, so that no distance
  is reported that was not computed: TFDV measures top-level features whose
  statistics its comparators read (value shares of strings, histograms of
  numbers); the rest is measured here (``metrics.measure``: integers' exact
  value shares, nested features, PSI, Wasserstein); and a feature that
  cannot be compared gets the reason, which becomes a ``drift_skew`` row.
  """
  # top-level feature name -> (metric, threshold), as TFDV comparators
  tfdv: Dict[str, Tuple[str, float]] = dataclasses.field(default_factory=dict)
  # feature path -> (metric, WARNING threshold, ERROR threshold), measured
  # by metrics.measure; the two thresholds are equal when one was written
  # for the feature (schema, drift.features)
  own: Dict[str, Tuple[str, float, float]] = dataclasses.field(
      default_factory=dict)
  # feature path -> more metrics measured for information (also_measure)
  also: Dict[str, Tuple[str, ...]] = dataclasses.field(default_factory=dict)
  # feature path -> why it is not compared
  skipped: Dict[str, str] = dataclasses.field(default_factory=dict)


def _schema_features(schema: schema_pb2.Schema
                     ) -> Dict[str, schema_pb2.Feature]:
  """{feature path: schema feature}, nested features of structs included."""
  out = {}

  def visit(prefix, features):
    for f in features:
      path = f'{prefix}{f.name}'
      out[path] = f
      if f.HasField('struct_domain'):
        visit(path + '.', f.struct_domain.feature)

  visit('', schema.feature)
  return out


def _schema_comparator(feature: Optional[schema_pb2.Feature], kind: str
                       ) -> Optional[Tuple[str, float]]:
  if feature is None:
    return None
  comparator = getattr(feature, f'{kind}_comparator')
  for metric, field in METRICS.items():
    if comparator.HasField(field):
      return metric, getattr(comparator, field).threshold
  return None


def _is_categorical(feature: Optional[schema_pb2.Feature],
                    fstats: statistics_pb2.FeatureNameStatistics) -> bool:
  """Categorical by the schema when it knows the feature, else by the
  statistics (strings, or integers whose values were all counted)."""
  if feature is not None:
    return not _is_numeric(feature)
  return fstats.HasField('string_stats') or (
      feature_meta.value_counts(fstats) is not None)


def _present(fstats: statistics_pb2.FeatureNameStatistics) -> int:
  common = statistics.common_stats(fstats)
  return common.num_non_missing if common else 0


def plan_comparisons(schema: schema_pb2.Schema,
                     stats: statistics_pb2.DatasetFeatureStatisticsList,
                     baseline: statistics_pb2.DatasetFeatureStatisticsList,
                     spec: ComparisonSpec, kind: str,
                     set_aside: Optional[Mapping[str, str]] = None
                     ) -> ComparisonPlan:
  """Which metric, threshold and engine measure each feature, or why none.

  A threshold written in the schema wins; config per feature comes next,
  then the defaults by feature kind. Time features, records, identifier-like
  features, ``exclude`` and ``set_aside`` (feature -> reason, e.g. partition
  keys) are not compared unless configured per feature.
  """
  set_aside = set_aside or {}
  current = {statistics.feature_path(f): f
             for f in statistics.overall(stats).features}
  base = {statistics.feature_path(f): f
          for f in statistics.overall(baseline).features}
  in_schema = _schema_features(schema)
  plan = ComparisonPlan()
  for name in sorted(set(current) | set(base)):
    c, b = current.get(name), base.get(name)
    per_feature = spec.features.get(name)
    if per_feature is not None and per_feature.get('threshold') is None:
      plan.skipped[name] = f'turned off ({kind}.features.{name})'
      continue
    if c is None or b is None:
      plan.skipped[name] = ('not in this span' if c is None else
                            'not in the baseline span')
      continue
    what = feature_meta.kind_of(c) or feature_meta.kind_of(b)
    if c.HasField('struct_stats') or what == arrow_types.STRUCT:
      plan.skipped[name] = 'record: its fields are compared one by one'
      continue
    if per_feature is None:
      if name in set_aside:
        plan.skipped[name] = set_aside[name]
        continue
      if what in arrow_types.TIME_KINDS:
        plan.skipped[name] = (f'{what}: event time moves between spans '
                              f'(see the event_time check)')
        continue
      if name in spec.exclude:
        plan.skipped[name] = f'excluded ({kind}.exclude)'
        continue
      reason = identifier_reason(c, spec)
      if reason:
        plan.skipped[name] = reason
        continue
    if not _present(c) or not _present(b):
      plan.skipped[name] = ('no values in this span' if not _present(c) else
                            'no values in the baseline span')
      continue
    sf = in_schema.get(name)
    from_schema = _schema_comparator(sf, kind)
    numeric = not _is_categorical(sf, c)
    if from_schema is not None:
      metric, threshold = from_schema
      error = threshold
    elif per_feature is not None:
      metric = per_feature.get('metric') or (
          spec.numeric_metric if numeric else spec.categorical_metric)
      threshold = float(per_feature['threshold'])
      error = threshold
    else:
      metric, threshold, error = _defaults(spec, numeric)
    if metric not in ALL_METRICS:
      raise UserError(f'{kind}.features.{name}.metric={metric!r}: '
                      f'expected one of {", ".join(ALL_METRICS)}')
    if metric in metrics.OWN_METRICS and not numeric:
      raise UserError(f'{kind}: {metric} needs a numeric feature; '
                      f'{name!r} is categorical (use L_INFTY or '
                      f'JENSEN_SHANNON_DIVERGENCE)')
    _route(plan, name, metric, threshold, error, c, b, spec, kind,
           explicit=from_schema is not None or per_feature is not None)
    if numeric and name in plan.own:
      plan.also[name] = tuple(m for m in spec.also_measure
                              if m != plan.own[name][0])
  return plan


def _defaults(spec: ComparisonSpec, numeric: bool
              ) -> Tuple[str, float, float]:
  """(metric, WARNING threshold, ERROR threshold) by feature kind.

  An ERROR threshold below the WARNING threshold is raised to it: a user who
  raises ``numeric_threshold`` to 0.9 is not warned below 0.9, nor blocked.
  """
  if numeric:
    metric, warn, error = (spec.numeric_metric, spec.numeric_threshold,
                           spec.numeric_error_threshold)
  else:
    metric, warn, error = (spec.categorical_metric,
                           spec.categorical_threshold,
                           spec.categorical_error_threshold)
  return metric, warn, warn if error is None else max(error, warn)


def _route(plan: ComparisonPlan, name: str, metric: str, threshold: float,
           error: float, c, b, spec: ComparisonSpec, kind: str,
           explicit: bool) -> None:
  """Puts one feature's comparison where it can really be computed.

  L-infinity, Jensen-Shannon, PSI and Wasserstein are measured here from
  the stored statistics (TFDV's own L-infinity reads string statistics
  only, so it measures 0 for integers; its Jensen-Shannon rebins equal-width
  histograms, which an outlier stretches: 0.3 between random halves of a
  real table). TFDV keeps NORMALIZED_ABSOLUTE_DIFFERENCE.
  """
  strings = c.HasField('string_stats') and b.HasField('string_stats')
  numbers = c.HasField('num_stats') and b.HasField('num_stats')
  counted = (feature_meta.value_counts(c) is not None and
             feature_meta.value_counts(b) is not None)
  if not (strings or numbers):
    plan.skipped[name] = ('types differ between the span and the baseline '
                          '(see the schema check)')
    return
  if metric == 'L_INFTY':
    if strings or counted:
      plan.own[name] = (metric, threshold, error)
    elif explicit:
      plan.skipped[name] = (
          f'L_INFTY compares value shares, and {name!r} has more than '
          f'stats.max_categorical_values distinct numbers on one side; '
          f'use JENSEN_SHANNON_DIVERGENCE, PSI or WASSERSTEIN')
    else:
      # Categorical by the schema, but too many distinct values now to
      # count them: the decile bins still give a real distance.
      metric, threshold, error = _defaults(spec, numeric=True)
      _route(plan, name, metric, threshold, error, c, b, spec, kind,
             explicit=True)
    return
  if metric == 'NORMALIZED_ABSOLUTE_DIFFERENCE':
    if len(c.path.step) <= 1:
      plan.tfdv[name] = (metric, threshold)
    else:
      plan.skipped[name] = f'{metric} is measured for top-level features only'
    return
  plan.own[name] = (metric, threshold, error)


def with_comparators(schema: schema_pb2.Schema, plan: ComparisonPlan,
                     kind: str) -> schema_pb2.Schema:
  """A copy of ``schema`` with TFDV's drift (or skew) comparators set exactly
  on the features the plan gives TFDV, and cleared everywhere else."""
  out = copy.deepcopy(schema)

  def clear(features):
    for feature in features:
      feature.ClearField(f'{kind}_comparator')
      if feature.HasField('struct_domain'):
        clear(feature.struct_domain.feature)

  clear(out.feature)
  for feature in out.feature:
    if feature.name in plan.tfdv:
      metric, threshold = plan.tfdv[feature.name]
      comparator = getattr(feature, f'{kind}_comparator')
      getattr(comparator, METRICS[metric]).threshold = threshold
  return out


def own_metric_rows(stats, baseline, plan: ComparisonPlan,
                    spec: ComparisonSpec, kind: str,
                    where: Mapping[str, str], schema_version: Optional[int]):
  """(anomaly rows, measurement rows) of the comparisons measured here.

  For the whole span and every slice both sides have (with at least
  ``min_slice_examples`` examples). A value past the ERROR threshold is an
  ERROR, past the WARNING threshold a WARNING, unless sampling noise
  explains it. The ``also`` metrics of a feature become measurement rows
  without a threshold.
  """
  anomalies, measurements = [], []
  if not plan.own:
    return anomalies, measurements
  current = _common_slices(stats, baseline, spec.min_slice_examples)
  base = {statistics.slice_name(d): d for d in baseline.datasets}
  for dataset in current.datasets:
    slice_name = statistics.slice_name(dataset)
    base_features = {statistics.feature_path(f): f
                     for f in base[slice_name].features}
    for feature in dataset.features:
      name = statistics.feature_path(feature)
      if name not in plan.own or name not in base_features:
        continue
      metric, threshold, error = plan.own[name]
      for extra in plan.also.get(name, ()):
        value = metrics.measure(extra, feature, base_features[name]).value
        measurements.append({
            'slice': slice_name, 'feature': name, 'check': kind,
            'metric': extra, 'value': value, 'threshold': None,
            'is_anomaly': False, 'baseline_split': where.get('split'),
            'baseline_span': where.get('span'),
            'note': (f'measured for information ({kind}.also_measure)'
                     if value is not None else
                     f'{extra} not computed: no quantile histogram')})
      measured = metrics.measure(metric, feature, base_features[name],
                                 spec.noise_alpha)
      value = measured.value
      over = value is not None and value > threshold
      row = {
          'slice': slice_name, 'feature': name, 'check': kind,
          'metric': metric, 'value': value, 'threshold': threshold,
          'is_anomaly': over and not measured.within_noise,
          'baseline_split': where.get('split'),
          'baseline_span': where.get('span'), 'note': None}
      if value is None:
        row['note'] = (f'{metric} not computed: the statistics of one side '
                       f'lack what it needs (no values, or no histogram)')
      elif over and measured.within_noise:
        row['note'] = measured.noise_note()
      measurements.append(row)
      if row['is_anomaly']:
        severity = 'ERROR' if value > error else 'WARNING'
        limit = error if severity == 'ERROR' else threshold
        anomaly = _row(kind, slice_name, name, metrics.ANOMALY_TYPES[metric],
                       severity, metrics.describe(metric, value, limit,
                                                  where),
                       schema_version, where)
        anomaly.update(metric=metric, value=value, threshold=limit)
        anomalies.append(anomaly)
  return anomalies, measurements


def not_compared_rows(stats, baseline, plan: ComparisonPlan,
                      spec: ComparisonSpec, kind: str,
                      where: Mapping[str, str]) -> List[Dict[str, Any]]:
  """``drift_skew`` rows saying what was not compared, and why.

  One per feature of the whole span, and one per slice left out (too small
  on a side, or missing from one side).
  """
  def row(slice_name, feature, note):
    return {'slice': slice_name, 'feature': feature, 'check': kind,
            'metric': None, 'value': None, 'threshold': None,
            'is_anomaly': False, 'baseline_split': where.get('split'),
            'baseline_span': where.get('span'), 'note': note}

  rows = [row('', name, reason) for name, reason in sorted(
      plan.skipped.items())]
  sizes = {statistics.slice_name(d): d.num_examples for d in stats.datasets}
  base_sizes = {statistics.slice_name(d): d.num_examples
                for d in baseline.datasets}
  for name in sorted(set(sizes) | set(base_sizes)):
    if not name:
      continue
    if name not in base_sizes or name not in sizes:
      rows.append(row(name, '', 'slice not in the baseline span'
                      if name not in base_sizes else 'slice not in this span'))
    elif min(sizes[name], base_sizes[name]) < spec.min_slice_examples:
      rows.append(row(name, '', (
          f'slice too small to compare: {sizes[name]} examples here, '
          f'{base_sizes[name]} in the baseline (min_slice_examples '
          f'{spec.min_slice_examples})')))
  return rows


def compare(kind: str, stats, baseline, schema: schema_pb2.Schema,
            environment: str, spec: ComparisonSpec, where: Mapping[str, str],
            redact: 'Redactor', schema_version: Optional[int],
            privacy: Optional[statistics.PrivacySpec] = None,
            set_aside: Optional[Mapping[str, str]] = None):
  """One drift or skew comparison, whole span and slices.

  Returns (TFDV's anomalies proto, anomaly rows, measurement rows): every
  distance measured, by TFDV or here, and a row for what was not compared.
  Rows with a distance also say the change in the feature's units
  (change_words; values named under ``privacy``, none without it).
  ``set_aside``: feature -> why it is not compared (plan_comparisons).
  """
  plan = plan_comparisons(schema, stats, baseline, spec, kind, set_aside)
  with_thresholds = with_comparators(schema, plan, kind)
  check = check_drift if kind == 'drift' else check_skew
  found = check(stats, baseline, with_thresholds, environment,
                spec.min_slice_examples)
  rows = anomaly_rows(found, kind, redact, schema_version, where,
                      comparator_only=True)
  measurements = measurement_rows(found, kind, where)
  own_rows, own_measurements = own_metric_rows(
      stats, baseline, plan, spec, kind, where, schema_version)
  change_words.annotate(stats, baseline, rows + own_rows,
                        measurements + own_measurements, privacy)
  return found, rows + own_rows, (
      measurements + own_measurements +
      not_compared_rows(stats, baseline, plan, spec, kind, where))


def _is_numeric(feature: schema_pb2.Feature) -> bool:
  """Numeric by the schema: INT or FLOAT without a categorical domain."""
  has_string_domain = feature.WhichOneof('domain_info') in (
      'domain', 'string_domain', 'bool_domain')
  categorical_int = (feature.WhichOneof('domain_info') == 'int_domain' and
                     feature.int_domain.is_categorical)
  return feature.type in (schema_pb2.INT, schema_pb2.FLOAT) and not (
      has_string_domain or categorical_int)


def _slice_prefix(name: str) -> str:
  return f'slice({name})::'


def flatten_slices(stats: statistics_pb2.DatasetFeatureStatisticsList
                   ) -> statistics_pb2.DatasetFeatureStatisticsList:
  """One dataset whose features are named ``slice(<slice>)::<feature>``.

  The same flattening as TFDV's ``validate_corresponding_slices``, which
  however drops the schema's environments (so environment-aware validation
  of slices fails there); see ``flatten_schema``.
  """
  out = statistics_pb2.DatasetFeatureStatisticsList()
  flat = out.datasets.add()
  flat.CopyFrom(statistics.overall(stats))
  flat.ClearField('features')
  flat.ClearField('cross_features')
  for dataset in stats.datasets:
    prefix = _slice_prefix(statistics.slice_name(dataset) or
                           statistics.OVERALL_SLICE)
    for feature in dataset.features:
      copied = flat.features.add()
      copied.CopyFrom(feature)
      steps = list(copied.path.step) or [copied.name]
      copied.ClearField('name')
      copied.path.ClearField('step')
      copied.path.step.extend([prefix + steps[0]] + steps[1:])
  return out


def flatten_schema(schema: schema_pb2.Schema, slice_names: Iterable[str]
                   ) -> schema_pb2.Schema:
  """The schema with every feature repeated per slice, environments kept."""
  out = copy.deepcopy(schema)
  out.ClearField('feature')
  out.ClearField('sparse_feature')
  out.ClearField('weighted_feature')
  for name in sorted(set(slice_names)):
    for feature in schema.feature:
      copied = out.feature.add()
      copied.CopyFrom(feature)
      copied.name = _slice_prefix(name) + feature.name
  return out


def _slice_names(*stats_lists) -> Set[str]:
  return {statistics.slice_name(d) or statistics.OVERALL_SLICE
          for s in stats_lists if s for d in s.datasets}


def _common_slices(stats, other, min_examples: int = 0):
  """``stats`` restricted to the slices that ``other`` has too.

  Slices with fewer than ``min_examples`` on either side are left out; the
  whole span always stays.
  """
  sizes = {statistics.slice_name(d): d.num_examples for d in other.datasets}
  out = statistics_pb2.DatasetFeatureStatisticsList()
  for d in stats.datasets:
    name = statistics.slice_name(d)
    if name not in sizes:
      continue
    if name and min(d.num_examples, sizes[name]) < min_examples:
      continue
    out.datasets.add().CopyFrom(d)
  return out


def _validate(stats, schema, environment, previous=None, serving=None):
  flat_schema = flatten_schema(schema, _slice_names(stats, previous, serving))
  if environment not in flat_schema.default_environment:
    raise UserError(f'schema.environment={environment!r}: the schema knows '
                    f'{", ".join(flat_schema.default_environment) or "none"}')
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.validate_statistics(
      flatten_slices(stats), flat_schema, environment=environment,
      previous_statistics=flatten_slices(previous) if previous else None,
      serving_statistics=flatten_slices(serving) if serving else None)


def check_schema(stats, schema, environment) -> anomalies_pb2.Anomalies:
  """Every TFDV schema anomaly, for the whole span and each slice."""
  return _validate(stats, schema, environment)


def check_drift(stats, baseline, schema, environment, min_slice_examples=0
                ) -> anomalies_pb2.Anomalies:
  """Drift of each slice against the same slice of an earlier span."""
  current = _common_slices(stats, baseline, min_slice_examples)
  return _validate(current, schema, environment,
                   previous=_common_slices(baseline, current))


def check_skew(stats, training, schema, environment, min_slice_examples=0
               ) -> anomalies_pb2.Anomalies:
  """Skew of each slice of a serving span against the same training slice."""
  current = _common_slices(stats, training, min_slice_examples)
  # TFDV validates "training" statistics against "serving" ones; the
  # distances are symmetric, and only comparator anomalies are kept.
  return _validate(_common_slices(training, current), schema, environment,
                   serving=current)


# ----------------------------------------------------------------------------
# Anomalies proto -> rows


def split_slice(path_text: str):
  """'slice(sex_F)::age' -> ('sex_F', 'age'); the overall slice is ''."""
  m = _SLICE_PATH.match(path_text)
  if not m:
    return '', path_text
  name = m.group(1)
  return ('' if name == statistics.OVERALL_SLICE else name), m.group(2)


def _path_text(path) -> str:
  return '.'.join(path.step)


class Redactor:
  """Replaces raw feature values in TFDV's descriptions by salted hashes."""

  def __init__(self, salt: str, allow_raw: bool,
               stats_lists: Iterable[statistics_pb2.DatasetFeatureStatisticsList],
               schema: Optional[schema_pb2.Schema] = None):
    self._salt = salt
    self._allow_raw = allow_raw
    values: Set[str] = set()
    for stats in stats_lists:
      if stats is None:
        continue
      for dataset in stats.datasets:
        for f in dataset.features:
          if f.HasField('string_stats'):
            s = f.string_stats
            values.update(tv.value for tv in s.top_values)
            values.update(b.label for b in s.rank_histogram.buckets)
    if schema is not None:
      for d in schema.string_domain:
        values.update(d.value)
      for f in schema.feature:
        values.update(f.string_domain.value)
    # Longest first, so that 'New York' is replaced before 'York'.
    self._values = sorted((v for v in values if v), key=len, reverse=True)

  def __call__(self, text: str) -> str:
    if self._allow_raw or not text:
      return text
    for value in self._values:
      if value in text:
        text = re.sub(r'(?<![\w])' + re.escape(value) + r'(?![\w])',
                      '<' + statistics.hash_value(value, self._salt) + '>',
                      text)
    return text


def _measurements(anomalies: anomalies_pb2.Anomalies, check: str):
  out = {}
  for info in anomalies.drift_skew_info:
    slice_name, feature = split_slice(_path_text(info.path))
    field = 'drift_measurements' if check == 'drift' else 'skew_measurements'
    for m in getattr(info, field):
      out.setdefault((slice_name, feature), []).append(m)
  return out


def measurement_rows(anomalies: anomalies_pb2.Anomalies, check: str,
                     baseline: Mapping[str, str]) -> List[Dict[str, Any]]:
  """Every drift or skew measurement, above its threshold or not."""
  rows = []
  for (slice_name, feature), ms in sorted(_measurements(anomalies,
                                                        check).items()):
    for m in ms:
      rows.append({
          'slice': slice_name, 'feature': feature, 'check': check,
          'metric': anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type),
          'value': m.value, 'threshold': m.threshold,
          'is_anomaly': m.value > m.threshold,
          'baseline_split': baseline.get('split'),
          'baseline_span': baseline.get('span'),
      })
  return rows


def anomaly_rows(anomalies: anomalies_pb2.Anomalies, check: str,
                 redact: Redactor, schema_version: Optional[int],
                 baseline: Optional[Mapping[str, str]] = None,
                 comparator_only: bool = False) -> List[Dict[str, Any]]:
  """One row per TFDV anomaly reason (feature-level and dataset-level)."""
  baseline = baseline or {}
  measured = _measurements(anomalies, check) if check in ('drift',
                                                          'skew') else {}
  rows = []
  items = [(k, v) for k, v in anomalies.anomaly_info.items()]
  for key, info in sorted(items):
    path = _path_text(info.path) if info.path.step else key
    slice_name, feature = split_slice(path)
    rows += _reason_rows(info, check, slice_name, feature, redact,
                         schema_version, baseline, measured, comparator_only)
  if anomalies.HasField('dataset_anomaly_info'):
    rows += _reason_rows(anomalies.dataset_anomaly_info, check, '', '',
                         redact, schema_version, baseline, measured,
                         comparator_only)
  if anomalies.data_missing and not comparator_only:
    rows.append(_row(check, '', '', 'DATA_MISSING', 'ERROR',
                     'The statistics hold no data.', schema_version, baseline))
  return rows


def _reason_rows(info, check, slice_name, feature, redact, schema_version,
                 baseline, measured, comparator_only):
  rows = []
  severity = anomalies_pb2.AnomalyInfo.Severity.Name(info.severity)
  if severity == 'UNKNOWN':
    severity = 'ERROR'
  for reason in info.reason:
    kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
    is_comparator = kind in _COMPARATOR_REASONS
    if comparator_only != is_comparator:
      continue
    row = _row(check, slice_name, feature, kind, severity,
               redact(reason.description or reason.short_description),
               schema_version, baseline)
    for m in measured.get((slice_name, feature), []):
      metric = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type)
      if metric in kind:
        row.update(metric=metric, value=m.value, threshold=m.threshold)
    rows.append(row)
  return rows


def _row(check, slice_name, feature, kind, severity, description,
         schema_version, baseline):
  return {
      'slice': slice_name, 'feature': feature, 'check': check,
      'anomaly_type': kind, 'severity': severity,
      'description': description, 'metric': None, 'value': None,
      'threshold': None, 'schema_version': schema_version,
      'baseline_split': baseline.get('split'),
      'baseline_span': baseline.get('span'),
  }


def anomaly_id(key: Mapping[str, str], row: Mapping[str, Any]) -> str:
  """Stable across reruns of the same span: dedupe key for warehouses."""
  text = '\x1f'.join(str(x) for x in (
      key['dataset'], key['split'], key['span'], row['slice'], row['feature'],
      row['check'], row['anomaly_type']))
  return hashlib.sha256(text.encode()).hexdigest()[:24]
