"""BigQuery as a source, offline: query construction, row conversion, graph.

Beam's ReadFromBigQuery has no endpoint setting, so it cannot read from the
emulator; what follows it (rows -> RecordBatches -> statistics) runs for real
on DirectRunner from rows shaped as ReadFromBigQuery yields them.
"""

import datetime as dt
import decimal

import apache_beam as beam
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv

from conftest import make_cfg
from transforms.io import bigquery_source
from settings import config
from transforms import span_stats
from transforms import statistics
from transforms.errors import UserError


def _cfg(*extra):
  return make_cfg('stats', ['dataset.name=clicks', 'dataset.format=bigquery',
                            'span=2024-06-01', *extra])


def test_table_partition_query():
  spec = config.dataset_spec(_cfg('dataset.table=proj.events.clicks',
                                  'dataset.partition_column=dt',
                                  'dataset.columns=[user_country, price]'))
  assert spec.query == ('SELECT `user_country`, `price` FROM '
                        "`proj.events.clicks` WHERE `dt` = '2024-06-01'")
  assert spec.path == 'bigquery:proj.events.clicks'


def test_own_query_gets_the_span_substituted():
  spec = config.dataset_spec(_cfg(
      "dataset.query='SELECT * FROM `p.e.c` WHERE DATE(ts) = \"${span}\"'"))
  assert spec.query == 'SELECT * FROM `p.e.c` WHERE DATE(ts) = "2024-06-01"'


@pytest.mark.parametrize('extra, message', [
    ([], 'set exactly one of them'),
    (['dataset.table=p.d.t', 'dataset.query=SELECT 1'],
     'set exactly one of them'),
    (['dataset.table=just_a_table'], "dataset.table='just_a_table'"),
    (['dataset.table=p.d.t', "dataset.partition_column='dt; DROP'"],
     'dataset.partition_column'),
    (['dataset.table=p.d.t', 'dataset.bigquery_method=FAST'],
     "dataset.bigquery_method='FAST'"),
])
def test_bad_bigquery_config_names_the_key(extra, message):
  with pytest.raises(UserError, match=message.replace('(', r'\(')):
    config.dataset_spec(_cfg(*extra))


def test_rows_become_canonical_batches():
  rows = [
      {'n': 1, 'x': 1.5, 'price': decimal.Decimal('9.99'), 'ok': True,
       'ts': dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone.utc),
       'day': dt.date(2024, 6, 1), 'tags': ['a', 'b'], 'gone': None,
       'meta': {'k': 1}},
      {'n': None, 'x': 2.0, 'price': None, 'ok': False, 'ts': None,
       'day': None, 'tags': [], 'gone': None, 'meta': None},
  ]
  batch = bigquery_source.rows_to_batch(rows)
  types = {f.name: f.type for f in batch.schema}
  assert 'gone' not in types  # all-null in this batch: counted as missing
  assert types['n'] == pa.large_list(pa.int64())
  assert types['ok'] == pa.large_list(pa.int64())
  assert types['x'] == types['price'] == pa.large_list(pa.float64())
  # Time is time: microseconds and days since 1970 (transforms/arrow_types).
  assert types['ts'] == types['day'] == pa.large_list(pa.int64())
  assert batch.column(batch.schema.get_field_index('tags')).to_pylist() == [
      [b'a', b'b'], []]
  assert batch.column(batch.schema.get_field_index('ts')).to_pylist() == [
      [1717243200_000000], None]
  assert batch.column(batch.schema.get_field_index('day')).to_pylist() == [
      [19875], None]
  # A RECORD is a struct: TFDV's nested feature meta.k.
  assert batch.column(batch.schema.get_field_index('meta')).to_pylist() == [
      [{'k': [1]}], None]


def test_rows_to_statistics_on_direct_runner(tmp_path):
  """Everything after ReadFromBigQuery, for real: 250 rows in batches of 100."""
  rows = [{'country': ['US', 'DE'][i % 2], 'price': decimal.Decimal(i),
           'clicked': i % 3 == 0} for i in range(250)]
  options = statistics.stats_options(
      num_top_values=5, num_rank_histogram_buckets=10, num_histogram_buckets=5,
      num_quantiles_histogram_buckets=4, epsilon=0.01)
  out = str(tmp_path / 'stats.pb')
  with beam.Pipeline() as p:
    batches = (p | beam.Create(rows)
               | beam.BatchElements(min_batch_size=100, max_batch_size=100)
               | beam.ParDo(bigquery_source._RowsToBatchesFn('bigquery'))  # pylint: disable=protected-access
               .with_output_types(pa.RecordBatch))
    _ = (batches | statistics.ComputeStatistics(options)
         | tfdv.WriteStatisticsToBinaryFile(out))
    assert_that(batches | beam.Map(lambda b: b.num_rows),
                equal_to([100, 100, 50]))
  stats = tfdv.load_stats_binary(out).datasets[0]
  assert stats.num_examples == 250
  by_name = {f.path.step[0]: f for f in stats.features}
  assert by_name['price'].num_stats.max == 249
  assert by_name['clicked'].num_stats.mean == pytest.approx(84 / 250)
  assert by_name['country'].string_stats.unique == 2


def test_pipeline_graph_builds_without_touching_bigquery(tmp_path):
  """The statistics pipeline with a BigQuery source is built, not run."""
  cfg = _cfg('dataset.table=proj.events.clicks', 'dataset.partition_column=dt',
             f'store.root={tmp_path}')
  spec = config.dataset_spec(cfg)
  options = statistics.stats_options(**config.stats_settings(cfg))
  p = beam.Pipeline()
  _ = p | span_stats.StatisticsPipeline(spec, None, options, str(tmp_path))
  proto = p.to_runner_api()
  labels = [t.unique_name for t in proto.components.transforms.values()]
  assert any(l.endswith('ReadBigQuery/ReadFromBigQuery') for l in labels)
  assert any(l.endswith('ReadBigQuery/ToRecordBatches') for l in labels)
  assert any('GenerateStatistics' in l for l in labels)
