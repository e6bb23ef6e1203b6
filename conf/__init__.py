"""Hydra configuration of the jobs (YAML files in this folder)."""
