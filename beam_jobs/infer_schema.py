"""The infer_schema job: a new schema version from stored training statistics.

  python -m beam_jobs.infer_schema dataset.name=mydata [split=train] [span=S]

Takes the statistics of span S (default: the latest stored span of the
split), infers a schema with TFDV, adds environments (the label is absent at
SERVING), and stores it as the next immutable version, promoted by default.
"""

import functools
from typing import Optional

import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from settings import job as job_settings
from transforms.io import artifacts
from transforms.io import span_order
from transforms import schemas
from transforms.errors import UserError

JOB = 'infer_schema'


def source_span(span: Optional[str], root: str, dataset: str, split: str
                ) -> artifacts.SpanArtifacts:
  """The stored span named by ``span``, or the latest one of the split
  (span_order.latest: by date, by number, else the one computed last)."""
  spans = artifacts.list_spans(root, dataset, split)
  if span is None:
    if not spans:
      raise UserError(f'dataset {dataset!r} split {split!r} has no statistics '
                      f'in {root}: run python -m beam_jobs.stats first')
    span = span_order.latest(spans, functools.partial(
        artifacts.run_time, root, dataset, split))
  span = artifacts.check_name('span', span)
  if span not in spans:
    raise UserError(f'span={span!r}: no statistics for {dataset}/{split} in '
                    f'the store (have: {", ".join(spans[-5:]) or "none"})')
  return artifacts.SpanArtifacts(root, dataset, split, span)


def run(cfg: DictConfig) -> int:
  settings = job_settings.parse(cfg, JOB)
  root, infer = settings.store_root, settings.infer_schema
  dataset, split = infer.dataset, infer.split
  source = source_span(infer.span, root, dataset, split)
  absent = []
  if infer.label and infer.label_absent_at_serving:
    absent.append(infer.label)
  schema = schemas.infer(source.load_stats(), serving_absent=absent,
                         environments=infer.environments)
  registry = schemas.SchemaRegistry(root, dataset)
  previous = registry.versions()
  version = registry.create(
      schema, parent=previous[-1].version if previous else None,
      source=source.stats_path, note=infer.note, origin='inferred',
      promote=infer.promote)
  print(f'infer_schema: dataset={dataset} version={version.version} '
        f'({len(schema.feature)} features, from {split} span {source.span})'
        f'{" promoted" if version.promoted else " not promoted"}\n'
        f'  schema: {version.schema_path}')
  return _cli.EXIT_OK


@hydra.main(config_path='pkg://conf', config_name='infer_schema',
            version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)
