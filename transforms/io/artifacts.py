"""The artifact store: where statistics and run records of each span live.

One layout, local folder or ``gs://`` alike (through Beam's filesystems)::

  {store.root}/{dataset}/split={split}/span={span}/
      stats.pb          DatasetFeatureStatisticsList (binary proto)
      run.json          the run that produced it (id, time, counts, config)
      dead_letter/      malformed rows of that run, JSON lines (if any)
      checks.json       a validate run's anomaly and measurement rows
      .tmp-{run_id}/    a run's scratch space; removed when the run ends

A run writes into its scratch folder and copies the results into place only
after it succeeded, so a failed run never replaces a span's artifacts.
"""

import json
import re
from typing import Any, Dict, List, Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms.errors import UserError
from transforms.io import span_order

_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
STATS_FILE = 'stats.pb'
RUN_FILE = 'run.json'
REPORT_FILE = 'report.html'
# Counts of PII-looking values per feature and pattern (no values).
PII_FILE = 'pii.json'
# The shift check's inputs (transforms/checks/shift_stats.py): the label's
# distribution per feature bucket, and a uniform sample of rows.
SHIFT_FILE = 'shift.json'
SAMPLE_FILE = 'sample.parquet'
# A validate run's anomaly and measurement rows, as written to the warehouse
# (descriptions redacted): what the site draws, whichever sink the run used.
CHECKS_FILE = 'checks.json'
DEAD_LETTER_DIR = 'dead_letter'
ANOMALIES_DIR = 'anomalies'


def check_name(key: str, value: Any) -> str:
  """A dataset, split or span must be usable as one folder name."""
  text = '' if value is None else str(value)
  if not _NAME.match(text):
    raise UserError(f'{key}={text!r}: use letters, digits, ".", "_" or "-" '
                    f'(it names a folder in the artifact store)')
  return text


def _join(*parts: str) -> str:
  return FileSystems.join(parts[0], *parts[1:])


class SpanArtifacts:
  """Paths and reads/writes for one (dataset, split, span) in the store."""

  def __init__(self, root: str, dataset: str, split: str, span: str):
    self.root = root
    self.dataset = dataset
    self.split = split
    self.span = span
    self.dir = _join(root, dataset, f'split={split}', f'span={span}')

  @property
  def stats_path(self) -> str:
    return _join(self.dir, STATS_FILE)

  @property
  def run_path(self) -> str:
    return _join(self.dir, RUN_FILE)

  @property
  def report_path(self) -> str:
    return _join(self.dir, REPORT_FILE)

  @property
  def dead_letter_dir(self) -> str:
    return _join(self.dir, DEAD_LETTER_DIR)

  def scratch(self, run_id: str) -> str:
    return _join(self.dir, f'.tmp-{run_id}')

  def has_stats(self) -> bool:
    return FileSystems.exists(self.stats_path)

  def load_stats(self) -> statistics_pb2.DatasetFeatureStatisticsList:
    return read_stats(self.stats_path)

  def load_bytes(self, name: str) -> Optional[bytes]:
    """A file of the span's folder, or None when the run left none."""
    path = _join(self.dir, name)
    if not FileSystems.exists(path):
      return None
    with FileSystems.open(path) as f:
      return f.read()

  def commit(self, scratch: str, files: Dict[str, str]) -> None:
    """Moves ``{name in span dir: path in scratch}`` into place.

    What the span's previous run left goes first (dead letters, anomaly
    protos, PII counts, report): everything in the span's folder belongs to
    the run recorded in its run.json, so a stats run after a validate run
    leaves no report of statistics that are gone.
    """
    _delete_tree(self.dead_letter_dir)
    _delete_tree(_join(self.dir, ANOMALIES_DIR))
    for name in (REPORT_FILE, PII_FILE, SHIFT_FILE, SAMPLE_FILE,
                 CHECKS_FILE):
      if name not in files and FileSystems.exists(_join(self.dir, name)):
        FileSystems.delete([_join(self.dir, name)])
    for name, source in files.items():
      target = _join(self.dir, name)
      if FileSystems.exists(target):
        FileSystems.delete([target])
      _makedirs_for(target)
      FileSystems.rename([source], [target])
    _delete_tree(scratch)


def list_spans(root: str, dataset: str, split: str) -> List[str]:
  """Spans of a dataset and split that have statistics, earliest first
  (dates by date, ``v9`` before ``v10``: span_order)."""
  pattern = _join(root, dataset, f'split={split}', 'span=*', STATS_FILE)
  spans = []
  for path in list_files(pattern):
    folder = path.rsplit('/', 2)[-2]
    if folder.startswith('span='):
      spans.append(folder[len('span='):])
  return span_order.ordered(spans)


def run_time(root: str, dataset: str, split: str, span: str) -> Optional[str]:
  """When the span's stored statistics were computed (``run_ts`` of its
  run.json, ISO text in UTC), or None when unknown."""
  store = SpanArtifacts(root, dataset, split, span)
  try:
    value = read_json(store.run_path).get('run_ts')
  except Exception:  # no or unreadable run.json: the time is unknown
    return None
  return None if value is None else str(value)


def read_stats(path: str) -> statistics_pb2.DatasetFeatureStatisticsList:
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED
                        ) as f:
    stats.ParseFromString(f.read())
  return stats


def write_json(path: str, value: Dict[str, Any]) -> None:
  with FileSystems.create(path) as f:
    f.write(json.dumps(value, indent=2, sort_keys=True, default=str).encode())


def read_json(path: str) -> Dict[str, Any]:
  with FileSystems.open(path) as f:
    return json.loads(f.read().decode())


def list_files(pattern: str) -> List[str]:
  try:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
  except Exception:  # nothing there yet
    return []


def _makedirs_for(path: str) -> None:
  # Object stores have no folders; a local rename needs its parent to exist.
  if '://' not in path:
    import os  # pylint: disable=g-import-not-at-top
    os.makedirs(os.path.dirname(path), exist_ok=True)


def _delete_tree(path: str) -> None:
  if FileSystems.exists(path):
    FileSystems.delete([path])


def delete_scratch(path: str) -> None:
  """Removes a run's scratch folder (after failure as after success)."""
  try:
    _delete_tree(path)
  except Exception:  # best effort: never hide the error that got us here
    pass

