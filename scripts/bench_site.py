"""Benchmark of the site job: a synthetic store of daily spans, full and
incremental builds.

  PYTHONPATH=. .venv/bin/python scripts/bench_site.py [--spans 365]
      [--features 500] [--dir /tmp/bench_site]

Writes the store directly (statistics protos, run.json, checks.json with a
drift measurement per feature; no Beam), then times:

1. a full build (every span read, every page written);
2. an incremental build after one more span was added;
3. a build with nothing new.

and prints pages written, megabytes, the largest page and peak memory.
"""

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import sys
import time

from tensorflow_metadata.proto.v0 import statistics_pb2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from report import site  # noqa: E402
from transforms import statistics  # noqa: E402
from transforms.checks import pii  # noqa: E402
from transforms.io import artifacts  # noqa: E402

DATASET, SPLIT = 'bench', 'serving'
CITIES = [f'city_{i:02d}' for i in range(30)]


def _numeric(f, rng, n, shift):
  num = f.num_stats
  num.common_stats.num_non_missing = n - 50
  num.common_stats.num_missing = 50
  num.common_stats.min_num_values = num.common_stats.max_num_values = 1
  num.common_stats.avg_num_values = 1
  mean = 100 + shift + rng.gauss(0, 1)
  num.mean, num.std_dev = mean, 15
  num.min, num.max, num.median = mean - 60, mean + 60, mean
  for kind in (statistics_pb2.Histogram.STANDARD,
               statistics_pb2.Histogram.QUANTILES):
    h = num.histograms.add(type=kind)
    for i in range(10):
      h.buckets.add(low_value=mean - 60 + 12 * i,
                    high_value=mean - 48 + 12 * i, sample_count=(n - 50) / 10)


def _text(f, rng, n):
  s = f.string_stats
  s.common_stats.num_non_missing = n
  s.common_stats.min_num_values = s.common_stats.max_num_values = 1
  s.unique = len(CITIES)
  s.avg_length = 7
  left = n
  for i, city in enumerate(CITIES[:20]):
    count = left // 4 if i < 19 else left
    left -= count
    s.top_values.add(value=city, frequency=count)
    s.rank_histogram.buckets.add(low_rank=i, high_rank=i, label=city,
                                 sample_count=count)


def write_span(root: str, day: int, features: int, rng) -> str:
  span = (dt.date(2024, 1, 1) + dt.timedelta(days=day)).isoformat()
  n = 10_000 + rng.randint(-500, 500)
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  d = stats.datasets.add(name='All Examples', num_examples=n)
  for i in range(features):
    f = d.features.add(name=f'f{i:03d}')
    if i % 5 == 4:
      f.type = statistics_pb2.FeatureNameStatistics.STRING
      _text(f, rng, n)
    else:
      f.type = statistics_pb2.FeatureNameStatistics.FLOAT
      _numeric(f, rng, n, shift=day * 0.05)
  store = artifacts.SpanArtifacts(root, DATASET, SPLIT, span)
  os.makedirs(store.dir, exist_ok=True)
  with open(store.stats_path, 'wb') as out:
    out.write(stats.SerializeToString())
  run_id = f'run-{day}-{rng.randint(0, 10**9)}'
  measurements = [{'slice': '', 'feature': f'f{i:03d}', 'check': 'drift',
                   'metric': 'JENSEN_SHANNON_DIVERGENCE',
                   'value': abs(rng.gauss(0.03, 0.02)), 'threshold': 0.1,
                   'is_anomaly': False, 'baseline_split': SPLIT,
                   'baseline_span': 'previous'} for i in range(features)]
  anomalies = []
  if day % 50 == 7:  # now and then a drifted feature
    measurements[3].update(value=0.4, is_anomaly=True)
    anomalies.append({'slice': '', 'feature': 'f003', 'check': 'drift',
                      'anomaly_type': 'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_'
                                      'HIGH', 'severity': 'ERROR',
                      'metric': 'JENSEN_SHANNON_DIVERGENCE', 'value': 0.4,
                      'threshold': 0.1})
  with open(os.path.join(store.dir, artifacts.CHECKS_FILE), 'w') as out:
    json.dump({'run_id': run_id, 'anomalies': anomalies,
               'measurements': measurements}, out)
  artifacts.write_json(store.run_path, {
      'run_id': run_id, 'run_ts': f'{span}T03:00:00+00:00', 'job': 'validate',
      'status': 'blocking' if anomalies else 'ok', 'num_examples': n,
      'num_malformed': rng.randint(0, 3), 'schema_version': 1,
      'config': json.dumps({'fail_on': 'ERROR'})})
  return span


def _build(root, output, full):
  spec = site.SiteSpec(root=root, output=output, datasets=None, full=full,
                       privacy=statistics.PrivacySpec(),
                       pii=pii.PIISpec(enabled=False))
  return site.build(spec)


def _say(what, r):
  print(f'{what}: {r.seconds:.1f} s; spans read {r.spans_read}, reused '
        f'{r.spans_reused}; pages written {r.pages_written} of {r.pages} '
        f'({r.bytes_written / 1e6:.1f} MB); largest page '
        f'{r.largest_page / 1e3:.0f} kB', flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spans', type=int, default=365)
  parser.add_argument('--features', type=int, default=500)
  parser.add_argument('--dir', default='/tmp/bench_site')
  args = parser.parse_args()
  shutil.rmtree(args.dir, ignore_errors=True)
  root = os.path.join(args.dir, 'store')
  rng = random.Random(0)
  started = time.time()
  for day in range(args.spans):
    write_span(root, day, args.features, rng)
  print(f'store: {args.spans} spans x {args.features} features written in '
        f'{time.time() - started:.1f} s', flush=True)
  output = os.path.join(root, 'site')
  _say('full build', _build(root, output, full=True))
  added = write_span(root, args.spans, args.features, rng)
  _say(f'incremental build (span {added} added)',
       _build(root, output, full=False))
  _say('build with nothing new', _build(root, output, full=False))
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f'peak memory: {peak:.0f} MB')


if __name__ == '__main__':
  main()
