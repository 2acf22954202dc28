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
#
# Side by side: `scripts/bench.sh --compare BASE_REV [bench args]` builds BASE_REV (in a git
# worktree under ~/.cache/s3store-compare, sharing the target folder, so only the project's
# crates are compiled again, about two minutes each) and the working tree, then runs the same
# bench client against each one's cluster in turn (`--rounds N`, default 1: base, tree, base,
# tree, ...) in this one sitting, and prints every row's throughput as a ratio tree / base.
# Cargo keeps one build of each project crate (keyed by name, not folder) and judges it by its
# sources' times: each side's sources are touched before it is built (the tree's again after
# the base's build, also when the script is interrupted), so neither takes the other's build.
set -euo pipefail
cd "$(dirname "$0")/.."
S3STORE_SKIP_CLIENTS=1 scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/s3store-target}"
base_rev="" rounds=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --compare) base_rev="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
# Cargo keeps one build of each project crate (keyed by name) and judges it by its sources'
# times: before a comparison builds either side, that side's sources are touched, or cargo may
# take the other side's build (a worktree left from an earlier comparison keeps old times).
touch_sources() {
  (cd "$1" && find placement config node-api storage-node gateway bench -name '*.rs' -exec touch {} +)
}
[ -z "$base_rev" ] || touch_sources .
cargo build -q --bin gateway --bin storage-node --bin bench
bin="$CARGO_TARGET_DIR/debug"

if [ -n "${S3_ENDPOINT:-}" ]; then
  exec "$bin/bench" "$@"
fi

# Starts a cluster of the binaries in $1 (3 storage nodes and a gateway, in a temporary
# folder removed afterwards) and runs the bench client $2 against it with the remaining
# arguments.
run_cluster() (
  servers="$1" client="$2"
  shift 2
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
    python3 -c "import socket
for p in range($node_port, $node_port + 3): socket.socket().bind(('127.0.0.1', p))" 2>/dev/null && break
  done
  cluster="$data/cluster"
  website=()
  if "$servers/gateway" dev --help | grep -q -- --website-port; then website=(--website-port "$(free_port)"); fi
  if "$servers/gateway" dev --help | grep -q -- --admin-port; then website+=(--admin-port "$(free_port)"); fi
  "$servers/gateway" dev --prepare-only --data-dir "$cluster" --port "$s3_port" --node-port "$node_port" "${website[@]}" >/dev/null
  # The KMS row's PKCS#11 key: a SoftHSM2 token in the temporary folder (revisions with KMS
  # keys only; its lines go right after the dev configuration's KMS key `dev-key`, the last
  # of its list of KMS keys).
  if grep -q "id: dev-key" "$cluster/gateway.yaml" && command -v softhsm2-util >/dev/null; then
    mkdir -p "$data/tokens"
    export SOFTHSM2_CONF="$data/softhsm2.conf"
    echo "directories.tokendir = $data/tokens" >"$SOFTHSM2_CONF"
    head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$cluster/hsm-pin"
    softhsm2-util --init-token --free --label bench --so-pin "$(cat "$cluster/hsm-pin")" --pin "$(cat "$cluster/hsm-pin")" >/dev/null
    awk '{ print } /id: dev-key/ { print "      - { id: hsm-key, provider: pkcs11, active: hsm-key-1 }"; print "    pkcs11: { module: /usr/lib/softhsm/libsofthsm2.so, token_label: bench, pin: { file: hsm-pin } }" }' \
      "$cluster/gateway.yaml" >"$cluster/gateway.yaml.new" && mv "$cluster/gateway.yaml.new" "$cluster/gateway.yaml"
    "$servers/gateway" kms-keygen --config "$cluster/gateway.yaml" --key hsm-key >/dev/null
  fi
  for i in 1 2 3; do
    RUST_LOG=warn "$servers/storage-node" --config "$cluster/node$i.yaml" >"$data/node$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2; do wait_port $((node_port + i)) "${pids[$i]}"; done
  RUST_LOG=warn "$servers/gateway" --config "$cluster/gateway.yaml" >"$data/gateway.log" 2>&1 &
  gateway=$!
  pids+=("$gateway")
  wait_port "$s3_port" "$gateway"
  export S3_ENDPOINT="http://127.0.0.1:$s3_port"
  export S3STORE_GATEWAY_PID=$gateway
  export AWS_ACCESS_KEY_ID=$(sed -n 's/.*access_key: *//p' "$cluster/gateway.yaml")
  export AWS_SECRET_ACCESS_KEY=$(cat "$cluster/secret-key")
  "$client" "$@"
)

if [ -z "$base_rev" ]; then
  run_cluster "$bin" "$bin/bench" "$@"
  exit 0
fi

# Side by side with $base_rev: both servers' binaries copied out, the tree's bench client for both.
compare=$(mktemp -d -t s3store-compare-XXXXXX)
# Newer than anything the base's build recorded: the next build of the tree is the tree's.
touch_tree() {
  touch_sources .
}
trap 'touch_tree; rm -rf "$compare"' EXIT
mkdir -p "$compare/tree" "$compare/base"
cp "$bin/gateway" "$bin/storage-node" "$bin/bench" "$compare/tree/"
tree=$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo "+changes")
source_dir="$HOME/.cache/s3store-compare/source"
if [ ! -d "$source_dir" ]; then
  git worktree add --detach "$source_dir" "$base_rev" >/dev/null
else
  git -C "$source_dir" checkout -q --detach "$base_rev"
fi
echo "building $base_rev in $source_dir" >&2
touch_sources "$source_dir"
(cd "$source_dir" && cargo build -q --bin gateway --bin storage-node)
cp "$bin/gateway" "$bin/storage-node" "$compare/base/"
# The tree's binaries go back where the test command expects them.
touch_tree
cargo build -q --bin gateway --bin storage-node --bin bench
cmp -s "$bin/gateway" "$compare/tree/gateway" || { echo "the tree's gateway was not restored" >&2; exit 1; }
for round in $(seq 1 "$rounds"); do
  for side in base tree; do
    echo "round $round: $side" >&2
    run_cluster "$compare/$side" "$compare/tree/bench" --json "$@" >"$compare/$side-$round.json"
  done
done
python3 "$(dirname "$0")/bench_compare.py" "$base_rev" "$tree" "$compare"
