"""Where data comes from and results go: sources (files, BigQuery), the
artifact store, the warehouse tables and their sinks (DuckDB, BigQuery)."""

from transforms.io import gcs as _gcs

# No ~20 s credential lookup when Cloud Storage is an emulator (gcs.py).
_gcs.skip_credentials_for_emulator()
