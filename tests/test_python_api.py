"""The Python API (beam_jobs/api.py): a notebook or an Airflow task runs a job
without the command line and gets the exit code and the anomalies back."""

from beam_jobs import api
from beam_jobs._cli import EXIT_BLOCKING, EXIT_FAILED, EXIT_OK


def test_validate_from_python_returns_exit_code_and_anomaly_rows(tmp_path):
  store = (f'store.root={tmp_path}',)
  assert api.stats(api.StatsConfig(dataset='nlsy_wages', span='1986',
                                   overrides=store)).exit_code == EXIT_OK
  assert api.infer_schema(api.InferSchemaConfig(
      dataset='nlsy_wages', overrides=store)).exit_code == EXIT_OK
  result = api.validate(api.ValidateConfig(dataset='nlsy_wages', span='1987',
                                           overrides=store))
  # the demo's finding: the same men a year older, drift in exper
  assert result.exit_code == EXIT_BLOCKING and result.blocking
  assert result.error is None
  assert result.run['status'] == 'blocking' and result.run['span'] == '1987'
  assert any(r['check'] == 'drift' and r['feature'] == 'exper' and
             r['severity'] == 'ERROR' for r in result.anomalies)
  assert all(r['span'] == '1987' for r in result.anomalies)


def test_bad_config_from_python_is_exit_code_1_with_the_one_line(tmp_path):
  result = api.validate(api.ValidateConfig(
      dataset='nlsy_wages', span='1987',
      overrides=(f'store.root={tmp_path}', 'drift.numeric_threshold=high')))
  assert result.exit_code == EXIT_FAILED and not result.ok
  assert result.error.startswith('drift.numeric_threshold=high: ')
  assert result.anomalies == [] and result.run is None
