#!/usr/bin/env bash
# The real backing services of the tests, as host processes on loopback:
#   FerretDB (MongoDB wire protocol, SQLite backend)  127.0.0.1:${FERRETDB_PORT:-27017}
#   Redis                                             127.0.0.1:${REDIS_PORT:-6379}
#   LocalStack KMS                                    127.0.0.1:${KMS_PORT:-4566}
#
#   bash scripts/services.sh up     install what is missing, start what is down, wait, ensure the KMS key
#   bash scripts/services.sh down   stop them (SIGTERM, then SIGKILL), keeping their data
#   bash scripts/services.sh env    print the environment the service and the tests need
#   bash scripts/services.sh status
#   bash scripts/services.sh tools  install the command-line tools only (grpcurl), starting nothing;
#                                   for `npm run dev` users (`npm run tools`); `tools ghz hey` installs
#                                   the load generators of `npm run bench`
#
# Everything lives under $CACHE_DIR (see node-env.sh): bin/, data/, run/ (pid files), logs/.
# Why LocalStack needs the settings below is written down in scripts/SERVICES-NOTES.md.
set -euo pipefail
source "$(dirname "$0")/node-env.sh"

FERRETDB_VERSION=v1.24.2
GRPCURL_VERSION=v1.9.4
GHZ_VERSION=v0.120.0
HEY_VERSION=v0.1.5
LOCALSTACK_VERSION=4.14.0
# localstack-core 4.14.0 leaves these open; newer releases break it (cbor2 6 moved cbor2._decoder,
# pyOpenSSL 26 dropped X509.add_extensions, localstack-twisted 26 needs an undeclared service_identity).
LOCALSTACK_PIP_SPECS=(
  "localstack-core[base-runtime]==$LOCALSTACK_VERSION"
  "cbor2==5.9.0"
  "pyopenssl==25.3.0"
  "localstack-twisted==25.5.0"
)

HOST=127.0.0.1
FERRETDB_PORT="${FERRETDB_PORT:-27017}"
REDIS_PORT="${REDIS_PORT:-6379}"
KMS_PORT="${KMS_PORT:-4566}"
KMS_KEY_ALIAS="alias/secrets-service"

BIN_DIR="$CACHE_DIR/bin"
DATA_DIR="$CACHE_DIR/data"
RUN_DIR="$CACHE_DIR/run"
LOG_DIR="$CACHE_DIR/logs"
SRC_DIR="$CACHE_DIR/src"
VENV_DIR="$CACHE_DIR/venv-localstack"

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- install

ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  command -v apt-get >/dev/null || die "redis-server is missing and there is no apt-get: install Redis >= 7"
  [ "$(id -u)" = 0 ] || die "redis-server is missing: run 'sudo apt-get install -y redis-server'"
  log "installing redis-server (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
}

require_go() {
  command -v go >/dev/null || die "go is needed to build $1 (Go >= 1.24)"
}

ensure_ferretdb() {
  local bin="$BIN_DIR/ferretdb"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "version: $FERRETDB_VERSION"; then return 0; fi
  require_go ferretdb
  log "building FerretDB $FERRETDB_VERSION into $bin (first time: about two minutes)"
  # `go install ...@v1.24.2` builds a binary that panics at start: the module ships without the
  # build/version/version.txt that the release build generates. Build a copy of the module's own
  # source with that file written in.
  local mod_dir src="$SRC_DIR/ferretdb-$FERRETDB_VERSION"
  mod_dir="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -d "$mod_dir" ] || die "go mod download of FerretDB $FERRETDB_VERSION gave no source folder"
  rm -rf "$src"
  mkdir -p "$SRC_DIR" "$BIN_DIR"
  cp -R "$mod_dir" "$src"
  chmod -R u+w "$src"
  printf '%s\n' "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  printf 'secrets-service\n' >"$src/build/version/package.txt"
  (cd "$src" && go build -buildvcs=false -trimpath -o "$bin.tmp" ./cmd/ferretdb) >&2
  mv "$bin.tmp" "$bin"
  rm -rf "$src"
}

# ensure_go_tool NAME MODULE PACKAGE VERSION [NOTE]: `go install PACKAGE@VERSION` into $BIN_DIR, unless the
# binary there was built from MODULE at VERSION (or there is no Go to check with and a binary exists).
ensure_go_tool() {
  local name="$1" module="$2" package="$3" version="$4" note="${5:-}" bin="$BIN_DIR/$1" started=$SECONDS
  if [ -x "$bin" ] && command -v go >/dev/null &&
    go version -m "$bin" 2>/dev/null | grep -q "[[:space:]]$module[[:space:]]*$version\([[:space:]]\|$\)"; then
    return 0
  fi
  if [ -x "$bin" ] && ! command -v go >/dev/null; then return 0; fi
  command -v go >/dev/null || die "go is needed to build $name $version (Go >= 1.24)${note:+; $note}"
  log "installing $name $version into $bin"
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" go install "$package@$version" >&2
  log "installed $name $version in $((SECONDS - started))s"
}

ensure_grpcurl() {
  ensure_go_tool grpcurl github.com/fullstorydev/grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION" \
    "or install grpcurl yourself (https://github.com/fullstorydev/grpcurl/releases) and put it on PATH"
}

# The load generators of `npm run bench` (bench/): ghz for gRPC, hey for HTTP/1.1 (Connect JSON).
# ghz's newest tags are not in the module proxy's version list (`@latest` gives v0.93.0): pin them.
ensure_ghz() { ensure_go_tool ghz github.com/bojand/ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION"; }
ensure_hey() { ensure_go_tool hey github.com/rakyll/hey github.com/rakyll/hey "$HEY_VERSION"; }

# LocalStack 4.14's KMS code uses Python 3.12 syntax, so the venv needs Python >= 3.12.
find_python312() {
  local candidate candidates=()
  [ -n "${LOCALSTACK_PYTHON:-}" ] && candidates+=("$LOCALSTACK_PYTHON")
  candidates+=(python3.13 python3.12 python3)
  local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  candidates+=("$pyenv_root"/versions/3.13*/bin/python3 "$pyenv_root"/versions/3.12*/bin/python3)
  candidates+=(/usr/bin/python3.13 /usr/bin/python3.12)
  for candidate in "${candidates[@]}"; do
    if "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

ensure_localstack() {
  local stamp="$VENV_DIR/.secrets-service-spec" want
  want="${LOCALSTACK_PIP_SPECS[*]}"
  if [ -x "$VENV_DIR/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  local python
  python="$(find_python312)" ||
    die "LocalStack $LOCALSTACK_VERSION needs Python >= 3.12 with venv (none found; set LOCALSTACK_PYTHON)"
  log "installing LocalStack $LOCALSTACK_VERSION into $VENV_DIR (with $python)"
  rm -rf "$VENV_DIR"
  "$python" -m venv "$VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check --no-input "${LOCALSTACK_PIP_SPECS[@]}" >&2
  printf '%s' "$want" >"$stamp"
}

# ---------------------------------------------------------------- processes

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

# The pid in the service's pid file, when that process is alive and still runs the expected program.
running_pid() {
  local name="$1" pattern="$2" pid
  pid="$(cat "$(pid_file "$name")" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
  printf '%s' "$pid"
}

# The pid in the service's pid file while that process lives (a zombie does not count), whatever it runs
# yet: between the fork of `&` and the exec of the program, /proc shows this script's command line, and
# on a busy machine the first readiness poll can land in that window.
alive_pid() {
  local pid state
  pid="$(cat "$(pid_file "$1")" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)"
  [ "$state" != Z ] || return 1
  printf '%s' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Starts a program in its own session, detached from this shell, with its output in logs/NAME.log.
start_process() {
  local name="$1"
  shift
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  printf '\n--- %s start: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG_DIR/$name.log"
  # 9>&-: the service must not inherit (and so hold) this script's lock.
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null 9>&- &
  printf '%s' "$!" >"$(pid_file "$name")"
}

# Waits (bounded) until CHECK succeeds; fails with the log's tail when it does not or the process dies.
wait_ready() {
  local name="$1" pattern="$2" timeout="$3"
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! alive_pid "$name" >/dev/null; then
      log "$name exited during start; last lines of $LOG_DIR/$name.log:"
      tail -n 40 "$LOG_DIR/$name.log" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name did not answer within ${timeout}s; last lines of $LOG_DIR/$name.log:"
      tail -n 40 "$LOG_DIR/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.3
  done
  running_pid "$name" "$pattern" >/dev/null ||
    die "$name answers on its port, but pid $(cat "$(pid_file "$name")" 2>/dev/null) does not run $pattern"
}

# up_service NAME PATTERN PORT TIMEOUT CHECK_FN START_FN
up_service() {
  local name="$1" pattern="$2" port="$3" timeout="$4" check="$5" start="$6" pid
  if pid="$(running_pid "$name" "$pattern")"; then
    wait_ready "$name" "$pattern" "$timeout" "$check"
    log "$name already running (pid $pid) on $HOST:$port"
    return 0
  fi
  rm -f "$(pid_file "$name")"
  if port_open "$port"; then
    die "$HOST:$port is taken by a process this script did not start; stop it, or choose another port (FERRETDB_PORT, REDIS_PORT, KMS_PORT)"
  fi
  "$start"
  wait_ready "$name" "$pattern" "$timeout" "$check"
  log "$name started (pid $(cat "$(pid_file "$name")")) on $HOST:$port"
}

stop_service() {
  local name="$1" pattern="$2" pid i
  if ! pid="$(running_pid "$name" "$pattern")"; then
    rm -f "$(pid_file "$name")"
    log "$name is not running"
    return 0
  fi
  # Each service leads its own process group (setsid): signal the group, so helpers stop too.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM for 20s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$name")"
  log "$name stopped"
}

# ---------------------------------------------------------------- services

start_ferretdb() {
  mkdir -p "$DATA_DIR/ferretdb/sqlite" "$DATA_DIR/ferretdb/state"
  start_process ferretdb "$BIN_DIR/ferretdb" \
    --handler=sqlite \
    --sqlite-url="file:$DATA_DIR/ferretdb/sqlite/" \
    --state-dir="$DATA_DIR/ferretdb/state" \
    --listen-addr="$HOST:$FERRETDB_PORT" \
    --debug-addr=- \
    --telemetry=disable \
    --log-level=warn
}
ferretdb_ready() { port_open "$FERRETDB_PORT"; }

start_redis() {
  mkdir -p "$DATA_DIR/redis"
  start_process redis redis-server \
    --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
    --daemonize no --dir "$DATA_DIR/redis" \
    --appendonly yes --appendfilename appendonly.aof --dbfilename dump.rdb \
    --loglevel warning
}
redis_ready() { [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

start_localstack() {
  mkdir -p "$DATA_DIR/localstack"
  # OVERRIDE_IN_DOCKER=0: this machine has /.dockerenv, which would make LocalStack use /var/lib/localstack
  # and bind all interfaces. GATEWAY_SERVER=hypercorn: the default (twisted) ignores the host of
  # GATEWAY_LISTEN. DNS_ADDRESS=0: no DNS server on port 53. The rest keeps it off the network.
  start_process localstack env \
    OVERRIDE_IN_DOCKER=0 \
    FILESYSTEM_ROOT="$DATA_DIR/localstack" \
    GATEWAY_SERVER=hypercorn \
    GATEWAY_LISTEN="$HOST:$KMS_PORT" \
    LOCALSTACK_HOST="$HOST:$KMS_PORT" \
    SERVICES=kms \
    EAGER_SERVICE_LOADING=1 \
    DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    "$VENV_DIR/bin/python" -m localstack.runtime.main
}
localstack_ready() {
  curl -fsS --max-time 2 "http://$HOST:$KMS_PORT/_localstack/health" 2>/dev/null |
    grep -Eq '"kms": *"(available|running)"'
}

print_env() {
  cat <<EOF
MONGODB_URI=mongodb://$HOST:$FERRETDB_PORT/secrets
REDIS_URL=redis://$HOST:$REDIS_PORT
KMS_ENDPOINT=http://$HOST:$KMS_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
KMS_KEY_ID=$KMS_KEY_ALIAS
GRPCURL=$BIN_DIR/grpcurl
EOF
}

ensure_kms_key() {
  [ -d "$PROJECT_ROOT/node_modules/@aws-sdk/client-kms" ] || die "node_modules is missing: run 'npm ci' first"
  local key_id
  key_id="$(KMS_ENDPOINT="http://$HOST:$KMS_PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    KMS_KEY_ALIAS="$KMS_KEY_ALIAS" KMS_KEY_SEED_FILE="$DATA_DIR/kms/secrets-service-key.json" \
    node "$PROJECT_ROOT/scripts/kms-init.mjs")"
  log "KMS key $KMS_KEY_ALIAS -> $key_id"
}

cmd_up() {
  local started=$SECONDS
  ensure_redis
  ensure_ferretdb
  ensure_grpcurl
  ensure_localstack
  command -v curl >/dev/null || die "curl is needed for the LocalStack health check"
  up_service ferretdb "$BIN_DIR/ferretdb" "$FERRETDB_PORT" 30 ferretdb_ready start_ferretdb
  up_service redis "redis-server" "$REDIS_PORT" 20 redis_ready start_redis
  up_service localstack "localstack.runtime.main" "$KMS_PORT" 120 localstack_ready start_localstack
  ensure_kms_key
  log "up in $((SECONDS - started))s; environment:"
  print_env
}

# tools [NAME...]: grpcurl when no name is given; `tools ghz hey` installs the bench's load generators.
cmd_tools() {
  local name
  [ "$#" -gt 0 ] || set -- grpcurl
  for name in "$@"; do
    case "$name" in
      grpcurl | ghz | hey) "ensure_$name" ;;
      *) die "unknown tool $name (grpcurl, ghz, hey)" ;;
    esac
  done
  log "$* in $BIN_DIR; to use them from your shell:"
  printf 'export PATH="%s:$PATH"\n' "$BIN_DIR"
}

cmd_down() {
  stop_service localstack "localstack.runtime.main"
  stop_service redis "redis-server"
  stop_service ferretdb "$BIN_DIR/ferretdb"
}

cmd_status() {
  local name pattern pid status=0
  for name in ferretdb redis localstack; do
    case "$name" in
      ferretdb) pattern="$BIN_DIR/ferretdb" ;;
      redis) pattern="redis-server" ;;
      localstack) pattern="localstack.runtime.main" ;;
    esac
    if pid="$(running_pid "$name" "$pattern")"; then
      echo "$name: running (pid $pid)"
    else
      echo "$name: stopped"
      status=3
    fi
  done
  return "$status"
}

# One `up` or `down` at a time (two test runs may start together).
take_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/services.lock"
  flock -w 600 9 || die "another services.sh up/down still runs after 600s"
}

case "${1:-}" in
  up) take_lock && cmd_up ;;
  down) take_lock && cmd_down ;;
  env) print_env ;;
  status) cmd_status ;;
  tools) shift && take_lock && cmd_tools "$@" ;;
  *)
    echo "usage: bash scripts/services.sh up|down|env|status|tools [grpcurl|ghz|hey...]" >&2
    exit 2
    ;;
esac
