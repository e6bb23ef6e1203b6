"""Sources: each format read into canonical RecordBatches on DirectRunner."""

import glob
import gzip
import json
import os
import tempfile

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from conftest import people_frame
from transforms.io import sources
from transforms.errors import UserError


def _spec(path, fmt, **kw):
  return sources.DatasetSpec(name='t', path=str(path), format=fmt, **kw)


def _read(spec):
  """Runs ReadSpan; returns (rows as dicts, malformed records, batch sizes)."""
  schema = sources.infer_schema(spec, sources.match_files(spec.path)[0])
  out_dir = tempfile.mkdtemp()

  def dump(pcoll, name):
    return (pcoll | f'Json{name}' >> beam.Map(json.dumps, default=_text)
            | f'Write{name}' >> beam.io.WriteToText(
                os.path.join(out_dir, name)))

  with TestPipeline() as p:
    out = p | sources.ReadSpan(spec, schema)
    dump(out['batches'] | 'Rows' >> beam.FlatMap(_rows), 'rows')
    dump(out['batches'] | 'Sizes' >> beam.Map(lambda b: b.num_rows), 'sizes')
    dump(out['malformed'] | 'Bad' >> beam.Map(json.loads), 'bad')

  def load(name):
    values = []
    for path in glob.glob(os.path.join(out_dir, name + '*')):
      with open(path) as f:
        values += [json.loads(line) for line in f if line.strip()]
    return values

  return load('rows'), load('bad'), load('sizes')


def _text(value):
  return value.decode() if isinstance(value, bytes) else str(value)


def _rows(batch: pa.RecordBatch):
  """Canonical batches hold one-element lists (or null); unwrap them."""
  for row in batch.to_pylist():
    yield {k: (v[0] if v else None) for k, v in row.items()}


def test_parquet_rows_types_and_missing_values(tmp_path):
  df = people_frame(500)
  df.to_parquet(tmp_path / 'p.parquet', index=False)
  rows, bad, _ = _read(_spec(tmp_path / 'p.parquet', 'parquet'))
  assert len(rows) == 500 and bad == []
  by_id = {r['user_id']: r for r in rows}
  assert by_id['u000007']['income'] is None          # NaN is missing
  assert by_id['u000011']['country'] is None         # None is missing
  assert by_id['u000001']['age'] == int(df.age[1])
  assert by_id['u000003']['member'] == int(df.member[3])  # bool -> 0/1


def test_parquet_row_groups_are_split_into_bounded_batches(tmp_path):
  df = people_frame(2500)
  pq.write_table(pa.Table.from_pandas(df, preserve_index=False),
                 tmp_path / 'p.parquet', row_group_size=1000)
  rows, _, sizes = _read(_spec(tmp_path / 'p.parquet', 'parquet',
                               batch_size=400))
  assert len(rows) == 2500
  assert max(sizes) <= 400


def _wide_table(n_rows: int, n_columns: int) -> pa.Table:
  """Numbers, text with nulls, and a list column: the types a row group holds."""
  columns = {}
  for i in range(n_columns):
    if i % 3 == 0:
      columns[f'n{i}'] = pa.array([float(r * i) for r in range(n_rows)])
    elif i % 3 == 1:
      columns[f's{i}'] = pa.array([None if r % 7 == 0 else f'v{r % 5}'
                                   for r in range(n_rows)])
    else:
      columns[f'l{i}'] = pa.array([[r, i] for r in range(n_rows)])
  return pa.table(columns)


def test_wide_parquet_row_groups_are_read_column_by_column_with_same_rows(
    tmp_path):
  # 150 columns of small chunks: read a few columns at a time (three reads),
  # which must give the rows and batches that streaming them gives.
  table = _wide_table(3000, 150)
  path = tmp_path / 'wide.parquet'
  pq.write_table(table, path, row_group_size=1000)
  meta = pq.ParquetFile(path).metadata
  assert meta.num_row_groups == 3
  assert all(sources.reads_by_columns(meta.row_group(i)) for i in range(3))
  assert 150 > 2 * sources.COLUMNS_PER_READ

  spec = _spec(path, 'parquet', batch_size=400)
  schema = sources.infer_schema(spec, str(path))
  fn = sources._ReadParquetRowGroupFn(spec, schema)  # pylint: disable=protected-access
  blocks = [block for i in range(3)
            for block, bad in fn.read_blocks((str(path), i)) if not bad]
  assert [b.num_rows for b in blocks] == [400, 400, 200] * 3
  got = pa.concat_tables(blocks)
  assert got.column_names == table.column_names
  assert got.equals(table)

  rows, bad, sizes = _read(spec)
  assert len(rows) == 3000 and bad == [] and max(sizes) <= 400
  by_row = {r['n3'] / 3: r for r in rows}
  assert by_row[14.0]['s1'] is None and by_row[15.0]['s1'] == 'v0'


def test_parquet_with_large_column_chunks_is_streamed(tmp_path):
  # 300k doubles per chunk (2.3 MiB, several pages): Arrow's batch reader
  # holds one page per column, less than the decoded row group.
  path = tmp_path / 'long.parquet'
  pq.write_table(pa.table({'x': pa.array(range(300_000), pa.float64())}),
                 path, row_group_size=300_000, compression='none')
  meta = pq.ParquetFile(path).metadata.row_group(0)
  assert not sources.reads_by_columns(meta)
  rows, _, sizes = _read(_spec(path, 'parquet', batch_size=100_000))
  assert len(rows) == 300_000 and sorted(sizes) == [100_000] * 3


def test_csv_glob_over_several_gzipped_files(tmp_path):
  df = people_frame(300)
  for i in range(3):
    part = df.iloc[i * 100:(i + 1) * 100]
    with gzip.open(tmp_path / f'part-{i}.csv.gz', 'wt') as f:
      part.to_csv(f, index=False)
  rows, bad, _ = _read(_spec(tmp_path / 'part-*.csv.gz', 'csv'))
  assert len(rows) == 300 and bad == []
  assert sorted(r['user_id'] for r in rows) == sorted(df.user_id)
  assert all(isinstance(r['age'], int) for r in rows)


def test_csv_malformed_rows_are_set_aside_not_fatal(tmp_path):
  # Types come from the first file; the second breaks them and its shape.
  (tmp_path / 'a.csv').write_text('age,city\n31,Berlin\n55,Oslo\n')
  (tmp_path / 'b.csv').write_text('age,city\n'
                                  '42,Paris,EXTRA\n'   # one cell too many
                                  'forty,Rome\n'       # not an integer
                                  '60,Lima\n')
  rows, bad, _ = _read(_spec(tmp_path / '*.csv', 'csv'))
  assert sorted(r['age'] for r in rows) == [31, 55, 60]
  reasons = sorted(b['reason'] for b in bad)
  assert len(bad) == 2
  assert any('expected 2 cells, found 3' in r for r in reasons)
  assert any("'age'" in r and 'integer' in r for r in reasons)
  assert any('EXTRA' in b['row'] for b in bad)
  assert all(b['file'].endswith('b.csv') for b in bad)


def test_a_non_numeric_value_in_the_sample_makes_the_column_text(tmp_path):
  path = tmp_path / 'm.csv'
  path.write_text('age,city\n31,Berlin\nforty,Rome\n')
  rows, bad, _ = _read(_spec(path, 'csv'))
  assert sorted(r['age'] for r in rows) == ['31', 'forty'] and bad == []


def test_csv_without_header_uses_configured_names(tmp_path):
  path = tmp_path / 'n.tsv'
  path.write_text('1\tx\n2\ty\n')
  rows, _, _ = _read(_spec(path, 'csv', header=False, delimiter='\t',
                           column_names=('n', 'letter')))
  assert sorted((r['n'], r['letter']) for r in rows) == [(1, 'x'), (2, 'y')]


def test_column_type_override_keeps_codes_as_strings(tmp_path):
  path = tmp_path / 'z.csv'
  path.write_text('zip,n\n01234,1\n98765,2\n')
  rows, _, _ = _read(_spec(path, 'csv', column_types=(('zip', 'string'),)))
  assert sorted(r['zip'] for r in rows) == ['01234', '98765']


def test_jsonl_with_a_broken_line(tmp_path):
  path = tmp_path / 'e.jsonl'
  path.write_text('{"a": 1, "b": "x"}\n{"a": 2\n{"a": 3, "b": "z"}\n')
  rows, bad, _ = _read(_spec(path, 'jsonl'))
  assert sorted(r['a'] for r in rows) == [1, 3]
  assert len(bad) == 1 and bad[0]['line'] == 2


def test_tfrecord_examples(tmp_path):
  path = str(tmp_path / 'e.tfrecord')
  with tf.io.TFRecordWriter(path) as w:
    for i in range(5):
      ex = tf.train.Example(features=tf.train.Features(feature={
          'x': tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
          's': tf.train.Feature(bytes_list=tf.train.BytesList(value=[b'k'])),
      }))
      w.write(ex.SerializeToString())
  rows, bad, _ = _read(_spec(path, 'tfrecord'))
  assert sorted(r['x'] for r in rows) == [0, 1, 2, 3, 4] and bad == []


def test_missing_path_is_a_one_line_error(tmp_path):
  with pytest.raises(UserError, match=r"no such file"):
    sources.match_files(str(tmp_path / 'nope' / '*.csv'))


def test_corrupt_parquet_names_the_file(tmp_path):
  path = tmp_path / 'bad.parquet'
  path.write_bytes(b'this is not parquet at all')
  with pytest.raises(UserError, match=r'bad\.parquet.*cannot read as parquet'):
    sources.infer_schema(_spec(path, 'parquet'), str(path))


def test_format_from_extension():
  assert sources.format_from_path('gs://b/x/part-1.csv.gz') == 'csv'
  assert sources.format_from_path('/d/*.parquet') == 'parquet'
  assert sources.format_from_path('/d/file.bin') is None


def test_batches_cross_stages_as_arrow_not_pickle(tmp_path):
  """Batches use the Arrow coder (cheap size estimates, compact shuffles)."""
  import tensorflow_data_validation  # noqa: F401  (registers its own coder)
  from transforms import span_stats  # noqa: F401
  coder = beam.coders.registry.get_coder(pa.RecordBatch)
  assert isinstance(coder, sources.RecordBatchCoder)

  path = tmp_path / 'x.parquet'
  pq.write_table(pa.Table.from_pandas(people_frame(500)), path)
  spec = _spec(path, 'parquet')
  schema = sources.infer_schema(spec, str(path))
  p = beam.Pipeline()
  out = p | sources.ReadSpan(spec, schema)
  assert out['batches'].element_type is pa.RecordBatch

  batch = sources.to_tfdv_batch(pa.Table.from_pandas(people_frame(50)))
  again = coder.decode(coder.encode(batch))
  assert again.equals(batch)
  assert again.schema == batch.schema  # large_list columns survive
  assert coder.estimate_size(batch) == batch.nbytes


@pytest.mark.parametrize('fmt', ['parquet', 'csv', 'jsonl'])
def test_wide_rows_make_smaller_batches_by_bytes(tmp_path, fmt):
  """200 numeric columns (1.6 kB a row): batches of at most ~1 MiB each."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  df = pd.DataFrame(rng.normal(size=(3000, 200)),
                    columns=[f'c{i}' for i in range(200)])
  path = tmp_path / f'wide.{fmt}'
  if fmt == 'parquet':
    df.to_parquet(path, index=False)
  elif fmt == 'csv':
    df.to_csv(path, index=False)
  else:
    df.to_json(path, orient='records', lines=True)
  rows, bad, sizes = _read(_spec(path, fmt, batch_bytes=1 << 20))
  assert len(rows) == 3000 and bad == []
  # 1 MiB / (200 x 8 bytes) = 655 rows; JSON text is cut at a quarter.
  assert max(sizes) <= 700 and sum(sizes) == 3000
  assert len(sizes) >= 5
