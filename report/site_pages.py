"""The site's pages: index, dataset timeline, feature (and slice) timelines.

Pure functions from span summaries (report/site_data.py) to HTML text. Every
page is self-contained (inline CSS and SVG, no script needed, nothing
loaded from anywhere) and links to the others with relative paths, so the
site opens from disk or a bucket with no server. Charts are the report's
(``report.html.sparkline``); values follow the report's privacy rules
(applied when the summaries were made).
"""

import collections
import dataclasses
import datetime as dt
import hashlib
import math
import posixpath
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from report import html as report
from transforms.checks import history as history_check
from transforms.io import span_order

_e, _num, _pct = report._e, report._num, report._pct  # pylint: disable=protected-access
_SAFE = re.compile(r'[^A-Za-z0-9._-]')
CHART_WIDTH, CHART_HEIGHT = 560, 110


@dataclasses.dataclass(frozen=True)
class Layout:
  """How much a feature page shows (conf/site.yaml, site.*)."""
  # The per-span numbers table lists this many latest spans (and every
  # span with an anomaly on the feature); the charts hold every span.
  table_spans: int = 30
  # Share-over-time charts for this many of the latest span's top values.
  top_value_charts: int = 3

_CSS = report._CSS + """
nav{font-size:13px;margin:6px 0}nav a{margin-right:10px}
.status{font-weight:600;padding:1px 8px;border-radius:8px;font-size:12px}
.status.ok{background:#dcfce7;color:#166534}.status.blocking,.status.failed{
background:#fee2e2;color:#991b1b}.status.stats{background:#e0e7ff;color:#3730a3}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{border:1px solid
#e5e7eb;border-radius:6px;padding:6px}tr.flag td:first-child{border-left:3px
solid #dc2626}td.num{text-align:right;font-variant-numeric:tabular-nums}
.small{font-size:12px;color:#6b7280}
"""  # pylint: disable=protected-access


def file_name(name: str) -> str:
  """A feature or slice name as one file name: unchanged when safe, else
  with the unsafe characters replaced and a short digest (no collisions)."""
  safe = _SAFE.sub('_', name) or '_'
  if safe != name or safe.startswith('.'):
    digest = hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]
    safe = f'{safe.lstrip(".")[:80]}-{digest}'
  return safe


def feature_page(dataset: str, split: str, feature: str,
                 slice_name: str = '') -> str:
  """A feature page's path, relative to the site's root."""
  if slice_name:
    return (f'{dataset}/{split}/slices/{file_name(slice_name)}/'
            f'{file_name(feature)}.html')
  return f'{dataset}/{split}/features/{file_name(feature)}.html'


def _split_scheme(path: str) -> Tuple[str, str]:
  if '://' in path:
    scheme, rest = path.split('://', 1)
    bucket, _, inner = rest.partition('/')
    return f'{scheme}://{bucket}', '/' + inner
  return '', path


def relative(target: str, from_dir: str) -> str:
  """A link from a page in ``from_dir`` to ``target`` (absolute paths, local
  or on one bucket); the absolute target when they share no root."""
  t_root, t_path = _split_scheme(target)
  f_root, f_path = _split_scheme(from_dir)
  if t_root != f_root:
    return target
  return posixpath.relpath(t_path, f_path)


def _up(page: str) -> str:
  """From a page (relative to the site's root) back to the root."""
  return '../' * page.count('/')


def _doc(title: str, body: str) -> str:
  return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
          f'<meta name="viewport" content="width=device-width">'
          f'<title>{_e(title)}</title><style>{_CSS}</style></head><body>'
          f'{body}<footer class="note"><p>Built from the artifact store by '
          f'beam-data-validation (python -m beam_jobs.site). Values follow the '
          f'runs\' privacy settings: rare top values left out, configured and '
          f'PII-carrying features hashed.</p></footer></body></html>')


def _time(ts: Optional[str]) -> str:
  if not ts:
    return '–'
  try:
    when = dt.datetime.fromisoformat(str(ts))
  except ValueError:
    return str(ts)
  if when.tzinfo is not None:
    when = when.astimezone(dt.timezone.utc)
  return when.strftime('%Y-%m-%d %H:%M UTC')


def status_of(summary: Dict[str, Any]) -> Tuple[str, str]:
  """(css class, words) of a span's status."""
  if summary.get('job') != 'validate':
    return 'stats', f'not checked ({summary.get("job")} run)'
  status = summary.get('status') or 'ok'
  return status, status


def _counts_text(counts: Dict[str, Dict[str, int]]) -> str:
  if not counts:
    return '0'
  return ' · '.join(
      f'{_e(check)} ' + ', '.join(f'{n} {_e(sev)}' for sev, n in
                                  sorted(sev_counts.items()))
      for check, sev_counts in sorted(counts.items()))


def _total(counts: Dict[str, Dict[str, int]]) -> int:
  return sum(n for c in counts.values() for n in c.values())


def _chart(title: str, chart: str, note: str = '') -> str:
  if not chart:
    return ''
  return (f'<figure><figcaption>{_e(title)}'
          f'{f" <span class=small>{_e(note)}</span>" if note else ""}'
          f'</figcaption>{chart}</figure>')


def _spark(points, label, **kw) -> str:
  return report.sparkline(points, label, width=CHART_WIDTH,
                          height=CHART_HEIGHT, **kw)


def _range(points) -> str:
  """'low – high' of a series' values, for a chart's caption."""
  values = [v for _, v in points if v is not None and math.isfinite(v)]
  if not values:
    return ''
  return f'{_num(min(values))} – {_num(max(values))}'


def _series_chart(title: str, points, label: str, note: str = '',
                  **kw) -> str:
  """A chart of a series captioned with its range (the line is scaled to
  it, so a flat series must not look like a swing)."""
  span = _range(points)
  return _chart(title, _spark(points, label, **kw),
                '; '.join(x for x in (span and f'range {span}', note) if x))


# ----------------------------------------------------------------------------
# Index


def index(rows: Sequence[Dict[str, Any]]) -> str:
  """Every dataset and split: latest span, status, anomalies by check,
  schema version, last run. ``rows`` come from site.split_rows."""
  body = ['<header><h1>Data validation: every dataset</h1>'
          '<p class="small">Each row: the latest span of a dataset\'s split '
          'and its run. Follow a dataset for its timeline.</p></header>',
          '<table id="datasets"><thead><tr><th>dataset</th><th>split</th>'
          '<th>spans</th><th>latest span</th><th>status</th>'
          '<th>anomalies by check (latest span)</th><th>schema version</th>'
          '<th>last run</th></tr></thead><tbody>']
  for r in rows:
    cls, words = r['status']
    body.append(
        f'<tr data-dataset="{_e(r["dataset"])}" data-split="{_e(r["split"])}">'
        f'<td><a href="{_e(r["dataset"])}/index.html">{_e(r["dataset"])}'
        f'</a></td><td>{_e(r["split"])}</td><td class="num">{r["spans"]}</td>'
        f'<td>{_e(r["latest"])}</td><td><span class="status {_e(cls)}">'
        f'{_e(words)}</span></td><td class="anomalies">'
        f'{_counts_text(r["counts"])}</td><td>{_e(r["schema_version"])}</td>'
        f'<td>{_e(_time(r["last_run"]))}</td></tr>')
  if not rows:
    body.append('<tr><td colspan="8" class="empty">The store holds no '
                'spans yet.</td></tr>')
  body.append('</tbody></table>')
  return _doc('Data validation: every dataset', ''.join(body))


# ----------------------------------------------------------------------------
# Dataset page


def dataset_page(dataset: str, splits: Dict[str, List[Dict[str, Any]]],
                 problems: Sequence[Dict[str, str]],
                 versions: Sequence[Dict[str, Any]],
                 report_link: Callable[[str, str], Optional[str]],
                 features: Dict[str, List[Tuple[str, str, int]]]) -> str:
  """The timeline of each split's spans, the schema versions, the features.

  ``splits``: {split: summaries, earliest first}; ``report_link(split,
  span)``: the relative link to a span's report.html (None: no report);
  ``features``: {split: [(feature, kind, spans with anomalies)]}."""
  page = f'{dataset}/index.html'
  up = _up(page)
  body = [f'<nav><a href="{up}index.html">all datasets</a></nav>'
          f'<header><h1>{_e(dataset)}</h1></header>']
  for split in sorted(splits):
    spans = splits[split]
    body.append(f'<section class="split" id="split-{_e(split)}">'
                f'<h2>split {_e(split)}: {len(spans)} spans '
                f'({_e(spans[0]["span"])} to {_e(spans[-1]["span"])})</h2>')
    flagged = [s['span'] for s in spans if s['status'] == 'blocking']
    body.append('<div class="charts">' + _series_chart(
        'rows per span', [(s['span'], s['num_examples']) for s in spans],
        f'{split}: rows per span', marked=flagged) + _series_chart(
        'malformed rows per span',
        [(s['span'], s['num_malformed']) for s in spans],
        f'{split}: malformed rows per span') + _series_chart(
        'anomalies per span', [(s['span'], _total(s['anomaly_counts']))
                               for s in spans if s['job'] == 'validate'],
        f'{split}: anomalies per span', 'red: blocking', marked=flagged) +
        '</div>')
    body.append('<table class="timeline"><thead><tr><th>span</th>'
                '<th>status</th><th>rows</th><th>malformed</th>'
                '<th>anomalies by check and severity</th><th>schema</th>'
                '<th>run</th><th>report</th></tr></thead><tbody>')
    for s in reversed(spans):  # newest first: what a reader looks for
      cls, words = status_of(s)
      link = report_link(split, s['span'])
      cell = (f'<a class="report" href="{_e(link)}">report</a>' if link
              else '<span class="small">no report (statistics only)</span>')
      checks = _counts_text(s['anomaly_counts'])
      if s['checks_from'] == 'anomalies/*.pb':
        checks += (' <span class="small">(TFDV protos: schema, drift and '
                   'skew only)</span>')
      elif s['job'] != 'validate':
        checks = '<span class="small">not checked</span>'
      body.append(
          f'<tr data-span="{_e(s["span"])}" class="'
          f'{"flag" if cls == "blocking" else ""}"><td>{_e(s["span"])}</td>'
          f'<td><span class="status {_e(cls)}">{_e(words)}</span></td>'
          f'<td class="num rows">{_num(s["num_examples"])}</td>'
          f'<td class="num malformed">{_num(s["num_malformed"])}</td>'
          f'<td class="anomalies">{checks}</td>'
          f'<td>{_e(s["schema_version"]) if s["schema_version"] is not None else "–"}'
          f'</td><td class="small">{_e(_time(s["run_ts"]))}</td>'
          f'<td>{cell}</td></tr>')
    body.append('</tbody></table>')
    mine = [p for p in problems if p['split'] == split]
    if mine:
      body.append('<h3>Spans without a usable run</h3><ul class="problems">' +
                  ''.join(f'<li>{_e(p["span"])}: {_e(p["why"])}</li>'
                          for p in mine) + '</ul>')
    body.append(f'<h3>Features ({len(features.get(split, []))})</h3>'
                '<table class="features"><thead><tr><th>feature</th>'
                '<th>kind</th><th>spans with anomalies</th></tr></thead>'
                '<tbody>')
    for name, kind, flagged_spans in features.get(split, []):
      href = relative('/' + feature_page(dataset, split, name), '/' + dataset)
      body.append(f'<tr class="{"flag" if flagged_spans else ""}"><td>'
                  f'<a class="feature" href="{_e(href)}">{_e(name)}</a></td>'
                  f'<td>{_e(kind)}</td><td class="num">{flagged_spans}</td>'
                  f'</tr>')
    body.append('</tbody></table></section>')
  body.append('<section id="schemas"><h2>Schema versions</h2>')
  if versions:
    body.append('<table><thead><tr><th>version</th><th>created</th>'
                '<th>promoted</th><th>parent</th><th>origin</th><th>note</th>'
                '</tr></thead><tbody>' + ''.join(
                    f'<tr data-version="{v["version"]}"><td>v{v["version"]}'
                    f'</td><td>{_e(_time(v["created"]))}</td><td>'
                    f'{_e(_time(v["promoted"]) if v["promoted"] else "not promoted")}'
                    f'</td><td>{_e(v["parent"])}</td><td>{_e(v["origin"])}</td>'
                    f'<td>{_e(v["note"])}</td></tr>' for v in versions) +
                '</tbody></table>')
  else:
    body.append('<p class="empty">No schema versions stored.</p>')
  body.append('</section>')
  return _doc(f'{dataset}: timeline', ''.join(body))


# ----------------------------------------------------------------------------
# Feature page


def _history_band(spans: Sequence[Dict[str, Any]],
                  measured: Sequence[Tuple[str, Dict[str, Any]]], metric: str,
                  value_of: Callable[[Dict[str, Any]], Optional[float]]
                  ) -> Dict[str, Tuple[float, float]]:
  """{span: (low, high)}: the range the history check expected, for spans
  the check measured ``metric`` of the feature in (``measured``: the
  feature's (span, measurement row) pairs): median +- k * robust spread of
  the same metric over the window of earlier spans, with the settings of
  that span's run (transforms/checks/history.py)."""
  wanted = f'ROBUST_Z_{metric.upper()}'
  checked = {span for span, m in measured
             if m.get('check') == 'history' and m.get('metric') == wanted}
  band = {}
  for i, s in enumerate(spans):
    if s['span'] not in checked:
      continue
    spec = s.get('history') or {}
    window = [value_of(e) for e in spans[max(0, i - int(spec.get(
        'window', history_check.HistorySpec.window))):i]]
    window = [v for v in window if v is not None]
    if not window:
      continue
    k = float(spec.get('k', history_check.HistorySpec.k))
    _, median, spread = history_check.robust_z(
        window[-1], window, float(spec.get(
            'min_change', history_check.HistorySpec.min_change)))
    band[s['span']] = (median - k * spread, median + k * spread)
  return band


def index_findings(spans: Sequence[Dict[str, Any]]
                   ) -> Tuple[Dict[Tuple[str, str], List], Dict[Tuple[str, str], List]]:
  """({(slice, feature): [(span, measurement)]}, the same of anomalies),
  so that each feature page reads only its own rows."""
  measured = collections.defaultdict(list)
  found = collections.defaultdict(list)
  for s in spans:
    for m in s['measurements']:
      measured[(m.get('slice', ''), m.get('feature', ''))].append(
          (s['span'], m))
    for a in s['anomalies']:
      found[(a.get('slice', ''), a.get('feature', ''))].append((s['span'], a))
  return measured, found


def feature_timeline(dataset: str, split: str, feature: str,
                     spans: Sequence[Dict[str, Any]], slice_name: str,
                     slices: Sequence[Tuple[str, int, int]],
                     report_link: Callable[[str], Optional[str]],
                     findings: Tuple[Dict, Dict], layout: Layout) -> str:
  """One feature of one split (or one slice of it) across spans.

  ``spans``: the split's summaries, earliest first; ``findings``: their
  measurements and anomalies by (slice, feature) (index_findings);
  ``slices``: [(slice,
  rows in the latest span, anomalous measurements)] to link to (whole-span
  page only); ``report_link(span)``: relative link to a span's report."""
  page = feature_page(dataset, split, feature, slice_name)
  up = _up(page)
  rows = [(s, s['features'].get(slice_name, {}).get(feature)) for s in spans]
  present = [(s, f) for s, f in rows if f is not None]
  kind = present[-1][1]['kind'] if present else '–'
  where = f' [{slice_name}]' if slice_name else ''
  body = [f'<nav><a href="{up}index.html">all datasets</a>'
          f'<a href="{up}{_e(dataset)}/index.html">{_e(dataset)}</a>'
          + (f'<a href="{_e(relative("/" + feature_page(dataset, split, feature), "/" + posixpath.dirname(page)))}">'
             f'{_e(feature)} (whole span)</a>' if slice_name else '') +
          f'</nav><header><h1>{_e(feature)}{_e(where)}</h1><p>'
          f'dataset {_e(dataset)} · split {_e(split)} · kind {_e(kind)} · '
          f'in {len(present)} of {len(spans)} spans</p></header>']
  missing_spans = [s['span'] for s, f in rows if f is None]
  if missing_spans:
    body.append(f'<p class="note">Not in the statistics of '
                f'{len(missing_spans)} span(s): '
                f'{_e(", ".join(missing_spans[:20]))}'
                f'{" ..." if len(missing_spans) > 20 else ""}</p>')
  # --- statistics
  def series(key):
    return [(s['span'], f.get(key)) for s, f in present]
  by_span = {s['span']: f for s, f in present}
  measured = findings[0].get((slice_name, feature), [])
  mean_band = _history_band(spans, measured, 'mean',
                            lambda s: _get(s, slice_name, feature, 'mean'))
  missing_band = _history_band(
      spans, measured, 'missing_rate',
      lambda s: _get(s, slice_name, feature, 'missing_rate'))
  if slice_name:  # the history check looks at whole spans only
    mean_band, missing_band = {}, {}
  charts = [_series_chart('rows present', series('present'),
                          f'{feature}: rows present'),
            _series_chart('missing rate', series('missing_rate'),
                          f'{feature}: missing rate',
                          'band: the history check\'s expected range'
                          if missing_band else '', band=missing_band)]
  numeric = any(f.get('mean') is not None for _, f in present)
  if numeric:
    charts.append(_series_chart(
        'mean', series('mean'), f'{feature}: mean',
        'band: 10th to 90th percentile', band={
            span: (f['q10'], f['q90']) for span, f in by_span.items()
            if f.get('q10') is not None and f.get('q90') is not None}))
    if mean_band:
      charts.append(_chart('mean against the history check\'s expected range',
                           _spark(series('mean'), f'{feature}: mean vs '
                                  f'history', band=mean_band),
                           'band: median ± k × robust spread of the '
                           'earlier window'))
  if any(f.get('unique') is not None for _, f in present):
    charts.append(_series_chart('distinct values', series('unique'),
                                f'{feature}: distinct values'))
    latest_top = [v for v, _ in (present[-1][1].get('top') or [])][:layout.top_value_charts]
    for value in latest_top:
      charts.append(_chart(f'share of {value[:40]}', _spark(
          [(s['span'], dict(map(tuple, f.get('top') or [])).get(value))
           for s, f in present], f'{feature}: share of {value}'),
          'spans where it was not a top value (or too rare to show) have no '
          'point'))
  body.append('<section id="statistics"><h2>Statistics</h2><div class='
              f'"charts">{"".join(charts)}</div></section>')
  # --- checks: every measure against its threshold
  body.append(_checks_section(spans, feature, measured))
  # --- anomalies
  found = findings[1].get((slice_name, feature), [])
  body.append(f'<section id="anomalies"><h2>Anomalies ({len(found)})</h2>')
  if found:
    body.append('<table><thead><tr><th>span</th><th>check</th><th>type</th>'
                '<th>severity</th><th>measure</th><th>value</th>'
                '<th>threshold</th><th>report</th></tr></thead><tbody>')
    for span, a in reversed(found):
      link = report_link(span)
      body.append(
          f'<tr><td>{_e(span)}</td><td>{_e(a["check"])}</td><td>'
          f'{_e(a.get("anomaly_type"))}</td><td><span class="sev '
          f'{_e(a.get("severity"))}">{_e(a.get("severity"))}</span></td>'
          f'<td>{_e(a.get("metric"))}</td><td class="num">'
          f'{_num(a.get("value"))}</td><td class="num">'
          f'{_num(a.get("threshold"))}</td><td>'
          + (f'<a href="{_e(link)}">report</a>' if link else '–') +
          '</td></tr>')
    body.append('</tbody></table>')
  body.append('</section>')
  # --- the numbers behind the charts
  flagged_spans = {span for span, _ in found}
  body.append(_numbers_table(rows, flagged_spans, layout.table_spans))
  if slices:
    body.append('<section id="slices"><h2>Slices</h2><table><thead><tr>'
                '<th>slice</th><th>rows (latest span)</th><th>measurements '
                'over threshold</th></tr></thead><tbody>' + ''.join(
                    f'<tr><td><a class="slice" href="'
                    f'{_e(relative("/" + feature_page(dataset, split, feature, name), "/" + posixpath.dirname(page)))}'
                    f'">{_e(name)}</a></td><td class="num">{_num(n)}</td>'
                    f'<td class="num">{over}</td></tr>'
                    for name, n, over in slices) + '</tbody></table>'
                '</section>')
  return _doc(f'{dataset} / {split} / {feature}{where}', ''.join(body))


def _get(summary, slice_name, feature, key):
  f = summary['features'].get(slice_name, {}).get(feature)
  return None if f is None else f.get(key)


def _checks_section(spans, feature, measured) -> str:
  groups: Dict[Tuple, List[Tuple[str, Dict]]] = collections.defaultdict(list)
  for span, m in measured:
    groups[(m['check'], m.get('metric') or '',
            m.get('baseline_split') or '')].append((span, m))
  out = ['<section id="checks"><h2>Checks: every measure against its '
         'threshold</h2>']
  unchecked = [s['span'] for s in spans if s['job'] != 'validate']
  if unchecked:
    out.append(f'<p class="note">{len(unchecked)} span(s) were statistics '
               f'runs, not checked.</p>')
  if not groups:
    out.append('<p class="empty">No measurement of this feature in any '
               'span.</p></section>')
    return ''.join(out)
  out.append('<div class="charts">')
  notes = []
  for (check, metric, base_split), ms in sorted(groups.items()):
    measured = [(span, m) for span, m in ms if m.get('value') is not None]
    over = [span for span, m in measured if m.get('is_anomaly')]
    skipped = [(span, m.get('note')) for span, m in ms
               if m.get('value') is None]
    thresholds = [m['threshold'] for _, m in measured
                  if m.get('threshold') is not None]
    what = f'{check}: {metric}' + (f' (against {base_split})'
                                   if base_split else '')
    chart = _spark([(span, m['value']) for span, m in measured],
                   f'{feature}: {what}',
                   threshold=thresholds[-1] if thresholds else None,
                   marked=over)
    text = (f'{len(measured)} span(s) measured, {len(over)} over threshold'
            + (f', threshold {_num(thresholds[-1])}' if thresholds else '')
            + (f', range {_range([(s, m["value"]) for s, m in measured])}'
               if measured else ''))
    if chart:
      out.append(_chart(what, chart, text))
    elif not measured:
      out.append(f'<figure><figcaption>{_e(what)}</figcaption><p class='
                 f'"note">not computed in {len(skipped)} span(s): see "Not '
                 f'computed" below</p></figure>')
    else:
      out.append(f'<figure><figcaption>{_e(what)}</figcaption><p>' +
                 '; '.join(f'{_e(span)}: {_num(m["value"])} (threshold '
                           f'{_num(m.get("threshold"))})'
                           f'{" over" if m.get("is_anomaly") else ""}'
                           for span, m in measured) + f'</p></figure>')
    notes += [(span, what, note) for span, note in skipped]
  out.append('</div>')
  if notes:
    out.append(f'<details><summary>Not computed ({len(notes)})</summary>'
               '<table><tr><th>span</th><th>measure</th><th>why</th></tr>' +
               ''.join(f'<tr><td>{_e(span)}</td><td>{_e(what)}</td><td>'
                       f'{_e(note)}</td></tr>'
                       for span, what, note in notes[-200:]) +
               '</table></details>')
  out.append('</section>')
  return ''.join(out)


def _numbers_table(rows, flagged, limit: int) -> str:
  shown = [(s, f) for i, (s, f) in enumerate(rows)
           if i >= len(rows) - limit or s['span'] in flagged]
  what = (f'all {len(rows)} spans' if len(shown) == len(rows) else
          f'the latest {limit} of {len(rows)} spans and those with '
          f'anomalies; the charts hold every span\'s values')
  out = ['<section id="numbers"><details><summary>The numbers per span '
         f'({what})</summary><table><thead><tr><th>span</th><th>rows present</th>'
         '<th>missing rate</th><th>mean</th><th>10th–90th percentile</th>'
         '<th>distinct</th><th>top values (share)</th></tr></thead><tbody>']
  for s, f in reversed(shown):
    if f is None:
      out.append(f'<tr><td>{_e(s["span"])}</td><td colspan="6" class="empty">'
                 'not in this span\'s statistics</td></tr>')
      continue
    band = ('–' if f.get('q10') is None else
            f'{_num(f["q10"])} – {_num(f["q90"])}')
    top = ', '.join(f'{_e(v[:30])} {_pct(share)}'
                    for v, share in f.get('top') or [])
    if f.get('earliest'):
      top = f'{_e(f["earliest"])} to {_e(f["latest"])}'
    out.append(f'<tr data-span="{_e(s["span"])}"><td>{_e(s["span"])}</td>'
               f'<td class="num">{_num(f["present"])}</td>'
               f'<td class="num">{_pct(f["missing_rate"])}</td>'
               f'<td class="num">{_num(f.get("mean"))}</td>'
               f'<td class="num">{band}</td>'
               f'<td class="num">{_num(f.get("unique"))}</td>'
               f'<td>{top}</td></tr>')
  out.append('</tbody></table></details></section>')
  return ''.join(out)
