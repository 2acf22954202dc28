"""Presigned URLs (aws-cli `s3 presign`, boto3, used with curl) and browser POST form uploads
with a signed policy, against a live cluster."""

import subprocess



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


def post_form(endpoint, url, fields, path, *extra):
    """A browser-style multipart/form-data POST with curl: the fields, then the file last."""
    args = []
    for name, value in fields.items():
        args += ["--form-string", f"{name}={value}"]
    return curl(endpoint, *extra, *args, "-F", f"file=@{path}", url)


def test_post_form_upload_with_curl_honours_the_policy(endpoint, s3, bucket, tmp_path):
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
    note = tmp_path / "note.txt"
    note.write_bytes(b"posted by a form")
    status, body = post_form(endpoint, post["url"], post["fields"], note)
    assert status == 201, body
    assert b"<Key>uploads/note.txt</Key>" in body and b"<Bucket>" + bucket.encode() in body
    got = s3.get_object(Bucket=bucket, Key="uploads/note.txt")
    assert got["Body"].read() == b"posted by a form"
    assert got["ContentType"] == "text/plain"

    # Too large for content-length-range: refused, nothing stored.
    s3.delete_object(Bucket=bucket, Key="uploads/note.txt")
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2000)
    status, body = post_form(endpoint, post["url"], post["fields"], big)
    assert status in (400, 403), body
    assert b"EntityTooLarge" in body or b"policy" in body.lower(), body
    assert s3.list_objects_v2(Bucket=bucket, Prefix="uploads/")["KeyCount"] == 0

    # A key outside the allowed prefix violates the policy.
    status, body = post_form(endpoint, post["url"], dict(post["fields"], key="elsewhere/note.txt"), note)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body, body
    assert b"Invalid according to Policy: Policy Condition failed" in body, body
    # A content type the policy does not allow, likewise.
    status, body = post_form(endpoint, post["url"], dict(post["fields"], **{"Content-Type": "text/html"}), note)
    assert status == 403 and b"Policy Condition failed" in body, body
    # A forged signature is refused.
    status, body = post_form(endpoint, post["url"], dict(post["fields"], **{"x-amz-signature": "0" * 64}), note)
    assert status == 403 and b"SignatureDoesNotMatch" in body, body
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_post_form_redirects_on_success(endpoint, s3, bucket, tmp_path):
    target = "http://app.example/done"
    post = s3.generate_presigned_post(
        bucket, "r/file.txt",
        Fields={"success_action_redirect": target},
        Conditions=[{"success_action_redirect": target}],
        ExpiresIn=300,
    )
    note = tmp_path / "file.txt"
    note.write_bytes(b"redirected")
    proc = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
         *sum((["--form-string", f"{k}={v}"] for k, v in post["fields"].items()), []),
         "-F", f"file=@{note}", post["url"]],
        env=endpoint.env(), capture_output=True, text=True, timeout=60,
    )
    status, location = proc.stdout.split(" ", 1)
    assert status == "303", proc.stdout
    assert location.startswith(target + "?") and f"bucket={bucket}" in location and "key=r%2Ffile.txt" in location
    assert "etag=" in location
    assert s3.get_object(Bucket=bucket, Key="r/file.txt")["Body"].read() == b"redirected"


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
