"""Real drifts, and random halves without drift, through the drift check.

``tests/corpus/drift_cases.csv`` lists feature-level cases cut from the
real datasets of ``tests/corpus``: a feature, a baseline subset and a span
subset (pandas queries), ``drift`` or ``none``, and why. Each side's
statistics come from TFDV's in-memory path with the project's generators and
stats options (as ``tests/test_corpus.py`` computes them), the schema is
inferred from the baseline side, and ``validation.compare`` -- the drift
check the validate job runs -- measures the feature.

Used by ``tests/test_drift_calibration.py`` (recall of the defaults) and
``scripts/calibrate_drift.py`` (recall and false alarms per measure and
threshold).
"""

import csv
import functools
import math
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
from tensorflow_data_validation.statistics import stats_impl

import corpus
from conftest import make_cfg
from settings import config
from transforms import arrow_types
from transforms import meta_generator
from transforms import schemas
from transforms import statistics
from transforms.checks import validation

CASES_PATH = os.path.join(corpus.CORPUS_DIR, 'drift_cases.csv')
HALVES = 20
# A row past its threshold that sampling noise explains carries this note.
_NOISE = 'within sampling noise'


def cases(label: Optional[str] = None) -> List[Dict[str, str]]:
  """The cases of drift_cases.csv (only those labelled ``label`` if given)."""
  with open(CASES_PATH, encoding='utf-8', newline='') as f:
    rows = list(csv.DictReader(f))
  return [r for r in rows if label is None or r['label'] == label]


def validate_cfg(*overrides: str):
  """The validate job's composed config (conf/validate.yaml defaults)."""
  return make_cfg('validate', ['dataset.name=x', 'dataset.path=x.csv',
                               'span=s', *overrides])


@functools.lru_cache(maxsize=None)
def read_table(name: str) -> pa.Table:
  """A corpus dataset as the readers type it (timestamps, dates, ...)."""
  table = corpus.to_arrow(name)
  return pa.table({n: arrow_types.cast_column(
      table.column(n), arrow_types.read_type(table.column(n).type))
                   for n in table.column_names})


@functools.lru_cache(maxsize=None)
def _frame(name: str):
  """The dataset as pandas, dates as ISO text, for the cases' queries."""
  df = corpus.load(name)
  for column, kind in corpus.entry(name)['schema'].items():
    if kind in ('date', 'timestamp'):
      df[column] = df[column].astype(str)
  return df


def stats_function(cfg):
  """table -> statistics, with the stats options and generators of ``cfg``."""
  settings = config.stats_settings(cfg)
  settings.pop('sample_rate')
  max_values = config.max_categorical_values(cfg)

  def stats_of(table: pa.Table):
    options = statistics.stats_options(**settings, generators=[
        meta_generator.FeatureMetaGenerator(
            arrow_types.feature_kinds(table.schema), max_values)])
    return stats_impl.generate_statistics_in_memory(
        arrow_types.table_to_tfdv(table), options)

  return stats_of


def mask(name: str, query: str) -> np.ndarray:
  """The rows of a dataset a case's query selects (a missing value: no)."""
  return _frame(name).eval(query).fillna(False).to_numpy(dtype=bool)


def raw_values(name: str, query: str, feature: str) -> np.ndarray:
  """The present values of ``feature`` in the rows ``query`` selects."""
  df = _frame(name)
  return df[mask(name, query)][feature].dropna().to_numpy(dtype=float)


def _subset(name: str, query: str) -> pa.Table:
  return read_table(name).filter(pa.array(mask(name, query)))


def compare(current, baseline, spec: validation.ComparisonSpec, where: str
            ) -> Tuple[List[dict], List[dict]]:
  """(anomaly rows, measurement rows) of the drift check of ``current``
  against ``baseline``, with a schema inferred from the baseline."""
  schema = schemas.infer(baseline)
  redact = validation.Redactor('', True, [current, baseline], schema)
  _, rows, measured = validation.compare(
      'drift', current, baseline, schema, 'TRAINING', spec,
      {'split': 'train', 'span': where}, redact, 1)
  return rows, measured


@functools.lru_cache(maxsize=None)
def _case_stats(stats_key, dataset: str, baseline: str, span: str):
  stats_of = _STATS[stats_key]
  return (stats_of(_subset(dataset, span)),
          stats_of(_subset(dataset, baseline)))


_STATS = {}


def case_stats(case: Mapping[str, str], cfg=None):
  """(span statistics, baseline statistics) of a case's two subsets."""
  cfg = cfg if cfg is not None else validate_cfg()
  return _case_stats(_stats_key(cfg), case['dataset'], case['baseline'],
                     case['span'])


def _stats_key(cfg) -> str:
  key = repr(sorted(config.stats_settings(cfg).items()))
  _STATS.setdefault(key, stats_function(cfg))
  return key


def case_results(spec: validation.ComparisonSpec, cfg=None,
                 selected: Optional[Iterable[Mapping[str, str]]] = None
                 ) -> List[dict]:
  """Each case with its whole-span drift row and anomaly rows under
  ``spec``: {'case': ..., 'measured': row or None, 'anomalies': [...]}."""
  cfg = cfg if cfg is not None else validate_cfg()
  key = _stats_key(cfg)
  out = []
  for case in (cases() if selected is None else selected):
    current, baseline = _case_stats(key, case['dataset'], case['baseline'],
                                    case['span'])
    rows, measured = compare(current, baseline, spec, case['case'])
    feature = case['feature']
    out.append({'case': case, 'measured': main_row(measured, feature),
                'anomalies': [r for r in rows if r['feature'] == feature and
                              not r['slice']]})
  return out


@functools.lru_cache(maxsize=None)
def _half_stats(stats_key, name: str, seed: int):
  stats_of = _STATS[stats_key]
  table = read_table(name)
  mask = np.random.default_rng(seed).random(table.num_rows) < 0.5
  return (stats_of(table.filter(pa.array(~mask))),
          stats_of(table.filter(pa.array(mask))))


def half_results(spec: validation.ComparisonSpec, cfg=None,
                 names: Sequence[str] = (), splits: int = HALVES
                 ) -> Tuple[List[dict], List[dict]]:
  """(anomaly rows, measurement rows) of the drift check on ``splits``
  random halves of each corpus dataset (one half against the other)."""
  cfg = cfg if cfg is not None else validate_cfg()
  key = _stats_key(cfg)
  anomalies, measurements = [], []
  for name in names or corpus.names():
    for seed in range(splits):
      current, baseline = _half_stats(key, name, seed)
      rows, measured = compare(current, baseline, spec, f'{name}/{seed}')
      for r in rows + measured:
        r['dataset'] = name
      anomalies += rows
      measurements += measured
  return anomalies, measurements


def main_row(measured: Iterable[Mapping], feature: str) -> Optional[dict]:
  """The whole-span row of ``feature`` that decides its anomaly (the one
  with a threshold), else its row saying why it was not compared."""
  rows = [m for m in measured if m['feature'] == feature and not m['slice']]
  return next((m for m in rows if m['threshold'] is not None),
              rows[0] if rows else None)


def within_noise(row: Mapping) -> bool:
  """A row past its threshold that sampling noise explains."""
  return bool(row.get('note')) and _NOISE in row['note']


def flagged(row: Optional[Mapping], threshold: float) -> bool:
  """Whether a measurement row made at threshold -inf would be an anomaly at
  ``threshold``: past it and not explained by sampling noise (the rule of
  ``validation.own_metric_rows``, whose noise test does not depend on the
  threshold)."""
  if row is None or row['value'] is None or math.isnan(row['value']):
    return False
  return row['value'] > threshold and not within_noise(row)
