#!/usr/bin/env bash
# `npm run bench`: starts the backing services (scripts/services.sh up), installs the load generators
# ghz and hey into the cache folder's bin/ (once: `go install`, about a minute), and runs bench/run.ts
# with the services' environment. Its flags follow `--`: `npm run bench -- --smoke`, `-- --help`.
set -euo pipefail
source "$(dirname "$0")/node-env.sh"
cd "$PROJECT_ROOT"

bash scripts/services.sh up >/dev/null
bash scripts/services.sh tools ghz hey >/dev/null
while IFS= read -r line; do
  export "${line?}"
done < <(bash scripts/services.sh env)
export BENCH_BIN_DIR="$CACHE_DIR/bin"
# Their CPU time is told apart from that of the rest of the machine.
BENCH_SERVICE_PIDS=""
for pid_file in "$CACHE_DIR"/run/*.pid; do
  BENCH_SERVICE_PIDS+="$(cat "$pid_file") "
done
export BENCH_SERVICE_PIDS
# `bench.sh proxy ...`: ProxyHttpRequest's overhead (bench/proxy.ts) instead of the main bench.
if [ "${1:-}" = proxy ]; then
  shift
  exec tsx bench/proxy.ts "$@"
fi
exec tsx bench/run.ts "$@"
