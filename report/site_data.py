"""What the site draws, read from the artifact store only.

Each stored span becomes one small summary (a JSON-able dict): its run
(status, rows, malformed rows, schema version, time), its anomaly counts by
check and severity, every feature's statistics that the feature pages chart
(per slice), and the measurements of its checks. Summaries are cached in the
site's folder under the span's ``run_id``: a later build re-reads the store
only for spans whose run changed.

Where the check results come from, in order:

- ``checks.json`` in the span's folder (validate runs write it: the anomaly
  and measurement rows the warehouse got, descriptions redacted), so the
  site draws the same whichever sink the run used;
- else the TFDV ``anomalies/*.pb`` protos (runs from before checks.json):
  schema, drift and skew anomalies and drift/skew measurements only, said so
  on the pages;
- else nothing was checked (a stats run), said so on the pages.

Privacy: statistics go through ``statistics.feature_rows`` with the run's
rules, made no weaker by the site's own (``privacy.*``): top values rarer
than ``min_value_count`` are left out, ``hashed_features`` and the features
the PII scan flagged (``pii.json``) appear as salted hashes.
"""

import dataclasses
import json
import math
from typing import Any, Dict, List, Optional, Tuple

from apache_beam.io.filesystems import FileSystems
from tensorflow_metadata.proto.v0 import anomalies_pb2

from transforms import arrow_types
from transforms import schemas
from transforms import statistics
from transforms.checks import pii
from transforms.checks import validation
from transforms.io import artifacts

# Bump when the summary's shape changes: cached summaries of another
# version are rebuilt from the store.
SUMMARY_VERSION = 1
# How many of a categorical feature's top values a summary keeps (shares of
# the rows where the feature is present).
TOP_VALUES = 5

# Where the check results of a span came from (see the module docstring).
FROM_CHECKS = 'checks.json'
FROM_PROTOS = 'anomalies/*.pb'
NOT_CHECKED = 'none'


@dataclasses.dataclass(frozen=True)
class StoredSpan:
  """One span folder of the store that holds a run record."""
  dataset: str
  split: str
  span: str
  run: Dict[str, Any]  # its run.json

  @property
  def run_id(self) -> str:
    return str(self.run.get('run_id'))

  @property
  def key(self) -> str:
    return f'{self.split}/{self.span}'


def datasets(root: str) -> List[str]:
  """Every dataset of the store that holds at least one span."""
  found = set()
  for path in artifacts.list_files(FileSystems.join(
      root, '*', 'split=*', 'span=*', artifacts.RUN_FILE)):
    found.add(path.rsplit('/', 4)[-4])
  return sorted(found)


def stored_spans(root: str, dataset: str) -> Tuple[List[StoredSpan],
                                                  List[Dict[str, str]]]:
  """(spans with a run record, problems): a span folder whose run.json is
  unreadable, or that a run left its scratch folder in (it died before it
  could clean up, or is running now), is a problem row, not a silent skip."""
  spans, problems = [], []
  pattern = FileSystems.join(root, dataset, 'split=*', 'span=*',
                             artifacts.RUN_FILE)
  for path in artifacts.list_files(pattern):
    split, span = _split_span(path)
    if split is None:
      continue
    try:
      run = artifacts.read_json(path)
    except Exception as e:  # pylint: disable=broad-except
      problems.append({'split': split, 'span': span, 'status': 'failed',
                       'why': f'{path}: unreadable run record ({e})'[:300]})
      continue
    spans.append(StoredSpan(dataset, split, span, run))
  scratch = FileSystems.join(root, dataset, 'split=*', 'span=*', '.tmp-*')
  seen = set()
  for path in artifacts.list_files(scratch) + artifacts.list_files(
      FileSystems.join(scratch, '*')):
    split, span = _split_span(path, scratch=True)
    if split is None or (split, span) in seen:
      continue
    seen.add((split, span))
    run_id = path.split('.tmp-', 1)[1].split('/', 1)[0]
    problems.append({'split': split, 'span': span, 'status': 'failed',
                     'why': f'run {run_id} left its scratch folder: it '
                            f'failed without cleaning up, or is running'})
  return spans, problems


def _split_span(path: str, scratch: bool = False
                ) -> Tuple[Optional[str], Optional[str]]:
  parts = path.split('/')
  for i in range(len(parts) - 1):
    if parts[i].startswith('split=') and parts[i + 1].startswith('span='):
      if scratch and not (i + 2 < len(parts) and
                          parts[i + 2].startswith('.tmp-')):
        return None, None
      return parts[i][len('split='):], parts[i + 1][len('span='):]
  return None, None


def schema_versions(root: str, dataset: str) -> List[Dict[str, Any]]:
  """Every schema version: number, created, promoted (time or None), note."""
  out = []
  for v in schemas.SchemaRegistry(root, dataset).versions():
    promoted = None
    if v.promoted:
      try:
        promoted = artifacts.read_json(FileSystems.join(
            v.path, schemas.PROMOTED_FILE)).get('promoted')
      except Exception:  # pylint: disable=broad-except
        promoted = 'yes (time unreadable)'
    out.append({'version': v.version, 'created': v.meta.get('created'),
                'promoted': promoted, 'note': v.meta.get('note'),
                'origin': v.meta.get('origin'),
                'parent': v.meta.get('parent'),
                'source': v.meta.get('source')})
  return out


def span_privacy(site: statistics.PrivacySpec, run: Dict[str, Any],
                 pii_counts: Dict[str, Any], pii_spec) -> statistics.PrivacySpec:
  """The span's privacy rules: the run's, no weaker than the site's, with
  the features the PII scan flagged hashed."""
  try:
    ran = json.loads(run.get('config') or '{}').get('privacy') or {}
  except (TypeError, ValueError):
    ran = {}
  hashed = tuple(sorted(set(site.hashed_features) |
                        set(ran.get('hashed_features') or ())))
  floor = ran.get('min_value_count')
  min_count = max(site.min_value_count,
                  floor if isinstance(floor, int) else 0)
  rules = dataclasses.replace(site, hashed_features=hashed,
                              min_value_count=min_count)
  return pii.protect(rules, pii_counts, pii_spec)


def _finite(value: Any) -> Optional[float]:
  if value is None:
    return None
  value = float(value)
  return value if math.isfinite(value) else None


def _quantile(quantiles: List[float], q: float) -> Optional[float]:
  """The q-quantile from TFDV's equal-mass quantile edges, if there are any."""
  if len(quantiles) < 2:
    return None
  return _finite(quantiles[round(q * (len(quantiles) - 1))])


def feature_summary(row: Dict[str, Any]) -> Dict[str, Any]:
  """The few numbers a feature page charts, from a feature_stats row."""
  out = {'kind': row.get('kind') or row.get('type'),
         'n': row['num_examples'], 'present': row['num_present'],
         'missing_rate': _finite(row['missing_rate'])}
  if row.get('kind') in arrow_types.TIME_KINDS:
    out['earliest'] = statistics.time_text(row['kind'], row['earliest'])
    out['latest'] = statistics.time_text(row['kind'], row['latest'])
  elif row.get('mean') is not None:
    quantiles = row.get('quantiles') or []
    out.update(mean=_finite(row['mean']), sd=_finite(row['std_dev']),
               min=_finite(row['min']), max=_finite(row['max']),
               q10=_quantile(quantiles, 0.1), q50=_finite(row['median']),
               q90=_quantile(quantiles, 0.9))
  if row.get('unique') is not None:
    present = row['num_present'] or 0
    out['unique'] = row['unique']
    out['top'] = [[tv['value'], tv['count'] / present]
                  for tv in (row.get('top_values') or [])[:TOP_VALUES]
                  if present]
  return out


def _slim(row: Dict[str, Any], keys) -> Dict[str, Any]:
  return {k: row.get(k) for k in keys if row.get(k) not in (None, '')}


_ANOMALY_KEYS = ('slice', 'feature', 'check', 'anomaly_type', 'severity',
                 'metric', 'value', 'threshold')
_MEASUREMENT_KEYS = ('slice', 'feature', 'check', 'metric', 'value',
                     'threshold', 'is_anomaly', 'baseline_split',
                     'baseline_span', 'note')


def _check_results(span: artifacts.SpanArtifacts, stats, salt: str,
                   ran: Dict[str, Any]) -> Tuple[str, List[Dict], List[Dict]]:
  """(where from, anomaly rows, measurement rows) of the span's checks."""
  data = span.load_bytes(artifacts.CHECKS_FILE)
  if data is not None:
    found = json.loads(data.decode('utf-8'))
    return FROM_CHECKS, found['anomalies'], found['measurements']
  pattern = FileSystems.join(span.dir, artifacts.ANOMALIES_DIR, '*.pb')
  paths = artifacts.list_files(pattern)
  if not paths:
    return NOT_CHECKED, [], []
  # Older runs: TFDV's own results. Descriptions quote raw values: hashed
  # here like the warehouse's (they are not shown anyway, only types).
  redact = validation.Redactor(salt, False, [stats])
  anomalies, measurements = [], []
  for path in paths:
    kind = path.rsplit('/', 1)[-1][:-len('.pb')]
    found = anomalies_pb2.Anomalies()
    with FileSystems.open(path) as f:
      found.ParseFromString(f.read())
    anomalies += validation.anomaly_rows(found, kind, redact, None)
    if kind in ('drift', 'skew'):
      # The protos do not name the baseline; its split is the run's.
      split = (span.split if kind == 'drift' else
               (ran.get('skew') or {}).get('baseline_split'))
      measurements += validation.measurement_rows(found, kind,
                                                  {'split': split})
  return FROM_PROTOS, anomalies, measurements


def summarize(root: str, stored: StoredSpan, site_privacy, pii_spec
              ) -> Dict[str, Any]:
  """The span's summary (see the module docstring), read from the store."""
  span = artifacts.SpanArtifacts(root, stored.dataset, stored.split,
                                 stored.span)
  stats = span.load_stats()
  counts = span.load_bytes(artifacts.PII_FILE)
  privacy = span_privacy(site_privacy, stored.run,
                         json.loads(counts) if counts else {}, pii_spec)
  features: Dict[str, Dict[str, Any]] = {}
  slices: Dict[str, int] = {}
  for dataset in stats.datasets:
    slices[statistics.slice_name(dataset)] = dataset.num_examples
  for row in statistics.feature_rows(stats, privacy):
    features.setdefault(row['slice'], {})[row['feature']] = feature_summary(
        row)
  run = stored.run
  try:
    ran = json.loads(run.get('config') or '{}')
  except (TypeError, ValueError):
    ran = {}
  source, anomalies, measurements = _check_results(span, stats, privacy.salt,
                                                   ran)
  by_check: Dict[str, Dict[str, int]] = {}
  for a in anomalies:
    sev = by_check.setdefault(a['check'], {})
    sev[a['severity']] = sev.get(a['severity'], 0) + 1
  return {
      'summary_version': SUMMARY_VERSION,
      'split': stored.split, 'span': stored.span,
      'run_id': stored.run_id, 'run_ts': str(run.get('run_ts') or ''),
      'job': run.get('job'), 'status': run.get('status') or 'ok',
      'num_examples': run.get('num_examples'),
      'num_malformed': run.get('num_malformed'),
      'schema_version': run.get('schema_version'),
      'fail_on': ran.get('fail_on'),
      'history': ran.get('history') if run.get('job') == 'validate' else None,
      'has_report': FileSystems.exists(span.report_path),
      'checks_from': source,
      'slices': slices,
      'anomaly_counts': by_check,
      'anomalies': [_slim(a, _ANOMALY_KEYS) for a in anomalies],
      'measurements': [_slim(m, _MEASUREMENT_KEYS) for m in measurements],
      'features': features,
  }
