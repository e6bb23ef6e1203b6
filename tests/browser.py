"""Headless Chromium driven over the DevTools protocol, for the report test.

Debian's `chromium` package, started with the flags this machine needs (no
sandbox as root, no GPU, no background networking: the network is closed);
the page is driven through its DevTools websocket with `websockets`.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from typing import Any, Dict, List, Optional

from websockets.sync.client import connect

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync',
         '--window-size=1280,2000']


def find_chromium() -> Optional[str]:
  for name in ('chromium', 'chromium-browser'):
    path = shutil.which(name)
    if path:
      return path
  return None


class Page:
  """One browser tab: navigate, evaluate JavaScript, collect console errors."""

  def __init__(self, binary: str, profile_dir: str):
    # Chromium's log goes to a file (a pipe nobody reads would fill up).
    os.makedirs(profile_dir, exist_ok=True)
    self.log_path = os.path.join(profile_dir, 'chromium.log')
    with open(self.log_path, 'w') as log:
      self._proc = subprocess.Popen(
          [binary, *FLAGS, f'--user-data-dir={profile_dir}',
           '--remote-debugging-port=0', 'about:blank'],
          stdout=subprocess.DEVNULL, stderr=log)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline and port is None:
      with open(self.log_path) as log:
        found = re.search(r'DevTools listening on ws://[^:]+:(\d+)/',
                          log.read())
      if found:
        port = int(found.group(1))
      elif self._proc.poll() is not None:
        break
      else:
        time.sleep(0.1)
    if port is None:
      self.close()
      raise RuntimeError('chromium did not start its DevTools endpoint')
    request = urllib.request.Request(
        f'http://127.0.0.1:{port}/json/new?about:blank', method='PUT')
    with urllib.request.urlopen(request, timeout=10) as r:
      target = json.loads(r.read())
    self._ws = connect(target['webSocketDebuggerUrl'], max_size=None,
                       open_timeout=10)
    self._next_id = 0
    self.errors: List[str] = []
    for domain in ('Runtime', 'Log', 'Page'):
      self.call(f'{domain}.enable')

  def _record(self, message: Dict[str, Any]) -> None:
    method, params = message.get('method'), message.get('params', {})
    if method == 'Runtime.exceptionThrown':
      details = params['exceptionDetails']
      self.errors.append(details.get('exception', {}).get(
          'description') or details.get('text'))
    elif method == 'Runtime.consoleAPICalled' and params['type'] in (
        'error', 'assert'):
      self.errors.append(' '.join(str(a.get('value', a.get('description')))
                                  for a in params['args']))
    elif method == 'Log.entryAdded' and params['entry']['level'] == 'error':
      self.errors.append(params['entry']['text'])

  def call(self, method: str, **params) -> Dict[str, Any]:
    self._next_id += 1
    my_id = self._next_id
    self._ws.send(json.dumps({'id': my_id, 'method': method,
                              'params': params}))
    while True:
      message = json.loads(self._ws.recv(timeout=30))
      if message.get('id') == my_id:
        if 'error' in message:
          raise RuntimeError(f'{method}: {message["error"]}')
        return message.get('result', {})
      self._record(message)

  def open(self, url: str) -> None:
    self.call('Page.navigate', url=url)
    deadline = time.time() + 30
    while time.time() < deadline:
      message = json.loads(self._ws.recv(timeout=30))
      self._record(message)
      if message.get('method') == 'Page.loadEventFired':
        return
    raise RuntimeError(f'{url} did not finish loading')

  def js(self, expression: str) -> Any:
    result = self.call('Runtime.evaluate', expression=expression,
                       returnByValue=True)
    if 'exceptionDetails' in result:
      raise RuntimeError(f'{expression}: {result["exceptionDetails"]}')
    return result['result'].get('value')

  def screenshot(self, path: str) -> None:
    data = self.call('Page.captureScreenshot', format='png',
                     captureBeyondViewport=True)['data']
    with open(path, 'wb') as f:
      f.write(base64.b64decode(data))

  def close(self) -> None:
    try:
      self._ws.close()
    except Exception:  # pylint: disable=broad-except
      pass
    self._proc.terminate()
    try:
      self._proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
      self._proc.kill()
