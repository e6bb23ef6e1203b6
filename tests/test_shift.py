"""The shift check end to end: what the statistics pass keeps (label by bucket,
row sample) and the diagnosis validate writes, on synthetic data where we
know which distribution moved and on a real dataset with a planted concept
shift. The models themselves are tested in tests/test_shift_model.py."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hydra.errors import ConfigCompositionException
import pytest

import corpus
from beam_jobs import _cli
from beam_jobs._cli import EXIT_OK
from conftest import warehouse_rows
from test_validate_job import Project
from transforms import arrow_types
from transforms.io import artifacts
from transforms.checks import shift
from transforms.checks import shift_stats
from transforms import statistics
from transforms.errors import UserError


def scenario(n, seed, moved=None):
  """x1, x2, a text feature c and a 0/1 label from a logistic model.

  moved: None, 'covariate' (x1's mean +1, same P(y|x)), 'concept' (x1's
  effect on the label reversed, same P(x)) or 'label' (the label's prior
  from ~30% to ~55%, P(x|y) the same: rows drawn per class)."""
  rng = np.random.default_rng(seed)

  def draw(m, x_shift=0.0, sign=1.0):
    x1 = rng.normal(x_shift, 1, m)
    x2 = rng.normal(0, 1, m)
    c = rng.choice(['a', 'b', 'c'], m)
    logit = sign * 1.5 * x1 - 1.0 * x2 + (c == 'a') * 0.8 - 1
    y = (rng.random(m) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({'x1': x1.round(4), 'x2': x2.round(4), 'c': c,
                         'label': y})

  if moved == 'label':
    pool = draw(n * 4)
    pos, neg = pool[pool.label == 1], pool[pool.label == 0]
    k = int(n * 0.55)
    return pd.concat([pos.iloc[:k], neg.iloc[:n - k]]).sample(
        frac=1, random_state=seed).reset_index(drop=True)
  return draw(n, x_shift=1.0 if moved == 'covariate' else 0.0,
              sign=-1.0 if moved == 'concept' else 1.0)


def _rounded(value):
  if isinstance(value, float):
    return round(value, 6)
  if isinstance(value, list):
    return [_rounded(v) for v in value]
  if isinstance(value, dict):
    return {k: _rounded(v) for k, v in value.items()}
  return value


def _batch(df):
  return arrow_types.table_to_tfdv(pa.Table.from_pandas(df,
                                                        preserve_index=False))


# ----------------------------------------------------------------------------
# What the pass keeps


def test_label_by_bucket_counts_equal_pandas_and_do_not_depend_on_batching():
  df = scenario(6000, 0)
  fn = shift_stats.LabelByBucketFn('label', {'x1': 'number', 'c': 'text'},
                                   ['c'], max_values=50)
  whole = json.loads(fn.extract_output(
      fn.add_input(fn.create_accumulator(), _batch(df))))
  parts = [fn.add_input(fn.create_accumulator(), _batch(df.iloc[i:i + 1000]))
           for i in range(0, len(df), 1000)]
  merged = json.loads(fn.extract_output(fn.merge_accumulators(parts)))
  # The same buckets and counts (sums of the label equal up to rounding).
  assert _rounded(merged) == _rounded(whole)
  overall = whole['slices']['']
  assert dict(map(tuple, overall['classes'])) == (
      df.label.value_counts().to_dict())
  by_c = {(b, c): n for b, c, n in overall['features']['c']['counts']}
  expected = df.groupby(['c', 'label']).size().to_dict()
  assert by_c == expected
  # Slices are named as TFDV names them (c_a, c_b, c_c) and count their rows.
  assert {k: v['n'] for k, v in whole['slices'].items() if k} == {
      f'c_{k}': v for k, v in df.c.value_counts().items()}
  # Numbers: every row lands in one fine bucket, and the bucket holds it.
  x_counts = overall['features']['x1']['counts']
  assert sum(n for _, _, n in x_counts) == len(df)
  code = int(shift_stats.number_buckets(np.array([df.x1[0]]))[0])
  low, high = shift_stats.bucket_bounds(code)
  assert low <= df.x1[0] < high or high <= df.x1[0] < low or (
      low <= df.x1[0] <= high)


def test_text_feature_with_too_many_values_is_marked_not_bucketed():
  df = scenario(3000, 1)
  df['user'] = [f'u{i}' for i in range(len(df))]
  fn = shift_stats.LabelByBucketFn('label', {'user': 'text'}, [], 50)
  out = json.loads(fn.extract_output(
      fn.add_input(fn.create_accumulator(), _batch(df))))
  user = out['slices']['']['features']['user']
  assert user['overflow'] and user['counts'] == []


def test_row_sample_is_the_same_rows_whatever_the_batching():
  df = scenario(20_000, 2)
  fn = shift_stats.RowSampleFn(['x1', 'c', 'label'], 2000)
  whole = fn.extract_output(fn.add_input(None, _batch(df)))
  parts = [fn.add_input(None, _batch(df.iloc[i:i + 3000]))
           for i in range(0, len(df), 3000)]
  merged = fn.extract_output(fn.merge_accumulators(parts[::-1]))
  assert whole.num_rows == 2000 and whole.equals(merged)
  # Uniform: the sample's label rate and x1 mean match the data's.
  sample = whole.to_pandas()
  assert abs(sample.label.mean() - df.label.mean()) < 0.04
  assert abs(sample.x1.mean() - df.x1.mean()) < 0.08


def test_row_sample_of_a_wide_table_fits_its_byte_budget():
  """shift.sample_size rows on a narrow table; on the benchmark's 500-column
  table (400 numbers, 100 texts) as many rows as fit 64 MiB of values."""
  narrow = {('n%d' % i,): 'float' for i in range(13)}
  narrow.update({('t%d' % i,): 'string' for i in range(6)})
  assert shift_stats.sample_rows(50_000, [k[0] for k in narrow], narrow) == (
      50_000)
  wide = {('n%d' % i,): 'float' for i in range(400)}
  wide.update({('t%d' % i,): 'string' for i in range(100)})
  rows = shift_stats.sample_rows(50_000, [k[0] for k in wide], wide)
  assert rows == (64 << 20) // (400 * 8 + 100 * 24) == 11_983
  assert shift_stats.sample_rows(0, [k[0] for k in wide], wide) == 0


def test_deciles_of_the_baseline_hold_a_tenth_each():
  rng = np.random.default_rng(3)
  df = pd.DataFrame({'x': rng.lognormal(3, 1, 50_000),
                     'label': rng.integers(0, 2, 50_000)})
  fn = shift_stats.LabelByBucketFn('label', {'x': 'number'}, [], 50)
  out = json.loads(fn.extract_output(
      fn.add_input(fn.create_accumulator(), _batch(df))))
  feature = out['slices']['']['features']['x']
  buckets = shift.feature_buckets(feature, feature)
  shares = [b.n_base / len(df) for b in buckets if b.name != 'missing']
  assert len(shares) == 10
  assert all(abs(s - 0.1) < 0.01 for s in shares), shares


# ----------------------------------------------------------------------------
# The validate job


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A store holding the training span's statistics and a schema."""
  p = Project(tmp_path_factory.mktemp('shift'))
  p.write(scenario(12_000, 10), 'train', '2024-01-01')
  assert p.stats('train', '2024-01-01') == EXIT_OK
  assert p.infer() == EXIT_OK
  return p


def _diagnoses(p, span):
  return warehouse_rows(
      p.db, f"SELECT anomaly_type, feature, description, baseline_split "
      f"FROM anomalies WHERE \"check\" = 'shift' AND span = '{span}' "
      f"AND feature = ''")


@pytest.mark.parametrize('moved, expected', [
    (None, []),
    ('covariate', ['COVARIATE_SHIFT']),
    ('label', ['LABEL_SHIFT']),
    ('concept', ['CONCEPT_SHIFT']),
])
def test_validate_tells_the_kind_of_shift(trained, moved, expected):
  span = f'2024-02-0{[None, "covariate", "label", "concept"].index(moved) + 1}'
  trained.write(scenario(12_000, 20, moved), 'serving', span)
  # Against the training data only (skew); drift would compare with the
  # serving span of the previous case.
  trained.validate('serving', span, 'drift.enabled=false')
  found = _diagnoses(trained, span)
  assert [r['anomaly_type'] for r in found] == expected
  assert all(r['baseline_split'] == 'train' for r in found)
  rows = warehouse_rows(
      trained.db, f"SELECT feature, metric, value, is_anomaly FROM drift_skew "
      f"WHERE \"check\" = 'shift' AND span = '{span}' AND slice = ''")
  metrics = {(r['feature'], r['metric']): r for r in rows}
  # The numbers behind the verdict are rows.
  assert ('', 'DOMAIN_CLASSIFIER_AUC') in metrics
  assert ('label', 'LABEL_SHARE_L_INFTY') in metrics
  assert ('x1', 'CONDITIONAL_LABEL_CHANGE') in metrics
  auc = metrics[('', 'DOMAIN_CLASSIFIER_AUC')]
  if moved != 'label':  # label shift moves P(x) only as much as P(y)
    assert auc['is_anomaly'] == (moved == 'covariate')
  if moved == 'concept':
    # Located: within the same x1 buckets the label rate moved.
    located = warehouse_rows(
        trained.db, f"SELECT feature, description FROM anomalies WHERE "
        f"\"check\" = 'shift' AND span = '{span}' AND "
        f"anomaly_type = 'CONDITIONAL_LABEL_CHANGE'")
    assert [r['feature'] for r in located][:1] == ['x1']
    assert 'within the same buckets of x1 the rate of label=1' in (
        located[0]['description'])
    page = (trained.store / 'people' / 'split=serving' / f'span={span}' /
            'report.html').read_text()
    assert 'id="shift"' in page and 'concept shift' in page
    assert 'x1: label per bucket' in page


def test_the_training_data_itself_as_serving_data_is_no_shift(trained):
  """The same rows on both sides: the label model must not take its own
  training rows' better fit for a change of P(y|x)."""
  trained.write(scenario(12_000, 10), 'serving', '2024-02-09')
  trained.validate('serving', '2024-02-09', 'drift.enabled=false')
  assert _diagnoses(trained, '2024-02-09') == []


def test_serving_without_labels_gets_the_covariate_part_and_says_so(
    trained, capsys):
  df = scenario(12_000, 30, 'covariate').drop(columns=['label'])
  trained.write(df, 'serving', '2024-03-01')
  trained.validate('serving', '2024-03-01', 'drift.enabled=false')
  found = _diagnoses(trained, '2024-03-01')
  assert [r['anomaly_type'] for r in found] == ['COVARIATE_SHIFT']
  out = capsys.readouterr().out
  assert ('shift (skew): covariate part only; telling label and concept '
          'shift apart needs labels on both sides') in out


def test_the_sample_keeps_hashed_features_hashed(trained):
  trained.write(scenario(3000, 40), 'serving', '2024-04-01')
  trained.validate('serving', '2024-04-01', 'drift.enabled=false',
                   'privacy.hashed_features=[c]',
                   'privacy.salt=pepper')
  folder = trained.store / 'people' / 'split=serving' / 'span=2024-04-01'
  sample = pq.read_table(folder / artifacts.SAMPLE_FILE).to_pandas()
  assert len(sample) == 3000
  assert set(sample.c) == {statistics.hash_value(v, 'pepper')
                           for v in 'abc'}
  buckets = json.loads((folder / artifacts.SHIFT_FILE).read_text())
  keys = {b for b, _, _ in buckets['slices']['']['features']['c']['counts']}
  assert not keys & {'a', 'b', 'c'}


def _train_then_serve(tmp_path, train, serve, label):
  """Statistics and a schema of ``train``, then ``serve`` validated (span
  2024-01-01 of both splits) with ``label`` as dataset.label."""
  p = Project(tmp_path)
  extra = [f'dataset.label={label}']
  p.write(train, 'train', '2024-01-01')
  assert p.stats('train', '2024-01-01', *extra) == EXIT_OK
  assert p.infer(*extra) == EXIT_OK
  p.write(serve, 'serving', '2024-01-01')
  p.validate('serving', '2024-01-01', *extra)
  return p


def test_planted_concept_shift_in_real_data_is_found(tmp_path):
  """diamonds (53,940 real stones), split at random into a training and a
  serving half; in the serving half stones of the best colours (D, E) now
  sell for 40% less: P(price | x) moved, P(x) did not."""
  df = corpus.load('diamonds')
  rng = np.random.default_rng(7)
  serving = rng.random(len(df)) < 0.5
  train, serve = df[~serving].copy(), df[serving].copy()
  best = serve.color.isin(['D', 'E'])
  serve.loc[best, 'price'] = (serve.loc[best, 'price'] * 0.6).round()
  p = _train_then_serve(tmp_path, train, serve, 'price')
  found = _diagnoses(p, '2024-01-01')
  assert [r['anomaly_type'] for r in found] == ['CONCEPT_SHIFT']
  located = warehouse_rows(
      p.db, "SELECT feature FROM anomalies WHERE \"check\" = 'shift' AND "
      "anomaly_type = 'CONDITIONAL_LABEL_CHANGE'")
  assert 'color' in [r['feature'] for r in located]


@pytest.mark.parametrize('override, message', [
    ('shift.sample_size=-1', 'shift.sample_size=-1: expected a whole number'),
    ('shift.max_domain_auc=0.3', 'shift.max_domain_auc=0.3: expected a '
     'number in [0.5, 1]'),
])
def test_bad_shift_config_is_one_line_naming_the_key(trained, override,
                                                     message):
  with pytest.raises(UserError) as e:
    trained.validate('serving', '2024-05-01', override)
  assert str(e.value).startswith(message) and '\n' not in str(e.value)


def test_planted_concept_shift_in_a_real_0_1_label_is_found_by_the_model(
    tmp_path):
  """diamonds again, with a 0/1 label: expensive = price above 5,000. In the
  serving half the best colours (D, E, F: half the stones) count as
  expensive from 2,500 on: P(y|x) moved in one region (~10% of the rows).
  The label model must call it concept shift, not label shift (P(y) moved
  too) nor covariate shift (P(x) did not)."""
  df = corpus.load('diamonds')
  rng = np.random.default_rng(8)
  serving = rng.random(len(df)) < 0.5
  df['expensive'] = (df.price > 5000).astype(int)
  train, serve = df[~serving].drop(columns=['price']), df[serving].copy()
  best = serve.color.isin(['D', 'E', 'F'])
  serve.loc[best, 'expensive'] = (serve.loc[best, 'price'] > 2500).astype(int)
  serve = serve.drop(columns=['price'])
  p = _train_then_serve(tmp_path, train, serve, 'expensive')
  assert [r['anomaly_type'] for r in _diagnoses(p, '2024-01-01')] == [
      'CONCEPT_SHIFT']
  model = {r['metric']: r for r in warehouse_rows(
      p.db, "SELECT metric, value, is_anomaly FROM drift_skew WHERE "
      "\"check\" = 'shift' AND slice = '' AND feature = 'expensive'")}
  assert model['CALIBRATION_CHANGE']['is_anomaly']
  assert model['CALIBRATION_CHANGE_PRIOR_CORRECTED']['is_anomaly']
  auc = warehouse_rows(p.db, "SELECT value, is_anomaly FROM drift_skew WHERE "
                       "metric = 'DOMAIN_CLASSIFIER_AUC'")
  assert [r['is_anomaly'] for r in auc] == [False]


@pytest.mark.parametrize('name', ['digits', 'breast_cancer', 'diamonds',
                                  'penguins', 'weather', 'planes'])
def test_random_halves_of_real_data_give_no_shift(name):
  """Real datasets split at random: nothing moved, so no verdict and no
  measurement past its threshold and its noise test, in 5 splits each
  (with the label, where the dataset has one; 5,000-row samples)."""
  label = corpus.entry(name).get('label')
  raw = corpus.to_arrow(name)
  table = pa.table({n: arrow_types.cast_column(
      raw.column(n), arrow_types.read_type(raw.column(n).type))
                    for n in raw.column_names})
  kinds = arrow_types.feature_kinds(table.schema)
  columns = shift_stats.sample_columns(table.schema, kinds)
  spec = shift.ShiftSpec()
  buckets = shift_stats.feature_kinds_for_buckets(
      [c for c in columns if c != label], kinds)
  verdicts, flagged, measured = [], [], set()
  for seed in range(5):
    mask = np.random.default_rng(seed).random(table.num_rows) < 0.5
    sides = []
    for part in (table.filter(pa.array(mask)), table.filter(pa.array(~mask))):
      batch = arrow_types.table_to_tfdv(part)
      counts = None
      if label:
        fn = shift_stats.LabelByBucketFn(label, buckets, [], spec.max_values)
        counts = json.loads(fn.extract_output(
            fn.add_input(fn.create_accumulator(), batch)))
      sampler = shift_stats.RowSampleFn(columns, 5000)
      sides.append((counts, sampler.extract_output(
          sampler.add_input(None, batch))))
    (base, base_sample), (cur, cur_sample) = sides
    anomalies, measurements, _, _ = shift.check(
        'drift', {'split': 'x', 'span': str(seed)}, label, cur, base,
        cur_sample, base_sample,
        shift.model_features(cur_sample, label, spec), spec)
    verdicts += [a['anomaly_type'] for a in anomalies]
    flagged += [(m['feature'], m['metric'], m['value']) for m in measurements
                if m['is_anomaly']]
    measured |= {m['metric'] for m in measurements if m['value'] is not None}
  assert verdicts == [] and flagged == []
  # ... and it did look: the domain classifier always, the label's parts
  # where there is a label.
  assert 'DOMAIN_CLASSIFIER_AUC' in measured
  if label:
    assert measured & {'LABEL_SHARE_L_INFTY', 'LABEL_MEAN_CHANGE'}
  if label and table.num_rows >= 2000:  # deciles of >= 100 rows a side
    assert 'CONDITIONAL_LABEL_CHANGE' in measured


def test_shift_severity_is_a_typed_choice(trained):
  # Refused at composition (settings/schema.py), naming the key and choices.
  with pytest.raises(ConfigCompositionException) as e:
    trained.validate('serving', '2024-05-01', 'shift.severity=LOUD')
  assert _cli.composition_error(e.value) == (
      "shift.severity=LOUD: Invalid value 'LOUD', expected one of "
      "[INFO, WARNING, ERROR]")


def test_models_leave_out_ids_by_their_values_never_by_their_names():
  """flights_nested: the row number ``id`` is left out of the domain
  classifier and the label model; ``air_time``, ``dep_time`` (named like
  times) and ``flight`` (named like nothing, a number that repeats) are in."""
  table = pa.Table.from_pandas(
      corpus.load('flights_nested')[['id', 'air_time', 'dep_time', 'flight',
                                     'dep_delay']], preserve_index=False)
  used = shift.model_features(table, 'dep_delay', shift.ShiftSpec())
  assert used == ['air_time', 'dep_time', 'flight']
  # Renamed, the row number is still an id, and an id-like name changes
  # nothing for a column whose values repeat.
  renamed = table.rename_columns(['row', 'air_time', 'dep_time', 'flight_id',
                                  'dep_delay'])
  assert shift.model_features(renamed, 'dep_delay', shift.ShiftSpec()) == [
      'air_time', 'dep_time', 'flight_id']
