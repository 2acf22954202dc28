#!/usr/bin/env bash
# Starts a local cluster (a gateway and three storage-node processes, data in ./dev-data)
# and prints the S3 endpoint and credentials. Ctrl-C stops it; the data stays.
set -euo pipefail
cd "$(dirname "$0")/.."
S3STORE_SKIP_CLIENTS=1 scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/s3store-target}"
cargo build --bin gateway --bin storage-node
exec "$CARGO_TARGET_DIR/debug/gateway" dev "$@"
