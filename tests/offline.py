"""Running a job with the network off, as a real subprocess.

Preferred: an empty network namespace (``unshare -rn``: a user namespace
maps us to root inside it, and the new network namespace has only a loopback
device that is down), so nothing in the process tree -- Beam, gRPC, the
Google auth libraries, the ``setup.py sdist`` that Beam runs -- can reach
anything. Where user namespaces are not allowed, a ``sitecustomize`` module
on PYTHONPATH makes every socket connection to a non-loopback address raise.
"""

import functools
import os
import subprocess
import sys
import textwrap

_BLOCKER = textwrap.dedent('''
    import ipaddress, socket

    def _loopback(address):
      host = address[0] if isinstance(address, tuple) else address
      try:
        return ipaddress.ip_address(host).is_loopback
      except ValueError:
        return host == 'localhost'

    class NetworkBlocked(OSError):
      pass

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
      if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(
          address):
        raise NetworkBlocked(101, f'network blocked by the test: {address}')
      return _connect(self, address)

    def connect_ex(self, address):
      if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(
          address):
        return 101
      return _connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    ''')


@functools.lru_cache(maxsize=None)
def netns_available() -> bool:
  try:
    return subprocess.run(['unshare', '-rn', 'true'], capture_output=True,
                          timeout=30).returncode == 0
  except (OSError, subprocess.SubprocessError):
    return False


def run(args, cwd, tmp_path, env=None, timeout=600):
  """Runs ``python *args`` with no network; returns the CompletedProcess."""
  env = dict(os.environ if env is None else env)
  cmd = [sys.executable, *args]
  if netns_available():
    cmd = ['unshare', '-rn', *cmd]
  else:
    site = tmp_path / 'netblock'
    site.mkdir(exist_ok=True)
    (site / 'sitecustomize.py').write_text(_BLOCKER)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(site)] + [p for p in [env.get('PYTHONPATH')] if p])
  return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=timeout)


def mode() -> str:
  return 'network namespace' if netns_available() else 'socket blocker'
