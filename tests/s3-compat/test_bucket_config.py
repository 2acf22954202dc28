"""Bucket configuration through boto3 and aws-cli, as S3 answers it: bucket tagging (and its
limits and errors)."""

import json

import pytest
from conftest import s3_error




def test_bucket_tagging(s3, bucket):
    assert s3_error(lambda: s3.get_bucket_tagging(Bucket=bucket)) == ("NoSuchTagSet", 404)
    tags = [{"Key": "team", "Value": "red"}, {"Key": "cost center", "Value": ""}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    # A new set replaces the old one whole.
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "one"}]
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert s3_error(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": too_many})) == ("InvalidTag", 400)
    twice = [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]
    assert s3_error(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": twice})) == ("InvalidTag", 400)
    system = [{"Key": "aws:createdBy", "Value": "me"}]
    assert s3_error(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": system})) == ("InvalidTag", 400)
    long_key = [{"Key": "k" * 129, "Value": "v"}]
    assert s3_error(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": long_key})) == ("InvalidTag", 400)
    # Refused sets changed nothing; 50 tags are fine.
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "one"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": too_many[:50]})
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    s3.delete_bucket_tagging(Bucket=bucket)
    assert s3_error(lambda: s3.get_bucket_tagging(Bucket=bucket)) == ("NoSuchTagSet", 404)
    assert s3_error(lambda: s3.get_bucket_tagging(Bucket="no-such-" + bucket)) == ("NoSuchBucket", 404)


def test_bucket_tagging_with_awscli(aws, s3, bucket):
    aws("s3api", "put-bucket-tagging", "--bucket", bucket, "--tagging", "TagSet=[{Key=env,Value=prod}]")
    out = json.loads(aws("s3api", "get-bucket-tagging", "--bucket", bucket).stdout)
    assert out["TagSet"] == [{"Key": "env", "Value": "prod"}]
    aws("s3api", "delete-bucket-tagging", "--bucket", bucket)
    proc = aws("s3api", "get-bucket-tagging", "--bucket", bucket, check=False)
    assert proc.returncode != 0 and "NoSuchTagSet" in proc.stderr
