"""The project's own statistics in a TFDV proto: names and the event-time spec.

Kept apart from ``transforms/feature_meta.py`` (TFDV's generator for them) so
that the vectorized engine (``transforms/engine``) can write the same
``custom_stats`` without importing TFDV, and with it TensorFlow.
"""

import dataclasses
from typing import Optional

import numpy as np

from transforms import arrow_types

KIND = 'dv/kind'
VALUE_COUNTS = 'dv/value_counts'
# distinct values of an integer feature (exact while few, then estimated)
DISTINCT = 'dv/distinct'
DOMAIN_INFO = 'domain_info'
EVENT_ROWS = 'dv/event_time/rows'
EVENT_BEFORE = 'dv/event_time/rows_before_window'
EVENT_AFTER = 'dv/event_time/rows_after_window'
EVENT_FUTURE = 'dv/event_time/rows_in_future'
WINDOW_START = 'dv/event_time/window_start_us'
WINDOW_END = 'dv/event_time/window_end_us'
NOW = 'dv/event_time/now_us'


@dataclasses.dataclass(frozen=True)
class EventTimeSpec:
  """The event-time feature and the window its span should cover."""
  feature: str  # a top-level column
  kind: str  # arrow_types.TIMESTAMP or DATE
  # The span's window in microseconds since 1970 (UTC), when the span names
  # a period (2024-06-01, 2024-06, 2024); else None.
  window_start_us: Optional[int]
  window_end_us: Optional[int]
  # The run's start: rows later than this (plus tolerance) are in the future.
  now_us: int
  future_tolerance_us: int = 0

  def to_micros(self, values: np.ndarray) -> np.ndarray:
    if self.kind == arrow_types.DATE:
      return values.astype(np.int64) * 86_400_000_000
    return values.astype(np.int64)

  def count(self, values: np.ndarray) -> np.ndarray:
    """[rows with a time, before the window, after it, in the future] of
    ``values`` (the stored unit of ``kind``)."""
    micros = self.to_micros(values)
    out = np.zeros(4, dtype=np.int64)
    out[0] = len(micros)
    if self.window_start_us is not None:
      out[1] = np.count_nonzero(micros < self.window_start_us)
      out[2] = np.count_nonzero(micros >= self.window_end_us)
    out[3] = np.count_nonzero(micros > self.now_us + self.future_tolerance_us)
    return out
