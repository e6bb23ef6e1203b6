"""Spans from the scheduler's date: the ``${dv_date:...}`` config resolver.

A daily job validates yesterday's partition. The scheduler passes its logical
date (``run_date=2024-06-02`` on the command line, or the ``DV_RUN_DATE``
environment variable); config derives the span and paths from it:

  span: ${dv_date:-1}                    # the day before the run date
  dataset.path: gs://bucket/events/dt=${span}/*.parquet
  ${dv_date:}                            # the run date itself
  ${dv_date:-7,%Y%m%d}                   # a week earlier, as 20240526

Without a run date, today's date (UTC) is the run date.
"""

import datetime as dt
from typing import Any, Optional

from transforms.errors import UserError

DEFAULT_FORMAT = '%Y-%m-%d'


def parse_run_date(value: Any) -> dt.date:
  """The run date from config: a date, or text YYYY-MM-DD / YYYYMMDD."""
  if isinstance(value, dt.datetime):
    return value.date()
  if isinstance(value, dt.date):
    return value
  text = str(value).strip()
  for fmt in ('%Y-%m-%d', '%Y%m%d', '%Y-%m-%dT%H:%M:%S%z',
              '%Y-%m-%dT%H:%M:%S'):
    try:
      return dt.datetime.strptime(text, fmt).date()
    except ValueError:
      continue
  try:  # ISO timestamps as schedulers write them (2024-06-02T00:00:00+00:00)
    return dt.datetime.fromisoformat(text).date()
  except ValueError:
    pass
  raise UserError(f'run_date={text!r}: expected a date YYYY-MM-DD')


def run_date(value: Optional[Any]) -> dt.date:
  if value is None or str(value).strip() in ('', 'null', 'None'):
    return dt.datetime.now(dt.timezone.utc).date()
  return parse_run_date(value)


def date_for(run: Optional[Any], offset: Any = 0,
             fmt: Optional[str] = None) -> str:
  """The run date moved by ``offset`` days, formatted (default YYYY-MM-DD)."""
  if isinstance(offset, bool) or not isinstance(offset, int):
    try:
      offset = int(str(offset).strip() or 0)
    except ValueError:
      raise UserError(f'${{dv_date:{offset}}}: the offset is a whole number '
                      f'of days, e.g. ${{dv_date:-1}}') from None
  day = run_date(run) + dt.timedelta(days=offset)
  return day.strftime(fmt or DEFAULT_FORMAT)


def resolver(offset: Any = 0, fmt: Optional[str] = None, *, _root_) -> str:
  """OmegaConf resolver ``dv_date``: reads ``run_date`` from the config root."""
  return date_for(_root_.get('run_date', None), offset, fmt)
