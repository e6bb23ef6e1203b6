"""The feature_skew job: training and serving rows joined by an identifier."""

import numpy as np
import pandas as pd

from beam_jobs._cli import EXIT_BLOCKING, EXIT_FAILED, EXIT_OK
from conftest import run_job, warehouse_rows


def _frames(n=1000, seed=0):
  rng = np.random.default_rng(seed)
  train = pd.DataFrame({
      'order_id': [f'o{i:05d}' for i in range(n)],
      'amount': rng.normal(50, 10, n).round(2),
      'country': rng.choice(['US', 'DE', 'FR'], n),
      'email': [f'person{i}@mail.test' for i in range(n)],
  })
  return train, train.copy()


def _run(tmp_path, train, serving, *extra):
  data = tmp_path / 'data'
  for split, df in (('train', train), ('serving', serving)):
    (data / split).mkdir(parents=True, exist_ok=True)
    df.to_csv(data / split / '2024-06-01.csv', index=False)
  store = tmp_path / 'store'
  result = run_job('feature_skew', 'dataset.name=shop',
                   f'dataset.path={data}/' + '${split}/${span}.csv',
                   'span=2024-06-01', f'store.root={store}',
                   'feature_skew.identifiers=[order_id]', *extra)
  return result, str(store / 'warehouse.duckdb')


def test_same_rows_on_both_sides_are_clean(tmp_path):
  train, serving = _frames()
  serving = serving.sample(frac=1.0, random_state=1)  # order does not matter
  result, db = _run(tmp_path, train, serving)
  assert result.returncode == EXIT_OK, result.stderr
  assert 'joined:     1,000 pairs' in result.stdout
  rows = warehouse_rows(db, """SELECT feature, metric, value FROM drift_skew
                               WHERE "check" = 'feature_skew'""")
  assert {r['feature'] for r in rows if r['metric'] == 'MISMATCH_RATE'} == {
      'amount', 'country', 'email'}
  assert all(r['value'] == 0 for r in rows)


def test_serving_computes_a_feature_differently(tmp_path):
  train, serving = _frames()
  # The serving path rounds amounts to whole units for a tenth of orders,
  # and a twentieth of serving orders never reached training.
  serving.loc[::10, 'amount'] = serving.loc[::10, 'amount'].round(0) + 0.5
  serving.loc[::20, 'order_id'] = [f'x{i}' for i in range(50)]
  serving.loc[::20, 'email'] = 'someone.private@mail.test'
  result, db = _run(tmp_path, train, serving,
                    'feature_skew.unmatched_threshold=0.04')
  assert result.returncode == EXIT_BLOCKING, result.stderr
  found = {(r['feature'], r['anomaly_type']): r for r in warehouse_rows(
      db, """SELECT * FROM anomalies WHERE "check" = 'feature_skew'""")}
  assert set(found) == {('amount', 'FEATURE_SKEW_MISMATCH'),
                        ('', 'FEATURE_SKEW_UNMATCHED_SERVING'),
                        ('', 'FEATURE_SKEW_UNMATCHED_TRAINING')}
  amount = found[('amount', 'FEATURE_SKEW_MISMATCH')]
  # 100 rounded, half of them (every 20th row) no longer join: 50 of 950
  assert amount['value'] == 50 / 950
  assert amount['severity'] == 'ERROR'
  assert 'For example, id sha256:' in amount['description']
  unmatched = found[('', 'FEATURE_SKEW_UNMATCHED_SERVING')]
  assert unmatched['value'] == 0.05 and unmatched['severity'] == 'WARNING'
  # samples are hashed: no raw id or value in results or logs
  blob = result.stdout + result.stderr + str(found)
  for raw in ('o00010', 'someone.private', 'x1'):
    assert raw not in blob


def test_missing_identifier_is_one_line(tmp_path):
  train, serving = _frames(50)
  result, _ = _run(tmp_path, train, serving,
                   'feature_skew.identifiers=[customer_id]')
  assert result.returncode == EXIT_FAILED
  assert result.stderr.strip().splitlines()[-1] == (
      "feature_skew: error: feature_skew.identifiers: no column "
      f"'customer_id' in '{tmp_path}/data/train/2024-06-01.csv' (Training)")
