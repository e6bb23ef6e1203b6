"""What every job shares at the command line: logging, errors, exit codes.

Exit codes (documented in the README):
  0  the run completed and found nothing at or above the blocking severity
  1  the run failed (bad config, bad input, an error); nothing was written
  3  the run completed and found blocking anomalies (results were written)
"""

import logging
import sys
from typing import Callable

from omegaconf import DictConfig

from transforms.errors import UserError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BLOCKING = 3

_QUIET_LOGGERS = ('apache_beam', 'tensorflow', 'absl', 'tfx_bsl',
                  'tensorflow_data_validation', 'urllib3', 'google')


def configure_logging(level: str) -> None:
  logging.basicConfig(
      level=getattr(logging, str(level).upper(), logging.INFO),
      format='%(asctime)s %(levelname)s %(name)s: %(message)s',
      stream=sys.stderr, force=True)
  for name in _QUIET_LOGGERS:
    logging.getLogger(name).setLevel(logging.WARNING)
  for handler in logging.getLogger().handlers:
    handler.addFilter(_drop_type_hint_notices)


def _drop_type_hint_notices(record: logging.LogRecord) -> bool:
  """Beam warns about TFDV's own PTransform type hints on every run; noise."""
  return 'type hint will be ignored' not in record.getMessage()


# Worst outcome first: a failed run outranks blocking anomalies.
_RANK = {EXIT_OK: 0, EXIT_BLOCKING: 1, EXIT_FAILED: 2}
_worst = EXIT_OK


def _is_multirun() -> bool:
  try:
    from hydra.core.hydra_config import HydraConfig  # pylint: disable=g-import-not-at-top
    from hydra.types import RunMode  # pylint: disable=g-import-not-at-top
    return HydraConfig.get().mode == RunMode.MULTIRUN
  except (ImportError, ValueError):
    return False


def main(job: Callable[[DictConfig], int], cfg: DictConfig, name: str) -> None:
  """Runs ``job(cfg)`` and exits with its code; bad input exits with one line.

  Under Hydra multirun (``-m span=a,b,c``, e.g. a backfill) every run goes
  ahead and the process ends with the worst code of them (see final_code).
  """
  global _worst
  configure_logging(cfg.get('log_level', 'INFO'))
  try:
    code = job(cfg)
  except UserError as e:
    print(f'{name}: error: {e}', file=sys.stderr)
    code = EXIT_FAILED
  except KeyboardInterrupt:
    print(f'{name}: interrupted; nothing was written', file=sys.stderr)
    sys.exit(EXIT_FAILED)
  if not _is_multirun():
    sys.exit(code)
  if _RANK[code] > _RANK[_worst]:
    _worst = code


def final_code() -> int:
  """The worst exit code of the runs of a multirun."""
  return _worst
