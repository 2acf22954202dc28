"""The JavaScript SDK v3 (`@aws-sdk/client-s3`, `@aws-sdk/lib-storage` from the npm registry,
run with the machine's Node.js), path style and virtual-hosted style: js/matrix.cjs."""

import os
import shutil
import subprocess
import uuid

import pytest

from conftest import CA_VARS, record

HERE = os.path.dirname(os.path.abspath(__file__))
# scripts/setup.sh installs the packages here (outside the clone, reused across runs).
NODE_MODULES = os.path.join(
    os.environ.get("S3STORE_NPM_DIR", os.path.expanduser("~/.cache/s3store-npm")), "node_modules"
)


STEPS = ["create-bucket", "put-object", "get-object", "list-objects-v2", "multipart-upload", "delete"]


def run_matrix(endpoint, bucket, path_style):
    if shutil.which("node") is None or not os.path.isdir(os.path.join(NODE_MODULES, "@aws-sdk", "client-s3")):
        pytest.fail(f"node and {NODE_MODULES}/@aws-sdk/client-s3 are needed: scripts/setup.sh installs them")
    env = {k: v for k, v in os.environ.items() if k not in CA_VARS and not k.startswith("AWS_")}
    env.update(
        NODE_PATH=NODE_MODULES,
        S3_ENDPOINT=endpoint.url,
        S3_BUCKET=bucket,
        FORCE_PATH_STYLE="true" if path_style else "false",
        AWS_ACCESS_KEY_ID=endpoint.access_key,
        AWS_SECRET_ACCESS_KEY=endpoint.secret_key,
        AWS_REGION=endpoint.region,
    )
    proc = subprocess.run(
        ["node", os.path.join(HERE, "js", "matrix.cjs")], env=env, capture_output=True, text=True, timeout=600
    )
    steps = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ok ")]
    style = "path style" if path_style else "virtual-hosted"
    for name in STEPS:
        record("JavaScript SDK v3", f"{name} ({style})", passed=name in steps)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert steps == STEPS


def test_js_sdk_path_style(endpoint):
    run_matrix(endpoint, "js-" + uuid.uuid4().hex[:10], path_style=True)


def test_js_sdk_virtual_host_style(vhost_endpoint):
    run_matrix(vhost_endpoint, f"vh-a-{vhost_endpoint.suffix}", path_style=False)
