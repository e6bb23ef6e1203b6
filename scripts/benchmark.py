"""Benchmark: the stats job against TFDV's in-memory helper and DuckDB SUMMARIZE.

  make bench                      # 1M and 4M rows, results in bench/results.md
  .venv/bin/python scripts/benchmark.py --rows 1000000 --repeat 1

Generates Parquet files of N rows x 19 columns (8 float, 4 int, 6 categorical
with ~50 values, 1 binary label) once, then runs each contender as a whole
process and records its wall time and peak resident memory. Peak memory is
the largest sum of the resident set sizes of the process and all its
descendants, polled from /proc every 20 ms (the DirectRunner's
multi-processing mode runs workers as child processes; wait4's ru_maxrss
would report only the largest single process), and never less than the
child's own ru_maxrss. Contenders:

  stats_job   python -m beam_jobs.stats on the file (this project)
  tfdv_df     pandas.read_parquet + tfdv.generate_statistics_from_dataframe
  duckdb      DuckDB's SUMMARIZE over the file (a one-pass column profile)
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

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


def generate(path: str, rows: int, seed: int = 0) -> None:
  """Writes the benchmark table in chunks (the generator itself stays small)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  vocab = np.array([f'cat_{i:02d}' for i in range(50)])
  chunk = 500_000
  writer = None
  done = 0
  while done < rows:
    n = min(chunk, rows - done)
    cols = {}
    for i in range(8):
      # 2% missing, stored as Parquet nulls.
      cols[f'f{i}'] = pa.array(rng.normal(i * 10, 1 + i, n),
                               mask=rng.random(n) < 0.02)
    for i in range(4):
      cols[f'i{i}'] = rng.integers(0, 10 ** (i + 2), n)
    for i in range(6):
      cols[f'c{i}'] = vocab[rng.zipf(1.3 + i * 0.1, n) % 50]
    cols['label'] = (rng.random(n) < 0.3).astype(np.int64)
    table = pa.table(cols)
    if writer is None:
      writer = pq.ParquetWriter(path, table.schema)
    writer.write_table(table, row_group_size=chunk)
    done += n
  writer.close()


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
    raise RuntimeError(f'{cmd[:4]} failed:\n{err[-2000:]}')
  return seconds, max(peak, usage.ru_maxrss) / 1024


def contenders(path: str, workdir: str, extra):
  return {
      'stats_job': [PY, '-m', 'beam_jobs.stats', 'dataset.name=bench',
                    f'dataset.path={path}', 'span=bench',
                    f'store.root={workdir}/store', *extra],
      'tfdv_df': [PY, '-c', _TFDV_DF, path],
      'duckdb': [PY, '-c', _DUCKDB, path],
  }


def targets(results):
  """The performance goals of the stats job, checked on these results."""
  def get(rows, name, index):
    return next((r[index] for r in results if r[0] == rows and r[1] == name),
                None)
  sizes = sorted({r[0] for r in results})
  big, small = sizes[-1], sizes[0]
  out = ['Targets for stats_job:']
  job_t, job_m = get(big, 'stats_job', 2), get(big, 'stats_job', 3)
  duck_t, tfdv_m = get(big, 'duckdb', 2), get(big, 'tfdv_df', 3)
  if job_t and duck_t:
    ratio = job_t / duck_t
    out.append(f'- wall time at {big:,} rows <= 2.5x duckdb: {ratio:.2f}x '
               f'{"met" if ratio <= 2.5 else "MISSED"}')
  if job_m and tfdv_m:
    ratio = job_m / tfdv_m
    out.append(f'- peak memory at {big:,} rows <= 1/3 of tfdv_df: '
               f'{ratio:.2f} {"met" if ratio <= 1 / 3 else "MISSED"}')
  small_m = get(small, 'stats_job', 3)
  if small != big and job_m and small_m:
    growth = job_m / small_m - 1
    out.append(f'- peak memory growth {small:,} -> {big:,} rows < 20%: '
               f'{growth:+.1%} {"met" if growth < 0.2 else "MISSED"}')
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', type=int, nargs='+',
                      default=[1_000_000, 4_000_000])
  parser.add_argument('--repeat', type=int, default=2,
                      help='runs per contender; the best time is reported')
  parser.add_argument('--workdir', default=os.path.join(REPO, 'bench'))
  parser.add_argument('--only', nargs='*', default=None,
                      help='contenders to run (default: all)')
  parser.add_argument('--job-override', action='append', default=[],
                      help='extra key=value overrides for the stats job')
  args = parser.parse_args(argv)
  os.makedirs(args.workdir, exist_ok=True)

  results = []
  for rows in args.rows:
    path = os.path.join(args.workdir, f'bench_{rows}.parquet')
    if not os.path.exists(path):
      print(f'generating {path} ...', flush=True)
      generate(path, rows)
    for name, cmd in contenders(path, args.workdir,
                                args.job_override).items():
      if args.only and name not in args.only:
        continue
      runs = [measure(cmd) for _ in range(args.repeat)]
      seconds = min(r[0] for r in runs)
      rss = max(r[1] for r in runs)
      results.append((rows, name, seconds, rss))
      print(f'{rows:>9,} rows  {name:<10} {seconds:7.1f} s  {rss:7.0f} MiB',
            flush=True)

  lines = ['| rows | contender | wall s | peak MiB | time / duckdb | '
           'memory / tfdv_df |', '|---|---|---|---|---|---|']
  for rows, name, seconds, rss in results:
    base_t = next((s for r, n, s, _ in results if r == rows and n == 'duckdb'),
                  None)
    base_m = next((m for r, n, _, m in results if r == rows and
                   n == 'tfdv_df'), None)
    ratio_t = f'{seconds / base_t:.2f}' if base_t else '-'
    ratio_m = f'{rss / base_m:.2f}' if base_m else '-'
    lines.append(f'| {rows:,} | {name} | {seconds:.1f} | {rss:.0f} | '
                 f'{ratio_t} | {ratio_m} |')
  lines += [''] + targets(results)
  table = '\n'.join(lines)
  print(table)
  with open(os.path.join(args.workdir, 'results.md'), 'w') as f:
    f.write(table + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
