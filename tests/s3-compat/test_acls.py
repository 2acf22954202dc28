"""ACLs, the public access block and ownership controls through boto3 and unsigned HTTP, as S3
evaluates them: every canned ACL on buckets and objects against anonymous callers, another key
and the owner; grants by canonical id; BucketOwnerEnforced (the default) refusing ACLs; the
public access block overriding ACLs and policies."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import Endpoint
from test_bucket_policy import anonymous, policy


def code(call):
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


@pytest.fixture(scope="module")
def other(endpoint):
    """Another stored access key with no grants, its client and canonical id."""
    key_id, secret = endpoint.new_key()
    client = Endpoint(endpoint.url, key_id, secret, endpoint.region, endpoint.ca_bundle).client()
    return client, client.list_buckets()["Owner"]["ID"]


def new_bucket(s3, **kw):
    name = "acl-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name, **kw)
    return name


def drop(s3, name):
    s3.delete_bucket_policy(Bucket=name)
    for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


BUCKET_ACLS = {
    # canned ACL: (anonymous list, other key list, anonymous put, other key put)
    "private": ("AccessDenied", "AccessDenied", 403, "AccessDenied"),
    "public-read": ("ok", "ok", 403, "AccessDenied"),
    "public-read-write": ("ok", "ok", 200, "ok"),
    "authenticated-read": ("AccessDenied", "ok", 403, "AccessDenied"),
}


@pytest.mark.parametrize("canned", list(BUCKET_ACLS))
def test_canned_bucket_acls(endpoint, s3, other, canned):
    client, _ = other
    b = new_bucket(s3, ACL=canned, ObjectOwnership="ObjectWriter")
    try:
        anon_list, other_list, anon_put, other_put = BUCKET_ACLS[canned]
        status = anonymous(endpoint, "GET", f"/{b}?list-type=2")[0]
        assert ("ok" if status == 200 else "AccessDenied") == anon_list
        assert code(lambda: client.list_objects_v2(Bucket=b)) == other_list
        assert anonymous(endpoint, "PUT", f"/{b}/anon", body=b"a")[0] == anon_put
        assert code(lambda: client.put_object(Bucket=b, Key="other", Body=b"o")) == other_put
        assert code(lambda: s3.list_objects_v2(Bucket=b)) == "ok"
        assert code(lambda: s3.put_object(Bucket=b, Key="owner", Body=b"w")) == "ok"
        # Nobody but the owner reads or changes the ACL itself.
        assert code(lambda: client.get_bucket_acl(Bucket=b)) == "AccessDenied"
        assert code(lambda: client.put_bucket_acl(Bucket=b, ACL="public-read-write")) == "AccessDenied"
        grants = s3.get_bucket_acl(Bucket=b)["Grants"]
        groups = sorted((g["Grantee"].get("URI", "").rsplit("/", 1)[-1], g["Permission"]) for g in grants if g["Grantee"]["Type"] == "Group")
        expected = {"private": [], "public-read": [("AllUsers", "READ")],
                    "public-read-write": [("AllUsers", "READ"), ("AllUsers", "WRITE")],
                    "authenticated-read": [("AuthenticatedUsers", "READ")]}[canned]
        assert groups == expected
    finally:
        drop(s3, b)


OBJECT_ACLS = {
    # canned ACL: (anonymous GET status, other key GET)
    "private": (403, "AccessDenied"),
    "public-read": (200, "ok"),
    "public-read-write": (200, "ok"),
    "authenticated-read": (403, "ok"),
    "bucket-owner-read": (403, "AccessDenied"),
    "bucket-owner-full-control": (403, "AccessDenied"),
}


def test_canned_object_acls(endpoint, s3, other):
    client, _ = other
    b = new_bucket(s3, ObjectOwnership="ObjectWriter")
    try:
        for canned, (anon, by_other) in OBJECT_ACLS.items():
            s3.put_object(Bucket=b, Key=canned, Body=canned.encode(), ACL=canned)
            assert anonymous(endpoint, "GET", f"/{b}/{canned}")[0] == anon, canned
            assert code(lambda: client.get_object(Bucket=b, Key=canned)) == by_other, canned
            assert s3.get_object(Bucket=b, Key=canned)["Body"].read() == canned.encode()
            # An object ACL never opens writes or the ACL itself to others.
            assert code(lambda: client.put_object(Bucket=b, Key=canned, Body=b"x")) == "AccessDenied"
            assert code(lambda: client.get_object_acl(Bucket=b, Key=canned)) == "AccessDenied"
        # PutObjectAcl changes an existing object's ACL in place (bytes and tags kept).
        s3.put_object_acl(Bucket=b, Key="private", ACL="public-read")
        assert anonymous(endpoint, "GET", f"/{b}/private") == (200, b"private")
        s3.put_object_acl(Bucket=b, Key="private", ACL="private")
        assert anonymous(endpoint, "GET", f"/{b}/private")[0] == 403
        # Copies and multipart uploads take the ACL they are given.
        s3.copy_object(Bucket=b, Key="copied", CopySource={"Bucket": b, "Key": "private"}, ACL="public-read")
        assert anonymous(endpoint, "GET", f"/{b}/copied") == (200, b"private")
        up = s3.create_multipart_upload(Bucket=b, Key="multi", ACL="public-read")
        part = s3.upload_part(Bucket=b, Key="multi", UploadId=up["UploadId"], PartNumber=1, Body=b"m" * 100)
        s3.complete_multipart_upload(Bucket=b, Key="multi", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        assert anonymous(endpoint, "GET", f"/{b}/multi") == (200, b"m" * 100)
    finally:
        drop(s3, b)


def test_grants_by_canonical_id_and_group(endpoint, s3, other):
    client, other_id = other
    b = new_bucket(s3, ObjectOwnership="ObjectWriter")
    try:
        s3.put_object(Bucket=b, Key="k", Body=b"v", GrantRead=f'id="{other_id}"')
        assert client.get_object(Bucket=b, Key="k")["Body"].read() == b"v"
        assert anonymous(endpoint, "GET", f"/{b}/k")[0] == 403
        acl = s3.get_object_acl(Bucket=b, Key="k")
        assert {"Grantee": {"ID": other_id, "Type": "CanonicalUser"}, "Permission": "READ"} in acl["Grants"]
        # A bucket grant of WRITE by id lets the other key upload; the object is its own
        # (ObjectWriter), and bucket-owner-full-control gives the bucket owner full control.
        s3.put_bucket_acl(Bucket=b, GrantWrite=f'id="{other_id}"', GrantFullControl=f'id="{s3.list_buckets()["Owner"]["ID"]}"')
        client.put_object(Bucket=b, Key="theirs", Body=b"t", ACL="bucket-owner-full-control")
        acl = s3.get_object_acl(Bucket=b, Key="theirs")
        assert acl["Owner"]["ID"] == other_id
        assert {g["Grantee"]["ID"] for g in acl["Grants"]} == {other_id, s3.list_buckets()["Owner"]["ID"]}
        assert code(lambda: client.list_objects_v2(Bucket=b)) == "AccessDenied"
        # The AccessControlPolicy body form, with a group grantee.
        s3.put_object_acl(Bucket=b, Key="k", AccessControlPolicy={
            "Owner": {"ID": s3.list_buckets()["Owner"]["ID"]},
            "Grants": [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}],
        })
        assert anonymous(endpoint, "GET", f"/{b}/k") == (200, b"v")
        assert code(lambda: s3.put_object_acl(Bucket=b, Key="k", GrantRead='emailAddress="someone@example.com"')) == "UnresolvableGrantByEmailAddress"
        assert code(lambda: s3.put_object(Bucket=b, Key="x", Body=b"x", ACL="public-read", GrantRead=f'id="{other_id}"')) == "InvalidRequest"
    finally:
        drop(s3, b)


def test_bucket_owner_enforced_is_the_default_and_refuses_acls(s3):
    b = new_bucket(s3)
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert code(lambda: s3.put_object(Bucket=b, Key="k", Body=b"v", ACL="public-read")) == "AccessControlListNotSupported"
        assert code(lambda: s3.put_bucket_acl(Bucket=b, ACL="public-read")) == "AccessControlListNotSupported"
        # The owner's full control (what `private` and `bucket-owner-full-control` are here) is fine,
        # and reading ACLs still works.
        s3.put_object(Bucket=b, Key="k", Body=b"v", ACL="bucket-owner-full-control")
        s3.put_object(Bucket=b, Key="k2", Body=b"v", ACL="private")
        assert s3.get_bucket_acl(Bucket=b)["Grants"][0]["Permission"] == "FULL_CONTROL"
        assert s3.get_object_acl(Bucket=b, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"
        # Switching to ObjectWriter enables ACLs; back to enforced needs the ACLs gone.
        s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
        s3.put_bucket_acl(Bucket=b, ACL="public-read")
        assert code(lambda: s3.put_bucket_ownership_controls(
            Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})) == "InvalidBucketAclWithObjectOwnership"
        s3.put_bucket_acl(Bucket=b, ACL="private")
        s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        s3.delete_bucket_ownership_controls(Bucket=b)
        assert code(lambda: s3.get_bucket_ownership_controls(Bucket=b)) == "OwnershipControlsNotFoundError"
    finally:
        drop(s3, b)
    name = "acl-" + uuid.uuid4().hex[:12]
    assert code(lambda: s3.create_bucket(Bucket=name, ACL="public-read")) == "InvalidBucketAclWithObjectOwnership"
    assert code(lambda: s3.head_bucket(Bucket=name)) == "404"


def test_public_access_block_overrides_acls_and_policies(endpoint, s3):
    b = new_bucket(s3, ObjectOwnership="ObjectWriter")
    try:
        assert code(lambda: s3.get_public_access_block(Bucket=b)) == "NoSuchPublicAccessBlockConfiguration"
        s3.put_object(Bucket=b, Key="open", Body=b"v", ACL="public-read")
        assert anonymous(endpoint, "GET", f"/{b}/open")[0] == 200

        def block(**settings):
            full = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
            full.update(settings)
            s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=full)
            assert s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"] == full

        block(IgnorePublicAcls=True)
        assert anonymous(endpoint, "GET", f"/{b}/open")[0] == 403
        block(BlockPublicAcls=True)
        assert anonymous(endpoint, "GET", f"/{b}/open")[0] == 200
        assert code(lambda: s3.put_object(Bucket=b, Key="k", Body=b"v", ACL="public-read")) == "AccessDenied"
        assert code(lambda: s3.put_object_acl(Bucket=b, Key="open", ACL="authenticated-read")) == "AccessDenied"
        assert code(lambda: s3.put_bucket_acl(Bucket=b, ACL="public-read")) == "AccessDenied"
        s3.put_object(Bucket=b, Key="k", Body=b"v", ACL="private")

        public = policy(b, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"})
        block(BlockPublicPolicy=True)
        assert code(lambda: s3.put_bucket_policy(Bucket=b, Policy=public)) == "AccessDenied"
        block()
        s3.put_bucket_policy(Bucket=b, Policy=public)
        assert anonymous(endpoint, "GET", f"/{b}/k")[0] == 200
        block(RestrictPublicBuckets=True)
        assert anonymous(endpoint, "GET", f"/{b}/k")[0] == 403
        assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"v"
        s3.delete_public_access_block(Bucket=b)
        assert anonymous(endpoint, "GET", f"/{b}/k")[0] == 200
    finally:
        drop(s3, b)
