#!/usr/bin/env bash
# `npm start`: the built service, run as production runs it (scripts/production-node.sh).
exec bash "$(dirname "$0")/production-node.sh" --enable-source-maps dist/src/main.js "$@"
