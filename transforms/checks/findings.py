"""Rows of the checks beyond TFDV: every measurement, and the anomalies.

History, PII, representation and label parity, and feature skew each
measure values against thresholds. Every measurement becomes a
``drift_skew`` row (above threshold or not, so users can chart it) and each
one past its threshold also an ``anomalies`` row; ``Findings`` builds both
the same way for all of them (columns: transforms/io/tables.py).
"""

from typing import Any, Dict, List, Mapping, Optional


class Findings:
  """Measurement and anomaly rows of one check against one baseline."""

  def __init__(self, check: str, baseline: Optional[Mapping[str, Any]] = None):
    self.check = check
    self._split = (baseline or {}).get('split')
    self._span = (baseline or {}).get('span')
    self.anomalies: List[Dict[str, Any]] = []
    self.measurements: List[Dict[str, Any]] = []

  def add(self, feature: str, metric: str, value: float, threshold: float,
          flagged: bool, anomaly_type: str, severity: str,
          description: str, group: str = '') -> bool:
    """Records a measurement; when ``flagged``, an anomaly too.

    ``group`` names the slice of the measurement row (the anomaly row is
    about the feature as a whole). Returns ``flagged``.
    """
    self.measure(feature, metric, value, threshold, flagged, group)
    if flagged:
      self.flag(feature, metric, value, threshold, anomaly_type, severity,
                description)
    return bool(flagged)

  def measure(self, feature: str, metric: str, value: Optional[float],
              threshold: Optional[float], is_anomaly: bool = False,
              group: str = '', note: Optional[str] = None) -> None:
    """A measurement row only (``note``: why not measured, or why a value
    past its threshold is no anomaly)."""
    row = {
        'slice': group, 'feature': feature, 'check': self.check,
        'metric': metric, 'value': value, 'threshold': threshold,
        'is_anomaly': bool(is_anomaly), 'baseline_split': self._split,
        'baseline_span': self._span}
    if note is not None:
      row['note'] = note
    self.measurements.append(row)

  def flag(self, feature: str, metric: str, value: Optional[float],
           threshold: Optional[float], anomaly_type: str, severity: str,
           description: str) -> None:
    """An anomaly row only."""
    self.anomalies.append({
        'slice': '', 'feature': feature, 'check': self.check,
        'anomaly_type': anomaly_type, 'severity': severity,
        'description': description,
        'metric': metric, 'value': value, 'threshold': threshold,
        'schema_version': None, 'baseline_split': self._split,
        'baseline_span': self._span})

  def rows(self):
    """(anomaly rows, measurement rows)."""
    return self.anomalies, self.measurements
