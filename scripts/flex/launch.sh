#!/usr/bin/env bash
# Launches one run of the Flex Template (what Cloud Scheduler and Airflow do
# on a schedule; see scripts/schedule/).
#
#   PROJECT=my-proj REGION=europe-west1 BUCKET=my-bucket IMAGE=... \
#   scripts/flex/launch.sh validate shop 'gs://my-bucket/events/dt=${span}/*.parquet' \
#       [span=2024-06-01] [split=serving] [overrides='dataset.slices=[country]']
#
# Without span=, the run validates the day before today (UTC): the
# template's default span is ${dv_date:-1}. The job's outcome (ok or
# blocking) is in the span's run.json and the runs table, see README.
set -euo pipefail

: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
: "${IMAGE:?set IMAGE (printed by scripts/flex/build.sh)}"
TEMPLATE="${TEMPLATE:-gs://${BUCKET}/templates/beam-data-validation.json}"
JOB="${1:?job: stats or validate}"
DATASET="${2:?dataset name}"
DATASET_PATH="${3:?dataset path gs://...}"
shift 3

# gcloud splits --parameters at commas; '^~^' makes '~' the separator, so
# values may hold commas (lists, globs such as {a,b}).
PARAMS="^~^job=${JOB}~dataset_name=${DATASET}~dataset_path=${DATASET_PATH}"
PARAMS+="~store_root=${STORE_ROOT:-gs://${BUCKET}/dv}~sink=${SINK:-bigquery}"
# Workers run the template's own image: nothing is installed at start-up.
PARAMS+="~sdk_container_image=${IMAGE}"
for kv in "$@"; do PARAMS+="~${kv}"; done

NAME="dv-${JOB}-$(echo "$DATASET" | tr 'A-Z_.' 'a-z--')-$(date -u +%Y%m%d-%H%M%S)"
gcloud dataflow flex-template run "${NAME:0:63}" --project "$PROJECT" \
    --region "$REGION" --template-file-gcs-location "$TEMPLATE" \
    --temp-location "gs://${BUCKET}/dataflow/tmp" \
    --staging-location "gs://${BUCKET}/dataflow/staging" \
    ${SERVICE_ACCOUNT:+--service-account-email "$SERVICE_ACCOUNT"} \
    --worker-machine-type "${MACHINE_TYPE:-n2-standard-4}" \
    --max-workers "${MAX_WORKERS:-20}" \
    --additional-user-labels "dv_job=${JOB}" \
    --parameters "$PARAMS"
