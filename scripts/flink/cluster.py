"""A Flink 1.19 session cluster on 127.0.0.1: one JobManager, one TaskManager.

  python scripts/flink/cluster.py --rest-port 8081 --slots 2   # Ctrl-C stops it
  python -m beam_jobs.stats ... runner=flink runner.flink_master=127.0.0.1:8081

Both are Flink's own entry points (StandaloneSessionClusterEntrypoint,
TaskManagerRunner), run with `java` on the classpath that scripts/flink/
fetch.sh put beside the job server (Flink 1.19.0's runtime, the version Beam's
runner is built against), with a flink-conf.yaml that binds every port to
127.0.0.1. It stands in for a cluster of your own in the tests
(tests/test_flink.py) and for trying the host:port path by hand; Flink's own
distribution (bin/start-cluster.sh) is what a real cluster runs.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
from runners import flink  # noqa: E402  pylint: disable=g-import-not-at-top

# TaskManager memory, every part set: Flink's start scripts work these out
# from taskmanager.memory.process.size; its Java entry point wants them given.
_TM_MEMORY = {
    'taskmanager.memory.framework.heap.size': '128m',
    'taskmanager.memory.task.heap.size': '384m',
    'taskmanager.memory.framework.off-heap.size': '128m',
    'taskmanager.memory.task.off-heap.size': '0m',
    'taskmanager.memory.network.min': '256m',
    'taskmanager.memory.network.max': '256m',
    'taskmanager.memory.managed.size': '128m',
    'taskmanager.memory.jvm-metaspace.size': '256m',
    'taskmanager.memory.jvm-overhead.min': '192m',
    'taskmanager.memory.jvm-overhead.max': '192m',
}
# -Xmx: framework + task heap; direct memory: the off-heap parts + network.
_TM_JVM = ['-Xmx512m', '-XX:MaxDirectMemorySize=384m']
_JM_JVM = ['-Xmx512m']


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class SessionCluster:
  """Starts with ``start()``, ends with ``stop()``; ``master`` is host:port."""

  def __init__(self, rest_port: int = 0, slots: int = 2,
               lib_dir: str = None, workdir: str = None):
    self.rest_port = rest_port or free_port()
    self.slots = slots
    self.lib_dir = lib_dir or os.path.join(os.path.dirname(flink.default_jar()),
                                           'lib')
    self._own_workdir = workdir is None
    self.workdir = workdir or tempfile.mkdtemp(prefix='dv-flink-cluster-')
    self._procs = []

  @property
  def master(self) -> str:
    return f'127.0.0.1:{self.rest_port}'

  def _write_conf(self) -> str:
    conf_dir = os.path.join(self.workdir, 'conf')
    os.makedirs(conf_dir, exist_ok=True)
    conf = {
        'jobmanager.rpc.address': '127.0.0.1',
        'jobmanager.bind-host': '127.0.0.1',
        'jobmanager.rpc.port': free_port(),
        'jobmanager.memory.process.size': '1024m',
        'rest.address': '127.0.0.1',
        'rest.bind-address': '127.0.0.1',
        'rest.port': self.rest_port,
        'blob.server.port': free_port(),
        'taskmanager.host': '127.0.0.1',
        'taskmanager.bind-host': '127.0.0.1',
        'taskmanager.rpc.port': free_port(),
        'taskmanager.data.port': free_port(),
        'taskmanager.numberOfTaskSlots': self.slots,
        'taskmanager.cpu.cores': self.slots,
        # Beam's batch jobs deploy every stage at once; Flink's default of
        # 512 buffers per sort-shuffle partition does not fit 256 MiB.
        'taskmanager.network.sort-shuffle.min-buffers': 64,
        'io.tmp.dirs': os.path.join(self.workdir, 'tmp'),
        **_TM_MEMORY,
    }
    os.makedirs(conf['io.tmp.dirs'], exist_ok=True)
    with open(os.path.join(conf_dir, 'flink-conf.yaml'), 'w') as f:
      for key, value in conf.items():
        f.write(f'{key}: {value}\n')
    return conf_dir

  def _java(self, jvm, main, conf_dir, log_name):
    log = open(os.path.join(self.workdir, log_name), 'wb')
    cmd = ['java', *jvm, '-cp', os.path.join(self.lib_dir, '*'), main,
           '--configDir', conf_dir]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)
    log.close()
    self._procs.append(proc)
    return proc

  def start(self, timeout_s: float = 90.0) -> 'SessionCluster':
    if not os.path.isdir(self.lib_dir):
      raise RuntimeError(flink.missing() or f'{self.lib_dir} is missing')
    conf_dir = self._write_conf()
    self._java(_JM_JVM, 'org.apache.flink.runtime.entrypoint.'
               'StandaloneSessionClusterEntrypoint', conf_dir, 'jobmanager.log')
    self._java(_TM_JVM, 'org.apache.flink.runtime.taskexecutor.'
               'TaskManagerRunner', conf_dir, 'taskmanager.log')
    deadline = time.monotonic() + timeout_s
    while True:
      overview = self.overview()
      if overview and overview.get('slots-total', 0) >= self.slots:
        return self
      dead = [p for p in self._procs if p.poll() is not None]
      if dead or time.monotonic() > deadline:
        self.stop(keep_logs=True)
        raise RuntimeError(f'the Flink session cluster did not start (logs '
                           f'in {self.workdir})')
      time.sleep(0.5)

  def overview(self):
    """Flink's REST /overview (jobs finished, slots), or None when down."""
    try:
      with urllib.request.urlopen(f'http://{self.master}/overview',
                                  timeout=2) as r:
        return json.loads(r.read())
    except OSError:
      return None

  def stop(self, keep_logs: bool = False) -> None:
    for proc in reversed(self._procs):
      if proc.poll() is None:
        proc.terminate()
    for proc in self._procs:
      try:
        proc.wait(timeout=20)
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    self._procs = []
    if self._own_workdir and not keep_logs:
      shutil.rmtree(self.workdir, ignore_errors=True)

  def __enter__(self):
    return self.start()

  def __exit__(self, *exc):
    self.stop()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rest-port', type=int, default=8081)
  parser.add_argument('--slots', type=int, default=2)
  args = parser.parse_args()
  reason = flink.missing()
  if reason:
    sys.exit(f'cluster: {reason}')
  cluster = SessionCluster(args.rest_port, args.slots).start()
  print(f'Flink session cluster at {cluster.master} ({args.slots} slots; '
        f'logs in {cluster.workdir}); Ctrl-C stops it', flush=True)
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
  try:
    while all(p.poll() is None for p in cluster._procs):  # pylint: disable=protected-access
      time.sleep(1)
  except KeyboardInterrupt:
    pass
  finally:
    cluster.stop()


if __name__ == '__main__':
  main()
