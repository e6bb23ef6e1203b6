"""The site over the store: its numbers are the warehouse's, it keeps the
privacy rules, it rebuilds only what changed, and it opens in Chromium."""

import html
import os
import re
import shutil

import pytest

from beam_jobs import infer_schema as infer_job
from beam_jobs import site as site_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from browser import Page, find_chromium
from conftest import make_cfg, warehouse_rows
from report import site
from settings import job as job_settings
from transforms import statistics
from transforms.errors import UserError

PRIVACY = ['privacy.hashed_features=[occupation]',
           'privacy.min_value_count=60']


@pytest.fixture(scope='module')
def store(tmp_path_factory):
  """The bundled data: statistics of 1984 and 1985, schema v1, validations
  of 1986 and 1987 (drift against the year before), with occupation hashed
  and values seen fewer than 60 times left out."""
  root = tmp_path_factory.mktemp('site') / 'store'
  common = ['dataset=nlsy_wages', 'split=train', f'store.root={root}',
            *PRIVACY]
  for span in ('1984', '1985'):
    assert stats_job.run(make_cfg('stats', [*common, f'span={span}'])) == 0
  assert infer_job.run(make_cfg('infer_schema', [*common, 'span=1984'])) == 0
  for span in ('1986', '1987'):
    # history.min_spans=2: 1987's history check runs on 1984-1986
    code = validate_job.run(make_cfg('validate', [
        *common, f'span={span}', 'history.min_spans=2']))
    assert code == EXIT_BLOCKING
  assert site_job.run(make_cfg('site', [f'store.root={root}'])) == EXIT_OK
  return root


def _warehouse(root, sql):
  return warehouse_rows(str(root / 'warehouse.duckdb'), sql)


def _read(root, page):
  return (root / 'site' / page).read_text()


def _points(page: str, label: str):
  """{span: value} of the chart labelled ``label`` (its points' data)."""
  found = re.search(r'<svg[^>]*aria-label="' + re.escape(html.escape(label)) +
                    r'"[^>]*>(.*?)</svg>', page, re.S)
  assert found, label
  data = re.search(r'data-points="([^"]*)"', found.group(1)).group(1)
  return {span: float(value) for span, value in (
      point.split(' ') for point in data.split(','))}


def _latest_runs(root):
  return {r['span']: r for r in _warehouse(root, """
      SELECT * FROM runs r WHERE run_ts = (SELECT max(run_ts) FROM runs
      WHERE dataset = r.dataset AND split = r.split AND span = r.span)""")}


def test_index_and_timeline_show_the_warehouse_runs(store):
  runs = _latest_runs(store)
  index = _read(store, 'index.html')
  row = re.search(r'<tr data-dataset="nlsy_wages" data-split="train">(.*?)'
                  r'</tr>', index, re.S).group(1)
  assert '<td>1987</td>' in row and 'blocking' in row
  found = _warehouse(store, f"""
      SELECT "check", severity, count(*) AS n FROM anomalies
      WHERE run_id = '{runs['1987']['run_id']}' GROUP BY 1, 2""")
  assert found
  cell = re.search(r'<td class="anomalies">(.*?)</td>', row).group(1)
  for r in found:  # e.g. "drift 4 ERROR"
    assert re.search(rf'{r["check"]} (\d+ \w+, )*{r["n"]} {r["severity"]}',
                     cell), (r, cell)

  page = _read(store, 'nlsy_wages/index.html')
  for span, run in runs.items():
    tr = re.search(rf'<tr data-span="{span}"[^>]*>(.*?)</tr>', page,
                   re.S).group(1)
    rows = re.search(r'class="num rows">([\d,]+)<', tr).group(1)
    assert int(rows.replace(',', '')) == run['num_examples']
    malformed = re.search(r'class="num malformed">([\d,]+)<', tr).group(1)
    assert int(malformed.replace(',', '')) == run['num_malformed']
    if run['job'] == 'validate':
      assert 'blocking' in tr and 'href="../../nlsy_wages/split=train/' \
          f'span={span}/report.html"' in tr
    else:
      assert 'not checked' in tr and 'no report' in tr
  assert _points(page, 'train: rows per span') == {
      s: r['num_examples'] for s, r in runs.items()}
  # the schema version and when it was promoted
  assert '<tr data-version="1"><td>v1</td>' in page


def test_feature_pages_chart_the_warehouse_numbers(store):
  stats = {(r['feature'], r['span']): r for r in _warehouse(store, """
      SELECT * FROM feature_stats WHERE dataset = 'nlsy_wages'
      AND slice = ''""")}
  wage = _read(store, 'nlsy_wages/train/features/wage.html')
  means = _points(wage, 'wage: mean')
  assert set(means) == {'1984', '1985', '1986', '1987'}
  for span, value in means.items():
    assert value == pytest.approx(stats[('wage', span)]['mean'], rel=1e-9)
  missing = _points(wage, 'wage: missing rate')
  for span, value in missing.items():
    assert value == pytest.approx(stats[('wage', span)]['missing_rate'])
  # every drift measure of a feature against its threshold, over spans
  drift = _warehouse(store, """
      SELECT span, metric, value, threshold, is_anomaly FROM drift_skew
      WHERE "check" = 'drift' AND feature = 'exper' AND slice = ''""")
  assert {r['span'] for r in drift} == {'1986', '1987'}
  exper = _read(store, 'nlsy_wages/train/features/exper.html')
  metric = drift[0]['metric']
  points = _points(exper, f'exper: drift: {metric} (against train)')
  assert points == {r['span']: pytest.approx(r['value']) for r in drift}
  assert any(r['is_anomaly'] for r in drift)
  assert 'r="3" fill="#dc2626"' in exper  # the drifted spans marked red
  # the history check's expected range: the robust z the check wrote is
  # the distance of the mean from the band's middle in half-widths / k
  z = _warehouse(store, """SELECT value, threshold FROM drift_skew WHERE
      "check" = 'history' AND metric = 'ROBUST_Z_MEAN' AND feature = 'wage'
      AND span = '1987'""")
  assert len(z) == 1
  found = re.search(r'aria-label="wage: mean vs history".*?data-band="'
                    r'(?:[^"]*,)?1987 ([^ ]+) ([^",]+)', wage, re.S)
  low, high = float(found.group(1)), float(found.group(2))
  spread = (high - low) / 2 / z[0]['threshold']
  assert abs(means['1987'] - (low + high) / 2) / spread == pytest.approx(
      z[0]['value'], rel=1e-6)
  # a slice on demand: its own page, its own numbers
  by_slice = {r['span']: r for r in _warehouse(store, """
      SELECT span, mean FROM feature_stats WHERE feature = 'wage'
      AND slice = 'married_no'""")}
  assert 'href="../slices/married_no/wage.html"' in wage
  sliced = _read(store, 'nlsy_wages/train/slices/married_no/wage.html')
  assert _points(sliced, 'wage: mean') == {
      s: pytest.approx(r['mean']) for s, r in by_slice.items()}


def test_site_keeps_the_privacy_rules(store):
  every = ''.join(p.read_text() for p in (store / 'site').rglob('*.html'))
  assert 'Craftsmen' not in every  # occupation: only as hashes
  assert statistics.hash_value('Craftsmen, Foremen_and_kindred') in every
  assert 'Agricultural' not in every  # an industry seen < 60 times
  assert 'Manufacturing' in every  # seen more often: shown
  # nothing loaded from anywhere: the site opens offline
  assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', every)


def test_adding_a_span_rereads_only_that_span(store, tmp_path):
  root = tmp_path / 'store'
  shutil.copytree(store, root)
  spec = job_settings.parse(make_cfg('site', [f'store.root={root}']),
                            'site').site.spec
  cache = root / 'site' / 'nlsy_wages' / '_cache' / 'train'
  before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
  unchanged = site.build(spec)
  assert (unchanged.spans_read, unchanged.pages_written) == (0, 0)
  common = ['dataset=nlsy_wages', 'split=train', f'store.root={root}',
            *PRIVACY]
  assert stats_job.run(make_cfg('stats', [*common, 'span=1983'])) == 0
  added = site.build(spec)
  assert (added.spans_read, added.spans_reused) == (1, 4)
  after = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
  assert {k for k in after if after[k] != before.get(k)} == {'1983.json'}
  page = (root / 'site' / 'nlsy_wages' / 'index.html').read_text()
  assert '1983 to 1987' in page
  assert '1983' in _points((root / 'site' / 'nlsy_wages' / 'train' /
                            'features' / 'wage.html').read_text(),
                           'wage: mean')


def test_site_in_headless_chromium(store, tmp_path):
  binary = find_chromium()
  if binary is None:
    pytest.skip('Chromium is not installed (make chromium)')
  stats = {r['span']: r for r in _warehouse(store, """
      SELECT span, mean FROM feature_stats WHERE feature = 'wage'
      AND slice = ''""")}
  page = Page(binary, str(tmp_path / 'profile'))

  def follow(selector):
    href = page.js(f'document.querySelector({selector!r}).href')
    page.open(href)
    assert page.errors == []
    return href

  try:
    page.open((store / 'site' / 'index.html').as_uri())
    assert page.errors == []
    follow('#datasets a')
    assert page.js('document.querySelector("h1").textContent') == 'nlsy_wages'
    follow('a.feature[href$="/wage.html"]')
    assert page.js('document.querySelector("h1").textContent') == 'wage'
    # the mean chart: one drawn point per span, at the warehouse's value
    points = page.js(
        'Array.from(document.querySelectorAll(\'svg[aria-label="wage: mean"]'
        ' circle\')).map(c => [c.dataset.span, +c.dataset.value, '
        'c.getBoundingClientRect().height])')
    assert {s: v for s, v, _ in points} == {
        s: pytest.approx(r['mean']) for s, r in stats.items()}
    assert all(h > 0 for _, _, h in points)  # drawn, not just present
    page.open((store / 'site' / 'nlsy_wages' / 'index.html').as_uri())
    follow('tr[data-span="1987"] a.report')
    assert page.js('document.getElementById("verdict").textContent'
                   ).startswith('Blocking')
    assert page.errors == []
  finally:
    page.close()


def test_an_unknown_dataset_is_one_line(store):
  with pytest.raises(UserError) as e:
    site_job.run(make_cfg('site', [f'store.root={store}',
                                   'dataset.name=nope']))
  assert str(e.value) == (f"dataset.name='nope': no spans in the store "
                          f"{store} (datasets there: nlsy_wages)")


def test_older_runs_and_failed_runs_are_said_not_skipped(store, tmp_path):
  """A span validated before checks.json existed is drawn from TFDV's
  anomaly protos (and says so); a span holding a dead run's scratch folder
  shows as failed."""
  root = tmp_path / 'store'
  shutil.copytree(store, root)
  span = root / 'nlsy_wages' / 'split=train' / 'span=1987'
  (span / 'checks.json').unlink()
  scratch = root / 'nlsy_wages' / 'split=train' / 'span=1988' / '.tmp-r1'
  scratch.mkdir(parents=True)
  (scratch / 'stats.pb').write_bytes(b'')
  cfg = make_cfg('site', [f'store.root={root}', 'site.full=true'])
  assert site_job.run(cfg) == EXIT_OK
  page = (root / 'site' / 'nlsy_wages' / 'index.html').read_text()
  tr = re.search(r'<tr data-span="1987"[^>]*>(.*?)</tr>', page, re.S).group(1)
  assert 'TFDV protos: schema, drift and skew only' in tr
  assert '1988: run r1 left its scratch folder' in page
  index = (root / 'site' / 'index.html').read_text()
  assert 'failed (1988)' in index
  # TFDV's drift proto of 1987 holds no distance of exper (the project's
  # own L-infinity found the drift): 1987 gets no point, not a zero.
  exper = (root / 'site' / 'nlsy_wages' / 'train' / 'features' /
           'exper.html').read_text()
  figure = re.search(r'<figcaption>drift: L_INFTY \(against train\)'
                     r'</figcaption>(.*?)</figure>', exper, re.S).group(1)
  assert '1986: 0.2' in figure and '1987' not in figure


def test_site_on_gcs(store, request, monkeypatch):
  """The same site over a gs:// store (a Cloud Storage emulator), with
  relative links to the reports that hold in the bucket."""
  try:
    emulator = request.getfixturevalue('gcs_emulator')
  except pytest.FixtureLookupError:
    pytest.skip('needs the gcs_emulator fixture (tests/conftest.py of the '
                'gs:// work)')
  from transforms.io import gcs  # pylint: disable=g-import-not-at-top
  for key, value in emulator.env.items():
    monkeypatch.setenv(key, value)
  assert gcs.skip_credentials_for_emulator()
  bucket = emulator.bucket('site')
  for path in store.rglob('*'):
    relative = path.relative_to(store).as_posix()
    if path.is_file() and not relative.startswith(('site/', 'warehouse')):
      emulator.upload(bucket, f'store/{relative}', path.read_bytes())
  assert site_job.run(make_cfg('site', [f'store.root=gs://{bucket}/store'])
                      ) == EXIT_OK
  local = _read(store, 'nlsy_wages/index.html')
  remote = emulator.download(bucket, 'store/site/nlsy_wages/index.html'
                             ).decode('utf-8')
  assert _points(remote, 'train: rows per span') == _points(
      local, 'train: rows per span')
  assert ('href="../../nlsy_wages/split=train/span=1987/report.html"'
          in remote)
  index = emulator.download(bucket, 'store/site/index.html').decode('utf-8')
  assert 'data-dataset="nlsy_wages" data-split="train"' in index
