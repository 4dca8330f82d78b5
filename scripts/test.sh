#!/usr/bin/env bash
# `npm test`: starts the real backing services (scripts/services.sh up), points the tests at them,
# and runs vitest with the arguments given (e.g. `npm test -- test/unit`). Exits with vitest's code.
# SECRETS_SERVICE_NO_SERVICES=1 skips the services, for tests that need none.
set -euo pipefail
source "$(dirname "$0")/node-env.sh"
cd "$PROJECT_ROOT"

if [ "${SECRETS_SERVICE_NO_SERVICES:-0}" != 1 ]; then
  bash scripts/services.sh up >/dev/null
fi
while IFS= read -r line; do
  export "${line?}"
done < <(bash scripts/services.sh env)

exec vitest run "$@"
