"""What every job shares at the command line: logging, errors, exit codes.

Exit codes (documented in the README):
  0  the run completed and found nothing at or above the blocking severity
  1  the run failed (bad config, bad input, an error); nothing was written
  3  the run completed and found blocking anomalies (results were written)
"""

import logging
import os
import re
import sys
from typing import Callable, List

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


def composition_error(e: BaseException) -> str:
  """Hydra's several-line composition error as one line naming the key.

  ``stats.batch_size=abc: Value 'abc' of type 'str' could not be converted
  to Integer``; ``stats.bogus: no such key``.
  """
  from omegaconf import errors as omegaconf_errors  # pylint: disable=g-import-not-at-top
  cause = e if isinstance(e, omegaconf_errors.OmegaConfBaseException) else (
      e.__cause__)
  text = str(e).splitlines()[0] if str(e) else type(e).__name__
  if getattr(e, 'override', None):  # an override that does not parse
    return f'{e.override}: {text}'
  override = None
  for prefix in ('Error merging override ', 'Error merging '):
    if text.startswith(prefix):
      override = text[len(prefix):].strip()
      break
  key = getattr(cause, 'full_key', None) if cause is not None else None
  if isinstance(cause, (omegaconf_errors.ConfigAttributeError,
                        omegaconf_errors.ConfigKeyError)) or (
                            text.startswith('Could not override')):
    if key is None:
      quoted = re.search(r"'([^']+)'", text)
      key = quoted.group(1) if quoted else 'config'
    return f'{key}: no such key (check its spelling in conf/)'
  if cause is not None and str(cause):
    reason = str(cause).splitlines()[0]
    return f'{override or key or "config"}: {reason}'
  return text


def quote_values_with_equals(args: List[str]) -> List[str]:
  """Command-line overrides with an unquoted ``=`` in the value, quoted.

  Hive-style partition paths (``dataset.path=gs://b/in/dt=${span}/*.csv``)
  are the norm on object stores, but Hydra's override grammar takes the
  second ``=`` for a syntax error. An override that does not parse as given
  and whose value holds ``=`` is passed on with that value quoted (each
  value of a ``-m`` sweep ``a=1/x,a=2/x`` on its own), when the quoted form
  parses to exactly those values (``${...}`` interpolations stay live inside
  Hydra's quotes); anything else is left for Hydra to judge.
  """
  from hydra.core.override_parser.overrides_parser import OverridesParser  # pylint: disable=g-import-not-at-top
  parser = OverridesParser.create()
  out = []
  for arg in args:
    key, sep, value = arg.partition('=')
    if (arg.startswith('-') or not sep or '=' not in value
        or _parsed(parser, arg) is not None):
      out.append(arg)
      continue
    # Hydra's lists, dicts and functions are left alone (${...} is not one).
    if set('[]{}()') & set(re.sub(r'\$\{[^}]*\}', '', value)):
      out.append(arg)
      continue
    parts = value.split(',')  # a simple sweep: one value per comma
    quoted = [_quoted(p) if '=' in p else p for p in parts]
    fixed = f'{key}={",".join(q or "" for q in quoted)}'
    parsed = None if None in quoted else _parsed(parser, fixed)
    values = getattr(parsed, 'list', [parsed])
    ok = parsed is not None and [
        getattr(v, 'text', str(v)) for v in values] == parts
    out.append(fixed if ok else arg)
  return out


def _quoted(value: str):
  for quote in ("'", '"'):
    if quote not in value:
      return f'{quote}{value}{quote}'
  return None


def _parsed(parser, arg: str):
  """The override's value as Hydra parses it; None when it does not."""
  from hydra.errors import HydraException  # pylint: disable=g-import-not-at-top
  try:
    return parser.parse_override(arg).value()
  except HydraException:
    return None


def entry(main_fn: Callable[[], None], name: str) -> None:
  """Runs a job's Hydra entry point (``python -m beam_jobs.<job>``).

  A config that does not compose (an unknown key, a value of the wrong type,
  a malformed override) ends the job with one line naming the key and exit
  code 1, like every other bad input. HYDRA_FULL_ERROR=1 shows Hydra's own
  message and stack trace instead.
  """
  from hydra.errors import HydraException  # pylint: disable=g-import-not-at-top
  from omegaconf.errors import OmegaConfBaseException  # pylint: disable=g-import-not-at-top
  full = os.environ.get('HYDRA_FULL_ERROR') == '1'
  sys.argv[1:] = quote_values_with_equals(sys.argv[1:])
  # Hydra prints its errors itself unless asked to raise them.
  os.environ['HYDRA_FULL_ERROR'] = '1'
  try:
    main_fn()
  except (HydraException, OmegaConfBaseException) as e:
    if full:
      raise
    print(f'{name}: error: {composition_error(e)}', file=sys.stderr)
    sys.exit(EXIT_FAILED)
  sys.exit(final_code())
