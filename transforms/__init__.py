"""Reusable transforms and pure functions: sources, statistics, validation,
schema registry, warehouse tables and sinks."""
