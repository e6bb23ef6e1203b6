#!/usr/bin/env bash
# A daily Cloud Scheduler job that launches the Flex Template to validate
# yesterday's partition of one dataset.
#
#   PROJECT=my-proj REGION=europe-west1 BUCKET=my-bucket \
#   TEMPLATE=gs://my-bucket/templates/beam-data-validation.json IMAGE=... \
#   SCHEDULER_SA=dv-scheduler@my-proj.iam.gserviceaccount.com \
#   scripts/schedule/cloud_scheduler.sh shop 'gs://my-bucket/events/dt=${span}/*.parquet'
#
# Cloud Scheduler POSTs a fixed body to the Dataflow API's
# flexTemplates:launch, so the body names no date: the template's span
# defaults to ${dv_date:-1}, the day before the launch date (UTC). For
# backfills or a logical date, use Airflow (airflow_dag.py) or pass
# span=/run_date= with scripts/flex/launch.sh.
#
# SCHEDULER_SA needs roles/dataflow.developer and roles/iam.serviceAccountUser
# on the workers' service account (WORKER_SA, default: Compute Engine's).
# Cloud Scheduler does not see the validation outcome: a blocking run
# completes, and says so in run.json, the runs table and the alert
# (alert_webhook_url / alert_pubsub_topic).
set -euo pipefail

: "${PROJECT:?}" "${REGION:?}" "${BUCKET:?}" "${TEMPLATE:?}" "${IMAGE:?}"
: "${SCHEDULER_SA:?service account Cloud Scheduler calls Dataflow as}"
DATASET="${1:?dataset name}"
DATASET_PATH="${2:?dataset path: gs://bucket/... (may hold \$span placeholders)}"
JOB="${JOB:-validate}"
SPLIT="${SPLIT:-train}"
SCHEDULE="${SCHEDULE:-0 3 * * *}"   # 03:00 UTC: yesterday's partition is complete
NAME="dv-${JOB}-$(echo "$DATASET-$SPLIT" | tr 'A-Z_.' 'a-z--')"
NAME="${NAME:0:63}"

BODY="$(mktemp)"
trap 'rm -f "$BODY"' EXIT
# Values go to Python through the environment: no shell quoting inside JSON.
BUCKET="$BUCKET" IMAGE="$IMAGE" TEMPLATE="$TEMPLATE" \
DV_JOB="$JOB" DV_DATASET="$DATASET" DV_DATASET_PATH="$DATASET_PATH" \
DV_SPLIT="$SPLIT" DV_NAME="$NAME" python3 - "$BODY" <<'PY'
import json, os, sys
env = os.environ
parameters = {
    'job': env['DV_JOB'], 'dataset_name': env['DV_DATASET'],
    'dataset_path': env['DV_DATASET_PATH'], 'split': env['DV_SPLIT'],
    'store_root': env.get('STORE_ROOT', f"gs://{env['BUCKET']}/dv"),
    'sink': env.get('SINK', 'bigquery'),
    'sdk_container_image': env['IMAGE'],
}
for key in ('ALERT_WEBHOOK_URL', 'ALERT_PUBSUB_TOPIC', 'OVERRIDES'):
  if env.get(key):
    parameters[key.lower()] = env[key]
environment = {
    'tempLocation': f"gs://{env['BUCKET']}/dataflow/tmp",
    'stagingLocation': f"gs://{env['BUCKET']}/dataflow/staging",
    'machineType': env.get('MACHINE_TYPE', 'n2-standard-4'),
    'maxWorkers': int(env.get('MAX_WORKERS', '20')),
    'additionalUserLabels': {'dv_schedule': env['DV_NAME']},
}
if env.get('WORKER_SA'):
  environment['serviceAccountEmail'] = env['WORKER_SA']
body = {'launchParameter': {
    'jobName': env['DV_NAME'], 'containerSpecGcsPath': env['TEMPLATE'],
    'parameters': parameters, 'environment': environment}}
with open(sys.argv[1], 'w') as f:
  json.dump(body, f, indent=2)
PY

URI="https://dataflow.googleapis.com/v1b3/projects/${PROJECT}/locations/${REGION}/flexTemplates:launch"
# 'create' the first time, 'update' after that (whose flag for headers
# differs).
VERB=create HEADERS=--headers
if gcloud scheduler jobs describe "$NAME" --project "$PROJECT" \
    --location "$REGION" >/dev/null 2>&1; then
  VERB=update HEADERS=--update-headers
fi
gcloud scheduler jobs "$VERB" http "$NAME" --project "$PROJECT" \
    --location "$REGION" --schedule "$SCHEDULE" --time-zone UTC \
    --uri "$URI" --http-method POST \
    "$HEADERS" "Content-Type=application/json" \
    --message-body-from-file "$BODY" \
    --oauth-service-account-email "$SCHEDULER_SA" \
    --oauth-token-scope "https://www.googleapis.com/auth/cloud-platform"
echo "scheduled $NAME: '$SCHEDULE' (UTC) -> $URI"
