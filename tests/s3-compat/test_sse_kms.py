"""SSE-KMS and bucket default encryption with boto3 and aws-cli: every header combination
(`aws:kms` with no key, the built-in `aws/s3`, the dev cluster's `dev-key` by id, alias and ARN,
an encryption context, the bucket-key flag), the headers AWS returns on PUT, GET, HEAD, Copy and
each multipart step, the errors for unknown keys and conflicting headers, a bucket's default
encryption applied and overridden, and copies between SSE-S3, SSE-KMS and SSE-C objects."""

import base64
import json
import os

import pytest

from conftest import s3_error, temporary_bucket

REGION = "us-east-1"
DEV_KEY_ARN = f"arn:aws:kms:{REGION}:000000000000:key/dev-key"
BUILT_IN_ARN = f"arn:aws:kms:{REGION}:000000000000:alias/aws/s3"
SSE_C_KEY = bytes(range(32))


def context_of(pairs):
    return base64.b64encode(json.dumps(pairs).encode()).decode()


def decoded(context):
    return json.loads(base64.b64decode(context))


def kms_fields(response):
    return (
        response.get("ServerSideEncryption"),
        response.get("SSEKMSKeyId"),
        response.get("BucketKeyEnabled", False),
    )


def test_every_way_of_naming_a_kms_key(s3, bucket):
    body = os.urandom(70_000)
    cases = [
        ({}, BUILT_IN_ARN),
        ({"SSEKMSKeyId": "alias/aws/s3"}, BUILT_IN_ARN),
        ({"SSEKMSKeyId": "dev-key"}, DEV_KEY_ARN),
        ({"SSEKMSKeyId": "alias/dev-key"}, DEV_KEY_ARN),
        ({"SSEKMSKeyId": DEV_KEY_ARN}, DEV_KEY_ARN),
        ({"SSEKMSKeyId": "arn:aws:kms:eu-west-1:123456789012:alias/dev-key"}, DEV_KEY_ARN),
    ]
    for i, (extra, arn) in enumerate(cases):
        key = f"k{i}"
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms", **extra)
        assert kms_fields(put) == ("aws:kms", arn, False), extra
        assert decoded(put["SSEKMSEncryptionContext"]) == {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}
        # Read back without naming the key, as on AWS.
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert kms_fields(got) == ("aws:kms", arn, False)
        assert kms_fields(s3.head_object(Bucket=bucket, Key=key)) == ("aws:kms", arn, False)
        ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=65530-65545")
        assert ranged["Body"].read() == body[65530:65546]


def test_context_and_bucket_key_are_kept_and_returned(s3, bucket):
    ctx = context_of({"project": "blue", "team": "storage"})
    put = s3.put_object(
        Bucket=bucket, Key="c", Body=b"hello", ServerSideEncryption="aws:kms",
        SSEKMSKeyId="dev-key", SSEKMSEncryptionContext=ctx, BucketKeyEnabled=True,
    )
    assert kms_fields(put) == ("aws:kms", DEV_KEY_ARN, True)
    # With a bucket key the context names the bucket, as S3 does.
    assert decoded(put["SSEKMSEncryptionContext"]) == {
        "project": "blue", "team": "storage", "aws:s3:arn": f"arn:aws:s3:::{bucket}",
    }
    got = s3.get_object(Bucket=bucket, Key="c")
    assert got["Body"].read() == b"hello"
    assert kms_fields(got) == ("aws:kms", DEV_KEY_ARN, True)


def test_sse_s3_is_still_aes256(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="s", Body=b"x", ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert "SSEKMSKeyId" not in put
    head = s3.head_object(Bucket=bucket, Key="s")
    assert head["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in head


def test_bad_kms_requests_get_aws_errors_and_store_nothing(s3, bucket):
    put = lambda **kw: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", **kw)
    assert s3_error(lambda: put(ServerSideEncryption="aws:kms", SSEKMSKeyId="no-such-key")) == (
        "KMS.NotFoundException", 400)
    assert s3_error(lambda: put(
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:us-east-1:000000000000:key/missing")) == ("KMS.NotFoundException", 400)
    assert s3_error(lambda: put(ServerSideEncryption="aws:kms", SSEKMSKeyId="a:b")) == ("InvalidArgument", 400)
    # A key id or context without aws:kms.
    assert s3_error(lambda: put(SSEKMSKeyId="dev-key")) == ("InvalidArgument", 400)
    assert s3_error(lambda: put(ServerSideEncryption="AES256", SSEKMSKeyId="dev-key")) == ("InvalidArgument", 400)
    assert s3_error(lambda: put(SSEKMSEncryptionContext=context_of({"a": "b"}))) == ("InvalidArgument", 400)
    # A context that is not a string map, or that names another object.
    assert s3_error(lambda: put(ServerSideEncryption="aws:kms", SSEKMSEncryptionContext="bm90IGpzb24=")) == (
        "InvalidArgument", 400)
    assert s3_error(lambda: put(
        ServerSideEncryption="aws:kms",
        SSEKMSEncryptionContext=context_of({"aws:s3:arn": "arn:aws:s3:::other/key"}))) == ("InvalidArgument", 400)
    # Unknown algorithms.
    assert s3_error(lambda: put(ServerSideEncryption="AES128")) == ("InvalidArgument", 400)
    assert s3_error(lambda: put(ServerSideEncryption="aws:kms:dsse")) == ("NotImplemented", 501)
    assert s3_error(lambda: s3.head_object(Bucket=bucket, Key="bad"))[1] == 404


def test_bucket_default_encryption_applies_and_is_overridden(s3, bucket):
    assert s3_error(lambda: s3.get_bucket_encryption(Bucket=bucket)) == (
        "ServerSideEncryptionConfigurationNotFoundError", 404)
    s3.put_object(Bucket=bucket, Key="before", Body=b"1")
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/dev-key"},
        "BucketKeyEnabled": True,
    }]})
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/dev-key"},
        "BucketKeyEnabled": True,
    }]
    # Objects that name no encryption get the default; older objects keep theirs.
    put = s3.put_object(Bucket=bucket, Key="after", Body=b"2")
    assert kms_fields(put) == ("aws:kms", DEV_KEY_ARN, True)
    assert kms_fields(s3.head_object(Bucket=bucket, Key="after")) == ("aws:kms", DEV_KEY_ARN, True)
    assert s3.head_object(Bucket=bucket, Key="before")["ServerSideEncryption"] == "AES256"
    # A request naming its own encryption wins.
    put = s3.put_object(Bucket=bucket, Key="own", Body=b"3", ServerSideEncryption="AES256")
    assert kms_fields(put) == ("AES256", None, False)
    put = s3.put_object(Bucket=bucket, Key="other-key", Body=b"4", ServerSideEncryption="aws:kms",
                        SSEKMSKeyId="aws/s3", BucketKeyEnabled=False)
    assert kms_fields(put) == ("aws:kms", BUILT_IN_ARN, False)
    # Multipart and copies follow the default too.
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert kms_fields(mpu) == ("aws:kms", DEV_KEY_ARN, True)
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=mpu["UploadId"], PartNumber=1, Body=b"p" * 100)
    assert kms_fields(part) == ("aws:kms", DEV_KEY_ARN, True)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=mpu["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert kms_fields(done) == ("aws:kms", DEV_KEY_ARN, True)
    copy = s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "before"})
    assert kms_fields(copy) == ("aws:kms", DEV_KEY_ARN, True)
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == b"1"
    # AES256 as the default; then none.
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    assert kms_fields(s3.put_object(Bucket=bucket, Key="aes", Body=b"5")) == ("AES256", None, False)
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3_error(lambda: s3.get_bucket_encryption(Bucket=bucket))[0] == (
        "ServerSideEncryptionConfigurationNotFoundError")
    assert kms_fields(s3.put_object(Bucket=bucket, Key="plain", Body=b"6")) == ("AES256", None, False)


def test_bad_bucket_encryption_configurations_are_refused(s3, bucket):
    def put(rules):
        return s3_error(lambda: s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules}))

    assert put([{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "dev-key"}}]) == (
        "InvalidArgument", 400)
    assert put([{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "nope"}}]) == (
        "KMS.NotFoundException", 400)
    assert put([{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}]) == ("InvalidArgument", 400)
    assert s3_error(lambda: s3.get_bucket_encryption(Bucket=bucket))[0] == (
        "ServerSideEncryptionConfigurationNotFoundError")
    assert s3_error(lambda: s3.get_bucket_encryption(Bucket="no-such-bucket-kms")) == ("NoSuchBucket", 404)


def test_multipart_under_a_named_key_with_context(s3, bucket):
    ctx = context_of({"purpose": "backup"})
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="big", ServerSideEncryption="aws:kms",
                                     SSEKMSKeyId="dev-key", SSEKMSEncryptionContext=ctx)
    assert kms_fields(mpu) == ("aws:kms", DEV_KEY_ARN, False)
    assert decoded(mpu["SSEKMSEncryptionContext"])["purpose"] == "backup"
    parts, data = [], b""
    for n in (1, 2):
        chunk = os.urandom(5 * 1024 * 1024 if n == 1 else 1000)
        data += chunk
        p = s3.upload_part(Bucket=bucket, Key="big", UploadId=mpu["UploadId"], PartNumber=n, Body=chunk)
        assert kms_fields(p) == ("aws:kms", DEV_KEY_ARN, False)
        parts.append({"PartNumber": n, "ETag": p["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=mpu["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert kms_fields(done) == ("aws:kms", DEV_KEY_ARN, False)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == data
    assert kms_fields(got) == ("aws:kms", DEV_KEY_ARN, False)


def test_copies_between_sse_s3_sse_kms_and_sse_c(tls_endpoint):
    s3 = tls_endpoint.client()
    for b in temporary_bucket(s3, "k-"):
        body = os.urandom(200_000)
        sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": SSE_C_KEY}
        src_c = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": SSE_C_KEY}
        s3.put_object(Bucket=b, Key="s3", Body=body)
        s3.put_object(Bucket=b, Key="kms", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId="dev-key")
        s3.put_object(Bucket=b, Key="c", Body=body, **sse_c)
        # SSE-S3 -> KMS, KMS -> SSE-S3, KMS -> SSE-C, SSE-C -> KMS, KMS -> KMS (other key).
        r = s3.copy_object(Bucket=b, Key="s3-to-kms", CopySource={"Bucket": b, "Key": "s3"},
                           ServerSideEncryption="aws:kms", SSEKMSKeyId="dev-key")
        assert kms_fields(r) == ("aws:kms", DEV_KEY_ARN, False)
        r = s3.copy_object(Bucket=b, Key="kms-to-s3", CopySource={"Bucket": b, "Key": "kms"})
        assert kms_fields(r) == ("AES256", None, False)
        r = s3.copy_object(Bucket=b, Key="kms-to-c", CopySource={"Bucket": b, "Key": "kms"}, **sse_c)
        assert r["SSECustomerAlgorithm"] == "AES256" and "SSEKMSKeyId" not in r
        r = s3.copy_object(Bucket=b, Key="c-to-kms", CopySource={"Bucket": b, "Key": "c"},
                           ServerSideEncryption="aws:kms", **src_c)
        assert kms_fields(r) == ("aws:kms", BUILT_IN_ARN, False)
        r = s3.copy_object(Bucket=b, Key="kms", CopySource={"Bucket": b, "Key": "kms"},
                           ServerSideEncryption="aws:kms", SSEKMSKeyId="aws/s3")
        assert kms_fields(r) == ("aws:kms", BUILT_IN_ARN, False)
        for key in ("s3-to-kms", "kms-to-s3", "c-to-kms", "kms"):
            assert s3.get_object(Bucket=b, Key=key)["Body"].read() == body, key
        assert s3.get_object(Bucket=b, Key="kms-to-c", **sse_c)["Body"].read() == body
        # SSE-C with aws:kms at once is refused.
        assert s3_error(lambda: s3.put_object(Bucket=b, Key="both", Body=b"x", ServerSideEncryption="aws:kms",
                                              **sse_c)) == ("InvalidArgument", 400)
        assert s3_error(lambda: s3.put_object(Bucket=b, Key="both", Body=b"x", SSEKMSKeyId="dev-key",
                                              **sse_c)) == ("InvalidArgument", 400)
        # Multipart copy of a KMS object into an SSE-C upload.
        mpu = s3.create_multipart_upload(Bucket=b, Key="mp-c", **sse_c)
        part = s3.upload_part_copy(Bucket=b, Key="mp-c", UploadId=mpu["UploadId"], PartNumber=1,
                                   CopySource={"Bucket": b, "Key": "kms"}, **sse_c)
        s3.complete_multipart_upload(Bucket=b, Key="mp-c", UploadId=mpu["UploadId"], MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
        assert s3.get_object(Bucket=b, Key="mp-c", **sse_c)["Body"].read() == body


def test_aws_cli_sse_kms(endpoint, aws, bucket, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))
    aws("s3", "cp", str(src), f"s3://{bucket}/cli.bin", "--sse", "aws:kms", "--sse-kms-key-id", "dev-key")
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "cli.bin").stdout)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == DEV_KEY_ARN
    out = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/cli.bin", str(out))
    assert out.read_bytes() == src.read_bytes()
    listing = endpoint.admin("kms-keys")
    assert "dev-key" in listing and "aws/s3 (default)" in listing


def test_post_form_with_sse_kms(endpoint, s3, bucket, tmp_path):
    from test_presign_and_forms import post_form

    fields = {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "dev-key",
        "success_action_status": "201",
    }
    post = s3.generate_presigned_post(
        bucket, "form.txt", Fields=fields, Conditions=[{k: v} for k, v in fields.items()], ExpiresIn=300)
    note = tmp_path / "form.txt"
    note.write_bytes(b"posted under a KMS key")
    status, _ = post_form(endpoint, post["url"], post["fields"], note)
    assert status == 201
    got = s3.get_object(Bucket=bucket, Key="form.txt")
    assert got["Body"].read() == b"posted under a KMS key"
    assert kms_fields(got) == ("aws:kms", DEV_KEY_ARN, False)
