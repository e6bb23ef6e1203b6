"""Builds the static site over the artifact store, incrementally.

Layout of the site (``site.output``, default ``{store.root}/site``)::

  index.html                               every dataset and split
  {dataset}/index.html                     timeline of spans, schema versions
  {dataset}/{split}/features/{feature}.html    a feature across spans
  {dataset}/{split}/slices/{slice}/{feature}.html  the same in one slice
  {dataset}/state.json                     what the last build saw
  {dataset}/_cache/{split}/{span}.json     each span's summary

``state.json`` records each span's ``run_id`` and a digest of each page. A
build re-reads from the store only the spans whose run changed (new spans,
re-runs), and writes only the pages whose text changed: adding a span
rewrites the index, its dataset's page and the feature pages of its split,
and leaves every other split's pages and every other span's summary alone.
"""

import dataclasses
import hashlib
import json
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from apache_beam.io.filesystems import FileSystems

from report import site_data
from report import site_pages
from report.site_pages import Layout  # noqa: F401  (the spec's type)
from transforms import statistics
from transforms.errors import UserError
from transforms.io import artifacts
from transforms.io import span_order

STATE_FILE = 'state.json'
CACHE_DIR = '_cache'
STATE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SiteSpec:
  """What to build and where (the ``site`` job's settings)."""
  root: str                     # the artifact store
  output: str                   # the site's folder
  datasets: Optional[Sequence[str]]  # None: every dataset in the store
  full: bool                    # ignore state.json: re-read and rewrite all
  privacy: statistics.PrivacySpec
  pii: Any                      # pii.PIISpec
  layout: site_pages.Layout = site_pages.Layout()


@dataclasses.dataclass
class BuildResult:
  """What a build did, for the job's summary and the benchmark."""
  datasets: int = 0
  spans: int = 0
  spans_read: int = 0           # summaries made from the store
  spans_reused: int = 0         # summaries taken from the cache
  pages: int = 0
  pages_written: int = 0
  bytes_written: int = 0
  largest_page: int = 0
  seconds: float = 0.0
  index_path: str = ''


def _join(*parts: str) -> str:
  return FileSystems.join(parts[0], *parts[1:])


def _write(path: str, data: bytes) -> None:
  if '://' not in path:
    import os  # pylint: disable=g-import-not-at-top
    os.makedirs(os.path.dirname(path), exist_ok=True)
  with FileSystems.create(path) as f:
    f.write(data)


def _read_json(path: str) -> Optional[Dict[str, Any]]:
  if not FileSystems.exists(path):
    return None
  return artifacts.read_json(path)


class _Pages:
  """Writes pages whose text changed since the last build (by digest)."""

  def __init__(self, output: str, result: BuildResult,
               old: Dict[str, str], full: bool):
    self.output, self.result, self.old, self.full = output, result, old, full
    self.digests: Dict[str, str] = {}

  def put(self, page: str, text: str) -> None:
    data = text.encode('utf-8')
    digest = hashlib.sha1(data).hexdigest()
    self.digests[page] = digest
    self.result.pages += 1
    self.result.largest_page = max(self.result.largest_page, len(data))
    path = _join(self.output, page)
    if not self.full and self.old.get(page) == digest and (
        FileSystems.exists(path)):
      return
    _write(path, data)
    self.result.pages_written += 1
    self.result.bytes_written += len(data)


def build(spec: SiteSpec) -> BuildResult:
  """Builds (or brings up to date) the site; returns what it did."""
  started = time.time()
  result = BuildResult()
  names = list(spec.datasets) if spec.datasets else site_data.datasets(
      spec.root)
  index_state = _read_json(_join(spec.output, STATE_FILE)) or {}
  rows = {tuple(k.split('/', 1)): v for k, v in
          (index_state.get('rows') or {}).items()}
  if spec.datasets is None:
    rows = {}  # every dataset is rebuilt: stale rows of deleted ones go
  index_pages = _Pages(spec.output, result, index_state.get('pages') or {},
                       spec.full)
  for dataset in names:
    result.datasets += 1
    for key in [k for k in rows if k[0] == dataset]:
      del rows[key]
    for row in _build_dataset(spec, dataset, result):
      rows[(row['dataset'], row['split'])] = row
  ordered = [rows[k] for k in sorted(rows)]
  index_pages.put('index.html', site_pages.index(
      [dict(r, status=tuple(r['status'])) for r in ordered]))
  _write(_join(spec.output, STATE_FILE), json.dumps({
      'version': STATE_VERSION, 'pages': index_pages.digests,
      'rows': {f'{d}/{s}': r for (d, s), r in rows.items()}},
      sort_keys=True, default=str).encode('utf-8'))
  result.index_path = _join(spec.output, 'index.html')
  result.seconds = time.time() - started
  return result


def _build_dataset(spec: SiteSpec, dataset: str, result: BuildResult
                   ) -> List[Dict[str, Any]]:
  """Brings one dataset's pages up to date; returns its index rows."""
  base = _join(spec.output, dataset)
  state = {} if spec.full else (_read_json(_join(base, STATE_FILE)) or {})
  if state.get('version') != STATE_VERSION:
    state = {}
  known: Dict[str, str] = state.get('spans') or {}
  stored, problems = site_data.stored_spans(spec.root, dataset)
  if not stored and not problems:
    have = site_data.datasets(spec.root)
    raise UserError(f'dataset.name={dataset!r}: no spans in the store '
                    f'{spec.root} (datasets there: '
                    f'{", ".join(have[:10]) or "none"})')
  by_split: Dict[str, List[Dict[str, Any]]] = {}
  changed_splits = set()
  for s in stored:
    cache = _join(base, CACHE_DIR, s.split, f'{s.span}.json')
    summary = None
    if known.get(s.key) == s.run_id:
      summary = _read_json(cache)
      if summary is not None and (
          summary.get('summary_version') != site_data.SUMMARY_VERSION or
          summary.get('run_id') != s.run_id):
        summary = None
    if summary is None:
      summary = site_data.summarize(spec.root, s, spec.privacy, spec.pii)
      _write(cache, json.dumps(summary, sort_keys=True,
                               default=str).encode('utf-8'))
      result.spans_read += 1
      changed_splits.add(s.split)
    else:
      result.spans_reused += 1
    by_split.setdefault(s.split, []).append(summary)
    result.spans += 1
  now = {s.key: s.run_id for s in stored}
  # A span that went away changes its split's pages too.
  changed_splits |= {k.split('/', 1)[0] for k in set(known) - set(now)}
  for split, summaries in by_split.items():
    summaries.sort(key=lambda x: span_order.sort_key(x['span']))

  def report_link(page_dir: str):
    def link(split: str, span: str) -> Optional[str]:
      summary = next((x for x in by_split[split] if x['span'] == span), None)
      if summary is None or not summary.get('has_report'):
        return None
      target = artifacts.SpanArtifacts(spec.root, dataset, split,
                                       span).report_path
      return site_pages.relative(target, _join(spec.output, page_dir))
    return link

  old_pages: Dict[str, str] = state.get('pages') or {}
  pages = _Pages(spec.output, result, old_pages, spec.full)
  features = {}
  for split, summaries in sorted(by_split.items()):
    names = _feature_names(summaries)
    features[split] = [(name, kind, flagged) for name, kind, flagged in names]
    if split not in changed_splits and not spec.full:
      # Nothing of this split changed: its pages stay as they are.
      for page, digest in old_pages.items():
        if page.startswith(f'{dataset}/{split}/'):
          pages.digests[page] = digest
          result.pages += 1
      continue
    _feature_pages(dataset, split, summaries, names, pages, report_link,
                   spec.layout)
  pages.put(f'{dataset}/index.html', site_pages.dataset_page(
      dataset, by_split, problems,
      site_data.schema_versions(spec.root, dataset),
      report_link(dataset), features))
  _write(_join(base, STATE_FILE), json.dumps({
      'version': STATE_VERSION, 'spans': now, 'pages': pages.digests},
      sort_keys=True).encode('utf-8'))
  return _index_rows(dataset, by_split, problems)


def _feature_names(summaries: Sequence[Dict[str, Any]]
                   ) -> List[Tuple[str, str, int]]:
  """(feature, kind, spans with anomalies on it) for the split's features,
  those with anomalies first."""
  kinds: Dict[str, str] = {}
  flagged: Dict[str, int] = {}
  for s in summaries:
    for name, f in s['features'].get('', {}).items():
      kinds[name] = f['kind']
    for name in {a.get('feature') for a in s['anomalies']
                 if a.get('feature')}:
      flagged[name] = flagged.get(name, 0) + 1
  return sorted(((n, str(k), flagged.get(n, 0)) for n, k in kinds.items()),
                key=lambda t: (-t[2], t[0]))


def _feature_pages(dataset, split, summaries, names, pages, report_link,
                   layout):
  latest = summaries[-1]
  slice_names = sorted(s for s in latest['slices'] if s)
  findings = site_pages.index_findings(summaries)
  for name, _, _ in names:
    slices = []
    for slice_name in slice_names:
      over = sum(1 for _, m in findings[0].get((slice_name, name), [])
                 if m.get('is_anomaly'))
      slices.append((slice_name, latest['slices'][slice_name], over))
    page = site_pages.feature_page(dataset, split, name)
    link = report_link(page.rsplit('/', 1)[0])
    pages.put(page, site_pages.feature_timeline(
        dataset, split, name, summaries, '', slices,
        lambda span, link=link: link(split, span), findings, layout))
    for slice_name in slice_names:
      page = site_pages.feature_page(dataset, split, name, slice_name)
      link = report_link(page.rsplit('/', 1)[0])
      pages.put(page, site_pages.feature_timeline(
          dataset, split, name, summaries, slice_name, [],
          lambda span, link=link: link(split, span), findings, layout))


def _index_rows(dataset, by_split, problems) -> List[Dict[str, Any]]:
  rows = []
  for split, summaries in sorted(by_split.items()):
    names = [s['span'] for s in summaries]
    times = {s['span']: s['run_ts'] or None for s in summaries}
    latest_name = span_order.latest(names, times.get)
    latest = next(s for s in summaries if s['span'] == latest_name)
    status = site_pages.status_of(latest)
    failed = [p for p in problems if p['split'] == split and
              span_order.sort_key(p['span']) >= span_order.sort_key(
                  latest_name)]
    if failed:
      status = ('failed', f'failed ({failed[-1]["span"]})')
    rows.append({
        'dataset': dataset, 'split': split, 'spans': len(summaries),
        'latest': latest_name, 'status': list(status),
        'counts': latest['anomaly_counts'],
        'schema_version': latest['schema_version'],
        'last_run': max((t for t in times.values() if t), default=None)})
  return rows
