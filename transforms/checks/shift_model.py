"""Shift diagnosis from two row samples: which of P(x), P(y), P(y|x) moved.

Layer 2 of the shift diagnosis (layer 1, the label distribution per feature
bucket, is computed in the statistics pass). It works on two bounded uniform
row samples, the baseline's (e.g. training data) and the current span's, and
tells the three kinds of shift apart (Rabanser et al., "Failing Loudly",
NeurIPS 2019; Lipton et al. 2018; Saerens et al. 2002):

- covariate shift: P(x) changes while P(y|x) stays;
- label (prior) shift: P(y) changes while P(x|y) stays;
- concept shift: P(y|x) changes.

Three measurements feed ``diagnose``:

- ``domain_classifier``: a gradient boosted classifier learns to tell
  baseline rows from current rows. Its cross-validated AUC is 0.5 when P(x)
  did not move; a one-sided test against 0.5 (the Mann-Whitney null
  variance) and a minimum AUC decide ``moved``. Permutation importances
  (AUC drop on out-of-fold rows) name the features that carry the move.
  Identical rows stay in one fold (they would otherwise be scored by a model
  that memorized them: resampled rows looked like a moved P(x)), and count
  at their effective number in the test.
  Given the label, the same is done within each class (the label is a
  feature and the AUC is taken per class): P(x|y) fixed gives 0.5 there,
  which is what tells label shift from covariate shift.
- ``label_model``: a classifier of the label trained on part of the
  baseline. Rows are binned by its predicted probability, and per bin the
  held-out baseline rows' observed rate minus mean prediction is compared
  with the current rows': the model's own miscalibration cancels, only a
  change of P(y|x) moves it. Then the same with the held-out baseline rows
  reweighted by current prior / baseline prior, the importance weights under
  which a pure label shift is no change at all (what Saerens' correction of
  the posteriors amounts to): a change left after that is not explained by
  the prior.
- ``diagnose`` combines them with the label's own move (from full-data label
  counts, by the caller) into one verdict with reasons in plain words.
"""

import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

LABEL_SHIFT = 'LABEL_SHIFT'
COVARIATE_SHIFT = 'COVARIATE_SHIFT'
CONCEPT_SHIFT = 'CONCEPT_SHIFT'
COVARIATE_AND_CONCEPT_SHIFT = 'COVARIATE_AND_CONCEPT_SHIFT'
KINDS = (LABEL_SHIFT, COVARIATE_SHIFT, CONCEPT_SHIFT,
         COVARIATE_AND_CONCEPT_SHIFT)

# A numeric label with more distinct values than this is a regression target.
_MAX_CLASSES = 20
# Strata of a regression label in the within-class test (its quantiles).
_REGRESSION_STRATA = 5
_BINS = 10
# Fewest rows in a leaf of the boosted trees; also the fewest copies of one
# row that are split across folds like distinct rows (``_row_groups``).
_MIN_LEAF = 40
_EPS = 1e-15


class ShiftModelError(ValueError):
  """Inputs the models cannot work on; the message is one line for users."""


@dataclasses.dataclass(frozen=True)
class ModelSettings:
  """Thresholds and sizes of the models.

  Attributes:
    max_domain_auc: domain AUC above this (and significant) = P(x) moved.
    max_calibration_change: label model: weighted mean |rate change| per
      predicted-probability bin above this (and significant) = P(y|x) moved.
    alpha: significance level of every test here.
    folds: cross-validation folds of the domain classifier.
    max_rows: rows per side used (subsampled uniformly, seeded).
    max_categories: text features: top categories by baseline frequency,
      the rest one 'other' code.
    seed: seed of subsampling, folds and models.
    min_rows: fewer rows than this on a side (or in a class, for the
      within-class test) is not measured.
    max_iter: boosting iterations of every model.
    holdout: share of the baseline sample the label model does not train on.
    importance_rows: out-of-fold rows per fold used for permutation
      importances (subsampled beyond this).
    threads: OpenMP threads of the models. One by default: the models are
      small, and spinning threads on a busy machine (other Beam work, other
      processes) made a fit up to 50 times slower in tests.
  """
  max_domain_auc: float = 0.55
  max_calibration_change: float = 0.05
  alpha: float = 0.001
  folds: int = 3
  max_rows: int = 50_000
  max_categories: int = 254
  seed: int = 0
  min_rows: int = 50
  max_iter: int = 100
  holdout: float = 0.5
  importance_rows: int = 5_000
  threads: int = 1


@dataclasses.dataclass(frozen=True)
class DomainResult:
  """Whether P(x) (and, given the label, P(x|y)) moved between two samples.

  ``moved`` and ``within_class_moved`` are None when not measured; then
  ``reason`` (or ``within_class_reason``) says why.
  """
  auc: float
  se: float
  p_value: float
  moved: Optional[bool]
  n_baseline: int
  n_current: int
  importances: Dict[str, float]
  within_class_auc: Optional[float] = None
  within_class_p_value: Optional[float] = None
  within_class_moved: Optional[bool] = None
  within_class_reason: str = ''
  skipped: Dict[str, str] = dataclasses.field(default_factory=dict)
  reason: str = ''


@dataclasses.dataclass(frozen=True)
class LabelModelResult:
  """Whether P(y|x) moved, before and after correcting for the new prior.

  ``moved`` and ``prior_corrected_moved`` are None when not measured (a
  regression label, a baseline with one class, too few rows); then
  ``reason`` says why. ``bins`` holds one dict per class (the positive class
  only for two classes) and predicted-probability bin: class, bin, predicted
  and current_predicted (mean predictions of the held-out baseline rows and
  of the current rows), baseline_rate, prior_corrected_rate, current_rate,
  n_baseline, n_current. The changes compare observed minus predicted rate
  per bin, current against baseline.
  """
  calibration_change: float
  p_value: float
  moved: Optional[bool]
  prior_corrected_change: float
  prior_corrected_p_value: float
  prior_corrected_moved: Optional[bool]
  baseline_log_loss: float
  current_log_loss: float
  bins: List[Dict[str, Any]]
  classes: List[str] = dataclasses.field(default_factory=list)
  baseline_prior: Dict[str, float] = dataclasses.field(default_factory=dict)
  current_prior: Dict[str, float] = dataclasses.field(default_factory=dict)
  n_train: int = 0
  n_baseline: int = 0
  n_current: int = 0
  reason: str = ''


@dataclasses.dataclass(frozen=True)
class Evidence:
  """What moved, each None when it could not be measured.

  Attributes:
    label_moved: P(y) moved (from full-data label counts, by the caller).
    x_moved: P(x) moved (``DomainResult.moved``).
    x_given_y_moved: P(x|y) moved (``DomainResult.within_class_moved``).
    concept_raw: P(y|x) moved (``LabelModelResult.moved``).
    concept_prior_corrected: P(y|x) moved even after correcting for the new
      prior (``LabelModelResult.prior_corrected_moved``).
  """
  label_moved: Optional[bool] = None
  x_moved: Optional[bool] = None
  x_given_y_moved: Optional[bool] = None
  concept_raw: Optional[bool] = None
  concept_prior_corrected: Optional[bool] = None


@dataclasses.dataclass(frozen=True)
class Diagnosis:
  """The kind of shift (one of ``KINDS`` or None), why, and whether whole.

  ``complete`` is False when some evidence was missing (labels on one side,
  too few rows): then only the part that could be judged is in ``kind`` and
  a reason says what the rest needs.
  """
  kind: Optional[str]
  reasons: List[str]
  complete: bool


def _not_measured(reason: str, n_baseline: int = 0, n_current: int = 0,
                  skipped: Optional[Dict[str, str]] = None) -> DomainResult:
  return DomainResult(auc=math.nan, se=math.nan, p_value=math.nan, moved=None,
                      n_baseline=n_baseline, n_current=n_current,
                      importances={}, skipped=dict(skipped or {}),
                      reason=reason)


# ---------------------------------------------------------------- encoding


def _kind(t: pa.DataType) -> Optional[str]:
  """'number', 'text' or None (not usable) for an Arrow type."""
  if pa.types.is_dictionary(t):
    return _kind(t.value_type)
  if (pa.types.is_integer(t) or pa.types.is_floating(t) or
      pa.types.is_boolean(t) or pa.types.is_decimal(t)):
    return 'number'
  if pa.types.is_string(t) or pa.types.is_large_string(t):
    return 'text'
  return None


def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
  if not pa.types.is_dictionary(column.type):
    return column
  chunks = [c.dictionary_decode() for c in column.chunks]
  return pa.chunked_array(chunks, type=column.type.value_type)


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
  column = _decoded(column)
  if not len(column):
    return np.zeros(0)
  values = pc.cast(column, pa.float64()).to_numpy()
  return np.asarray(values, dtype=float)


def _categories(column: pa.ChunkedArray, limit: int) -> List[str]:
  """The ``limit`` most frequent values, ties by value (deterministic)."""
  counts = pc.value_counts(_decoded(column).combine_chunks()).to_pylist()
  counts = [c for c in counts if c['values'] is not None]
  counts.sort(key=lambda c: (-c['counts'], c['values']))
  return [c['values'] for c in counts[:limit]]


def _codes(column: pa.ChunkedArray, categories: List[str]) -> np.ndarray:
  """Category index, ``len(categories)`` for any other value, NaN for null."""
  column = _decoded(column).combine_chunks()
  if not len(column):
    return np.zeros(0)
  value_set = pa.array(categories, type=column.type)
  index = pc.index_in(column, value_set=value_set)
  codes = np.asarray(pc.fill_null(index, len(categories)).to_numpy(
      zero_copy_only=False), dtype=float)
  codes[np.asarray(column.is_null().to_numpy(zero_copy_only=False))] = np.nan
  return codes


def _usable(baseline: pa.Table, current: pa.Table, features: Sequence[str]
            ) -> Tuple[List[Tuple[str, str]], Dict[str, str]]:
  """(name, kind) of the features both samples hold alike; why others not."""
  usable, skipped = [], {}
  for name in features:
    if name not in baseline.column_names or name not in current.column_names:
      skipped[name] = 'not in both samples'
      continue
    kinds = (_kind(baseline.schema.field(name).type),
             _kind(current.schema.field(name).type))
    if kinds[0] is None:
      skipped[name] = f'type {baseline.schema.field(name).type} not supported'
    elif kinds[0] != kinds[1]:
      skipped[name] = 'numeric on one side, text on the other'
    else:
      usable.append((name, kinds[0]))
  return usable, skipped


def _matrices(baseline: pa.Table, current: pa.Table,
              features: Sequence[Tuple[str, str]], max_categories: int
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Feature matrices of both sides and the categorical-column mask."""
  base_cols, cur_cols, categorical = [], [], []
  for name, kind in features:
    if kind == 'number':
      base_cols.append(_numbers(baseline.column(name)))
      cur_cols.append(_numbers(current.column(name)))
    else:
      categories = _categories(baseline.column(name), max_categories)
      base_cols.append(_codes(baseline.column(name), categories))
      cur_cols.append(_codes(current.column(name), categories))
    categorical.append(kind == 'text')
  return (np.column_stack(base_cols), np.column_stack(cur_cols),
          np.array(categorical, dtype=bool))


def _subsample(table: pa.Table, max_rows: int,
               rng: np.random.Generator) -> pa.Table:
  if table.num_rows <= max_rows:
    return table
  rows = np.sort(rng.choice(table.num_rows, size=max_rows, replace=False))
  return table.take(pa.array(rows))


def _label_values(table: pa.Table, label: str) -> List[Any]:
  """The label's values, None for null and NaN."""
  return [None if isinstance(v, float) and math.isnan(v) else v
          for v in _decoded(table.column(label)).to_pylist()]


def _labelled(table: pa.Table, label: str) -> pa.Table:
  """The rows with a label (not null, not NaN)."""
  column = _decoded(table.column(label))
  keep = pc.is_valid(column)
  if pa.types.is_floating(column.type):
    keep = pc.and_(keep, pc.invert(pc.is_nan(column)))
  return table.filter(keep)


def _is_regression(values: Sequence[Any]) -> bool:
  numbers = [v for v in values if v is not None and
             isinstance(v, (int, float)) and not isinstance(v, bool)]
  if not numbers or len(numbers) < len([v for v in values if v is not None]):
    return False
  return len(set(numbers)) > _MAX_CLASSES


def _class_codes(base: Sequence[Any], cur: Sequence[Any]
                 ) -> Tuple[np.ndarray, np.ndarray, List[Any]]:
  """Class index per row (-1 for null, or a class the baseline lacks)."""
  classes = sorted({v for v in base if v is not None}, key=repr)
  if all(isinstance(v, (int, float, bool)) for v in classes):
    classes.sort()
  index = {v: i for i, v in enumerate(classes)}
  def codes(values):
    return np.array([index.get(v, -1) if v is not None else -1
                     for v in values], dtype=int)
  return codes(base), codes(cur), classes


def _strata(base: Sequence[Any], cur: Sequence[Any]
            ) -> Tuple[np.ndarray, np.ndarray]:
  """Within-class strata: the classes, or a regression label's quantiles.

  -1 for rows without a label or with a class the baseline does not have.
  """
  if _is_regression(list(base) + list(cur)):
    b = np.array([np.nan if v is None else v for v in base], dtype=float)
    c = np.array([np.nan if v is None else v for v in cur], dtype=float)
    edges = np.unique(np.nanquantile(
        b, np.linspace(0, 1, _REGRESSION_STRATA + 1)[1:-1]))
    def strata(x):
      return np.where(np.isnan(x), -1, np.searchsorted(edges, x))
    return strata(b), strata(c)
  b, c, _ = _class_codes(base, cur)
  return b, c


# ---------------------------------------------------------------- statistics


def _hanley_mcneil_se(auc: float, n0: float, n1: float) -> float:
  """Standard error of an AUC (Hanley and McNeil 1982)."""
  q1 = auc / (2 - auc)
  q2 = 2 * auc * auc / (1 + auc)
  var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) +
         (n0 - 1) * (q2 - auc * auc)) / (n0 * n1)
  return math.sqrt(max(var, 0.0))


def _null_var(n0: float, n1: float) -> float:
  """Variance of the AUC when both sides are alike (Mann-Whitney null)."""
  return (n0 + n1 + 1) / (12.0 * n0 * n1)


def _auc_p_value(auc: float, var0: float) -> float:
  """One-sided p-value of ``auc`` against 0.5."""
  return float(stats.norm.sf((auc - 0.5) / math.sqrt(var0)))


def _model(settings: ModelSettings, categorical: np.ndarray
           ) -> HistGradientBoostingClassifier:
  return HistGradientBoostingClassifier(
      max_iter=settings.max_iter, learning_rate=0.1, max_leaf_nodes=15,
      min_samples_leaf=_MIN_LEAF, l2_regularization=1.0,
      early_stopping=False,
      categorical_features=categorical if categorical.any() else None,
      random_state=settings.seed)


def _positive_score(model: HistGradientBoostingClassifier,
                    x: np.ndarray) -> np.ndarray:
  return model.predict_proba(x)[:, 1]


# ---------------------------------------------------------------- domain


def _row_groups(x: np.ndarray) -> np.ndarray:
  """Group number per row of ``x``: a row repeated a few times is one group.

  Identical rows share a group when there are fewer of them than a leaf of
  the models holds (``_MIN_LEAF``): those are repeats (resampling, retried
  events, duplicated logs), and a model that saw some copies scores the
  others as if it knew them. A row that many rows share is a value the data
  takes often (a few categories, coarse numbers): the model learns its
  share from its copies as it would for a category, so they are split
  like any rows; grouped, a whole category would leave the training folds.
  """
  _, groups, counts = np.unique(_row_hashes(x, np.zeros(len(x))),
                                return_inverse=True, return_counts=True)
  groups = groups.ravel()
  common = counts[groups] >= _MIN_LEAF
  groups[common] = len(counts) + np.arange(int(common.sum()))
  return groups


def _grouped_folds(strata: np.ndarray, groups: np.ndarray, folds: int,
                   seed: int) -> List[Tuple[np.ndarray, np.ndarray]]:
  """(train, test) row indices of ``folds`` folds, stratified, whole groups.

  Identical rows (one group) always land in the same fold: a row repeated
  on both sides of a split (resampled rows, oversampling, retried events,
  duplicated logs) would otherwise be scored by a model that saw it,
  and a domain classifier reads memorized rows as a moved P(x). Each group
  takes the stratum of its first row; within a stratum the groups are
  shuffled (seeded) and cut into ``folds`` runs of about equal row counts.
  This is what scikit-learn's StratifiedGroupKFold does in spirit; its
  per-group Python loop took 4.5 s for 100,000 rows, this takes
  milliseconds. Without repeated rows it is a stratified random split.
  """
  _, groups = np.unique(groups, return_inverse=True)
  groups = groups.ravel()
  n_groups = int(groups.max()) + 1 if len(groups) else 0
  first = np.full(n_groups, len(groups))
  np.minimum.at(first, groups, np.arange(len(groups)))
  group_stratum = strata[first]
  sizes = np.bincount(groups, minlength=n_groups)
  order = np.random.default_rng(seed).permutation(n_groups)
  order = order[np.argsort(group_stratum[order], kind='stable')]
  fold_of = np.zeros(n_groups, dtype=int)
  for s in np.unique(group_stratum):
    members = order[group_stratum[order] == s]
    before = np.cumsum(sizes[members]) - sizes[members]
    fold_of[members] = np.minimum(
        before * folds // max(int(sizes[members].sum()), 1), folds - 1)
  row_fold = fold_of[groups]
  return [(np.flatnonzero(row_fold != f), np.flatnonzero(row_fold == f))
          for f in range(folds)]


def _effective_n(groups: np.ndarray) -> float:
  """Kish's effective sample size of rows repeated ``groups``-wise: a row
  seen m times weighs like m rows in the AUC but tells one row's worth."""
  sizes = np.bincount(groups)
  return float(len(groups) ** 2 / np.sum(sizes.astype(float) ** 2))


def _out_of_fold(x: np.ndarray, domain: np.ndarray, strata: np.ndarray,
                 categorical: np.ndarray, settings: ModelSettings,
                 importance_of: Optional[Sequence[str]] = None
                 ) -> Tuple[np.ndarray, Dict[str, float]]:
  """Out-of-fold P(current) per row; permutation importances when asked.

  Folds keep identical rows together (``_grouped_folds``).
  """
  folds = _grouped_folds(strata, _row_groups(x), settings.folds,
                         settings.seed)
  scores = np.zeros(len(domain))
  drops = np.zeros(x.shape[1])
  rng = np.random.default_rng(settings.seed)
  for train, test in folds:
    model = _model(settings, categorical).fit(x[train], domain[train])
    scores[test] = _positive_score(model, x[test])
    if importance_of is not None:
      drops += _permutation_drops(model, x, domain, test, settings, rng)
  importances = {}
  if importance_of is not None:
    order = np.argsort(-drops, kind='stable')
    importances = {importance_of[i]: float(drops[i] / settings.folds)
                   for i in order}
  return scores, importances


def _permutation_drops(model: HistGradientBoostingClassifier, x: np.ndarray,
                       domain: np.ndarray, test: np.ndarray,
                       settings: ModelSettings,
                       rng: np.random.Generator) -> np.ndarray:
  """AUC drop on the fold's rows when each feature's values are shuffled."""
  if len(test) > settings.importance_rows:
    test = rng.choice(test, size=settings.importance_rows, replace=False)
  xt, yt = x[test], domain[test]
  if len(np.unique(yt)) < 2:
    return np.zeros(x.shape[1])
  base = roc_auc_score(yt, _positive_score(model, xt))
  drops = np.zeros(x.shape[1])
  for j in range(x.shape[1]):
    shuffled = xt.copy()
    shuffled[:, j] = rng.permutation(shuffled[:, j])
    drops[j] = base - roc_auc_score(yt, _positive_score(model, shuffled))
  return drops


def _within_class(x: np.ndarray, domain: np.ndarray, strata: np.ndarray,
                  categorical: np.ndarray, settings: ModelSettings
                  ) -> Tuple[Optional[float], Optional[float], str]:
  """(AUC, p-value, reason) of the domain classifier within each class.

  The class is one more (categorical) feature; the AUC is taken within each
  class seen on both sides with enough rows (the 20 largest such), and
  averaged weighted by class size; its null variance is the weighted sum of
  the per-class ones.
  """
  keep = strata >= 0
  x, domain, strata = x[keep], domain[keep], strata[keep]
  counts = {c: (int(np.sum((strata == c) & (domain == 0))),
                int(np.sum((strata == c) & (domain == 1))))
            for c in np.unique(strata)}
  classes = [c for c, (n0, n1) in counts.items()
             if min(n0, n1) >= max(settings.min_rows, settings.folds)]
  # the largest classes only: the class is a categorical feature, and the
  # small ones add little to the weighted AUC
  classes = sorted(classes, key=lambda c: -sum(counts[c]))[:_MAX_CLASSES]
  if not classes:
    return None, None, ('no class has enough labelled rows on both sides '
                        f'(at least {settings.min_rows} each)')
  keep = np.isin(strata, classes)
  x, domain, strata = x[keep], domain[keep], strata[keep]
  with_class = np.column_stack([x, strata.astype(float)])
  scores, _ = _out_of_fold(with_class, domain, strata * 2 + domain,
                           np.append(categorical, True), settings)
  total = sum(sum(counts[c]) for c in classes)
  auc, var0 = 0.0, 0.0
  for c in classes:
    rows = strata == c
    weight = sum(counts[c]) / total
    auc += weight * roc_auc_score(domain[rows], scores[rows])
    var0 += weight * weight * _null_var(
        _effective_n(_row_groups(x[rows & (domain == 0)])),
        _effective_n(_row_groups(x[rows & (domain == 1)])))
  return float(auc), _auc_p_value(auc, var0), ''


def _labelled_both(baseline: pa.Table, current: pa.Table,
                   label: Optional[str]) -> str:
  """Why the label cannot be used on both samples ('' when it can)."""
  if label is None:
    return 'no label given'
  for side, table in (('baseline', baseline), ('current', current)):
    if not table.num_rows:
      return f'the {side} sample is empty'
    if label not in table.column_names:
      return f'the {side} sample has no label column {label!r}'
    if table.column(label).null_count == table.num_rows:
      return f'the {side} sample has no label values'
  return ''


def domain_classifier(baseline: pa.Table, current: pa.Table,
                      features: Sequence[str], settings: ModelSettings,
                      label: Optional[str] = None) -> DomainResult:
  """Whether P(x) moved (see ``_domain_classifier``)."""
  with threadpool_limits(limits=settings.threads, user_api='openmp'):
    return _domain_classifier(baseline, current, features, settings, label)


def _domain_classifier(baseline: pa.Table, current: pa.Table,
                       features: Sequence[str], settings: ModelSettings,
                       label: Optional[str] = None) -> DomainResult:
  """Whether P(x) moved: how well a classifier tells the two samples apart.

  Args:
    baseline: uniform row sample of the baseline.
    current: uniform row sample of the span checked.
    features: the x columns (numbers, booleans or text).
    settings: thresholds and sizes.
    label: the label column; when both samples have it, P(x|y) is tested
      too (``within_class_*``).

  Returns:
    The result; ``moved`` is None (with ``reason``) when there are too few
    rows or no usable feature.
  """
  rng = np.random.default_rng(settings.seed)
  baseline = _subsample(baseline, settings.max_rows, rng)
  current = _subsample(current, settings.max_rows, rng)
  n0, n1 = baseline.num_rows, current.num_rows
  usable, skipped = _usable(baseline, current, features)
  if not usable:
    return _not_measured('no usable feature (numbers, booleans or text in '
                         'both samples)', n0, n1, skipped)
  if min(n0, n1) < max(settings.min_rows, settings.folds):
    return _not_measured(f'too few rows: {n0} baseline, {n1} current (at '
                         f'least {settings.min_rows} each)', n0, n1, skipped)
  xb, xc, categorical = _matrices(baseline, current, usable,
                                  settings.max_categories)
  x = np.vstack([xb, xc])
  domain = np.r_[np.zeros(n0, dtype=int), np.ones(n1, dtype=int)]
  names = [name for name, _ in usable]
  scores, importances = _out_of_fold(x, domain, domain, categorical,
                                     settings, importance_of=names)
  auc = float(roc_auc_score(domain, scores))
  # repeated rows tell less than their count: the test uses effective sizes
  e0, e1 = _effective_n(_row_groups(xb)), _effective_n(_row_groups(xc))
  p_value = _auc_p_value(auc, _null_var(e0, e1))
  within = (None, None, _labelled_both(baseline, current, label))
  if not within[2]:
    base_strata, cur_strata = _strata(_label_values(baseline, label),
                                      _label_values(current, label))
    within = _within_class(x, domain, np.r_[base_strata, cur_strata],
                           categorical, settings)
  return DomainResult(
      auc=auc, se=_hanley_mcneil_se(auc, e0, e1), p_value=p_value,
      moved=bool(auc > settings.max_domain_auc and p_value < settings.alpha),
      n_baseline=n0, n_current=n1, importances=importances,
      within_class_auc=within[0], within_class_p_value=within[1],
      within_class_moved=(None if within[0] is None else bool(
          within[0] > settings.max_domain_auc and
          within[1] < settings.alpha)),
      within_class_reason=within[2], skipped=skipped)


# ---------------------------------------------------------------- label model


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
  return float(np.sum(weights * values) / np.sum(weights))


def _bin_comparison(predicted: np.ndarray, positive: np.ndarray,
                    weights: np.ndarray, cur_predicted: np.ndarray,
                    cur_positive: np.ndarray
                    ) -> Tuple[float, float, List[Dict[str, Any]]]:
  """(change, p-value, bins) of one class's rates per predicted bin.

  Bins are the deciles of the held-out baseline predictions. Per bin the
  difference is that of observed rate minus mean prediction, current side
  minus baseline side: the model's own miscalibration cancels, and so does,
  to first order, a different mix of rows inside a bin (covariate shift
  moving rows towards one end of it). The baseline side is weighted
  (``weights``), its variance uses Kish's effective sample size. The change
  is the mean |difference| weighted by the current rows' bin shares, each
  |difference| less its sampling noise (sqrt(max(d^2 - var, 0))) so that
  small samples do not show a change that is not there; the p-value is that
  of the chi-square sum of the bins' z statistics (pooled binomial
  variance).
  """
  edges = np.unique(np.quantile(predicted, np.linspace(0, 1, _BINS + 1)[1:-1]))
  base_bin = np.searchsorted(edges, predicted, side='right')
  cur_bin = np.searchsorted(edges, cur_predicted, side='right')
  change, chi2, df, bins = 0.0, 0.0, 0, []
  for b in range(len(edges) + 1):
    in_base, in_cur = base_bin == b, cur_bin == b
    w = weights[in_base]
    n_cur = int(in_cur.sum())
    if not w.sum() or not n_cur:
      continue
    base_rate = _weighted_mean(positive[in_base], w)
    base_predicted = _weighted_mean(predicted[in_base], w)
    cur_rate = float(cur_positive[in_cur].mean())
    cur_pred = float(cur_predicted[in_cur].mean())
    difference = (cur_rate - cur_pred) - (base_rate - base_predicted)
    n_eff = w.sum() ** 2 / np.sum(w * w)
    pooled = (base_rate * n_eff + cur_rate * n_cur) / (n_eff + n_cur)
    var = pooled * (1 - pooled) * (1 / n_eff + 1 / n_cur)
    if var > 0:
      chi2 += difference ** 2 / var
      df += 1
    # |difference| less its noise: sampling alone gives E[d^2] = var
    change += n_cur / len(cur_predicted) * math.sqrt(
        max(difference ** 2 - var, 0.0))
    bins.append({'bin': b, 'predicted': base_predicted,
                 'current_predicted': cur_pred,
                 'baseline_rate': base_rate, 'current_rate': cur_rate,
                 'n_baseline': int(in_base.sum()), 'n_current': n_cur})
  p_value = float(stats.chi2.sf(chi2, df)) if df else 1.0
  return float(change), p_value, bins


def _log_loss(proba: np.ndarray, codes: np.ndarray) -> float:
  """Mean log loss; a class the model does not know has probability ~0."""
  p = np.full(len(codes), _EPS)
  known = codes >= 0
  p[known] = proba[known, codes[known]]
  return float(-np.mean(np.log(np.clip(p, _EPS, 1.0))))


def _prior(codes: np.ndarray, k: int) -> np.ndarray:
  return np.bincount(codes[codes >= 0], minlength=k)[:k] / max(len(codes), 1)


def _not_modelled(reason: str, **counts: int) -> LabelModelResult:
  return LabelModelResult(
      calibration_change=math.nan, p_value=math.nan, moved=None,
      prior_corrected_change=math.nan, prior_corrected_p_value=math.nan,
      prior_corrected_moved=None, baseline_log_loss=math.nan,
      current_log_loss=math.nan, bins=[], reason=reason, **counts)


def _split(codes: np.ndarray, holdout: float,
           rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
  """(train, held-out) row indices, stratified by class."""
  train, held = [], []
  for c in np.unique(codes):
    rows = rng.permutation(np.flatnonzero(codes == c))
    cut = int(round(len(rows) * holdout))
    cut = min(max(cut, 1), len(rows) - 1) if len(rows) > 1 else 0
    held.append(rows[:cut])
    train.append(rows[cut:])
  return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _combine(per_class: List[Tuple[float, float]], settings: ModelSettings
             ) -> Tuple[float, float, bool]:
  """(change, p-value, moved) over classes: the worst class, Bonferroni."""
  k = len(per_class)
  moved = any(change > settings.max_calibration_change and
              p * k < settings.alpha for change, p in per_class)
  change = max(change for change, _ in per_class)
  p_value = min(1.0, k * min(p for _, p in per_class))
  return change, p_value, moved


def _row_hashes(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
  """One 64-bit hash per row of a feature matrix and its label codes."""
  from transforms.checks import shift_stats  # pylint: disable=g-import-not-at-top
  keys = shift_stats.mix(np.asarray(codes, dtype=np.float64).view(np.uint64))
  for j in range(x.shape[1]):
    column = np.where(np.isnan(x[:, j]), -1.2345e300, x[:, j])
    keys = shift_stats.mix(keys ^ np.ascontiguousarray(
        column, dtype=np.float64).view(np.uint64))
  return keys


def label_model(baseline: pa.Table, current: pa.Table,
                features: Sequence[str], label: str,
                settings: ModelSettings) -> Optional[LabelModelResult]:
  """Whether P(y|x) moved (see ``_label_model``)."""
  with threadpool_limits(limits=settings.threads, user_api='openmp'):
    return _label_model(baseline, current, features, label, settings)


def _label_model(baseline: pa.Table, current: pa.Table,
                 features: Sequence[str], label: str,
                 settings: ModelSettings) -> Optional[LabelModelResult]:
  """Whether P(y|x) moved, raw and after correcting for the new prior.

  Args:
    baseline: uniform row sample of the baseline, with the label.
    current: uniform row sample of the span checked, with the label.
    features: the x columns (numbers, booleans or text).
    label: the label column: classes (booleans, strings, few integers).
    settings: thresholds and sizes.

  Returns:
    The result. It is never None: when the label model cannot be measured
    (regression label, one class in the baseline, too few labelled rows, no
    usable feature), ``moved`` is None and ``reason`` says why.
  """
  missing = _labelled_both(baseline, current, label)
  if missing:
    return _not_modelled(missing)
  rng = np.random.default_rng(settings.seed)
  baseline = _subsample(_labelled(baseline, label), settings.max_rows, rng)
  current = _subsample(_labelled(current, label), settings.max_rows, rng)
  base_y, cur_y = _label_values(baseline, label), _label_values(current, label)
  if _is_regression(base_y + cur_y):
    return _not_modelled('the label is numeric with many values (regression); '
                         'only class labels are modelled so far')
  base_codes, cur_codes, classes = _class_codes(base_y, cur_y)
  k = len(classes)
  if k < 2:
    return _not_modelled(f'the baseline sample has {k} label class(es); '
                         'a label model needs at least 2')
  if k > _MAX_CLASSES:
    return _not_modelled(f'the label has {k} classes in the baseline sample; '
                         f'at most {_MAX_CLASSES} are modelled')
  usable, _ = _usable(baseline, current, features)
  if not usable:
    return _not_modelled('no usable feature (numbers, booleans or text in '
                         'both samples)')
  counts = np.bincount(base_codes, minlength=k)
  if counts.min() < 2 or len(base_y) < 2 * settings.min_rows or (
      len(cur_y) < settings.min_rows):
    return _not_modelled(
        f'too few labelled rows: {len(base_y)} baseline (smallest class '
        f'{counts.min()}), {len(cur_y)} current (at least '
        f'{2 * settings.min_rows} and {settings.min_rows})')
  xb, xc, categorical = _matrices(baseline, current, usable,
                                  settings.max_categories)
  train, held = _split(base_codes, settings.holdout, rng)
  # Rows the model was trained on score better than unseen ones: the
  # held-out rows and the span's rows that repeat a training row (the same
  # span validated against itself, or overlapping spans) are left out of
  # both sides alike.
  seen = _row_hashes(xb[train], base_codes[train])
  held = held[~np.isin(_row_hashes(xb[held], base_codes[held]), seen)]
  fresh = ~np.isin(_row_hashes(xc, cur_codes), seen)
  if fresh.sum() < settings.min_rows or len(held) < settings.min_rows:
    return _not_modelled(
        f'only {int(fresh.sum())} of the span\'s {len(cur_codes)} labelled '
        f'rows differ from the rows the label model was trained on (the span '
        f'repeats the baseline)')
  xc, cur_codes = xc[fresh], cur_codes[fresh]
  model = _model(settings, categorical).fit(xb[train], base_codes[train])
  held_proba, cur_proba = model.predict_proba(xb[held]), model.predict_proba(xc)
  held_codes = base_codes[held]
  base_prior, cur_prior = _prior(held_codes, k), _prior(cur_codes, k)
  weights = np.where(base_prior > 0, cur_prior / np.where(
      base_prior > 0, base_prior, 1), 0.0)[held_codes]
  raw, corrected, bins = [], [], []
  for c in ([1] if k == 2 else range(k)):
    args = (held_proba[:, c], held_codes == c)
    current_args = (cur_proba[:, c], cur_codes == c)
    change, p, class_bins = _bin_comparison(*args, np.ones(len(held)),
                                            *current_args)
    raw.append((change, p))
    change, p, weighted_bins = _bin_comparison(*args, weights, *current_args)
    corrected.append((change, p))
    corrected_rate = {b['bin']: b['baseline_rate'] for b in weighted_bins}
    for plain in class_bins:
      bins.append({'class': str(classes[c]), **plain,
                   'prior_corrected_rate': corrected_rate.get(plain['bin'])})
  change, p_value, moved = _combine(raw, settings)
  pc_change, pc_p_value, pc_moved = _combine(corrected, settings)
  return LabelModelResult(
      calibration_change=change, p_value=p_value, moved=moved,
      prior_corrected_change=pc_change, prior_corrected_p_value=pc_p_value,
      prior_corrected_moved=pc_moved,
      baseline_log_loss=_log_loss(held_proba, held_codes),
      current_log_loss=_log_loss(cur_proba, cur_codes), bins=bins,
      classes=[str(c) for c in classes],
      baseline_prior={str(c): float(p) for c, p in zip(classes, base_prior)},
      current_prior={str(c): float(p) for c, p in zip(classes, cur_prior)},
      n_train=len(train), n_baseline=len(held), n_current=len(cur_codes))


# ---------------------------------------------------------------- diagnosis


def _said(value: Optional[bool], moved: str, stayed: str, unknown: str) -> str:
  return unknown if value is None else (moved if value else stayed)


def _evidence_reasons(e: Evidence) -> List[str]:
  return [
      _said(e.label_moved, 'The label distribution P(y) moved.',
            'The label distribution P(y) did not move.',
            'Whether the label distribution P(y) moved is not known.'),
      _said(e.x_moved, 'A classifier tells current rows from baseline rows: '
            'the features\' distribution P(x) moved.',
            'A classifier cannot tell current rows from baseline rows: '
            'P(x) did not move.',
            'Whether P(x) moved could not be measured.'),
      _said(e.x_given_y_moved, 'Within each label class the features moved '
            'too: P(x|y) moved.',
            'Within each label class the features did not move: P(x|y) '
            'stayed.', 'Whether P(x|y) moved could not be measured (needs '
            'labels on both sides).'),
      _said(e.concept_raw, 'A model of the label trained on the baseline '
            'finds the current label rates different for like rows: P(y|x) '
            'moved.', 'A model of the label trained on the baseline finds '
            'the current label rates as before for like rows: P(y|x) '
            'stayed.', 'Whether P(y|x) moved could not be measured (needs '
            'labels on both sides).'),
      _said(e.concept_prior_corrected, 'Corrected for the new label '
            'shares, the label rates still differ: a change of P(y) alone '
            'does not explain it.', 'Corrected for the new label shares, '
            'the label rates match: a change of P(y) explains any '
            'difference.', 'Whether a change of P(y) explains P(y|x) could '
            'not be measured.'),
  ]


def _label_shift_signature(e: Evidence) -> bool:
  """P(y) moved and P(x|y) stayed, or, that unmeasured, P(y|x) moved
  exactly as a change of P(y) predicts."""
  if not e.label_moved:
    return False
  if e.x_given_y_moved is not None:
    return not e.x_given_y_moved
  return bool(e.concept_raw) and e.concept_prior_corrected is False


def diagnose(evidence: Evidence) -> Diagnosis:
  """The kind of shift the evidence shows, with reasons in plain words.

  Concept shift is P(y|x) moving beyond what a change of P(y) explains
  (``concept_raw`` and ``concept_prior_corrected``); with P(x) moved as well
  it is covariate and concept shift. P(x|y) does not decide that: a concept
  shift moves P(x|y) by itself. Otherwise label shift is P(y) moved with
  P(x|y) fixed, covariate shift is P(x) moved (any P(y) move then comes from
  the features), and P(y) moved alone is label shift.

  Args:
    evidence: what moved; None where not measured.

  Returns:
    The diagnosis; ``complete`` is False when some evidence is missing.
  """
  e = evidence
  reasons = _evidence_reasons(e)
  complete = None not in dataclasses.astuple(e)
  concept = bool(e.concept_raw and e.concept_prior_corrected)
  if concept:
    kind = COVARIATE_AND_CONCEPT_SHIFT if e.x_moved else CONCEPT_SHIFT
  elif _label_shift_signature(e):
    kind = LABEL_SHIFT
  elif e.x_moved:
    kind = COVARIATE_SHIFT
  elif e.label_moved:
    kind = LABEL_SHIFT
  else:
    kind = None
  reasons.append(_verdict(kind, e))
  if not complete:
    reasons.append(_missing(e))
  return Diagnosis(kind=kind, reasons=reasons, complete=complete)


def _verdict(kind: Optional[str], e: Evidence) -> str:
  if kind == CONCEPT_SHIFT and e.x_moved is None:
    return ('Verdict: concept shift. The relation between features and label '
            'changed; whether the features moved as a whole was not '
            'measured.')
  if kind == CONCEPT_SHIFT:
    return ('Verdict: concept shift. The relation between features and label '
            'changed while the features did not.')
  if kind == COVARIATE_AND_CONCEPT_SHIFT:
    return ('Verdict: covariate and concept shift. The features moved and '
            'their relation to the label changed as well.')
  if kind == LABEL_SHIFT and e.x_given_y_moved:
    return ('Verdict: label shift. The label shares moved; the features did '
            'not move overall, though they differ within classes.')
  if kind == LABEL_SHIFT:
    return ('Verdict: label shift. The label shares moved while the features '
            'of each class stayed as they were; any move of the features '
            'follows from the new label shares.')
  if kind == COVARIATE_SHIFT and e.label_moved:
    return ('Verdict: covariate shift. The features moved and the label '
            'shares follow them; the relation between features and label '
            'stayed.')
  if kind == COVARIATE_SHIFT and e.concept_raw is None:
    return ('Verdict: covariate shift. The features moved; whether their '
            'relation to the label stayed is not known without labels.')
  if kind == COVARIATE_SHIFT:
    return ('Verdict: covariate shift. The features moved; the relation '
            'between features and label stayed.')
  return 'Verdict: no shift found.'


def _missing(e: Evidence) -> str:
  if e.concept_raw is None or e.x_given_y_moved is None:
    return ('Only part of the question could be judged: telling covariate '
            'from label and concept shift needs labels in both samples.')
  return 'Only part of the question could be judged: some evidence is missing.'
