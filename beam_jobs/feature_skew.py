"""The feature_skew job: training and serving examples joined by identifiers.

  python -m beam_jobs.feature_skew dataset.name=shop \
      'dataset.path=/data/${split}/${span}.csv' span=2024-06-02 \
      'feature_skew.identifiers=[order_id]'

Reads the serving span (split, default serving) and the training rows
(feature_skew.baseline_split, default train, or feature_skew.baseline_path),
joins them on the identifier features with TFDV's DetectFeatureSkew, and
writes per-feature mismatch rates and unmatched counts as ``anomalies`` and
``drift_skew`` rows (check=feature_skew). A redacted sample of mismatched
pairs and TFDV's counts are kept under ``feature_skew/`` in the span's
folder. Exits 3 when it found anomalies at or above fail_on.
"""

import datetime as dt
import json
import time
from typing import List

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from settings import job as job_settings
from transforms.io import artifacts
from transforms.checks import feature_skew
from transforms.io import sinks
from transforms.io import sources
from transforms import span_stats
from transforms.checks import validation
from transforms.errors import UserError

JOB = 'feature_skew'


def _read_side(p, spec: sources.DatasetSpec, label: str, identifiers):
  files = sources.match_files(spec.path)
  # CSV: the delimiter and quote, when not set, from the first file.
  spec = sources.resolve_csv_dialect(spec, files[0])
  schema = sources.infer_schema(spec, files[0])
  missing = [i for i in identifiers if i not in schema.names]
  if missing:
    raise UserError(f'feature_skew.identifiers: no column {missing[0]!r} in '
                    f'{spec.path!r} ({label})')
  return p | f'Read{label}' >> sources.ReadSpan(spec, schema)


def _lines(pattern: str) -> List[dict]:
  out = []
  for path in artifacts.list_files(pattern):
    with FileSystems.open(path) as f:
      out += [json.loads(line) for line in f.read().decode().splitlines()
              if line.strip()]
  return out


def run(cfg: DictConfig) -> int:
  settings = job_settings.parse(cfg, JOB)
  skew = settings.feature_skew
  started = time.time()
  run_ts = dt.datetime.now(dt.timezone.utc)
  sink = sinks.open_sink(settings.sink)
  spec, key = skew.spec, settings.key
  where = {'split': skew.baseline_split, 'span': key['span']}
  privacy = skew.privacy
  allow_raw = skew.raw_values_in_results
  fail_on = skew.fail_on
  store = artifacts.SpanArtifacts(settings.store_root, **key)
  run_id = span_stats.new_run_id(run_ts)
  scratch = store.scratch(run_id)

  artifacts.start_scratch(settings.store_root, scratch, run_id)
  pipeline = beam.Pipeline(options=settings.runner.options)
  training = _read_side(pipeline, skew.training, 'Training',
                        spec.identifiers)
  serving = _read_side(pipeline, skew.serving, 'Serving', spec.identifiers)
  found = ((training['batches'], serving['batches'])
           | 'DetectFeatureSkew' >> feature_skew.DetectFeatureSkew(spec))
  for name, pcoll in found.items():
    _ = pcoll | f'Write{name}' >> beam.io.WriteToText(
        FileSystems.join(scratch, name), file_name_suffix='.jsonl')
  try:
    pipeline.run().wait_until_finish()
    results = _lines(FileSystems.join(scratch, 'results*.jsonl'))
    match = (_lines(FileSystems.join(scratch, 'match*.jsonl')) or [{}])[0]
    samples = [feature_skew.redact_pair(p, spec.identifiers, privacy.salt,
                                        allow_raw)
               for p in _lines(FileSystems.join(scratch, 'pairs*.jsonl'))]
    if not int(match.get('base_with_id_count', 0)) or not int(
        match.get('test_with_id_count', 0)):
      raise UserError(
          f'feature_skew: no examples with {", ".join(spec.identifiers)} on '
          f'the {"training" if not match.get("base_with_id_count") else "serving"}'
          f' side; nothing to join')
    anomalies, measurements = feature_skew.rows(results, match, samples, spec,
                                                where)
    for row in anomalies:
      row['anomaly_id'] = validation.anomaly_id(key, row)
    blocking = validation.blocking(anomalies, fail_on)
    run_row = {
        'run_id': run_id, 'run_ts': run_ts, 'job': JOB, **key,
        'status': 'blocking' if blocking else 'ok',
        'runner': settings.runner.name,
        'num_examples': int(match.get('test_with_id_count', 0)),
        'num_malformed': 0, 'num_files': None, 'num_features': len(results),
        'num_anomalies': len(anomalies), 'stats_uri': None,
        'dead_letter_uri': None, 'schema_version': None,
        'duration_s': time.time() - started,
        'config': json.dumps(settings.config, sort_keys=True,
                             default=str)}
    sink.write_run(run_row, {'anomalies': anomalies,
                             'drift_skew': measurements})
    out_dir = FileSystems.join(store.dir, 'feature_skew')
    for name, payload in (('results.json', {'match': match,
                                             'features': results}),
                          ('samples.json', samples)):
      path = FileSystems.join(out_dir, name)
      if not FileSystems.exists(out_dir):
        FileSystems.mkdirs(out_dir)
      with FileSystems.create(path) as f:
        f.write(json.dumps(payload, indent=1, sort_keys=True).encode())
  except Exception as e:
    raise e if isinstance(e, UserError) else UserError(
        f'feature_skew: {str(e).splitlines()[0][:300]}') from e
  finally:
    artifacts.delete_scratch(scratch)
  # Scratch of an earlier run of this span that was killed goes too.
  store.sweep_scratch(run_id)
  print(_summary(key, where, match, anomalies, sink.describe(), out_dir,
                 fail_on, len(blocking)))
  return _cli.EXIT_BLOCKING if blocking else _cli.EXIT_OK


def _summary(key, where, match, anomalies, sink_name, out_dir, fail_on,
             num_blocking) -> str:
  lines = [
      f'feature_skew: dataset={key["dataset"]} {key["split"]} span '
      f'{key["span"]} against {where["split"]}',
      f'  joined:     {int(match.get("matching_pairs_count", 0)):,} pairs '
      f'({int(match.get("base_with_id_count", 0)):,} training, '
      f'{int(match.get("test_with_id_count", 0)):,} serving examples)',
  ]
  for a in anomalies[:10]:
    lines.append(f'    {a["severity"]:<7} {a["feature"] or "(examples)"}: '
                 f'{a["anomaly_type"]} {a["value"]:.1%} > '
                 f'{a["threshold"]:.1%}')
  verdict = (f'BLOCKING: {num_blocking} anomalies at or above {fail_on}'
             if num_blocking else f'OK: nothing at or above {fail_on}')
  lines += [f'  result:     {verdict}',
            f'  warehouse:  {sink_name} (anomalies, drift_skew: '
            f'check=feature_skew)',
            f'  details:    {out_dir}']
  return '\n'.join(lines)


@hydra.main(config_path='pkg://conf', config_name='feature_skew',
            version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)
