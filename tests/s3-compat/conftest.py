"""A live dev cluster for the client compatibility tests.

Starts `gateway dev` (a gateway and its three storage-node child processes) on free loopback ports
with its data in a temporary folder, which is removed afterwards. The binaries come from
S3STORE_BIN_DIR (scripts/test.sh sets it), or S3STORE_ENDPOINT plus AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY point the tests at any running endpoint instead.
"""

import hashlib
import os
import sys
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import boto3
import pytest
from botocore.config import Config

# The machines' proxy CA bundles must not leak into clients talking to 127.0.0.1.
CA_VARS = ["AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"gateway dev exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Endpoint:
    def __init__(self, url, access_key, secret_key, region="us-east-1", ca_bundle=None):
        self.url = url
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.ca_bundle = ca_bundle
        # The admin API: (gateway binary, admin URL, admin token, CA file or None); a dev
        # cluster's, or S3STORE_ADMIN_ENDPOINT + S3STORE_ADMIN_TOKEN for an external endpoint.
        self.admin_api = None
        # The dev cluster's website endpoint (`<bucket>.s3-website.localhost`); None elsewhere.
        self.website_port = None

    def admin(self, *args):
        """Runs `gateway admin <args>` (a client of the admin API); returns its output."""
        if self.admin_api is None:
            pytest.skip("needs the admin API: a dev cluster started here, or S3STORE_ADMIN_ENDPOINT")
        gateway, url, token, ca = self.admin_api
        env = {k: v for k, v in os.environ.items() if k not in CA_VARS}
        env.update(RUST_LOG="warn", RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0",
                   S3STORE_ADMIN_TOKEN=token)
        extra = ["--ca-file", ca] if ca else []
        proc = subprocess.run(
            [gateway, "admin", *args, "--endpoint", url, *extra],
            capture_output=True, text=True, timeout=120, env=env,
        )
        assert proc.returncode == 0, f"gateway admin {args}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def new_key(self):
        """A new stored access key with no grants: (id, secret)."""
        out = self.admin("key-create")
        field = lambda name: next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith(name))
        return field("access key"), field("secret key")

    def env(self):
        env = {k: v for k, v in os.environ.items() if k not in CA_VARS and not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION=self.region,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        return env

    def client(self, **config):
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            verify=self.ca_bundle if self.ca_bundle else True,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", **config),
        )


def _dev_cluster(tls):
    """Starts `gateway dev` (with `--tls`: HTTPS with a generated CA) and yields its Endpoint."""
    bin_dir = os.environ.get("S3STORE_BIN_DIR")
    if not bin_dir:
        bin_dir = os.path.join(
            os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/s3store-target")), "debug"
        )
    gateway = os.path.join(bin_dir, "gateway")
    if not os.path.exists(gateway):
        raise RuntimeError(f"{gateway} is missing: build with `cargo build --workspace` first")
    data = tempfile.mkdtemp(prefix="s3store-compat-")
    s3_port, node_port = _free_port(), _free_port()
    # Three consecutive node ports starting at node_port; check they are free.
    while any(_in_use(node_port + i) for i in range(3)):
        node_port = _free_port()
    log = open(os.path.join(data, "dev.log"), "w")
    cluster = os.path.join(data, "cluster")
    website_port, admin_port = _free_port(), _free_port()
    cmd = [gateway, "dev", "--data-dir", cluster, "--port", str(s3_port), "--node-port", str(node_port),
           "--website-port", str(website_port), "--admin-port", str(admin_port)]
    if tls:
        cmd.append("--tls")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"})
    try:
        _wait_port(s3_port, proc)
        with open(os.path.join(cluster, "gateway.yaml")) as f:
            access = next(line.split(":", 1)[1].strip() for line in f if "access_key:" in line)
        with open(os.path.join(cluster, "secret-key")) as f:
            secret = f.read().strip()
        if tls:
            ca = os.path.join(cluster, "tls", "ca.pem")
            ep = Endpoint(f"https://127.0.0.1:{s3_port}", access, secret, ca_bundle=ca)
        else:
            ep = Endpoint(f"http://127.0.0.1:{s3_port}", access, secret)
            ep.domain = "localhost"  # `gateway dev` serves `<bucket>.localhost` too
        with open(os.path.join(cluster, "admin-token")) as f:
            token = f.read().strip()
        scheme = "https" if tls else "http"
        ep.admin_api = (gateway, f"{scheme}://127.0.0.1:{admin_port}", token, ep.ca_bundle)
        ep.website_port = website_port
        yield ep
    finally:
        died = proc.poll()
        proc.kill()
        proc.wait()
        log.close()
        if died is not None:
            # It stopped before the session ended: say why, in the test run's output.
            with open(os.path.join(data, "dev.log"), errors="replace") as f:
                tail = f.readlines()[-40:]
            print(f"\n`gateway dev{' --tls' if tls else ''}` exited early with {died}; its log ends:\n"
                  + "".join(tail), file=sys.stderr)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def endpoint():
    for var in CA_VARS:
        os.environ.pop(var, None)
    if os.environ.get("S3STORE_ENDPOINT"):
        ep = Endpoint(
            os.environ["S3STORE_ENDPOINT"],
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
        )
        if os.environ.get("S3STORE_ADMIN_ENDPOINT") and os.environ.get("S3STORE_BIN_DIR"):
            ep.admin_api = (os.path.join(os.environ["S3STORE_BIN_DIR"], "gateway"),
                            os.environ["S3STORE_ADMIN_ENDPOINT"], os.environ["S3STORE_ADMIN_TOKEN"],
                            os.environ.get("S3STORE_ADMIN_CA_FILE"))
        yield ep
        return
    yield from _dev_cluster(tls=False)


@pytest.fixture(scope="session")
def tls_endpoint():
    """An HTTPS endpoint (SSE-C needs one): S3STORE_TLS_ENDPOINT (+ S3STORE_CA_BUNDLE), or a
    `gateway dev --tls` cluster."""
    for var in CA_VARS:
        os.environ.pop(var, None)
    if os.environ.get("S3STORE_TLS_ENDPOINT"):
        yield Endpoint(
            os.environ["S3STORE_TLS_ENDPOINT"],
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
            ca_bundle=os.environ.get("S3STORE_CA_BUNDLE"),
        )
        return
    yield from _dev_cluster(tls=True)


HOSTS = "/etc/hosts"
VHOST_BUCKET_PREFIXES = ("rc-src", "rc-dst", "vh-a", "vh-b", "vh-go", "vh-rb")


@pytest.fixture(scope="session")
def vhost_endpoint(endpoint):
    """The endpoint addressed virtual-hosted style: `http://<domain>:<port>`, with the bucket
    names `<prefix>-<suffix>` (prefixes in VHOST_BUCKET_PREFIXES, `suffix` on the Endpoint)
    mapped to 127.0.0.1 in /etc/hosts for the session. The domain is the dev cluster's
    (`localhost`) or S3STORE_VHOST_DOMAIN for an external endpoint (whose names must resolve)."""
    from urllib.parse import urlparse

    domain = os.environ.get("S3STORE_VHOST_DOMAIN") or getattr(endpoint, "domain", None)
    if not domain:
        pytest.skip("virtual-hosted style against an external endpoint needs S3STORE_VHOST_DOMAIN")
    suffix = uuid.uuid4().hex[:8]
    url = urlparse(endpoint.url)
    ep = Endpoint(f"{url.scheme}://{domain}:{url.port}", endpoint.access_key, endpoint.secret_key, endpoint.region)
    ep.suffix = suffix
    if getattr(endpoint, "domain", None) is None:
        yield ep  # external: its names resolve already
        return
    marker = f"# s3store-compat {suffix}"
    lines = [f"127.0.0.1 {p}-{suffix}.{domain} {marker}" for p in VHOST_BUCKET_PREFIXES]
    try:
        with open(HOSTS) as f:
            ends_clean = f.read().endswith("\n")
        with open(HOSTS, "a") as f:
            f.write(("" if ends_clean else "\n") + "\n".join(lines) + "\n")
    except OSError as e:
        pytest.skip(f"virtual-hosted style: cannot map bucket names to 127.0.0.1 in {HOSTS} ({e}); run as root")
    try:
        yield ep
    finally:
        with open(HOSTS) as f:
            kept = [line for line in f if marker not in line]
        with open(HOSTS, "w") as f:
            f.writelines(kept)


def _in_use(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


@pytest.fixture
def s3(endpoint):
    return endpoint.client()


def s3_error(call):
    """The error code and HTTP status a boto3 call fails with (it must fail)."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def temporary_bucket(s3, prefix="t-"):
    """Yields the name of a new bucket, then empties and removes it, so that runs against a
    shared endpoint leave nothing behind."""
    name = prefix + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def bucket(s3):
    yield from temporary_bucket(s3)


def aws_runner(endpoint):
    """A function running aws-cli commands against `endpoint`; returns the completed process."""

    def run(*args, check=True, cwd=None):
        cmd = ["aws", "--endpoint-url", endpoint.url, *args]
        if endpoint.ca_bundle:
            cmd[1:1] = ["--ca-bundle", endpoint.ca_bundle]
        proc = subprocess.run(cmd, env=endpoint.env(), capture_output=True, text=True, cwd=cwd, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def aws(endpoint):
    return aws_runner(endpoint)


# --- The compatibility report: client by operation, printed at the end of the run. ---

# The client a module's tests drive, unless the test's name says otherwise.
MODULE_CLIENTS = {
    "test_awscli": "aws-cli",
    "test_boto3": "boto3",
    "test_checksums": "boto3",
    "test_sse_c": "boto3",
    "test_presign_and_forms": "curl (presigned URLs, POST forms)",
    "test_aws_chunked": "raw HTTP (aws-chunked bodies)",
    "test_rclone": "rclone",
    "test_s3cmd": "s3cmd",
    "test_js_sdk": "JavaScript SDK v3",
    "test_bucket_policy": "boto3 + unsigned HTTP",
}
NAMED_CLIENTS = [("awscli", "aws-cli"), ("boto3", "boto3"), ("rclone", "rclone"), ("s3cmd", "s3cmd"), ("js_sdk", "JavaScript SDK v3")]

def sigv4_headers(endpoint, method, path, headers=None, body=b"", payload_hash=None, at=None):
    """The headers of `method path` (path and query) signed with SigV4 by botocore, as of time
    `at` (default now): for raw requests that no SDK would send as they are."""
    import datetime

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=endpoint.url + path, data=body, headers=dict(headers or {}))
    request.headers["x-amz-content-sha256"] = payload_hash or hashlib.sha256(body).hexdigest()
    signer = botocore.auth.SigV4Auth(Credentials(endpoint.access_key, endpoint.secret_key), "s3", endpoint.region)
    saved = botocore.auth.get_current_datetime
    if at is not None:
        botocore.auth.get_current_datetime = lambda: at.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    try:
        signer.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = saved
    return dict(request.headers.items())


_matrix = {}


def _cell(item_or_report):
    module = item_or_report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    name = item_or_report.nodeid.split("::")[-1].split("[")[0].removeprefix("test_")
    client = MODULE_CLIENTS.get(module, module)
    for word, named in NAMED_CLIENTS:
        if word in name:
            client = named
            name = name.replace(word + "_", "").replace("_" + word, "")
    return client, name.replace("_", " ")


def record(client, operation, passed):
    """Adds one case to the report's (client, operation) cell: for tests that cover several
    operations in one run (rclone's sync job, the JavaScript script)."""
    cell = _matrix.setdefault((client, operation), {"passed": 0, "failed": 0, "skipped": 0})
    cell["passed" if passed else "failed"] += 1


class step:
    """`with step(client, operation):` records the block as one report cell, passed unless it
    raises."""

    def __init__(self, client, operation):
        self.cell = (client, operation)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        record(*self.cell, passed=kind is None)
        return False


# Modules whose tests record one cell per operation (`step`, `record`): their whole-test row
# shows only when it failed.
STEPPED_MODULES = {"test_rclone", "test_js_sdk", "test_aws_answers", "test_go_and_ruby_sdks"}


def pytest_runtest_logreport(report):
    module = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    if module in STEPPED_MODULES and report.outcome == "passed":
        return
    if report.when == "call" or report.outcome != "passed":
        cell = _matrix.setdefault(_cell(report), {"passed": 0, "failed": 0, "skipped": 0})
        cell[report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    rows = []
    for (client, operation), counts in sorted(_matrix.items()):
        result = "FAIL" if counts["failed"] else ("pass" if counts["passed"] else "skipped")
        cases = counts["passed"] + counts["failed"]
        rows.append((client, operation + (f" ({cases} cases)" if cases > 1 else ""), result))
    rust = os.environ.get("S3STORE_RUST_SDK_RESULT")
    if rust:
        rows.append(("aws-sdk-s3 (Rust)", "gateway/tests (cargo test, path and virtual-hosted)", rust))
    if not rows:
        return
    width = [max(len(r[i]) for r in rows + [("client", "operation", "result")]) for i in range(3)]
    terminalreporter.section("S3 client compatibility")
    line = lambda r: "  ".join(r[i].ljust(width[i]) for i in range(3)).rstrip()  # noqa: E731
    terminalreporter.write_line(line(("client", "operation", "result")))
    terminalreporter.write_line(line(tuple("-" * w for w in width)))
    for r in rows:
        terminalreporter.write_line(line(r))
