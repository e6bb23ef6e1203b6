"""Apache Flink through Beam's portable runner (``runner=flink``).

settings/runner.py turns the ``runner`` group (conf/runner/flink.yaml) into
Beam's options for the FlinkRunner, after checking every key. The runner
starts Beam's Flink job server (a Java process) with ``java -jar`` on the jar
that scripts/flink/fetch.sh built from Maven Central into the cache folder
(``default_jar``); Beam never downloads one itself. The job server either
runs the job on an embedded Flink mini-cluster (``flink_master=[local]``) or
submits it to a Flink cluster at ``host:port`` (its REST port).

The Python steps run in SDK workers, chosen by ``runner.sdk_workers``:

* ``pool``: a worker pool the job starts on 127.0.0.1 (``WorkerPool``); Flink
  asks it for ``sdk_worker_parallelism`` SDK worker processes per
  TaskManager, each a separate Python process of this virtualenv.
* ``loopback``: Beam's LOOPBACK, the SDK harness in threads of the launching
  process. The least start-up time; one process.
* ``external``: a pool the user runs beside the TaskManagers
  (``python -m apache_beam.runners.worker.worker_pool_main
  --service_port=50000``), named by ``runner.worker_pool``.
"""

import atexit
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Optional

from apache_beam.options.pipeline_options import PortableOptions
from apache_beam.runners.portability import flink_runner

from transforms.errors import UserError

_log = logging.getLogger(__name__)

NAME = 'flink'
# The Java side: Beam's Flink runner for Flink 1.19, at the version nearest
# the pinned Python SDK (2.65.0) that Maven Central serves with all of its
# dependencies (scripts/flink/pom.xml says why).
BEAM_JAVA_VERSION = '2.62.0'
FLINK_VERSION = '1.19'
JAR_NAME = (f'beam-runners-flink-{FLINK_VERSION}-job-server-'
            f'{BEAM_JAVA_VERSION}.jar')
SDK_WORKERS = ('pool', 'loopback', 'external')
LOCAL = '[local]'
# environment_config of a pool the job starts itself (FlinkRunner below).
OWN_POOL = 'dv:own-worker-pool'
HOST_PORT = re.compile(r'^(https?://)?[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}/?$')
FETCH = 'scripts/flink/fetch.sh'
ENVIRONMENT_CACHE_MS = 60_000


def cache_dir() -> str:
  """Where fetch.sh puts the job server: $DV_FLINK_CACHE or
  ~/.cache/beam-data-validation/flink."""
  return os.environ.get('DV_FLINK_CACHE') or os.path.join(
      os.path.expanduser('~'), '.cache', 'beam-data-validation', 'flink')


def default_jar() -> str:
  return os.path.join(cache_dir(), f'beam-{BEAM_JAVA_VERSION}', JAR_NAME)


def missing(jar: Optional[str] = None) -> Optional[str]:
  """Why a Flink job cannot start here (no jar, no Java), or None."""
  jar = jar or default_jar()
  if not os.path.isfile(jar):
    return (f'the Flink job server {jar} is not built: run `make flink` '
            f'(bash {FETCH}; needs Maven and Maven Central)')
  if shutil.which('java') is None:
    return 'java is not on PATH: the Flink job server needs Java 11 or 17'
  return None


class FlinkRunner(flink_runner.FlinkRunner):
  """Beam's FlinkRunner that starts this job's own worker pool when asked.

  ``runner.sdk_workers=pool``: the first run in a process starts one
  ``WorkerPool`` on 127.0.0.1; later runs of the same process (a multirun's
  spans) reuse it, and it ends with the process.
  """

  def run_pipeline(self, pipeline, options):
    portable = options.view_as(PortableOptions)
    if portable.environment_config == OWN_POOL:
      portable.environment_config = WorkerPool.shared().address
    return super().run_pipeline(pipeline, options)


class WorkerPool:
  """Beam's SDK worker pool in a child process, listening on 127.0.0.1.

  Each worker Flink asks for is a separate process of this Python (the pool
  runs ``python`` from PATH, so this virtualenv's bin/ goes first).
  """

  _shared: Optional['WorkerPool'] = None

  def __init__(self, timeout_s: float = 60.0):
    port = _free_port()
    self.address = f'localhost:{port}'
    env = dict(os.environ)
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get(
        'PATH', '')
    # The workers' own output (Beam's warnings as a job's workers shut down)
    # goes to a file, not the job's log.
    fd, self.log_path = tempfile.mkstemp(prefix='dv-flink-workers-',
                                         suffix='.log')
    with os.fdopen(fd, 'wb') as out:
      self._proc = subprocess.Popen(
          [sys.executable, '-m', 'runners.flink_pool', str(port)],
          env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.monotonic() + timeout_s
    while not _listening(port):
      if self._proc.poll() is not None:
        # The log stays: it says why.
        raise UserError(f'runner.sdk_workers=pool: the SDK worker pool ended '
                        f'at start (exit code {self._proc.returncode}; its '
                        f'output: {self.log_path})')
      if time.monotonic() > deadline:
        self.stop(keep_log=True)
        raise UserError(f'runner.sdk_workers=pool: the SDK worker pool did '
                        f'not listen on {self.address} within '
                        f'{timeout_s:.0f} s (its output: {self.log_path})')
      time.sleep(0.1)
    _log.info('SDK worker pool at %s (pid %d; its log: %s)', self.address,
              self._proc.pid, self.log_path)

  @property
  def pid(self) -> int:
    return self._proc.pid

  @classmethod
  def shared(cls) -> 'WorkerPool':
    if cls._shared is None or cls._shared._proc.poll() is not None:
      cls._shared = cls()
      atexit.register(cls._shared.stop)
    return cls._shared

  def stop(self, keep_log: bool = False) -> None:
    """Ends the pool and its workers; removes the pool's log file unless
    ``keep_log`` (when it may say why the pool failed)."""
    if self._proc.poll() is None:
      self._proc.terminate()  # the pool's atexit ends its workers
      try:
        self._proc.wait(timeout=15)
      except subprocess.TimeoutExpired:
        self._proc.kill()
        self._proc.wait()
    if keep_log:
      return
    try:
      os.remove(self.log_path)
    except OSError:
      pass


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _listening(port: int) -> bool:
  with socket.socket() as s:
    s.settimeout(0.5)
    return s.connect_ex(('127.0.0.1', port)) == 0
