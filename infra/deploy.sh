#!/usr/bin/env bash
# Deploy the Face API to your own Azure subscription (see infra/README.md):
#   infra/deploy.sh -g RESOURCE_GROUP [-l LOCATION] [-p PARAMETERS_FILE]
# -l is needed only when the resource group does not exist yet; -p defaults to
# infra/main.parameters.dev.json. Re-running is safe: every step is idempotent, and an existing
# API key is kept.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA="$ROOT/infra"
MAIN_DEPLOYMENT="face-api-main"
EVENTGRID_DEPLOYMENT="face-api-eventgrid"

resource_group=""
location=""
parameters="$INFRA/main.parameters.dev.json"

usage() {
  sed -n '2,6s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

step() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

while getopts "g:l:p:h" opt; do
  case "$opt" in
    g) resource_group="$OPTARG" ;;
    l) location="$OPTARG" ;;
    p) parameters="$OPTARG" ;;
    *) usage ;;
  esac
done
[[ -n "$resource_group" ]] || usage
[[ -f "$parameters" ]] || die "parameters file $parameters not found."

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

step "Checking prerequisites"
for tool in az make python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (see infra/README.md)."
done
az account show --output none 2>/dev/null ||
  die "not logged in to Azure: run 'az login' (and 'az account set --subscription <id>')."
echo "Subscription: $(az account show --query '[name, id]' --output tsv | tr '\t' ' ')"

# Whoever runs this gets 'Key Vault Secrets Officer' on the new vault, to store the API key.
# DEPLOYER_PRINCIPAL_ID overrides the detection (e.g. when logged in as a managed identity).
deployer_id="${DEPLOYER_PRINCIPAL_ID:-}"
if [[ "$(az account show --query user.type --output tsv)" == "user" ]]; then
  deployer_type="User"
  [[ -n "$deployer_id" ]] || deployer_id="$(az ad signed-in-user show --query id --output tsv)"
else
  deployer_type="ServicePrincipal"
  [[ -n "$deployer_id" ]] ||
    deployer_id="$(az ad sp show --id "$(az account show --query user.name --output tsv)" --query id --output tsv)"
fi

step "Building the models (make models)"
make -C "$ROOT" models

step "Packaging the app with its models"
package="$workdir/face-api.zip"
python3 "$INFRA/package.py" "$package"

step "Deploying the infrastructure (infra/main.bicep) to resource group $resource_group"
if [[ "$(az group exists --name "$resource_group")" != "true" ]]; then
  [[ -n "$location" ]] || die "resource group $resource_group does not exist: pass -l LOCATION to create it."
  az group create --name "$resource_group" --location "$location" --output none
fi
az deployment group create --resource-group "$resource_group" --name "$MAIN_DEPLOYMENT" \
  --template-file "$INFRA/main.bicep" --parameters "@$parameters" \
  --parameters deployerPrincipalId="$deployer_id" deployerPrincipalType="$deployer_type" \
  --output none

output() {
  az deployment group show --resource-group "$resource_group" --name "$MAIN_DEPLOYMENT" \
    --query "properties.outputs.$1.value" --output tsv
}
app="$(output functionAppName)"
endpoint="$(output endpoint)"
storage="$(output storageAccountName)"
vault="$(output keyVaultName)"
secret="$(output apiKeysSecretName)"
enrollment_container="$(output enrollmentContainerName)"
dead_letter_container="$(output deadLetterContainerName)"

step "Storing an API key in Key Vault $vault (unless one exists)"
# The role assignment made by the deployment can take a few minutes to apply: retry until the
# vault lets us list its secrets.
count=""
for _ in $(seq 30); do
  if count="$(az keyvault secret list --vault-name "$vault" \
    --query "length([?name=='$secret'])" --output tsv 2>/dev/null)"; then
    break
  fi
  count=""
  sleep 10
done
[[ -n "$count" ]] || die "cannot read secrets of $vault: you need 'Key Vault Secrets Officer' on it."
if [[ "$count" == "0" ]]; then
  # Written to a private file, not passed as an argument, so it never shows in the process list.
  key_file="$workdir/api-key"
  (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(16), end="")' >"$key_file")
  az keyvault secret set --vault-name "$vault" --name "$secret" --file "$key_file" --output none
  echo "Generated a new API key."
else
  echo "Kept the existing API key."
fi

step "Publishing the package to $app (remote build installs requirements.txt)"
az functionapp deployment source config-zip --resource-group "$resource_group" --name "$app" \
  --src "$package" --build-remote true --output none

step "Waiting for the host to load the blob trigger"
# The blobs_extension system key that Event Grid calls the trigger with exists only once the
# host has started with the new code; a request wakes it up.
ready=""
for _ in $(seq 30); do
  curl --silent --output /dev/null --max-time 30 "$endpoint/health" || true
  if [[ "$(az functionapp keys list --resource-group "$resource_group" --name "$app" \
    --query 'systemKeys.blobs_extension != null' --output tsv 2>/dev/null)" == "true" ]]; then
    ready="yes"
    break
  fi
  sleep 10
done
[[ -n "$ready" ]] || die "the app has no blobs_extension key yet; check its logs, then re-run this script."

step "Subscribing the enrollment blob trigger to Event Grid (infra/eventgrid.bicep)"
az deployment group create --resource-group "$resource_group" --name "$EVENTGRID_DEPLOYMENT" \
  --template-file "$INFRA/eventgrid.bicep" \
  --parameters functionAppName="$app" storageAccountName="$storage" \
  enrollmentContainerName="$enrollment_container" deadLetterContainerName="$dead_letter_container" \
  --output none

cat <<EOF

Deployed.
  Endpoint:   $endpoint
  API key:    az keyvault secret show --vault-name $vault --name $secret --query value --output tsv
              (comma-separated while keys rotate; any one of them works)
  Try it:     curl -H "Ocp-Apim-Subscription-Key: <key>" $endpoint/health
  Enrollment: upload blobs to container '$enrollment_container' of storage account '$storage'
EOF
