#!/usr/bin/env bash
# Runs a command with Node >= 22 and node_modules/.bin on PATH.
set -euo pipefail
source "$(dirname "$0")/node-env.sh"
exec "$@"
