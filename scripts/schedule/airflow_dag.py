"""Daily validation of yesterday's partition on Dataflow (Airflow 2 / Composer).

Copy this file into the DAGs folder of a Cloud Composer environment (or any
Airflow 2.6+ with apache-airflow-providers-google) and set the Airflow
Variables it reads (dv_project, dv_region, dv_bucket, dv_template, dv_image).

How the outcome reaches Airflow. A Flex Template launch only builds the
Dataflow job; the job's last step runs the checks and writes the results
(runners/in_pipeline.py), so there is no process exit code to read:

  exit code 1 (the run failed)   -> the Dataflow job fails -> the
                                    DataflowStartFlexTemplateOperator task
                                    fails (wait_until_finished=True).
  exit code 3 (blocking)         -> the job succeeds and writes status
                                    'blocking' into the span's run.json (and
                                    the runs table); the fail_on_blocking task
                                    reads it and fails with AirflowFailException
                                    (no retries: the data, not the run, is bad).
  exit code 0                    -> status 'ok'; downstream tasks run.

Backfills: catchup=True runs every missed day; or
  airflow dags backfill -s 2024-06-01 -e 2024-06-07 dv_validate_shop
Each run validates its own data interval's day: span = {{ ds }}.
"""

import datetime as dt
import json

from airflow import DAG
from airflow.exceptions import AirflowFailException
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import PythonOperator
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from airflow.providers.google.cloud.operators.dataflow import (
    DataflowStartFlexTemplateOperator)

PROJECT = Variable.get('dv_project', 'my-proj')
REGION = Variable.get('dv_region', 'europe-west1')
BUCKET = Variable.get('dv_bucket', 'my-bucket')
TEMPLATE = Variable.get(
    'dv_template', f'gs://{BUCKET}/templates/beam-data-validation.json')
IMAGE = Variable.get('dv_image', f'{REGION}-docker.pkg.dev/{PROJECT}/dv/'
                     f'beam-data-validation:latest')
STORE_ROOT = f'gs://{BUCKET}/dv'

DATASET = 'shop'
SPLIT = 'serving'
# ${span} is filled in by the job's config; {{ ds }} by Airflow.
DATASET_PATH = 'gs://' + BUCKET + '/events/dt=${span}/*.parquet'
# One Dataflow job name per day (a retry reuses it: names must be unique only
# among running jobs); valid and <= 63 characters.
JOB_NAME = 'dv-validate-shop-serving-{{ ds_nodash }}'

# The template's parameters (scripts/flex/metadata.json); each becomes a
# Hydra override of the validate job's config.
PARAMETERS = {
    'job': 'validate',
    'dataset_name': DATASET,
    'dataset_path': DATASET_PATH,
    'split': SPLIT,
    # The data interval's day: for the run at 2024-06-02 03:00, 2024-06-01.
    'span': '{{ ds }}',
    'run_date': '{{ data_interval_end | ds }}',
    'store_root': STORE_ROOT,
    'sink': 'bigquery',
    'fail_on': 'ERROR',
    'alert_pubsub_topic': f'projects/{PROJECT}/topics/dv-alerts',
    'overrides': 'dataset.slices=[country]',
}


def fail_on_blocking(span: str, job_name: str) -> str:
  """Reads the span's run.json and fails the task if the run was blocking."""
  path = f'dv/{DATASET}/split={SPLIT}/span={span}/run.json'
  record = json.loads(GCSHook().download(bucket_name=BUCKET, object_name=path))
  config = json.loads(record['config'])
  if config['runner'].get('job_name') != job_name:
    raise AirflowFailException(
        f'gs://{BUCKET}/{path} is from job {config["runner"].get("job_name")}'
        f', not {job_name}: the job did not record its outcome')
  if record['status'] == 'blocking':
    raise AirflowFailException(
        f'{DATASET}/{SPLIT} span {span}: blocking anomalies '
        f'({record["num_anomalies"]} anomalies, run {record["run_id"]}); '
        f'see the anomalies table')
  return record['status']


with DAG(
    dag_id='dv_validate_shop',
    schedule='0 3 * * *',  # daily, 03:00 UTC: yesterday's partition is done
    start_date=dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc),
    catchup=True,
    max_active_runs=1,
    default_args={'retries': 1, 'retry_delay': dt.timedelta(minutes=10)},
    tags=['data-validation'],
) as dag:
  validate = DataflowStartFlexTemplateOperator(
      task_id='validate',
      project_id=PROJECT,
      location=REGION,
      wait_until_finished=True,
      body={'launchParameter': {
          'jobName': JOB_NAME,
          'containerSpecGcsPath': TEMPLATE,
          'parameters': {**PARAMETERS, 'sdk_container_image': IMAGE},
          'environment': {
              'tempLocation': f'gs://{BUCKET}/dataflow/tmp',
              'stagingLocation': f'gs://{BUCKET}/dataflow/staging',
              'machineType': 'n2-standard-4',
              'maxWorkers': 20,
              'additionalUserLabels': {'dv_dag': 'dv_validate_shop'},
          },
      }},
  )
  gate = PythonOperator(
      task_id='fail_on_blocking',
      python_callable=fail_on_blocking,
      op_kwargs={'span': '{{ ds }}', 'job_name': JOB_NAME},
      retries=0,
  )
  # Whatever consumes the validated data goes after the gate.
  train = EmptyOperator(task_id='train_model')
  validate >> gate >> train
