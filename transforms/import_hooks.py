"""Import side effects of other packages, handled whenever the import happens.

The statistics pass with the vectorized engine (stats.engine=vectorized, the
default) imports neither TFDV nor TensorFlow: ~4.5 s and ~0.6 GB less in the
job's process and in every worker process. Code that needs TFDV (the tfdv
engine, schema inference, validation, feature skew) imports it inside the
functions that use it, so TFDV now arrives at a point of a run that nothing
orders, and two of its import side effects must be dealt with there:

- ``tensorflow_data_validation.utils.display_util`` writes a notice about
  IPython (for its notebook helpers) to stderr; jobs never display anything
  (``quiet_import``, beam_jobs/__init__.py).
- ``tensorflow_data_validation.types`` registers TFDV's coder for
  ``pa.RecordBatch`` with Beam, replacing ours
  (``transforms.io.sources.RecordBatchCoder``), which estimates sizes without
  copying; ours is registered again right after (``after_import``).

Both work by a finder on ``sys.meta_path`` that wraps the named modules'
loaders; every other import passes by untouched.
"""

import contextlib
import importlib.abc
import io
import sys
from typing import Callable, Dict, List, Set

_after: Dict[str, List[Callable[[], None]]] = {}
_quiet: Set[str] = set()


def after_import(name: str, callback: Callable[[], None]) -> None:
  """Calls ``callback`` each time module ``name`` has been executed, and now
  when it already has been."""
  _after.setdefault(name, []).append(callback)
  _install()
  if name in sys.modules:
    callback()


def quiet_import(name: str) -> None:
  """Module ``name``, when it is imported, writes nothing to stderr."""
  _quiet.add(name)
  _install()


class _Loader(importlib.abc.Loader):
  """A module's own loader, quiet or followed by callbacks."""

  def __init__(self, loader, name: str):
    self._loader, self._name = loader, name

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    quiet = (contextlib.redirect_stderr(io.StringIO())
             if self._name in _quiet else contextlib.nullcontext())
    with quiet:
      self._loader.exec_module(module)
    for callback in _after.get(self._name, ()):
      callback()

  def __getattr__(self, attr):  # get_source, is_package, ... of the original
    return getattr(self._loader, attr)


class _Finder(importlib.abc.MetaPathFinder):
  """Finds the hooked modules with the finders after it and wraps their
  loaders; returns None (the next finder's turn) for every other module."""

  def find_spec(self, name, path, target=None):
    if name not in _after and name not in _quiet:
      return None
    for finder in sys.meta_path:
      if finder is self or not hasattr(finder, 'find_spec'):
        continue
      spec = finder.find_spec(name, path, target)
      if spec is not None:
        if spec.loader is not None and hasattr(spec.loader, 'exec_module'):
          spec.loader = _Loader(spec.loader, name)
        return spec
    return None


def _install() -> None:
  if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
