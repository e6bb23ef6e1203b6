"""Schema registry: immutable, numbered schema versions in the artifact store.

Layout, next to the statistics of the same dataset::

  {store.root}/{dataset}/schemas/v{N}/
      schema.pbtxt     the schema as a human-readable text proto
      meta.json        version, created, parent, source statistics, note, origin
      promoted.json    present once the version was promoted (validated against)

A version is written once and never changed. Versions made by ``infer`` are
promoted when created; versions proposed from a validation run's anomalies
are not used until ``promote``. "Latest" means the highest promoted version.
"""

import dataclasses
import datetime as dt
import math
import re
from typing import Any, Dict, List, Optional, Sequence

from apache_beam.io.filesystems import FileSystems
from google.protobuf import text_format
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from transforms import arrow_types
from transforms.io import artifacts
from transforms import feature_meta
from transforms import statistics
from transforms.errors import UserError

SCHEMA_FILE = 'schema.pbtxt'
META_FILE = 'meta.json'
PROMOTED_FILE = 'promoted.json'
_VERSION_DIR = re.compile(r'/v(\d+)/?$')


@dataclasses.dataclass(frozen=True)
class SchemaVersion:
  version: int
  path: str
  meta: Dict[str, Any]
  promoted: bool

  @property
  def schema_path(self) -> str:
    return FileSystems.join(self.path, SCHEMA_FILE)

  def load(self) -> schema_pb2.Schema:
    with FileSystems.open(self.schema_path) as f:
      return text_format.Parse(f.read().decode('utf-8'), schema_pb2.Schema())


class SchemaRegistry:
  """The numbered schema versions of one dataset."""

  def __init__(self, root: str, dataset: str):
    self.dataset = dataset
    self.dir = FileSystems.join(root, dataset, 'schemas')

  def _version_dir(self, version: int) -> str:
    return FileSystems.join(self.dir, f'v{version}')

  def versions(self) -> List[SchemaVersion]:
    """Every stored version, oldest first."""
    found = {}
    for path in artifacts.list_files(FileSystems.join(self.dir, '*', META_FILE)):
      folder = path.rsplit('/', 1)[0]
      m = _VERSION_DIR.search(folder)
      if m:
        found[int(m.group(1))] = folder
    out = []
    for version in sorted(found):
      folder = found[version]
      out.append(SchemaVersion(
          version=version, path=folder,
          meta=artifacts.read_json(FileSystems.join(folder, META_FILE)),
          promoted=FileSystems.exists(FileSystems.join(folder, PROMOTED_FILE))))
    return out

  def get(self, version: Optional[int] = None) -> SchemaVersion:
    """A pinned version, or the latest promoted one."""
    versions = self.versions()
    if version is not None:
      for v in versions:
        if v.version == version:
          return v
      raise UserError(f'schema.version={version}: dataset {self.dataset!r} has '
                      f'no such version (have: '
                      f'{", ".join(str(v.version) for v in versions) or "none"})')
    promoted = [v for v in versions if v.promoted]
    if not promoted:
      raise UserError(
          f'dataset {self.dataset!r} has no promoted schema in {self.dir}: '
          f'create one with python -m beam_jobs.infer_schema '
          f'dataset.name={self.dataset} ...')
    return promoted[-1]

  def create(self, schema: schema_pb2.Schema, *, parent: Optional[int],
             source: str, note: str, origin: str,
             promote: bool) -> SchemaVersion:
    """Stores ``schema`` as the next version; never overwrites one."""
    existing = self.versions()
    version = (existing[-1].version + 1) if existing else 1
    folder = self._version_dir(version)
    if FileSystems.exists(folder):
      raise UserError(f'{folder} already exists: schema versions are '
                      f'immutable')
    meta = {
        'dataset': self.dataset,
        'version': version,
        'created': dt.datetime.now(dt.timezone.utc).isoformat(),
        'parent': parent,
        'source': source,
        'note': note,
        'origin': origin,
    }
    with FileSystems.create(FileSystems.join(folder, SCHEMA_FILE)) as f:
      f.write(text_format.MessageToString(schema).encode('utf-8'))
    # meta.json last: a version is listed only once it is complete.
    artifacts.write_json(FileSystems.join(folder, META_FILE), meta)
    if promote:
      self.promote(version, note='promoted on creation')
    return self.get(version)

  def promote(self, version: int, note: str = '') -> SchemaVersion:
    target = self.get(version)
    if target.promoted:
      raise UserError(f'schema.version={version}: already promoted')
    artifacts.write_json(FileSystems.join(target.path, PROMOTED_FILE), {
        'promoted': dt.datetime.now(dt.timezone.utc).isoformat(),
        'note': note})
    return self.get(version)


# ----------------------------------------------------------------------------
# Inference, environments, diff


# A domain of values is kept when the data shows it is closed: the share of
# values not yet seen, estimated the Good-Turing way (values seen once /
# values), is at most 1 - MIN_DOMAIN_MASS; and a span may then hold up to
# that share of unseen values before ENUM_TYPE_UNEXPECTED_STRING_VALUES.
MIN_DOMAIN_MASS = 0.99
# A feature never missing in n training examples may still miss the share a
# rate never seen in n trials can have (99.9% upper bound: -ln(0.001)/n =
# 6.9/n), at least 0.1%, before FEATURE_TYPE_LOW_FRACTION_PRESENT.
PRESENCE_FLOOR = 0.001
_PRESENCE_CONFIDENCE = 0.999


def infer(stats: statistics_pb2.DatasetFeatureStatisticsList,
          serving_absent: Sequence[str] = (),
          environments: Sequence[str] = ('TRAINING', 'SERVING')
          ) -> schema_pb2.Schema:
  """TFDV's schema inference on the whole-span statistics, made to hold on
  the next sample of the same data, plus environments.

  TFDV infers from one sample as if it were the population: a column never
  missing there must never be missing, every value not seen is an error, a
  0/1 count column is boolean. On 20 random halves of 11 real tables that
  alone gave ERRORs on every second split. Here:

  - integers whose values were all counted (feature_meta) are categorical
    (``int_domain { is_categorical: true }``, also instead of TFDV's bool
    domain): their value shares are compared by drift and skew;
  - presence is relaxed by the sampling bound (``PRESENCE_FLOOR``);
  - string domains are kept only when closed (``MIN_DOMAIN_MASS``).

  Features in ``serving_absent`` (typically the label) are expected in every
  environment but SERVING.
  """
  whole = statistics_pb2.DatasetFeatureStatisticsList()
  whole.datasets.add().CopyFrom(statistics.overall(stats))
  schema = tfdv.infer_schema(whole, infer_feature_shape=False)
  mark_categorical_integers(schema, whole.datasets[0])
  relax_presence(schema, whole.datasets[0].num_examples)
  keep_closed_domains(schema, whole.datasets[0])
  for env in environments:
    schema.default_environment.append(env)
  names = {f.name for f in schema.feature}
  for name in serving_absent:
    if name not in names:
      raise UserError(f'schema.serving_absent: no feature {name!r} in the '
                      f'statistics (features: {", ".join(sorted(names))})')
    feature = tfdv.get_feature(schema, name)
    feature.not_in_environment.append('SERVING')
  return schema


def mark_categorical_integers(schema: schema_pb2.Schema,
                              stats: statistics_pb2.DatasetFeatureStatistics
                              ) -> None:
  """Marks integer features whose values were all counted as categorical.

  The statistics pass counts the values of integer features with at most
  ``stats.max_categorical_values`` distinct values (feature_meta); those
  (0/1 labels without TFDV's bool domain, codes, months) get
  ``int_domain { is_categorical: true }``, so the schema and the drift and
  skew comparisons agree that they are compared on value shares.
  """
  counted = {statistics.feature_path(f) for f in stats.features
             if feature_meta.value_counts(f) is not None}
  for path, feature in _all_features(schema.feature):
    domain = feature.WhichOneof('domain_info')
    if feature.type == schema_pb2.INT and path in counted and domain in (
        None, 'int_domain', 'bool_domain'):
      # TFDV calls a 0/1 integer boolean and a 2 an ERROR; a count that was
      # 0 or 1 in one sample is not a boolean.
      feature.ClearField('bool_domain')
      feature.int_domain.is_categorical = True


def _all_features(features, prefix=''):
  """(path, feature) of every feature, nested ones of structs included."""
  for feature in features:
    path = f'{prefix}{feature.name}'
    yield path, feature
    if feature.HasField('struct_domain'):
      yield from _all_features(feature.struct_domain.feature, path + '.')


def relax_presence(schema: schema_pb2.Schema, num_examples: int) -> None:
  """``presence.min_fraction`` 1.0 becomes 1 - max(0.1%, 6.9 / n)."""
  if not num_examples:
    return
  slack = max(PRESENCE_FLOOR, -math.log(1 - _PRESENCE_CONFIDENCE) /
              num_examples)
  for _, feature in _all_features(schema.feature):
    if feature.presence.min_fraction >= 1.0:
      feature.presence.min_fraction = round(1.0 - slack, 6)


def keep_closed_domains(schema: schema_pb2.Schema,
                        stats: statistics_pb2.DatasetFeatureStatistics) -> None:
  """Drops inferred string domains that the sample cannot close, and lets
  kept ones hold up to 1 - MIN_DOMAIN_MASS of unseen values.

  Closed means the Good-Turing estimate of the unseen share (values seen
  once / values) is at most a third of 1 - MIN_DOMAIN_MASS: the estimate
  is itself noisy, and a value seen once may well be missing next time.
  Identifiers never close (their values are seen once each). Moments
  written as text (``2013-01-01 10:00``, ``01/31/2013``, in formats not
  read as time) get no domain either, however few values the sample had:
  every later span brings new ones (``arrow_types.looks_like_time_text``).
  """
  by_name = {statistics.feature_path(f): f for f in stats.features}
  domains = {d.name: d for d in schema.string_domain}
  dropped = set()
  for path, feature in _all_features(schema.feature):
    if feature.WhichOneof('domain_info') != 'domain':
      continue
    domain = domains.get(feature.domain)
    if domain is not None and arrow_types.looks_like_time_text(domain.value):
      dropped.add(feature.domain)
      feature.ClearField('domain')
      continue
    fstats = by_name.get(path)
    buckets = (fstats.string_stats.rank_histogram.buckets
               if fstats is not None and fstats.HasField('string_stats')
               else [])
    total = sum(b.sample_count for b in buckets)
    singletons = sum(1 for b in buckets if b.sample_count == 1)
    if not total or singletons / total > (1 - MIN_DOMAIN_MASS) / 3:
      dropped.add(feature.domain)
      feature.ClearField('domain')
      continue
    feature.distribution_constraints.min_domain_mass = MIN_DOMAIN_MASS
  kept = [d for d in schema.string_domain if d.name not in dropped]
  del schema.string_domain[:]
  schema.string_domain.extend(kept)


def propose(schema: schema_pb2.Schema,
            stats: statistics_pb2.DatasetFeatureStatisticsList
            ) -> schema_pb2.Schema:
  """A new schema that accepts what a span's statistics broke in ``schema``.

  TFDV's ``update_schema`` re-derives the span's schema anomalies from its
  statistics and relaxes the schema just enough to accept them.
  """
  whole = statistics_pb2.DatasetFeatureStatisticsList()
  whole.datasets.add().CopyFrom(statistics.overall(stats))
  return tfdv.update_schema(schema, whole)


def _feature_summary(feature: schema_pb2.Feature,
                     schema: schema_pb2.Schema) -> Dict[str, Any]:
  domain = feature.WhichOneof('domain_info')
  values = None
  if domain == 'domain':
    for d in schema.string_domain:
      if d.name == feature.domain:
        values = sorted(d.value)
  elif domain == 'string_domain':
    values = sorted(feature.string_domain.value)
  presence = None
  if feature.HasField('presence'):
    presence = (feature.presence.min_fraction, feature.presence.min_count)
  return {
      'type': schema_pb2.FeatureType.Name(feature.type),
      'domain': domain,
      'values': values,
      'presence': presence,
      'environments': sorted(feature.not_in_environment),
  }


def diff(old: schema_pb2.Schema, new: schema_pb2.Schema) -> List[Dict[str, Any]]:
  """Feature-level changes from ``old`` to ``new``.

  Each change is {feature, change, before, after}; ``change`` is one of
  added, removed, type, domain, presence, environment.
  """
  a = {f.name: _feature_summary(f, old) for f in old.feature}
  b = {f.name: _feature_summary(f, new) for f in new.feature}
  changes = []
  for name in sorted(set(a) | set(b)):
    if name not in a:
      changes.append({'feature': name, 'change': 'added', 'before': None,
                      'after': b[name]['type']})
      continue
    if name not in b:
      changes.append({'feature': name, 'change': 'removed',
                      'before': a[name]['type'], 'after': None})
      continue
    for key, change in (('type', 'type'), ('values', 'domain'),
                        ('domain', 'domain'), ('presence', 'presence'),
                        ('environments', 'environment')):
      if a[name][key] != b[name][key]:
        before, after = a[name][key], b[name][key]
        if key == 'values' and before is not None and after is not None:
          before = {'removed': sorted(set(before) - set(after))}
          after = {'added': sorted(set(after) - set(a[name][key]))}
        changes.append({'feature': name, 'change': change, 'before': before,
                        'after': after})
        if key == 'values':
          break  # one domain change line per feature
  return changes
