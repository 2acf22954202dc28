#!/usr/bin/env bash
# Warp-style benchmark: PUT/GET/HEAD/mixed/DELETE per object size and a 100k-key LIST, with
# ops/s, MiB/s, latency percentiles and each throughput as a ratio to this machine's
# single-core MD5 (measured in the same run, next to AES-256-GCM), the gateway's peak resident
# memory, and the issue's targets met or missed.
#
# Against a running endpoint: S3_ENDPOINT=http://host:port AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=..
# (and S3STORE_GATEWAY_PID for its memory). Otherwise it starts a dev cluster's processes
# (3 storage nodes, n=3 w=2, fsync and encryption on, and a gateway, each its own process) in
# a temporary folder and removes it afterwards. Extra arguments go to the bench binary
# (`--sizes 4KiB:32,1MiB:8,64MiB:4 --phases get,head,mixed,list --duration 10
# --max-requests 20000 --list-keys 100000 --json`; `bench --help` says more).
set -euo pipefail
cd "$(dirname "$0")/.."
S3STORE_SKIP_CLIENTS=1 scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/s3store-target}"
cargo build -q --bin gateway --bin storage-node --bin bench
bin="$CARGO_TARGET_DIR/debug"

if [ -n "${S3_ENDPOINT:-}" ]; then
  exec "$bin/bench" "$@"
fi

for var in AWS_CA_BUNDLE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR; do unset "$var"; done
data=$(mktemp -d -t s3store-bench-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$data"/*.log; exit 1; }
    sleep 0.1
  done
  echo "port $1 did not open" >&2
  exit 1
}
s3_port=$(free_port)
# Three consecutive free ports for the nodes.
while :; do
  node_port=$(free_port)
  python3 -c "import socket,sys
for p in range($node_port, $node_port + 3):
    s = socket.socket(); s.bind(('127.0.0.1', p)); s.close()" 2>/dev/null && break
done
cluster="$data/cluster"
"$bin/gateway" dev --prepare-only --data-dir "$cluster" --port "$s3_port" --node-port "$node_port" >/dev/null
for i in 1 2 3; do
  RUST_LOG=warn "$bin/storage-node" --config "$cluster/node$i.yaml" >"$data/node$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do wait_port $((node_port + i)) "${pids[$i]}"; done
RUST_LOG=warn "$bin/gateway" --config "$cluster/gateway.yaml" >"$data/gateway.log" 2>&1 &
gateway=$!
pids+=("$gateway")
wait_port "$s3_port" "$gateway"
export S3_ENDPOINT="http://127.0.0.1:$s3_port"
export S3STORE_GATEWAY_PID=$gateway
export AWS_ACCESS_KEY_ID=$(sed -n 's/.*access_key: *//p' "$cluster/gateway.yaml")
export AWS_SECRET_ACCESS_KEY=$(cat "$cluster/secret-key")
"$bin/bench" "$@"
