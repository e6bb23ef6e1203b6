"""The project's modules import each other without cycles, and the stats job
with the vectorized engine runs without TensorFlow.

Every import counts, also the ones inside functions: a cycle hidden in a
function body still ties two modules together.
"""

import ast
import os
import textwrap

from conftest import REPO
from conftest import run_job
from transforms.io import artifacts

PACKAGES = ('beam_jobs', 'transforms', 'report', 'runners', 'settings', 'conf')


def _modules():
  """{dotted module name: path} of every module of the project's packages."""
  found = {}
  for package in PACKAGES:
    top = os.path.join(REPO, package)
    if not os.path.isdir(top):
      continue
    for folder, _, files in os.walk(top):
      for f in files:
        if not f.endswith('.py'):
          continue
        rel = os.path.relpath(os.path.join(folder, f), REPO)[:-3]
        name = rel.replace(os.sep, '.')
        found[name[:-len('.__init__')] if name.endswith('.__init__')
              else name] = os.path.join(folder, f)
  return found


def _imports(path, name, modules):
  """The project modules that the module at ``path`` imports."""
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read())
  package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parts = package.split('.')
        parent = '.'.join(parts[:len(parts) - node.level + 1])
        base = f'{parent}.{base}' if base else parent
      targets = [f'{base}.{a.name}' for a in node.names] + [base]
    else:
      continue
    for target in targets:
      while target and target not in modules:
        target = target.rpartition('.')[0]
      if target and target != name:
        out.add(target)
  return out


def _cycles(graph):
  """Strongly connected components with more than one module (Tarjan)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = set()
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.add(w)
        if w == v:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return found


def test_the_walk_sees_imports_inside_functions():
  graph = {'a': {'b'}, 'b': {'a'}, 'c': {'a'}}
  assert _cycles(graph) == [['a', 'b']]
  modules = _modules()
  assert 'beam_jobs.validate' in modules
  assert _imports(modules['beam_jobs.validate'], 'beam_jobs.validate',
                  modules) >= {'beam_jobs._cli'}


def test_no_import_cycles():
  modules = _modules()
  graph = {name: _imports(path, name, modules)
           for name, path in modules.items()}
  # A package imports its own modules (its __init__); that is no cycle.
  graph = {name: {t for t in targets if not name.startswith(f'{t}.')}
           for name, targets in graph.items()}
  assert _cycles(graph) == []


def _top_level_imports(path):
  """Every module name the file at ``path`` imports (absolute imports)."""
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and not node.level:
      yield node.module or ''


def test_nothing_under_transforms_or_runners_reads_the_config():
  """The jobs parse their config once (settings/job.py); the data side and
  the runners get typed specs and never see OmegaConf or Hydra."""
  found = sorted(
      (name, imported) for name, path in _modules().items()
      if name.split('.')[0] in ('transforms', 'runners')
      for imported in _top_level_imports(path)
      if imported.split('.')[0] in ('omegaconf', 'hydra'))
  assert found == []


def test_every_project_import_names_a_module_of_this_repository():
  """``from transforms import x`` needs transforms/x.py (or x defined in
  transforms/__init__.py): an installed copy elsewhere must not fill in."""
  modules = _modules()
  missing = []
  for name, path in modules.items():
    with open(path, encoding='utf-8') as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if not isinstance(node, ast.ImportFrom) or node.level or (
          node.module not in modules):
        continue
      package = modules[node.module]
      if not package.endswith('__init__.py'):
        continue
      with open(package, encoding='utf-8') as f:
        defined = f.read()
      missing += [f'{name}: from {node.module} import {a.name}'
                  for a in node.names
                  if f'{node.module}.{a.name}' not in modules
                  and a.name not in defined]
  assert missing == []


# Loaded by every Python process of a run (the job and each Beam worker it
# starts) from PYTHONPATH: writes a line when the process starts and one, with
# the importing code, when it imports TensorFlow or TFDV.
_WATCH = textwrap.dedent('''
    import os, sys, traceback
    _LOG = os.environ['IMPORT_WATCH_LOG']
    with open(_LOG, 'a') as f:
      f.write(f'start {os.getpid()}\\n')
    class _Watch:
      def find_spec(self, name, path=None, target=None):
        if name in ('tensorflow', 'tensorflow_data_validation'):
          with open(_LOG, 'a') as f:
            f.write(f'import {name} {os.getpid()}\\n' +
                    ''.join(traceback.format_stack(limit=15)))
        return None
    sys.meta_path.insert(0, _Watch())
    ''')


def _watched_stats_job(tmp_path, name, *overrides):
  """Runs the stats job on real data (weather, sliced by origin, with its
  event time); returns (result, log lines of the watch, stats or None)."""
  site = tmp_path / f'site-{name}'
  site.mkdir()
  (site / 'sitecustomize.py').write_text(_WATCH)
  log = tmp_path / f'{name}.log'
  log.write_text('')
  store = tmp_path / f'store-{name}'
  path = os.environ.get('PYTHONPATH', '')
  result = run_job(
      'stats', 'dataset.name=weather',
      f'dataset.path={REPO}/tests/corpus/weather.csv.gz', 'span=2013-01-01',
      f'store.root={store}', 'dataset.slices=[origin]', *overrides,
      env={'PYTHONPATH': os.pathsep.join(p for p in (str(site), path, REPO)
                                         if p),
           'IMPORT_WATCH_LOG': str(log)})
  assert result.returncode == 0, result.stderr[-3000:]
  stats = artifacts.SpanArtifacts(str(store), 'weather', 'train',
                                  '2013-01-01').load_stats()
  return result, log.read_text().splitlines(), stats


def test_vectorized_stats_job_imports_no_tensorflow_in_any_process(tmp_path):
  """Issue 23: the default engine's run costs no TensorFlow start-up (~4.5 s,
  ~0.6 GB) in the job's process nor in either of its two worker processes."""
  _, log, stats = _watched_stats_job(
      tmp_path, 'vectorized', 'stats.engine=vectorized',
      'runner.options.direct_running_mode=multi_processing',
      'runner.options.direct_num_workers=2')
  assert len(stats.datasets) == 4  # the span and three origins
  started = [line for line in log if line.startswith('start ')]
  assert len(started) >= 3, log  # the job and its two workers were watched
  imports = [line for line in log if not line.startswith('start ')]
  assert imports == [], '\n'.join(imports)


def test_tfdv_stats_job_still_imports_tfdv_quietly(tmp_path):
  """stats.engine=tfdv imports TFDV when it plans the pass, writes the same
  kind of stats.pb, and TFDV's IPython notice stays off the console."""
  result, log, stats = _watched_stats_job(tmp_path, 'tfdv',
                                          'stats.engine=tfdv')
  assert any(line.startswith('import tensorflow_data_validation ')
             for line in log)
  assert len(stats.datasets) == 4
  assert stats.datasets[0].num_examples == 26115
  assert 'IPython' not in result.stderr
