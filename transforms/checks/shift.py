"""The shift check: which kind of dataset shift moved the span, if any.

Dataset shift is a change of the joint distribution P(x, y) of features and
label between a baseline (the drift or skew baseline) and the span:

- covariate shift: P(x) moved, P(y|x) did not;
- label (prior) shift: P(y) moved, P(x|y) did not;
- concept shift: P(y|x) moved: the same inputs now mean another label.

Two layers of evidence, both from what the statistics pass stored
(transforms/checks/shift_stats.py), never from re-reading the data:

1. From full-data counts (``shift.json``, with ``dataset.label``): P(y) of
   the span against the baseline, and for each shift feature how far
   P(y | bucket of the feature) moved, averaged over the buckets weighted by
   the span's share in each (numbers: the baseline's deciles; text: each
   value), only over buckets with ``min_bucket_examples`` rows on both sides,
   raw and after a prior correction (the baseline's rates re-weighted by the
   change of the class shares: what label shift alone would do). One feature
   at a time cannot tell concept shift from covariate shift of a correlated
   feature: when x2 moves and y depends on x2, P(y | x1) moves too.
2. From the row samples (``sample.parquet``): a domain classifier that tells
   baseline rows from span rows (cross-validated AUC: P(x) moved; the
   features that carry it), the same within each class (P(x|y) moved), and a
   label model trained on the baseline whose calibration is compared on the
   span (P(y|x) moved, raw and prior-corrected); see transforms/checks/shift_model.py.

The diagnosis (``LABEL_SHIFT``, ``COVARIATE_SHIFT``, ``CONCEPT_SHIFT``,
``COVARIATE_AND_CONCEPT_SHIFT`` or none) takes P(x) from layer 2, P(y) from
layer 1, and P(y|x) from layer 2 where the label model could be trained, else
from layer 1. Every number becomes a ``drift_skew`` row (check ``shift``); the
diagnosis, and the features that locate a concept shift, ``anomalies`` rows.
"""

import bisect
import dataclasses
import math
from statistics import NormalDist
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from transforms.checks import findings
from transforms.checks import metrics
from transforms.checks import shift_stats

CHECK = 'shift'
KINDS = ('LABEL_SHIFT', 'COVARIATE_SHIFT', 'CONCEPT_SHIFT',
         'COVARIATE_AND_CONCEPT_SHIFT')


@dataclasses.dataclass(frozen=True)
class ShiftSpec:
  """The ``shift`` config group."""
  enabled: bool = True
  # Features bucketed by the statistics pass and given to the models; None:
  # every number, boolean and text column (text with at most max_values
  # values), less exclude, the label and time columns.
  features: Optional[Sequence[str]] = None
  exclude: Sequence[str] = ()
  max_values: int = 50
  sample_size: int = 50_000
  min_bucket_examples: int = 100
  max_label_change: float = 0.05
  max_conditional_change: float = 0.05
  max_domain_auc: float = 0.55
  max_calibration_change: float = 0.05
  alpha: float = 0.001
  severity: str = 'WARNING'


# ----------------------------------------------------------------------------
# Layer 1: label by bucket


@dataclasses.dataclass
class Bucket:
  """One bucket of a feature on both sides: class counts and label moments."""
  name: str
  base: Dict[Any, float] = dataclasses.field(default_factory=dict)
  cur: Dict[Any, float] = dataclasses.field(default_factory=dict)
  base_moments: List[float] = dataclasses.field(
      default_factory=lambda: [0, 0.0, 0.0])
  cur_moments: List[float] = dataclasses.field(
      default_factory=lambda: [0, 0.0, 0.0])

  @property
  def n_base(self) -> float:
    return sum(self.base.values()) or self.base_moments[0]

  @property
  def n_cur(self) -> float:
    return sum(self.cur.values()) or self.cur_moments[0]


def _fmt(x: float) -> str:
  return f'{x:.4g}'


def _number_buckets(base: Mapping[str, Any], cur: Mapping[str, Any]
                    ) -> List[Bucket]:
  """Both sides' fine buckets merged into the baseline's deciles (and one
  bucket of missing values)."""
  totals: Dict[Any, float] = {}
  for code, _, n in base['counts']:
    totals[code] = totals.get(code, 0) + n
  for code, n, _, _ in base['moments']:
    if not base['counts']:
      totals[code] = totals.get(code, 0) + n
  codes = sorted((c for c in totals if c != shift_stats.MISSING),
                 key=lambda c: shift_stats.bucket_bounds(c)[0])
  total = sum(totals[c] for c in codes)
  # Upper bounds of the baseline's deciles, at fine-bucket boundaries.
  edges: List[float] = []
  running = 0.0
  for c in codes:
    running += totals[c]
    if total and running / total >= (len(edges) + 1) / 10 - 1e-12:
      high = shift_stats.bucket_bounds(c)[1]
      if c == 0:
        high = 0.0
      if not edges or high > edges[-1]:
        edges.append(high)
  names = []
  low = None
  for high in edges:
    names.append(f'< {_fmt(high)}' if low is None else
                 f'[{_fmt(low)}, {_fmt(high)})' if high != 0 else '<= 0')
    low = high
  if names:
    names[-1] = f'>= {_fmt(edges[-2])}' if len(edges) > 1 else 'all values'
  buckets = [Bucket(n) for n in names] + [Bucket(shift_stats.MISSING)]

  def index(code) -> int:
    if code == shift_stats.MISSING:
      return len(buckets) - 1
    value = shift_stats.bucket_bounds(code)[0]
    if code == 0:
      return min(bisect.bisect_left(edges, 0.0), len(edges) - 1)
    return min(bisect.bisect_right(edges, value), max(len(edges) - 1, 0))

  if not edges:
    buckets = [Bucket(shift_stats.MISSING)]
    index = lambda code: 0  # pylint: disable=unnecessary-lambda-assignment
  _fill(buckets, index, base, cur)
  return buckets


def _text_buckets(base: Mapping[str, Any], cur: Mapping[str, Any]
                  ) -> List[Bucket]:
  keys = {row[0] for row in base['counts']} | {row[0] for row in cur['counts']}
  keys |= {row[0] for row in base['moments']} | {row[0] for row in
                                                  cur['moments']}
  order = sorted(keys, key=str)
  position = {k: i for i, k in enumerate(order)}
  buckets = [Bucket(str(k)) for k in order]
  _fill(buckets, position.__getitem__, base, cur)
  return buckets


def _fill(buckets: List[Bucket], index, base, cur) -> None:
  for side, data in (('base', base), ('cur', cur)):
    for code, cls, n in data['counts']:
      target = getattr(buckets[index(code)], side)
      target[cls] = target.get(cls, 0) + n
    for code, n, s, ss in data['moments']:
      m = getattr(buckets[index(code)], f'{side}_moments')
      m[0] += n
      m[1] += s
      m[2] += ss


def feature_buckets(base: Mapping[str, Any], cur: Mapping[str, Any]
                    ) -> List[Bucket]:
  if base['kind'] == 'number':
    return _number_buckets(base, cur)
  return _text_buckets(base, cur)


@dataclasses.dataclass
class Conditional:
  """How far P(y | bucket) moved for one feature."""
  value: Optional[float]
  # z of the bucket whose rate moved most (relative to its noise) and the
  # Bonferroni-corrected critical z at shift.alpha
  z: Optional[float] = None
  critical: Optional[float] = None
  # the bucket that contributed most, and its two rates (or means)
  bucket: Optional[str] = None
  rates: Tuple[float, float] = (math.nan, math.nan)
  cls: Any = None
  buckets_used: int = 0
  note: Optional[str] = None
  # (bucket, baseline rate, span rate, baseline rows, span rows) per bucket
  table: List[Tuple[str, float, float, float, float]] = dataclasses.field(
      default_factory=list)

  @property
  def significant(self) -> bool:
    return self.z is not None and self.critical is not None and (
        self.z >= self.critical)


def _shares(counts: Mapping[Any, float]) -> Dict[Any, float]:
  total = sum(counts.values())
  return {k: v / total for k, v in counts.items()} if total else {}


def _prior_corrected(rates: Mapping[Any, float], weights: Mapping[Any, float]
                     ) -> Dict[Any, float]:
  """Saerens et al.: class posteriors re-weighted by the prior ratio."""
  raw = {c: r * weights.get(c, 1.0) for c, r in rates.items()}
  total = sum(raw.values())
  return {c: v / total for c, v in raw.items()} if total else dict(rates)


def focus_class(classes: Sequence[Any], base_shares: Mapping[Any, float]):
  """The class whose rate descriptions speak of: 1 / true for 0/1 and
  boolean labels, else the baseline's rarest class."""
  for positive in (1, True, '1', 'true', 'True', 'yes'):
    if positive in classes:
      return positive
  return min(classes, key=lambda c: (base_shares.get(c, 0.0), str(c)))


def conditional_change(buckets: Sequence[Bucket], classes: Sequence[Any],
                       min_examples: int, alpha: Optional[float],
                       prior_weights: Optional[Mapping[Any, float]] = None,
                       label_std: Optional[float] = None,
                       focus: Any = None) -> Conditional:
  """Bucket-share-weighted mean change of P(y | bucket).

  Classification (``classes``): the L-infinity distance of the class shares
  per bucket; ``prior_weights`` re-weights the baseline's shares first.
  Numeric labels (``label_std``): the change of the label's mean per bucket
  in baseline standard deviations.
  """
  used = [b for b in buckets
          if b.n_base >= min_examples and b.n_cur >= min_examples]
  if not used:
    return Conditional(None, note=(
        f'no bucket has {min_examples} rows on both sides '
        f'(shift.min_bucket_examples)'))
  weight_total = sum(b.n_cur for b in used)
  value, best = 0.0, (-1.0, None)
  tests = 0
  table = []
  for b in used:
    w = b.n_cur / weight_total
    if classes:
      base = _shares(b.base)
      if prior_weights:
        base = _prior_corrected(base, prior_weights)
      cur = _shares(b.cur)
      diffs = {c: abs(cur.get(c, 0.0) - base.get(c, 0.0)) for c in classes}
      c_max = max(diffs, key=diffs.get)
      value += w * diffs[c_max]
      n1, n2 = b.n_base, b.n_cur
      shown = focus if focus is not None else c_max
      table.append((b.name, base.get(shown, 0.0), cur.get(shown, 0.0), n1, n2))
      # Two classes move by the same amount: speak of the focus class.
      tested = [focus] if len(classes) == 2 and focus in classes else classes
      for c in tested:
        p = (base.get(c, 0.0) * n1 + cur.get(c, 0.0) * n2) / (n1 + n2)
        se = math.sqrt(max(p * (1 - p), 1e-12) * (1 / n1 + 1 / n2))
        z = diffs[c] / se
        tests += 1
        if z > best[0]:
          best = (z, (b.name, base.get(c, 0.0), cur.get(c, 0.0), c))
    else:
      n1, s1, ss1 = b.base_moments
      n2, s2, ss2 = b.cur_moments
      m1, m2 = s1 / n1, s2 / n2
      v1 = max(ss1 / n1 - m1 * m1, 0.0)
      v2 = max(ss2 / n2 - m2 * m2, 0.0)
      std = label_std if label_std else 1.0
      value += w * abs(m2 - m1) / std
      table.append((b.name, m1, m2, n1, n2))
      se = math.sqrt(v1 / n1 + v2 / n2) or 1e-12
      z = abs(m2 - m1) / se
      tests += 1
      if z > best[0]:
        best = (z, (b.name, m1, m2, None))
  critical = (NormalDist().inv_cdf(1 - alpha / (2 * max(tests, 1)))
              if alpha else None)
  name, r1, r2, cls = best[1]
  return Conditional(value, z=best[0], critical=critical, bucket=name,
                     rates=(r1, r2), cls=cls, buckets_used=len(used),
                     table=table)


def _moments_mean_std(m: Sequence[float]) -> Tuple[float, float]:
  n, s, ss = m
  if not n:
    return math.nan, math.nan
  mean = s / n
  return mean, math.sqrt(max(ss / n - mean * mean, 0.0))


# ----------------------------------------------------------------------------
# The check


@dataclasses.dataclass
class Result:
  """The shift check against one baseline."""
  kind: str                       # 'drift' or 'skew'
  where: Mapping[str, str]        # the baseline's split and span
  diagnosis: Optional[str] = None
  complete: bool = True
  reasons: List[str] = dataclasses.field(default_factory=list)
  # for the report: label shares or means, and per feature the bucket table
  label_rates: Optional[Tuple[Dict[Any, float], Dict[Any, float]]] = None
  focus: Any = None
  conditional: Dict[str, Conditional] = dataclasses.field(default_factory=dict)
  domain: Any = None
  label_model: Any = None
  # what the report draws (None: no label counts on both sides)
  charts: Optional['Charts'] = None


def _layer1_features(cur: Mapping[str, Any], base: Mapping[str, Any]
                     ) -> List[str]:
  return sorted(set(cur['features']) & set(base['features']))


def _check_slice(out: findings.Findings, slice_name: str, cur, base,
                 spec: ShiftSpec, label: str, result: Optional[Result]
                 ) -> Tuple[Optional[bool], Dict[str, Conditional],
                            Dict[str, Conditional]]:
  """Layer 1 rows of one slice; returns (label moved, conditional changes,
  prior-corrected conditional changes)."""
  classes_cur, classes_base = cur.get('classes'), base.get('classes')
  classification = classes_cur is not None and classes_base is not None
  label_moved = None
  prior_weights = None
  label_std = None
  focus = None
  if classification:
    c_counts = {c: n for c, n in classes_cur}
    b_counts = {c: n for c, n in classes_base}
    value, z, critical = metrics.compare_counts(c_counts, b_counts,
                                                spec.alpha)
    significant = z is not None and critical is not None and z >= critical
    label_moved = value > spec.max_label_change and significant
    out.measure(label, 'LABEL_SHARE_L_INFTY', value, spec.max_label_change,
                label_moved, slice_name, note=(
                    _noise_note(z, critical)
                    if value > spec.max_label_change and not label_moved
                    else None))
    b_shares, c_shares = _shares(b_counts), _shares(c_counts)
    classes = sorted(set(b_counts) | set(c_counts), key=str)
    focus = focus_class(classes, b_shares)
    prior_weights = {c: c_shares.get(c, 0.0) / b_shares[c]
                     for c in classes if b_shares.get(c)}
    if result is not None:
      result.label_rates = (b_shares, c_shares)
      result.focus = focus
  else:
    classes = []
    m1, s1 = _moments_mean_std(base['moments'])
    m2, s2 = _moments_mean_std(cur['moments'])
    if base['moments'][0] and cur['moments'][0] and s1 > 0:
      value = abs(m2 - m1) / s1
      se = math.sqrt(s1 * s1 / base['moments'][0] +
                     s2 * s2 / cur['moments'][0]) or 1e-12
      z = abs(m2 - m1) / se
      critical = NormalDist().inv_cdf(1 - spec.alpha / 2)
      label_moved = value > spec.max_label_change and z >= critical
      label_std = s1
      out.measure(label, 'LABEL_MEAN_CHANGE', value, spec.max_label_change,
                  label_moved, slice_name, note=(
                      _noise_note(z, critical)
                      if value > spec.max_label_change and not label_moved
                      else None))
      if result is not None:
        result.label_rates = ({'mean': m1}, {'mean': m2})
    else:
      out.measure(label, 'LABEL_MEAN_CHANGE', None, spec.max_label_change,
                  group=slice_name, note=(
                      'label has no numeric values, or too many classes on '
                      'one side'))
  raw, corrected = {}, {}
  for feature in _layer1_features(cur, base):
    f_cur, f_base = cur['features'][feature], base['features'][feature]
    if f_cur['overflow'] or f_base['overflow']:
      out.measure(feature, 'CONDITIONAL_LABEL_CHANGE', None,
                  spec.max_conditional_change, group=slice_name, note=(
                      f'more than shift.max_values={spec.max_values} '
                      f'distinct values: not bucketed (identifier-like)'))
      continue
    buckets = feature_buckets(f_base, f_cur)
    versions = [('CONDITIONAL_LABEL_CHANGE', None, raw)]
    if classification and label_moved:
      versions.append(('CONDITIONAL_LABEL_CHANGE_PRIOR_CORRECTED',
                       prior_weights, corrected))
    for metric, weights, into in versions:
      found = conditional_change(buckets, classes, spec.min_bucket_examples,
                                 spec.alpha, weights, label_std, focus)
      into[feature] = found
      flagged = (found.value is not None and
                 found.value > spec.max_conditional_change and
                 found.significant)
      note = found.note
      if note is None and found.value > spec.max_conditional_change and (
          not found.significant):
        note = _noise_note(found.z, found.critical)
      out.measure(feature, metric, found.value, spec.max_conditional_change,
                  flagged, slice_name, note=note)
  if not (classification and label_moved):
    # No prior change to correct for (or a numeric label, where a prior
    # correction does not apply): the raw numbers stand for both.
    corrected = raw
  return label_moved, raw, corrected


@dataclasses.dataclass
class Charts:
  """What the report draws of one baseline: per feature, the label's rate
  (class ``focus``) or mean per bucket on both sides."""
  focus: Any
  conditional: Dict[str, Conditional]


def charts(cur_buckets: Optional[Mapping[str, Any]],
           base_buckets: Optional[Mapping[str, Any]], label: Optional[str],
           spec: ShiftSpec) -> Optional[Charts]:
  """The report's per-bucket label rates, from the two spans' shift.json:
  what ``check`` returns as ``Result.charts``, for the report job, which
  redraws a report without running the check."""
  if not (label and cur_buckets and base_buckets):
    return None
  cur = cur_buckets['slices'].get(shift_stats.OVERALL)
  base = base_buckets['slices'].get(shift_stats.OVERALL)
  if cur is None or base is None:
    return None
  result = Result('', {})
  _, raw, _ = _check_slice(findings.Findings(CHECK), shift_stats.OVERALL, cur,
                           base, spec, label, result)
  return Charts(result.focus, raw)


def _flagged(found: Mapping[str, Conditional], spec: ShiftSpec) -> List[str]:
  return [f for f, c in sorted(found.items(),
                               key=lambda kv: -(kv[1].value or 0))
          if c.value is not None and c.value > spec.max_conditional_change
          and c.significant]


def rate_words(label: str, cls: Any) -> str:
  if cls is None:
    return f'the mean of {label}'
  return f'the rate of {label}={cls}'


def check(kind: str, where: Mapping[str, str], label: Optional[str],
          cur_buckets: Optional[Mapping[str, Any]],
          base_buckets: Optional[Mapping[str, Any]],
          cur_sample: Optional[pa.Table], base_sample: Optional[pa.Table],
          model_features: Sequence[str], spec: ShiftSpec,
          settings: Any = None, seed: int = 0
          ) -> Tuple[List[dict], List[dict], Result, List[str]]:
  """The shift check of a span against one baseline.

  ``cur_buckets``/``base_buckets``: the two spans' shift.json (None: not
  computed, e.g. no label on that side); ``*_sample``: their row samples;
  ``model_features``: the sample columns the models may use. Returns
  (anomaly rows, measurement rows, result for the report, notes).
  """
  from transforms.checks import shift_model  # pylint: disable=g-import-not-at-top
  out = findings.Findings(CHECK, where)
  result = Result(kind, where)
  notes: List[str] = []
  label_moved = None
  raw: Dict[str, Conditional] = {}
  corrected: Dict[str, Conditional] = {}
  if label and cur_buckets and base_buckets:
    cur_slices, base_slices = cur_buckets['slices'], base_buckets['slices']
    for slice_name in sorted(set(cur_slices) & set(base_slices)):
      moved, r, c = _check_slice(
          out, slice_name, cur_slices[slice_name], base_slices[slice_name],
          spec, label, result if slice_name == shift_stats.OVERALL else None)
      if slice_name == shift_stats.OVERALL:
        label_moved, raw, corrected = moved, r, c
        result.conditional = r
        result.charts = Charts(result.focus, r)
  elif label:
    side = 'the span' if not cur_buckets else f'{where["split"]} span ' \
        f'{where["span"]}'
    notes.append(f'shift ({kind}): {side} has no label counts '
                 f'(no {label!r} column, or statistics from before the '
                 f'shift check): P(y) and P(y|x) not compared')

  domain = model = None
  if cur_sample is not None and base_sample is not None and model_features:
    settings = settings or shift_model.ModelSettings(
        max_domain_auc=spec.max_domain_auc,
        max_calibration_change=spec.max_calibration_change,
        alpha=spec.alpha, seed=seed)
    has_label = bool(label) and label in cur_sample.column_names and (
        label in base_sample.column_names) and (
            cur_sample.column(label).null_count < cur_sample.num_rows)
    try:
      domain = shift_model.domain_classifier(
          base_sample, cur_sample, model_features, settings,
          label=label if has_label else None)
    except ValueError as e:
      notes.append(f'shift ({kind}): domain classifier not trained ({e})')
    if has_label:
      try:
        model = shift_model.label_model(base_sample, cur_sample,
                                        model_features, label, settings)
      except ValueError as e:
        notes.append(f'shift ({kind}): label model not trained ({e})')
  elif cur_sample is None or base_sample is None:
    notes.append(f'shift ({kind}): no row sample on '
                 f'{"the span" if cur_sample is None else "the baseline"} '
                 f'(shift.sample_size=0, or statistics from before the shift '
                 f'check): P(x) not compared as a whole')
  result.domain, result.label_model = domain, model
  _model_rows(out, domain, model, spec, label)

  concept_raw = concept_prior = None
  if model is not None and getattr(model, 'moved', None) is not None:
    concept_raw = bool(model.moved)
    concept_prior = bool(model.prior_corrected_moved)
  elif raw:
    concept_raw = bool(_flagged(raw, spec))
    concept_prior = bool(_flagged(corrected, spec))
  evidence = shift_model.Evidence(
      label_moved=label_moved,
      x_moved=None if domain is None or domain.moved is None
      else bool(domain.moved),
      x_given_y_moved=(None if domain is None or
                       domain.within_class_moved is None
                       else bool(domain.within_class_moved)),
      concept_raw=concept_raw, concept_prior_corrected=concept_prior)
  verdict = shift_model.diagnose(evidence)
  result.diagnosis, result.complete = verdict.kind, verdict.complete
  result.reasons = list(verdict.reasons)
  if verdict.kind:
    located = _flagged(corrected if 'CONCEPT' in verdict.kind else raw, spec)
    words = _words(verdict.kind, label, corrected or raw, located, domain,
                   result)
    # The description: the finding in words, then the verdict's sentence
    # (every reason is in the report's table of measurements).
    closing = [r for r in verdict.reasons if r.startswith('Verdict:')]
    if not verdict.complete:
      closing.append(verdict.reasons[-1])
    # An anomaly row only: the numbers behind it are measurement rows.
    out.flag('', 'DIAGNOSIS', None, None, verdict.kind, spec.severity,
             ' '.join([words] + closing))
    if 'CONCEPT' in verdict.kind:
      for feature in located[:5]:
        c = (corrected or raw)[feature]
        out.flag(feature, 'CONDITIONAL_LABEL_CHANGE', c.value,
                 spec.max_conditional_change, 'CONDITIONAL_LABEL_CHANGE',
                 spec.severity, _bucket_words(feature, c, label))
  if not verdict.complete:
    notes.append(f'shift ({kind}): covariate part only; telling label and '
                 f'concept shift apart needs labels on both sides' +
                 ('' if label else ' (set dataset.label)'))
  anomalies, measurements = out.rows()
  return anomalies, measurements, result, notes


def _noise_note(z: float, critical: float) -> str:
  return (f'above the threshold but within sampling noise (z={z:.2f} < '
          f'{critical:.2f})')


def _not_measured(out: findings.Findings, feature: str, metric: str,
                  threshold: Optional[float], reason: str) -> None:
  out.measure(feature, metric, None, threshold,
              note=reason or 'not measured')


def _model_rows(out: findings.Findings, domain, model, spec: ShiftSpec,
                label: Optional[str]) -> None:
  if domain is not None and domain.moved is None:
    _not_measured(out, '', 'DOMAIN_CLASSIFIER_AUC', spec.max_domain_auc,
                  domain.reason)
    domain = None
  if model is not None and model.moved is None:
    _not_measured(out, label or '', 'CALIBRATION_CHANGE',
                  spec.max_calibration_change, model.reason)
    model = None
  if domain is not None:
    out.measure('', 'DOMAIN_CLASSIFIER_AUC', domain.auc, spec.max_domain_auc,
                domain.moved)
    if domain.within_class_auc is None and label:
      _not_measured(out, label, 'WITHIN_CLASS_DOMAIN_AUC',
                    spec.max_domain_auc, domain.within_class_reason)
    if domain.within_class_auc is not None:
      out.measure(label or '', 'WITHIN_CLASS_DOMAIN_AUC',
                  domain.within_class_auc, spec.max_domain_auc,
                  domain.within_class_moved)
    # Which features carry the move, when there is one to carry.
    for feature, value in (list(domain.importances.items())[:10]
                           if domain.moved else []):
      out.measure(feature, 'DOMAIN_IMPORTANCE', value, None)
  if model is not None:
    out.measure(label or '', 'CALIBRATION_CHANGE', model.calibration_change,
                spec.max_calibration_change, model.moved)
    out.measure(label or '', 'CALIBRATION_CHANGE_PRIOR_CORRECTED',
                model.prior_corrected_change, spec.max_calibration_change,
                model.prior_corrected_moved)
    for metric, value in (('LOG_LOSS_BASELINE', model.baseline_log_loss),
                          ('LOG_LOSS_SPAN', model.current_log_loss)):
      out.measure(label or '', metric, value, None)


def _bucket_words(feature: str, c: Conditional, label: Optional[str]) -> str:
  if c.bucket is None:
    return ''
  return (f'within the same buckets of {feature} {rate_words(label, c.cls)} '
          f'moved by {c.value:.2f} on average; most in {feature} {c.bucket}: '
          f'{c.rates[0]:.3g} -> {c.rates[1]:.3g}')


def _words(kind: str, label: Optional[str], conditional, located,
           domain, result: Result) -> str:
  """The diagnosis in a data scientist's words."""
  parts = []
  if 'CONCEPT' in kind and located:
    parts.append(_bucket_words(located[0], conditional[located[0]], label) +
                 ': concept shift, P(y|x) moved.')
  if kind == 'LABEL_SHIFT' and result.label_rates:
    b, c = result.label_rates
    focus = result.focus
    if focus is not None and focus in b:
      parts.append(f'{rate_words(label, focus)} moved from {b[focus]:.3g} to '
                   f'{c.get(focus, 0.0):.3g} while the features within each '
                   f'class did not: label shift.')
  if 'COVARIATE' in kind and domain is not None:
    top = ', '.join(list(domain.importances)[:3])
    parts.append(f'a classifier tells the baseline rows from the span\'s with '
                 f'AUC {domain.auc:.3f} (mostly by {top}): covariate shift, '
                 f'P(x) moved.')
  text = ' '.join(parts) or kind.replace('_', ' ').lower() + '.'
  return text[:1].upper() + text[1:]


def _sequential_ids(column: pa.ChunkedArray, min_distinct_share: float,
                    max_spacing_error: float) -> bool:
  """Integers nearly all distinct and spread evenly over their range (row
  numbers, sequential ids): the drift check's rule
  (validation.identifier_reason), on the sample's values."""
  if not pa.types.is_integer(column.type):
    return False
  values = np.asarray(column.drop_null().to_numpy(), dtype=float)
  if len(values) < 2 or not values.max() > values.min():
    return False
  if len(np.unique(values)) / len(values) < min_distinct_share:
    return False
  levels = np.linspace(0.1, 0.9, 9)
  even = values.min() + levels * (values.max() - values.min())
  error = np.max(np.abs(np.quantile(values, levels) - even))
  return bool(error / (values.max() - values.min()) <= max_spacing_error)


def model_features(sample: Optional[pa.Table], label: Optional[str],
                   spec: ShiftSpec, max_unique_ratio: float = 0.5,
                   id_min_distinct_share: float = 0.95,
                   id_max_spacing_error: float = 0.05) -> List[str]:
  """The sample's columns the models use: not the label, not identifier-
  like by their values (text with mostly distinct values; integers nearly
  all distinct and evenly spread: the drift check's defaults). A name is
  never a reason."""
  if sample is None:
    return []
  out = []
  for name in sample.column_names:
    if name == label or name in spec.exclude:
      continue
    if spec.features is not None and name not in spec.features:
      continue
    column = sample.column(name)
    if _sequential_ids(column, id_min_distinct_share, id_max_spacing_error):
      continue
    if pa.types.is_string(column.type) or pa.types.is_binary(
        column.type) or pa.types.is_large_string(
            column.type) or pa.types.is_large_binary(column.type):
      present = len(column) - column.null_count
      distinct = len(column.unique()) - (1 if column.null_count else 0)
      if present and distinct / present > max_unique_ratio:
        continue
    out.append(name)
  return out
