"""Recall and false alarms of each drift measure, per threshold, on real data.

    PYTHONPATH=$PWD python scripts/calibrate_drift.py [--buckets 10]
        [--halves 20] [--no-sweep]
    PYTHONPATH=$PWD python scripts/calibrate_drift.py --accuracy [--buckets 100]

Two corpora (``tests/drift_corpus.py``):

- real drifts: the ``drift`` cases of ``tests/corpus/drift_cases.csv``
  (seasons of NYC weather and air quality, decades of US economic series,
  months and airports of NYC flights, species, cuts and classes that
  genuinely differ), and the ``none`` cases (real subsets that do not
  differ in that feature, shown for information);
- no drift: ``--halves`` random halves of every dataset of ``tests/corpus``,
  one half against the other, every feature the drift check compares.

Each side's statistics are computed with the project's stats options and
generators (``stats.num_quantiles_histogram_buckets`` = ``--buckets``), the
schema is inferred from the baseline side, and ``validation.compare`` (the
validate job's drift check) measures each feature with each measure at
threshold -inf. A row is flagged at threshold t when its value exceeds t and
the sampling-noise test (``drift.noise_alpha``) does not explain it: the
rule ``validation.own_metric_rows`` applies, whose noise test does not
depend on the threshold, so one comparison per measure gives every
threshold.

Prints, per kind of feature (numeric, categorical), measure and threshold:
the recall on real drifts, the share of ``none`` cases flagged, and the
false-alarm rate (flagged rows / measured rows) on random halves. The
defaults of conf/validate.yaml are then run as they are and their WARNING
and ERROR rows counted (``--no-sweep``: only that). ``--accuracy`` compares
the numeric measures from the stored histograms with the same measures on
the raw rows of every numeric case, and stops there.
"""

import argparse
import math
import os
import sys
import time

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [_ROOT, os.path.join(_ROOT, 'tests')]

import drift_corpus  # noqa: E402  pylint: disable=g-import-not-at-top
from settings import config  # noqa: E402  pylint: disable=g-import-not-at-top

GRID = {
    'numeric': {
        'JENSEN_SHANNON_DIVERGENCE': [0.01, 0.02, 0.03, 0.05, 0.1],
        'PSI': [0.05, 0.075, 0.1, 0.15, 0.2, 0.25],
        'WASSERSTEIN': [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4],
        'QUANTILE_SHIFT': [0.1, 0.2, 0.3, 0.5, 0.75, 1.0],
    },
    'categorical': {
        'L_INFTY': [0.02, 0.03, 0.05, 0.075, 0.1, 0.15],
        'JENSEN_SHANNON_DIVERGENCE': [0.005, 0.01, 0.02, 0.03, 0.05, 0.1],
    },
}
# (numeric metric, categorical metric) of each comparison run: every
# measure of GRID once per kind.
RUNS = [('JENSEN_SHANNON_DIVERGENCE', 'L_INFTY'),
        ('PSI', 'JENSEN_SHANNON_DIVERGENCE'),
        ('WASSERSTEIN', 'L_INFTY'),
        ('QUANTILE_SHIFT', 'L_INFTY')]


def _kind(row, numeric_metric):
  return 'numeric' if row['metric'] == numeric_metric else 'categorical'


def sweep(cfg, halves):
  """{(kind, metric): (case rows [(case, row)], half rows)} at -inf."""
  base = config.comparison_spec(cfg, 'drift')
  out = {}
  for numeric, categorical in RUNS:
    seen = set(out)  # a measure already swept in an earlier run is kept
    spec = base.__class__(**{**base.__dict__, 'numeric_metric': numeric,
                             'numeric_threshold': -math.inf,
                             'categorical_metric': categorical,
                             'categorical_threshold': -math.inf,
                             'categorical_error_threshold': None,
                             'numeric_error_threshold': None,
                             'also_measure': ()})
    for result in drift_corpus.case_results(spec, cfg):
      row = result['measured']
      if row is None or row['metric'] is None:
        continue
      key = (_kind(row, numeric), row['metric'])
      if key not in seen:
        out.setdefault(key, ([], []))[0].append((result['case'], row))
    _, measured = drift_corpus.half_results(spec, cfg, splits=halves)
    for row in measured:
      if row['metric'] is None or row['slice']:
        continue
      key = (_kind(row, numeric), row['metric'])
      if key not in seen:
        out.setdefault(key, ([], []))[1].append(row)
  return out


def table(found):
  print('| kind | measure | threshold | recall (real drifts) | '
        '"none" cases flagged | false alarms (random halves) |')
  print('|---|---|---|---|---|---|')
  for kind, measures in GRID.items():
    for metric, thresholds in measures.items():
      case_rows, half_rows = found.get((kind, metric), ([], []))
      drifts = [r for c, r in case_rows if c['label'] == 'drift']
      nones = [r for c, r in case_rows if c['label'] == 'none']
      for t in thresholds:
        hit = sum(drift_corpus.flagged(r, t) for r in drifts)
        none_hit = sum(drift_corpus.flagged(r, t) for r in nones)
        false = sum(drift_corpus.flagged(r, t) for r in half_rows)
        print(f'| {kind} | {metric} | {t:g} | {hit}/{len(drifts)} '
              f'({hit / max(len(drifts), 1):.0%}) | {none_hit}/{len(nones)} '
              f'| {false}/{len(half_rows)} '
              f'({false / max(len(half_rows), 1):.2%}) |')


def misses(found, chosen):
  """The real drifts a chosen (kind -> (metric, threshold)) misses."""
  for kind, (metric, t) in chosen.items():
    case_rows, _ = found.get((kind, metric), ([], []))
    for case, row in case_rows:
      if case['label'] == 'drift' and not drift_corpus.flagged(row, t):
        print(f'  missed ({kind} {metric} > {t:g}): {case["case"]} '
              f'value={row["value"]:.4g} note={row["note"]}')


def defaults(cfg, halves):
  """The defaults of conf/validate.yaml as they are: severities counted."""
  spec = config.comparison_spec(cfg, 'drift')
  results = drift_corpus.case_results(spec, cfg)
  drifts = [r for r in results if r['case']['label'] == 'drift']
  caught = [r for r in drifts if r['anomalies']]
  errors = [r for r in drifts if any(a['severity'] == 'ERROR'
                                     for a in r['anomalies'])]
  print(f'defaults: recall {len(caught)}/{len(drifts)} '
        f'({len(caught) / len(drifts):.0%}) at WARNING or above, '
        f'{len(errors)} of them at ERROR')
  for r in drifts:
    if not r['anomalies']:
      m = r['measured'] or {}
      print(f'  missed: {r["case"]["case"]} {m.get("metric")}='
            f'{m.get("value")} note={m.get("note")}')
  nones = [r for r in results if r['case']['label'] == 'none']
  print(f'  "none" cases flagged: '
        f'{sum(bool(r["anomalies"]) for r in nones)}/{len(nones)}')
  anomalies, measured = drift_corpus.half_results(spec, cfg, splits=halves)
  # One row per comparison (the also_measure rows have no threshold).
  rows = [m for m in measured if m['value'] is not None and
          m['threshold'] is not None]
  for severity in ('WARNING', 'ERROR'):
    n = sum(a['severity'] == severity for a in anomalies)
    print(f'  random halves: {n} {severity} rows of {len(rows)} measured '
          f'({n / len(rows):.2%})')
  noise = [r for r in rows if drift_corpus.within_noise(r)]
  print(f'  random halves: {len(noise)} rows past the threshold but within '
        f'sampling noise, in {sorted({r["dataset"] for r in noise})}')


def accuracy(cfg):
  """Each numeric measure from stored statistics against the raw rows."""
  from scipy import stats as sstats  # pylint: disable=g-import-not-at-top
  from transforms import statistics  # pylint: disable=g-import-not-at-top
  from transforms.checks import metrics  # pylint: disable=g-import-not-at-top
  errors = {m: [] for m in ('PSI', 'WASSERSTEIN', 'QUANTILE_SHIFT')}
  for case in drift_corpus.cases():
    current, baseline = drift_corpus.case_stats(case, cfg)
    by_path = lambda s: {statistics.feature_path(f): f
                         for f in statistics.overall(s).features}
    c = by_path(current).get(case['feature'])
    b = by_path(baseline).get(case['feature'])
    if c is None or not c.HasField('num_stats') or (
        metrics.value_shares(c) is not None):
      continue
    raw_c = drift_corpus.raw_values(case['dataset'], case['span'],
                                    case['feature'])
    raw_b = drift_corpus.raw_values(case['dataset'], case['baseline'],
                                    case['feature'])
    std = raw_b.std(ddof=1)
    edges = np.unique(np.quantile(raw_b, np.arange(1, 10) / 10))
    bins = [-np.inf, *edges, np.inf]
    exact = {
        'PSI': metrics.psi(np.histogram(raw_b, bins)[0] / len(raw_b),
                           np.histogram(raw_c, bins)[0] / len(raw_c)),
        'WASSERSTEIN': sstats.wasserstein_distance(raw_c, raw_b) / std,
        'QUANTILE_SHIFT': float(np.max(np.abs(
            np.quantile(raw_c, np.arange(1, 10) / 10) -
            np.quantile(raw_b, np.arange(1, 10) / 10)))) / std,
    }
    for metric in errors:
      got = metrics.measure(metric, c, b).value
      errors[metric].append((case['case'], got, exact[metric]))
  for metric, rows in errors.items():
    rel = [abs(g - e) / e for _, g, e in rows if e > 1e-9]
    worst = max(rows, key=lambda r: abs(r[1] - r[2]) / max(r[2], 1e-9))
    print(f'{metric}: {len(rows)} numeric cases, relative error of the value '
          f'from statistics: median {np.median(rel):.1%}, 90th percentile '
          f'{np.quantile(rel, 0.9):.1%}, worst {worst[0]} '
          f'{worst[1]:.4g} vs {worst[2]:.4g} from the rows')


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--buckets', type=int, default=10,
                      help='stats.num_quantiles_histogram_buckets')
  parser.add_argument('--halves', type=int, default=drift_corpus.HALVES)
  parser.add_argument('--accuracy', action='store_true')
  parser.add_argument('--no-sweep', action='store_true')
  parser.add_argument('overrides', nargs='*',
                      help='validate config overrides, e.g. '
                           'drift.numeric_metric=PSI')
  args = parser.parse_args(argv)
  cfg = drift_corpus.validate_cfg(
      f'stats.num_quantiles_histogram_buckets={args.buckets}',
      *args.overrides)
  start = time.time()
  if args.accuracy:
    accuracy(cfg)
    return
  if not args.no_sweep:
    found = sweep(cfg, args.halves)
    table(found)
    spec = config.comparison_spec(cfg, 'drift')
    misses(found, {'numeric': (spec.numeric_metric, spec.numeric_threshold),
                   'categorical': (spec.categorical_metric,
                                   spec.categorical_threshold)})
  defaults(cfg, args.halves)
  print(f'({time.time() - start:.0f} s)')


if __name__ == '__main__':
  main()
