"""Bucket policies through boto3 and unsigned HTTP, as S3 evaluates them: the policy API and its
errors, anonymous reads of a prefix, a deny of unencrypted uploads, a deny of plain HTTP, grants
by source address, an upload-only key, explicit deny over the owner's own rights, and the
owner never locked out of the policy itself."""

import http.client
import json
import time
import uuid
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from conftest import Endpoint, s3_error, temporary_bucket

# A policy change reaches every gateway within a second (bucket cache); one gateway here,
# which forgets the bucket at once, so no wait is needed, but a retry loop keeps tests honest
# against an external endpoint.
SETTLE = 3.0


def error_code(call):
    return s3_error(call)[0]


def policy(bucket, *statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def anonymous(endpoint, method, path, body=None, source="127.0.0.1"):
    """Status and body of an unsigned request, sent from `source` (any 127.0.0.0/8 address is
    this machine)."""
    url = urlparse(endpoint.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(source, 0))
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def settled(check):
    """Runs `check` until it passes or SETTLE seconds went by (then once more, raising)."""
    deadline = time.time() + SETTLE
    while time.time() < deadline:
        try:
            return check()
        except AssertionError:
            time.sleep(0.2)
    return check()


def test_policy_api_and_malformed_policies(s3, bucket):
    assert error_code(lambda: s3.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"
    assert error_code(lambda: s3.get_bucket_policy_status(Bucket=bucket)) == "NoSuchBucketPolicy"
    text = policy(bucket, {
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/public/*",
    })
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    restricted = policy(bucket, {
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
    })
    s3.put_bucket_policy(Bucket=bucket, Policy=restricted)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False

    cases = {
        "{not json": "Policies must be valid JSON and the first byte must be '{'",
        policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::another-bucket/*"}): "Policy has invalid resource",
        policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "ec2:RunInstances",
                        "Resource": f"arn:aws:s3:::{bucket}/*"}): "Policy has invalid action",
        policy(bucket, {"Effect": "Allow", "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*"}): "Missing required field Principal",
        policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}"}): "Action does not apply to any resource(s) in statement",
        policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                        "Condition": {"NumericLessThan": {"s3:max-keys": "ten"}}}): "Invalid Condition value",
    }
    for text, reason in cases.items():
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=bucket, Policy=text)
        err = e.value.response["Error"]
        assert (err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("MalformedPolicy", 400), text
        assert reason in err["Message"], (text, err["Message"])
    # A refused policy changed nothing.
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == restricted
    s3.delete_bucket_policy(Bucket=bucket)
    assert error_code(lambda: s3.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"
    s3.delete_bucket_policy(Bucket=bucket)  # deleting none is fine, as on S3
    assert error_code(lambda: s3.put_bucket_policy(Bucket="no-such-" + bucket, Policy=restricted)) == "NoSuchBucket"


def test_anonymous_reads_of_one_prefix(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public/photo.jpg", Body=b"for everyone")
    s3.put_object(Bucket=bucket, Key="private/diary.txt", Body=b"for me")
    public, private = f"/{bucket}/public/photo.jpg", f"/{bucket}/private/diary.txt"
    assert anonymous(endpoint, "GET", public)[0] == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
        "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/public/*"],
    }))
    assert settled(lambda: anonymous(endpoint, "GET", public)) == (200, b"for everyone")
    assert anonymous(endpoint, "HEAD", public)[0] == 200
    assert anonymous(endpoint, "GET", private)[0] == 403
    assert anonymous(endpoint, "GET", f"/{bucket}?list-type=2")[0] == 403
    assert anonymous(endpoint, "PUT", f"/{bucket}/public/new", body=b"x")[0] == 403
    assert anonymous(endpoint, "DELETE", public)[0] == 403
    # A missing key is no secret only to those who may list the bucket: 403 without
    # s3:ListBucket, 404 with it (as S3 answers).
    missing = f"/{bucket}/public/missing.jpg"
    assert anonymous(endpoint, "GET", missing)[0] == 403
    assert anonymous(endpoint, "HEAD", missing)[0] == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/public/*"}, {
        "Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{bucket}"}))
    status, body = anonymous(endpoint, "GET", missing)
    assert status == 404 and b"NoSuchKey" in body
    assert anonymous(endpoint, "HEAD", missing)[0] == 404
    assert anonymous(endpoint, "GET", f"/{bucket}?list-type=2&prefix=public/")[0] == 200
    s3.delete_bucket_policy(Bucket=bucket)
    settled(lambda: None if anonymous(endpoint, "GET", public)[0] == 403 else (_ for _ in ()).throw(AssertionError()))
    assert anonymous(endpoint, "GET", public)[0] == 403


def test_deny_unencrypted_uploads(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Sid": "DenyUnencrypted", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
    }))
    assert error_code(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x")) == "AccessDenied"
    s3.put_object(Bucket=bucket, Key="sealed", Body=b"x", ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="sealed")["Body"].read() == b"x"
    assert error_code(lambda: s3.head_object(Bucket=bucket, Key="plain")) == "404"
    # The documented variant with Null: the header must be there at all.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
    }))
    assert error_code(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x")) == "AccessDenied"
    s3.put_object(Bucket=bucket, Key="sealed2", Body=b"x", ServerSideEncryption="AES256")
    s3.delete_bucket_policy(Bucket=bucket)


def test_deny_plain_http_but_not_tls(endpoint, tls_endpoint):
    statement = lambda b: {
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    plain = endpoint.client()
    for b in temporary_bucket(plain, prefix="tls-only-"):
        plain.put_object(Bucket=b, Key="k", Body=b"v")
        plain.put_bucket_policy(Bucket=b, Policy=policy(b, statement(b)))
        assert error_code(lambda: plain.get_object(Bucket=b, Key="k")) == "AccessDenied"
        assert error_code(lambda: plain.put_object(Bucket=b, Key="k2", Body=b"v")) == "AccessDenied"
        assert error_code(lambda: plain.list_objects_v2(Bucket=b)) == "AccessDenied"
        # The owner is never locked out of the policy itself.
        assert json.loads(plain.get_bucket_policy(Bucket=b)["Policy"])["Statement"][0]["Sid"] == "TlsOnly"
        plain.delete_bucket_policy(Bucket=b)
        assert plain.get_object(Bucket=b, Key="k")["Body"].read() == b"v"
    secure = tls_endpoint.client()
    for b in temporary_bucket(secure, prefix="tls-only-"):
        secure.put_bucket_policy(Bucket=b, Policy=policy(b, statement(b)))
        secure.put_object(Bucket=b, Key="k", Body=b"v")
        assert secure.get_object(Bucket=b, Key="k")["Body"].read() == b"v"
        secure.delete_bucket_policy(Bucket=b)


def test_source_address_decides(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    # Anonymous reads from 127.0.0.2 only.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.2/32", "192.0.2.0/24"]}},
    }))
    assert anonymous(endpoint, "GET", f"/{bucket}/k", source="127.0.0.2") == (200, b"v")
    assert anonymous(endpoint, "GET", f"/{bucket}/k", source="127.0.0.1")[0] == 403
    # Everyone, the owner's key too, is denied from outside 127.0.0.2.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.2"}},
    }))
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="k")) == "AccessDenied"
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_upload_only_key(endpoint, s3, bucket):
    key_id, secret = endpoint.new_key()
    uploader = Endpoint(endpoint.url, key_id, secret, endpoint.region, endpoint.ca_bundle).client()
    assert error_code(lambda: uploader.put_object(Bucket=bucket, Key="drop/a", Body=b"a")) == "AccessDenied"
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Sid": "UploadOnly", "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::123456789012:user/{key_id}"]},
        "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "Resource": f"arn:aws:s3:::{bucket}/drop/*",
    }))
    uploader.put_object(Bucket=bucket, Key="drop/a", Body=b"a")
    upload = uploader.create_multipart_upload(Bucket=bucket, Key="drop/big")
    part = uploader.upload_part(Bucket=bucket, Key="drop/big", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024)
    uploader.complete_multipart_upload(
        Bucket=bucket, Key="drop/big", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="drop/big")["Body"].read() == b"p" * 1024
    assert error_code(lambda: uploader.get_object(Bucket=bucket, Key="drop/a")) == "AccessDenied"
    assert error_code(lambda: uploader.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert error_code(lambda: uploader.delete_object(Bucket=bucket, Key="drop/a")) == "AccessDenied"
    assert error_code(lambda: uploader.put_object(Bucket=bucket, Key="elsewhere", Body=b"a")) == "AccessDenied"
    assert error_code(lambda: uploader.put_bucket_policy(Bucket=bucket, Policy="{}")) == "AccessDenied"
    # The same grant with the bare key id as principal.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Allow", "Principal": {"AWS": key_id}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }))
    uploader.put_object(Bucket=bucket, Key="elsewhere", Body=b"a")
    s3.delete_bucket_policy(Bucket=bucket)
    assert error_code(lambda: uploader.put_object(Bucket=bucket, Key="elsewhere", Body=b"b")) == "AccessDenied"


def test_explicit_deny_beats_the_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Sid": "NoDeletes", "Effect": "Deny", "Principal": {"AWS": "*"},
        "Action": ["s3:DeleteObject*", "s3:DeleteBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }))
    assert error_code(lambda: s3.delete_object(Bucket=bucket, Key="keep")) == "AccessDenied"
    assert error_code(lambda: s3.delete_bucket(Bucket=bucket)) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"v"
    # A policy denying even the policy calls does not lock the owner out.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }))
    assert error_code(lambda: s3.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    s3.get_bucket_policy(Bucket=bucket)
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="keep")


def test_copy_needs_read_of_the_source(endpoint, s3):
    key_id, secret = endpoint.new_key()
    other = Endpoint(endpoint.url, key_id, secret, endpoint.region, endpoint.ca_bundle).client()
    for src in temporary_bucket(s3, prefix="copy-src-"):
        s3.put_object(Bucket=src, Key="open/a", Body=b"A")
        s3.put_object(Bucket=src, Key="closed/b", Body=b"B")
        for dst in temporary_bucket(s3, prefix="copy-dst-"):
            s3.put_bucket_policy(Bucket=dst, Policy=policy(dst, {
                "Effect": "Allow", "Principal": {"AWS": key_id}, "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{dst}/*"}))
            s3.put_bucket_policy(Bucket=src, Policy=policy(src, {
                "Effect": "Allow", "Principal": {"AWS": key_id}, "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{src}/open/*"}))
            other.copy_object(Bucket=dst, Key="a", CopySource={"Bucket": src, "Key": "open/a"})
            assert s3.get_object(Bucket=dst, Key="a")["Body"].read() == b"A"
            assert error_code(lambda: other.copy_object(
                Bucket=dst, Key="b", CopySource={"Bucket": src, "Key": "closed/b"})) == "AccessDenied"
            s3.delete_bucket_policy(Bucket=src)
            s3.delete_bucket_policy(Bucket=dst)


def test_keys_named_in_the_body_are_checked_one_by_one(endpoint, s3, bucket, tmp_path):
    """DeleteObjects and POST uploads carry their keys in the body: a deny on a prefix holds
    for them key by key, as for DeleteObject and PutObject."""
    from test_presign_and_forms import post_form

    for k in ["locked/a", "locked/b", "free/c"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Deny", "Principal": "*", "Action": ["s3:DeleteObject", "s3:PutObject"],
        "Resource": f"arn:aws:s3:::{bucket}/locked/*",
    }))
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in ["locked/a", "locked/b", "free/c"]]})
    assert sorted(d["Key"] for d in out.get("Deleted", [])) == ["free/c"]
    assert sorted((e["Key"], e["Code"]) for e in out["Errors"]) == [("locked/a", "AccessDenied"), ("locked/b", "AccessDenied")]
    assert s3.get_object(Bucket=bucket, Key="locked/a")["Body"].read() == b"v"

    note = tmp_path / "note.txt"
    note.write_bytes(b"posted")
    for key, expected in [("locked/posted", 403), ("free/posted", 204)]:
        post = s3.generate_presigned_post(bucket, key, ExpiresIn=300)
        status, body = post_form(endpoint, post["url"], post["fields"], note)
        assert status == expected, (key, body)
    assert error_code(lambda: s3.head_object(Bucket=bucket, Key="locked/posted")) == "404"
    assert s3.get_object(Bucket=bucket, Key="free/posted")["Body"].read() == b"posted"
    s3.delete_bucket_policy(Bucket=bucket)


def test_policy_variables_give_each_key_its_folder(endpoint, s3, bucket):
    key_id, secret = endpoint.new_key()
    own = Endpoint(endpoint.url, key_id, secret, endpoint.region, endpoint.ca_bundle).client()
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Sid": "HomeFolders", "Effect": "Allow", "Principal": {"AWS": key_id},
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": f"arn:aws:s3:::{bucket}/home/${{aws:username}}/*",
    }))
    own.put_object(Bucket=bucket, Key=f"home/{key_id}/notes.txt", Body=b"mine")
    assert own.get_object(Bucket=bucket, Key=f"home/{key_id}/notes.txt")["Body"].read() == b"mine"
    assert error_code(lambda: own.put_object(Bucket=bucket, Key="home/someone-else/x", Body=b"x")) == "AccessDenied"
    assert error_code(lambda: own.put_object(Bucket=bucket, Key="home/${aws:username}/x", Body=b"x")) == "AccessDenied"
    s3.delete_bucket_policy(Bucket=bucket)
