"""Yearly validation of the bundled data on the DirectRunner (Airflow 2).

The local counterpart of airflow_dag.py (Composer + Dataflow): for a single
machine or VM where Airflow and this repository live side by side. Each run
validates the span of its data interval (``@yearly``: the run at logical
date 1982-01-01 validates span 1982) against the promoted schema and the
previous span, then gates what depends on the data:

  validate          python -m beam_jobs.validate ...; succeeds on exit code
                    0 (ok) and 3 (blocking anomalies: the run worked, the
                    data is bad), fails on 1 (the run failed; retried).
  fail_on_blocking  reads the span's run.json, checks it is this run's, and
                    fails with AirflowFailException (no retries) when its
                    status is 'blocking'.
  train_model       stands for whatever consumes the validated data; it runs
                    only after the gate passed (upstream_failed otherwise).

Where things are, from the environment of the scheduler and its tasks
(`make schedule-demo` sets them; defaults: this repository):
  DV_REPO        the repository (its .venv runs the jobs)
  DV_PYTHON      the Python that runs the jobs (default DV_REPO/.venv/bin/python)
  DV_STORE_ROOT  the artifact store (default DV_REPO/artifacts/airflow)
  DV_SINK_PATH   the DuckDB warehouse (default DV_STORE_ROOT/warehouse.duckdb)

The store needs the baseline first: statistics of 1980 and a promoted
schema (scripts/schedule/demo.sh does both).
"""

import datetime as dt
import json
import os
import re
import subprocess

from airflow import DAG
from airflow.exceptions import AirflowFailException
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import PythonOperator

REPO = os.environ.get('DV_REPO') or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.environ.get('DV_PYTHON') or os.path.join(REPO, '.venv', 'bin',
                                                     'python')
STORE_ROOT = os.environ.get('DV_STORE_ROOT') or os.path.join(
    REPO, 'artifacts', 'airflow')
SINK_PATH = os.environ.get('DV_SINK_PATH') or os.path.join(
    STORE_ROOT, 'warehouse.duckdb')

DATASET = 'nlsy_wages'
SPLIT = 'train'
# The validate job's overrides. The panel's men are a year older each span,
# so experience drifts by construction: left out of the drift check.
OVERRIDES = [f'dataset={DATASET}', f'split={SPLIT}',
             f'store.root={STORE_ROOT}', f'sink.path={SINK_PATH}',
             'drift.exclude=[exper]']
EXIT_OK, EXIT_FAILED, EXIT_BLOCKING = 0, 1, 3


def validate(span: str) -> str:
  """Runs the validate job on ``span``; returns its run id (for the gate)."""
  proc = subprocess.run([PYTHON, '-m', 'beam_jobs.validate', f'span={span}',
                         *OVERRIDES], cwd=REPO, capture_output=True,
                        text=True, check=False)
  print(proc.stdout)
  if proc.returncode not in (EXIT_OK, EXIT_BLOCKING):
    raise RuntimeError(f'validate span {span} failed (exit code '
                       f'{proc.returncode}): {proc.stderr.strip()[-2000:]}')
  found = re.search(r'run_id=(\S+)', proc.stdout)
  if not found:
    raise RuntimeError(f'validate span {span}: no run_id in its summary')
  return found.group(1)


def fail_on_blocking(span: str, run_id: str) -> str:
  """Reads the span's run.json; fails the task when the run was blocking."""
  path = os.path.join(STORE_ROOT, DATASET, f'split={SPLIT}', f'span={span}',
                      'run.json')
  with open(path) as f:
    record = json.load(f)
  if record['run_id'] != run_id:
    raise AirflowFailException(f'{path} is from run {record["run_id"]}, not '
                               f'{run_id}: the run did not record its outcome')
  if record['status'] == 'blocking':
    raise AirflowFailException(
        f'{DATASET}/{SPLIT} span {span}: blocking anomalies '
        f'({record["num_anomalies"]} anomalies, run {run_id}); see the '
        f'anomalies table in {SINK_PATH}')
  return record['status']


with DAG(
    dag_id='dv_validate_nlsy_local',
    schedule='@yearly',
    start_date=dt.datetime(1981, 1, 1, tzinfo=dt.timezone.utc),
    end_date=dt.datetime(1987, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,  # spans are run by `airflow dags backfill`
    max_active_runs=1,
    default_args={'retries': 1, 'retry_delay': dt.timedelta(seconds=5)},
    tags=['data-validation'],
) as dag:
  SPAN = '{{ data_interval_start.year }}'
  run = PythonOperator(task_id='validate', python_callable=validate,
                       op_kwargs={'span': SPAN})
  gate = PythonOperator(
      task_id='fail_on_blocking', python_callable=fail_on_blocking,
      op_kwargs={'span': SPAN,
                 'run_id': "{{ ti.xcom_pull(task_ids='validate') }}"},
      retries=0)
  train = EmptyOperator(task_id='train_model')
  run >> gate >> train
