"""The data side of a run: statistics, schema registry and column types, with
the inputs and outputs (``io``) and the checks (``checks``) in subpackages."""
