"""The container image and compose.yaml: the compose file's services, image and mounted
configuration check out (every configuration loads with `gateway check-config` and
`storage-node --check`; `docker compose config` too where docker has compose); the image is
assembled with buildah (scripts/image.sh) and, where the machine lets podman run containers,
a whole dev cluster runs inside it and answers S3 on loopback. What cannot run here is
skipped with the reason."""

import os
import shutil
import socket
import subprocess
import time
import uuid

import boto3
import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("S3STORE_BIN_DIR") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/s3store-target")), "debug")
SECRETS = {
    "S3STORE_CLUSTER_SECRET": "c" * 48,
    "S3STORE_SECRET_KEY": "s" * 30,
    "S3STORE_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "S3STORE_ADMIN_TOKEN": "a" * 24,
}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)


def test_compose_file_names_the_image_and_configurations_that_load():
    with open(os.path.join(ROOT, "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    assert set(services) == {"node1", "node2", "node3", "gateway"}
    env = {**os.environ, **SECRETS}
    for name, svc in services.items():
        assert svc["image"] == "s3store:0.1.0", name
        binary, _, config = svc["command"]
        mount = next(v for v in svc["volumes"] if v.endswith(":/etc/s3store:ro"))
        host_dir = os.path.join(ROOT, mount.split(":")[0])
        path = os.path.join(host_dir, os.path.basename(config))
        assert os.path.exists(path), path
        if binary == "gateway":
            check = run([os.path.join(BIN, "gateway"), "check-config", "--config", path], env=env)
            assert svc["depends_on"] == ["node1", "node2", "node3"]
            for var in SECRETS:
                assert var in svc["environment"], var
        else:
            check = run([os.path.join(BIN, "storage-node"), "--check", "--config", path], env=env)
            assert f"{name}-data:/data" in svc["volumes"]
            assert yaml.safe_load(open(path))["node_id"] == name
        assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"
    with open(os.path.join(ROOT, "deploy", "compose", "cluster.yaml")) as f:
        nodes = yaml.safe_load(f)["nodes"]
    assert [n["address"] for n in nodes] == ["node1:9101", "node2:9101", "node3:9101"]
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        checked = run([docker, "compose", "-f", "compose.yaml", "config", "-q"], cwd=ROOT, env=env)
        assert checked.returncode == 0, checked.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_image_builds_with_buildah_and_serves_s3_in_podman():
    tag = f"localhost/s3store-test:{uuid.uuid4().hex[:8]}"
    assert shutil.which("buildah") and shutil.which("podman"), "scripts/setup.sh installs buildah and podman"
    # Whether buildah can make a container at all here (storage driver, namespaces).
    probe = run(["buildah", "from", "scratch"])
    if probe.returncode != 0:
        pytest.skip(f"buildah cannot make containers on this machine: {probe.stderr.strip()[-400:]}")
    run(["buildah", "rm", probe.stdout.strip()])
    built = run([os.path.join(ROOT, "scripts", "image.sh"), "--tag", tag], cwd=ROOT)
    assert built.returncode == 0, built.stdout + built.stderr
    try:
        inspect = run(["buildah", "inspect", "--type", "image", "--format",
                       "{{.OCIv1.Config.User}} {{.OCIv1.Config.Env}}", tag])
        assert inspect.returncode == 0 and inspect.stdout.startswith("65532:65532"), inspect.stdout
        probe = run(["podman", "run", "--rm", "--network", "host", tag, "gateway", "--help"])
        if probe.returncode != 0:
            pytest.skip(f"podman cannot run containers on this machine: {probe.stderr.strip()[-400:]}")
        assert "The S3 gateway" in probe.stdout
        s3_port, web_port = _free_port(), _free_port()
        node_port = _free_port()
        name = f"s3store-smoke-{uuid.uuid4().hex[:8]}"
        started = run(["podman", "run", "-d", "--rm", "--name", name, "--network", "host", tag,
                       "gateway", "dev", "--data-dir", "/data/dev", "--port", str(s3_port),
                       "--node-port", str(node_port), "--website-port", str(web_port),
                       "--admin-port", str(_free_port())])
        assert started.returncode == 0, started.stderr
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", s3_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.3)
            logs = run(["podman", "logs", name]).stdout
            access = next(l.split()[-1] for l in logs.splitlines() if "access key id:" in l)
            secret = next(l.split()[-1] for l in logs.splitlines() if "secret access key:" in l)
            for var in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
                os.environ.pop(var, None)
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3_port}", region_name="us-east-1",
                              aws_access_key_id=access, aws_secret_access_key=secret)
            s3.create_bucket(Bucket="in-a-container")
            s3.put_object(Bucket="in-a-container", Key="k", Body=b"from the image")
            assert s3.get_object(Bucket="in-a-container", Key="k")["Body"].read() == b"from the image"
        finally:
            run(["podman", "rm", "-f", name])
    finally:
        run(["buildah", "rmi", "-f", tag])
