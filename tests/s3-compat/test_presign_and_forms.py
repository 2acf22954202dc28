"""Presigned URLs (aws-cli `s3 presign`, boto3, used with curl) and browser POST form uploads
with a signed policy, against a live cluster."""

import subprocess

import requests


def curl(endpoint, *args):
    proc = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args],
        env=endpoint.env(), capture_output=True, timeout=60,
    )
    body, _, status = proc.stdout.rpartition(b"\n")
    return int(status), body


def test_presigned_get_put_head_delete_with_curl(aws, endpoint, s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared body")
    url = aws("s3", "presign", f"s3://{bucket}/shared.txt", "--expires-in", "300").stdout.strip()
    assert curl(endpoint, url) == (200, b"shared body")

    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=300)
    src = tmp_path / "up.txt"
    src.write_bytes(b"uploaded with curl")
    status, _ = curl(endpoint, "-X", "PUT", "-T", str(src), put_url)
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded with curl"

    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=300)
    assert curl(endpoint, "-I", head_url)[0] == 200
    delete_url = s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=300)
    assert curl(endpoint, "-X", "DELETE", delete_url)[0] == 204
    assert curl(endpoint, url.replace("shared.txt", "up.txt"))[0] == 403  # signature covers the key

    # An expired URL is refused.
    expired = aws("s3", "presign", f"s3://{bucket}/shared.txt", "--expires-in", "1").stdout.strip()
    import time
    time.sleep(2.5)
    status, body = curl(endpoint, expired)
    assert status == 403 and b"AccessDenied" in body


def test_post_form_upload_honours_the_policy(endpoint, s3, bucket):
    post = s3.generate_presigned_post(
        bucket,
        "uploads/note.txt",
        Fields={"Content-Type": "text/plain", "success_action_status": "201"},
        Conditions=[
            ["starts-with", "$key", "uploads/"],
            ["content-length-range", 1, 1024],
            {"Content-Type": "text/plain"},
            {"success_action_status": "201"},
        ],
        ExpiresIn=300,
    )
    session = requests.Session()
    session.trust_env = False
    ok = session.post(post["url"], data=post["fields"], files={"file": ("note.txt", b"posted by a form")})
    assert ok.status_code == 201, ok.text
    assert b"<Key>uploads/note.txt</Key>" in ok.content
    got = s3.get_object(Bucket=bucket, Key="uploads/note.txt")
    assert got["Body"].read() == b"posted by a form"
    assert got["ContentType"] == "text/plain"

    # Too large for content-length-range: refused, nothing stored.
    s3.delete_object(Bucket=bucket, Key="uploads/note.txt")
    big = session.post(post["url"], data=post["fields"], files={"file": ("note.txt", b"x" * 2000)})
    assert big.status_code in (400, 403), big.text
    assert s3.list_objects_v2(Bucket=bucket, Prefix="uploads/")["KeyCount"] == 0

    # A key outside the allowed prefix violates the policy.
    fields = dict(post["fields"], key="elsewhere/note.txt")
    bad = session.post(post["url"], data=fields, files={"file": ("note.txt", b"x")})
    assert bad.status_code in (400, 403) and b"policy" in bad.content.lower(), bad.text
    assert s3.list_objects_v2(Bucket=bucket, Prefix="elsewhere/")["KeyCount"] == 0


def test_sub_resources_that_tools_probe(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/1", Body=b"1")
    s3.put_object(Bucket=bucket, Key="a/2", Body=b"22")
    s3.put_object(Bucket=bucket, Key="b", Body=b"333")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    assert s3.get_object_acl(Bucket=bucket, Key="b")["Grants"][0]["Permission"] == "FULL_CONTROL"
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [
        ("a/1", "null", True), ("a/2", "null", True), ("b", "null", True)]
    folded = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in folded["CommonPrefixes"]] == ["a/"]
    # The cleanup loop test suites run before DeleteBucket.
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
