"""The Go SDK v2 and the Ruby SDK, from Debian's packages (scripts/setup.sh installs them; Go
builds in GOPATH mode, offline), path style and virtual-hosted style: go/matrix/main.go and
ruby/matrix.rb, each reporting one line per step (create-bucket, put-object, get-object,
list-objects-v2, multipart-upload, presign, delete)."""

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from conftest import CA_VARS, record

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = ["create-bucket", "put-object", "get-object", "list-objects-v2", "multipart-upload", "presign", "delete"]
GOPATH = "/usr/share/gocode"


def client_env(endpoint, bucket, path_style):
    env = {k: v for k, v in os.environ.items() if k not in CA_VARS and not k.startswith("AWS_")}
    env.update(
        S3_ENDPOINT=endpoint.url,
        S3_BUCKET=bucket,
        FORCE_PATH_STYLE="true" if path_style else "false",
        AWS_ACCESS_KEY_ID=endpoint.access_key,
        AWS_SECRET_ACCESS_KEY=endpoint.secret_key,
        AWS_REGION=endpoint.region,
    )
    return env


@pytest.fixture(scope="session")
def go_matrix():
    """The Go matrix program, built once per session into a temporary folder."""
    if shutil.which("go") is None or not os.path.isdir(f"{GOPATH}/src/github.com/aws/aws-sdk-go-v2/service/s3"):
        pytest.fail("go and golang-github-aws-aws-sdk-go-v2-dev are needed: scripts/setup.sh installs them")
    out = tempfile.mkdtemp(prefix="s3store-go-")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOFLAGS": "",
           "GOCACHE": os.path.expanduser("~/.cache/go-build")}
    binary = os.path.join(out, "matrix")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=os.path.join(HERE, "go", "matrix"),
                   env=env, check=True, capture_output=True, timeout=600)
    yield binary
    shutil.rmtree(out, ignore_errors=True)


def run_matrix(client, command, endpoint, bucket, path_style):
    proc = subprocess.run(command, env=client_env(endpoint, bucket, path_style),
                          capture_output=True, text=True, timeout=600)
    steps = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ok ")]
    style = "path style" if path_style else "virtual-hosted"
    for name in STEPS:
        record(client, f"{name} ({style})", passed=name in steps)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert steps == STEPS


def ruby_command():
    if shutil.which("ruby") is None:
        pytest.fail("ruby and ruby-aws-sdk-s3 are needed: scripts/setup.sh installs them")
    return ["ruby", os.path.join(HERE, "ruby", "matrix.rb")]


def test_go_sdk_path_style(endpoint, go_matrix):
    run_matrix("Go SDK v2", [go_matrix], endpoint, "go-" + uuid.uuid4().hex[:10], path_style=True)


def test_go_sdk_virtual_host_style(vhost_endpoint, go_matrix):
    run_matrix("Go SDK v2", [go_matrix], vhost_endpoint, f"vh-go-{vhost_endpoint.suffix}", path_style=False)


def test_ruby_sdk_path_style(endpoint):
    run_matrix("Ruby SDK", ruby_command(), endpoint, "rb-" + uuid.uuid4().hex[:10], path_style=True)


def test_ruby_sdk_virtual_host_style(vhost_endpoint):
    run_matrix("Ruby SDK", ruby_command(), vhost_endpoint, f"vh-rb-{vhost_endpoint.suffix}", path_style=False)
