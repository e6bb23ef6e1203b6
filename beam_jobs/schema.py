"""Schema versions: list, show, diff, propose and promote.

  python -m beam_jobs.schema dataset.name=mydata action=list
  python -m beam_jobs.schema dataset.name=mydata action=diff schema.version=1 schema.other=2
  python -m beam_jobs.schema dataset.name=mydata action=propose split=serving span=2024-06-02
  python -m beam_jobs.schema dataset.name=mydata action=promote schema.version=2
"""

from typing import Optional

import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from beam_jobs.infer_schema import source_span
from settings import job as job_settings
from transforms import schemas
from transforms.errors import UserError

JOB = 'schema'


def _version(value: Optional[int], key: str = 'schema.version') -> int:
  if value is None:
    raise UserError(f'{key} is not set: pass {key}=<version number>')
  return value


def run(cfg: DictConfig) -> int:
  settings = job_settings.parse(cfg, JOB)
  root, schema = settings.store_root, settings.schema
  action, dataset = schema.action, schema.dataset
  registry = schemas.SchemaRegistry(root, dataset)

  if action == 'list':
    versions = registry.versions()
    if not versions:
      print(f'{dataset}: no schema versions in {registry.dir}')
    for v in versions:
      print(f'v{v.version}  {"promoted" if v.promoted else "proposed":<9} '
            f'{v.meta.get("created", "")[:19]}  {v.meta.get("origin", ""):<9}'
            f' parent={v.meta.get("parent")}  {v.meta.get("note", "")}')
  elif action == 'show':
    print(open_text(registry.get(_version(schema.version)).schema_path))
  elif action == 'diff':
    a = _version(schema.version)
    b = _version(schema.other, 'schema.other')
    changes = schemas.diff(registry.get(a).load(), registry.get(b).load())
    print(f'{dataset}: v{a} -> v{b}: {len(changes)} change(s)')
    for c in changes:
      print(f'  {c["feature"]}: {c["change"]}: {c["before"]} -> {c["after"]}')
  elif action == 'propose':
    base = registry.get(schema.version)
    split = schema.split
    source = source_span(schema.span, root, dataset, split)
    proposed = schemas.propose(base.load(), source.load_stats())
    changes = schemas.diff(base.load(), proposed)
    if not changes:
      print(f'{dataset}: span {source.span} fits v{base.version}; nothing to '
            f'propose')
      return _cli.EXIT_OK
    version = registry.create(
        proposed, parent=base.version, source=source.stats_path,
        note=schema.note, origin='proposed', promote=False)
    print(f'{dataset}: proposed v{version.version} (from v{base.version} and '
          f'{split} span {source.span}), not promoted; {len(changes)} '
          f'change(s):')
    for c in changes:
      print(f'  {c["feature"]}: {c["change"]}: {c["before"]} -> {c["after"]}')
    print(f'  promote: python -m beam_jobs.schema dataset.name={dataset} '
          f'action=promote schema.version={version.version}')
  elif action == 'promote':
    version = registry.promote(_version(schema.version), note=schema.note)
    print(f'{dataset}: v{version.version} promoted; validation now uses it')
  return _cli.EXIT_OK


def open_text(path: str) -> str:
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  with FileSystems.open(path) as f:
    return f.read().decode('utf-8')


@hydra.main(config_path='pkg://conf', config_name='schema', version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)
