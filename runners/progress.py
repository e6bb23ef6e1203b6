"""Progress of a local statistics pass, in the log while it runs.

  progress: 12 of 40 row groups read, 1,200,000 rows, 6.1 s

The DirectRunner runs the whole pipeline inside ``pipeline.run()`` and hands
back its metrics only at the end, so Beam counters cannot be read while the
pass runs; with ``direct_running_mode=multi_processing`` the readers are
other processes besides. So each reading DoFn holds a ``Tracker`` that writes
its own counts (units read, rows, row groups listed) to a small JSON file in
a folder on this machine, at most every ``FLUSH_S`` seconds and at the end of
every bundle; the launching process's ``Reporter`` adds the files up in a
thread and logs a line at most every ``stats.progress_interval_s`` seconds,
and one last line when reading is done (only when it logged one before: a
short run stays quiet). ``stats.progress_interval_s=0`` turns this off.

Units are the reader's units of work: files (CSV, JSON lines) or Parquet row
groups, whose total the pipeline's own listing step reports (no footer is
read twice). TFRecord and BigQuery: rows and elapsed time only. Dataflow
workers are remote and Dataflow has its own monitoring page: the launcher
logs the job's console link instead (runners/dataflow.py).
"""

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from typing import Dict, Optional

_log = logging.getLogger(__name__)

# How often, at most, a reader writes its counts (seconds).
FLUSH_S = 1.0
_COUNTS = ('units', 'rows', 'listed')
# Formats whose readers count units of work, and the units' name.
UNIT_NAMES = {'csv': 'file', 'jsonl': 'file', 'parquet': 'row group'}


def is_local(options) -> bool:
  """Whether the pipeline's workers run on this machine (the DirectRunner)."""
  from apache_beam.options.pipeline_options import StandardOptions  # pylint: disable=g-import-not-at-top
  runner = options.view_as(StandardOptions).runner
  if runner is None:
    return True
  name = runner if isinstance(runner, str) else type(runner).__name__
  return 'direct' in name.lower()


class Tracker:
  """One reader's counts, written to its own file in the reporter's folder.

  Picklable: built in the launcher, it travels inside the reading DoFns; each
  copy that starts counting (one per DoFn instance, in any process) writes
  its own file, so nothing is shared between workers. Never fails the pass:
  a file that cannot be written stops that copy's reporting.
  """

  def __init__(self, folder: str, flush_s: float = FLUSH_S):
    self._folder = folder
    self._flush_s = flush_s
    self._reset()

  def _reset(self):
    self._path: Optional[str] = None
    self._counts = dict.fromkeys(_COUNTS, 0)
    self._next = 0.0

  def __getstate__(self):
    return {'_folder': self._folder, '_flush_s': self._flush_s}

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._reset()

  def add(self, units: int = 0, rows: int = 0, listed: int = 0) -> None:
    counts = self._counts
    counts['units'] += units
    counts['rows'] += rows
    counts['listed'] += listed
    if time.monotonic() >= self._next:
      self.flush()

  def flush(self) -> None:
    """Writes the counts now (a bundle's end); replaces the file atomically."""
    if self._folder is None:
      return
    if self._path is None:
      self._path = os.path.join(
          self._folder, f'{os.getpid()}-{uuid.uuid4().hex[:12]}.json')
    self._next = time.monotonic() + self._flush_s
    try:
      tmp = self._path + '.tmp'
      with open(tmp, 'w') as f:
        json.dump(self._counts, f)
      os.replace(tmp, self._path)
    except OSError:
      self._folder = None  # the reporter is gone: stop reporting


class Reporter:
  """Logs the pass's progress from the trackers' files while it runs.

  ``with Reporter(...) as reporter: ... reporter.tracker ...``; ``tracker``
  is None when progress is off. ``unit`` names the readers' units (see
  UNIT_NAMES; None: rows only); ``total`` is their number when known before
  the run (files), else None (Parquet row groups: from the listing step).
  """

  def __init__(self, interval: float, unit: Optional[str] = None,
               total: Optional[int] = None, files: Optional[int] = None):
    self._interval = interval
    self._unit, self._total, self._files = unit, total, files
    self._folder: Optional[str] = None
    self._thread: Optional[threading.Thread] = None
    self._stop = threading.Event()
    self._started = 0.0
    self.lines = 0
    self._done_logged = False

  @property
  def tracker(self) -> Optional[Tracker]:
    if self._folder is None:
      return None
    return Tracker(self._folder, min(FLUSH_S, self._interval / 2))

  def __enter__(self) -> 'Reporter':
    self._started = time.monotonic()
    if self._interval > 0:
      self._folder = tempfile.mkdtemp(prefix='dv-progress-')
      self._thread = threading.Thread(target=self._loop, daemon=True,
                                      name='dv-progress')
      self._thread.start()
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if self._thread is None:
      return
    self._stop.set()
    self._thread.join()
    if exc_type is None and self.lines and not self._done_logged:
      self._log(self.counts(), done=True)
    shutil.rmtree(self._folder, ignore_errors=True)

  def counts(self) -> Dict[str, int]:
    """The trackers' counts, added up."""
    out = dict.fromkeys(_COUNTS, 0)
    try:
      names = [n for n in os.listdir(self._folder) if n.endswith('.json')]
    except OSError:
      return out
    for name in names:
      try:
        with open(os.path.join(self._folder, name)) as f:
          found = json.load(f)
      except (OSError, ValueError):
        continue  # being replaced: counted on the next look
      for key in _COUNTS:
        out[key] += int(found.get(key, 0))
    return out

  def _loop(self) -> None:
    tick = min(0.5, self._interval)
    next_line = self._interval
    while not self._stop.wait(tick):
      counts = self.counts()
      total = self._units_total(counts)
      if total and counts['units'] >= total:
        if self.lines:
          self._log(counts, done=True)
        return  # reading is done: the rest of the pass is short
      elapsed = time.monotonic() - self._started
      if elapsed >= next_line:
        self._log(counts)
        next_line = (elapsed // self._interval + 1) * self._interval

  def _units_total(self, counts: Dict[str, int]) -> Optional[int]:
    if self._total is not None:
      return self._total
    # Row groups are read only once all are listed (a shuffle between).
    return counts['listed'] if counts['units'] or counts['rows'] else None

  def _log(self, counts: Dict[str, int], done: bool = False) -> None:
    self.lines += 1
    self._done_logged = self._done_logged or done
    _log.info('progress: %s', self.line(counts, time.monotonic() -
                                        self._started, done))

  def line(self, counts: Dict[str, int], elapsed: float,
           done: bool = False) -> str:
    """``12 of 40 row groups read, 1,200,000 rows, 6.1 s``."""
    parts = []
    if self._unit:
      total = self._units_total(counts)
      if total is not None:
        parts.append(f'{counts["units"]:,} of {total:,} '
                     f'{_plural(self._unit, total)} read')
      else:
        parts.append(f'{counts["units"]:,} {_plural(self._unit, 0)} read'
                     + (f' (of {self._files:,} '
                        f'{_plural("file", self._files)})'
                        if self._files else ''))
      parts.append(f'{counts["rows"]:,} rows')
    else:
      parts.append(f'{counts["rows"]:,} rows read')
    parts.append(f'{elapsed:.1f} s')
    text = ', '.join(parts)
    return f'reading done: {text}' if done else text


def _plural(word: str, n: int) -> str:
  return word if n == 1 else f'{word}s'


def reporter(interval: float, options, spec_format: str,
             files: int) -> Reporter:
  """The Reporter of a statistics pass; off (interval 0) for remote runners."""
  if not is_local(options):
    interval = 0.0
  unit = UNIT_NAMES.get(spec_format)
  total = files if unit == 'file' and files else None
  return Reporter(interval, unit=unit, total=total,
                  files=files if unit == 'row group' else None)
