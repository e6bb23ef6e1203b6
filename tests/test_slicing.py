"""The vectorized slicer gives exactly TFDV's slices.

``transforms/slicing.py`` replaces TFDV's per-row slice keys; every case here
runs both on the same batch and compares keys, order and the rows of each
slice.
"""

import pickle

import numpy as np
import pyarrow as pa
import pytest
from tensorflow_data_validation.utils import slicing_util

from transforms import slicing
from transforms.io import sources


def _batch(n=2000, seed=0):
  rng = np.random.default_rng(seed)
  colors = np.array([b'red', b'green', b'blue', 'caf\u00e9'.encode()])
  color = [[colors[i]] if i < 4 else None
           for i in rng.integers(0, 5, n)]  # ~20% missing
  size = [[int(v)] for v in rng.integers(0, 6, n)]
  # Several values per row, with repeats inside a row.
  tags = [[str(t) for t in rng.integers(0, 4, rng.integers(0, 4))]
          for _ in range(n)]
  score = [[float(v)] for v in rng.choice([0.5, 1.0, 2.25, np.nan], n)]
  return pa.RecordBatch.from_arrays(
      [pa.array(color, pa.list_(pa.binary())),
       pa.array(size, pa.list_(pa.int64())),
       pa.array(tags, pa.list_(pa.large_string())),
       pa.array(score, pa.list_(pa.float64()))],
      ['color', 'size', 'tags', 'score'])


def _slices(fn, batch):
  # repr: NaN scores compare equal as text.
  return [(key, repr(part.to_pydict())) for key, part in fn(batch)]


@pytest.mark.parametrize('features', [
    {'color': None},
    {'size': None},
    {'tags': None},
    {'score': None},
    {'size': ['3', '1']},  # integer feature, values given as text
    {'color': [b'red', b'blue']},
    {'color': None, 'size': None},
    {'tags': None, 'color': None, 'size': [2, 4]},
    {'no_such_column': None},
    {'no_such_column': None, 'size': None},
])
@pytest.mark.parametrize('rows', [2000, 30000])
def test_same_slices_as_tfdv(features, rows):
  # 2,000 rows: every slice is under MIN_VIEW_ROWS (copies); 30,000 rows:
  # single features give views, crossed ones a mix of views and copies.
  batch = _batch(rows)
  ours = _slices(slicing.feature_value_slicer(dict(features)), batch)
  theirs = _slices(slicing_util.get_feature_value_slicer(dict(features)),
                   batch)
  assert [k for k, _ in ours] == [k for k, _ in theirs]
  assert ours == theirs
  if 'no_such_column' not in features or len(features) > 1:
    assert ours  # the case slices something


def test_small_slices_are_copies_and_big_ones_travel_with_their_rows_only():
  batch = _batch(30000)
  rows = {key: part for key, part in
          slicing.feature_value_slicer({'color': None, 'size': None})(batch)}
  small = [p for p in rows.values() if p.num_rows < slicing.MIN_VIEW_ROWS]
  big = [p for p in rows.values() if p.num_rows >= slicing.MIN_VIEW_ROWS]
  assert small and big
  whole = len(pickle.dumps(batch))
  # A small slice held in TFDV's combiner must not keep the batch alive.
  for part in small:
    assert len(pickle.dumps(part)) < whole * 2 * part.num_rows / batch.num_rows
  # Between processes, a big slice is as big as a copy of its rows.
  coder = sources.RecordBatchCoder()
  for part in big:
    copy = pa.RecordBatch.from_pylist(part.to_pylist(), schema=part.schema)
    assert len(coder.encode(part)) <= len(coder.encode(copy)) * 1.05
    # repr: NaN scores compare equal as text.
    assert (repr(coder.decode(coder.encode(part)).to_pydict()) ==
            repr(part.to_pydict()))


def test_empty_batch_and_nulls_inside_lists():
  batch = _batch(0)
  fn = slicing.feature_value_slicer({'color': None})
  assert _slices(fn, batch) == []
  # A null value inside a list: TFDV's own slicer handles the batch.
  odd = pa.RecordBatch.from_arrays(
      [pa.array([[b'a', None], [b'a'], None], pa.list_(pa.binary()))], ['c'])
  assert (_slices(slicing.feature_value_slicer({'c': None}), odd) ==
          _slices(slicing_util.get_feature_value_slicer({'c': None}), odd))


def test_invalid_utf8_value_is_refused_as_tfdv_does():
  batch = pa.RecordBatch.from_arrays(
      [pa.array([[b'\xff\xfe']], pa.list_(pa.binary()))], ['c'])
  with pytest.raises(ValueError, match='valid UTF-8'):
    list(slicing.feature_value_slicer({'c': None})(batch))


def test_what_tfdv_refuses_is_refused_without_importing_tfdv():
  """The slicer no longer builds TFDV's up front (the vectorized pass does
  not import TFDV); it refuses the same slice specs and column types."""
  from tensorflow_data_validation import constants  # pylint: disable=g-import-not-at-top
  assert slicing.MIN_VIEW_ROWS == constants.DEFAULT_DESIRED_INPUT_BATCH_SIZE
  for features, error in (({'c': [1.5]}, NotImplementedError),
                          ({'c': 3}, TypeError)):
    with pytest.raises(error) as theirs:
      slicing_util.get_feature_value_slicer(dict(features))
    with pytest.raises(error) as ours:
      slicing.feature_value_slicer(features)
    assert str(ours.value) == str(theirs.value)
  # Values asked of a column that is not a list (TFDV's feature type check).
  flat = pa.RecordBatch.from_arrays([pa.array([1, 2])], ['c'])
  with pytest.raises(TypeError) as theirs:
    list(slicing_util.get_feature_value_slicer({'c': [1]})(flat))
  with pytest.raises(TypeError) as ours:
    list(slicing.feature_value_slicer({'c': [1]})(flat))
  assert str(ours.value) == str(theirs.value)


def _diamonds_statistics(monkeypatch, tmp_path, partitions, slicer=None):
  """Real data (diamonds, 53,940 stones, in two batches) sliced by cut and by
  color x clarity: {slice name: DatasetFeatureStatistics}. ``slicer``
  replaces this project's slicer (e.g. TFDV's own)."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  import corpus  # pylint: disable=g-import-not-at-top
  from transforms import arrow_types  # pylint: disable=g-import-not-at-top
  from transforms import statistics  # pylint: disable=g-import-not-at-top
  raw = corpus.to_arrow('diamonds')
  table = pa.table({n: arrow_types.cast_column(
      raw.column(n), arrow_types.read_type(raw.column(n).type))
                    for n in raw.column_names})
  batches = [arrow_types.table_to_tfdv(t)
             for t in (table.slice(0, 30000), table.slice(30000))]
  monkeypatch.setattr(statistics, 'RESULT_PARTITIONS', partitions)
  if slicer is not None:
    monkeypatch.setattr(statistics.slicing, 'feature_value_slicer', slicer)
  options = statistics.stats_options(
      num_top_values=10, num_rank_histogram_buckets=10,
      num_histogram_buckets=10, num_quantiles_histogram_buckets=10,
      epsilon=0.01, slices=['cut', ['color', 'clarity']],
      columns=table.column_names)
  path = str(tmp_path / f'stats-{partitions}-{slicer is None}.pb')
  with beam.Pipeline() as p:
    _ = (p | beam.Create(batches, reshuffle=False)
         | statistics.ComputeStatistics(options)
         | tfdv.WriteStatisticsToBinaryFile(path))
  stats = tfdv.load_stats_binary(path)
  return {statistics.slice_name(d): d for d in stats.datasets}


def _assert_same_statistics(ours, theirs):
  from transforms import statistics  # pylint: disable=g-import-not-at-top
  assert len(ours) == 1 + 5 + 7 * 8 == len(theirs)
  for name, dataset in theirs.items():
    other = ours[name]
    assert other.num_examples == dataset.num_examples
    a = {statistics.feature_path(f): f for f in dataset.features}
    b = {statistics.feature_path(f): f for f in other.features}
    assert a == b, name


def test_joined_result_partitions_equal_one_merge(monkeypatch, tmp_path):
  """The statistics from 16 result partitions joined once equal TFDV's single
  merge, dataset by dataset and feature by feature."""
  _assert_same_statistics(
      _diamonds_statistics(monkeypatch, tmp_path, 16),
      _diamonds_statistics(monkeypatch, tmp_path, 1))


def test_slice_views_give_the_statistics_of_tfdv_slicer(monkeypatch, tmp_path):
  """The cut slices (thousands of stones each) reach TFDV as views, many
  color x clarity slices as copies: every statistic equals what TFDV's own
  slicer (a copy per slice) gives."""
  _assert_same_statistics(
      _diamonds_statistics(monkeypatch, tmp_path, 16),
      _diamonds_statistics(monkeypatch, tmp_path, 16,
                           slicer=slicing_util.get_feature_value_slicer))
