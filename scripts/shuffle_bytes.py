"""Shuffle bytes of the statistics pass, exact versus sketch counting, measured
on a real Flink 1.19 session cluster, and what they would cost per TB.

  .venv/bin/python scripts/shuffle_bytes.py                 # ~6 min, 2 cores
  .venv/bin/python scripts/shuffle_bytes.py --scale 0.05 --cases events

For each case (files from scripts/bench_data.py, the same names as
scripts/benchmark.py's, cached in --workdir) and mode, the stats job runs on
a session cluster started here (scripts/flink/cluster.py: one JobManager, one
TaskManager with --parallelism slots) with

  python -m beam_jobs.stats dataset.name=bench dataset.path=FILE span=bench
      store.root=TMP runner=flink runner.flink_master=127.0.0.1:PORT
      runner.parallelism=2 runner.sdk_workers=loopback
      stats.top_values={exact,sketch} shift.enabled=false

(and once on mixed with the shift check on: shift.enabled=true
dataset.label=label). After each job, Flink's REST API gives every vertex's
read-bytes / write-bytes (serialized record bytes written into / read from
Flink's network buffers between vertices, local or remote) and the plan's
edges
(ship_strategy). Reported:

  keyed shuffle  bytes read by vertices whose input is hash-partitioned
                 ('Hash Partition on [0]'): the GroupByKey / CombinePerKey
                 exchanges, what Dataflow's shuffle service would carry
  all exchanges  every vertex's write-bytes: also the 'Forward' edges
                 between vertices that Flink did not chain, e.g. the
                 Python stage's tagged outputs, written once per consumer

per TB of input = keyed shuffle / Parquet bytes x 1e12, linear in rows:
right for exact counting of ids, an upper bound for accumulators, which are
one per bundle (docs/scale.md "Shuffle per TB" has a per-bundle model), and
cost = that x --price-per-gb (Dataflow Shuffle, batch; docs/scale.md says
where the default comes from). The largest keyed exchanges of each run are
printed by step name, and --json keeps them all.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'scripts', 'flink'))
import bench_data  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position
import cluster as flink_cluster  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

PY = sys.executable
CASES = ('events', 'unique_id', 'mixed')
# Dataflow Shuffle, batch, USD per GB of data processed (list price; see
# docs/scale.md for the source and the caveats).
PRICE_PER_GB = 0.011
TB = 1e12


def case_files(workdir: str, scale: float, cases):
  """(case, path, rows, generator), named as scripts/benchmark.py names them."""
  def rows(n):
    return max(1, round(n * scale))
  out = []
  for name in cases:
    if name == 'events':
      n = rows(2_000_000)
      out.append((name, os.path.join(workdir, f'events_v1_{n}.parquet'), n,
                  bench_data.generate_events))
    elif name == 'unique_id':
      n = rows(2_000_000)
      out.append((name, os.path.join(workdir, f'unique_id_v1_{n}.parquet'),
                  n, bench_data.generate_unique_id))
    elif name == 'mixed':
      n = rows(4_000_000)
      out.append((name, os.path.join(workdir, f'bench_{n}.parquet'), n,
                  bench_data.generate_mixed))
  return out


def arrow_bytes(path: str) -> int:
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  return pq.read_table(path).nbytes


def _get(master: str, path: str):
  with urllib.request.urlopen(f'http://{master}{path}', timeout=30) as r:
    return json.loads(r.read())


def job_ids(master: str):
  return {j['jid'] for j in _get(master, '/jobs/overview')['jobs']}


def job_bytes(master: str, jid: str) -> dict:
  """Keyed-shuffle and all-exchange bytes of one finished job, and how the
  largest keyed exchange was spread over the subtasks."""
  job = _get(master, f'/jobs/{jid}')
  plan = {n['id']: n for n in _get(master, f'/jobs/{jid}/plan')['plan']['nodes']}
  keyed = keyed_records = every = 0
  largest = None
  exchanges = []  # (bytes, records, step) per hash-partitioned exchange
  for v in job['vertices']:
    m = v['metrics']
    every += m['write-bytes']
    inputs = plan.get(v['id'], {}).get('inputs', [])
    hashed = [i for i in inputs if 'hash' in i.get('ship_strategy', '').lower()]
    if not hashed:
      continue
    if len(hashed) != len(inputs):
      # Never seen in this pipeline; counted whole, said out loud.
      print(f'  note: {v["name"][:60]} mixes hashed and other inputs',
            flush=True)
    keyed += m['read-bytes']
    keyed_records += m['read-records']
    step = v['name'].split(' at ', 1)[-1].split(')', 1)[0]
    exchanges.append((m['read-bytes'], m['read-records'], step))
    if largest is None or m['read-bytes'] > largest[0]:
      largest = (m['read-bytes'], v['id'], v['name'])
  spread = []
  if largest:
    sub = _get(master, f'/jobs/{jid}/vertices/{largest[1]}')
    spread = [s['metrics']['read-bytes'] for s in sub['subtasks']]
  return {'jid': jid, 'state': job['state'], 'seconds': job['duration'] / 1000,
          'keyed': keyed, 'keyed_records': keyed_records, 'all': every,
          'largest_keyed': largest[0] if largest else 0,
          'largest_name': largest[2] if largest else '',
          'largest_spread': spread,
          'exchanges': sorted(exchanges, reverse=True)}


def run_job(master: str, path: str, parallelism: int, overrides) -> str:
  """Runs the stats job on the cluster; returns the new job's id."""
  before = job_ids(master)
  store = tempfile.mkdtemp(prefix='dv-shuffle-store-')
  cmd = [PY, '-m', 'beam_jobs.stats', 'dataset.name=bench',
         f'dataset.path={path}', 'span=bench', f'store.root={store}',
         'runner=flink', f'runner.flink_master={master}',
         f'runner.parallelism={parallelism}', 'runner.sdk_workers=loopback',
         *overrides]
  try:
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
  finally:
    shutil.rmtree(store, ignore_errors=True)
  if proc.returncode != 0:
    raise RuntimeError(f'stats job failed ({" ".join(overrides)}):\n'
                       f'{proc.stderr[-3000:]}')
  new = job_ids(master) - before
  if len(new) != 1:
    raise RuntimeError(f'expected one new Flink job, found {sorted(new)}')
  return new.pop()


def _size(n: float) -> str:
  for unit in ('B', 'KB', 'MB', 'GB', 'TB', 'PB'):
    if abs(n) < 1000 or unit == 'PB':
      return f'{n:,.0f} {unit}' if unit == 'B' else f'{n:,.1f} {unit}'
    n /= 1000
  return ''


def main() -> None:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n', maxsplit=1)[0])
  parser.add_argument('--cases', nargs='+', choices=CASES, default=list(CASES))
  parser.add_argument('--scale', type=float, default=0.15,
                      help='row counts of scripts/benchmark.py times this '
                      '(0.15: 300k events, 300k ids, 600k mixed rows)')
  parser.add_argument('--parallelism', type=int, default=2,
                      help='Flink slots and runner.parallelism')
  parser.add_argument('--managed-mib', type=int, default=2048,
                      help="the TaskManager's Flink managed memory (sort "
                      "buffers of the GroupCombine / GroupReduce steps); "
                      "with scripts/flink/cluster.py's 128 MiB, and with "
                      "512, the shift check's row sample fails: 'Cannot "
                      "write record to fresh sort buffer. Record too large'")
  parser.add_argument('--price-per-gb', type=float, default=PRICE_PER_GB)
  parser.add_argument('--no-shift-run', action='store_true',
                      help='skip the mixed run with the shift check on')
  parser.add_argument('--workdir', default=os.path.join(REPO, 'bench'))
  parser.add_argument('--json', default=None,
                      help='also write the rows to this file')
  args = parser.parse_args()
  os.makedirs(args.workdir, exist_ok=True)

  runs = []  # (case, label, path, overrides)
  files = case_files(args.workdir, args.scale, args.cases)
  inputs = {}
  for case, path, rows, make in files:
    if not os.path.exists(path):
      print(f'generating {path} ({rows:,} rows)', flush=True)
      make(path, rows)
    inputs[case] = (rows, os.path.getsize(path), arrow_bytes(path))
    for mode in ('exact', 'sketch'):
      runs.append((case, mode, path, [f'stats.top_values={mode}',
                                      'shift.enabled=false']))
    if case == 'mixed' and not args.no_shift_run:
      runs.append((case, 'exact + shift', path, [
          'stats.top_values=exact', 'shift.enabled=true',
          'dataset.label=label']))

  reason = flink_cluster.flink.missing()
  if reason:
    sys.exit(f'shuffle_bytes: {reason}')
  started = time.monotonic()
  # pylint: disable=protected-access
  flink_cluster._TM_MEMORY['taskmanager.memory.managed.size'] = (
      f'{args.managed_mib}m')
  cluster = flink_cluster.SessionCluster(slots=args.parallelism).start()
  print(f'Flink session cluster at {cluster.master}, {args.parallelism} '
        f'slots', flush=True)
  results, failures = [], []
  failed = True
  try:
    for case, label, path, overrides in runs:
      t = time.monotonic()
      try:
        jid = run_job(cluster.master, path, args.parallelism, overrides)
      except RuntimeError as e:
        last = str(e).strip().splitlines()[-1]
        print(f'{case} {label}: FAILED: {last}', flush=True)
        failures.append((case, label, last))
        continue
      got = job_bytes(cluster.master, jid)
      rows, file_bytes, mem_bytes = inputs[case]
      got.update(case=case, mode=label, rows=rows, file_bytes=file_bytes,
                 arrow_bytes=mem_bytes, wall=time.monotonic() - t,
                 overrides=overrides)
      results.append(got)
      print(f'{case} {label}: keyed shuffle {_size(got["keyed"])} '
            f'({got["keyed_records"]:,} records), all exchanges '
            f'{_size(got["all"])}; largest keyed exchange per subtask '
            f'{got["largest_spread"]}; {got["wall"]:.0f} s', flush=True)
      for size, records, step in got['exchanges'][:4]:
        print(f'    {_size(size):>10} {records:>8,} records  {step[-90:]}',
              flush=True)
    failed = False
  finally:
    cluster.stop(keep_logs=failed)
    if failed:
      print(f'Flink logs kept in {cluster.workdir}', file=sys.stderr)
  total = time.monotonic() - started

  price = args.price_per_gb
  print()
  print(f'Measured {dt.date.today().isoformat()}, Flink 1.19 session cluster '
        f'on 127.0.0.1, parallelism {args.parallelism}, '
        f'{total / 60:.1f} min; price ${price}/GB (Dataflow Shuffle, batch)')
  print()
  print('| case | rows | mode | input: Parquet / Arrow | keyed shuffle '
        '(records) | all exchanges | shuffle / Parquet | shuffle / Arrow | '
        'shuffle per TB of Parquet | $ per TB of Parquet |')
  print('| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |')
  for r in results:
    ratio = r['keyed'] / r['file_bytes']
    per_tb = ratio * TB
    print(f'| {r["case"]} | {r["rows"]:,} | {r["mode"]} | '
          f'{_size(r["file_bytes"])} / {_size(r["arrow_bytes"])} | '
          f'{_size(r["keyed"])} ({r["keyed_records"]:,}) | '
          f'{_size(r["all"])} | {ratio:.3f} | '
          f'{r["keyed"] / r["arrow_bytes"]:.3f} | {_size(per_tb)} | '
          f'${per_tb / 1e9 * price:,.2f} |')
  for case, label, reason in failures:
    print(f'| {case} | | {label} | FAILED: {reason} |')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'date': dt.date.today().isoformat(), 'price_per_gb': price,
                 'parallelism': args.parallelism, 'minutes': total / 60,
                 'runs': results, 'failures': failures}, f, indent=1)


if __name__ == '__main__':
  main()
