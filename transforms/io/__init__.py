"""Where data comes from and results go: sources (files, BigQuery), the
artifact store, the warehouse tables and their sinks (DuckDB, BigQuery)."""
