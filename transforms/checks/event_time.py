"""Event-time checks: is the span fresh, inside its window, not in the future?

The statistics pass counts, on the event-time feature (``dataset.event_time``),
the rows with a time, the rows before and after the window the span names
(``2024-06-01`` a UTC day, ``2024-06`` a month, ``2024`` a year) and the rows
later than the run's start plus ``future_tolerance_minutes``
(``meta_generator.FeatureMetaGenerator``). From those stored numbers and the
feature's maximum, for the whole span:

- ``EVENT_TIME_AGE_HOURS``: hours from the newest event to the end of the
  span's window (or to the run's start, when that is earlier or the span names
  no period; a run date without a window: the end of that UTC day, when
  earlier than the start); ``EVENT_TIME_STALE`` above the age limit. The
  limit applies when the run has a date (a span naming a period, or the
  scheduler's ``run_date``: ``dated_max_age_hours``) or when the user set
  ``max_age_hours`` (then always, at that limit). Otherwise nothing says
  how fresh the data should be (last year's data checked ad hoc, a
  backfill): the age is measured without a limit and, when it is past
  ``dated_max_age_hours``, reported as an INFO row (``EVENT_TIME_AGE``);
- ``EVENT_TIME_OUTSIDE_WINDOW_SHARE``: share of event times before or after
  the window; ``EVENT_TIME_OUTSIDE_WINDOW`` above
  ``max_outside_window_share`` (only when the span names a period);
- ``EVENT_TIME_FUTURE_SHARE``: share of event times later than the run's start
  (plus tolerance); ``EVENT_TIME_IN_FUTURE`` above ``max_future_share``.

Every measurement is a ``drift_skew`` row (check ``event_time``); those past
their threshold are ``anomalies`` rows too. Descriptions name times and
counts only, never other values.
"""

import datetime as dt
from typing import Any, Dict, List, Mapping, Optional, Tuple

from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms import arrow_types
from transforms import feature_meta
from transforms.checks import findings
from transforms import statistics

CHECK = 'event_time'
AGE = 'EVENT_TIME_AGE_HOURS'
OUTSIDE = 'EVENT_TIME_OUTSIDE_WINDOW_SHARE'
FUTURE = 'EVENT_TIME_FUTURE_SHARE'
# The age of undated data past the dated limit: said, not judged.
AGE_INFO = 'EVENT_TIME_AGE'
ANOMALY_TYPES = {
    AGE: 'EVENT_TIME_STALE',
    OUTSIDE: 'EVENT_TIME_OUTSIDE_WINDOW',
    FUTURE: 'EVENT_TIME_IN_FUTURE',
}
_HOUR_US = 3_600_000_000
_DAY_US = 86_400_000_000


def event_feature(stats: statistics_pb2.DatasetFeatureStatisticsList
                  ) -> Optional[str]:
  """The feature the statistics pass counted as event time, or None."""
  for feature in statistics.overall(stats).features:
    if feature_meta.custom(feature, feature_meta.EVENT_ROWS) is not None:
      return statistics.feature_path(feature)
  return None


def _feature(stats, name: str) -> statistics_pb2.FeatureNameStatistics:
  for feature in statistics.overall(stats).features:
    if statistics.feature_path(feature) == name:
      return feature
  raise ValueError(f'no feature {name!r} in the whole-span statistics')


def _micros(run_ts: dt.datetime) -> int:
  if run_ts.tzinfo is None:  # naive run times are UTC
    run_ts = run_ts.replace(tzinfo=dt.timezone.utc)
  return int(run_ts.timestamp() * 1_000_000)


def _when(micros: float) -> str:
  try:
    return feature_meta.as_time(arrow_types.TIMESTAMP, micros).strftime(
        '%Y-%m-%d %H:%M:%S UTC')
  except (OverflowError, ValueError):
    return f'{micros:.0f} µs since 1970'


def _newest(feature, kind: str) -> Optional[float]:
  """The latest event time in microseconds, or None when there is none."""
  if not feature.HasField('num_stats'):
    return None
  if not feature.num_stats.common_stats.num_non_missing:
    return None
  newest = feature.num_stats.max
  return newest * _DAY_US if kind == arrow_types.DATE else newest


def _count(n: float) -> str:
  return f'{int(n):,}'


def _pct(share: float) -> str:
  return f'{100 * share:g}%'


def check(stats: statistics_pb2.DatasetFeatureStatisticsList,
          settings: Mapping[str, Any], event_feature: str,
          run_ts: dt.datetime) -> Tuple[List[Dict], List[Dict]]:
  """(anomaly rows, measurement rows) of the event-time checks.

  ``settings`` are the checked ``event_time`` keys (settings/config.py
  ``event_time_settings``); ``run_ts`` the run's start, used when the
  statistics do not record it (they do since event time was counted in the
  statistics pass).
  """
  feature = _feature(stats, event_feature)
  kind = feature_meta.kind_of(feature) or arrow_types.TIMESTAMP
  counted = feature_meta.numbers(feature)
  found = findings.Findings(CHECK)
  severity = settings['severity']
  rows = counted.get(feature_meta.EVENT_ROWS, 0.0)
  now = counted.get(feature_meta.NOW, float(_micros(run_ts)))
  window_start = counted.get(feature_meta.WINDOW_START)
  window_end = counted.get(feature_meta.WINDOW_END)
  has_window = window_start is not None and window_end is not None
  span = _window_name(window_start, window_end) if has_window else ''

  newest = _newest(feature, kind)
  if newest is not None:
    _age(found, event_feature, newest, now, span if has_window else None,
         window_end, settings)

  if rows and has_window:
    before = counted.get(feature_meta.EVENT_BEFORE, 0.0)
    after = counted.get(feature_meta.EVENT_AFTER, 0.0)
    share = (before + after) / rows
    limit = settings['max_outside_window_share']
    found.add(
        event_feature, OUTSIDE, share, limit, share > limit,
        ANOMALY_TYPES[OUTSIDE], severity,
        f'{share:.2%} of event times ({_count(before + after)} of '
        f'{_count(rows)}) fall outside span {span} [{_when(window_start)}, '
        f'{_when(window_end)}): {_count(before)} before, {_count(after)} '
        f'after (max {_pct(limit)}){_zone_hint(settings, before, after)}')

  if rows:
    ahead = counted.get(feature_meta.EVENT_FUTURE, 0.0)
    share = ahead / rows
    limit = settings['max_future_share']
    tolerance = settings.get('future_tolerance_minutes', 0)
    latest = '' if newest is None else f'; the latest is {_when(newest)}'
    found.add(
        event_feature, FUTURE, share, limit, share > limit,
        ANOMALY_TYPES[FUTURE], severity,
        f'{share:.2%} of event times ({_count(ahead)} of {_count(rows)}) are '
        f'later than the run\'s start {_when(now)} plus {tolerance:g} min'
        f'{latest} (max {_pct(limit)})')
  return found.rows()


def _zone_hint(settings: Mapping[str, Any], before: float,
               after: float) -> str:
  """A hint when every row outside a UTC window lies on one side of it:
  the signature of spans cut at local midnight."""
  if settings.get('timezone', 'UTC') != 'UTC' or (before and after) or not (
      before or after):
    return ''
  return ('; all on one side: if spans are cut at local midnight, set '
          'event_time.timezone (e.g. America/New_York)')


def _age(found: findings.Findings, event_feature: str, newest: float,
         now: float, span: Optional[str], window_end: Optional[float],
         settings: Mapping[str, Any]) -> None:
  """The freshness row: against a limit when the run has a date or the
  user set one, else measured only (INFO past the dated limit)."""
  run_date = settings.get('run_date')
  day_end = None if run_date is None else _micros(dt.datetime.combine(
      run_date + dt.timedelta(days=1), dt.time(), dt.timezone.utc))
  if span is not None and window_end <= now:
    reference, where = window_end, f'the end of span {span}'
  elif span is None and day_end is not None and day_end <= now:
    reference, where = day_end, f'the end of run date {run_date:%Y-%m-%d}'
  else:
    reference, where = now, f'the run\'s start {_when(now)}'
  age = (reference - newest) / _HOUR_US
  said = f'newest event {_when(newest)} is {age:.1f} h before {where}'
  limit = settings.get('max_age_hours')
  if limit is None and (span is not None or run_date is not None):
    limit = settings['dated_max_age_hours']
  if limit is not None:
    found.add(event_feature, AGE, age, limit, age > limit, ANOMALY_TYPES[AGE],
              settings['severity'], f'{said} (max {limit:g} h)')
    return
  dated = settings['dated_max_age_hours']
  why = ('not checked against an age limit: the run has no date (span names '
         'no day, month or year; no run_date) and event_time.max_age_hours '
         'is not set')
  found.measure(event_feature, AGE, age, None, note=why)
  if age > dated:
    found.flag(event_feature, AGE, age, None, AGE_INFO, 'INFO',
               f'{said}; {why} (a dated run would allow {dated:g} h)')


def _window_name(start_us: float, end_us: float) -> str:
  """The period a window covers, as its span is named: a day, month or year."""
  start = feature_meta.as_time(arrow_types.TIMESTAMP, start_us)
  days = round((end_us - start_us) / _DAY_US)
  if days == 1:
    return start.strftime('%Y-%m-%d')
  if days >= 365:
    return start.strftime('%Y')
  return start.strftime('%Y-%m')


def notes(stats: statistics_pb2.DatasetFeatureStatisticsList,
          event_feature: str,
          settings: Optional[Mapping[str, Any]] = None) -> List[str]:
  """One line for the summary and the report: what the check looked at."""
  counted = feature_meta.numbers(_feature(stats, event_feature))
  start = counted.get(feature_meta.WINDOW_START)
  end = counted.get(feature_meta.WINDOW_END)
  if start is None or end is None:
    settings = settings or {}
    if settings.get('max_age_hours') is not None:
      freshness = (f'freshness checked at the run\'s start (max '
                   f'{settings["max_age_hours"]:g} h)')
    elif settings.get('run_date') is not None:
      freshness = (f'freshness checked for run date '
                   f'{settings["run_date"]:%Y-%m-%d} (max '
                   f'{settings["dated_max_age_hours"]:g} h)')
    else:
      freshness = ('freshness not checked (no run_date, no '
                   'event_time.max_age_hours): the age is reported only')
    return [f'event_time: {event_feature}; the span names no period (a date, '
            f'month or year): rows outside a window not counted, {freshness}']
  return [f'event_time: {event_feature} against the window of span '
          f'{_window_name(start, end)} [{_when(start)}, {_when(end)})']
