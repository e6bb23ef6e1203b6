"""Example-level feature skew: training and serving rows joined by identifiers.

TFDV's ``DetectFeatureSkew`` keys every example by its identifier features,
joins the two sides, and counts per feature the joined pairs whose values
differ; it also counts examples found on one side only. This module feeds it
tf.Examples made from the project's RecordBatches, and turns its results
into anomaly and measurement rows (``check=feature_skew``).

The sample of mismatched pairs TFDV returns holds raw values; they are
reduced here to hashes (identifiers and values) unless
``privacy.raw_values_in_results`` allows them.

TensorFlow and TFDV are imported inside the functions that use them: other
jobs read ``FeatureSkewSpec`` from here (settings/job.py) without them.
"""

import dataclasses
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from google.protobuf import json_format
import pyarrow as pa
from tfx_bsl.coders import example_coder

from transforms.checks import findings
from transforms import statistics

RESULTS, PAIRS, MATCH = 'results', 'pairs', 'match'


@dataclasses.dataclass(frozen=True)
class FeatureSkewSpec:
  """The ``feature_skew`` config group."""
  identifiers: Sequence[str]
  ignore: Sequence[str] = ()
  float_round_ndigits: Optional[int] = 6
  mismatch_threshold: float = 0.01
  unmatched_threshold: float = 0.05
  sample_size: int = 5
  severity: str = 'ERROR'
  unmatched_severity: str = 'WARNING'


class _ToExamplesFn(beam.DoFn):
  """A RecordBatch in, its rows as tf.train.Example protos out.

  tf.Example stores floats as float32, so float columns are narrowed first;
  both sides go through the same narrowing, and
  ``float_round_ndigits`` rounds further before comparing.
  """

  def setup(self):
    self._encoder = example_coder.RecordBatchToExamplesEncoder()

  def process(self, batch: pa.RecordBatch):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    columns = []
    for column in batch.columns:
      inner = column.type.value_type
      if pa.types.is_floating(inner) and inner != pa.float32():
        column = column.cast(pa.large_list(pa.float32()))
      columns.append(column)
    narrowed = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    for serialized in self._encoder.encode(narrowed):
      yield tf.train.Example.FromString(serialized)


class DetectFeatureSkew(beam.PTransform):
  """(training batches, serving batches) in; JSON texts of TFDV's results.

  Output: a dict with ``results`` (one FeatureSkew per feature), ``pairs``
  (a sample of mismatched SkewPairs) and ``match`` (one MatchStats), each as
  JSON text.
  """

  def __init__(self, spec: FeatureSkewSpec):
    super().__init__()
    self._spec = spec

  def expand(self, sides):
    from tensorflow_data_validation.skew import feature_skew_detector  # pylint: disable=g-import-not-at-top
    training, serving = sides
    examples = tuple(
        side | f'{name}ToExamples' >> beam.ParDo(_ToExamplesFn())
        for name, side in (('Training', training), ('Serving', serving)))
    found = examples | 'JoinAndCompare' >> (
        feature_skew_detector.DetectFeatureSkewImpl(
            identifier_features=list(self._spec.identifiers),
            features_to_ignore=list(self._spec.ignore) or None,
            sample_size=self._spec.sample_size,
            float_round_ndigits=self._spec.float_round_ndigits))
    keys = {RESULTS: feature_skew_detector.SKEW_RESULTS_KEY,
            PAIRS: feature_skew_detector.SKEW_PAIRS_KEY,
            MATCH: feature_skew_detector.MATCH_STATS_KEY}
    return {name: found[key] | f'{name}ToJson' >> beam.Map(_to_json)
            for name, key in keys.items()}


def _to_json(message) -> str:
  return json.dumps(json_format.MessageToDict(
      message, preserving_proto_field_name=True), sort_keys=True)


# ----------------------------------------------------------------------------
# Results -> rows


def _values(feature: Mapping[str, Any]) -> List[str]:
  for kind in ('bytes_list', 'int64_list', 'float_list'):
    if kind in feature:
      values = feature[kind].get('value', [])
      if kind == 'bytes_list':  # base64 in JSON
        import base64  # pylint: disable=g-import-not-at-top
        return [base64.b64decode(v).decode('utf-8', 'replace')
                for v in values]
      return [str(v) for v in values]
  return []


def redact_pair(pair: Mapping[str, Any], identifiers: Sequence[str],
                salt: str, allow_raw: bool) -> Dict[str, Any]:
  """A SkewPair as {'id', 'mismatched': {feature: (training, serving)}}."""
  def show(values: List[str]) -> str:
    text = ','.join(values)
    return text if allow_raw else statistics.hash_value(text, salt)

  def features(side):
    example = pair.get(side, {})
    if isinstance(example, str):  # a serialized tf.Example, base64 in JSON
      import base64  # pylint: disable=g-import-not-at-top
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      example = json_format.MessageToDict(tf.train.Example.FromString(
          base64.b64decode(example)))
    return example.get('features', {}).get('feature', {})

  base, test = features('base'), features('test')
  ident = '/'.join(show(_values(base.get(i, {}))) for i in identifiers)
  mismatched = {}
  for name in pair.get('mismatched_features', []):
    mismatched[name] = (show(_values(base.get(name, {}))),
                        show(_values(test.get(name, {}))))
  return {'id': ident, 'mismatched': mismatched}


def rows(results: Sequence[Mapping[str, Any]], match: Mapping[str, Any],
         samples: Sequence[Mapping[str, Any]], spec: FeatureSkewSpec,
         baseline: Mapping[str, str]) -> Tuple[List[Dict], List[Dict]]:
  """(anomaly rows, measurement rows) from TFDV's feature skew results."""
  found = findings.Findings('feature_skew', baseline)
  joined = int(match.get('matching_pairs_count', 0))

  def add(feature, metric, value, threshold, kind, severity, description):
    found.add(feature, metric, value, threshold, value > threshold, kind,
              severity, description)

  for result in sorted(results, key=lambda r: r.get('feature_name', '')):
    name = result.get('feature_name', '')
    diff = int(result.get('diff_count', 0))
    rate = diff / joined if joined else 0.0
    example = next((s for s in samples if name in s['mismatched']), None)
    shown = (f' For example, id {example["id"]}: training '
             f'{example["mismatched"][name][0]}, serving '
             f'{example["mismatched"][name][1]}.' if example else '')
    add(name, 'MISMATCH_RATE', rate, spec.mismatch_threshold,
        'FEATURE_SKEW_MISMATCH', spec.severity,
        f'{diff:,} of {joined:,} examples joined on '
        f'{", ".join(spec.identifiers)} ({rate:.1%}) differ in {name} '
        f'between training and serving ({int(result.get("mismatch_count", 0)):,}'
        f' different values, {int(result.get("base_only", 0)):,} only in '
        f'training, {int(result.get("test_only", 0)):,} only in serving).'
        f'{shown}')
  for side, key, total_key in (
      ('SERVING', 'ids_missing_in_base_count', 'test_with_id_count'),
      ('TRAINING', 'ids_missing_in_test_count', 'base_with_id_count')):
    missing = int(match.get(key, 0))
    total = int(match.get(total_key, 0))
    rate = missing / total if total else 0.0
    other = 'training' if side == 'SERVING' else 'serving'
    add('', f'UNMATCHED_{side}_RATE', rate, spec.unmatched_threshold,
        f'FEATURE_SKEW_UNMATCHED_{side}', spec.unmatched_severity,
        f'{missing:,} of {total:,} {side.lower()} examples ({rate:.1%}) have '
        f'no {other} example with the same {", ".join(spec.identifiers)}.')
  return found.rows()
