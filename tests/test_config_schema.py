"""The typed config schema (settings/schema.py): composition refuses a wrong
type or an unknown key and the job says so in one line naming the key."""

import os

from hydra.errors import ConfigCompositionException
import pytest

from beam_jobs import _cli
from conftest import make_cfg, run_job

COMMON = ['dataset=nlsy_wages', 'span=1980']


@pytest.mark.parametrize('job, override, line', [
    ('stats', 'stats.batch_size=abc',
     "stats: error: stats.batch_size=abc: Value 'abc' of type 'str' could "
     "not be converted to Integer"),
    ('stats', 'stats.bacth_size=10',
     'stats: error: stats.bacth_size: no such key'),
    ('validate', 'drift.numeric_threshold=high',
     "validate: error: drift.numeric_threshold=high: Value 'high' of type "
     "'str' could not be converted to Float"),
    ('validate', 'pii.severity=LOUD',
     "validate: error: pii.severity=LOUD: Invalid value 'LOUD', expected one "
     "of [INFO, WARNING, ERROR]"),
    ('stats', 'dataset.csv.header=maybe',
     "stats: error: dataset.csv.header=maybe: Value 'maybe' is not a valid "
     "bool"),
    ('stats', 'runner=dataflow runner.num_workers=x',
     'stats: error: runner.num_workers=x: Value'),
])
def test_wrong_type_or_unknown_key_is_one_line_naming_the_key(
    tmp_path, job, override, line):
  result = run_job(job, *COMMON, f'store.root={tmp_path}', *override.split())
  assert result.returncode == _cli.EXIT_FAILED
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith(line), lines[0]
  assert not (tmp_path / 'nlsy_wages').exists()


@pytest.mark.parametrize('job, override, key', [
    ('stats', 'stats.batch_size=abc', 'stats.batch_size'),
    ('stats', 'dataset.nmae=x', 'dataset.nmae'),
    ('validate', 'skew.min_slice_examples=1.5', 'skew.min_slice_examples'),
    ('validate', 'runner=dataflow', None),
    ('feature_skew', 'feature_skew.sample_size=many',
     'feature_skew.sample_size'),
    ('report', 'compare.spam=1980', 'compare.spam'),
    ('infer_schema', 'schema.promote=perhaps', 'schema.promote'),
    ('schema', 'schema.version=latest', 'schema.version'),
])
def test_composition_itself_refuses_the_value(job, override, key):
  if key is None:  # a group option with its own schema composes
    cfg = make_cfg(job, COMMON + [override, 'runner.num_workers=3'])
    assert cfg.runner.num_workers == 3
    with pytest.raises(ConfigCompositionException):
      make_cfg(job, COMMON + [override, 'runner.num_workers=three'])
    return
  with pytest.raises(ConfigCompositionException) as e:
    make_cfg(job, COMMON + [override])
  message = _cli.composition_error(e.value)
  assert message.startswith(key), message
  assert '\n' not in message


def test_every_job_config_composes_with_its_defaults():
  for job in ('stats', 'validate', 'report', 'infer_schema', 'schema',
              'feature_skew'):
    cfg = make_cfg(job, COMMON)
    assert cfg.job == job
    assert cfg.span == '1980'  # typed: a span is text, even when it is a year
    assert isinstance(cfg.stats.batch_size, int)


def test_a_job_parses_its_config_once_into_frozen_settings(tmp_path):
  """settings.job.parse: typed, frozen, and picklable (a run that finishes
  on a Dataflow worker takes it along)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  import pickle  # pylint: disable=g-import-not-at-top
  from settings import job as job_settings  # pylint: disable=g-import-not-at-top
  from transforms.io import sources  # pylint: disable=g-import-not-at-top
  cfg = make_cfg('validate', [
      'dataset.name=shop', f'dataset.path={tmp_path}/${{span}}.csv',
      'span=2024-06-02', f'store.root={tmp_path}/store',
      'drift.numeric_threshold=0.2'])
  settings = job_settings.parse(cfg, 'validate')
  assert isinstance(settings.stats_pass.dataset, sources.DatasetSpec)
  assert settings.stats_pass.dataset.path == f'{tmp_path}/2024-06-02.csv'
  assert settings.key == {'dataset': 'shop', 'split': 'train',
                          'span': '2024-06-02'}
  assert settings.checks.drift.numeric_threshold == 0.2
  assert settings.sink.path == os.path.abspath(
      f'{tmp_path}/store/warehouse.duckdb')
  assert settings.config['drift']['numeric_threshold'] == 0.2
  with pytest.raises(dataclasses.FrozenInstanceError):
    settings.store_root = '/elsewhere'  # pylint: disable=assigning-non-slot
  with pytest.raises(dataclasses.FrozenInstanceError):
    settings.checks.fail_on = 'INFO'  # pylint: disable=assigning-non-slot
  again = pickle.loads(pickle.dumps(settings))
  assert again.stats_pass == settings.stats_pass
  assert again.checks == settings.checks
