"""Schema registry and the validate job on DirectRunner, data built per anomaly."""

import os

import numpy as np
import pandas as pd
import pytest

from beam_jobs import infer_schema as infer_job
from beam_jobs import schema as schema_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from conftest import make_cfg, run_job, warehouse_rows
from transforms import schemas
from transforms import statistics
from transforms.errors import UserError


def frame(n=1500, seed=0, shift=0.0, countries=('US', 'DE', 'FR', 'IN')):
  rng = np.random.default_rng(seed)
  return pd.DataFrame({
      'age': rng.integers(18, 80, n),
      'income': rng.normal(50_000 + shift * 20_000, 10_000, n).round(2),
      'country': rng.choice(list(countries), n),
      'sex': rng.choice(['female', 'male'], n),
      'label': (rng.random(n) < 0.3).astype(int),
      'user_id': [f'u{seed}-{i}' for i in range(n)],
  })


class Project:
  """A dataset in a temp folder: write spans, run jobs, read the warehouse."""

  def __init__(self, tmp_path):
    self.data = tmp_path / 'data'
    self.store = tmp_path / 'store'
    self.db = str(self.store / 'warehouse.duckdb')

  def overrides(self, split, span, *extra):
    return ['dataset.name=people',
            f'dataset.path={self.data}/' + '${split}/${span}.csv',
            f'split={split}', f'span={span}', f'store.root={self.store}',
            'dataset.label=label', *extra]

  def write(self, df, split, span):
    os.makedirs(self.data / split, exist_ok=True)
    df.to_csv(self.data / split / f'{span}.csv', index=False)

  def stats(self, split, span, *extra):
    return stats_job.run(make_cfg('stats', self.overrides(split, span, *extra)))

  def infer(self, *extra):
    return infer_job.run(make_cfg('infer_schema', [
        'dataset.name=people', f'store.root={self.store}',
        'dataset.label=label', *extra]))

  def validate(self, split, span, *extra):
    return validate_job.run(make_cfg('validate',
                                     self.overrides(split, span, *extra)))

  def schema(self, *extra):
    return schema_job.run(make_cfg('schema', [
        'dataset.name=people', f'store.root={self.store}', *extra]))

  def anomalies(self, where='TRUE'):
    return warehouse_rows(self.db, f'SELECT * FROM anomalies WHERE {where} '
                          f'ORDER BY "check", slice, feature')


@pytest.fixture
def project(tmp_path):
  p = Project(tmp_path)
  p.write(frame(seed=0), 'train', '2024-01-01')
  assert p.stats('train', '2024-01-01') == EXIT_OK
  assert p.infer() == EXIT_OK
  return p


def _types(rows, feature, check='schema', slice_name=''):
  return {r['anomaly_type'] for r in rows if r['feature'] == feature and
          r['check'] == check and r['slice'] == slice_name}


def test_clean_next_span_has_no_error_rows(project):
  project.write(frame(seed=1), 'train', '2024-01-02')
  assert project.validate('train', '2024-01-02') == EXIT_OK
  rows = project.anomalies()
  assert [r for r in rows if r['severity'] == 'ERROR'] == []
  measured = warehouse_rows(project.db, 'SELECT * FROM drift_skew')
  drift = [d for d in measured if d['check'] == 'drift']
  # Every comparable feature is measured, above threshold or not; the id
  # column is not compared, and a row says why (never a silent 0).
  assert {d['feature'] for d in drift if d['slice'] == '' and
          d['value'] is not None} == {'age', 'income', 'country', 'sex',
                                      'label'}
  skipped = [d for d in drift if d['value'] is None]
  # Judged by its values: every user_id is distinct.
  assert [(d['feature'], d['note']) for d in skipped] == [
      ('user_id', 'identifier-like: 100% of its values are distinct (above '
                  'max_unique_ratio 0.5)')]
  assert all(not d['is_anomaly'] and d['baseline_span'] == '2024-01-01'
             for d in drift)
  # The PII scan looked at every string column, the id too, and found none.
  scanned = [d for d in measured if d['check'] == 'pii']
  assert {d['feature'] for d in scanned} == {'user_id', 'country', 'sex'}
  assert all(d['value'] == 0 and not d['is_anomaly'] for d in scanned)


def test_new_category_is_reported_with_the_value_redacted(project):
  df = frame(seed=1)
  df.loc[:200, 'country'] = 'Atlantis'
  project.write(df, 'train', '2024-01-02')
  assert project.validate('train', '2024-01-02') == EXIT_BLOCKING
  rows = project.anomalies("feature = 'country' AND \"check\" = 'schema'")
  assert 'ENUM_TYPE_UNEXPECTED_STRING_VALUES' in {r['anomaly_type']
                                                   for r in rows}
  row = next(r for r in rows
             if r['anomaly_type'] == 'ENUM_TYPE_UNEXPECTED_STRING_VALUES')
  assert row['severity'] == 'ERROR' and row['schema_version'] == 1
  assert 'Atlantis' not in row['description']
  assert '<' + statistics.hash_value('Atlantis') + '>' in row['description']
  # Users who may see raw values can say so.
  assert project.validate('train', '2024-01-02',
                          'privacy.raw_values_in_results=true') == (
                              EXIT_BLOCKING)
  rows = project.anomalies("feature = 'country' AND \"check\" = 'schema'")
  assert any('Atlantis' in r['description'] for r in rows)


def test_missing_column_new_column_and_presence_drop(project):
  df = frame(seed=2).drop(columns=['sex'])
  df['device'] = 'phone'
  df.loc[: len(df) // 2, 'age'] = None
  project.write(df, 'train', '2024-01-02')
  assert project.validate('train', '2024-01-02') == EXIT_BLOCKING
  rows = project.anomalies()
  assert 'SCHEMA_MISSING_COLUMN' in _types(rows, 'sex')
  assert 'SCHEMA_NEW_COLUMN' in _types(rows, 'device')
  assert 'FEATURE_TYPE_LOW_FRACTION_PRESENT' in _types(rows, 'age')


def test_type_change(project):
  df = frame(seed=3)
  df['age'] = 'about ' + df['age'].astype(str)
  project.write(df, 'train', '2024-01-02')
  assert project.validate('train', '2024-01-02') == EXIT_BLOCKING
  types = _types(project.anomalies(), 'age')
  assert any('TYPE' in t for t in types), types


def test_distribution_shift_between_spans_is_drift_per_slice(project):
  df = frame(seed=4, shift=1.5, countries=('US', 'US', 'US', 'DE'))
  project.write(df, 'train', '2024-01-02')
  assert project.validate('train', '2024-01-02',
                          'dataset.slices=[sex]') == EXIT_BLOCKING
  rows = project.anomalies('"check" = \'drift\'')
  # The baseline span has no slices stored, so only the whole span compares.
  assert {(r['feature'], r['anomaly_type']) for r in rows} >= {
      ('income', 'POPULATION_STABILITY_INDEX_HIGH'),
      ('country', 'COMPARATOR_L_INFTY_HIGH')}
  income = next(r for r in rows if r['feature'] == 'income')
  # Past the ERROR tier of the default numeric measure.
  assert income['severity'] == 'ERROR'
  assert income['value'] > income['threshold'] == 0.25
  assert income['baseline_span'] == '2024-01-01'
  # Next span, both sides sliced: drift is found per slice too.
  project.write(frame(seed=5), 'train', '2024-01-03')
  assert project.validate('train', '2024-01-03',
                          'dataset.slices=[sex]') == EXIT_BLOCKING
  rows = project.anomalies("\"check\" = 'drift' AND span = '2024-01-03'")
  assert {'', 'sex_female', 'sex_male'} <= {r['slice'] for r in rows
                                             if r['feature'] == 'income'}


def test_thresholds_from_config_per_feature_and_for_all(project):
  df = frame(seed=6, shift=1.5)
  project.write(df, 'train', '2024-01-02')
  assert project.validate(
      'train', '2024-01-02',
      'drift.features={income: {threshold: null}}') == EXIT_OK
  # PSI is unbounded: income moved 1.5 std devs (PSI ~5).
  assert project.validate('train', '2024-01-02',
                          'drift.numeric_threshold=20') == EXIT_OK
  assert project.validate('train', '2024-01-02') == EXIT_BLOCKING


def test_training_serving_skew_and_serving_environment(project):
  serving = frame(seed=7, shift=1.5).drop(columns=['label'])
  project.write(serving, 'serving', '2024-01-01')
  assert project.validate('serving', '2024-01-01') == EXIT_BLOCKING
  rows = project.anomalies("split = 'serving'")
  assert 'POPULATION_STABILITY_INDEX_HIGH' in _types(
      rows, 'income', check='skew')
  assert {r['baseline_split'] for r in rows if r['check'] == 'skew'} == {
      'train'}
  # The label is absent at SERVING by design: not an anomaly there...
  assert _types(rows, 'label') == set()
  # ...but it is in training data.
  project.write(frame(seed=8).drop(columns=['label']), 'train', '2024-01-02')
  project.validate('train', '2024-01-02')
  assert 'SCHEMA_MISSING_COLUMN' in _types(
      project.anomalies("split = 'train'"), 'label')


def test_rerun_replaces_rows(project):
  df = frame(seed=9)
  df.loc[:100, 'country'] = 'Atlantis'
  project.write(df, 'train', '2024-01-02')
  project.validate('train', '2024-01-02')
  first = project.anomalies()
  project.validate('train', '2024-01-02')
  second = project.anomalies()
  assert len(first) == len(second) > 0
  assert sorted(r['anomaly_id'] for r in first) == sorted(
      r['anomaly_id'] for r in second)
  assert len(warehouse_rows(project.db,
                            "SELECT * FROM runs WHERE job = 'validate'")) == 1
  assert len({r['run_id'] for r in second}) == 1
  # A later stats run of the span replaces its statistics: the report and
  # anomaly protos of the validation before describe statistics that are
  # gone, so they go too.
  span_dir = project.store / 'people' / 'split=train' / 'span=2024-01-02'
  assert (span_dir / 'report.html').exists()
  assert (span_dir / 'anomalies' / 'schema.pb').exists()
  assert project.stats('train', '2024-01-02') == EXIT_OK
  assert not (span_dir / 'report.html').exists()
  assert not (span_dir / 'anomalies').exists()
  assert (span_dir / 'stats.pb').exists()


def test_schema_versions_are_immutable_diffed_proposed_and_promoted(
    project, capsys):
  registry = schemas.SchemaRegistry(str(project.store), 'people')
  v1 = registry.get()
  v1_text = open(v1.schema_path).read()
  df = frame(seed=10)
  df.loc[:100, 'country'] = 'Atlantis'
  project.write(df, 'train', '2024-01-02')
  assert project.stats('train', '2024-01-02') == EXIT_OK
  assert project.schema('action=propose', 'span=2024-01-02') == EXIT_OK
  assert 'proposed v2' in capsys.readouterr().out
  versions = registry.versions()
  assert [(v.version, v.promoted) for v in versions] == [(1, True), (2, False)]
  assert registry.get().version == 1          # not used until promoted
  assert open(v1.schema_path).read() == v1_text  # v1 unchanged
  changes = schemas.diff(versions[0].load(), versions[1].load())
  assert {'feature': 'country', 'change': 'domain',
          'before': {'removed': []}, 'after': {'added': ['Atlantis']}} in changes
  assert project.schema('action=diff', 'schema.version=1',
                        'schema.other=2') == EXIT_OK
  assert "country: domain" in capsys.readouterr().out
  assert project.validate('train', '2024-01-02') == EXIT_BLOCKING
  assert project.schema('action=promote', 'schema.version=2') == EXIT_OK
  assert registry.get().version == 2
  assert project.validate('train', '2024-01-02',
                          'drift.enabled=false') == EXIT_OK
  assert project.validate('train', '2024-01-02', 'schema.version=1',
                          'drift.enabled=false') == EXIT_BLOCKING
  with pytest.raises(UserError, match='already promoted'):
    project.schema('action=promote', 'schema.version=2')
  assert project.infer('schema.note=again') == EXIT_OK
  assert [v.version for v in registry.versions()] == [1, 2, 3]
  assert registry.versions()[2].meta['parent'] == 2


def test_no_schema_is_a_clear_error(tmp_path):
  p = Project(tmp_path)
  p.write(frame(), 'train', '2024-01-01')
  with pytest.raises(UserError, match=r"no promoted schema.*infer_schema"):
    p.validate('train', '2024-01-01')
  assert warehouse_rows(p.db, 'SELECT * FROM runs') == []


def test_exit_codes_from_the_command_line(project):
  project.write(frame(seed=11), 'train', '2024-01-02')
  ok = run_job('validate', *project.overrides('train', '2024-01-02'))
  assert ok.returncode == 0, ok.stderr
  assert 'OK: nothing at or above ERROR' in ok.stdout
  df = frame(seed=12, shift=2)
  df.loc[:50, 'country'] = 'jane.doe@example.com'
  project.write(df, 'train', '2024-01-03')
  bad = run_job('validate', *project.overrides('train', '2024-01-03'))
  assert bad.returncode == 3, bad.stderr
  assert 'BLOCKING' in bad.stdout and 'income' in bad.stdout
  assert 'jane.doe@example.com' not in bad.stdout + bad.stderr
  failed = run_job('validate', *project.overrides('train', '2024-01-04'))
  assert failed.returncode == 1
  assert 'no such file' in failed.stderr.strip().splitlines()[-1]


def test_baselines_follow_dates_and_numbers_not_text_order(tmp_path, capsys):
  """A training snapshot named v9/v10 and daily serving spans: skew is
  computed against the latest training span (v10, not v9), drift of v10
  against v9 (text order put v10 first and '2024-06-01' before 'v9', so
  skew was skipped as if no training data existed)."""
  p = Project(tmp_path)
  p.write(frame(seed=0), 'train', 'v9')
  p.write(frame(seed=1), 'train', 'v10')
  assert p.stats('train', 'v9') == EXIT_OK
  assert p.stats('train', 'v10') == EXIT_OK
  assert p.infer() == EXIT_OK
  source = schemas.SchemaRegistry(str(p.store), 'people').get(None)
  assert 'span=v10' in source.meta['source'], source.meta
  p.write(frame(seed=7, shift=1.5).drop(columns=['label']), 'serving',
          '2024-06-01')
  capsys.readouterr()
  assert p.validate('serving', '2024-06-01') == EXIT_BLOCKING
  out = capsys.readouterr().out
  assert 'skew: compared with train span v10 (the training span computed ' \
         'last' in out, out
  skew = [r for r in p.anomalies("split = 'serving'") if r['check'] == 'skew']
  assert {r['baseline_span'] for r in skew} == {'v10'}
  assert {r['feature'] for r in skew} >= {'income'}
  assert p.validate('train', 'v10') == EXIT_OK
  drift = warehouse_rows(p.db, "SELECT * FROM drift_skew WHERE \"check\" = "
                         "'drift' AND span = 'v10'")
  assert drift and {d['baseline_span'] for d in drift} == {'v9'}
