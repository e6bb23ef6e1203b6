"""The checks of a span's statistics: schema, drift and skew, their metrics,
metric history, fairness, PII, event time, example-level feature skew and
shift."""
