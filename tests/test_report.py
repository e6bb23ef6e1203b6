"""The HTML report: written by every validation, rebuilt and compared by the
report job, and rendered in a real headless Chromium."""

import os
import re

import pytest

from beam_jobs import infer_schema as infer_job
from beam_jobs import report as report_job
from beam_jobs import stats as stats_job
from beam_jobs import validate as validate_job
from beam_jobs._cli import EXIT_BLOCKING, EXIT_OK
from browser import Page, find_chromium
from conftest import REPO, make_cfg
from report import html as report
from transforms import statistics


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
  """The demo flow on the bundled data: stats 1985-86, schema, validate 1987."""
  store = tmp_path_factory.mktemp('report') / 'store'
  common = ['dataset=nlsy_wages', 'split=train', f'store.root={store}']
  for span in ('1985', '1986'):
    assert stats_job.run(make_cfg('stats', [*common, f'span={span}'])) == 0
  assert infer_job.run(make_cfg('infer_schema', [*common, 'span=1985'])) == 0
  code = validate_job.run(make_cfg('validate', [*common, 'span=1987']))
  assert code == EXIT_BLOCKING
  path = store / 'nlsy_wages' / 'split=train' / 'span=1987' / 'report.html'
  return {'store': store, 'common': common, 'path': path,
          'html': path.read_text()}


def test_every_validation_writes_a_self_contained_report(demo):
  page = demo['html']
  assert 'Blocking: 4 anomalies at or above ERROR (exit code 3)' in page
  # What broke, where, and by how much: the drifted feature, its slices and
  # its distance against the threshold.
  assert 'data-feature="exper"' in page
  for slice_name in ('(whole span)', 'married_no', 'ethn_other'):
    assert slice_name in page
  # exper (whole years, 19 values) is compared on its value shares: each man
  # gained a year, so the shares moved by 0.286.
  assert 'L_INFTY 0.286 (threshold 0.05)' in page  # WARNING above 0.05
  assert 'compared with split train span 1986' in page
  assert 'History (1985 to 1987, 3 spans)' in page
  # No network needed: nothing is loaded from anywhere.
  assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)


def test_report_respects_privacy_settings(tmp_path):
  """Top values hidden from the warehouse stay out of the report too."""
  store = tmp_path / 'store'
  common = ['dataset=nlsy_wages', 'split=train', f'store.root={store}',
            'privacy.hashed_features=[occupation]',
            'privacy.min_value_count=60']
  assert stats_job.run(make_cfg('stats', [*common, 'span=1986'])) == 0
  assert infer_job.run(make_cfg('infer_schema', common)) == 0
  validate_job.run(make_cfg('validate', [*common, 'span=1987']))
  page = (store / 'nlsy_wages' / 'split=train' / 'span=1987' /
          'report.html').read_text()
  # occupation: only as hashes
  assert 'Craftsmen' not in page
  assert statistics.hash_value('Craftsmen, Foremen_and_kindred') in page
  assert 'Agricultural' not in page  # an industry seen < 60 times: left out
  assert 'Manufacturing' in page  # seen 160 times: shown


def test_report_job_rebuilds_and_compares(demo, tmp_path):
  out = tmp_path / 'rebuilt.html'
  code = report_job.run(make_cfg('report', [*demo['common'], 'span=1987',
                                            f'report.output={out}']))
  assert code == EXIT_OK
  rebuilt = out.read_text()
  strip = lambda page: re.sub(r'Generated [^<]* UTC', '', page)  # noqa: E731
  assert strip(rebuilt) == strip(demo['html'])

  code = report_job.run(make_cfg('report', [*demo['common'], 'span=1987',
                                            'compare.span=1985']))
  assert code == EXIT_OK
  compared = (demo['store'] / 'nlsy_wages' / 'split=train' / 'span=1987' /
              'compare-train-1985.html').read_text()
  assert 'Comparison report' in compared
  assert 'drift: against train span 1985' in compared
  # two years of extra experience move further than one
  assert re.search(r'<b>exper</b> L_INFTY 0\.(3|4|5)',
                   compared)


def test_report_job_on_a_missing_span_is_one_line(demo):
  from transforms.errors import UserError  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match=r"span='1990': no statistics for "
                     r'nlsy_wages/train'):
    report_job.run(make_cfg('report', [*demo['common'], 'span=1990']))


def test_charts_scale_to_hundreds_of_features():
  """300 features render into a page of reasonable size, quickly."""
  import time  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  d = stats.datasets.add(name='All Examples', num_examples=1000)
  for i in range(300):
    f = d.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
    f.path.step.append(f'f{i:03d}')
    f.num_stats.common_stats.num_non_missing = 1000
    f.num_stats.mean = i
    h = f.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for b in range(10):
      h.buckets.add(low_value=b, high_value=b + 1, sample_count=100)
  measurements = [{'slice': '', 'feature': f'f{i:03d}', 'check': 'drift',
                   'metric': 'JENSEN_SHANNON_DIVERGENCE', 'value': i / 3000,
                   'threshold': 0.1, 'is_anomaly': i / 3000 > 0.1}
                  for i in range(300)]
  started = time.perf_counter()
  page = report.render(report.ReportInput(
      key={'dataset': 'wide', 'split': 'train', 'span': 's'},
      run={'run_id': 'r'}, stats=stats,
      baselines={'drift': ({'split': 'train', 'span': 'p'}, stats)},
      anomalies=[], measurements=measurements, history=[],
      measurement_history=[], privacy=statistics.PrivacySpec()))
  seconds = time.perf_counter() - started
  assert page.count('<details class="feature') == 300
  assert len(page) < 3_000_000, len(page)
  assert seconds < 10, seconds


def test_report_renders_in_headless_chromium(demo, tmp_path):
  binary = find_chromium()
  if binary is None:
    pytest.skip('Chromium is not installed and could not be installed here '
                '(make test installs Debian\'s chromium package as root)')
  page = Page(binary, str(tmp_path / 'profile'))
  try:
    page.open(demo['path'].as_uri())
    assert page.errors == []  # no console errors, no uncaught exceptions
    assert page.js('document.getElementById("verdict").textContent').startswith(
        'Blocking: 4 anomalies')
    rows = 'document.querySelectorAll("#anomaly-table tbody tr")'
    # 4 blocking (ERROR) rows and the shift check's WARNING verdict
    assert page.js(f'{rows}.length') == 5
    table = page.js('document.getElementById("anomaly-table").textContent')
    assert 'COVARIATE_SHIFT' in table, table
    # what was checked is spelled out, the checks beyond TFDV included
    checked = page.js('document.getElementById("checked").textContent')
    for check in ('schema', 'drift', 'pii'):
      assert f'{check}:' in checked, checked
    # charts are drawn: distance bars, distributions, history lines
    assert page.js('document.querySelectorAll("#drift svg.chart").length') > 5
    assert page.js('document.querySelectorAll("#history polyline").length') > 5
    bar = page.js('document.querySelector("#drift rect[fill=\'#dc2626\']")'
                  '.getBoundingClientRect().width')
    assert bar > 50  # the drifted feature's bar is drawn, in red
    # filters work: one slice leaves one row
    page.js('var s=document.querySelector("[data-filter=slice]");'
            's.value="married_no";s.dispatchEvent(new Event("change"))')
    visible = page.js(f'Array.from({rows}).filter(r=>r.style.display!=="none")'
                      '.length')
    assert visible == 1
    assert page.js('document.getElementById("anomaly-count").textContent') == (
        '1 of 5 shown')
    page.js('document.getElementById("expand-all").click()')
    assert page.js('document.querySelectorAll("details.feature[open]").length'
                   ) == 11
    shot = tmp_path / 'report.png'
    page.screenshot(str(shot))
    assert shot.stat().st_size > 50_000
    assert page.errors == []
  finally:
    page.close()
