"""Which stored span is "earlier" and which one drift and skew compare with."""

from transforms.io import span_order


def _times(order):
  """run_time for spans computed in the order given (None: no run.json)."""
  return lambda s: (f'2026-01-01T00:00:{order.index(s):02d}+00:00'
                    if s in order else None)


def test_dates_by_date_and_numbers_by_number():
  assert span_order.ordered(['v10', 'v9', 'v1']) == ['v1', 'v9', 'v10']
  # 20240601 and 2024-05-31 are both days; text order puts them wrong.
  assert span_order.ordered(['20240601', '2024-05-31', '2024-05']) == [
      '2024-05', '2024-05-31', '20240601']
  # Dates first, then the other names.
  assert span_order.ordered(['train', '2024-06-01', 'v3']) == [
      '2024-06-01', 'train', 'v3']


def test_drift_baseline_of_v10_is_v9_not_v1():
  spans = ['v1', 'v10', 'v2', 'v9']
  chosen, how = span_order.drift_baseline(spans, 'v10', _times(spans))
  assert (chosen, how) == ('v9', 'the latest earlier span by the number '
                                 'in its name')
  assert span_order.drift_baseline(spans, 'v1', _times(spans))[0] is None


def test_drift_baseline_of_dated_spans_unchanged():
  spans = ['2024-05-30', '2024-05-31', '2024-06-01', '2024-06-02']
  assert span_order.drift_baseline(spans, '2024-06-01',
                                   _times(spans))[0] == '2024-05-31'
  none, why = span_order.drift_baseline(spans, '2024-05-30', _times(spans))
  assert none is None
  assert why == ("no earlier span by date than '2024-05-30' (stored: "
                 "2024-05-31, 2024-06-01, 2024-06-02)")


def test_drift_baseline_of_plain_names_is_the_span_computed_last():
  computed = ['clean', 'broken', 'other']  # in this order
  assert span_order.drift_baseline(['broken', 'clean', 'other'], 'clean',
                                   _times(computed))[0] == 'other'


def test_skew_baseline_snapshot_training_and_daily_serving():
  # One training snapshot: '2024-06-01' sorts before 'v3' and 'train' as
  # text, which used to leave serving data without a skew comparison.
  for snapshot in ('v3', 'train', 't'):
    chosen, how = span_order.skew_baseline([snapshot], '2024-06-01',
                                           _times([snapshot]))
    assert chosen == snapshot, how
  assert span_order.skew_baseline(['t'], 'nc', _times(['t']))[0] == 't'
  # Several snapshots: the one computed last.
  computed = ['v4', 'v3']
  assert span_order.skew_baseline(['v3', 'v4'], 'nc',
                                  _times(computed))[0] == 'v3'


def test_skew_baseline_dated_training_spans():
  spans = ['2024-05-01', '2024-05-15', '2024-06-10']
  assert span_order.skew_baseline(spans, '2024-06-01',
                                  _times(spans))[0] == '2024-05-15'
  assert span_order.skew_baseline(spans, '2024-05-15',
                                  _times(spans))[0] == '2024-05-15'
  # Only training data from the serving span's future: not compared, and
  # the note lists what is stored.
  none, why = span_order.skew_baseline(['2024-07-01', '2024-08-01'],
                                       '2024-06-01', _times([]))
  assert none is None
  assert why == ("no training span dated at or before '2024-06-01' "
                 "(stored: 2024-07-01, 2024-08-01)")
  assert span_order.skew_baseline([], 'x', _times([])) == (
      None, 'no training span stored (stored: none)')


def test_latest_span():
  assert span_order.latest(['v9', 'v10'], _times([])) == 'v10'
  assert span_order.latest(['2024-06-01', '20240602'], _times([])) == (
      '20240602')
  computed = ['b', 'a']
  assert span_order.latest(['a', 'b'], _times(computed)) == 'a'
