#!/usr/bin/env bash
# Builds the s3store image (both binaries and the libraries they load, on an empty base: the
# same image the Dockerfile makes) with buildah from binaries built here: no registry, no
# daemon. Tags it s3store:0.1.0 (the Helm chart's default image) in the local container
# storage, where podman runs it; `--archive FILE` also writes it as an OCI archive (for
# `kind load image-archive FILE`, `k3s ctr images import FILE`, `docker load -i FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="s3store:0.1.0"
archive=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --archive) archive="$2"; shift 2 ;;
    *) echo "usage: scripts/image.sh [--tag NAME:TAG] [--archive FILE]" >&2; exit 2 ;;
  esac
done
command -v buildah >/dev/null || {
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq buildah podman >/dev/null
}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/s3store-target}"
cargo build -q --bin gateway --bin storage-node
root=$(mktemp -d -t s3store-image-XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/data"
for b in gateway storage-node; do strip -o "$root/usr/local/bin/$b" "$CARGO_TARGET_DIR/debug/$b"; done
for lib in $(ldd "$root"/usr/local/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do
  cp --parents -L "$lib" "$root/"
done
container=$(buildah from scratch)
buildah copy --quiet "$container" "$root/usr" /usr
for dir in lib lib64; do
  [ -d "$root/$dir" ] && buildah copy --quiet "$container" "$root/$dir" "/$dir"
done
buildah copy --quiet --chown 65532:65532 "$container" "$root/data" /data
buildah config --env PATH=/usr/local/bin --user 65532:65532 \
  --port 9000 --port 9080 --port 9101 --cmd '["gateway", "--help"]' "$container"
buildah commit --quiet --rm "$container" "$tag" >/dev/null
echo "built $tag"
if [ -n "$archive" ]; then
  buildah push --quiet "$tag" "oci-archive:$archive:$tag"
  echo "wrote $archive"
fi
