"""The default drift check on real drifts (tests/corpus/drift_cases.csv).

Every case is a real change between two subsets of a real dataset (seasons,
decades, airports, species, grades, classes), measured by the validate job's
drift check with the defaults of conf/validate.yaml. The random halves, the
no-drift side of the calibration, are in tests/test_corpus.py. The table in
the README comes from scripts/calibrate_drift.py on the same cases.
"""

import re

import pytest

import drift_corpus
from settings import config


@pytest.fixture(scope='module')
def results():
  cfg = drift_corpus.validate_cfg()
  return drift_corpus.case_results(config.comparison_spec(cfg, 'drift'), cfg)


def _by_case(results):
  return {r['case']['case']: r for r in results}


def test_the_corpus_has_30_real_drifts_with_a_reason(results):
  drifts = drift_corpus.cases('drift')
  assert len(drifts) >= 30
  assert len({(c['dataset'], c['feature']) for c in drifts}) >= 30
  assert all(c['why'] for c in drift_corpus.cases())
  # Every case was measured: no feature left out, no value missing.
  assert all(r['measured'] is not None and r['measured']['value'] is not None
             for r in results), [r['case']['case'] for r in results
                                 if not r['measured'] or
                                 r['measured']['value'] is None]


def test_defaults_catch_nine_real_drifts_in_ten(results):
  drifts = [r for r in results if r['case']['label'] == 'drift']
  caught = [r for r in drifts if r['anomalies']]
  missed = [(r['case']['case'], r['measured']['metric'],
             round(r['measured']['value'], 4)) for r in drifts
            if not r['anomalies']]
  assert len(caught) / len(drifts) >= 0.9, missed
  # Every anomaly is a WARNING or an ERROR, by the tier its value reached.
  for r in caught:
    for a in r['anomalies']:
      spec_error = a['value'] > a['threshold']
      assert a['severity'] in ('WARNING', 'ERROR') and spec_error


def test_the_issues_delay_case_is_flagged(results):
  """January against July departure delays: the mean doubled, and the old
  default (Jensen-Shannon 0.1) measured 0.037: no anomaly."""
  delay = _by_case(results)['flights_delay_jan_jul']
  assert delay['measured']['metric'] == 'PSI'
  assert delay['measured']['value'] > 0.075
  assert [(a['anomaly_type'], a['severity'], a['threshold'])
          for a in delay['anomalies']] == [
              ('POPULATION_STABILITY_INDEX_HIGH', 'WARNING', 0.075)]
  # A large shift reaches the ERROR tier: winter against summer.
  temp = _by_case(results)['weather_temp_jan_jul']
  assert [(a['severity'], a['threshold']) for a in temp['anomalies']] == [
      ('ERROR', 0.25)]


def test_an_ordered_integer_on_a_small_span_is_not_called_noise(results):
  """Air quality, May against July: 31 daily temperatures a side, compared
  by value shares (at most 50 values). No single degree's share moves
  beyond noise; the decile bins do (every July day is warmer than May's
  median)."""
  temp = _by_case(results)['airquality_temp_may_jul']
  assert temp['measured']['metric'] == 'L_INFTY'
  # no noise note; the note says the change in degrees
  assert 'within sampling noise' not in (temp['measured']['note'] or '')
  assert 'mean 65.5 -> 83.9' in temp['measured']['note']
  assert [a['severity'] for a in temp['anomalies']] == ['ERROR']


def test_subsets_that_do_not_differ_raise_no_error(results):
  """Real subsets with no change in that feature (the schedule between
  months, the sex ratio between years): nothing blocking."""
  nones = [r for r in results if r['case']['label'] == 'none']
  assert nones
  assert [a for r in nones for a in r['anomalies']
          if a['severity'] == 'ERROR'] == []


def test_the_other_measures_are_rows_without_threshold():
  """Wasserstein and the quantile shift are measured beside the default on
  every numeric feature, as information, never as anomalies."""
  cfg = drift_corpus.validate_cfg()
  spec = config.comparison_spec(cfg, 'drift')
  case = next(c for c in drift_corpus.cases()
              if c['case'] == 'flights_delay_jan_jul')
  current, baseline = drift_corpus.case_stats(case, cfg)
  _, measured = drift_corpus.compare(current, baseline, spec, 'jan')
  delay = {m['metric']: m for m in measured
           if m['feature'] == 'dep_delay' and not m['slice']}
  assert set(delay) == {'PSI', 'WASSERSTEIN', 'QUANTILE_SHIFT'}
  for metric in ('WASSERSTEIN', 'QUANTILE_SHIFT'):
    assert delay[metric]['threshold'] is None
    assert delay[metric]['is_anomaly'] is False
    assert delay[metric]['value'] > 0.1
    assert 'also_measure' in delay[metric]['note']


def test_durations_and_times_of_day_are_compared_ids_are_not():
  """Real flights, January against July: air_time (minutes aloft),
  dep_time and arr_time (clock times as numbers) get drift values; the row
  number ``id`` does not, and its row says why, from its values."""
  cfg = drift_corpus.validate_cfg()
  spec = config.comparison_spec(cfg, 'drift')
  case = {'dataset': 'flights_nested', 'baseline': 'month == 1',
          'span': 'month == 7'}
  current, baseline = drift_corpus.case_stats(case, cfg)
  _, measured = drift_corpus.compare(current, baseline, spec, 'jan')
  rows = {m['feature']: m for m in measured if not m['slice'] and (
      m['metric'] in (None, 'PSI', 'L_INFTY'))}
  for name in ('air_time', 'dep_time', 'arr_time', 'sched_dep_time'):
    assert rows[name]['metric'] == 'PSI' and rows[name]['value'] is not None
  assert rows['id']['value'] is None
  assert rows['id']['note'].startswith(
      'identifier-like: 100% of its integer values are distinct')
  assert 'evenly spread' in rows['id']['note']
  # The tail number is text: judged by its share of distinct values (in a
  # month of a 6% sample, most planes appear once or twice).
  assert rows['tailnum']['value'] is None
  assert re.match(r'identifier-like: \d+% of its values are distinct',
                  rows['tailnum']['note'])
  # Integers that repeat are compared whatever their name: flight numbers.
  assert rows['flight']['value'] is not None


def test_a_unique_text_id_is_not_compared():
  """planes.tailnum: one row per plane, every value distinct."""
  cfg = drift_corpus.validate_cfg()
  spec = config.comparison_spec(cfg, 'drift')
  case = {'dataset': 'planes', 'baseline': 'year < 2000',
          'span': 'year >= 2000'}
  current, baseline = drift_corpus.case_stats(case, cfg)
  _, measured = drift_corpus.compare(current, baseline, spec, 'old')
  rows = {m['feature']: m for m in measured if not m['slice']}
  assert rows['tailnum']['value'] is None
  assert rows['tailnum']['note'].startswith(
      'identifier-like: 100% of its values are distinct')
  # year, seats, engines: integers that repeat, compared
  assert all(rows[n]['value'] is not None for n in ('seats', 'engines'))


@pytest.mark.parametrize('override,message', [
    ('drift.also_measure=[L_INFTY]', "drift.also_measure: 'L_INFTY' is not"),
    ('drift.numeric_error_threshold=-1',
     'drift.numeric_error_threshold=-1.0: expected a number >= 0'),
    ('skew.id_min_distinct_share=2',
     'skew.id_min_distinct_share=2.0: expected a number in [0, 1]'),
])
def test_the_new_keys_are_checked_with_one_line(override, message):
  from transforms.errors import UserError  # pylint: disable=g-import-not-at-top
  cfg = drift_corpus.validate_cfg(override)
  with pytest.raises(UserError, match=re.escape(message)):
    config.comparison_spec(cfg, override.split('.')[0])


def test_an_error_threshold_below_the_threshold_is_raised_to_it():
  spec = config.comparison_spec(drift_corpus.validate_cfg(
      'drift.numeric_threshold=0.9'), 'drift')
  case = next(c for c in drift_corpus.cases()
              if c['case'] == 'weather_temp_jan_jul')
  current, baseline = drift_corpus.case_stats(case)
  rows, _ = drift_corpus.compare(current, baseline, spec, 'jan')
  temp = [r for r in rows if r['feature'] == 'temp' and not r['slice']]
  assert [(r['severity'], r['threshold']) for r in temp] == [('ERROR', 0.9)]
