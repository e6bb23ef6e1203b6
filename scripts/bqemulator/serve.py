"""Starts the BigQuery emulator (bqemulator) on loopback, for tests and demos.

  .venv-bqemu/bin/python scripts/bqemulator/serve.py start --rest-port 9050

Takes the same arguments as the `bqemulator` command, with two changes made
here, in memory, before it starts (nothing in site-packages is edited):

- DuckDB's spatial and avro extensions are not loaded. bqemulator insists on
  downloading spatial at start-up (for GEOGRAPHY), which cannot work without
  network access; this project uses neither GEOGRAPHY nor Avro.
- Uploads with Content-Type `*/*` are accepted. The official Python client
  sends its load-job data (`load_table_from_json`/`_file`) with that type,
  which real BigQuery accepts and bqemulator 1.4.0 rejects.
"""

import sys

from bqemulator.api.routes import upload
from bqemulator.storage import engine


def _patch() -> None:
  engine.DuckDBEngine._load_spatial = lambda self: None  # pylint: disable=protected-access
  engine.DuckDBEngine._load_format_extensions = lambda self: None  # pylint: disable=protected-access
  permitted = upload._is_permitted_media_type  # pylint: disable=protected-access
  upload._is_permitted_media_type = (  # pylint: disable=protected-access
      lambda content_type: content_type == '*/*' or permitted(content_type))


if __name__ == '__main__':
  _patch()
  from bqemulator.cli import main  # pylint: disable=g-import-not-at-top
  sys.exit(main())
