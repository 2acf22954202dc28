"""Bucket quotas as boto3 and aws-cli meet them: `gateway admin bucket-quota` limits a bucket,
writes beyond it get 403 QuotaExceeded with a message saying which limit, and nothing of a
refused write is visible."""

import time

from botocore.exceptions import ClientError
import pytest


def test_quota_refusals_are_clear_403s(endpoint, s3, bucket, aws, tmp_path):
    out = endpoint.admin("bucket-quota", bucket, "--max-bytes", "5000", "--max-objects", "3")
    assert "bytes<=5000,objects<=3" in out
    time.sleep(1.2)  # the gateway's bucket cache
    s3.put_object(Bucket=bucket, Key="a", Body=b"x" * 4000)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="b", Body=b"y" * 2000)
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "QuotaExceeded"
    assert "quota of 5000 bytes" in err["Error"]["Message"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    s3.put_object(Bucket=bucket, Key="b", Body=b"y" * 500)
    s3.put_object(Bucket=bucket, Key="c", Body=b"z")
    big = tmp_path / "d.txt"
    big.write_bytes(b"d")
    proc = aws("s3", "cp", str(big), f"s3://{bucket}/d.txt", check=False)
    assert proc.returncode != 0 and "QuotaExceeded" in proc.stderr
    assert "quota of 3 objects" in proc.stderr
    endpoint.admin("bucket-quota", bucket)
    time.sleep(1.2)
    aws("s3", "cp", str(big), f"s3://{bucket}/d.txt")
