"""The HTML run report: one self-contained static page per validation run.

Everything is inline (CSS, a little JavaScript for filters, SVG charts drawn
here in Python), so the file opens from disk or a bucket with no server and
no network. What it shows, top to bottom:

- the verdict and the run (dataset, split, span, schema version, runner, rows);
- what was checked and against what (baselines);
- counts by check and severity, and every anomaly in a filterable table;
- drift and skew: each compared feature's distance against its threshold,
  the change in the feature's units (mean, median, a tail's share, the
  category that moved most, missing share: change_words) and the span's
  distribution drawn over the baseline's;
- per-feature statistics (histograms, top values, missing rates);
- slices: their size, share and findings;
- history: each feature's mean, missing rate and drift over earlier spans.

Values follow the warehouse's privacy rules: top values come from
``statistics.feature_rows`` (rare values dropped, configured features
hashed), and anomaly descriptions are the redacted ones of the anomaly rows.
"""

import collections
import dataclasses
import datetime as dt
import html
import json
import math
from typing import (Any, Callable, Collection, Dict, List, Optional,
                    Sequence, Tuple)

from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms import arrow_types
from transforms import feature_meta
from transforms import statistics
from transforms.checks import change_words
from transforms.checks import validation
from transforms.io import span_order

_BLUE, _ORANGE, _RED, _GREY = '#2563eb', '#f59e0b', '#dc2626', '#9ca3af'


@dataclasses.dataclass
class ReportInput:
  """What a report is drawn from; the validate and report jobs fill it in."""
  key: Dict[str, str]
  run: Dict[str, Any]
  stats: statistics_pb2.DatasetFeatureStatisticsList
  # 'drift' / 'skew' -> ({'split', 'span'}, baseline statistics)
  baselines: Dict[str, Tuple[Dict[str, str],
                             statistics_pb2.DatasetFeatureStatisticsList]]
  anomalies: List[Dict[str, Any]]
  measurements: List[Dict[str, Any]]
  history: List[Dict[str, Any]]
  measurement_history: List[Dict[str, Any]]
  privacy: statistics.PrivacySpec
  notes: List[str] = dataclasses.field(default_factory=list)
  fail_on: str = 'ERROR'
  title: str = 'Data validation report'
  # {(baseline split, span): shift.Charts}: per-bucket label rates
  shift_charts: Dict[Tuple[str, str], Any] = dataclasses.field(
      default_factory=dict)


def _e(value: Any) -> str:
  return html.escape('' if value is None else str(value), quote=True)


def _num(value: Optional[float], digits: int = 4) -> str:
  if value is None or (isinstance(value, float) and not math.isfinite(value)):
    return '–'
  if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e12:
    return f'{int(value):,}'
  return f'{value:.{digits}g}'


def _pct(value: Optional[float]) -> str:
  return '–' if value is None else f'{100 * value:.1f}%'


# ----------------------------------------------------------------------------
# SVG charts


def _svg(width: int, height: int, body: str, label: str) -> str:
  return (f'<svg class="chart" role="img" aria-label="{_e(label)}" '
          f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
          f'xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def distance_bars(rows: Sequence[Tuple[str, float, float]],
                  label: str) -> str:
  """Horizontal bars: one (name, value, threshold) per row, threshold marked."""
  if not rows:
    return ''
  width, bar_h, left = 640, 18, 170
  top = max(max(v for _, v, _ in rows), max(t for _, _, t in rows)) * 1.15
  top = top or 1.0
  scale = (width - left - 60) / top
  parts = []
  for i, (name, value, threshold) in enumerate(rows):
    y = 6 + i * (bar_h + 6)
    color = _RED if value > threshold else _BLUE
    parts.append(
        f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">'
        f'{_e(name[:26])}</text>'
        f'<rect x="{left}" y="{y}" width="{max(value * scale, 1):.1f}" '
        f'height="{bar_h}" fill="{color}"><title>{_e(name)}: {value:.4f} '
        f'(threshold {threshold:g})</title></rect>'
        f'<line x1="{left + threshold * scale:.1f}" x2="'
        f'{left + threshold * scale:.1f}" y1="{y - 2}" y2="{y + bar_h + 2}" '
        f'stroke="#111" stroke-width="2" stroke-dasharray="3,2"/>'
        f'<text x="{left + value * scale + 4:.1f}" y="{y + 13}">'
        f'{value:.3f}</text>')
  height = 12 + len(rows) * (bar_h + 6)
  return _svg(width, height, ''.join(parts), label)


def _histogram(feature: statistics_pb2.FeatureNameStatistics
               ) -> List[Tuple[float, float, float]]:
  """(low, high, count) of the feature's equal-width histogram, if any."""
  if not feature.HasField('num_stats'):
    return []
  for h in feature.num_stats.histograms:
    if h.type == statistics_pb2.Histogram.STANDARD:
      return [(b.low_value, b.high_value, b.sample_count) for b in h.buckets
              if math.isfinite(b.low_value) and math.isfinite(b.high_value)]
  return []


def density_overlay(current: List[Tuple[float, float, float]],
                    baseline: List[Tuple[float, float, float]],
                    label: str, axis: Callable[[float], str] = _num) -> str:
  """The span's histogram (blue) drawn over the baseline's (orange), as
  densities on one axis so that different bucket edges compare fairly.

  ``axis`` writes the axis ends (``time_axis`` for time features)."""
  series = [(s, c) for s, c in ((baseline, _ORANGE), (current, _BLUE)) if s]
  if not series:
    return ''
  width, height, pad = 300, 120, 18
  lo = min(b[0] for s, _ in series for b in s)
  hi = max(b[1] for s, _ in series for b in s)
  span = (hi - lo) or 1.0

  def densities(s):
    total = sum(c for _, _, c in s) or 1.0
    return [(l, h, c / total / max(h - l, span * 1e-9)) for l, h, c in s]

  dens = [(densities(s), c) for s, c in series]
  top = max(d for ds, _ in dens for _, _, d in ds) or 1.0
  parts = []
  for ds, color in dens:
    for l, h, d in ds:
      x = pad + (l - lo) / span * (width - 2 * pad)
      w = max((h - l) / span * (width - 2 * pad), 0.8)
      bar = d / top * (height - 2 * pad)
      parts.append(f'<rect x="{x:.1f}" y="{height - pad - bar:.1f}" '
                   f'width="{w:.1f}" height="{bar:.1f}" fill="{color}" '
                   f'fill-opacity="0.55"/>')
  parts.append(f'<text x="{pad}" y="{height - 3}">{_e(axis(lo))}</text>'
               f'<text x="{width - pad}" y="{height - 3}" text-anchor="end">'
               f'{_e(axis(hi))}</text>')
  return _svg(width, height, ''.join(parts), label)


def time_axis(kind: str, lo: float, hi: float) -> Callable[[float], str]:
  """Axis labels for a time feature's stored values (microseconds or days
  since 1970): dates, with hours and minutes when the range is short."""
  day = 1.0 if kind == arrow_types.DATE else 86_400e6
  fmt = '%Y-%m-%d %H:%M' if hi - lo < 3 * day else '%Y-%m-%d'

  def label(value: float) -> str:
    try:
      return feature_meta.as_time(kind, value).strftime(fmt)
    except (OverflowError, ValueError):
      return _num(value)
  return label


def _axis(proto) -> Callable[[float], str]:
  """How a feature's histogram axis is labelled: numbers, or dates."""
  kind = feature_meta.kind_of(proto)
  if kind in arrow_types.TIME_KINDS and proto.HasField('num_stats'):
    return time_axis(kind, proto.num_stats.min, proto.num_stats.max)
  return _num


def share_bars(current: Dict[str, float], baseline: Dict[str, float],
               label: str, limit: int = 10) -> str:
  """Shares of the most frequent values: span (blue) over baseline (orange)."""
  values = sorted(set(current) | set(baseline),
                  key=lambda v: -max(current.get(v, 0), baseline.get(v, 0)))
  values = values[:limit]
  if not values:
    return ''
  width, left, row = 300, 90, 16
  top = max([current.get(v, 0) for v in values] +
            [baseline.get(v, 0) for v in values]) or 1.0
  scale = (width - left - 40) / top
  parts = []
  for i, value in enumerate(values):
    y = 4 + i * row
    parts.append(f'<text x="{left - 4}" y="{y + 11}" text-anchor="end">'
                 f'{_e(value[:14])}</text>')
    if baseline:
      parts.append(f'<rect x="{left}" y="{y + 1}" width="'
                   f'{baseline.get(value, 0) * scale:.1f}" height="6" '
                   f'fill="{_ORANGE}"/>')
    share = current.get(value, 0)
    parts.append(f'<rect x="{left}" y="{y + 7}" width="{share * scale:.1f}" '
                 f'height="6" fill="{_BLUE}"><title>{_e(value)}: '
                 f'{share:.1%}</title></rect>'
                 f'<text x="{left + share * scale + 3:.1f}" y="{y + 12}">'
                 f'{share:.0%}</text>')
  return _svg(width, 8 + len(values) * row, ''.join(parts), label)


def bucket_rates(table: Sequence[Tuple[str, float, float, float, float]],
                 label: str, as_share: bool = True) -> str:
  """The label's rate (or mean) per bucket of a feature: baseline (orange)
  over span (blue), one pair of bars per bucket."""
  if not table:
    return ''
  width, left, row = 360, 120, 18
  values = [v for _, a, b, _, _ in table for v in (a, b) if math.isfinite(v)]
  top = max([abs(v) for v in values] or [1.0]) or 1.0
  scale = (width - left - 100) / top  # room for 'a → b' after the bars
  text = (lambda v: f'{v:.0%}') if as_share else (lambda v: f'{v:.3g}')
  parts = []
  for i, (name, base, cur, n_base, n_cur) in enumerate(table):
    y = 4 + i * row
    parts.append(f'<text x="{left - 4}" y="{y + 12}" text-anchor="end">'
                 f'{_e(name[:18])}</text>'
                 f'<rect x="{left}" y="{y + 1}" width="'
                 f'{max(abs(base) * scale, 1):.1f}" height="7" '
                 f'fill="{_ORANGE}"><title>{_e(name)}: baseline {text(base)} '
                 f'({n_base:,.0f} rows)</title></rect>'
                 f'<rect x="{left}" y="{y + 8}" width="'
                 f'{max(abs(cur) * scale, 1):.1f}" height="7" '
                 f'fill="{_BLUE}"><title>{_e(name)}: span {text(cur)} '
                 f'({n_cur:,.0f} rows)</title></rect>'
                 f'<text x="{left + max(abs(base), abs(cur)) * scale + 3:.1f}" '
                 f'y="{y + 13}">{text(base)} → {text(cur)}</text>')
  return _svg(width, 8 + len(table) * row, ''.join(parts), label)


def sparkline(points: Sequence[Tuple[str, float]], label: str,
              threshold: Optional[float] = None, highlight: str = '', *,
              width: int = 240, height: int = 70,
              band: Optional[Dict[str, Tuple[float, float]]] = None,
              marked: Collection[str] = ()) -> str:
  """A value over spans; the current span highlighted, a threshold dashed.

  ``band`` ({span: (low, high)}) shades a range around the line (a quantile
  band, an expected range); spans in ``marked`` are drawn red (anomalies).
  The line carries every span and value (``data-points``); each drawn point
  its own (``data-span``, ``data-value``), said on hover."""
  points = [(s, v) for s, v in points if v is not None and math.isfinite(v)]
  if len(points) < 2:
    return ''
  pad = 14
  band = {s: b for s, b in (band or {}).items()
          if all(x is not None and math.isfinite(x) for x in b)}
  values = [v for _, v in points] + ([threshold] if threshold else [])
  values += [x for s, _ in points for x in band.get(s, ())]
  lo, hi = min(values), max(values)
  rng = (hi - lo) or abs(hi) or 1.0
  step = (width - 2 * pad) / (len(points) - 1)

  def y(v):
    return height - pad - (v - lo) / rng * (height - 2 * pad)

  xy = [(pad + i * step, y(v)) for i, (_, v) in enumerate(points)]
  parts = []
  banded = [(x, band[s]) for (x, _), (s, _) in zip(xy, points) if s in band]
  band_data = ','.join(f'{_e(s)} {band[s][0]:.10g} {band[s][1]:.10g}'
                       for s, _ in points if s in band)
  if len(banded) >= 2:
    outline = ([f'{x:.1f},{y(b[1]):.1f}' for x, b in banded] +
               [f'{x:.1f},{y(b[0]):.1f}' for x, b in reversed(banded)])
    parts.append(f'<polygon class="band" fill="{_BLUE}" fill-opacity="0.15" '
                 f'stroke="none" data-band="{band_data}" '
                 f'points="{" ".join(outline)}"/>')
  for x, (low, high) in banded[:1] if len(banded) == 1 else ():
    # One span with a band: drawn as a range bar there.
    parts.append(f'<rect class="band" x="{x - 4:.1f}" y="{y(high):.1f}" '
                 f'width="8" height="{max(y(low) - y(high), 1):.1f}" '
                 f'fill="{_BLUE}" fill-opacity="0.2" data-band="{band_data}"/>')
  # Every value, once, for readers and tools: "span value,span value".
  data = ','.join(f'{_e(s)} {v:.10g}' for s, v in points)
  parts.append(f'<polyline fill="none" stroke="{_BLUE}" stroke-width="2" '
               f'data-points="{data}" '
               f'points="{" ".join(f"{x:.1f},{yy:.1f}" for x, yy in xy)}"/>')
  if threshold:
    parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{y(threshold):.1f}"'
                 f' y2="{y(threshold):.1f}" stroke="{_RED}" '
                 f'stroke-dasharray="4,3"/>')
  marked = set(marked)
  # Points closer than 4 px cannot be told apart or hovered: a dense series
  # draws only its marked, highlighted and last points.
  dense = step < 4
  circles = []
  for i, ((x, yy), (span, v)) in enumerate(zip(xy, points)):
    flagged = span == highlight or span in marked
    if dense and not flagged and i != len(points) - 1:
      continue
    fill = f' fill="{_RED}"' if flagged else ''
    circles.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="3"{fill} '
                   f'data-span="{_e(span)}" data-value="{v:.10g}">'
                   f'<title>{_e(span)}: {_num(v)}</title></circle>')
  parts.append(f'<g fill="{_BLUE}">{"".join(circles)}</g>')
  parts.append(f'<text x="{pad}" y="{height - 1}">{_e(points[0][0])}</text>'
               f'<text x="{width - pad}" y="{height - 1}" text-anchor="end">'
               f'{_e(points[-1][0])}</text>'
               f'<text x="{width - 2}" y="10" text-anchor="end">'
               f'{_e(_num(hi))}</text>')
  return _svg(width, height, ''.join(parts), label)


# ----------------------------------------------------------------------------
# Sections


def _shares(row: Dict[str, Any]) -> Dict[str, float]:
  present = row.get('num_present') or 0
  return {str(tv['value']): tv['count'] / present
          for tv in row.get('top_values') or [] if present}


def _count_shares(counts: Dict[str, float]) -> Dict[str, float]:
  total = sum(counts.values()) or 1
  return {value: count / total for value, count in counts.items()}


def _features_by_name(stats, privacy) -> Dict[Tuple[str, str], Dict]:
  return {(r['slice'], r['feature']): r
          for r in statistics.feature_rows(stats, privacy)}


def _protos_by_name(stats) -> Dict[Tuple[str, str], Any]:
  out = {}
  for d in stats.datasets:
    for f in d.features:
      out[(statistics.slice_name(d), statistics.feature_path(f))] = f
  return out


def _verdict(inp: ReportInput) -> Tuple[str, str, int]:
  blocking = validation.blocking(inp.anomalies, inp.fail_on)
  if blocking:
    return 'blocking', (f'Blocking: {len(blocking)} anomal'
                        f'{"y" if len(blocking) == 1 else "ies"} at or above '
                        f'{inp.fail_on} (exit code 3)'), len(blocking)
  return 'ok', f'OK: nothing at or above {inp.fail_on} (exit code 0)', 0


def _header(inp: ReportInput) -> str:
  cls, verdict, _ = _verdict(inp)
  run, key = inp.run, inp.key
  ts = run.get('run_ts')
  if isinstance(ts, str):  # from a stored run.json
    try:
      ts = dt.datetime.fromisoformat(ts)
    except ValueError:
      pass
  if isinstance(ts, dt.datetime):
    if ts.tzinfo is not None:
      ts = ts.astimezone(dt.timezone.utc)
    ts = ts.strftime('%Y-%m-%d %H:%M:%S UTC')
  facts = [
      ('dataset', key['dataset']), ('split', key['split']),
      ('span', key['span']),
      ('schema version', run.get('schema_version')),
      ('rows read', _num(run.get('num_examples'))),
      ('malformed rows', _num(run.get('num_malformed'))),
      ('runner', run.get('runner')), ('run', run.get('run_id')),
      ('started', ts),
      ('duration', f'{run["duration_s"]:.1f} s' if run.get('duration_s')
       else None),
  ]
  items = ''.join(f'<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>'
                  for k, v in facts if v not in (None, ''))
  return (f'<header><h1>{_e(inp.title)}: {_e(key["dataset"])} / '
          f'{_e(key["split"])} / {_e(key["span"])}</h1>'
          f'<p id="verdict" class="verdict {cls}">{_e(verdict)}</p>'
          f'<dl class="facts">{items}</dl></header>')


def _checked(inp: ReportInput) -> str:
  items = [f'<li><b>schema</b>: every TFDV anomaly type against schema '
           f'version {_e(inp.run.get("schema_version"))}, for the whole span '
           f'and each slice</li>']
  for kind, (where, _) in sorted(inp.baselines.items()):
    n = len({(m['slice'], m['feature']) for m in inp.measurements
             if m['check'] == kind and m['value'] is not None})
    skipped = sum(1 for m in inp.measurements
                  if m['check'] == kind and m['value'] is None)
    items.append(f'<li><b>{kind}</b>: {n} feature/slice distributions '
                 f'compared with split {_e(where["split"])} span '
                 f'{_e(where["span"])}' +
                 (f'; {skipped} not compared, each with the reason (below)'
                  if skipped else '') + '</li>')
  explained = {
      'history': 'each feature\'s row count, missing rate and mean against '
                 'its trailing history of earlier spans (daily spans with '
                 'a weekly pattern: the same weekday\'s)',
      'representation': 'the share of each group of the sensitive features, '
                        'and its change since the baseline',
      'label_parity': 'the gap in the label between groups of the sensitive '
                      'features (demographic parity)',
      'pii': 'sampled values of each string feature against e-mail, phone, '
             'payment card, US SSN and IP address patterns (counts only)',
      'feature_skew': 'training and serving examples joined by identifiers, '
                      'value by value',
      'event_time': 'the newest event time against the end of the span, and '
                    'the shares of event times outside the span and in the '
                    'future',
  }
  for check, text in explained.items():
    n = sum(1 for m in inp.measurements if m['check'] == check)
    if n:
      items.append(f'<li><b>{check}</b>: {text} ({n} measurements)</li>')
  items += [f'<li class="note">{_e(n)}</li>' for n in inp.notes
            if not n.startswith(('drift: compared', 'skew: compared'))]
  return (f'<section id="checked"><h2>What was checked</h2><ul>'
          f'{"".join(items)}</ul></section>')


def _counts(inp: ReportInput) -> str:
  counts = collections.Counter((a['check'], a['severity'])
                               for a in inp.anomalies)
  checks = sorted({c for c, _ in counts} | {'schema'} | set(inp.baselines))
  sevs = ['ERROR', 'WARNING', 'INFO']
  head = ''.join(f'<th>{s}</th>' for s in sevs)
  rows = ''.join(
      f'<tr><th>{_e(c)}</th>' + ''.join(
          f'<td class="{"hot" if counts[(c, s)] and s == "ERROR" else ""}">'
          f'{counts[(c, s)]}</td>' for s in sevs) + '</tr>' for c in checks)
  return (f'<section id="counts"><h2>Anomalies by check and severity</h2>'
          f'<table class="counts"><tr><th>check</th>{head}</tr>{rows}</table>'
          f'</section>')


def _anomalies(inp: ReportInput) -> str:
  rows = validation.worst_first(inp.anomalies)
  if not rows:
    return ('<section id="anomalies"><h2>Anomalies</h2><p class="empty">'
            'No anomalies: the span matched the schema and stayed within '
            'every drift and skew threshold.</p></section>')

  def options(name, values):
    opts = ''.join(f'<option value="{_e(v)}">{_e(v or "(whole span)")}'
                   f'</option>' for v in sorted(set(values)))
    return (f'<label>{name} <select data-filter="{name}"><option value="*">'
            f'all</option>{opts}</select></label>')

  filters = (options('check', [a['check'] for a in rows]) +
             options('severity', [a['severity'] for a in rows]) +
             options('slice', [a['slice'] for a in rows]) +
             '<label>feature <input type="search" data-filter="feature" '
             'placeholder="name contains"></label>'
             '<span id="anomaly-count"></span>')
  body = []
  for a in rows:
    value = ('' if a.get('value') is None else
             f'{a["value"]:.4f}' if a.get('threshold') is None else
             f'{a["value"]:.4f} &gt; {a["threshold"]:g}')
    base = (f'{_e(a.get("baseline_split"))} {_e(a.get("baseline_span"))}'
            if a.get('baseline_span') else '')
    body.append(
        f'<tr data-check="{_e(a["check"])}" data-severity="'
        f'{_e(a["severity"])}" data-slice="{_e(a["slice"])}" '
        f'data-feature="{_e(a["feature"])}">'
        f'<td><span class="sev {_e(a["severity"])}">{_e(a["severity"])}'
        f'</span></td><td>{_e(a["check"])}</td>'
        f'<td>{_e(a["feature"] or "(dataset)")}</td>'
        f'<td>{_e(a["slice"] or "(whole span)")}</td>'
        f'<td><code>{_e(a["anomaly_type"])}</code></td>'
        f'<td>{_e(a.get("metric") or "")} {value}</td><td>{base}</td>'
        f'<td class="desc">{_e(a["description"])}</td></tr>')
  return (f'<section id="anomalies"><h2>Anomalies ({len(rows)})</h2>'
          f'<div class="filters">{filters}</div>'
          f'<table id="anomaly-table"><thead><tr><th>severity</th><th>check'
          f'</th><th>feature</th><th>slice</th><th>type</th><th>distance'
          f'</th><th>baseline</th><th>description</th></tr></thead><tbody>'
          f'{"".join(body)}</tbody></table></section>')


def _comparisons(inp: ReportInput) -> str:
  if not inp.baselines:
    return ('<section id="drift"><h2>Drift and skew</h2><p class="empty">'
            'No baseline was available, so no distributions were compared '
            '(see "What was checked").</p></section>')
  out = ['<section id="drift"><h2>Drift and skew</h2>'
         '<p class="legend"><span class="sw" style="background:#2563eb">'
         '</span> this span <span class="sw" style="background:#f59e0b">'
         '</span> baseline; bars: distance, dashed line: threshold, red: '
         'over it.</p>']
  current_rows = _features_by_name(inp.stats, inp.privacy)
  current_protos = _protos_by_name(inp.stats)
  for kind, (where, baseline) in sorted(inp.baselines.items()):
    ms = [m for m in inp.measurements if m['check'] == kind and not
          m['slice'] and m['value'] is not None and
          m['threshold'] is not None]
    # Measures recorded for information (drift.also_measure): no threshold,
    # shown beside the one that decides.
    also = {}
    for m in inp.measurements:
      if (m['check'] == kind and not m['slice'] and m['value'] is not None
          and m['threshold'] is None):
        also.setdefault(m['feature'], []).append(
            f'{m["metric"]} {m["value"]:.3f}')
    ms.sort(key=lambda m: -(m['value'] / (m['threshold'] or 1)))
    not_compared = [m for m in inp.measurements if m['check'] == kind and
                    m['value'] is None]
    out.append(f'<h3>{kind}: against {_e(where["split"])} span '
               f'{_e(where["span"])}</h3>')
    out.append(distance_bars(
        [(m['feature'], m['value'], m['threshold']) for m in ms[:40]],
        f'{kind} distance per feature'))
    base_rows = _features_by_name(baseline, inp.privacy)
    base_protos = _protos_by_name(baseline)
    cards = []
    for m in ms:
      name = m['feature']
      now, then = current_rows.get(('', name)), base_rows.get(('', name))
      if now is None:
        continue
      counts_now = feature_meta.value_counts(current_protos[('', name)])
      counts_then = (feature_meta.value_counts(base_protos[('', name)])
                     if ('', name) in base_protos else None)
      if counts_now is not None and counts_then is not None:
        chart = share_bars(_count_shares(counts_now),
                           _count_shares(counts_then),
                           f'{name}: value shares vs baseline')
      elif current_protos[('', name)].HasField('num_stats'):
        chart = density_overlay(_histogram(current_protos[('', name)]),
                                _histogram(base_protos.get(('', name)))
                                if ('', name) in base_protos else [],
                                f'{name}: distribution vs baseline',
                                axis=_axis(current_protos[('', name)]))
      else:
        chart = share_bars(_shares(now), _shares(then) if then else {},
                           f'{name}: value shares vs baseline')
      flag = ' over' if m['is_anomaly'] else ''
      # the change in the feature's units, under the run's privacy rules
      words = (change_words.describe(name, current_protos[('', name)],
                                     base_protos[('', name)], inp.privacy)
               if ('', name) in base_protos else '')
      said = (f'<div class="change">baseline -&gt; this span: {_e(words)}'
              f'</div>' if words else '')
      cards.append(
          f'<figure class="card{flag}"><figcaption><b>{_e(name)}</b> '
          f'{_e(m["metric"])} {m["value"]:.3f} (threshold '
          f'{m["threshold"]:g})'
          f'{"; " + ", ".join(also[name]) if name in also else ""}'
          f'{said}</figcaption>{chart}</figure>')
    out.append(f'<div class="cards">{"".join(cards)}</div>')
    sliced = [m for m in inp.measurements if m['check'] == kind and
              m['slice'] and m['is_anomaly']]
    if sliced:
      out.append('<p>Over threshold in slices: ' + ', '.join(
          f'{_e(m["feature"])} [{_e(m["slice"])}] {m["value"]:.3f}'
          for m in sliced[:30]) + '</p>')
    if not_compared:
      out.append(
          f'<details><summary>Not compared ({len(not_compared)})</summary>'
          '<table><tr><th>slice</th><th>feature</th><th>why</th></tr>' +
          ''.join(f'<tr><td>{_e(m["slice"])}</td><td>{_e(m["feature"])}'
                  f'</td><td>{_e(m.get("note"))}</td></tr>'
                  for m in not_compared[:200]) + '</table></details>')
  out.append('</section>')
  return ''.join(out)


def _shift(inp: ReportInput) -> str:
  """Which kind of shift, in words, with the numbers and the per-bucket
  label rates of both sides behind it (from the run's rows and the spans'
  shift.json, so a rebuilt report draws the same)."""
  rows = [m for m in inp.measurements if m['check'] == 'shift']
  if not rows:
    return ''
  out = ['<section id="shift"><h2>Shift: covariate, label or concept</h2>'
         '<p class="legend">Covariate shift: P(x) moved, P(y|x) did not. '
         'Label shift: P(y) moved, P(x|y) did not. Concept shift: P(y|x) '
         'moved. Bars: the label\'s rate within each bucket of a feature, '
         '<span class="sw" style="background:#f59e0b"></span> baseline, '
         '<span class="sw" style="background:#2563eb"></span> this span.</p>']
  wheres = sorted({(m['baseline_split'], m['baseline_span']) for m in rows},
                  key=str)
  for split, span in wheres:
    verdicts = [a for a in inp.anomalies if a['check'] == 'shift' and
                not a['feature'] and a.get('baseline_split') == split and
                a.get('baseline_span') == span]
    verdict = (verdicts[0]['anomaly_type'].replace('_', ' ').lower()
               if verdicts else 'no shift found')
    out.append(f'<h3>against {_e(split)} span {_e(span)}: '
               f'<span class="diagnosis">{_e(verdict)}</span></h3>')
    if verdicts:
      out.append(f'<p>{_e(verdicts[0]["description"])}</p>')
    mine = [m for m in rows if m['baseline_split'] == split and
            m['baseline_span'] == span and not m['slice']]
    out.append('<table><tr><th>feature</th><th>measure</th><th>value</th>'
               '<th>threshold</th><th>note</th></tr>' + ''.join(
                   f'<tr class="{"over" if m["is_anomaly"] else ""}"><td>'
                   f'{_e(m["feature"])}</td><td>{_e(m["metric"])}</td><td>'
                   f'{_num(m["value"])}</td><td>{_num(m["threshold"])}</td>'
                   f'<td>{_e(m.get("note"))}</td></tr>' for m in mine[:60])
               + '</table>')
    charts = inp.shift_charts.get((split, span))
    if charts is None:
      continue
    label_name = next((m['feature'] for m in mine
                       if m['metric'].startswith('LABEL_')), 'label')
    what = (f'rate of {label_name}={charts.focus}'
            if charts.focus is not None else f'mean of {label_name}')
    cards = []
    for feature, found in sorted(charts.conditional.items(),
                                 key=lambda kv: -(kv[1].value or 0))[:8]:
      if not found.table:
        continue
      chart = bucket_rates(found.table, f'{feature}: label per bucket',
                           charts.focus is not None)
      cards.append(f'<figure class="card"><figcaption><b>{_e(feature)}</b>: '
                   f'{_e(what)} per bucket, change {found.value:.3f}'
                   f'</figcaption>{chart}</figure>')
    if cards:
      out.append(f'<div class="cards">{"".join(cards)}</div>')
  out.append('</section>')
  return ''.join(out)


def _field_count(name: str, protos: Dict[Tuple[str, str], Any]) -> int:
  """How many fields a record feature has: its direct children."""
  depth = name.count('.') + 1
  return sum(1 for (slice_key, path) in protos if not slice_key and
             path.startswith(name + '.') and path.count('.') == depth)


def _features(inp: ReportInput) -> str:
  rows = [r for r in statistics.feature_rows(inp.stats, inp.privacy)
          if not r['slice']]
  protos = _protos_by_name(inp.stats)
  flagged = {a['feature'] for a in inp.anomalies}
  cards = []
  for r in sorted(rows, key=lambda r: (r['feature'] not in flagged,
                                       r['feature'])):
    name = r['feature']
    proto = protos[('', name)]
    kind = r.get('kind')
    if kind in arrow_types.TIME_KINDS and proto.HasField('num_stats'):
      # Stored as microseconds or days since 1970: said as times instead.
      zone = '' if kind == arrow_types.DATE else ' UTC'
      facts = (f'earliest {_e(statistics.time_text(kind, r["earliest"]))}'
               f'{zone} · latest '
               f'{_e(statistics.time_text(kind, r["latest"]))}{zone}')
      chart = density_overlay(_histogram(proto), [], f'{name}: histogram',
                              axis=_axis(proto))
    elif kind == arrow_types.STRUCT or proto.HasField('struct_stats'):
      n = _field_count(name, protos)
      facts = f'record with {n} field{"" if n == 1 else "s"}'
      chart = ''
    elif proto.HasField('num_stats'):
      facts = (f'mean {_num(r["mean"])} · sd {_num(r["std_dev"])} · min '
               f'{_num(r["min"])} · median {_num(r["median"])} · max '
               f'{_num(r["max"])} · zeros {_num(r["num_zeros"])}')
      chart = density_overlay(_histogram(proto), [], f'{name}: histogram')
    else:
      facts = (f'unique {_num(r["unique"])} · avg length '
               f'{_num(r["avg_length"], 3)}')
      chart = share_bars(_shares(r), {}, f'{name}: top values')
    mark = ' flagged' if name in flagged else ''
    cards.append(
        f'<details class="feature{mark}" data-name="{_e(name)}">'
        f'<summary><b>{_e(name)}</b> <span class="type">'
        f'{_e(kind or r["type"])}</span> missing {_pct(r["missing_rate"])}'
        f'{" · has anomalies" if mark else ""}</summary>'
        f'<p>{facts}</p>{chart}</details>')
  return (f'<section id="features"><h2>Features ({len(rows)})</h2>'
          f'<div class="filters"><label>find <input type="search" '
          f'id="feature-search" placeholder="feature name"></label> '
          f'<button type="button" id="expand-all">expand all</button>'
          f'</div>{"".join(cards)}</section>')


def _slices(inp: ReportInput) -> str:
  total = statistics.overall(inp.stats).num_examples or 1
  datasets = [d for d in inp.stats.datasets if statistics.slice_name(d)]
  if not datasets:
    return ('<section id="slices"><h2>Slices</h2><p class="empty">No slices '
            'configured (dataset.slices).</p></section>')
  found = collections.Counter(a['slice'] for a in inp.anomalies)
  worst = {}
  for m in inp.measurements:
    if (m['slice'] and m['value'] is not None and
        m['threshold'] is not None):
      worst[m['slice']] = max(worst.get(m['slice'], 0),
                              m['value'] / (m['threshold'] or 1))
  rows = []
  for d in sorted(datasets, key=lambda d: statistics.slice_name(d)):
    name = statistics.slice_name(d)
    rows.append(
        f'<tr><td>{_e(name)}</td><td>{_num(d.num_examples)}</td>'
        f'<td>{_pct(d.num_examples / total)}</td><td>{found.get(name, 0)}'
        f'</td><td>{"–" if name not in worst else f"{worst[name]:.2f}×"}'
        f'</td></tr>')
  return ('<section id="slices"><h2>Slices</h2><table><tr><th>slice</th>'
          '<th>examples</th><th>share of span</th><th>anomalies</th>'
          '<th>largest distance / threshold</th></tr>' + ''.join(rows) +
          '</table></section>')


def _history(inp: ReportInput) -> str:
  span = inp.key['span']
  at_or_before = span_order.sort_key(span)
  hist = [r for r in inp.history if not r['slice'] and
          span_order.sort_key(r['span']) <= at_or_before]
  spans = span_order.ordered({r['span'] for r in hist})
  if len(spans) < 2:
    return ('<section id="history"><h2>History</h2><p class="empty">Fewer '
            'than two spans in the warehouse yet.</p></section>')
  by_feature = collections.defaultdict(dict)
  for r in hist:
    by_feature[r['feature']][r['span']] = r
  drift = collections.defaultdict(list)
  for m in inp.measurement_history:
    if (not m['slice'] and m['check'] == 'drift' and
        span_order.sort_key(m['span']) <= at_or_before and
        m['value'] is not None and m['threshold'] is not None):
      drift[m['feature']].append((m['span'], m['value'], m['threshold']))
  cards = []
  for name in sorted(by_feature):
    series = by_feature[name]
    # The mean of a time feature (microseconds since 1970) moves with time
    # and says nothing: its missing rate only.
    timed = any(r.get('kind') in arrow_types.TIME_KINDS
                for r in series.values())
    numeric = not timed and any(r.get('mean') is not None
                                for r in series.values())
    metric = 'mean' if numeric else 'unique'
    charts = [('mean' if numeric else 'distinct values', sparkline(
        [(s, series[s].get(metric)) for s in spans if s in series],
        f'{name}: {metric} over spans', highlight=span)),
              ('missing rate', sparkline(
                  [(s, series[s].get('missing_rate')) for s in spans
                   if s in series], f'{name}: missing rate over spans',
                  highlight=span))]
    if drift.get(name):
      points = sorted(drift[name],
                      key=lambda p: span_order.sort_key(p[0]))
      charts.append(('drift vs previous span', sparkline(
          [(s, v) for s, v, _ in points], f'{name}: drift over spans',
          threshold=points[-1][2], highlight=span)))
    inner = ''.join(f'<figure><figcaption>{_e(t)}</figcaption>{c}</figure>'
                    for t, c in charts if c)
    if inner:
      cards.append(f'<div class="history"><h4>{_e(name)}</h4>{inner}</div>')
  return (f'<section id="history"><h2>History ({spans[0]} to {spans[-1]}, '
          f'{len(spans)} spans)</h2>{"".join(cards)}</section>')


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
margin:0 auto;max-width:1180px;padding:16px 24px;color:#111827}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:1px solid
#e5e7eb;padding-bottom:4px;margin-top:28px}h3{font-size:15px}h4{margin:4px 0}
.verdict{font-size:17px;font-weight:600;padding:8px 12px;border-radius:6px}
.verdict.ok{background:#dcfce7;color:#166534}.verdict.blocking{background:
#fee2e2;color:#991b1b}.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0}
.facts dt{font-size:11px;color:#6b7280;text-transform:uppercase}.facts dd{
margin:0;font-weight:600}table{border-collapse:collapse;width:100%;margin:6px 0}
td,th{border-bottom:1px solid #e5e7eb;padding:4px 6px;text-align:left;
vertical-align:top}table.counts{width:auto}td.hot{color:#991b1b;font-weight:700}
.sev{font-size:11px;padding:1px 6px;border-radius:8px;color:#fff}.sev.ERROR{
background:#dc2626}.sev.WARNING{background:#d97706}.sev.INFO{background:#6b7280}
td.desc{color:#374151;max-width:380px}.change{color:#374151;max-width:
300px;font-size:11px}code{font-size:12px}.filters{display:flex;
gap:14px;flex-wrap:wrap;align-items:center;margin:6px 0}.cards{display:flex;
flex-wrap:wrap;gap:10px}figure{margin:0}.card{border:1px solid #e5e7eb;
border-radius:6px;padding:6px}.card.over{border-color:#dc2626}
figcaption{font-size:12px;margin-bottom:2px}svg.chart text{font-size:10px;
fill:#374151}details.feature{border-bottom:1px solid #f3f4f6;padding:3px 0}
details.flagged summary{color:#991b1b}.type{font-size:11px;color:#6b7280}
.history{display:inline-block;vertical-align:top;border:1px solid #e5e7eb;
border-radius:6px;padding:6px;margin:4px}.history figure{display:inline-block;
margin-right:6px}.empty,.note{color:#6b7280}.sw{display:inline-block;width:10px;
height:10px;margin:0 3px 0 8px}.legend{font-size:12px}
"""

_JS = """
(function(){
  function applyAnomalyFilters(){
    var table=document.getElementById('anomaly-table');
    if(!table){return;}
    var sel={};
    document.querySelectorAll('#anomalies [data-filter]').forEach(function(el){
      sel[el.getAttribute('data-filter')]=el.value;});
    var shown=0, rows=table.tBodies[0].rows;
    for(var i=0;i<rows.length;i++){
      var r=rows[i], ok=true;
      ['check','severity','slice'].forEach(function(k){
        if(sel[k]&&sel[k]!=='*'&&r.getAttribute('data-'+k)!==sel[k]){ok=false;}});
      var f=(sel.feature||'').toLowerCase();
      if(f&&r.getAttribute('data-feature').toLowerCase().indexOf(f)<0){ok=false;}
      r.style.display=ok?'':'none'; if(ok){shown++;}
    }
    document.getElementById('anomaly-count').textContent=
      shown+' of '+rows.length+' shown';
  }
  document.querySelectorAll('#anomalies [data-filter]').forEach(function(el){
    el.addEventListener('input',applyAnomalyFilters);
    el.addEventListener('change',applyAnomalyFilters);});
  applyAnomalyFilters();
  var search=document.getElementById('feature-search');
  if(search){search.addEventListener('input',function(){
    var q=search.value.toLowerCase();
    document.querySelectorAll('details.feature').forEach(function(d){
      d.style.display=d.getAttribute('data-name').toLowerCase().indexOf(q)<0?
        'none':'';});});}
  var expand=document.getElementById('expand-all');
  if(expand){expand.addEventListener('click',function(){
    var all=document.querySelectorAll('details.feature');
    var open=expand.textContent==='expand all';
    all.forEach(function(d){d.open=open;});
    expand.textContent=open?'collapse all':'expand all';});}
})();
"""


def render(inp: ReportInput) -> str:
  """The whole report as one HTML document."""
  key = inp.key
  sections = [_header(inp), _checked(inp), _counts(inp), _anomalies(inp),
              _comparisons(inp), _shift(inp), _features(inp), _slices(inp),
              _history(inp)]
  meta = json.dumps({'dataset': key['dataset'], 'split': key['split'],
                     'span': key['span'], 'run_id': inp.run.get('run_id'),
                     'anomalies': len(inp.anomalies)}).replace('</', '<\\/')
  return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
          f'<meta name="viewport" content="width=device-width">'
          f'<title>{_e(inp.title)}: {_e(key["dataset"])} {_e(key["split"])} '
          f'{_e(key["span"])}</title><style>{_CSS}</style>'
          f'<script type="application/json" id="run-meta">{meta}</script>'
          f'</head><body>{"".join(sections)}<footer class="note"><p>'
          f'Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by '
          f'beam-data-validation. Values follow the privacy settings of the '
          f'run (rare values left out, configured features hashed, raw values '
          f'in descriptions redacted).</p></footer><script>{_JS}</script>'
          f'</body></html>')
