#!/usr/bin/env bash
# The tools that generate and test the Python and Go clients (gen/python, gen/go), pinned, installed
# once into $CACHE_DIR/client-tools (see node-env.sh for CACHE_DIR); reruns only check and print nothing.
#
#   bash scripts/client-tools.sh          everything below
#   bash scripts/client-tools.sh tools    protoc-gen-go and protoc-gen-go-grpc (go install), and a Python
#                                         venv with grpcio-tools, grpcio and protobuf
#   bash scripts/client-tools.sh package  (re)install gen/python into the venv when its files changed
#                                         (a real, non-editable install, so the package itself is tested)
#   bash scripts/client-tools.sh modules  fetch the Go modules of gen/go and test/clients/go (go mod download)
#   bash scripts/client-tools.sh env      print CLIENT_TOOLS_BIN=... and CLIENT_PYTHON=..., one a line
#   bash scripts/client-tools.sh shell    the same as `export` lines: eval "$(bash scripts/client-tools.sh shell)"
#                                         also puts CLIENT_TOOLS_BIN and the venv's bin/ first on PATH
set -euo pipefail
source "$(dirname "$0")/node-env.sh"

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
# grpcio-tools 1.85.1 requires grpcio >= 1.85.1, protobuf >= 7.35.1, < 8 and setuptools >= 77.0.1
# (setuptools also builds gen/python); typing-extensions is grpcio's one dependency.
CLIENT_PIP_SPECS=(
  "grpcio-tools==1.85.1"
  "grpcio==1.85.1"
  "protobuf==7.36.2"
  "setuptools==80.9.0"
  "typing-extensions==4.15.0"
)

TOOLS_DIR="$CACHE_DIR/client-tools"
TOOLS_BIN="$TOOLS_DIR/bin"
VENV_DIR="$TOOLS_DIR/venv"
CLIENT_PYTHON="$VENV_DIR/bin/python"

CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT

log() { printf 'client-tools: %s\n' "$*" >&2; }
die() { printf 'client-tools: error: %s\n' "$*" >&2; exit 1; }

# ensure_go_plugin NAME MODULE PACKAGE VERSION: `go install PACKAGE@VERSION` into $TOOLS_BIN unless the
# binary there was built from MODULE at VERSION.
ensure_go_plugin() {
  local name="$1" module="$2" package="$3" version="$4" bin="$TOOLS_BIN/$1" started=$SECONDS
  command -v go >/dev/null || die "go is needed to build $name $version (Go >= 1.24)"
  if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null |
    grep -q "^[[:space:]]*mod[[:space:]]\+$module[[:space:]]\+$version\([[:space:]]\|$\)"; then
    return 0
  fi
  log "installing $name $version into $bin"
  mkdir -p "$TOOLS_BIN"
  GOBIN="$TOOLS_BIN" go install "$package@$version" >&2
  log "installed $name $version in $((SECONDS - started))s"
}

find_python() {
  local candidate
  for candidate in ${CLIENTS_PYTHON:+"$CLIENTS_PYTHON"} python3 python3.13 python3.12 python3.11 python3.10; do
    if "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  local stamp="$VENV_DIR/.secrets-service-spec" want python started=$SECONDS
  want="${CLIENT_PIP_SPECS[*]}"
  if [ -x "$CLIENT_PYTHON" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  python="$(find_python)" || die "Python >= 3.10 with venv is needed for grpcio-tools (none found; set CLIENTS_PYTHON)"
  log "installing ${CLIENT_PIP_SPECS[*]} into $VENV_DIR (with $python)"
  rm -rf "$VENV_DIR"
  "$python" -m venv "$VENV_DIR"
  "$CLIENT_PYTHON" -m pip install -q --disable-pip-version-check --no-input "${CLIENT_PIP_SPECS[@]}" >&2
  printf '%s' "$want" >"$stamp"
  log "installed the Python tools in $((SECONDS - started))s"
}

cmd_tools() {
  ensure_go_plugin protoc-gen-go google.golang.org/protobuf \
    google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
  ensure_go_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
    google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
  ensure_venv
}

# A digest of gen/python's files (the venv's spec too): the install is redone when it changes.
python_package_digest() {
  (
    cd "$PROJECT_ROOT/gen/python"
    printf '%s\n' "${CLIENT_PIP_SPECS[*]}"
    find . -type f -not -path '*/__pycache__/*' -not -path './build/*' -not -path '*.egg-info/*' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -d' ' -f1
}

ensure_python_package() {
  [ -f "$PROJECT_ROOT/gen/python/pyproject.toml" ] || die "gen/python/pyproject.toml is missing"
  local stamp="$VENV_DIR/.secrets-service-client" want copy
  want="$(python_package_digest)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  log "installing gen/python (secrets-service-client) into $VENV_DIR"
  # Built from a copy: setuptools writes build/ and *.egg-info beside the sources, and gen/ must stay clean.
  copy="$(mktemp -d -t secrets-service-client.XXXXXX)"
  CLEANUP+=("$copy")
  (cd "$PROJECT_ROOT/gen/python" && tar -c --exclude=__pycache__ --exclude=./build --exclude='*.egg-info' .) |
    tar -x -C "$copy"
  "$CLIENT_PYTHON" -m pip install -q --disable-pip-version-check --no-input --no-build-isolation \
    --no-deps --force-reinstall "$copy" >&2
  # The package's declared grpcio/protobuf ranges must accept the pinned runtime.
  local check
  check="$("$CLIENT_PYTHON" -m pip check --disable-pip-version-check 2>&1)" || die "pip check: $check"
  printf '%s' "$want" >"$stamp"
}

ensure_go_modules() {
  local dir
  command -v go >/dev/null || die "go is needed for the Go modules of gen/go and test/clients/go (Go >= 1.26)"
  for dir in gen/go test/clients/go; do
    (cd "$PROJECT_ROOT/$dir" && go mod download) >&2
  done
}

cmd_package() {
  ensure_venv
  ensure_python_package
}

print_env() {
  cat <<EOF
CLIENT_TOOLS_BIN=$TOOLS_BIN
CLIENT_PYTHON=$CLIENT_PYTHON
EOF
}

print_shell() {
  printf 'export CLIENT_TOOLS_BIN=%q\n' "$TOOLS_BIN"
  printf 'export CLIENT_PYTHON=%q\n' "$CLIENT_PYTHON"
  printf 'export PATH=%q:%q:"$PATH"\n' "$TOOLS_BIN" "$VENV_DIR/bin"
}

take_lock() {
  mkdir -p "$TOOLS_DIR"
  exec 9>"$TOOLS_DIR/install.lock"
  flock -w 900 9 || die "another client-tools.sh install still runs after 900s"
}

case "${1:-all}" in
  all) take_lock && cmd_tools && cmd_package && ensure_go_modules ;;
  tools) take_lock && cmd_tools ;;
  package) take_lock && cmd_package ;;
  modules) ensure_go_modules ;;
  env) print_env ;;
  shell) print_shell ;;
  *)
    echo "usage: $0 [all|tools|package|modules|env|shell]" >&2
    exit 2
    ;;
esac
