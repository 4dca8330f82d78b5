#!/usr/bin/env bash
# `npm test`: starts the real backing services (scripts/services.sh up), points the tests at them,
# and runs vitest with the arguments given (e.g. `npm test -- test/unit`). Exits with vitest's code,
# after a plain "N passed, N failed" line for CI.
# SECRETS_SERVICE_NO_SERVICES=1 skips the services, for tests that need none.
# SECRETS_SERVICE_TESTS=long runs the long set (*.long.test.ts) instead of the suite: `npm run test:long`.
set -euo pipefail
source "$(dirname "$0")/node-env.sh"
cd "$PROJECT_ROOT"

if [ "${SECRETS_SERVICE_NO_SERVICES:-0}" != 1 ]; then
  bash scripts/services.sh up >/dev/null
fi
while IFS= read -r line; do
  export "${line?}"
done < <(bash scripts/services.sh env)

report="$(mktemp -t vitest-report.XXXXXX.json)"
trap 'rm -f "$report"' EXIT
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || echo "tests: no report (vitest exit $status)"
exit "$status"
