"""Partition keys: columns that name the span, recognized from the history.

A daily table often carries the day it belongs to (``day``, ``date``,
``batch_id``): one value in each span, a new value in every span. Compared
as drift it moves by L-infinity 1.0 every day; checked against a schema
inferred from the first span its value is out of the domain every day.
Neither says anything about the data.

A feature is a partition key of the span when, in the feature statistics
history (the warehouse's ``feature_stats`` rows of the same dataset and
split, the last ``history.window`` earlier spans):

- it had exactly one value in this span and in every earlier span that has
  it (no missing values, ``min == max`` for numbers, one distinct value for
  text), and
- those values are all different (each span its own value; this span's is
  new), and
- the history shows it: at least ``history.partition_key_min_spans``
  earlier spans, or fewer (at least one) when each span's value is what the
  span's name says (span ``2013-01-02`` and ``day`` 2, ``month`` 1 or
  ``date`` ``2013-01-02``; span ``b7`` and ``batch`` ``b7``).

A constant that the history held fixed (``month`` 1 in every training span,
7 now) is not a key: it keeps being compared and its change is flagged.
Skew compares a serving span with training data, so there a key is set
aside only when the training split's own history shows it too (at least
``partition_key_min_spans`` training spans, each its own value, none equal
to this span's): one training span with ``month`` 1 and a serving span with
7 is a skew.

Recognized keys are reported once per run, as an INFO row of check
``partition_key`` that says why; they are not compared as drift or skew
(the ``drift_skew`` row says so), their history mean is not checked, they
are left out of the shift models, and their schema anomalies about values
(a value outside the schema's domain or range) are folded into that one
INFO row instead of being reported as ERRORs.
"""

import dataclasses
import datetime as dt
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from transforms import arrow_types
from transforms.io import span_order

CHECK = 'partition_key'
ANOMALY_TYPE = 'PARTITION_KEY'
# Schema anomalies about a feature's values, which a partition key breaks
# every span by design (a new day is outside the first day's domain).
VALUE_ANOMALIES = frozenset({
    'ENUM_TYPE_UNEXPECTED_STRING_VALUES', 'INT_TYPE_SMALL_INT',
    'INT_TYPE_BIG_INT', 'FLOAT_TYPE_SMALL_FLOAT', 'FLOAT_TYPE_BIG_FLOAT',
    'FEATURE_TYPE_HIGH_UNIQUE', 'FEATURE_TYPE_LOW_UNIQUE',
})


@dataclasses.dataclass(frozen=True)
class PartitionKey:
  """A recognized key: its value here and in the earlier spans shown."""
  feature: str
  value: Any
  history: Tuple[Tuple[str, Any], ...]  # (span, value), oldest first
  by_name: bool                          # recognized through the span names

  def describe(self, folded: Sequence[str] = (),
               raw_text: bool = False) -> str:
    """One line; text values are quoted only when ``raw_text`` (privacy:
    ``raw_values_in_results``), numbers always (as TFDV's ranges are)."""
    def shown(value):
      if isinstance(value, str) and not raw_text:
        return 'a value'
      return _shown(value)
    listed = ', '.join(f'{shown(v)} ({s})' for s, v in self.history[-4:])
    more = len(self.history) - 4
    earlier = (f'{more} earlier spans and ' if more > 0 else '') + listed
    why = (' and each value is what its span\'s name says'
           if self.by_name else '')
    text = (f'{self.feature} is a partition key: one value in each span, a '
            f'different one in every span ({earlier}; {shown(self.value)} '
            f'now){why}. Not compared as drift or skew and its history mean '
            f'is not checked.')
    if folded:
      text += (f' Schema finding set aside as expected for a key: '
               f'{", ".join(sorted(set(folded)))}.')
    return text


def _shown(value: Any) -> str:
  if isinstance(value, float) and value.is_integer():
    return str(int(value))
  return str(value)


def constant_value(row: Mapping[str, Any]) -> Optional[Any]:
  """The one value a feature had in a span (its ``feature_stats`` row), or
  None: missing values, more than one value, or a value not written (a
  value rarer than ``privacy.min_value_count`` is left out of the row)."""
  present = row.get('num_present') or 0
  if not present or row.get('num_missing'):
    return None
  if row.get('min') is not None and row.get('max') is not None:
    return row['min'] if row['min'] == row['max'] else None
  if row.get('unique') == 1:
    top = row.get('top_values') or []
    if len(top) == 1:
      return top[0].get('value')
  return None


def span_names(span: str) -> List[Any]:
  """What a span's name says: itself, and for a name that is a period
  (span_order: ``2013-01-02``, ``20130102``, ``2013-01``, ``2013``) its
  year, month and day as numbers and the day as text."""
  text = str(span).strip()
  out: List[Any] = [text]
  if re.fullmatch(r'\d{1,9}', text):
    out.append(float(int(text)))
  window = span_order.span_window(text)
  if window is None:
    return out
  epoch = dt.datetime(1970, 1, 1)
  start = epoch + dt.timedelta(microseconds=window[0])
  days = (window[1] - window[0]) // 86_400_000_000
  out.append(float(start.year))
  if days < 365:  # a month or a day
    out.append(float(start.month))
  if days == 1:
    out += [float(start.day), start.date().isoformat()]
  return out


def _named_by(value: Any, span: str, kind: Optional[str]) -> bool:
  if kind == arrow_types.DATE and isinstance(value, (int, float)):
    try:
      value = (dt.date(1970, 1, 1) + dt.timedelta(days=int(value))).isoformat()
    except (OverflowError, ValueError):
      return False
  names = span_names(span)
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    return float(value) in [n for n in names if isinstance(n, float)]
  return str(value) in [n for n in names if isinstance(n, str)]


def recognize(current: Sequence[Mapping[str, Any]],
              history: Sequence[Mapping[str, Any]], span: str,
              window: int, min_spans: int, by_span_name: bool = True,
              same_span: bool = False) -> Dict[str, PartitionKey]:
  """{feature: PartitionKey} of this span's whole-span features.

  ``current`` are this run's ``feature_stats`` rows; ``history`` the rows of
  the same dataset and split (other spans); ``window`` earlier spans are
  looked at (``same_span``: the span of the same name too, for another
  split's history). ``by_span_name`` False: only ``min_spans`` earlier
  spans show a key.
  """
  mine = span_order.sort_key(str(span))
  earlier = span_order.ordered({
      str(r['span']) for r in history
      if span_order.sort_key(str(r['span'])) < mine or (
          same_span and str(r['span']) == str(span))})[-window:]
  if not earlier:
    return {}
  past: Dict[str, Dict[str, Mapping[str, Any]]] = {}
  for r in history:
    if not r['slice'] and str(r['span']) in earlier:
      past.setdefault(r['feature'], {})[str(r['span'])] = r
  keys = {}
  for row in current:
    if row['slice']:
      continue
    name, kind = row['feature'], row.get('kind')
    if kind == arrow_types.TIMESTAMP:
      continue  # event times are summarized as times, never compared
    value = constant_value(row)
    rows = past.get(name, {})
    if value is None or not rows:
      continue
    seen = [(s, constant_value(rows[s])) for s in span_order.ordered(rows)]
    if any(v is None for _, v in seen):
      continue  # not one value in some earlier span
    values = [v for _, v in seen] + [value]
    if len(set(map(repr, values))) != len(values):
      continue  # the history held a value fixed (or repeated one)
    by_name = by_span_name and all(
        _named_by(v, s, kind) for s, v in seen) and _named_by(value, span,
                                                              kind)
    if len(seen) >= min_spans or by_name:
      keys[name] = PartitionKey(name, value, tuple(seen),
                                by_name and len(seen) < min_spans)
  return keys


def rows(keys: Mapping[str, PartitionKey],
         folded: Mapping[str, Sequence[str]],
         raw_text: bool = False) -> List[Dict[str, Any]]:
  """The INFO anomaly rows: one per key, naming the schema findings folded
  into it (``folded``: feature -> anomaly types)."""
  out = []
  for name in sorted(keys):
    key = keys[name]
    out.append({
        'slice': '', 'feature': name, 'check': CHECK,
        'anomaly_type': ANOMALY_TYPE, 'severity': 'INFO',
        'description': key.describe(folded.get(name, ()), raw_text),
        'metric': None, 'value': None, 'threshold': None,
        'schema_version': None, 'baseline_split': None,
        'baseline_span': (f'{key.history[0][0]}..{key.history[-1][0]}'
                          if key.history else None)})
  return out


def fold_schema_rows(schema_rows: Sequence[Dict[str, Any]],
                     keys: Mapping[str, PartitionKey]
                     ) -> Tuple[List[Dict[str, Any]], Dict[str, List[str]]]:
  """(schema rows kept, {key: anomaly types folded into its INFO row}).

  Only findings about values (``VALUE_ANOMALIES``) of the whole span are
  folded; a key that goes missing or changes type is still reported.
  """
  kept, folded = [], {}
  for row in schema_rows:
    if (row['feature'] in keys and not row['slice'] and
        row['anomaly_type'] in VALUE_ANOMALIES):
      folded.setdefault(row['feature'], []).append(row['anomaly_type'])
    else:
      kept.append(row)
  return kept, folded
