#!/bin/bash
# LocalStack init hook (docker-compose.yml mounts this folder at /etc/localstack/init/ready.d):
# makes the service's KMS key and its alias once LocalStack is ready.
# LocalStack's community edition forgets its keys on restart, so the key is made from a seed (key id
# + key material) written once to the localstack-data volume: each restart brings the same key back,
# and what was encrypted before still decrypts. Same scheme as scripts/kms-init.mjs on the host.
set -euo pipefail

alias_name="${KMS_KEY_ALIAS:-alias/secrets-service}"
seed_file="${KMS_KEY_SEED_FILE:-/var/lib/localstack/secrets-service-kms-seed}"

target="$(awslocal kms list-aliases --output text \
  --query "Aliases[?AliasName=='${alias_name}'].TargetKeyId | [0]")"
if [ -n "$target" ] && [ "$target" != None ]; then
  echo "kms: ${alias_name} -> ${target} (exists)"
  exit 0
fi

if [ ! -s "$seed_file" ]; then
  umask 077
  printf '%s %s\n' "$(cat /proc/sys/kernel/random/uuid)" "$(head -c 32 /dev/urandom | base64 -w0)" >"$seed_file"
fi
read -r key_id key_material <"$seed_file"

if ! awslocal kms describe-key --key-id "$key_id" >/dev/null 2>&1; then
  awslocal kms create-key \
    --description "secrets-service local key" \
    --tags "TagKey=_custom_id_,TagValue=${key_id}" "TagKey=_custom_key_material_,TagValue=${key_material}" \
    >/dev/null
fi
awslocal kms create-alias --alias-name "$alias_name" --target-key-id "$key_id"
echo "kms: ${alias_name} -> ${key_id}"
