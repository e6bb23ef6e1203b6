"""The size of a change in words (transforms/checks/change_words.py), on real
data: hourly weather at New York's airports in January and July 2013, and
the Palmer penguins on two islands. The numbers in each sentence are read
back and held against pandas on the raw rows."""

import re

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

import corpus
from beam_jobs import infer_schema as infer_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_OK
from conftest import make_cfg, warehouse_rows
from transforms.checks import change_words
from transforms.io import artifacts
from transforms import statistics


def _features(df):
  """{name: FeatureNameStatistics} of ``df`` as TFDV computes them."""
  stats = tfdv.generate_statistics_from_dataframe(corpus.for_tfdv(df))
  return {statistics.feature_path(f): f
          for f in statistics.overall(stats).features}


@pytest.fixture(scope='module')
def weather():
  df = corpus.load('weather')
  january, july = df[df.month == 1], df[df.month == 7]
  return january, july, _features(january), _features(july)


def _parts(sentence):
  """{'mean': (then, now), ...} of a sentence 'mean 35.6 -> 80.1; ...'."""
  out = {}
  for part in sentence.split('; '):
    m = re.fullmatch(r'(.*?) (-?[\d.,]+)(%?) -> (-?[\d.,]+)(%?)', part)
    assert m, part
    scale = 0.01 if m.group(3) else 1.0
    out[m.group(1)] = (float(m.group(2).replace(',', '')) * scale,
                       float(m.group(4).replace(',', '')) * scale)
  return out


def test_temperature_from_january_to_july_in_degrees(weather):
  january, july, base, now = weather
  sentence = change_words.describe('temp', now['temp'], base['temp'], None)
  # the mean is exact; TFDV's median is approximate
  assert sentence.startswith(
      f'mean {january.temp.mean():.1f} -> {july.temp.mean():.1f}; median ')
  assert sentence.startswith('mean 35.6 -> 80.1; median ')
  parts = _parts(sentence)
  assert parts['median'][0] == pytest.approx(january.temp.median(), abs=1.5)
  assert parts['median'][1] == pytest.approx(july.temp.median(), abs=1.5)
  # January's p90 is about 48 F; every July hour is warmer
  tail = next(k for k in parts if k.startswith('share above'))
  p90 = float(re.search(r'\(([\d.]+)\)', tail).group(1))
  assert p90 == pytest.approx(january.temp.quantile(0.9), abs=1)
  assert parts[tail][0] == pytest.approx((january.temp > p90).mean(),
                                         abs=0.03)
  assert parts[tail][1] == pytest.approx((july.temp > p90).mean(), abs=0.01)
  assert parts[tail] == (0.10, 1.0)
  # temp is never missing: no word about it
  assert 'missing' not in sentence


def test_a_cold_turn_is_said_by_the_lower_tail(weather):
  january, july, base, now = weather
  parts = _parts(change_words.describe('temp', base['temp'], now['temp'],
                                       None))
  tail = next(k for k in parts if k.startswith('share '))
  assert tail.startswith("share below the baseline's p10")
  assert parts[tail][1] == pytest.approx(
      (january.temp < july.temp.quantile(0.1)).mean(), abs=0.01)


def test_missing_share_is_said_when_it_moves(weather):
  january, july, base, now = weather
  parts = _parts(change_words.describe('wind_gust', now['wind_gust'],
                                       base['wind_gust'], None))
  # wind gusts are recorded only when gusty: 76% missing in January
  assert parts['missing'] == (
      pytest.approx(january.wind_gust.isna().mean(), abs=0.005),
      pytest.approx(july.wind_gust.isna().mean(), abs=0.005))
  assert parts['missing'] == (0.76, 0.89)


@pytest.fixture(scope='module')
def penguins():
  df = corpus.load('penguins')
  biscoe, dream = df[df.island == 'Biscoe'], df[df.island == 'Dream']
  return biscoe, dream, _features(biscoe), _features(dream)


def test_category_whose_share_moved_most_is_named(penguins):
  biscoe, dream, base, now = penguins
  privacy = statistics.PrivacySpec(min_value_count=10)
  sentence = change_words.describe('species', now['species'],
                                   base['species'], privacy)
  # Gentoo: 124 of Biscoe's 168 penguins, none on Dream
  assert round(124 / len(biscoe), 2) == 0.74
  assert sentence == "share of 'Gentoo' 74% -> 0%"


def test_hashed_and_rare_values_are_not_written(penguins):
  _, _, base, now = penguins
  hashed = statistics.PrivacySpec(hashed_features=('species',), salt='s')
  sentence = change_words.describe('species', now['species'],
                                   base['species'], hashed)
  assert 'Gentoo' not in sentence
  assert sentence == (f"share of <{statistics.hash_value('Gentoo', 's')}> "
                      f"74% -> 0%")
  # 44 Adelie and 124 Gentoo on Biscoe: at 50, Adelie could not be named, and
  # Gentoo (the value that moved) neither once the minimum passes 124
  strict = statistics.PrivacySpec(min_value_count=125)
  sentence = change_words.describe('species', now['species'],
                                   base['species'], strict)
  assert sentence == ('share of one value (not named: '
                      'privacy.min_value_count) 74% -> 0%')
  assert 'Gentoo' not in change_words.describe(
      'species', now['species'], base['species'], None)


def test_numbers_read_in_the_feature_units():
  assert [change_words.number(x) for x in (
      10.0, 21.666, 5, 0.01234, 123.4, 53940.2, -2.5, 1.5e10)] == [
          '10', '21.7', '5', '0.0123', '123', '53,940', '-2.5', '1.5e+10']
  assert [change_words.share(s) for s in (0.0, 0.0043, 0.069, 0.186, 1.0)] \
      == ['0%', '0.43%', '6.9%', '19%', '100%']


def test_a_drift_row_says_the_change_in_degrees(tmp_path):
  """The validate job on real spans: January's weather as the baseline,
  July's checked. The temperature's drift row says by how much, in degrees;
  the report's card says the same; a hashed feature's value stays hashed."""
  df = corpus.load('weather')
  for span, month in (('jan', 1), ('jul', 7)):
    df[df.month == month].to_csv(tmp_path / f'{span}.csv', index=False)
  store = tmp_path / 'store'

  def overrides(span):
    return ['dataset.name=weather', f'dataset.path={tmp_path}/' +
            '${span}.csv', f'span={span}', f'store.root={store}',
            'privacy.hashed_features=[origin]']
  assert stats_job.run(make_cfg('stats', overrides('jan'))) == EXIT_OK
  assert infer_job.run(make_cfg('infer_schema', [
      'dataset.name=weather', f'store.root={store}'])) == EXIT_OK
  validate_job.run(make_cfg('validate', overrides('jul')))

  db = str(store / 'warehouse.duckdb')
  temp = warehouse_rows(db, "SELECT * FROM anomalies WHERE \"check\" = "
                        "'drift' AND feature = 'temp' AND slice = ''")
  assert temp and {r['baseline_span'] for r in temp} == {'jan'}
  said = ("Change (baseline -> this span): mean 35.6 -> 80.1; median 37 -> "
          "79; share above the baseline's p90 (47.5) 10% -> 100%.")
  assert all(r['description'].endswith(said) for r in temp)
  measured = {r['feature']: r for r in warehouse_rows(
      db, "SELECT * FROM drift_skew WHERE \"check\" = 'drift' AND slice = '' "
      "AND value IS NOT NULL")}
  assert said[len('Change (baseline -> this span): '):-1] in measured[
      'temp']['note']
  origin = measured['origin']['note']
  assert 'EWR' not in origin and 'JFK' not in origin and 'LGA' not in origin
  assert re.search(r'share of <sha256:[0-9a-f]{16}> 33% -> 33%', origin)
  html = open(artifacts.SpanArtifacts(str(store), 'weather', 'train', 'jul')
              .report_path, encoding='utf-8').read()
  assert ('baseline -&gt; this span: mean 35.6 -&gt; 80.1; median 37 -&gt; '
          '79;') in html
  assert 'EWR' not in html
