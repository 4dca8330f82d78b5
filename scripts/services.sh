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
# A Redis Cluster, apart from the services above (for the Cluster tests, and for trying the service on one):
#   bash scripts/services.sh cluster-up      3 masters, no replicas: redis-server in cluster mode on
#                                            127.0.0.1:7001-7003 (bus ports 17001-17003), formed with
#                                            `redis-cli --cluster create ... --cluster-replicas 0`; waits
#                                            until every node says cluster_state:ok, every slot served and
#                                            every node connected. On a rerun it starts the nodes that are
#                                            down and leaves a formed cluster alone; nodes that are not one
#                                            formed cluster of exactly these nodes (a stale nodes.conf, an
#                                            interrupted create) are flushed, reset and formed again.
#   bash scripts/services.sh cluster-down    stop its nodes, keeping their data (nodes.conf, AOF);
#                                            `cluster-down --purge` also removes their data and logs
#   bash scripts/services.sh cluster-status  each node's pid, and whether the cluster is healthy
#   Point the service at it with REDIS_URL=$REDIS_CLUSTER_URL (`env` prints REDIS_CLUSTER_URL).
#   Settings: REDIS_CLUSTER_PORTS ("7001 7002 7003"), REDIS_CLUSTER_BUS_PORTS (default: each port + 10000),
#   REDIS_CLUSTER_NAME ("cluster"; another name is another cluster, with its own data, pid files, logs
#   and lock: each Cluster test file runs one of its own), REDIS_CLUSTER_NODE_TIMEOUT (ms, 3000),
#   REDIS_CLUSTER_FULL_COVERAGE (cluster-require-full-coverage, "no": with one master down, the others
#   go on serving their slots). Data under $CACHE_DIR/data/redis-cluster[-NAME]/PORT.
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
REDIS_CLUSTER_URL=$(cluster_url)
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

# ---------------------------------------------------------------- Redis Cluster (cluster-up, cluster-down)

REDIS_CLUSTER_NAME="${REDIS_CLUSTER_NAME:-cluster}"
read -r -a CLUSTER_PORTS <<<"${REDIS_CLUSTER_PORTS:-7001 7002 7003}"
read -r -a CLUSTER_BUS_PORTS <<<"${REDIS_CLUSTER_BUS_PORTS:-}"
REDIS_CLUSTER_NODE_TIMEOUT="${REDIS_CLUSTER_NODE_TIMEOUT:-3000}"
REDIS_CLUSTER_FULL_COVERAGE="${REDIS_CLUSTER_FULL_COVERAGE:-no}"
CLUSTER_SLOTS=16384

check_cluster_settings() {
  [[ "$REDIS_CLUSTER_NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || die "REDIS_CLUSTER_NAME must be letters, digits, '.', '_' or '-'"
  [ "${#CLUSTER_PORTS[@]}" -ge 3 ] || die "REDIS_CLUSTER_PORTS must name at least 3 ports (a cluster needs 3 masters)"
  if [ "${#CLUSTER_BUS_PORTS[@]}" -gt 0 ] && [ "${#CLUSTER_BUS_PORTS[@]}" -ne "${#CLUSTER_PORTS[@]}" ]; then
    die "REDIS_CLUSTER_BUS_PORTS must name one bus port per port of REDIS_CLUSTER_PORTS"
  fi
  local port
  for port in "${CLUSTER_PORTS[@]}" "${CLUSTER_BUS_PORTS[@]}"; do
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "not a port: $port"
  done
  for port in "${CLUSTER_PORTS[@]}"; do
    [ "$(cluster_bus_port "$port")" -le 65535 ] || die "the bus port of $port would be over 65535: set REDIS_CLUSTER_BUS_PORTS"
  done
  [[ "$REDIS_CLUSTER_NODE_TIMEOUT" =~ ^[0-9]+$ ]] || die "REDIS_CLUSTER_NODE_TIMEOUT must be milliseconds"
  [[ "$REDIS_CLUSTER_FULL_COVERAGE" =~ ^(yes|no)$ ]] || die "REDIS_CLUSTER_FULL_COVERAGE must be yes or no"
}

# The cluster's files: data/ID/PORT/, run/ID-PORT.pid, logs/ID-PORT.log, run/ID.lock.
cluster_id() {
  if [ "$REDIS_CLUSTER_NAME" = cluster ]; then printf 'redis-cluster'; else printf 'redis-cluster-%s' "$REDIS_CLUSTER_NAME"; fi
}
cluster_node() { printf '%s-%s' "$(cluster_id)" "$1"; }
# A node in /proc: redis-server's own title ("redis-server 127.0.0.1:7001 [cluster]") or, before it
# sets it, its arguments ("--port 7001").
cluster_pattern() { printf 'redis-server.*[: ]%s\\b' "$1"; }
cluster_bus_port() {
  local i
  for i in "${!CLUSTER_PORTS[@]}"; do
    if [ "${CLUSTER_PORTS[$i]}" = "$1" ]; then
      printf '%s' "${CLUSTER_BUS_PORTS[$i]:-$(($1 + 10000))}"
      return 0
    fi
  done
  return 1
}
cluster_url() {
  local port nodes=()
  for port in "${CLUSTER_PORTS[@]}"; do nodes+=("$HOST:$port"); done
  local IFS=,
  printf 'redis-cluster://%s' "${nodes[*]}"
}

# redis-cli against one node, bounded (a paused node never answers); nothing on stdout when it fails.
cluster_cli() {
  local port="$1"
  shift
  { timeout 5 redis-cli -h "$HOST" -p "$port" "$@" 2>/dev/null || true; } | tr -d '\r'
}

start_cluster_node() {
  local port="$1" dir
  dir="$DATA_DIR/$(cluster_id)/$port"
  mkdir -p "$dir"
  start_process "$(cluster_node "$port")" redis-server \
    --bind "$HOST" --port "$port" --protected-mode yes \
    --daemonize no --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-port "$(cluster_bus_port "$port")" \
    --cluster-node-timeout "$REDIS_CLUSTER_NODE_TIMEOUT" \
    --cluster-require-full-coverage "$REDIS_CLUSTER_FULL_COVERAGE" \
    --appendonly yes --appendfilename appendonly.aof --dbfilename dump.rdb \
    --loglevel warning
}
cluster_node_ready() { [ "$(cluster_cli "$1" ping)" = PONG ]; }

cluster_node_up() {
  local port="$1" name pattern pid bus
  name="$(cluster_node "$port")"
  pattern="$(cluster_pattern "$port")"
  bus="$(cluster_bus_port "$port")"
  if pid="$(running_pid "$name" "$pattern")"; then
    wait_ready "$name" "$pattern" 20 cluster_node_ready "$port"
    log "$name already running (pid $pid) on $HOST:$port"
    return 0
  fi
  rm -f "$(pid_file "$name")"
  ! port_open "$port" || die "$HOST:$port is taken by a process this script did not start; choose other ports (REDIS_CLUSTER_PORTS)"
  ! port_open "$bus" || die "$HOST:$bus (the bus port of $port) is taken; choose other ports (REDIS_CLUSTER_BUS_PORTS)"
  start_cluster_node "$port"
  wait_ready "$name" "$pattern" 20 cluster_node_ready "$port"
  log "$name started (pid $(cat "$(pid_file "$name")")) on $HOST:$port (bus $bus)"
}

# What one node believes the cluster is: "id host:port role slots" per node it knows, sorted.
cluster_view() {
  cluster_cli "$1" cluster nodes | awk '
    NF >= 8 {
      address = $2
      sub(/@.*/, "", address)
      role = "other"
      if ($3 ~ /(^|,)master(,|$)/) role = "master"
      if ($3 ~ /(^|,)slave(,|$)/) role = "replica"
      if ($3 ~ /handshake|noaddr/) role = "other"
      slots = 0
      for (i = 9; i <= NF; i++) {
        if ($i ~ /^\[/) continue # a slot being migrated or imported
        n = split($i, range, "-")
        slots += (n == 2) ? range[2] - range[1] + 1 : 1
      }
      print $1, address, role, slots
    }' | sort
}

# Formed: every node knows exactly the configured nodes, all masters with slots, all the slots between
# them, and the nodes agree (this is their nodes.conf; whether they reach each other is cluster_healthy's).
cluster_formed() {
  local port view first="" want got
  want="$(printf "$HOST:%s\n" "${CLUSTER_PORTS[@]}" | sort)"
  for port in "${CLUSTER_PORTS[@]}"; do
    view="$(cluster_view "$port")"
    [ -n "$view" ] || return 1
    if [ -z "$first" ]; then first="$view"; elif [ "$view" != "$first" ]; then return 1; fi
  done
  got="$(awk '{ print $2 }' <<<"$first" | sort)"
  [ "$got" = "$want" ] || return 1
  awk -v total="$CLUSTER_SLOTS" '
    $3 != "master" || $4 == 0 { bad = 1 }
    { sum += $4 }
    END { exit (bad || sum != total) }' <<<"$first"
}

# Empty: every node knows only itself and has no slot and no key (all `--cluster create` accepts).
cluster_empty() {
  local port info
  for port in "${CLUSTER_PORTS[@]}"; do
    info="$(cluster_cli "$port" cluster info)"
    grep -qx 'cluster_known_nodes:1' <<<"$info" || return 1
    grep -qx 'cluster_slots_assigned:0' <<<"$info" || return 1
    [ "$(cluster_cli "$port" dbsize)" = 0 ] || return 1
  done
}

# Healthy: on every node, cluster_state:ok, every slot served by a node not flagged as failing, every
# configured node known and connected.
cluster_healthy() {
  local port info
  for port in "${CLUSTER_PORTS[@]}"; do
    info="$(cluster_cli "$port" cluster info)"
    grep -qx 'cluster_state:ok' <<<"$info" || return 1
    grep -qx "cluster_slots_ok:$CLUSTER_SLOTS" <<<"$info" || return 1
    grep -qx "cluster_known_nodes:${#CLUSTER_PORTS[@]}" <<<"$info" || return 1
    cluster_cli "$port" cluster nodes |
      awk 'NF >= 8 && ($3 ~ /fail|handshake|noaddr/ || $8 != "connected") { bad = 1 } END { exit bad }' || return 1
  done
}

wait_cluster_healthy() {
  local timeout="$1" deadline=$((SECONDS + $1)) port
  until cluster_healthy; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$(cluster_id) is not healthy after ${timeout}s; what each node says:"
      for port in "${CLUSTER_PORTS[@]}"; do
        printf -- '--- %s:%s\n' "$HOST" "$port" >&2
        cluster_cli "$port" cluster info | grep -E '^cluster_(state|slots_ok|known_nodes):' >&2 || true
        cluster_cli "$port" cluster nodes >&2 || true
      done
      exit 1
    fi
    sleep 0.2
  done
}

cmd_cluster_up() {
  local started=$SECONDS port
  ensure_redis
  for port in "${CLUSTER_PORTS[@]}"; do cluster_node_up "$port"; done
  if cluster_formed; then
    log "$(cluster_id) already formed"
  else
    if ! cluster_empty; then
      # Left by another cluster on these ports, or by an interrupted create. It is a cache: start afresh.
      log "$(cluster_id): the nodes are not one formed cluster of ${CLUSTER_PORTS[*]} (a stale nodes.conf?): flushing and resetting them"
      for port in "${CLUSTER_PORTS[@]}"; do
        [ "$(cluster_cli "$port" flushall)" = OK ] || die "FLUSHALL failed on $HOST:$port"
        [ "$(cluster_cli "$port" cluster reset hard)" = OK ] || die "CLUSTER RESET HARD failed on $HOST:$port"
      done
    fi
    log "$(cluster_id): creating the cluster"
    local nodes=()
    for port in "${CLUSTER_PORTS[@]}"; do nodes+=("$HOST:$port"); done
    timeout 120 redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >&2 ||
      die "redis-cli --cluster create failed (its output is above)"
  fi
  wait_cluster_healthy 120
  log "$(cluster_id) healthy (cluster_state:ok) in $((SECONDS - started))s; point the service at it with:"
  printf 'REDIS_URL=%s\n' "$(cluster_url)"
}

cmd_cluster_down() {
  local purge=0 port
  case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) die "cluster-down takes only --purge" ;;
  esac
  for port in "${CLUSTER_PORTS[@]}"; do stop_service "$(cluster_node "$port")" "$(cluster_pattern "$port")"; done
  if [ "$purge" = 1 ]; then
    rm -rf "${DATA_DIR:?}/$(cluster_id)"
    for port in "${CLUSTER_PORTS[@]}"; do rm -f "$LOG_DIR/$(cluster_node "$port").log"; done
    rm -f "$RUN_DIR/$(cluster_id).lock"
    log "$(cluster_id): data and logs removed"
  fi
}

cmd_cluster_status() {
  local port pid status=0
  for port in "${CLUSTER_PORTS[@]}"; do
    if pid="$(running_pid "$(cluster_node "$port")" "$(cluster_pattern "$port")")"; then
      echo "$(cluster_node "$port"): running (pid $pid) on $HOST:$port"
    else
      echo "$(cluster_node "$port"): stopped"
      status=3
    fi
  done
  if [ "$status" = 0 ] && cluster_healthy; then
    echo "$(cluster_id): healthy"
  else
    echo "$(cluster_id): not healthy"
    status=3
  fi
  return "$status"
}

# One cluster-up or cluster-down per cluster at a time; apart from the lock of `up` and `down`.
take_cluster_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/$(cluster_id).lock"
  flock -w 600 9 || die "another cluster-up or cluster-down of $(cluster_id) still runs after 600s"
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
  cluster-up) check_cluster_settings && take_cluster_lock && cmd_cluster_up ;;
  cluster-down) shift && check_cluster_settings && take_cluster_lock && cmd_cluster_down "$@" ;;
  cluster-status) check_cluster_settings && cmd_cluster_status ;;
  *)
    echo "usage: bash scripts/services.sh up|down|env|status|tools [grpcurl|ghz|hey...]|cluster-up|cluster-down [--purge]|cluster-status" >&2
    exit 2
    ;;
esac
