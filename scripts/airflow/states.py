"""Prints one line per DAG run with the task states Airflow recorded:

  run <logical date> span=<span>: validate=<state> gate=<state> downstream=<state>

Run with the Airflow virtualenv's Python and the demo's AIRFLOW_HOME.
"""

import sys

from airflow.models import DagRun


def main(dag_id: str) -> None:
  runs = sorted(DagRun.find(dag_id=dag_id), key=lambda r: r.logical_date)
  if not runs:
    sys.exit(f'no runs of {dag_id} in the metadata database')
  for run in runs:
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    span = run.data_interval_start.year
    print(f'run {run.logical_date.date()} span={span}: '
          f'validate={states.get("validate")} '
          f'gate={states.get("fail_on_blocking")} '
          f'downstream={states.get("train_model")}')


if __name__ == '__main__':
  main(sys.argv[1] if len(sys.argv) > 1 else 'dv_validate_nlsy_local')
