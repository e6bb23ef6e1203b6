"""What TFDV's statistics do not say about a feature, added in the same pass.

Both engines write these, for the whole span and for every slice, into the
same ``stats.pb`` as ``custom_stats`` of each feature (stats.engine=tfdv by
``meta_generator.FeatureMetaGenerator``, a TFDV generator; the vectorized
engine by transforms/engine/output.py):

- ``dv/kind``: what the feature is (transforms/arrow_types.py): ``int``,
  ``timestamp``, ``struct``, ...; read back by ``kind_of``.
- ``domain_info``: for time features, TFDV's time domain
  (``time_domain {integer_format: UNIX_MICROSECONDS}``), which
  ``tfdv.infer_schema`` copies into the schema.
- ``dv/value_counts``: exact value counts of integer and boolean features
  with at most ``max_categorical_values`` distinct values (0/1 labels, codes,
  months). TFDV computes value shares for strings only; these let drift and
  skew compare such features on their shares instead of measuring 0.
- ``dv/distinct``: the number of distinct values of integer features (KMV
  sketch of ``DISTINCT_SKETCH_SIZE`` hashes: exact below that many, ~1.6%
  standard error above), so that an id is recognized by its values (all
  distinct, evenly spread) rather than by its name.
- ``dv/event_time/...``: on the event-time feature, how many rows fall
  before or after the span's window and how many lie in the future.

Everything downstream (schema inference, comparisons, the report) reads these
stored statistics; no check re-reads the data. This module names them,
finds the event-time feature and reads the statistics back; it imports
neither TFDV nor TensorFlow.
"""

from typing import Dict, Mapping, Optional, Tuple

from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms import arrow_types
from transforms.io.span_order import span_window  # noqa: F401  (re-exported)
from transforms.errors import UserError

# The names and the event-time spec live in a module without TFDV (the
# vectorized engine writes them too); they are re-exported here.
from transforms.stats_names import (  # pylint: disable=unused-import
    DISTINCT, DOMAIN_INFO, EVENT_AFTER, EVENT_BEFORE, EVENT_FUTURE, EVENT_ROWS,
    KIND, NOW, VALUE_COUNTS, WINDOW_END, WINDOW_START, EventTimeSpec)
# Hashes kept per integer feature for its distinct count: exact up to this
# many distinct values, standard error 1/sqrt(4096) = 1.6% above; an
# accumulator holds at most 32 KB per integer feature.
DISTINCT_SKETCH_SIZE = 4096


Path = Tuple[str, ...]


def event_time_column(configured: Optional[str], kinds: Mapping[Path, str]
                      ) -> Optional[str]:
  """The event-time feature: ``configured`` (``dataset.event_time``) or, when
  ``auto``, the only timestamp column of the data (None when there is none or
  several).

  ``kinds`` ({feature: kind}, from the first file) may be empty when the
  input is not read (a dry run, BigQuery): then only a named column counts.
  """
  if configured is None:
    return None
  columns = {path[0]: k for path, k in kinds.items() if len(path) == 1}
  if configured == 'auto':
    stamps = [name for name, k in columns.items()
              if k == arrow_types.TIMESTAMP]
    return stamps[0] if len(stamps) == 1 else None
  if columns:
    if configured not in columns:
      raise UserError(f'dataset.event_time={configured!r}: no such column '
                      f'(columns: {", ".join(list(columns)[:20])})')
    if columns[configured] not in arrow_types.TIME_KINDS:
      raise UserError(f'dataset.event_time={configured!r}: the column holds '
                      f'{columns[configured]} values, not timestamps or dates '
                      f'(set dataset.column_types or pick another column)')
  return configured


# ----------------------------------------------------------------------------
# Reading it back from statistics


def custom(feature: statistics_pb2.FeatureNameStatistics, name: str
           ) -> Optional[statistics_pb2.CustomStatistic]:
  for stat in feature.custom_stats:
    if stat.name == name:
      return stat
  return None


def kind_of(feature: statistics_pb2.FeatureNameStatistics) -> Optional[str]:
  """The feature's kind, or None for statistics made before kinds existed."""
  stat = custom(feature, KIND)
  return stat.str if stat is not None else None


def value_counts(feature: statistics_pb2.FeatureNameStatistics
                 ) -> Optional[Dict[str, float]]:
  """{value: count} when the pass counted every value exactly, else None."""
  stat = custom(feature, VALUE_COUNTS)
  if stat is None:
    return None
  return {b.label: b.sample_count for b in stat.rank_histogram.buckets}


def distinct_count(feature: statistics_pb2.FeatureNameStatistics
                   ) -> Optional[float]:
  """How many distinct values an integer feature has (estimated above
  DISTINCT_SKETCH_SIZE), or None when the pass did not count them."""
  stat = custom(feature, DISTINCT)
  return stat.num if stat is not None else None


def numbers(feature: statistics_pb2.FeatureNameStatistics
            ) -> Dict[str, float]:
  """Every numeric custom statistic of the feature, by name."""
  return {s.name: s.num for s in feature.custom_stats
          if s.WhichOneof('val') == 'num'}


def as_time(kind_name: str, value: float):
  """A stored time value (microseconds or days since 1970) as a datetime."""
  import datetime as dt  # pylint: disable=g-import-not-at-top
  epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
  if kind_name == arrow_types.DATE:
    return epoch + dt.timedelta(days=float(value))
  return epoch + dt.timedelta(microseconds=float(value))
