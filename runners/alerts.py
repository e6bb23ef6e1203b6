"""Alerts: a run that finds blocking anomalies tells someone.

Config (conf/validate.yaml, group ``alert``): ``webhook_url`` receives an
HTTP POST of the run's summary as JSON; ``pubsub_topic`` receives the same
JSON as a Pub/Sub message (attributes: dataset, split, span, status). Both
are optional, and both may be set.

The payload holds counts and the top anomalies by feature, check, type and
measured distance -- never TFDV's free-text descriptions, which can quote
data values. A failed delivery is logged; it does not change the run's
results or exit code.
"""

import collections
import dataclasses
import json
import logging
import re
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

from transforms.checks import validation

_log = logging.getLogger(__name__)

# The columns of an anomaly row that describe it without quoting data.
_FIELDS = ('feature', 'slice', 'check', 'anomaly_type', 'severity', 'metric',
           'value', 'threshold', 'baseline_split', 'baseline_span',
           'anomaly_id')


@dataclasses.dataclass(frozen=True)
class AlertSpec:
  """The ``alert`` group, checked (settings/config.py: ``alert_spec``)."""
  webhook_url: Optional[str] = None
  pubsub_topic: Optional[str] = None
  max_anomalies: int = 10  # top anomalies in the payload
  timeout_s: float = 10.0


def payload(span, schema_version: int, anomalies: List[Dict[str, Any]],
            fail_on: str, num_blocking: int, max_anomalies: int = 10
            ) -> Dict[str, Any]:
  """The run's summary for an alert: counts and top anomalies, no values."""
  counts = collections.Counter(
      f'{a["check"]}/{a["severity"]}' for a in anomalies)
  top = validation.worst_first(anomalies)[:max_anomalies]
  key = span.key
  return {
      'kind': 'data_validation',
      'status': 'blocking' if num_blocking else 'ok',
      'dataset': key['dataset'], 'split': key['split'], 'span': key['span'],
      'run_id': span.run_id, 'run_ts': span.run_ts.isoformat(),
      'schema_version': schema_version,
      'fail_on': fail_on,
      'num_examples': span.num_examples,
      'num_malformed': span.num_malformed,
      'num_anomalies': len(anomalies),
      'num_blocking': num_blocking,
      'counts': dict(sorted(counts.items())),
      'top_anomalies': [{f: a.get(f) for f in _FIELDS} for a in top],
      'stats_uri': span.store.stats_path,
  }


def notify(spec: AlertSpec, span, schema_version: int,
           anomalies: List[Dict[str, Any]], fail_on: str,
           num_blocking: int) -> List[str]:
  """Sends the run's summary where ``alert`` says; returns where it went."""
  return send(spec, payload(span, schema_version, anomalies, fail_on,
                            num_blocking, spec.max_anomalies))


def send(spec: AlertSpec, body: Dict[str, Any]) -> List[str]:
  """Delivers ``body`` to the configured webhook and topic; returns where."""
  data = json.dumps(body, sort_keys=True, default=str).encode('utf-8')
  timeout = spec.timeout_s
  sent = []
  url = spec.webhook_url
  if url:
    request = urllib.request.Request(
        str(url), data=data, method='POST',
        headers={'Content-Type': 'application/json',
                 'User-Agent': 'beam-data-validation'})
    try:
      with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
      sent.append('webhook')
    except (urllib.error.URLError, OSError) as e:
      # The URL may hold a token: log only its scheme and host.
      host = re.sub(r'^(https?://[^/]+).*$', r'\1', str(url))
      _log.warning('alert: POST to %s failed (%s)', host, e)
  topic = spec.pubsub_topic
  if topic:
    try:
      from google.cloud import pubsub_v1  # pylint: disable=g-import-not-at-top
      publisher = pubsub_v1.PublisherClient()
      publisher.publish(
          str(topic), data, dataset=body['dataset'], split=body['split'],
          span=body['span'], status=body['status']).result(timeout=timeout)
      sent.append('pubsub')
    except Exception as e:  # delivery must not fail a finished run
      _log.warning('alert: publishing to %s failed (%s)', topic, e)
  return sent
