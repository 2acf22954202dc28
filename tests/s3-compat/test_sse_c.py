"""SSE-C (customer-provided keys) with boto3 and aws-cli over HTTPS (`gateway dev --tls`):
round trips, a multipart upload and parallel ranged download under a customer key, the errors
for a missing or wrong key, and copies between SSE-S3 and SSE-C objects in both directions."""

import base64
import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import aws_runner, temporary_bucket

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))


def sse_c(key):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def copy_source_sse_c(key):
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


@pytest.fixture
def tls_s3(tls_endpoint):
    return tls_endpoint.client()


@pytest.fixture
def tls_bucket(tls_s3):
    yield from temporary_bucket(tls_s3, "c-")


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def test_boto3_sse_c_round_trip_errors_and_copies(tls_s3, tls_bucket):
    s3, b = tls_s3, tls_bucket
    body = os.urandom(300_000)
    put = s3.put_object(Bucket=b, Key="k", Body=body, Metadata={"m": "v"}, **sse_c(KEY_1))
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(KEY_1).digest()).decode()
    assert "ServerSideEncryption" not in put

    got = s3.get_object(Bucket=b, Key="k", **sse_c(KEY_1))
    assert got["Body"].read() == body
    assert got["Metadata"] == {"m": "v"}
    ranged = s3.get_object(Bucket=b, Key="k", Range="bytes=65530-65545", **sse_c(KEY_1))
    assert ranged["Body"].read() == body[65530:65546]
    assert s3.head_object(Bucket=b, Key="k", **sse_c(KEY_1))["ContentLength"] == len(body)

    assert error_of(lambda: s3.get_object(Bucket=b, Key="k")) == (400, "InvalidRequest")
    assert error_of(lambda: s3.get_object(Bucket=b, Key="k", **sse_c(KEY_2))) == (403, "AccessDenied")
    assert error_of(lambda: s3.head_object(Bucket=b, Key="k", **sse_c(KEY_2)))[0] == 403
    assert error_of(lambda: s3.head_object(Bucket=b, Key="k"))[0] == 400
    # With an explicit MD5, botocore sends the key as given (base64) and that MD5: a wrong one.
    bad_md5 = {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": base64.b64encode(KEY_1).decode(),
        "SSECustomerKeyMD5": base64.b64encode(b"0" * 16).decode(),
    }
    assert error_of(lambda: s3.get_object(Bucket=b, Key="k", **bad_md5)) == (400, "InvalidArgument")

    # SSE-C -> SSE-S3, and SSE-S3 -> SSE-C under another key.
    copied = s3.copy_object(Bucket=b, Key="plain", CopySource={"Bucket": b, "Key": "k"}, **copy_source_sse_c(KEY_1))
    assert copied["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=b, Key="plain")["Body"].read() == body
    s3.copy_object(Bucket=b, Key="again", CopySource={"Bucket": b, "Key": "plain"}, **sse_c(KEY_2))
    assert s3.get_object(Bucket=b, Key="again", **sse_c(KEY_2))["Body"].read() == body
    assert error_of(lambda: s3.get_object(Bucket=b, Key="again", **sse_c(KEY_1)))[0] == 403
    assert error_of(lambda: s3.copy_object(Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "k"}))[1] == "InvalidRequest"


def test_boto3_managed_transfer_under_a_customer_key(tls_s3, tls_bucket, tmp_path):
    s3, b = tls_s3, tls_bucket
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * 1024 * 1024 + 5))
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=4)
    s3.upload_file(str(src), b, "big", ExtraArgs=sse_c(KEY_1), Config=config)
    dst = tmp_path / "back.bin"
    s3.download_file(b, "big", str(dst), ExtraArgs=sse_c(KEY_1), Config=config)
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(ClientError):
        s3.download_file(b, "big", str(tmp_path / "no.bin"), Config=config)


def test_awscli_sse_c(tls_endpoint, tls_bucket, tmp_path):
    aws = aws_runner(tls_endpoint)
    key1, key2 = tmp_path / "k1", tmp_path / "k2"
    key1.write_bytes(KEY_1)
    key2.write_bytes(KEY_2)
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))  # above aws-cli's 8 MiB multipart threshold
    b = tls_bucket
    aws("s3", "cp", str(src), f"s3://{b}/f", "--sse-c", "AES256", "--sse-c-key", f"fileb://{key1}")
    aws("s3", "cp", f"s3://{b}/f", str(tmp_path / "back"), "--sse-c", "AES256", "--sse-c-key", f"fileb://{key1}")
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    wrong = aws("s3", "cp", f"s3://{b}/f", str(tmp_path / "wrong"), "--sse-c", "AES256", "--sse-c-key", f"fileb://{key2}", check=False)
    assert wrong.returncode != 0
    assert "403" in wrong.stderr or "Forbidden" in wrong.stderr
    missing = aws("s3", "cp", f"s3://{b}/f", str(tmp_path / "missing"), check=False)
    assert missing.returncode != 0
    # Re-key: SSE-C key 1 -> key 2, then SSE-C -> SSE-S3.
    aws(
        "s3", "cp", f"s3://{b}/f", f"s3://{b}/g",
        "--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", f"fileb://{key1}",
        "--sse-c", "AES256", "--sse-c-key", f"fileb://{key2}",
    )
    aws("s3", "cp", f"s3://{b}/g", str(tmp_path / "g"), "--sse-c", "AES256", "--sse-c-key", f"fileb://{key2}")
    assert (tmp_path / "g").read_bytes() == src.read_bytes()
    aws("s3", "cp", f"s3://{b}/g", f"s3://{b}/plain", "--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", f"fileb://{key2}")
    aws("s3", "cp", f"s3://{b}/plain", str(tmp_path / "plain"))
    assert (tmp_path / "plain").read_bytes() == src.read_bytes()
    head = aws("s3api", "head-object", "--bucket", b, "--key", "plain")
    assert '"ServerSideEncryption": "AES256"' in head.stdout
