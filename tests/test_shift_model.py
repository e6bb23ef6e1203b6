"""Shift diagnosis from row samples (transforms/checks/shift_model.py).

Synthetic spans: four numeric features (one with missing values, one that
does not matter), one text feature, and a 0/1 label from a logistic model.
Each scenario moves exactly one part of P(x, y) and must be diagnosed as
such for 20 seeds; nothing moving must give no diagnosis.
"""

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

import corpus
from transforms import arrow_types
from transforms.checks import shift_model as sm
from transforms.checks import shift_stats

FEATURES = ['x0', 'x1', 'x2', 'x3', 'kind']
TEXT = np.array(['a', 'b', 'c', 'd'])
TEXT_SHARES = [0.4, 0.3, 0.2, 0.1]
TEXT_EFFECT = {'a': 0.0, 'b': 0.6, 'c': -0.6, 'd': 1.0}
ROWS = 2000
SEEDS = 20
# fewer boosting rounds and folds than in production keep the 100 runs fast
SETTINGS = sm.ModelSettings(max_iter=50, folds=2)


def _draw(rng, n, shift=0.0, flip=False):
  """Rows of the logistic model; ``shift`` moves x0, ``flip`` P(y|x)."""
  x = rng.normal(0, 1, (n, 4))
  x[:, 0] += shift
  kind = rng.choice(TEXT, size=n, p=TEXT_SHARES)
  logit = (-0.3 + 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.7 * x[:, 2] +
           np.vectorize(TEXT_EFFECT.get)(kind))
  p = 1 / (1 + np.exp(-logit))
  if flip:  # the rule turned around where x1 > 0.3; P(x) untouched
    p = np.where(x[:, 1] > 0.3, 1 - p, p)
  y = (rng.random(n) < p).astype(int)
  x2 = x[:, 2].copy()
  x2[rng.random(n) < 0.05] = np.nan
  return {'x0': x[:, 0], 'x1': x[:, 1], 'x2': x2, 'x3': x[:, 3],
          'kind': kind, 'y': y}


def _label_shifted(rng, n, positive=0.75):
  """Rows drawn per class at a new prior: P(x|y) unchanged."""
  pool = _draw(rng, 4 * n)
  k = int(n * positive)
  rows = np.r_[rng.choice(np.flatnonzero(pool['y'] == 1), k, replace=False),
               rng.choice(np.flatnonzero(pool['y'] == 0), n - k,
                          replace=False)]
  return {name: values[rows] for name, values in pool.items()}


def _table(columns):
  return pa.table({name: pa.array(list(values)) if name == 'kind' else
                   pa.array(values, from_pandas=True)
                   for name, values in columns.items()})


SCENARIOS = {
    None: lambda rng: _draw(rng, ROWS),
    sm.COVARIATE_SHIFT: lambda rng: _draw(rng, ROWS, shift=0.8),
    sm.LABEL_SHIFT: lambda rng: _label_shifted(rng, ROWS),
    sm.CONCEPT_SHIFT: lambda rng: _draw(rng, ROWS, flip=True),
    sm.COVARIATE_AND_CONCEPT_SHIFT:
        lambda rng: _draw(rng, ROWS, shift=0.8, flip=True),
}


def _samples(kind, seed):
  rng = np.random.default_rng(seed)
  baseline = _table(_draw(rng, ROWS))
  return baseline, _table(SCENARIOS[kind](rng))


def _label_moved(baseline, current, alpha=0.001):
  """Two-proportion test of the label shares (layer 1 does this in prod)."""
  yb = np.asarray(baseline.column('y'), dtype=float)
  yc = np.asarray(current.column('y'), dtype=float)
  pooled = np.r_[yb, yc].mean()
  z = (yb.mean() - yc.mean()) / np.sqrt(
      pooled * (1 - pooled) * (1 / len(yb) + 1 / len(yc)))
  return bool(2 * stats.norm.sf(abs(z)) < alpha)


def _diagnose(baseline, current):
  domain = sm.domain_classifier(baseline, current, FEATURES, SETTINGS,
                                label='y')
  model = sm.label_model(baseline, current, FEATURES, 'y', SETTINGS)
  evidence = sm.Evidence(
      label_moved=_label_moved(baseline, current), x_moved=domain.moved,
      x_given_y_moved=domain.within_class_moved, concept_raw=model.moved,
      concept_prior_corrected=model.prior_corrected_moved)
  return sm.diagnose(evidence), domain, model


@pytest.mark.parametrize('expected', list(SCENARIOS), ids=str)
def test_each_kind_of_shift_is_diagnosed_as_itself_for_20_seeds(expected):
  wrong = []
  for seed in range(SEEDS):
    diagnosis, domain, model = _diagnose(*_samples(expected, seed))
    if diagnosis.kind != expected or not diagnosis.complete:
      wrong.append((seed, diagnosis.kind, round(domain.auc, 3),
                    round(domain.within_class_auc, 3),
                    round(model.calibration_change, 3),
                    round(model.prior_corrected_change, 3)))
    if expected in (sm.COVARIATE_SHIFT, sm.COVARIATE_AND_CONCEPT_SHIFT):
      assert next(iter(domain.importances)) == 'x0', (seed, domain.importances)
  assert not wrong, f'(seed, kind, auc, within, change, corrected): {wrong}'


def test_without_current_labels_only_the_covariate_part_is_judged():
  baseline, current = _samples(sm.COVARIATE_SHIFT, 0)
  current = current.drop(['y'])
  domain = sm.domain_classifier(baseline, current, FEATURES, SETTINGS,
                                label='y')
  assert domain.moved and domain.within_class_moved is None
  assert 'current sample has no label' in domain.within_class_reason
  model = sm.label_model(baseline, current, FEATURES, 'y', SETTINGS)
  assert model.moved is None and 'no label column' in model.reason
  diagnosis = sm.diagnose(sm.Evidence(x_moved=domain.moved))
  assert diagnosis.kind == sm.COVARIATE_SHIFT and not diagnosis.complete
  assert 'needs labels in both samples' in diagnosis.reasons[-1]
  unmoved = sm.diagnose(sm.Evidence(x_moved=False))
  assert unmoved.kind is None and not unmoved.complete


def test_a_null_label_column_counts_as_no_labels():
  baseline, current = _samples(None, 1)
  current = current.set_column(current.column_names.index('y'), 'y',
                               pa.nulls(current.num_rows, pa.int64()))
  assert 'no label values' in sm.label_model(
      baseline, current, FEATURES, 'y', SETTINGS).reason


def test_bad_inputs_give_a_reason_not_a_crash():
  baseline, current = _samples(None, 2)
  empty = baseline.slice(0, 0)
  result = sm.domain_classifier(empty, current, FEATURES, SETTINGS, label='y')
  assert result.moved is None and 'too few rows' in result.reason
  assert 'the baseline sample is empty' == sm.label_model(
      empty, current, FEATURES, 'y', SETTINGS).reason
  few = sm.label_model(baseline.slice(0, 60), current, FEATURES, 'y',
                       SETTINGS)
  assert few.moved is None and 'too few labelled rows' in few.reason
  result = sm.domain_classifier(baseline, current, [], SETTINGS)
  assert result.moved is None and 'no usable feature' in result.reason
  stamped = baseline.append_column('t', pa.array(
      np.zeros(baseline.num_rows, dtype='datetime64[us]')))
  result = sm.domain_classifier(stamped, current, ['t', 'nope'], SETTINGS)
  assert result.moved is None and set(result.skipped) == {'t', 'nope'}
  one_class = baseline.filter(pa.compute.equal(baseline.column('y'), 1))
  assert 'a label model needs at least 2' in sm.label_model(
      one_class, current, FEATURES, 'y', SETTINGS).reason
  # one class on the current side is fine: it is compared, class by class
  model = sm.label_model(baseline, current.filter(
      pa.compute.equal(current.column('y'), 1)), FEATURES, 'y', SETTINGS)
  assert model.moved is not None
  assert 'no usable feature' in sm.label_model(
      baseline, current, ['nope'], 'y', SETTINGS).reason


def test_a_regression_label_is_not_modelled_but_stratifies_the_within_test():
  baseline, current = _samples(sm.COVARIATE_SHIFT, 3)
  rng = np.random.default_rng(0)
  def with_score(table):
    score = np.asarray(table.column('x0')) + rng.normal(0, 1, table.num_rows)
    return table.append_column('score', pa.array(score))
  baseline, current = with_score(baseline), with_score(current)
  model = sm.label_model(baseline, current, FEATURES, 'score', SETTINGS)
  assert model.moved is None and 'regression' in model.reason
  domain = sm.domain_classifier(baseline, current, FEATURES, SETTINGS,
                                label='score')
  assert domain.within_class_moved is not None


def test_text_columns_dictionary_large_string_and_other_code():
  rng = np.random.default_rng(4)
  n = 1000
  base_text = rng.choice(['u', 'v', 'w'], n)
  cur_text = rng.choice(['u', 'v', 'w', 'new'], n, p=[0.2, 0.2, 0.2, 0.4])
  baseline = pa.table({'t': pa.array(base_text).dictionary_encode(),
                       'b': pa.array(rng.random(n) < 0.5),
                       'i': pa.array([None] + list(range(n - 1)))})
  current = pa.table({'t': pa.array(list(cur_text), pa.large_string()),
                      'b': pa.array(rng.random(n) < 0.5),
                      'i': pa.array(list(range(n)))})
  _, cur, categorical = sm._matrices(
      baseline, current, [('t', 'text'), ('b', 'number'), ('i', 'number')],
      max_categories=2)
  assert categorical.tolist() == [True, False, False]
  # two categories kept, 'w' and the unseen 'new' share the other code 2
  assert set(np.unique(cur[:, 0])) == {0.0, 1.0, 2.0}
  result = sm.domain_classifier(baseline, current, ['t'], SETTINGS)
  assert result.moved and list(result.importances) == ['t']


def test_a_multiclass_label_is_compared_class_by_class():
  rng = np.random.default_rng(5)
  def spans(flip):
    columns = _draw(rng, ROWS, flip=flip)
    names = np.where(columns['x3'] > 0.5, 'high',
                     np.where(columns['y'] == 1, 'yes', 'no'))
    columns['y'] = names
    return _table(columns)
  baseline = spans(False)
  same = sm.label_model(baseline, spans(False), FEATURES, 'y', SETTINGS)
  changed = sm.label_model(baseline, spans(True), FEATURES, 'y', SETTINGS)
  assert same.classes == ['high', 'no', 'yes']
  assert {b['class'] for b in same.bins} == {'high', 'no', 'yes'}
  assert not same.moved and changed.moved and changed.prior_corrected_moved


def test_auc_standard_error_matches_the_null_variance_at_one_half():
  assert sm._hanley_mcneil_se(0.5, 300, 700) ** 2 == pytest.approx(
      sm._null_var(300, 700))


@pytest.mark.parametrize('evidence, kind', [
    (sm.Evidence(False, False, False, False, False), None),
    (sm.Evidence(True, True, False, True, False), sm.LABEL_SHIFT),
    # the features barely tell the classes apart: P(y) moved alone
    (sm.Evidence(True, False, False, True, False), sm.LABEL_SHIFT),
    (sm.Evidence(True, True, True, False, True), sm.COVARIATE_SHIFT),
    (sm.Evidence(False, True, True, False, False), sm.COVARIATE_SHIFT),
    # a concept shift moves P(x|y) by itself: P(x) decides the covariate part
    (sm.Evidence(True, False, True, True, True), sm.CONCEPT_SHIFT),
    (sm.Evidence(True, True, True, True, True),
     sm.COVARIATE_AND_CONCEPT_SHIFT),
    # P(x|y) unmeasured: posteriors moving as the prior predicts = label shift
    (sm.Evidence(True, True, None, True, False), sm.LABEL_SHIFT),
    (sm.Evidence(True, True, None, False, True), sm.COVARIATE_SHIFT),
])
def test_decision_rules(evidence, kind):
  diagnosis = sm.diagnose(evidence)
  assert diagnosis.kind == kind
  assert diagnosis.reasons[-1 if diagnosis.complete else -2].startswith(
      'Verdict:')


# ------------------------------------------------ repeated rows (real data)


def _diamonds_expensive():
  """diamonds (53,940 real stones) with a 0/1 label: price in its top 19%."""
  df = corpus.load('diamonds')
  df['expensive'] = (df.price > df.price.quantile(0.81)).astype(int)
  return df.drop(columns=['price'])


def _arrow(df, rows=5000):
  """The row sample the statistics pass keeps of ``df`` (``shift.sample_size``
  rows; this many of a wide table). It keeps the rows of smallest hash, so
  copies of a row are kept or dropped together: repeats stay dense."""
  raw = pa.Table.from_pandas(df, preserve_index=False)
  table = pa.table({n: arrow_types.cast_column(
      raw.column(n), arrow_types.read_type(raw.column(n).type))
                    for n in raw.column_names})
  sampler = shift_stats.RowSampleFn(table.column_names, rows)
  return sampler.extract_output(sampler.add_input(
      None, arrow_types.table_to_tfdv(table)))


def _real_diagnosis(baseline, current):
  """The diagnosis with production settings (3 folds, 100 iterations)."""
  settings = sm.ModelSettings()
  features = [c for c in baseline.column_names if c != 'expensive']
  domain = sm.domain_classifier(baseline, current, features, settings,
                                label='expensive')
  model = sm.label_model(baseline, current, features, 'expensive', settings)
  yb = np.asarray(baseline.column('expensive'), dtype=float)
  yc = np.asarray(current.column('expensive'), dtype=float)
  pooled = np.r_[yb, yc].mean()
  z = (yb.mean() - yc.mean()) / np.sqrt(
      pooled * (1 - pooled) * (1 / len(yb) + 1 / len(yc)))
  evidence = sm.Evidence(
      label_moved=bool(2 * stats.norm.sf(abs(z)) < 0.001),
      x_moved=domain.moved, x_given_y_moved=domain.within_class_moved,
      concept_raw=model.moved,
      concept_prior_corrected=model.prior_corrected_moved)
  return sm.diagnose(evidence), domain


def test_label_shift_made_by_resampling_rows_is_label_shift():
  """A pure label shift built the way oversampling, retried events and
  duplicated logs build one: the current span draws its rows with
  replacement, per class, from the other half of diamonds so that
  P(expensive) goes 0.19 -> 0.47 with P(x|y) untouched (44% of its rows
  repeat another). Identical rows on both sides of a fold made the
  within-class AUC 0.563 (> 0.55): COVARIATE_SHIFT. Grouped folds: 0.5."""
  df = _diamonds_expensive()
  rng = np.random.default_rng(0)
  half = rng.random(len(df)) < 0.5
  baseline, other = df[half], df[~half]
  y = other.expensive.to_numpy()
  k = int(0.47 * len(other))
  rows = np.r_[rng.choice(np.flatnonzero(y == 1), k),
               rng.choice(np.flatnonzero(y == 0), len(other) - k)]
  current = other.iloc[rows]
  assert current.duplicated().mean() > 0.4
  assert round(baseline.expensive.mean(), 2) == 0.19
  assert round(current.expensive.mean(), 2) == 0.47
  diagnosis, domain = _real_diagnosis(_arrow(baseline), _arrow(current))
  assert diagnosis.kind == sm.LABEL_SHIFT, diagnosis.reasons
  assert abs(domain.within_class_auc - 0.5) < 0.02
  assert domain.moved  # P(x) did move: the classes' mix changed


def test_training_with_oversampled_positives_is_not_concept_shift():
  """Training data whose positives were oversampled (each drawn again three
  times on average: P(y) 0.19 -> 0.48) against serving data as it comes
  (the other half of diamonds): the serving span's P(y) is lower, P(x|y)
  and P(y|x) are as in training. Not concept shift, not covariate shift
  (the within-class AUC read 0.553 with copies across folds): label
  shift."""
  df = _diamonds_expensive()
  rng = np.random.default_rng(1)
  half = rng.random(len(df)) < 0.5
  train, serve = df[half], df[~half]
  positives = np.flatnonzero(train.expensive.to_numpy() == 1)
  train = train.iloc[np.r_[np.arange(len(train)),
                           rng.choice(positives, 3 * len(positives))]]
  assert round(train.expensive.mean(), 2) == 0.48
  diagnosis, domain = _real_diagnosis(_arrow(train), _arrow(serve))
  assert diagnosis.kind == sm.LABEL_SHIFT, diagnosis.reasons
  assert not domain.within_class_moved


def test_folds_keep_identical_rows_together_and_stay_stratified():
  rng = np.random.default_rng(2)
  groups = rng.integers(0, 300, 1000)  # ~3 copies of each row
  strata = (groups % 2).astype(int)
  folds = sm._grouped_folds(strata, groups, 3, seed=0)
  for train, test in folds:
    assert not set(groups[train]) & set(groups[test])
    assert abs(strata[test].mean() - strata.mean()) < 0.05
    assert abs(len(test) - 1000 / 3) < 30
  assert sorted(np.concatenate([t for _, t in folds])) == list(range(1000))
  assert sm._effective_n(np.arange(10)) == 10
  assert sm._effective_n(np.repeat(np.arange(5), 2)) == 5


def test_rows_many_rows_share_are_split_like_distinct_rows():
  """A value the data takes often (a category of 300 rows) is learned from
  its copies, not hidden from the training folds; a row seen 3 times is."""
  x = np.r_[np.zeros(300), np.arange(1, 101).repeat(3)].reshape(-1, 1)
  groups = sm._row_groups(x)
  assert len(set(groups[:300])) == 300
  assert len(set(groups[300:])) == 100
