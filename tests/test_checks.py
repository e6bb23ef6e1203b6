"""Checks beyond TFDV in the validate job: PSI/Wasserstein drift, metric
history, representation and label parity. Each on data built to trigger it,
with a clean control that stays clean."""

import numpy as np
import pytest

from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from conftest import warehouse_rows
# project: stats of a training span and schema v1, as in the validate tests.
from test_validate_job import frame, project  # noqa: F401  pylint: disable=unused-import


def _rows(project, table, span, check):
  return warehouse_rows(project.db, f"""SELECT * FROM {table}
      WHERE span = '{span}' AND "check" = '{check}' ORDER BY feature, slice""")


def test_psi_and_wasserstein_are_selectable_per_feature(project):
  psi = ['drift.numeric_metric=PSI', 'drift.numeric_threshold=0.2',
         'drift.features={age: {metric: WASSERSTEIN, threshold: 0.3}}']
  project.write(frame(seed=1), 'train', '2024-01-02')  # control
  assert project.validate('train', '2024-01-02', *psi) == EXIT_OK
  measured = {r['feature']: r for r in _rows(project, 'drift_skew',
                                             '2024-01-02', 'drift')}
  assert measured['income']['metric'] == 'PSI'
  assert measured['age']['metric'] == 'WASSERSTEIN'
  assert measured['country']['metric'] == 'L_INFTY'  # categorical: TFDV's
  assert not any(r['is_anomaly'] for r in measured.values())

  project.write(frame(seed=2, shift=1.5), 'train', '2024-01-03')
  assert project.validate('train', '2024-01-03', *psi) == EXIT_BLOCKING
  found = {(r['feature'], r['anomaly_type']): r for r in _rows(
      project, 'anomalies', '2024-01-03', 'drift')}
  income = found[('income', 'POPULATION_STABILITY_INDEX_HIGH')]
  # WARNING above 0.2, ERROR above the default error threshold 0.25.
  assert income['value'] > 1.0 and income['threshold'] == 0.25
  assert income['severity'] == 'ERROR'
  assert income['baseline_span'] == '2024-01-02'
  assert ('age', 'NORMALIZED_WASSERSTEIN_DISTANCE_HIGH') not in found


def test_psi_on_a_categorical_feature_is_a_config_error(project):
  from transforms.errors import UserError  # pylint: disable=g-import-not-at-top
  project.write(frame(seed=1), 'train', '2024-01-02')
  with pytest.raises(UserError, match='PSI needs a numeric feature'):
    project.validate('train', '2024-01-02',
                     'drift.features={country: {metric: PSI, threshold: 0.2}}')


def _history(project):
  for day in range(2, 7):
    project.write(frame(seed=day), 'train', f'2024-01-0{day}')
    assert project.stats('train', f'2024-01-0{day}') == EXIT_OK


def test_history_flags_departures_from_earlier_spans(project):
  _history(project)
  df = frame(n=3000, seed=9)
  df.loc[df.sample(frac=0.3, random_state=1).index, 'income'] = np.nan
  project.write(df, 'train', '2024-01-07')
  project.validate('train', '2024-01-07')
  found = {(r['feature'], r['anomaly_type']): r for r in _rows(
      project, 'anomalies', '2024-01-07', 'history')}
  assert set(found) == {('', 'HISTORY_ROW_COUNT_OUTLIER'),
                        ('income', 'HISTORY_MISSING_RATE_OUTLIER')}
  income = found[('income', 'HISTORY_MISSING_RATE_OUTLIER')]
  assert income['severity'] == 'WARNING' and income['value'] > 4
  assert income['baseline_span'] == '2024-01-01..2024-01-06'
  assert 'over the last 6 spans' in income['description']


def test_history_control_stays_clean(project):
  _history(project)
  project.write(frame(seed=8), 'train', '2024-01-07')
  assert project.validate('train', '2024-01-07') == EXIT_OK
  assert _rows(project, 'anomalies', '2024-01-07', 'history') == []
  measured = _rows(project, 'drift_skew', '2024-01-07', 'history')
  assert {r['metric'] for r in measured} == {
      'ROBUST_Z_NUM_EXAMPLES', 'ROBUST_Z_MISSING_RATE', 'ROBUST_Z_MEAN'}


def test_representation_and_label_parity(project):
  fair = ['fairness.sensitive=[sex]']
  # Control: both groups about half, the same label rate.
  project.write(frame(seed=1), 'train', '2024-01-02')
  assert project.validate('train', '2024-01-02', *fair) == EXIT_OK
  assert _rows(project, 'anomalies', '2024-01-02', 'representation') == []
  assert _rows(project, 'anomalies', '2024-01-02', 'label_parity') == []
  shares = {r['slice']: r['value'] for r in _rows(
      project, 'drift_skew', '2024-01-02', 'representation')
            if r['metric'] == 'GROUP_SHARE'}
  assert set(shares) == {'sex_female', 'sex_male'}
  assert sum(shares.values()) == pytest.approx(1.0)

  # Women nearly vanish, and the label depends on the group.
  rng = np.random.default_rng(3)
  df = frame(n=2000, seed=3)
  df['sex'] = np.where(rng.random(2000) < 0.03, 'female', 'male')
  df.loc[df.sex == 'female', 'label'] = (rng.random(
      (df.sex == 'female').sum()) < 0.8).astype(int)
  project.write(df, 'train', '2024-01-03')
  project.validate('train', '2024-01-03', *fair)
  found = {r['anomaly_type']: r for r in
           _rows(project, 'anomalies', '2024-01-03', 'representation') +
           _rows(project, 'anomalies', '2024-01-03', 'label_parity')}
  assert set(found) >= {'GROUP_UNDERREPRESENTED', 'GROUP_SHARE_CHANGED',
                        'LABEL_PARITY_GAP_HIGH'}
  assert 'sex=female' in found['GROUP_UNDERREPRESENTED']['description']
  assert found['GROUP_UNDERREPRESENTED']['value'] < 0.05
  assert found['LABEL_PARITY_GAP_HIGH']['value'] > 0.3
  assert found['GROUP_SHARE_CHANGED']['baseline_span'] == '2024-01-02'
