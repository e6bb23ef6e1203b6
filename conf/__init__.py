"""Hydra configuration of the jobs (YAML files in this folder).

Importing it registers the typed schema the YAML files name in their
defaults (settings/schema.py).
"""

import settings.schema  # noqa: F401  (registers the schemas)
