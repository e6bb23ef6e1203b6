"""Schema versions: list, show, diff, propose and promote.

  python -m beam_jobs.schema dataset.name=mydata action=list
  python -m beam_jobs.schema dataset.name=mydata action=diff schema.version=1 schema.other=2
  python -m beam_jobs.schema dataset.name=mydata action=propose split=serving span=2024-06-02
  python -m beam_jobs.schema dataset.name=mydata action=promote schema.version=2
"""


import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from beam_jobs.infer_schema import source_span
from transforms.io import artifacts
from settings import config
from runners import dataflow
from transforms import schemas
from transforms.errors import UserError

JOB = 'schema'
ACTIONS = ('list', 'show', 'diff', 'propose', 'promote')


def _version(cfg: DictConfig, key: str = 'schema.version') -> int:
  value = config.optional_int(cfg, key)
  if value is None:
    raise UserError(f'{key} is not set: pass {key}=<version number>')
  return value


def run(cfg: DictConfig) -> int:
  dataflow.no_dry_run(cfg, JOB)
  action = config.get(cfg, 'action')
  if action not in ACTIONS:
    raise UserError(f'action={action!r}: expected one of {", ".join(ACTIONS)}')
  root = config.store_root(cfg)
  dataset = artifacts.check_name('dataset.name', config.get(cfg,
                                                            'dataset.name'))
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
    print(open_text(registry.get(_version(cfg)).schema_path))
  elif action == 'diff':
    a, b = _version(cfg), _version(cfg, 'schema.other')
    changes = schemas.diff(registry.get(a).load(), registry.get(b).load())
    print(f'{dataset}: v{a} -> v{b}: {len(changes)} change(s)')
    for c in changes:
      print(f'  {c["feature"]}: {c["change"]}: {c["before"]} -> {c["after"]}')
  elif action == 'propose':
    base = registry.get(config.optional_int(cfg, 'schema.version'))
    split = artifacts.check_name('split', config.get(cfg, 'split'))
    source = source_span(cfg, root, dataset, split)
    proposed = schemas.propose(base.load(), source.load_stats())
    changes = schemas.diff(base.load(), proposed)
    if not changes:
      print(f'{dataset}: span {source.span} fits v{base.version}; nothing to '
            f'propose')
      return _cli.EXIT_OK
    version = registry.create(
        proposed, parent=base.version, source=source.stats_path,
        note=str(config.get(cfg, 'schema.note') or ''), origin='proposed',
        promote=False)
    print(f'{dataset}: proposed v{version.version} (from v{base.version} and '
          f'{split} span {source.span}), not promoted; {len(changes)} '
          f'change(s):')
    for c in changes:
      print(f'  {c["feature"]}: {c["change"]}: {c["before"]} -> {c["after"]}')
    print(f'  promote: python -m beam_jobs.schema dataset.name={dataset} '
          f'action=promote schema.version={version.version}')
  elif action == 'promote':
    version = registry.promote(_version(cfg),
                               note=str(config.get(cfg, 'schema.note') or ''))
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
