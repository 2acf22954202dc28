"""Checksums with boto3 (default checksums on, and each algorithm chosen) and aws-cli
(`s3api --checksum-algorithm`, `s3 cp` of a multipart file): stored values come back with
checksum mode on and match what the client computed; a wrong value is refused and stores nothing.
"""

import base64
import hashlib
import json
import os
import zlib

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig

ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]


def b64(raw):
    return base64.b64encode(raw).decode()


def test_default_checksum_is_stored_and_returned(s3, bucket):
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="default", Body=body)
    # botocore >= 1.36 sends a CRC32 unless told otherwise; the store answers with it.
    expected = b64(zlib.crc32(body).to_bytes(4, "big"))
    assert put.get("ChecksumCRC32") == expected
    head = s3.head_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == expected
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert "ChecksumCRC64NVME" in head
    got = s3.get_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert got["Body"].read() == body  # botocore validates the body against the checksum


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm(s3, bucket, algorithm):
    body = os.urandom(70_000)
    s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
    head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    value = head[f"Checksum{algorithm}"]
    if algorithm == "SHA256":
        assert value == b64(hashlib.sha256(body).digest())
    elif algorithm == "SHA1":
        assert value == b64(hashlib.sha1(body).digest())
    elif algorithm == "CRC32":
        assert value == b64(zlib.crc32(body).to_bytes(4, "big"))
    attrs = s3.get_object_attributes(Bucket=bucket, Key=algorithm, ObjectAttributes=["Checksum"])
    assert attrs["Checksum"][f"Checksum{algorithm}"] == value
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got["Body"].read() == body


@pytest.mark.parametrize("algorithm,wrong", [
    ("CRC32", b64(b"\0\0\0\1")),
    ("CRC32C", b64(b"\0\0\0\1")),
    ("CRC64NVME", b64(bytes(7) + b"\1")),
    ("SHA1", b64(bytes(20))),
    ("SHA256", b64(bytes(32))),
])
def test_wrong_checksum_header_is_refused(s3, bucket, algorithm, wrong):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"some bytes", **{f"Checksum{algorithm}": wrong})
    assert e.value.response["Error"]["Code"] == "BadDigest"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_wrong_content_md5_is_refused(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"some bytes", ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert e.value.response["Error"]["Code"] == "BadDigest"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_multipart_upload_file_with_default_checksums(s3, bucket, tmp_path):
    data = os.urandom(12 * 1024 * 1024 + 5)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(src), bucket, "big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dst))
    assert dst.read_bytes() == data


def test_awscli_checksum_algorithm(aws, bucket, tmp_path):
    src = tmp_path / "obj.bin"
    data = os.urandom(300_000)
    src.write_bytes(data)
    for algorithm in ALGORITHMS:
        aws("s3api", "put-object", "--bucket", bucket, "--key", algorithm, "--body", str(src),
            "--checksum-algorithm", algorithm)
        head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", algorithm,
                              "--checksum-mode", "ENABLED").stdout)
        assert f"Checksum{algorithm}" in head, head
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "SHA256", "--checksum-mode", "ENABLED").stdout)
    assert head["ChecksumSHA256"] == b64(hashlib.sha256(data).digest())
    bad = aws("s3api", "put-object", "--bucket", bucket, "--key", "bad", "--body", str(src),
              "--checksum-sha256", b64(bytes(32)), check=False)
    assert bad.returncode != 0 and "BadDigest" in bad.stderr
    # A multipart `s3 cp` with an explicit algorithm.
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    aws("s3", "cp", str(big), f"s3://{bucket}/big.bin", "--checksum-algorithm", "CRC32C")
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "big.bin", "--checksum-mode", "ENABLED").stdout)
    assert "ChecksumCRC32C" in head and head["ContentLength"] == 9 * 1024 * 1024
    back = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert back.read_bytes() == big.read_bytes()
    listed = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket).stdout)
    assert "bad" not in [o["Key"] for o in listed["Contents"]]
