#!/usr/bin/env bash
# `node` as production runs it, with the arguments given: `npm start` (scripts/start.sh), the
# benchmark and its cache-bound run go through here, so they measure what ships (the container sets
# the same in its Dockerfile).
# - a 16 MiB young generation: under load V8 otherwise grows the semi-spaces to 64 MiB each (128 MiB
#   committed for garbage that lives microseconds); measured in dev mode: RSS 387 -> 261 MB after the
#   same load, CPU per request +2%.
# - jemalloc when the machine has it (Debian: libjemalloc2, which redis-server also pulls in): a
#   further 35-50 MB less RSS in the same runs, as glibc's malloc keeps more of what the native
#   buffers of crypto and sockets freed. SECRETS_SERVICE_JEMALLOC=0 opts out.
set -euo pipefail
source "$(dirname "$0")/node-env.sh"
cd "$PROJECT_ROOT"
if [ -z "${LD_PRELOAD:-}" ] && [ "${SECRETS_SERVICE_JEMALLOC:-1}" = 1 ]; then
  for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
    if [ -r "$lib" ]; then
      export LD_PRELOAD="$lib"
      break
    fi
  done
fi
exec node --max-semi-space-size=16 "$@"
