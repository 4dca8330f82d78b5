#!/usr/bin/env bash
# Regenerates gen/ from proto/ (and the health/reflection protos shipped by npm packages).
set -euo pipefail
source "$(dirname "$0")/node-env.sh"
cd "$PROJECT_ROOT"
buf lint
buf generate
