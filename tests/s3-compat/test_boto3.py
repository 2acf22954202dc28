"""boto3 against a live cluster: object calls, paginators, presigned URLs and error codes."""

import hashlib
import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


def error_code(exc):
    return exc.value.response["Error"]["Code"]


def test_put_get_head_delete(s3, bucket):
    data = os.urandom(300_000)
    put = s3.put_object(Bucket=bucket, Key="a/b.bin", Body=data, ContentType="application/octet-stream", Metadata={"x": "1"})
    assert put["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="a/b.bin")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"x": "1"}
    assert "x-amz-request-id" in got["ResponseMetadata"]["HTTPHeaders"]
    head = s3.head_object(Bucket=bucket, Key="a/b.bin")
    assert head["ContentLength"] == len(data)
    part = s3.get_object(Bucket=bucket, Key="a/b.bin", Range="bytes=-10")["Body"].read()
    assert part == data[-10:]
    s3.delete_object(Bucket=bucket, Key="a/b.bin")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a/b.bin")
    assert error_code(e) == "NoSuchKey"


def test_errors(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=5-10")
    assert error_code(e) == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=5-10")
    assert error_code(e) == "InvalidRange"
    # us-east-1 answers its owner's repeated creation with 200 (other regions: 409
    # BucketAlreadyOwnedByYou).
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == "BucketNotEmpty"
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert error_code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"abc", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="md5")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Not_A_Valid_Name")
    assert error_code(e) == "InvalidBucketName"


def test_error_document_carries_request_id(endpoint, bucket):
    # An anonymous request is refused with an S3 error document naming the request id.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{endpoint.url}/{bucket}/anything")
    assert e.value.code == 403
    body = e.value.read().decode()
    request_id = e.value.headers["x-amz-request-id"]
    assert "<Code>AccessDenied</Code>" in body
    assert f"<RequestId>{request_id}</RequestId>" in body


def test_paginator_and_delimiter(s3, bucket):
    for i in range(25):
        s3.put_object(Bucket=bucket, Key=f"p/{i:03}", Body=b"x")
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"q/{i}/leaf", Body=b"x")
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}))
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert len(pages) == 5 and len(keys) == 30 and keys == sorted(keys)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["p/", "q/"]
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="q/", Delimiter="/")
    assert len(inner["CommonPrefixes"]) == 5
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 10}))
    assert sum(len(p.get("Contents", [])) for p in v1) == 30


def test_presigned_urls(endpoint, bucket):
    s3 = endpoint.client()
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    req = urllib.request.Request(put_url, data=b"presigned body", method="PUT")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    with urllib.request.urlopen(get_url) as r:
        assert r.read() == b"presigned body"
    tampered = get_url.replace("pre?", "pre2?")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered)
    assert e.value.code == 403
    assert b"SignatureDoesNotMatch" in e.value.read()
    # AWS caps presigned URLs at seven days; a correctly signed longer one is refused.
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=604801)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(too_long)
    assert e.value.code == 400
    assert b"AuthorizationQueryParametersError" in e.value.read()


def test_copy_with_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/plain", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", ContentType="text/csv", Metadata={"b": "2"})
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "text/csv" and head["Metadata"] == {"b": "2"}
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"payload"


def test_conditional_put_and_refused_options(s3, bucket):
    s3.put_object(Bucket=bucket, Key="cond", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="cond", Body=b"second", IfNoneMatch="*")
    assert error_code(e) == "PreconditionFailed"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=bucket, Key="cond")["Body"].read() == b"first"
    # Options the store does not have are refused loudly, never ignored.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms:dsse")
    assert error_code(e) == "NotImplemented"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="kms")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_object_tagging(s3, bucket):
    import time

    data = os.urandom(3 * 1024 * 1024)  # chunked: retagging must keep the shared chunks
    s3.put_object(Bucket=bucket, Key="tagged", Body=data, Tagging="project=alpha&note=two%20words")
    before = s3.head_object(Bucket=bucket, Key="tagged")["LastModified"]
    tags = s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("note", "two words"), ("project", "alpha")]
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 2
    head = s3.head_object(Bucket=bucket, Key="tagged")["ResponseMetadata"]["HTTPHeaders"]
    assert head["x-amz-tagging-count"] == "2"
    time.sleep(1.1)
    s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == [{"Key": "k", "Value": "v"}]
    assert s3.head_object(Bucket=bucket, Key="tagged")["LastModified"] == before
    time.sleep(0.5)  # superseded versions are collected in the background
    assert s3.get_object(Bucket=bucket, Key="tagged")["Body"].read() == data
    s3.copy_object(Bucket=bucket, Key="tagged-copy", CopySource={"Bucket": bucket, "Key": "tagged"})
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged-copy")["TagSet"] == [{"Key": "k", "Value": "v"}]
    s3.delete_object_tagging(Bucket=bucket, Key="tagged")
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == []
    head = s3.head_object(Bucket=bucket, Key="tagged")["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amz-tagging-count" not in head
    assert s3.get_object(Bucket=bucket, Key="tagged")["Body"].read() == data
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="tagged",
                              Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert error_code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="no-such-key")
    assert error_code(e) == "NoSuchKey"


def test_managed_transfer_multipart_and_ranged_downloads(s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig

    src = tmp_path / "big.bin"
    data = os.urandom(22 * 1024 * 1024)
    src.write_bytes(data)
    # Forces multipart (5 MiB parts, 4 in parallel) up and parallel ranged GETs down.
    config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=4)
    s3.upload_file(str(src), bucket, "big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-5"')
    dst = tmp_path / "big.out"
    s3.download_file(bucket, "big.bin", str(dst), Config=config)
    assert dst.read_bytes() == data
    # upload_fileobj / download_fileobj take the same paths.
    import io

    buf = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", buf, Config=config)
    assert buf.getvalue() == data
