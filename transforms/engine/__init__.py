"""A vectorized statistics engine that writes TFDV's statistics proto.

``stats.engine=vectorized`` computes the statistics of a span here instead of
with TFDV's generators: per slice and feature a small mergeable state
(``state.py``) updated column by column from Arrow batches, sketches from
Apache DataSketches and tfx_bsl (``sketches.py``), TFDV's
``DatasetFeatureStatisticsList`` as output (``output.py``, with TFDV's
histogram arithmetic in ``quantiles.py``) and one Beam ``CombineFn`` keyed by
slice (``combine.py``). None of these modules imports TFDV or TensorFlow.
"""
