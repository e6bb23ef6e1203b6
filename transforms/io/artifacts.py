"""The artifact store: where statistics and run records of each span live.

One layout, local folder or ``gs://`` alike (through Beam's filesystems)::

  {store.root}/{dataset}/split={split}/span={span}/
      stats.pb          DatasetFeatureStatisticsList (binary proto)
      run.json          the run that produced it (id, time, counts, config)
      dead_letter/      malformed rows of that run, JSON lines (if any)
      checks.json       a validate run's anomaly and measurement rows
      .tmp-{run_id}/    a run's scratch space; removed when the run ends

A run writes into its scratch folder and copies the results into place only
after it succeeded, so a failed run never replaces a span's artifacts. The
commit also removes everything else in the span's folder (the previous run's
files, the scratch of runs that were killed before they could clean up), so
the folder holds the files of its latest run only.

On an object store (``gs://``) a "folder" is a name prefix: it never
"exists", and deleting it means deleting every object under ``prefix/``.
"""

import json
import os
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
FEATURE_SKEW_DIR = 'feature_skew'
# In a run's scratch folder from its start (start_scratch); never committed.
STARTED_FILE = 'started.json'
SCRATCH_PREFIX = '.tmp-'


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
    # Run ids start with the run's start time (UTC), so scratch folders sort
    # by when their runs started (commit and sweep_scratch rely on it).
    return _join(self.dir, f'{SCRATCH_PREFIX}{run_id}')

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

    Everything else in the span's folder goes first: what the span's previous
    run left (dead letters, anomaly protos, PII counts, report), so that a
    stats run after a validate run leaves no report of statistics that are
    gone, and the scratch folders of runs that started before this one and
    never finished (killed). Scratch of runs that started later is theirs to
    commit; ``feature_skew/`` belongs to the feature_skew job, which rewrites
    it whole.
    """
    own = _base(scratch)
    for name in self._entries():
      if name == own or name == FEATURE_SKEW_DIR:
        continue
      if name.startswith(SCRATCH_PREFIX) and name > own:
        continue  # a later run, still going
      if name not in files:
        _delete_tree(_join(self.dir, name))
    for name, source in files.items():
      target = _join(self.dir, name)
      if FileSystems.exists(target):
        FileSystems.delete([target])
      _makedirs_for(target)
      FileSystems.rename([source], [target])
    _delete_tree(scratch)

  def sweep_scratch(self, run_id: str) -> None:
    """Removes the scratch of runs of this span that started before
    ``run_id`` and were killed before they could remove it themselves."""
    own = f'{SCRATCH_PREFIX}{run_id}'
    for name in self._entries():
      if name.startswith(SCRATCH_PREFIX) and name < own:
        _delete_tree(_join(self.dir, name))

  def _entries(self) -> List[str]:
    """Names directly in the span's folder: files and sub-folders."""
    return list_entries(self.dir)


def start_scratch(root: str, scratch: str, run_id: str) -> None:
  """Opens a run's scratch folder with a marker file naming the run.

  Written before any input is read, so that a store that cannot be written
  (no such bucket, no permission) fails the run at once with one line naming
  ``store.root``, not later inside the pipeline where the error would carry
  no path.
  """
  try:
    write_json(_join(scratch, STARTED_FILE), {'run_id': run_id})
  except Exception as e:  # any filesystem's own error type
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    raise UserError(f'store.root={root!r}: cannot write to the artifact store '
                    f'({(lines[-1] if lines else type(e).__name__)[:300]})'
                    ) from e


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


def list_entries(folder: str) -> List[str]:
  """Names directly in ``folder`` (files and sub-folders); [] when absent."""
  if not _is_remote(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
  prefix = folder.rstrip('/') + '/'
  # '**' crosses '/': every object under the prefix, in one listing.
  return sorted({path[len(prefix):].split('/', 1)[0]
                 for path in list_files(prefix + '**')
                 if path.startswith(prefix)})


def _is_remote(path: str) -> bool:
  return '://' in path


def _base(path: str) -> str:
  return path.rstrip('/').rsplit('/', 1)[-1]


def _makedirs_for(path: str) -> None:
  # Object stores have no folders; a local rename needs its parent to exist.
  if not _is_remote(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)


def _delete_tree(path: str) -> None:
  """Deletes a file or a folder with everything in it; nothing there is fine."""
  if not _is_remote(path):
    if FileSystems.exists(path):
      FileSystems.delete([path])
    return
  # A prefix never "exists" on an object store. Beam deletes every object
  # under it only when the path ends with '/' (without, it matches the one
  # object of that exact name).
  FileSystems.delete([path.rstrip('/') + '/'])
  if FileSystems.exists(path):  # a file of that name
    FileSystems.delete([path])


def delete_scratch(path: str) -> None:
  """Removes a run's scratch folder (after failure as after success)."""
  try:
    _delete_tree(path)
  except Exception:  # best effort: never hide the error that got us here
    pass
