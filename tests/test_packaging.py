"""The package Dataflow workers install: built the way Beam's stager builds it."""

import os
import tarfile

from apache_beam.runners.portability.stager import Stager

from conftest import REPO


def test_setup_file_package_ships_every_module_and_config(tmp_path):
  """`--setup_file` builds an sdist; workers import beam_jobs, transforms, runners, settings, report, conf."""
  tarball = Stager._build_setup_package(  # pylint: disable=protected-access
      os.path.join(REPO, 'setup.py'), str(tmp_path))
  with tarfile.open(tarball) as tar:
    names = {n.split('/', 1)[1] for n in tar.getnames() if '/' in n}
  for package in ('beam_jobs', 'transforms', 'transforms/io',
                  'transforms/engine',
                  'transforms/checks', 'runners', 'settings', 'report',
                  'conf'):
    modules = {f'{package}/{f}' for f in os.listdir(os.path.join(REPO, package))
               if f.endswith(('.py', '.yaml'))}
    assert f'{package}/__init__.py' in names
    assert modules <= names, sorted(modules - names)
  for group in ('dataset', 'runner', 'sink'):
    for f in os.listdir(os.path.join(REPO, 'conf', group)):
      assert f'conf/{group}/{f}' in names
