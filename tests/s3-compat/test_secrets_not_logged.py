"""No secret reaches the logs, at any level: a `gateway dev --tls` cluster (gateway and its three
storage nodes) runs with RUST_LOG=trace while a client signs requests, presigns a URL and writes
and reads an SSE-C object; then the whole log is searched for every secret involved: the secret
access key, request signatures (header and presigned), the SSE-C key, the cluster secret and the
master key."""

import base64
import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
import ssl

import boto3
from botocore.config import Config

from conftest import CA_VARS, _free_port, _in_use, _wait_port

# The lines `gateway dev` prints for its user (endpoint and credentials), which are not logs.
BANNER = ("secret access key:", "AWS_SECRET_ACCESS_KEY=", "admin token:", "S3STORE_ADMIN_TOKEN=")


def test_trace_logs_hold_no_secret():
    for var in CA_VARS:
        os.environ.pop(var, None)
    bin_dir = os.environ.get("S3STORE_BIN_DIR") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/s3store-target")), "debug"
    )
    data = tempfile.mkdtemp(prefix="s3store-secrets-")
    s3_port, node_port = _free_port(), _free_port()
    while any(_in_use(node_port + i) for i in range(3)):
        node_port = _free_port()
    cluster = os.path.join(data, "cluster")
    log_path = os.path.join(data, "dev.log")
    log = open(log_path, "w")
    admin_port = _free_port()
    cmd = [os.path.join(bin_dir, "gateway"), "dev", "--tls", "--data-dir", cluster,
           "--port", str(s3_port), "--node-port", str(node_port), "--website-port", str(_free_port()),
           "--admin-port", str(admin_port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "RUST_LOG": "trace", "NO_COLOR": "1"})
    try:
        _wait_port(s3_port, proc)
        read = lambda name: open(os.path.join(cluster, name)).read().strip()
        with open(os.path.join(cluster, "gateway.yaml")) as f:
            access = next(line.split(":", 1)[1].strip() for line in f if "access_key:" in line)
        secret_key = read("secret-key")
        ca = os.path.join(cluster, "tls", "ca.pem")
        client = boto3.client(
            "s3", endpoint_url=f"https://127.0.0.1:{s3_port}", aws_access_key_id=access,
            aws_secret_access_key=secret_key, region_name="us-east-1", verify=ca,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )
        signatures = []

        def keep_signature(request, **_):
            auth = request.headers.get("Authorization")
            if auth:
                signatures.append(auth.decode() if isinstance(auth, bytes) else auth)

        client.meta.events.register("before-send.s3", keep_signature)
        client.create_bucket(Bucket="secrets")
        client.put_object(Bucket="secrets", Key="plain", Body=b"plain bytes")
        customer_key = secrets.token_bytes(32)
        sse_c = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=customer_key)
        client.put_object(Bucket="secrets", Key="sealed", Body=b"sealed bytes", **sse_c)
        assert client.get_object(Bucket="secrets", Key="sealed", **sse_c)["Body"].read() == b"sealed bytes"
        # A wrong customer key is refused (and that refusal is logged too).
        try:
            client.get_object(Bucket="secrets", Key="sealed", SSECustomerAlgorithm="AES256",
                              SSECustomerKey=secrets.token_bytes(32))
            raise AssertionError("a wrong SSE-C key was accepted")
        except client.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        url = client.generate_presigned_url("get_object", Params={"Bucket": "secrets", "Key": "plain"})
        context = ssl.create_default_context(cafile=ca)
        assert urllib.request.urlopen(url, context=context).read() == b"plain bytes"
        presigned = url.split("X-Amz-Signature=", 1)[1].split("&", 1)[0]
        header_signatures = [s.split("Signature=", 1)[1] for s in signatures if "Signature=" in s]
        assert len(header_signatures) >= 5
        # The admin API: a refused token, then the right one making a key (its secret answered).
        token = read("admin-token")
        def admin(method, path, bearer, body=None):
            request = urllib.request.Request(f"https://127.0.0.1:{admin_port}/admin/v1{path}", method=method,
                                             data=body, headers={"Authorization": f"Bearer {bearer}",
                                                                 "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, context=context) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()
        wrong_token = secrets.token_urlsafe(24)
        assert admin("GET", "/keys", wrong_token)[0] == 401
        status, made = admin("POST", "/keys", token, b"{}")
        assert status == 201, made
        import json
        made_secret = json.loads(made)["secret"]
    finally:
        proc.kill()
        proc.wait()
        log.close()
    try:
        with open(log_path, errors="replace") as f:
            lines = [line for line in f if not any(b in line for b in BANNER)]
        text = "".join(lines)
        # The log is a real trace: access lines, and trace lines of the gateway and the nodes.
        assert "s3store::access" in text and "TRACE" in text, text[-2000:]
        wanted = {
            "secret access key": secret_key,
            "presigned signature": presigned,
            "cluster secret": read("cluster-secret"),
            "master key": read("master-key-1"),
            "SSE-C key (base64)": base64.b64encode(customer_key).decode(),
            "SSE-C key (hex)": customer_key.hex(),
        }
        wanted["admin token"] = token
        wanted["a wrong admin token"] = wrong_token
        wanted["secret of a key made through the admin API"] = made_secret
        assert "s3store::admin" in text, "the admin requests are logged"
        for i, sig in enumerate(header_signatures):
            wanted[f"signature {i}"] = sig
        for what, value in wanted.items():
            assert value and value not in text, f"{what} appears in the trace log"
    finally:
        shutil.rmtree(data, ignore_errors=True)
