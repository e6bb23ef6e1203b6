"""CSV dialect: delimiter and quote detection, encodings, the one-column check.

Unit tests of transforms/io/csv_dialect.py on small samples, and the stats job
end to end (in-process, DirectRunner) on the bundled NLSY demo data rewritten
with other delimiters, quotes and encodings.
"""

import bz2
import csv
import gzip
import io
import logging
import os

import pandas as pd
import pytest

from beam_jobs import stats as stats_job
from conftest import REPO, make_cfg, run_job, warehouse_rows
from settings import config
from transforms.io import csv_dialect
from transforms.io import sources
from transforms.errors import UserError

DEMO = os.path.join(REPO, 'data', 'nlsy_wages', 'span=1980', 'males.csv')
NUMERIC = {'nr': 'INT', 'school': 'INT', 'exper': 'INT', 'wage': 'FLOAT'}
# A French export of the same data: accented labels (Latin-1 / cp1252 files).
INDUSTRY_FR = {
    'Trade': 'Commerce_de_détail',
    'Manufacturing': 'Industrie_manufacturière',
    'Construction': 'Bâtiment',
    'Professional_and_Related Service': 'Services_spécialisés',
    'Business_and_Repair_Service': 'Services_aux_entreprises_et_réparation',
    'Transportation': 'Transports',
    'Agricultural': 'Agriculture',
    'Finance': 'Finance',
    'Personal_Service': 'Services_à_la_personne',
    'Public_Administration': 'Administration_publique',
    'Entertainment': 'Spectacles_et_loisirs',
    'Mining': 'Industrie_extractive',
}


def _demo_rows():
  with open(DEMO, newline='') as f:
    return list(csv.reader(f))


def _text(rows, delimiter=',', quotechar='"', quoting=csv.QUOTE_MINIMAL):
  out = io.StringIO()
  csv.writer(out, delimiter=delimiter, quotechar=quotechar, quoting=quoting,
             lineterminator='\n').writerows(rows)
  return out.getvalue()


def _write(path, rows, encoding='utf-8', **dialect):
  data = _text(rows, **dialect).encode(encoding)
  if str(path).endswith('.gz'):
    data = gzip.compress(data)
  elif str(path).endswith('.bz2'):
    data = bz2.compress(data)
  path.write_bytes(data)
  return path


def _french(rows):
  col = rows[0].index('industry')
  return [rows[0]] + [r[:col] + [INDUSTRY_FR[r[col]]] + r[col + 1:]
                      for r in rows[1:]]


# ----------------------------------------------------------------------------
# Detection on samples


@pytest.mark.parametrize('delimiter', [',', ';', '\t', '|'])
def test_detects_the_delimiter_of_the_demo_data(delimiter):
  found = csv_dialect.detect(_text(_demo_rows()[:60], delimiter=delimiter))
  assert (found.delimiter, found.quote_char, found.columns) == (
      delimiter, '"', 11)
  assert found.consistency == 1.0


@pytest.mark.parametrize('delimiter', [',', ';', '\t', '|'])
def test_quoted_fields_holding_the_other_delimiters(delimiter):
  # Every occupation holds each candidate; only the quotes keep them whole.
  rows = _demo_rows()[:40]
  col = rows[0].index('occupation')
  for r in rows[1:]:
    r[col] = r[col].replace('_and_', '; ').replace(', ', ' | ') + ', etc.\tx'
  text = _text(rows, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
  found = csv_dialect.detect(text)
  assert (found.delimiter, found.quote_char, found.columns) == (
      delimiter, '"', 11)


def test_single_quotes_are_detected():
  text = _text(_demo_rows()[:80], quotechar="'")
  assert "'Managers, Officials_and_Proprietors'" in text
  found = csv_dialect.detect(text)
  assert (found.delimiter, found.quote_char, found.columns) == (",", "'", 11)


def test_a_given_delimiter_or_quote_is_kept():
  text = _text(_demo_rows()[:20], delimiter=';')
  assert csv_dialect.detect(text, delimiter='|').delimiter == '|'
  found = csv_dialect.detect(text, quote_char="'")
  assert (found.delimiter, found.quote_char) == (';', "'")


def test_one_column_header_only_and_empty_samples():
  one = csv_dialect.detect('name\nAlice Smith\nBob\nO. Henry\n')
  assert (one.delimiter, one.columns, one.rows) == (',', 1, 4)
  # Candidates inside a one-column file that do not split every row alike.
  urls = csv_dialect.detect('url\nhttps://a.org/x\nhttp://b.org\n')
  assert (urls.delimiter, urls.columns) == (',', 1)
  header = csv_dialect.detect('nr;school;exper;wage\n')
  assert (header.delimiter, header.columns) == (';', 4)
  empty = csv_dialect.detect('')
  assert (empty.delimiter, empty.quote_char, empty.columns) == (',', '"', 0)
  assert csv_dialect.detect('\n\n').delimiter == ','


def test_a_header_must_agree_with_the_rows():
  # ':' splits every data row in two (times) but not the header.
  found = csv_dialect.detect('id,started\n1,12:30\n2,13:45\n3,09:05\n')
  assert (found.delimiter, found.columns) == (',', 2)
  # European decimals: ',' inside values, ';' between them.
  found = csv_dialect.detect('wage;school\n1,19;14\n1,67;13\n1,51;12\n')
  assert (found.delimiter, found.columns) == (';', 2)


def test_decode_sample_drops_a_bom_and_a_cut_off_line():
  raw = 'nr;industry\n1;Bâtiment\n2;Négoce\n'.encode('utf-8-sig')
  assert csv_dialect.decode_sample(raw, 'utf-8', complete=True) == (
      'nr;industry\n1;Bâtiment\n2;Négoce\n')
  # A sample cut in the middle of a character and of a line.
  cut = raw[:raw.index('Négoce'.encode()) + 2]
  assert csv_dialect.decode_sample(cut, 'utf-8', complete=False) == (
      'nr;industry\n1;Bâtiment\n')
  with pytest.raises(UnicodeDecodeError):
    csv_dialect.decode_sample('1;Négoce\n'.encode('latin-1'), 'utf-8', True)
  assert csv_dialect.decode_sample('1;Négoce\n'.encode('latin-1'),
                                   'latin-1', True) == '1;Négoce\n'


def test_misread_delimiter():
  misread = csv_dialect.misread_delimiter
  # A ';' file read with ',': one column, header and values hold ';'.
  assert misread('nr;school;wage', ['13;14;1.19', '17;13;1.67', '18;12;1.51'],
                 used=',') == ';'
  assert misread('nr\tschool', ['13\t14', '17\t13'], used=',') == '\t'
  # Header only.
  assert misread('nr|school|wage', [], used=',') == '|'
  # A real one-column file: quoted cells hold the delimiter in use, or the
  # header holds no delimiter, or too few values hold one.
  assert misread('name', ['Smith, John', 'Doe, Jane', 'Roe, R.'],
                 used=',') is None
  assert misread('tags', ['a;b', 'c;d', 'e'], used=',') is None
  assert misread('a;b', ['x', 'y', 'z;w'], used=',') is None
  # Without a header: values only, and a few of them.
  assert misread('f0', ['1;2', '3;4', '5;6'], used=',', header=False) == ';'
  assert misread('f0', ['1;2'], used=',', header=False) is None
  # ':' is never suggested: times and URLs hold it.
  assert misread('f0', ['12:30', '13:45', '09:05'], used=',',
                 header=False) is None


# ----------------------------------------------------------------------------
# resolve_csv_dialect and infer_schema on real files


def _spec(path, **kw):
  return sources.DatasetSpec(name='t', path=str(path), format='csv', **kw)


def test_resolve_detects_once_and_logs_it(tmp_path, caplog):
  path = _write(tmp_path / 'males.csv', _demo_rows(), delimiter=';')
  with caplog.at_level(logging.INFO, logger='transforms.io.sources'):
    spec = sources.resolve_csv_dialect(_spec(path), str(path))
  assert (spec.delimiter, spec.quote_char) == (';', '"')
  assert (f"dataset.csv.delimiter not set: detected ';' in {path}"
          in caplog.text)
  # Set ones are kept as they are.
  kept = _spec(path, delimiter='|', quote_char='"')
  assert sources.resolve_csv_dialect(kept, str(path)) == kept
  parquet = sources.DatasetSpec(name='t', path='x.parquet', format='parquet')
  assert sources.resolve_csv_dialect(parquet, 'x.parquet') is parquet


@pytest.mark.parametrize('name, encoding, file_encoding, delimiter', [
    ('bom.csv', 'utf-8', 'utf-8-sig', ','),
    ('bom.csv.gz', 'utf-8', 'utf-8-sig', ';'),
    ('sig.csv', 'utf-8-sig', 'utf-8-sig', '\t'),
    ('wide.csv', 'utf-16', 'utf-16', ';'),
    ('fr.csv.bz2', 'cp1252', 'cp1252', '|'),
])
def test_encodings_boms_and_compression(tmp_path, name, encoding,
                                        file_encoding, delimiter):
  rows = _french(_demo_rows())
  path = _write(tmp_path / name, rows, encoding=file_encoding,
                delimiter=delimiter)
  spec = sources.resolve_csv_dialect(_spec(path, encoding=encoding), str(path))
  assert spec.delimiter == delimiter
  schema = sources.infer_schema(spec, str(path))
  assert schema.names == rows[0]  # no BOM in the first name
  assert schema.field('nr').type == schema.field('school').type


def test_a_bom_with_another_encoding_names_the_key(tmp_path):
  path = _write(tmp_path / 'bom.csv', _demo_rows(), encoding='utf-8-sig')
  with pytest.raises(UserError, match=r'byte order mark but '
                     r"dataset\.csv\.encoding='latin-1'"):
    sources.resolve_csv_dialect(_spec(path, encoding='latin-1'), str(path))


# ----------------------------------------------------------------------------
# The stats job end to end


def _cfg(path, store, *extra):
  return make_cfg('stats', ['dataset.name=nlsy', f'dataset.path={path}',
                            'span=1980', *store, *extra])


def _features(db):
  return {r['feature']: r for r in warehouse_rows(
      db, "SELECT * FROM feature_stats WHERE slice = ''")}


def _top(row):
  return {tv['value']: tv['count'] for tv in row['top_values']}


@pytest.mark.parametrize('variant, dialect', [
    ('semicolon', {'delimiter': ';'}),
    ('tab', {'delimiter': '\t'}),
    ('pipe', {'delimiter': '|'}),
    ('single_quotes', {'delimiter': ',', 'quotechar': "'"}),
])
def test_stats_job_detects_the_dialect(tmp_path, store_overrides, caplog,
                                       variant, dialect):
  store, db = store_overrides
  path = _write(tmp_path / f'males_{variant}.csv', _demo_rows(), **dialect)
  with caplog.at_level(logging.INFO, logger='transforms.io.sources'):
    assert stats_job.run(_cfg(path, store)) == 0
  shown = csv_dialect.shown(dialect['delimiter'])
  assert f'dataset.csv.delimiter not set: detected {shown}' in caplog.text

  ref = pd.read_csv(DEMO)
  run, = warehouse_rows(db, 'SELECT * FROM runs')
  assert (run['num_examples'], run['num_malformed']) == (len(ref), 0) == (
      545, 0)
  features = _features(db)
  assert set(features) == set(ref.columns)
  for name, kind in NUMERIC.items():
    assert features[name]['type'] == kind, name
    assert features[name]['mean'] == pytest.approx(ref[name].mean()), name
  assert features['union']['type'] == 'STRING'
  assert features['residence']['num_missing'] == 145
  occupations = _top(features['occupation'])
  assert occupations['Craftsmen, Foremen_and_kindred'] == 93
  assert occupations['Managers, Officials_and_Proprietors'] == 32
  assert features['occupation']['unique'] == ref.occupation.nunique()


def test_stats_job_reads_latin1_with_the_encoding_set(tmp_path,
                                                      store_overrides):
  store, db = store_overrides
  path = _write(tmp_path / 'males_fr.csv', _french(_demo_rows()),
                encoding='latin-1', delimiter=';')
  assert stats_job.run(_cfg(path, store, 'dataset.csv.encoding=latin-1')) == 0
  industry = _features(db)['industry']
  top = _top(industry)
  assert top['Commerce_de_détail'] == 190
  assert top['Industrie_manufacturière'] == 128
  assert top['Bâtiment'] == 45
  assert industry['unique'] == 12
  assert not any('Ã' in v or '\ufffd' in v for v in top)
  assert _features(db)['wage']['type'] == 'FLOAT'


def test_stats_job_bom_is_not_in_the_first_column(tmp_path, store_overrides):
  store, db = store_overrides
  path = _write(tmp_path / 'males_bom.csv', _demo_rows(),
                encoding='utf-8-sig', delimiter=';')
  assert path.read_bytes().startswith(b'\xef\xbb\xbfnr;')
  assert stats_job.run(_cfg(path, store)) == 0
  features = _features(db)
  assert 'nr' in features and not any('\ufeff' in f for f in features)
  assert features['nr']['type'] == 'INT'
  assert features['nr']['mean'] == pytest.approx(pd.read_csv(DEMO).nr.mean())


def test_wrong_explicit_delimiter_is_one_line_naming_the_key(
    tmp_path, store_overrides):
  store, db = store_overrides
  path = _write(tmp_path / 'males.csv', _demo_rows(), delimiter=';')
  with pytest.raises(UserError) as e:
    stats_job.run(_cfg(path, store, "dataset.csv.delimiter=','"))
  message = str(e.value)
  assert '\n' not in message
  assert message.startswith(f"dataset.path '{path}' read with delimiter ',' "
                            f"as one column 'nr;school;")
  assert message.endswith("""whose header and values contain ';': set """
                          """"dataset.csv.delimiter=';'\"""")
  assert warehouse_rows(db, 'SELECT * FROM runs') == []


def test_undetectable_file_fails_too(tmp_path, store_overrides):
  # The header names a column the rows lack: ';' would set every row aside
  # (pyarrow takes the header's cell count), so nothing is detected, the file
  # reads as one column, and the check names the key.
  store, db = store_overrides
  rows = _demo_rows()
  path = _write(tmp_path / 'males.csv', [rows[0]] + [r[:-1] for r in rows[1:]],
                delimiter=';')
  with pytest.raises(UserError, match=(
      r"as one column 'nr;school;.*' whose header and values contain ';': "
      r"""set "dataset\.csv\.delimiter=';'\"$""")):
    stats_job.run(_cfg(path, store))
  assert warehouse_rows(db, 'SELECT * FROM runs') == []


def test_file_not_in_the_encoding_names_the_file_and_key(tmp_path,
                                                         store_overrides):
  store, db = store_overrides
  path = _write(tmp_path / 'males_fr.csv', _french(_demo_rows()),
                encoding='latin-1')
  with pytest.raises(UserError) as e:
    stats_job.run(_cfg(path, store))
  assert str(e.value) == (
      f'{path}: not valid utf-8 text (byte 0xe9 on line 2): set '
      f'dataset.csv.encoding to the encoding of the file (e.g. '
      f'dataset.csv.encoding=cp1252)')
  assert warehouse_rows(db, 'SELECT * FROM runs') == []


def test_a_later_file_not_in_the_encoding_fails_on_the_worker(
    tmp_path, store_overrides):
  store, db = store_overrides
  _write(tmp_path / 'a.csv', _demo_rows())
  _write(tmp_path / 'b.csv', _french(_demo_rows()), encoding='latin-1')
  with pytest.raises(UserError) as e:
    stats_job.run(_cfg(tmp_path / '*.csv', store))
  assert '\n' not in str(e.value)
  assert str(e.value).startswith(f'{tmp_path}/b.csv: not valid utf-8 text '
                                 f'(row 2): set dataset.csv.encoding')
  assert warehouse_rows(db, 'SELECT * FROM runs') == []


def test_command_line_wrong_delimiter_exits_1_with_one_line(tmp_path):
  path = _write(tmp_path / 'males.csv', _demo_rows(), delimiter='|')
  result = run_job('stats', 'dataset.name=nlsy', f'dataset.path={path}',
                   'span=1980', f'store.root={tmp_path}/store',
                   "dataset.csv.delimiter=';'")
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f"stats: error: dataset.path '{path}' read with "
                         f"delimiter ';' as one column 'nr|school|")
  assert last.endswith("""set "dataset.csv.delimiter='|'\"""")
  assert 'Traceback' not in result.stderr


# ----------------------------------------------------------------------------
# Config


def _spec_from(*overrides):
  return config.dataset_spec(make_cfg('stats', [
      'dataset.name=d', 'dataset.path=/d/x.csv', 'span=1', *overrides]))


def test_config_defaults_and_tab():
  spec = _spec_from()
  assert (spec.delimiter, spec.quote_char, spec.encoding) == (
      None, None, 'utf-8')
  assert _spec_from(r"dataset.csv.delimiter='\t'").delimiter == '\t'
  assert _spec_from('dataset.csv.delimiter=tab').delimiter == '\t'
  assert _spec_from("dataset.csv.delimiter=';'").delimiter == ';'
  assert _spec_from("dataset.csv.quote_char=''").quote_char == ''
  assert _spec_from('dataset.csv.encoding=latin-1').encoding == 'latin-1'


@pytest.mark.parametrize('override, message', [
    ('dataset.csv.encoding=klingon',
     r"^dataset\.csv\.encoding='klingon': unknown text encoding"),
    ('dataset.csv.encoding=rot13', r'^dataset\.csv\.encoding='),
    ("dataset.csv.delimiter=';;'",
     r"^dataset\.csv\.delimiter=';;': expected one character"),
    ("dataset.csv.quote_char=';'", r"^dataset\.csv\.quote_char=';'"),
])
def test_config_errors_name_the_key(override, message):
  extra = ["dataset.csv.delimiter=';'"] if 'quote_char' in override else []
  with pytest.raises(UserError, match=message):
    _spec_from(override, *extra)
