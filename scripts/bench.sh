#!/usr/bin/env bash
# Prints PUT/GET/DELETE throughput (ops/s, MiB/s, latency percentiles, ratio to this machine's
# single-core MD5) next to the MD5 and AES-256-GCM yardsticks measured in the same run.
#
# Against a running endpoint: S3_ENDPOINT=http://host:port AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=..
# Otherwise it starts a `gateway dev` cluster (3 nodes, n=3 w=2, fsync and encryption on) in a
# temporary folder, and removes it afterwards. Extra arguments go to the bench binary
# (`--sizes 4KiB,1MiB,64MiB --concurrency 8 --duration 10 --max-requests 2000 --json`).
set -euo pipefail
cd "$(dirname "$0")/.."
S3STORE_SKIP_CLIENTS=1 scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/s3store-target}"
cargo build -q --bin gateway --bin bench
bin="$CARGO_TARGET_DIR/debug"

if [ -n "${S3_ENDPOINT:-}" ]; then
  exec "$bin/bench" "$@"
fi

for var in AWS_CA_BUNDLE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR; do unset "$var"; done
data=$(mktemp -d -t s3store-bench-XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
s3_port=$(free_port)
node_port=$(free_port)
RUST_LOG=warn "$bin/gateway" dev --data-dir "$data/cluster" --port "$s3_port" --node-port "$node_port" >"$data/dev.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$data/dev.log"; exit 1; }
  sleep 0.1
done
export S3_ENDPOINT="http://127.0.0.1:$s3_port"
export AWS_ACCESS_KEY_ID=$(sed -n 's/.*access_key: *//p' "$data/cluster/gateway.yaml")
export AWS_SECRET_ACCESS_KEY=$(cat "$data/cluster/secret-key")
"$bin/bench" "$@"
