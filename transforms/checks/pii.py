"""PII detection: how much of each string feature looks like personal data.

A branch of the statistics pass (``ScanForPII``) looks at up to
``pii.max_values_per_batch`` evenly spaced values of every string feature in
every batch and counts, per feature, the values matching each pattern below.
Matching runs inside the DoFn with Arrow's RE2 kernels; only counts leave
it, so no raw value reaches a shuffle, a file, a log or a warehouse row. The
counts are stored as ``pii.json`` next to the statistics, and the validate
job turns shares above ``pii.min_share`` into ``check=pii`` anomalies.

Features found to carry PII, and features declared in
``pii.allowed_features``, have their values hashed wherever the project
writes values (top values in ``feature_stats``, the report).
"""

import dataclasses
import json
import re
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.checks import findings as findings_lib
from transforms.statistics import PrivacySpec

# RE2 patterns, matched against whole values (anchored) or within them.
PATTERNS: Dict[str, str] = {
    'EMAIL': r'[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}',
    # Separated groups ('415-555-0100', '+44 20 7946 0958', '(415) 555 0100'):
    # a bare run of digits is more often an id than a phone number.
    'PHONE': (r'(^|[^0-9])(\+[0-9]{1,3}[ .-]?)?(\([0-9]{2,4}\)[ .-]?|'
              r'[0-9]{2,4}[ .-])[0-9]{3,4}[ .-][0-9]{3,4}($|[^0-9])'),
    # Candidates only: a value counts when a digit run also passes the Luhn
    # check and starts like a card (3 Amex/Diners, 4 Visa, 5/2 Mastercard,
    # 6 Discover).
    'PAYMENT_CARD': r'(^|[^0-9])[2-6]([0-9][ -]?){12,18}[0-9]($|[^0-9])',
    'US_SSN': r'(^|[^0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}($|[^0-9])',
    'IP_ADDRESS': (r'(^|[^0-9.])((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}'
                   r'(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])($|[^0-9.])'),
}
SCANNED = '_scanned'
# Every pattern at once: one pass over the values finds those that may match
# any; the patterns one by one then look at those only (most text holds no
# PII: one regex pass per value instead of five).
_ANY = '|'.join(f'(?:{p})' for p in PATTERNS.values())


def luhn_ok(text: str) -> bool:
  """True when the digits of ``text`` pass the Luhn check (card numbers)."""
  digits = [int(c) for c in text if c.isdigit()]
  if not 13 <= len(digits) <= 19 or digits[0] not in (2, 3, 4, 5, 6):
    return False
  total = 0
  for i, d in enumerate(reversed(digits)):
    if i % 2:
      d *= 2
      if d > 9:
        d -= 9
    total += d
  return total % 10 == 0


_CARD_RUN = re.compile(r'[0-9][0-9 -]{11,22}[0-9]')
_PHONE_RUN = re.compile(r'\+?\(?[0-9][0-9 ().-]{6,}[0-9]')
_IPV4 = re.compile(r'^[0-9]{1,3}(\.[0-9]{1,3}){3}$')


def phone_ok(run: str) -> bool:
  """A separated run of 10-13 digits that is not an IPv4 address.

  Fewer digits are more often dates, SSNs or codes, more digits card or
  account numbers.
  """
  digits = sum(c.isdigit() for c in run)
  return 10 <= digits <= 13 and not _IPV4.match(run.strip('+()'))


_CONFIRM = {
    'PAYMENT_CARD': (_CARD_RUN, luhn_ok),
    'PHONE': (_PHONE_RUN, phone_ok),
}


def _confirmed(values: pa.Array, candidates: pa.Array, pattern: str) -> int:
  """Candidate values with a digit run that passes the pattern's own check."""
  runs, ok = _CONFIRM[pattern]
  count = 0
  for text in values.filter(candidates).to_pylist():
    if text is not None and any(ok(run) for run in runs.findall(text)):
      count += 1
  return count


def scan_values(values: pa.Array) -> Dict[str, int]:
  """{pattern: values matching it, SCANNED: values looked at} for strings."""
  values = pc.cast(values, pa.large_string())
  values = values.filter(pc.is_valid(values))
  out = {SCANNED: len(values)}
  if not len(values):
    return out
  values = values.filter(pc.match_substring_regex(values, _ANY))
  for name, pattern in PATTERNS.items():
    hits = pc.match_substring_regex(values, pattern)
    if name in _CONFIRM:
      out[name] = _confirmed(values, hits, name)
    else:
      out[name] = int(pc.sum(hits).as_py() or 0)
  return out


def _string_columns(batch: pa.RecordBatch) -> Iterable[Tuple[str, pa.Array]]:
  for name, column in zip(batch.schema.names, batch.columns):
    t = column.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
      inner = t.value_type
      if pa.types.is_binary(inner) or pa.types.is_large_binary(inner) or (
          pa.types.is_string(inner) or pa.types.is_large_string(inner)):
        yield name, column.flatten()


class _ScanBatchFn(beam.DoFn):
  """RecordBatch in; ((feature, pattern), count) out. Values never leave."""

  def __init__(self, max_values: int):
    self._max_values = max_values

  def process(self, batch: pa.RecordBatch):
    for name, values in _string_columns(batch):
      if len(values) > self._max_values:
        # Evenly spaced values across the whole batch: PII that sits in one
        # stretch of rows (a log format that changed at some hour) is seen
        # in proportion, and a rerun scans the same values.
        values = values.take(pa.array(np.linspace(
            0, len(values) - 1, self._max_values).astype(np.int64)))
      try:
        counts = scan_values(values)
      except (pa.ArrowInvalid, UnicodeDecodeError):
        continue  # binary that is not text: not a place for typed PII
      for pattern, count in counts.items():
        yield (name, pattern), count


class ScanForPII(beam.PTransform):
  """RecordBatches in; one JSON text with counts per feature and pattern."""

  def __init__(self, max_values_per_batch: int):
    super().__init__()
    self._max_values = max_values_per_batch

  def expand(self, batches):
    return (batches
            | 'ScanBatches' >> beam.ParDo(_ScanBatchFn(self._max_values))
            | 'SumPerPattern' >> beam.CombinePerKey(sum)
            | 'Gather' >> beam.combiners.ToList()
            | 'ToJson' >> beam.Map(_to_json))


def _to_json(items: List[Tuple[Tuple[str, str], int]]) -> str:
  out: Dict[str, Dict[str, int]] = {}
  for (feature, pattern), count in items:
    out.setdefault(feature, {})[pattern] = count
  return json.dumps(out, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class PIISpec:
  """The ``pii`` config group."""
  enabled: bool = True
  max_values_per_batch: int = 1000
  min_share: float = 0.01
  allowed_features: Sequence[str] = ()
  severity: str = 'ERROR'


def findings(counts: Mapping[str, Mapping[str, int]], spec: PIISpec
             ) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
  """(anomaly rows, measurement rows) from the scan's counts."""
  found = findings_lib.Findings('pii')
  for feature in sorted(counts):
    scanned = counts[feature].get(SCANNED, 0)
    if not scanned:
      continue
    allowed = feature in spec.allowed_features
    for pattern in PATTERNS:
      share = counts[feature].get(pattern, 0) / scanned
      found.add(
          feature, f'{pattern}_SHARE', share, spec.min_share,
          share >= spec.min_share and share > 0 and not allowed,
          f'PII_{pattern}', spec.severity,
          f'{share:.1%} of {scanned:,} sampled values of {feature} look '
          f'like {pattern.lower().replace("_", " ")}s (at least '
          f'{spec.min_share:.1%} flags a feature). Values are not shown; if '
          f'the feature may carry them, add it to pii.allowed_features.')
  return found.rows()


def protect(privacy: PrivacySpec, counts: Mapping[str, Mapping[str, int]],
            spec: PIISpec) -> PrivacySpec:
  """``privacy`` with PII-carrying and allowed-PII features hashed too."""
  carrying = set(spec.allowed_features)
  for feature, c in counts.items():
    scanned = c.get(SCANNED, 0)
    if scanned and any(c.get(p, 0) / scanned >= spec.min_share and c.get(p, 0)
                       for p in PATTERNS):
      carrying.add(feature)
  hashed = tuple(sorted(set(privacy.hashed_features) | carrying))
  return dataclasses.replace(privacy, hashed_features=hashed)
