"""The admin API (`/admin/v1`) as an operator's script meets it: every route of the OpenAPI
file called against the running cluster, every answer validated against the file's schemas
(and the file itself checked as OpenAPI 3.1), the token required, errors as documented, and
`gateway admin --endpoint` as its client. The same file is compared with the gateway's route
table by a Rust test (gateway/src/admin/routes.rs)."""

import copy
import os
import time
import uuid

import jsonschema
import pytest
import requests
import yaml
from openapi_spec_validator import validate as validate_spec

SPEC_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "gateway", "openapi", "admin-v1.yaml")


@pytest.fixture(scope="module")
def spec():
    with open(SPEC_PATH) as f:
        doc = yaml.safe_load(f)
    validate_spec(copy.deepcopy(doc))
    return doc


class Admin:
    """Calls the admin API and checks each answer against the OpenAPI file."""

    def __init__(self, endpoint, spec):
        if endpoint.admin_api is None:
            pytest.skip("needs the admin API: a dev cluster started here, or S3STORE_ADMIN_ENDPOINT")
        _, self.url, self.token, self.ca = endpoint.admin_api
        self.spec = spec
        self.called = set()  # operationIds answered with a success

    def operation(self, method, path):
        """The OpenAPI operation of a concrete path, and its path template."""
        parts = path.strip("/").split("/")
        for template, item in self.spec["paths"].items():
            t = template.strip("/").split("/")
            if len(t) == len(parts) and all(a.startswith("{") or a == b for a, b in zip(t, parts)):
                if method.lower() in item:
                    return item[method.lower()], template
        raise AssertionError(f"{method} {path} is not in the OpenAPI file")

    def schema_of(self, op, status):
        responses = op["responses"]
        assert str(status) in responses, f"{op['operationId']} answered {status}, which is not documented"
        r = responses[str(status)]
        if "$ref" in r:
            r = self.spec["components"]["responses"][r["$ref"].rsplit("/", 1)[1]]
        content = r.get("content")
        return content["application/json"]["schema"] if content else None

    def validate(self, schema, value):
        jsonschema.Draft202012Validator({**schema, "components": self.spec["components"]}).validate(value)

    def raw(self, method, path, token="default", **kw):
        headers = kw.pop("headers", {})
        if token == "default":
            token = self.token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + "/admin/v1" + path, headers=headers,
                                verify=self.ca or True, timeout=300, **kw)

    def call(self, method, path, body=None, expect=200, **kw):
        op, _ = self.operation(method, path)
        if op.get("requestBody") and body is not None:
            self.validate(op["requestBody"]["content"]["application/json"]["schema"], body)
        r = self.raw(method, path, json=body, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        schema = self.schema_of(op, r.status_code)
        value = None
        if schema is not None:
            assert r.headers["content-type"] == "application/json"
            value = r.json()
            self.validate(schema, value)
        else:
            assert r.content == b""
        if r.status_code < 300:
            self.called.add(op["operationId"])
        return value


@pytest.fixture(scope="module")
def admin(endpoint, spec):
    return Admin(endpoint, spec)


def test_every_route_answers_as_documented(admin, spec, endpoint, s3):
    bucket = "adm-" + uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="a", Body=b"x" * 1000)
        s3.put_object(Bucket=bucket, Key="b", Body=b"y" * 24)
        s3.put_bucket_policy(Bucket=bucket, Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                             '"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}' % bucket)

        cluster = admin.call("GET", "/cluster")
        assert cluster["nodes_up"] == len(cluster["nodes"]) >= 3
        assert cluster["moving_from"] is None and all(n["up"] for n in cluster["nodes"])
        nodes = admin.call("GET", "/nodes")
        assert sorted(n["id"] for n in nodes) == sorted(n["id"] for n in cluster["nodes"])

        buckets = admin.call("GET", "/buckets")
        mine = next(b for b in buckets if b["name"] == bucket)
        assert (mine["objects"], mine["bytes"]) == (2, 1024)
        assert mine["policy"] == {"statements": 1, "public": True}
        assert mine["quota"] is None and mine["public_read"] is False
        assert admin.call("GET", f"/buckets/{bucket}")["objects"] == 2

        # Quotas set through the API are enforced on PUT.
        q = admin.call("PUT", f"/buckets/{bucket}/quota", {"max_bytes": None, "max_objects": 2})
        assert q["quota"] == {"max_bytes": None, "max_objects": 2}
        time.sleep(1.2)  # the S3 front's bucket cache
        err = s3_error_code(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"z"))
        assert err == ("QuotaExceeded", 403)
        assert admin.call("DELETE", f"/buckets/{bucket}/quota")["quota"] is None
        assert admin.call("PUT", f"/buckets/{bucket}/quota", {})["quota"] is None
        time.sleep(1.2)
        s3.put_object(Bucket=bucket, Key="c", Body=b"z")

        # Public read through the API: an unsigned GET works, then stops working.
        assert admin.call("PUT", f"/buckets/{bucket}/public", {"public_read": True})["public_read"]
        time.sleep(1.2)
        assert requests.get(f"{endpoint.url}/{bucket}/?list-type=2", verify=endpoint.ca_bundle or True).status_code == 200
        assert not admin.call("PUT", f"/buckets/{bucket}/public", {"public_read": False})["public_read"]
        time.sleep(1.2)
        assert requests.get(f"{endpoint.url}/{bucket}/?list-type=2", verify=endpoint.ca_bundle or True).status_code == 403

        # Keys and grants: the secret works with boto3 once granted, and stops after revoke.
        kid = "ADM" + uuid.uuid4().hex[:12].upper()
        created = admin.call("POST", "/keys", {"id": kid}, expect=201)
        assert created["id"] == kid and len(created["secret"]) >= 40
        assert any(k["id"] == kid for k in admin.call("GET", "/keys"))
        granted = admin.call("PUT", f"/keys/{kid}/grants/{bucket}", {"role": "read"})
        assert granted["grants"] == {bucket: "read"}
        assert admin.call("GET", f"/keys/{kid}")["grants"] == {bucket: "read"}
        time.sleep(1.2)
        import boto3
        from botocore.config import Config
        other = boto3.session.Session().client(
            "s3", endpoint_url=endpoint.url, aws_access_key_id=kid, aws_secret_access_key=created["secret"],
            region_name=endpoint.region, verify=endpoint.ca_bundle or True,
            config=Config(s3={"addressing_style": "path"}))
        # (Listing: the policy lets anyone GET objects, not list them.)
        assert other.list_objects_v2(Bucket=bucket)["KeyCount"] == 3
        assert admin.call("DELETE", f"/keys/{kid}/grants/{bucket}")["grants"] == {}
        time.sleep(1.5)
        assert s3_error_code(lambda: other.list_objects_v2(Bucket=bucket)) == ("AccessDenied", 403)
        admin.call("DELETE", f"/keys/{kid}", expect=204)
        assert all(k["id"] != kid for k in admin.call("GET", "/keys"))
        generated = admin.call("POST", "/keys", expect=201)  # no body: an id is made up
        admin.call("DELETE", f"/keys/{generated['id']}", expect=204)

        kms = admin.call("GET", "/kms-keys")
        assert any(k["id"] == "aws/s3" for k in kms)

        jobs = admin.call("GET", "/jobs")
        assert {j["name"] for j in jobs} == {"repair", "rebalance"}
        assert admin.call("POST", "/jobs/repair/stop")["state"] == "stopped"
        assert admin.call("POST", "/jobs/repair/start")["state"] == "running"
        repair = admin.call("POST", "/repair")
        assert repair["complete"] is True
        rotation = admin.call("GET", "/rotate")
        assert rotation["complete"] and rotation["stale_envelopes"] == 0
        assert len(rotation["nodes"]) == len(cluster["nodes"])
        rotated = admin.call("POST", "/rotate")
        assert rotated["complete"] and rotated["incomplete"] == []

        # A membership change through the API: the same nodes under the next epoch.
        view = admin.call("GET", "/cluster/map")
        assert view["previous"] is None
        nxt = dict(view["current"], epoch=view["current"]["epoch"] + 1)
        applied = admin.call("PUT", "/cluster/map", nxt)
        assert applied["epoch"] == nxt["epoch"] and applied["took"] == applied["offered"]
        deadline = time.time() + 120
        while admin.call("GET", "/cluster")["moving_from"] is not None:
            assert time.time() < deadline, "the move of an unchanged map did not finish"
            time.sleep(1)
        assert admin.call("GET", "/cluster/map")["current"]["epoch"] == nxt["epoch"]
        assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x" * 1000
        # An older epoch is refused.
        stale = admin.call("PUT", "/cluster/map", view["current"], expect=409)
        assert "epoch" in stale["message"]
    finally:
        for key in ("a", "b", "c"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)
    every = {op["operationId"] for item in spec["paths"].values() for m, op in item.items() if m != "parameters"}
    assert admin.called == every, f"not exercised: {every - admin.called}"


def s3_error_code(call):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_token_is_required(admin):
    for token in (None, "wrong-token-of-some-length", admin.token + "x", admin.token[:-1]):
        r = admin.raw("GET", "/cluster", token=token)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["code"] == "Unauthorized"
    r = admin.raw("GET", "/keys", token=None, headers={"Authorization": f"Basic {admin.token}"})
    assert r.status_code == 401
    # A refused request changes nothing.
    r = admin.raw("POST", "/keys", token="nope-nope-nope-nope", json={"id": "NEVERMADE"})
    assert r.status_code == 401
    assert all(k["id"] != "NEVERMADE" for k in admin.raw("GET", "/keys").json())


def test_errors_are_the_documented_json(admin):
    def error(method, path, status, body=None, data=None):
        r = admin.raw(method, path, json=body, data=data)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        value = r.json()
        admin.validate({"$ref": "#/components/schemas/Error"}, value)
        return r, value

    _, e = error("GET", "/nothing-here", 404)
    assert e["code"] == "NotFound"
    r, e = error("PATCH", "/keys", 405)
    assert e["code"] == "MethodNotAllowed" and r.headers["allow"] == "GET, POST"
    _, e = error("GET", "/buckets/no-such-bucket-here", 404)
    assert "no bucket" in e["message"]
    _, e = error("PUT", "/buckets/no-such-bucket-here/quota", 404, {"max_objects": 1})
    _, e = error("PUT", "/keys/NOSUCHKEY/grants/x", 404, {"role": "read"})
    _, e = error("DELETE", "/keys/NOSUCHKEY", 404)
    _, e = error("POST", "/keys", 400, {"id": "not valid!"})
    assert "letters and digits" in e["message"]
    kid = "DUP" + uuid.uuid4().hex[:10].upper()
    admin.call("POST", "/keys", {"id": kid}, expect=201)
    _, e = error("POST", "/keys", 409, {"id": kid})
    assert "exists" in e["message"]
    _, e = error("PUT", f"/keys/{kid}/grants/whatever", 400, {"role": "admin"})
    assert "read, write or owner" in e["message"]
    admin.call("DELETE", f"/keys/{kid}", expect=204)
    _, e = error("POST", "/jobs/sleep/stop", 404)
    _, e = error("PUT", "/cluster/map", 400, data=b"{not json")
    assert e["code"] == "BadRequest"
    _, e = error("PUT", "/cluster/map", 400, {"epoch": 99})
    _, e = error("PUT", "/buckets/x/quota", 400, {"max_objects": -1})
    _, e = error("PUT", "/buckets/x/quota", 400, {"max_files": 3})


def test_gateway_admin_is_a_client_of_the_api(endpoint, admin):
    import subprocess

    gateway = endpoint.admin_api[0]
    out = endpoint.admin("status")
    assert out.startswith("epoch ") and out.count(" up ") >= 3
    assert "nodes:" in endpoint.admin("map")
    assert "active master key" in endpoint.admin("rotate-status")
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3STORE_ADMIN")}
    env.update(RUST_LOG="warn", RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0")
    extra = ["--ca-file", admin.ca] if admin.ca else []
    no_token = subprocess.run([gateway, "admin", "status", "--endpoint", admin.url, *extra],
                              capture_output=True, text=True, env=env, timeout=60)
    assert no_token.returncode != 0 and "S3STORE_ADMIN_TOKEN" in no_token.stderr
    env["S3STORE_ADMIN_TOKEN"] = "a-wrong-token-of-length"
    wrong = subprocess.run([gateway, "admin", "key-list", "--endpoint", admin.url, *extra],
                           capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode != 0 and "401 (Unauthorized)" in wrong.stderr


def test_the_admin_api_is_https_when_the_s3_endpoint_is(tls_endpoint):
    """`gateway dev --tls`: the admin listener serves HTTPS with the S3 endpoint's certificate,
    and `gateway admin --ca-file` trusts it."""
    if tls_endpoint.admin_api is None:
        pytest.skip("needs the admin API of a dev cluster started here")
    _, url, token, ca = tls_endpoint.admin_api
    assert url.startswith("https://") and ca
    out = tls_endpoint.admin("status")
    assert out.startswith("epoch ") and out.count(" up ") >= 3
    r = requests.get(url + "/admin/v1/nodes", headers={"Authorization": f"Bearer {token}"}, verify=ca, timeout=60)
    assert r.status_code == 200 and len(r.json()) >= 3
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url.replace("https://", "http://") + "/admin/v1/nodes",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
