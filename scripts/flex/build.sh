#!/usr/bin/env bash
# Builds the Flex Template: the container image (Cloud Build, from
# scripts/flex/Dockerfile) and the template spec file in Cloud Storage.
#
#   PROJECT=my-proj REGION=europe-west1 BUCKET=my-bucket scripts/flex/build.sh
#
# Needs: gcloud (authenticated), an Artifact Registry Docker repository
# ($REPOSITORY, created below if missing) and the bucket. Prints the image
# and template paths that scripts/flex/launch.sh and scripts/schedule/ use.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
REPOSITORY="${REPOSITORY:-dv}"
TAG="${TAG:-$(git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)}"
IMAGE="${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/beam-data-validation:${TAG}}"
TEMPLATE="${TEMPLATE:-gs://${BUCKET}/templates/beam-data-validation.json}"

gcloud artifacts repositories describe "$REPOSITORY" --project "$PROJECT" \
    --location "$REGION" >/dev/null 2>&1 ||
  gcloud artifacts repositories create "$REPOSITORY" --project "$PROJECT" \
    --location "$REGION" --repository-format docker

# The image: the Beam SDK image + the locked stack + this package.
gcloud builds submit --project "$PROJECT" --region "$REGION" \
    --config scripts/flex/cloudbuild.yaml --substitutions "_IMAGE=${IMAGE}" .

# The template spec: the image and the parameters of metadata.json.
gcloud dataflow flex-template build "$TEMPLATE" --project "$PROJECT" \
    --image "$IMAGE" --sdk-language PYTHON \
    --metadata-file scripts/flex/metadata.json

echo "IMAGE=${IMAGE}"
echo "TEMPLATE=${TEMPLATE}"
