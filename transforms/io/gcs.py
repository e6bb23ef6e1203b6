"""Cloud Storage credentials where none are needed.

Beam looks up Application Default Credentials the first time a process
touches ``gs://`` and, when there are none, retries with exponential backoff
for ~20 s, logging a traceback per attempt, before it connects anonymously.
Against a Cloud Storage emulator (``STORAGE_EMULATOR_HOST``, which Beam's
client honours) no credentials are ever needed, so the lookup is skipped and
Beam is handed the anonymous client it would have ended up with. Every
process that imports ``transforms.io`` does this, the job and each SDK
worker alike (workers inherit the variable from the job that starts them).
"""

import os

EMULATOR_ENV = 'STORAGE_EMULATOR_HOST'


def emulator_host() -> str:
  """The Cloud Storage emulator's address, '' when talking to Google."""
  return os.environ.get(EMULATOR_ENV, '').strip()


def skip_credentials_for_emulator() -> bool:
  """With an emulator configured, Beam uses anonymous GCS access without
  looking up credentials. Returns whether it does."""
  if not emulator_host():
    return False
  try:
    from apache_beam.internal.gcp import auth  # pylint: disable=g-import-not-at-top
  except ImportError:  # Beam without its GCP extra: no GCS either
    return False
  # pylint: disable=protected-access
  # Beam's own cache of the lookup (auth._Credentials): marked done with no
  # credentials, create_storage_client returns storage's anonymous client,
  # which follows STORAGE_EMULATOR_HOST.
  with auth._Credentials._credentials_lock:
    auth._Credentials._credentials = None
    auth._Credentials._credentials_init = True
  return True
