#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: libclang for the RocksDB
# bindings, a C++ compiler, and the S3 clients the compatibility tests drive. Idempotent.
set -euo pipefail

need_apt=()
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
# Go with sprig and yaml.v3 to render the Helm chart as Helm does (tests/helm).
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ] || need_apt+=(golang-github-masterminds-sprig-dev)
[ -d /usr/share/gocode/src/gopkg.in/yaml.v3 ] || need_apt+=(golang-gopkg-yaml.v3-dev)
# `ip netns` for the network-partition test.
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# libfaketime: a gateway whose clock is behind the nodes' (tests/races.rs).
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need_apt+=(faketime)
# SoftHSM2: the PKCS#11 token of the SSE-KMS tests (gateway/tests/sse_kms.rs) and benchmark.
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need_apt+=(softhsm2)
if [ "${S3STORE_SKIP_CLIENTS:-0}" != 1 ]; then
  command -v rclone >/dev/null 2>&1 || need_apt+=(rclone)
  command -v s3cmd >/dev/null 2>&1 || need_apt+=(s3cmd)
  command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
  command -v npm >/dev/null 2>&1 || need_apt+=(npm)
  # The Go SDK v2 and the Ruby SDK for tests/s3-compat/test_go_and_ruby_sdks.py.
  [ -d /usr/share/gocode/src/github.com/aws/aws-sdk-go-v2/service/s3 ] || need_apt+=(golang-github-aws-aws-sdk-go-v2-dev)
  dpkg -s ruby-aws-sdk-s3 >/dev/null 2>&1 || need_apt+=(ruby-aws-sdk-s3)
  # A real browser for the CORS tests (tests/s3-compat/test_cors.py).
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  # Its WebDriver, for the admin console's tests (tests/s3-compat/test_admin_console.py).
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
  # The container image (scripts/image.sh, tests/image).
  command -v buildah >/dev/null 2>&1 || need_apt+=(buildah)
  command -v podman >/dev/null 2>&1 || need_apt+=(podman)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${S3STORE_SKIP_CLIENTS:-0}" != 1 ]; then
  # The JavaScript SDK v3 for tests/s3-compat/test_js_sdk.py, outside the clone.
  npm_dir="${S3STORE_NPM_DIR:-$HOME/.cache/s3store-npm}"
  if [ ! -d "$npm_dir/node_modules/@aws-sdk/lib-storage" ]; then
    mkdir -p "$npm_dir"
    (cd "$npm_dir" && npm install --no-audit --no-fund --silent @aws-sdk/client-s3@3 @aws-sdk/lib-storage@3)
  fi
  python3 -m pip install --quiet --disable-pip-version-check -r "$(dirname "$0")/../tests/s3-compat/requirements.txt"
fi
