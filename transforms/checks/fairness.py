"""Representation and label parity of the groups of sensitive features.

For each feature in ``fairness.sensitive`` (which the statistics pass also
slices on), from stored statistics only:

- representation: each group's share of the span and of the training data
  (the skew baseline for a serving split, else the drift baseline); a group
  below ``min_share`` or whose share moved by more than ``max_share_change``
  is flagged (``check=representation``);
- label parity, when ``dataset.label`` is a numeric (0/1) label: each
  group's positive rate (the label's mean in its slice); a gap between the
  highest and lowest rate above ``parity_threshold`` (demographic parity),
  or a gap that moved by more than ``parity_change`` since the baseline, is
  flagged (``check=label_parity``).

Groups with fewer than ``min_group_examples`` examples are reported but not
used for the parity gap: a handful of people makes any rate look extreme.
"""

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms.checks import findings
from transforms import statistics


@dataclasses.dataclass(frozen=True)
class FairnessSpec:
  """The ``fairness`` config group."""
  sensitive: Sequence[str] = ()
  min_share: float = 0.05
  max_share_change: float = 0.05
  min_group_examples: int = 30
  parity_threshold: float = 0.1
  parity_change: float = 0.05
  severity: str = 'WARNING'


def _single_feature_slices(stats, feature: str, others: Sequence[str]
                           ) -> Dict[str, statistics_pb2.DatasetFeatureStatistics]:
  """{group value: slice statistics} of the slices on ``feature`` alone."""
  prefix = feature + '_'
  out = {}
  for d in stats.datasets:
    name = statistics.slice_name(d)
    if not name.startswith(prefix):
      continue
    value = name[len(prefix):]
    # 'ethn_black_married_no' is a slice on two features, not a group.
    if any(f'_{o}_' in f'_{value}_' for o in others if o != feature):
      continue
    out[value] = d
  return out


def group_counts(stats, feature: str, others: Sequence[str] = ()
                 ) -> Dict[str, float]:
  """Examples per value of ``feature``: from its slices, else its value counts."""
  slices = _single_feature_slices(stats, feature, others)
  if slices:
    return {v: float(d.num_examples) for v, d in slices.items()}
  for f in statistics.overall(stats).features:
    if statistics.feature_path(f) == feature and f.HasField('string_stats'):
      return {b.label: b.sample_count
              for b in f.string_stats.rank_histogram.buckets}
  return {}


def _label_rates(stats, feature: str, label: str, others: Sequence[str],
                 min_examples: int) -> Dict[str, float]:
  rates = {}
  for value, d in _single_feature_slices(stats, feature, others).items():
    if d.num_examples < min_examples:
      continue
    for f in d.features:
      if statistics.feature_path(f) == label and f.HasField('num_stats'):
        rates[value] = f.num_stats.mean
  return rates


def check(stats, baseline: Optional[Tuple[Mapping[str, str], Any]],
          spec: FairnessSpec, label: Optional[str], group_name,
          slice_features: Sequence[str] = ()
          ) -> Tuple[List[Dict], List[Dict], List[str]]:
  """(anomaly rows, measurement rows, notes) for every sensitive feature.

  ``group_name(feature, value)`` names a group in rows (hashed when the
  feature's values are hashed). Measurement rows carry the group in
  ``slice`` as ``{feature}_{value}``.
  """
  notes = []
  where, base_stats = baseline if baseline else ({}, None)
  shares = findings.Findings('representation', where)
  parity = findings.Findings('label_parity', where)
  total = statistics.overall(stats).num_examples or 1
  others = list(slice_features) + list(spec.sensitive)
  for feature in spec.sensitive:
    counts = group_counts(stats, feature, others)
    if not counts:
      notes.append(f'fairness: no groups of {feature!r} in the statistics')
      continue
    base_counts = group_counts(base_stats, feature, others) if base_stats \
        else {}
    base_total = sum(base_counts.values()) or 1
    for value in sorted(set(counts) | set(base_counts)):
      group = group_name(feature, value)
      share = counts.get(value, 0.0) / total
      shares.add(
          feature, 'GROUP_SHARE', share, spec.min_share,
          share < spec.min_share, 'GROUP_UNDERREPRESENTED', spec.severity,
          f'Group {feature}={group} is {share:.1%} of the span, below the '
          f'minimum share {spec.min_share:.1%}.', group=f'{feature}_{group}')
      if base_counts:
        base_share = base_counts.get(value, 0.0) / base_total
        change = abs(share - base_share)
        shares.add(
            feature, 'GROUP_SHARE_CHANGE', change, spec.max_share_change,
            change > spec.max_share_change, 'GROUP_SHARE_CHANGED',
            spec.severity,
            f'Group {feature}={group} is {share:.1%} of the span and was '
            f'{base_share:.1%} of {where.get("split")} span '
            f'{where.get("span")}: a change of {change:.1%}, above '
            f'{spec.max_share_change:.1%}.', group=f'{feature}_{group}')
    if not label:
      continue
    rates = _label_rates(stats, feature, label, others,
                         spec.min_group_examples)
    if len(rates) < 2:
      notes.append(f'label_parity: fewer than two groups of {feature!r} with '
                   f'{spec.min_group_examples}+ examples and a numeric label '
                   f'{label!r}; not checked')
      continue
    gap = max(rates.values()) - min(rates.values())
    hi = max(rates, key=rates.get)
    lo = min(rates, key=rates.get)
    parity.add(
        feature, 'PARITY_GAP', gap, spec.parity_threshold,
        gap > spec.parity_threshold, 'LABEL_PARITY_GAP_HIGH', spec.severity,
        f'The mean of {label} (for a 0/1 label, its positive rate) ranges '
        f'from {rates[lo]:.3g} ({feature}={group_name(feature, lo)}) to '
        f'{rates[hi]:.3g} ({feature}={group_name(feature, hi)}): a gap of '
        f'{gap:.3g}, above {spec.parity_threshold:g}.')
    base_rates = (_label_rates(base_stats, feature, label, others,
                               spec.min_group_examples) if base_stats else {})
    if len(base_rates) >= 2:
      base_gap = max(base_rates.values()) - min(base_rates.values())
      change = abs(gap - base_gap)
      parity.add(
          feature, 'PARITY_GAP_CHANGE', change, spec.parity_change,
          change > spec.parity_change, 'LABEL_PARITY_GAP_CHANGED',
          spec.severity,
          f'The gap in the mean of {label} between groups of {feature} is '
          f'{gap:.3g}; it was {base_gap:.3g} in {where.get("split")} span '
          f'{where.get("span")} (a change of {change:.3g}, above '
          f'{spec.parity_change:g}).')
  return (shares.anomalies + parity.anomalies,
          shares.measurements + parity.measurements, notes)
