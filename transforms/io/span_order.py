"""Which stored span comes before which, and which one a check compares with.

Span names are the user's words: dates (``2024-06-01``, ``20240601``,
``2024-06``, ``2024``), numbered versions (``v9``, ``v10``, ``batch_3``) or
plain labels (``train``, ``clean``). Text order gets the last two wrong
(``v10`` sorts before ``v9``; ``2024-06-01`` before ``train``), so every
"earlier" and "latest" in the project goes through this module:

- names that are dates compare as the periods they name;
- names of the same pattern with numbers in them (``v9``/``v10``) compare by
  their numbers;
- anything else compares by when its statistics were computed (the run time
  in the span's ``run.json``).

The drift baseline of a span is the latest span of its split before it, by
the first rule that applies to the span's own name. The skew baseline of a
serving span is the training span of the same name; else, by date, the
latest training span at or before the serving span's period; else, when the
training spans name no date (one snapshot such as ``v3`` or ``train`` beside
daily serving spans), the training span computed last.
"""

import datetime as dt
import re
import zoneinfo
from typing import Callable, List, Optional, Sequence, Tuple

_NUMBER = re.compile(r'(\d+)')


def span_window(span: str, timezone: str = 'UTC'
                ) -> Optional[Tuple[int, int]]:
  """The period a span names, as [start, end) microseconds since 1970, or
  None.

  ``2024-06-01`` and ``20240601`` are a day, ``2024-06`` a month, ``2024`` a
  year, in ``timezone`` (an IANA name; UTC by default): a span of New York
  days starts at 05:00 UTC in winter and 04:00 in summer.
  """
  text = str(span).strip()
  zone = zoneinfo.ZoneInfo(timezone)

  def micros(day: dt.datetime) -> int:
    # naive wall-clock time in the zone -> instant (DST-aware)
    return int(day.replace(tzinfo=zone).timestamp()) * 1_000_000

  for fmt, step in (('%Y-%m-%d', 'day'), ('%Y%m%d', 'day'),
                    ('%Y-%m', 'month'), ('%Y', 'year')):
    try:
      start = dt.datetime.strptime(text, fmt)
    except ValueError:
      continue
    if len(text) != len(start.strftime(fmt)):
      continue
    if step == 'day':
      end = start + dt.timedelta(days=1)
    elif step == 'month':
      end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    else:
      end = start.replace(year=start.year + 1)
    return micros(start), micros(end)
  return None


def span_start(name: str) -> Optional[int]:
  """The start of the period a span names (microseconds), or None."""
  window = span_window(name)
  return None if window is None else window[0]


def _pattern(name: str) -> Optional[str]:
  """``v#`` for ``v10``: the name with its numbers blanked, if it has any."""
  blanked = _NUMBER.sub('#', name)
  return blanked if blanked != name else None


def _numbers(name: str) -> Tuple:
  return tuple(int(n) if n.isdigit() else n for n in _NUMBER.split(name))


def sort_key(name: str) -> Tuple:
  """A key that orders dates by date and ``v9`` before ``v10``."""
  start = span_start(name)
  if start is not None:
    return (0, start, name)
  return (1, _numbers(name))


def ordered(names: Sequence[str]) -> List[str]:
  """Span names earliest first (dates by date, then the others)."""
  return sorted(names, key=sort_key)


def _latest_by(candidates: Sequence[str],
               key: Callable[[str], Tuple]) -> Optional[str]:
  return max(candidates, key=key) if candidates else None


def _computed_last(spans: Sequence[str],
                   run_time: Callable[[str], Optional[str]]) -> Optional[str]:
  """The span whose statistics were computed last (ties: the later name)."""
  timed = [s for s in spans if run_time(s) is not None]
  return _latest_by(timed, lambda s: (run_time(s), sort_key(s)))


def _how(span: str) -> str:
  return ('by date' if span_start(span) is not None
          else 'by the number in its name')


def _before(spans: Sequence[str], span: str, inclusive: bool
            ) -> Optional[List[str]]:
  """Spans earlier than ``span`` (or equal, when inclusive) by the date or
  numbering ``span``'s own name carries; None when it carries neither."""
  start = span_start(span)
  if start is not None:
    dated = [(span_start(s), s) for s in spans]
    return [s for t, s in dated if t is not None and (
        t < start or (inclusive and t == start))]
  pattern = _pattern(span)
  if pattern is not None:
    mine = _numbers(span)
    return [s for s in spans if _pattern(s) == pattern and (
        _numbers(s) < mine or (inclusive and _numbers(s) == mine))]
  return None


def _listing(spans: Sequence[str]) -> str:
  shown = ordered(spans)
  more = f' and {len(shown) - 8} more' if len(shown) > 8 else ''
  return (', '.join(shown[-8:]) + more) if shown else 'none'


def drift_baseline(spans: Sequence[str], span: str,
                   run_time: Callable[[str], Optional[str]]
                   ) -> Tuple[Optional[str], str]:
  """(the span to compare ``span`` with, how it was chosen), or (None, why
  there is none). ``spans`` are the split's stored spans; ``run_time(name)``
  gives a span's run time as sortable text (None if unknown)."""
  others = [s for s in spans if s != span]
  earlier = _before(others, span, inclusive=False)
  if earlier is not None:
    how = _how(span)
    chosen = _latest_by(earlier, sort_key)
    if chosen is None:
      return None, (f'no earlier span {how} than {span!r} '
                    f'(stored: {_listing(others)})')
    return chosen, f'the latest earlier span {how}'
  chosen = _computed_last(others, run_time)
  if chosen is None:
    return None, f'no other span stored (stored: {_listing(others)})'
  return chosen, ('the span computed last (its name, like this one\'s, '
                  'names no date or number)')


def skew_baseline(spans: Sequence[str], span: str,
                  run_time: Callable[[str], Optional[str]]
                  ) -> Tuple[Optional[str], str]:
  """(the training span to compare serving span ``span`` with, how it was
  chosen), or (None, why there is none); arguments as ``drift_baseline``."""
  if span in spans:
    return span, 'the training span of the same name'
  earlier = _before(spans, span, inclusive=True)
  if earlier:
    return (_latest_by(earlier, sort_key),
            f'the latest training span at or before it {_how(span)}')
  start = span_start(span)
  if start is not None and any(span_start(s) is not None for s in spans):
    # Dated training spans exist, all after this one: comparing with
    # training data from the serving span's future would mislead.
    return None, (f'no training span dated at or before {span!r} '
                  f'(stored: {_listing(spans)})')
  chosen = _computed_last(spans, run_time)
  if chosen is None:
    return None, f'no training span stored (stored: {_listing(spans)})'
  return chosen, ('the training span computed last (the training spans '
                  'name no date that orders them against this one)')


def latest(spans: Sequence[str], run_time: Callable[[str], Optional[str]]
           ) -> Optional[str]:
  """The latest of a split's spans: by date when every name is a date, by
  number when every name follows one numbered pattern (``v9``, ``v10``),
  else the span computed last."""
  if not spans:
    return None
  if all(span_start(s) is not None for s in spans) or (
      len({_pattern(s) for s in spans}) == 1 and _pattern(spans[0])):
    return _latest_by(spans, sort_key)
  return _computed_last(spans, run_time) or ordered(spans)[-1]
