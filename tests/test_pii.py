"""PII detection: patterns, the Luhn check, and a validate run on planted PII
whose raw values must not appear in any output, log, report or warehouse row."""

import json
import os

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from conftest import run_job
from transforms.checks import pii

PLANTED = {
    'email': 'jane.doe@example.com',
    'phone': '415-555-0100',
    'card': '4111 1111 1111 1111',
    'ssn': '078-05-1120',
    'ip': '192.168.10.77',
    'allowed': 'sales@shop.example',
}


def test_luhn_and_patterns():
  assert pii.luhn_ok('4111 1111 1111 1111')
  assert pii.luhn_ok('5500-0000-0000-0004')
  assert not pii.luhn_ok('4111 1111 1111 1112')
  assert not pii.luhn_ok('1234567812345670')  # passes Luhn, no card prefix
  counts = pii.scan_values(pa.array([
      'mail me: a.b@x.org', '+44 20 7946 0958', '(415) 555 0100',
      'card 4111-1111-1111-1111', 'card 4111-1111-1111-1112', '078-05-1120',
      'from 10.0.0.1 today', None]))
  assert counts[pii.SCANNED] == 7
  assert counts['EMAIL'] == 1 and counts['PHONE'] == 2
  assert counts['PAYMENT_CARD'] == 1 and counts['US_SSN'] == 1
  assert counts['IP_ADDRESS'] == 1


def test_pii_in_one_stretch_of_a_batch_is_sampled_in_proportion():
  """A batch larger than the sample: PII in its first 30% of rows (a log
  format that changed at some hour) shows as about 30%, the same each run."""
  values = [f'user{i}@example.com' if i < 3_000 else f'code-{i}'
            for i in range(10_000)]
  batch = pa.RecordBatch.from_arrays(
      [pa.array([[v] for v in values], pa.list_(pa.binary()))], ['contact'])
  runs = []
  for _ in range(3):
    counts = dict(pii._ScanBatchFn(1000).process(batch))  # pylint: disable=protected-access
    runs.append(counts)
  assert runs[0] == runs[1] == runs[2]
  assert runs[0][('contact', pii.SCANNED)] == 1000
  assert abs(runs[0][('contact', 'EMAIL')] - 300) <= 1


def test_ordinary_values_are_not_pii():
  rng = np.random.default_rng(0)
  values = ([f'u{i:09d}' for i in range(200)] +          # ids
            [f'2024-06-{d:02d} 12:30:45' for d in range(1, 29)] +  # times
            [str(x) for x in rng.integers(10**9, 10**10, 200)] +  # numbers
            ['Craftsmen, Foremen_and_kindred', 'north_east', '1.5.2'])
  counts = pii.scan_values(pa.array(values))
  assert {k: v for k, v in counts.items() if k != pii.SCANNED and v} == {}


def _frame(n, seed, with_pii):
  rng = np.random.default_rng(seed)
  df = pd.DataFrame({
      'country': rng.choice(['US', 'DE', 'FR'], n),
      'score': rng.normal(0, 1, n).round(3),
      'email': [f'user{i}@mail{i % 7}.test' for i in range(n)],
      'notes': rng.choice(['ok', 'late delivery', 'refund asked'], n),
      'payment': [f'order {i}' for i in range(n)],
      'contact': rng.choice(['a', 'b'], n),
  })
  if with_pii:
    df.loc[:40, 'email'] = PLANTED['email']  # frequent: would be a top value
    df.loc[::10, 'notes'] = f'call me at {PLANTED["phone"]}'
    df.loc[::25, 'payment'] = f'paid with {PLANTED["card"]}'
    df.loc[::30, 'notes'] = f'ssn {PLANTED["ssn"]} from {PLANTED["ip"]}'
    df['contact'] = PLANTED['allowed']
  return df


def test_planted_pii_is_flagged_and_never_written(tmp_path):
  data = tmp_path / 'data'
  data.mkdir()
  _frame(2000, 0, with_pii=False).drop(columns=['email']).to_csv(
      data / '2024-01-01.csv', index=False)
  _frame(2000, 1, with_pii=True).to_csv(data / '2024-01-02.csv', index=False)
  store = tmp_path / 'store'
  common = ['dataset.name=shop', f'dataset.path={data}/' + '${span}.csv',
            f'store.root={store}', 'pii.allowed_features=[contact]']
  outputs = [run_job('stats', *common, 'span=2024-01-01'),
             run_job('infer_schema', 'dataset.name=shop',
                     f'store.root={store}'),
             run_job('validate', *common, 'span=2024-01-02')]
  assert [o.returncode for o in outputs] == [EXIT_OK, EXIT_OK, EXIT_BLOCKING], (
      outputs[-1].stderr)
  con = duckdb.connect(str(store / 'warehouse.duckdb'), read_only=True)
  found = con.execute(
      """SELECT feature, anomaly_type, value FROM anomalies
         WHERE "check" = 'pii' ORDER BY feature, anomaly_type""").fetchall()
  assert [(f, t) for f, t, _ in found] == [
      ('email', 'PII_EMAIL'), ('notes', 'PII_IP_ADDRESS'),
      ('notes', 'PII_PHONE'), ('notes', 'PII_US_SSN'),
      ('payment', 'PII_PAYMENT_CARD')]
  shares = {(f, t): v for f, t, v in found}
  assert shares[('email', 'PII_EMAIL')] == 1.0
  assert 0.02 < shares[('payment', 'PII_PAYMENT_CARD')] < 0.06  # 1 in 25
  # The allowed feature is measured but not flagged; clean ones stay clean.
  contact = con.execute("""SELECT max(value) FROM drift_skew WHERE "check" =
      'pii' AND feature = 'contact' AND metric = 'EMAIL_SHARE'""").fetchone()
  assert contact[0] == 1.0

  # No planted value anywhere: logs, every text of every table, the report,
  # the stored counts and run records.
  texts = [o.stdout + o.stderr for o in outputs]
  for (table,) in con.execute('SHOW TABLES').fetchall():
    texts += [str(row) for row in con.execute(
        f'SELECT * FROM {table}').fetchall()]
  con.close()
  span_dir = store / 'shop' / 'split=train' / 'span=2024-01-02'
  for name in ('report.html', 'pii.json', 'run.json'):
    texts.append((span_dir / name).read_text())
  # Counts only: a sample of 1,000 values of the one 2,000-row batch.
  assert json.loads((span_dir / 'pii.json').read_text())['email'] == {
      pii.SCANNED: 1000, 'EMAIL': 1000, 'IP_ADDRESS': 0, 'PAYMENT_CARD': 0,
      'PHONE': 0, 'US_SSN': 0}
  blob = '\n'.join(texts)
  for kind, value in PLANTED.items():
    assert value not in blob, kind
  # The frequent email is in the statistics history only as a hash.
  assert 'sha256:' in blob
  assert os.path.exists(span_dir / 'stats.pb')
