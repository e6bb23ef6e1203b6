"""Benchmark: the stats job on five data shapes, each against its goal.

  make bench                      # all five cases at full size, bench/results.md
  .venv/bin/python scripts/benchmark.py --scale 0.02 --repeat 1   # quick check
  .venv/bin/python scripts/benchmark.py --cases events unique_id --only stats_job

Cases (row counts are multiplied by --scale; files are generated once, seeded,
by scripts/bench_data.py, and cached in --workdir):

  mixed      4M x 19 (8 float, 4 int, 6 categorical c0..c5 with 50 values,
             1 label): stats_job, stats_job_2procs, tfdv_df, duckdb
  events     2M event rows (unique event id, 400k session ids, long-tail user
             agent, 3 numbers, 2 categories): stats_job, tfdv_df, duckdb, and
             the accuracy of the job's unique counts and top values
  unique_id  2M rows: a unique string id and a number: stats_job, tfdv_df,
             duckdb, and the accuracy of the id's unique count
  wide       200k x 500 (250 float, 150 int, 100 categorical with 20 values):
             stats_job, duckdb
  sliced     the mixed file with dataset.slices=[c0,c1]: 50 + 50 slices, each
             row in 3 datasets (all examples, its c0 value, its c1 value):
             stats_job_sliced against the unsliced stats_job

Each contender runs as a whole process; we record its wall time and peak
resident memory. Peak memory is the largest sum of the resident set sizes of
the process and all its descendants, polled from /proc every 20 ms (the
DirectRunner's multi-processing mode runs workers as child processes; wait4's
ru_maxrss would report only the largest single process; and a forked child's
ru_maxrss starts at this script's own size). Contenders:

  stats_job         python -m beam_jobs.stats dataset.name=bench
                    dataset.path=FILE span=bench store.root=TMP (this project,
                    its defaults; a fresh store per run)
  stats_job_2procs  the same + runner.options.direct_running_mode=
                    multi_processing runner.options.direct_num_workers=2
  stats_job_sliced  the same as stats_job + dataset.slices=[c0,c1]
  tfdv_df           pandas.read_parquet + tfdv.generate_statistics_from_dataframe
  duckdb            DuckDB's SUMMARIZE over the file, 2 threads
  engine_job, engine_job_2procs, engine_job_sliced
                    the same stats jobs with stats.engine=vectorized
                    (transforms/engine)
  engine_floor      the engine without Beam: Parquet row groups -> TFDV-form
                    batches -> one SliceState -> the statistics proto, in one
                    process that imports neither TFDV nor TensorFlow; it also
                    writes the serialized state size of every feature

Issue 23's case:

  wider      20k x 5,000 (4,000 float, 1,000 text with 20-200 values):
             stats_job, engine_job, engine_floor, tfdv_df, duckdb

The report ends with issue 13's goals (the stats job as configured) and
issue 23's goals (the engine), each met or not.
"""

import argparse
import dataclasses
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Callable, Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_data  # pylint: disable=g-import-not-at-top,wrong-import-position

PY = sys.executable
CASES = ('mixed', 'events', 'unique_id', 'wide', 'sliced', 'wider')
# Slices of the sliced case: one slice per value of c0 and one per value of c1
# (50 values each), so ~100 slices and every row in 3 datasets.
SLICES = '[c0,c1]'
# "Under 1.5 GB" of the goals, read as GiB.
GOAL_PEAK_MIB = 1536
# Span every stats_job writes; its statistics land in
# {store.root}/bench/split=train/span=bench/stats.pb.
SPAN = 'bench'

_TFDV_DF = """
import sys, beam_jobs, pandas as pd, tensorflow_data_validation as tfdv
stats = tfdv.generate_statistics_from_dataframe(pd.read_parquet(sys.argv[1]))
print(stats.datasets[0].num_examples)
"""

_DUCKDB = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET threads TO 2")
rows = con.execute(f"SUMMARIZE SELECT * FROM read_parquet('{sys.argv[1]}')").fetchall()
print(len(rows))
"""

# The engine alone (engine_floor): argv[1] the file, argv[2] a folder for
# sizes.json (serialized state bytes per feature).
_ENGINE_FLOOR = """
import json, os, sys
import pyarrow as pa, pyarrow.parquet as pq
from transforms import arrow_types
from transforms.engine import output, state as st
pf = pq.ParquetFile(sys.argv[1])
schema = pa.schema([pa.field(f.name, arrow_types.read_type(f.type))
                    for f in pf.schema_arrow])
options = st.EngineOptions(kinds=arrow_types.feature_kinds(schema))
acc = st.SliceState()
for batch in pf.iter_batches(batch_size=100_000):
  table = pa.Table.from_batches([batch])
  table = pa.table({n: arrow_types.cast_column(table.column(n),
                                               schema.field(n).type)
                    for n in table.column_names})
  acc.update(arrow_types.table_to_tfdv(table), options)
stats = output.dataset_statistics(acc, options, '')
sizes = {}
for path, feature in acc.features.items():
  alone = st.SliceState()
  alone.features[path] = feature
  sizes['.'.join(path)] = len(alone.to_bytes())
with open(os.path.join(sys.argv[2], 'sizes.json'), 'w') as f:
  json.dump({'sizes': sizes, 'total': len(acc.to_bytes()),
             'tf': 'tensorflow' in sys.modules}, f)
print(stats.num_examples)
"""

# Kept under its old name: the 19-column generator of the mixed case.
generate = bench_data.generate_mixed

_PAGE_KIB = os.sysconf('SC_PAGE_SIZE') // 1024


def _tree_rss_kib(root: int) -> int:
  """Resident KiB of ``root`` and every descendant, read from /proc."""
  children: dict = {}
  rss: dict = {}
  for entry in os.listdir('/proc'):
    if not entry.isdigit():
      continue
    try:
      with open(f'/proc/{entry}/stat', 'rb') as f:
        fields = f.read().rsplit(b')', 1)[1].split()
    except OSError:
      continue
    pid = int(entry)
    children.setdefault(int(fields[1]), []).append(pid)  # field 4: ppid
    rss[pid] = int(fields[21]) * _PAGE_KIB  # field 24: rss in pages
  total, todo = 0, [root]
  while todo:
    pid = todo.pop()
    total += rss.get(pid, 0)
    todo.extend(children.get(pid, ()))
  return total


def measure(cmd, cwd=REPO):
  """Runs ``cmd``; returns (seconds, peak RSS of its process tree in MiB)."""
  errors = tempfile.TemporaryFile(mode='w+')
  start = time.perf_counter()
  proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=errors, text=True)
  peak = 0
  while True:
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid:
      break
    peak = max(peak, _tree_rss_kib(proc.pid))
    time.sleep(0.02)
  seconds = time.perf_counter() - start
  errors.seek(0)
  err = errors.read()
  errors.close()
  if os.waitstatus_to_exitcode(status) != 0:
    raise RuntimeError(f'{" ".join(cmd[:5])} ... failed:\n{err[-3000:]}')
  # Not ru_maxrss: a forked child starts with its parent's resident pages,
  # and Linux keeps that high-water mark across exec, so after this script
  # has generated a file every child would report at least this script's
  # size (DuckDB measured 895 MiB right after an 895 MiB stats job).
  del usage
  return seconds, peak / 1024


# --- the cases -------------------------------------------------------------


@dataclasses.dataclass
class Case:
  name: str
  title: str
  path: str
  rows: int
  # contender -> command; '{store}' in an argument is replaced by a fresh
  # store root for every run.
  contenders: Dict[str, List[str]]
  # Contenders the table divides wall time by.
  time_refs: Tuple[str, ...] = ()
  # The file's generator, when it is not there yet.
  make: Optional[Callable[[str, int], None]] = None
  # contender -> function(store root, case) -> lines; run after the first run.
  inspect: Dict[str, Callable] = dataclasses.field(default_factory=dict)


def stats_job(path: str, *overrides: str) -> List[str]:
  """The stats job as a user starts it on ``path``, plus ``overrides``."""
  return [PY, '-m', 'beam_jobs.stats', 'dataset.name=bench',
          f'dataset.path={path}', f'span={SPAN}', 'store.root={store}',
          *overrides]


TWO_PROCS = ('runner.options.direct_running_mode=multi_processing',
             'runner.options.direct_num_workers=2')


ENGINE = 'stats.engine=vectorized'


def contenders(path: str, extra=(), names=('stats_job', 'tfdv_df', 'duckdb'),
               engine=True):
  """``names`` and, with ``engine``, their stats.engine=vectorized twins."""
  every = {
      'stats_job': stats_job(path, *extra),
      'stats_job_2procs': stats_job(path, *TWO_PROCS, *extra),
      'stats_job_sliced': stats_job(path, f'dataset.slices={SLICES}', *extra),
      'engine_job': stats_job(path, ENGINE, *extra),
      'engine_job_2procs': stats_job(path, ENGINE, *TWO_PROCS, *extra),
      'engine_job_sliced': stats_job(path, ENGINE, f'dataset.slices={SLICES}',
                                     *extra),
      'engine_floor': [PY, '-c', _ENGINE_FLOOR, path, '{store}'],
      'tfdv_df': [PY, '-c', _TFDV_DF, path],
      'duckdb': [PY, '-c', _DUCKDB, path],
  }
  if engine:
    names = list(names) + [n.replace('stats_job', 'engine_job') for n in names
                           if n.startswith('stats_job')] + ['engine_floor']
  return {name: every[name] for name in names}


def build_cases(args) -> List[Case]:
  """The cases asked for, with their files and contenders."""
  def rows(n):
    return max(1, round(n * args.scale))

  def at(name):
    return os.path.join(args.workdir, name)

  extra = args.job_override
  cases = []
  # Ascending: the goals read the last (largest) mixed file.
  mixed_rows = sorted({rows(n) for n in args.rows})
  if 'mixed' in args.cases:
    for n in mixed_rows:
      path = at(f'bench_{n}.parquet')
      cases.append(Case(
          'mixed', f'mixed: {n:,} rows x 19 columns (8 float, 4 int, '
          '6 categorical with 50 values, 1 label)', path, n,
          contenders(path, extra, ('stats_job', 'stats_job_2procs',
                                   'tfdv_df', 'duckdb')),
          ('duckdb', 'tfdv_df'), bench_data.generate_mixed))
  if 'events' in args.cases:
    n = rows(2_000_000)
    path = at(f'events_v1_{n}.parquet')
    cases.append(Case(
        'events', f'events: {n:,} event rows x 8 columns (unique event_id, '
        f'~{max(1, n // 5):,} session ids, long-tail user_agent, 3 numbers, '
        'event_type with 8 values, country with 50)', path, n,
        contenders(path, extra), ('tfdv_df', 'duckdb'),
        bench_data.generate_events,
        {name: lambda store, case, n=n: accuracy(
            store, case, ['event_id', 'session_id', 'user_agent'],
            {'event_id': n}, 'country') for name in ('stats_job',
                                                     'engine_job')}))
  if 'unique_id' in args.cases:
    n = rows(2_000_000)
    path = at(f'unique_id_v1_{n}.parquet')
    cases.append(Case(
        'unique_id', f'unique_id: {n:,} rows x 2 columns (unique string id, '
        'one float)', path, n, contenders(path, extra),
        ('tfdv_df', 'duckdb'), bench_data.generate_unique_id,
        {name: lambda store, case, n=n: accuracy(
            store, case, ['id'], {'id': n}, None) for name in ('stats_job',
                                                               'engine_job')}))
  if 'wide' in args.cases:
    n = rows(200_000)
    path = at(f'wide_v1_{n}x500.parquet')
    cases.append(Case(
        'wide', f'wide: {n:,} rows x 500 columns (250 float, 150 int, '
        '100 categorical with 20 values)', path, n,
        contenders(path, extra, ('stats_job', 'duckdb')), ('duckdb',),
        bench_data.generate_wide))
  if 'sliced' in args.cases:
    n = max(mixed_rows)
    path = at(f'bench_{n}.parquet')
    cases.append(Case(
        'sliced', f'sliced: the mixed file ({n:,} rows) with '
        f'dataset.slices={SLICES}', path, n,
        contenders(path, extra, ('stats_job', 'stats_job_sliced')),
        ('stats_job',), bench_data.generate_mixed,
        {'stats_job_sliced': slice_layout,
         'engine_job_sliced': slice_layout}))
  if 'wider' in args.cases:
    n = rows(20_000)
    path = at(f'wider_v1_{n}x5000.parquet')
    cases.append(Case(
        'wider', f'wider: {n:,} rows x 5,000 columns (4,000 float, 1,000 '
        'text with 20-200 values)', path, n,
        contenders(path, extra, ('stats_job', 'tfdv_df', 'duckdb')),
        ('duckdb', 'tfdv_df'), bench_data.generate_wider))
  for case in cases:
    case.inspect.setdefault('engine_floor', state_sizes)
  return cases


# --- what the job wrote ----------------------------------------------------


def _stats(store: str):
  # Google client libraries (imported with Beam) warn about future Python
  # and grpc support at import.
  warnings.filterwarnings('ignore', category=FutureWarning)
  from transforms.io import artifacts  # pylint: disable=g-import-not-at-top
  return artifacts.read_stats(os.path.join(
      store, 'bench', 'split=train', f'span={SPAN}', artifacts.STATS_FILE))


def _features(dataset) -> dict:
  return {'.'.join(f.path.step) or f.name: f for f in dataset.features}


def accuracy(store: str, case: Case, unique_columns, by_construction,
             category: Optional[str]) -> dict:
  """The job's unique counts against the true distinct counts, and its top
  values of ``category`` against pandas' exact value_counts."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import pyarrow.compute as pc  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  overall = next(d for d in _stats(store).datasets
                 if d.name in ('', 'All Examples'))
  features = _features(overall)
  table = pq.read_table(case.path, columns=list(unique_columns))
  out = {'uniques': [], 'lines': []}
  for column in unique_columns:
    true = pc.count_distinct(table[column]).as_py()
    if column in by_construction:
      assert true == by_construction[column], (column, true)
    job = features[column].string_stats.unique
    error = abs(job - true) / true
    out['uniques'].append((column, job, true, error,
                           column in by_construction))
    out['lines'].append(f'- unique `{column}`: job {job:,}, true {true:,} '
                        f'({error:.2%} off)')
  if category:
    counts = pd.read_parquet(case.path, columns=[category])[category]
    exact = counts.value_counts()
    s = features[category].string_stats
    top = [(tv.value, int(tv.frequency)) for tv in s.top_values]
    ranks = [(b.label, int(b.sample_count)) for b in s.rank_histogram.buckets]
    top_ok = sum(int(exact.get(v, -1)) == f for v, f in top)
    # The values reported are the most frequent ones (ties allowed).
    rest = exact.drop([v for v, _ in top], errors='ignore')
    order_ok = not top or rest.empty or min(f for _, f in top) >= rest.max()
    rank_ok = sum(int(exact.get(v, -1)) == f for v, f in ranks)
    out['top'] = (category, len(exact), top_ok, len(top), order_ok, rank_ok,
                  len(ranks), s.unique)
    out['lines'].append(
        f'- top values of `{category}` ({len(exact)} distinct, job unique '
        f'{s.unique}): {top_ok}/{len(top)} top values with the exact count'
        f'{"" if order_ok else " but NOT the most frequent ones"}; '
        f'{rank_ok}/{len(ranks)} rank-histogram counts exact (pandas '
        'value_counts)')
  return out


def state_sizes(store: str, case: Case) -> dict:
  """The engine's serialized state per feature (engine_floor's sizes.json)."""
  import json  # pylint: disable=g-import-not-at-top
  del case
  with open(os.path.join(store, 'sizes.json')) as f:
    found = json.load(f)
  sizes = sorted(found['sizes'].items(), key=lambda kv: kv[1])
  largest = sizes[-1]
  median = sizes[len(sizes) // 2][1]
  return {'largest': largest, 'median': median, 'total': found['total'],
          'features': len(sizes), 'tf': found['tf'], 'lines': [
              f'- engine state per feature (one slice): median '
              f'{median / 1024:.1f} KiB, largest {largest[1] / 1024:.1f} KiB '
              f'(`{largest[0]}`), all {len(sizes)} features '
              f'{found["total"] / 1024:.0f} KiB; TensorFlow imported: '
              f'{found["tf"]}']}


def slice_layout(store: str, case: Case) -> dict:
  """How many slices the job wrote and how many datasets each row is in."""
  datasets = _stats(store).datasets
  slices = sum(1 for d in datasets if d.name not in ('', 'All Examples'))
  per_row = sum(d.num_examples for d in datasets) / case.rows
  return {'slices': slices, 'per_row': per_row, 'lines': [
      f'- {slices} slices besides all examples; each row is in '
      f'{per_row:.2f} datasets']}


# --- running and reporting -------------------------------------------------


def run_contender(cmd: List[str], repeat: int, workdir: str, inspect=None,
                  case=None):
  """Best wall time, largest peak memory, and what ``inspect`` found in the
  store of the first run."""
  runs, found = [], None
  scratch = os.path.join(workdir, 'stores')
  os.makedirs(scratch, exist_ok=True)
  for i in range(repeat):
    store = tempfile.mkdtemp(prefix='store-', dir=scratch)
    try:
      runs.append(measure([a.replace('{store}', store) for a in cmd]))
      if inspect and i == 0:
        found = inspect(store, case)
    finally:
      shutil.rmtree(store, ignore_errors=True)
  return min(r[0] for r in runs), max(r[1] for r in runs), found


def table(case: Case, results: dict) -> List[str]:
  measured = results[case.name]
  refs = [r for r in case.time_refs if r in measured]
  memory_ref = 'tfdv_df' if 'tfdv_df' in measured else None
  head = ['contender', 'wall s', 'peak MiB'] + [f'time / {r}' for r in refs]
  if memory_ref:
    head.append(f'memory / {memory_ref}')
  lines = [f'### {case.title}', '', '| ' + ' | '.join(head) + ' |',
           '|' + '---|' * len(head)]
  for name, (seconds, mib) in measured.items():
    row = [name, f'{seconds:.1f}', f'{mib:.0f}']
    row += [f'{seconds / measured[r][0]:.2f}' for r in refs]
    if memory_ref:
      row.append(f'{mib / measured[memory_ref][1]:.2f}')
    lines.append('| ' + ' | '.join(row) + ' |')
  return lines


def goals(results: dict, found: dict) -> List[str]:
  """The goals of issue 13, each with the measured figure."""
  def get(case, name):
    return results.get(case, {}).get(name)

  def verdict(ok):
    return 'met' if ok else 'NOT met'

  def ratio_line(label, case, name, ref, limit):
    a, b = get(case, name), get(case, ref)
    if not a or not b:
      return f'- {label}: not measured'
    r = a[0] / b[0]
    return f'- {label}: {r:.2f}x ({a[0]:.1f} s / {b[0]:.1f} s) {verdict(r <= limit)}'

  def peak_line(label, case, name):
    a = get(case, name)
    if not a:
      return f'- {label}: not measured'
    return f'- {label}: {a[1]:.0f} MiB {verdict(a[1] < GOAL_PEAK_MIB)}'

  out = ['## Goals', '',
         '1. events: as fast as TFDV\'s in-memory helper (within 1.5x), '
         'unique counts within 1%, exact top values',
         ratio_line('stats_job <= 1.5x tfdv_df on events', 'events',
                    'stats_job', 'tfdv_df', 1.5)]
  uniques = [(case, u) for case in ('events', 'unique_id')
             for u in found.get(case, {}).get('stats_job', {}).get(
                 'uniques', []) if u[4]]  # the all-distinct columns
  if uniques:
    worst = max(u[3] for _, u in uniques)
    shown = ', '.join(f'{c}.{u[0]} {u[1]:,} vs {u[2]:,} ({u[3]:.2%})'
                      for c, u in uniques)
    out.append(f'- unique counts of the all-distinct columns within 1%: '
               f'{shown} {verdict(worst <= 0.01)}')
  else:
    out.append('- unique counts of the all-distinct columns within 1%: '
               'not measured')
  top = found.get('events', {}).get('stats_job', {}).get('top')
  if top:
    category, distinct, top_ok, n_top, order_ok, rank_ok, n_rank, _ = top
    ok = top_ok == n_top > 0 and order_ok and rank_ok == n_rank == distinct
    out.append(f'- top values exact for `{category}` ({distinct} values): '
               f'{top_ok}/{n_top} top values, {rank_ok}/{n_rank} '
               f'rank-histogram counts equal value_counts {verdict(ok)}')
  else:
    out.append('- top values exact for a 50-value category: not measured')
  out += ['', f'2. sliced ({SLICES}): within 3x of the unsliced pass, peak '
          f'under {GOAL_PEAK_MIB} MiB']
  layout = found.get('sliced', {}).get('stats_job_sliced')
  if layout:
    out.append(f'- slices: {layout["slices"]}, datasets per row: '
               f'{layout["per_row"]:.2f}')
  out += [ratio_line('stats_job_sliced <= 3x stats_job', 'sliced',
                     'stats_job_sliced', 'stats_job', 3),
          peak_line(f'stats_job_sliced peak < {GOAL_PEAK_MIB} MiB', 'sliced',
                    'stats_job_sliced'),
          '', f'3. wide (500 columns): peak under {GOAL_PEAK_MIB} MiB, within '
          '2x of DuckDB',
          peak_line(f'stats_job peak < {GOAL_PEAK_MIB} MiB', 'wide',
                    'stats_job'),
          ratio_line('stats_job <= 2x duckdb', 'wide', 'stats_job', 'duckdb',
                     2),
          '', '4. mixed (the largest mixed file): within 1.5x of DuckDB',
          ratio_line('stats_job <= 1.5x duckdb', 'mixed', 'stats_job',
                     'duckdb', 1.5),
          ratio_line('stats_job_2procs <= 1.5x duckdb', 'mixed',
                     'stats_job_2procs', 'duckdb', 1.5)]
  return out


def engine_goals(results: dict, found: dict, mixed_sizes: Dict[int, dict]
                 ) -> List[str]:
  """Issue 23's goals for the engine (engine_job unless said)."""
  def get(case, name):
    return results.get(case, {}).get(name)

  def verdict(ok):
    return 'met' if ok else 'NOT met'

  def ratio(label, case, name, ref, limit):
    a, b = get(case, name), get(case, ref)
    if not a or not b:
      return f'- {label}: not measured'
    r = a[0] / b[0]
    return (f'- {label}: {r:.2f}x ({a[0]:.1f} s / {b[0]:.1f} s) '
            f'{verdict(r <= limit)}')

  def peak(label, case, name, limit_mib):
    a = get(case, name)
    if not a:
      return f'- {label}: not measured'
    return f'- {label}: {a[1]:.0f} MiB {verdict(a[1] <= limit_mib)}'

  out = ['## Goals of issue 23 (stats.engine=vectorized)', '',
         '1. mixed 4M x 19: <= 0.75x DuckDB SUMMARIZE, peak <= 0.5 GB',
         ratio('engine_job <= 0.75x duckdb', 'mixed', 'engine_job', 'duckdb',
               0.75),
         ratio('engine_floor <= 0.75x duckdb', 'mixed', 'engine_floor',
               'duckdb', 0.75),
         peak('engine_job peak <= 512 MiB', 'mixed', 'engine_job', 512),
         peak('engine_floor peak <= 512 MiB', 'mixed', 'engine_floor', 512),
         '', '2. wider 20k x 5,000: peak <= 1.5 GB and <= 1.0x DuckDB; '
         'wide 200k x 500: peak <= 1.0 GB',
         peak('wider engine_job peak <= 1536 MiB', 'wider', 'engine_job',
              1536),
         ratio('wider engine_job <= 1.0x duckdb', 'wider', 'engine_job',
               'duckdb', 1.0),
         ratio('wider engine_floor <= 1.0x duckdb', 'wider', 'engine_floor',
               'duckdb', 1.0),
         peak('wide engine_job peak <= 1024 MiB', 'wide', 'engine_job', 1024),
         '', f'3. sliced ({SLICES}): <= 2x the unsliced pass, peak <= 1.5 GB',
         ratio('engine_job_sliced <= 2x engine_job', 'sliced',
               'engine_job_sliced', 'engine_job', 2),
         peak('engine_job_sliced peak <= 1536 MiB', 'sliced',
              'engine_job_sliced', 1536),
         '', '4. events 2M: <= 0.5x TFDV\'s helper; distinct counts within '
         '1%; top values exact below the sketch\'s capacity',
         ratio('engine_job <= 0.5x tfdv_df', 'events', 'engine_job',
               'tfdv_df', 0.5)]
  for case in ('events', 'unique_id'):
    info = found.get(case, {}).get('engine_job', {})
    for column, job, true, error, _ in info.get('uniques', []):
      out.append(f'- {case}.{column} unique: {job:,} vs {true:,} '
                 f'({error:.2%}) {verdict(error <= 0.01)}')
    if info.get('top'):
      category, distinct, top_ok, n_top, order_ok, rank_ok, n_rank, _ = (
          info['top'])
      ok = top_ok == n_top > 0 and order_ok and rank_ok == n_rank == distinct
      out.append(f'- top values of `{category}` ({distinct} values): '
                 f'{top_ok}/{n_top} top values, {rank_ok}/{n_rank} '
                 f'rank-histogram counts exact {verdict(ok)}')
  out += ['', '5. serialized state per feature and slice <= 64 KiB']
  for case, per in found.items():
    info = per.get('engine_floor')
    if info:
      name, size = info['largest']
      out.append(f'- {case}: largest {size / 1024:.1f} KiB (`{name}`), '
                 f'median {info["median"] / 1024:.1f} KiB '
                 f'{verdict(size <= 64 * 1024)}')
  out += ['', '6. both cores: two worker processes faster than one (mixed)',
          ratio('engine_job_2procs < engine_job', 'mixed',
                'engine_job_2procs', 'engine_job', 0.999),
          '', '7. memory flat in rows (mixed, smallest -> largest within 10%)']
  sizes = sorted(mixed_sizes)
  if len(sizes) >= 2:
    for name in ('engine_job', 'engine_floor'):
      a, b = (mixed_sizes[sizes[0]].get(name),
              mixed_sizes[sizes[-1]].get(name))
      if a and b:
        growth = b[1] / a[1] - 1
        out.append(f'- {name}: {a[1]:.0f} MiB at {sizes[0]:,} rows, '
                   f'{b[1]:.0f} MiB at {sizes[-1]:,} ({growth:+.0%}) '
                   f'{verdict(growth <= 0.10)}')
  else:
    out.append('- not measured (run with --rows 1000000 4000000)')
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--cases', nargs='+', choices=CASES, default=list(CASES),
                      help='cases to run (default: all)')
  parser.add_argument('--scale', type=float, default=1.0,
                      help='multiplies every case\'s row count (e.g. 0.02)')
  parser.add_argument('--rows', type=int, nargs='+', default=[4_000_000],
                      help='rows of the mixed case (sliced uses the largest)')
  parser.add_argument('--repeat', type=int, default=2,
                      help='runs per contender; the best time is reported')
  parser.add_argument('--workdir', default=os.path.join(REPO, 'bench'))
  parser.add_argument('--only', nargs='*', default=None,
                      help='contenders to run (default: all): stats_job, '
                      'stats_job_2procs, stats_job_sliced, tfdv_df, duckdb')
  parser.add_argument('--job-override', action='append', default=[],
                      help='extra key=value overrides for every stats job')
  args = parser.parse_args(argv)
  if args.scale <= 0:
    parser.error('--scale must be positive')
  args.workdir = os.path.abspath(args.workdir)
  os.makedirs(args.workdir, exist_ok=True)

  results: Dict[str, dict] = {}  # case -> contender -> (seconds, MiB)
  found: Dict[str, dict] = {}  # case -> contender -> what inspect found
  done: Dict[tuple, tuple] = {}  # command -> measurement, shared by cases
  mixed_sizes: Dict[int, dict] = {}  # rows -> contender -> measurement
  sections = []
  for case in build_cases(args):
    if not os.path.exists(case.path):
      print(f'generating {case.path} ...', flush=True)
      start = time.perf_counter()
      case.make(case.path, case.rows)
      print(f'  {time.perf_counter() - start:.1f} s', flush=True)
    # The mixed case may run several sizes: the goals read the largest.
    measured = results[case.name] = {}
    if case.name == 'mixed':
      mixed_sizes[case.rows] = measured
    for name, cmd in case.contenders.items():
      if args.only is not None and name not in args.only:
        continue
      inspect = case.inspect.get(name)
      key = tuple(cmd)
      if key not in done or (inspect and done[key][2] is None):
        done[key] = run_contender(cmd, args.repeat, args.workdir, inspect,
                                  case)
        reused = ''
      else:
        reused = ' (measured above)'
      seconds, mib, info = done[key]
      measured[name] = (seconds, mib)
      if info is not None:
        found.setdefault(case.name, {})[name] = info
      print(f'{case.name:<9} {case.rows:>10,} rows  {name:<16} '
            f'{seconds:7.1f} s  {mib:7.0f} MiB{reused}', flush=True)
    lines = table(case, results)
    for name, info in found.get(case.name, {}).items():
      lines += ['', f'{name}:'] + info['lines']
    sections.append('\n'.join(lines))

  head = [f'# make bench: {dt.datetime.now():%Y-%m-%d %H:%M}, '
          f'{os.cpu_count()} cores, Python {platform.python_version()}, '
          f'scale {args.scale:g}, best of {args.repeat}', '']
  if args.scale < 1:
    head += [f'Scale {args.scale:g}: a fixed start-up of several seconds '
             'dominates these small files; the goals are meant at scale 1.',
             '']
  report = '\n\n'.join(['\n'.join(head).rstrip(), *sections,
                         '\n'.join(goals(results, found)),
                         '\n'.join(engine_goals(results, found,
                                                 mixed_sizes))])
  print('\n' + report)
  try:
    os.rmdir(os.path.join(args.workdir, 'stores'))  # each run removed its own
  except OSError:
    pass
  with open(os.path.join(args.workdir, 'results.md'), 'w') as f:
    f.write(report + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
