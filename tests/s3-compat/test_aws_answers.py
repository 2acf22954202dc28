"""The answers S3 clients check, as AWS gives them (issue: errors, headers and edge cases): one
test per behaviour, through boto3 where it shows the answer and raw HTTP (`http.client`,
signed with botocore's SigV4) where an SDK would hide or refuse it."""

import base64
import datetime
import hashlib
import http.client
import socket
import time
import urllib.parse
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import sigv4_headers as signed
from conftest import step


def error_code(e):
    return e.value.response["Error"]["Code"]


def status_of(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def host_of(endpoint):
    return urllib.parse.urlparse(endpoint.url).netloc


def raw(endpoint, method, path, headers=None, body=b""):
    connection = http.client.HTTPConnection(host_of(endpoint), timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def code_in(body):
    return body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode() if b"<Code>" in body else None


def test_get_object_attributes_answers_every_attribute_asked(s3, bucket):
    with step("boto3", "GetObjectAttributes: every attribute"):
        s3.put_object(Bucket=bucket, Key="one", Body=b"hello", ChecksumAlgorithm="CRC32")
        got = s3.get_object_attributes(
            Bucket=bucket, Key="one", ObjectAttributes=["ObjectSize", "ETag", "StorageClass", "Checksum"]
        )
        assert got["ObjectSize"] == 5
        assert got["ETag"].strip('"') == hashlib.md5(b"hello").hexdigest()
        assert got["StorageClass"] == "STANDARD"
        assert got["Checksum"]["ChecksumCRC32"] and got["Checksum"]["ChecksumType"] == "FULL_OBJECT"
        only_size = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=["ObjectSize"])
        assert only_size["ObjectSize"] == 5 and "ETag" not in only_size
        upload = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
        part = s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, Body=b"p" * 100)
        s3.complete_multipart_upload(
            Bucket=bucket, Key="parts", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        got = s3.get_object_attributes(Bucket=bucket, Key="parts", ObjectAttributes=["ObjectParts", "ObjectSize"])
        assert got["ObjectSize"] == 100
        assert got["ObjectParts"]["TotalPartsCount"] == 1


def test_delete_if_match_deletes_only_the_named_object(s3, bucket):
    with step("boto3", "DeleteObject: If-Match, last-modified, size"):
        etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
        with pytest.raises(ClientError) as e:
            s3.delete_object(Bucket=bucket, Key="k", IfMatch='"' + "0" * 32 + '"')
        assert error_code(e) == "PreconditionFailed" and status_of(e) == 412
        with pytest.raises(ClientError) as e:
            s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=3)
        assert error_code(e) == "PreconditionFailed"
        with pytest.raises(ClientError) as e:
            s3.delete_object(
                Bucket=bucket, Key="k",
                IfMatchLastModifiedTime=datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc),
            )
        assert error_code(e) == "PreconditionFailed"
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
        modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag, IfMatchSize=2, IfMatchLastModifiedTime=modified)
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key="k")
        assert status_of(e) == 404
        # A key without an object has nothing to delete: 204 whatever the condition.
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)


def test_delete_objects_honours_each_entry_condition(s3, bucket):
    with step("boto3", "DeleteObjects: ETag and Size per entry"):
        a = s3.put_object(Bucket=bucket, Key="a", Body=b"aa")["ETag"]
        s3.put_object(Bucket=bucket, Key="b", Body=b"bb")
        s3.put_object(Bucket=bucket, Key="c", Body=b"cc")
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
            {"Key": "a", "ETag": a},
            {"Key": "b", "ETag": '"' + "1" * 32 + '"'},
            {"Key": "c", "Size": 99},
        ]})
        assert [d["Key"] for d in answer.get("Deleted", [])] == ["a"]
        assert sorted((e["Key"], e["Code"]) for e in answer["Errors"]) == [
            ("b", "PreconditionFailed"), ("c", "PreconditionFailed")]
        left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert left == ["b", "c"]


def test_list_buckets_pages_by_max_buckets_and_prefix(s3):
    suffix = uuid.uuid4().hex[:8]
    names = [f"lb-{suffix}-{i}" for i in range(5)]
    with step("boto3", "ListBuckets: max-buckets, continuation, prefix"):
        for name in names:
            s3.create_bucket(Bucket=name)
        try:
            seen, token = [], None
            while True:
                kwargs = {"MaxBuckets": 2, "Prefix": f"lb-{suffix}-"}
                if token:
                    kwargs["ContinuationToken"] = token
                page = s3.list_buckets(**kwargs)
                assert len(page["Buckets"]) <= 2
                assert page["Prefix"] == f"lb-{suffix}-"
                seen += [b["Name"] for b in page["Buckets"]]
                token = page.get("ContinuationToken")
                if not token:
                    break
            assert seen == names
            everything = [b["Name"] for b in s3.list_buckets()["Buckets"]]
            assert set(names) <= set(everything) and "ContinuationToken" not in s3.list_buckets()
            with pytest.raises(ClientError) as e:
                s3.list_buckets(MaxBuckets=10001)
            assert error_code(e) == "InvalidArgument"
            with pytest.raises(ClientError) as e:
                s3.list_buckets(MaxBuckets=1, ContinuationToken="!!not a token!!")
            assert error_code(e) == "InvalidArgument"
        finally:
            for name in names:
                s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("name", ["a.-b", "a-.b", "ab", "a..b", "-ab", "ab-", "Abc", "192.168.1.1",
                                  "xn--abc", "sthree-abc", "abc-s3alias", "abc--ol-s3"])
def test_bad_bucket_names_are_invalid_bucket_name(endpoint, s3, name):
    with step("boto3", "CreateBucket: InvalidBucketName"):
        headers = signed(endpoint, "PUT", "/" + name)
        status, _, body = raw(endpoint, "PUT", "/" + name, headers)
        assert (status, code_in(body)) == (400, "InvalidBucketName"), body


def test_repeated_create_bucket_in_us_east_1_is_200(s3, bucket):
    with step("boto3", "CreateBucket: again by its owner (us-east-1)"):
        s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
        answer = s3.create_bucket(Bucket=bucket)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        # Nothing changed: the object is still there.
        assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"x"
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_authentication_errors_are_aws_codes(endpoint, s3, bucket):
    ep = endpoint
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    path = f"/{bucket}/k"
    with step("raw HTTP", "auth: empty Authorization is AccessDenied"):
        status, _, body = raw(ep, "GET", path, {"Authorization": ""})
        assert (status, code_in(body)) == (403, "AccessDenied")
    with step("raw HTTP", "auth: no date is AccessDenied"):
        headers = signed(ep, "GET", path)
        del headers["X-Amz-Date"]
        status, _, body = raw(ep, "GET", path, headers)
        assert (status, code_in(body)) == (403, "AccessDenied")
        assert b"valid Date or x-amz-date" in body
    with step("raw HTTP", "auth: a clock 20 minutes off is RequestTimeTooSkewed"):
        for minutes in (-20, 20):
            at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
            status, _, body = raw(ep, "GET", path, signed(ep, "GET", path, at=at))
            assert (status, code_in(body)) == (403, "RequestTimeTooSkewed"), body
        at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        status, _, body = raw(ep, "GET", path, signed(ep, "GET", path, at=at))
        assert (status, body) == (200, b"x")
    with step("raw HTTP", "presigned: X-Amz-Expires out of range"):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=100)
        parts = urllib.parse.urlparse(url)
        for value, message in [
            ("604801", b"less than a week"), ("abc", b"should be a number"), ("-5", b"non-negative"),
        ]:
            query = parts.query.replace("X-Amz-Expires=100", f"X-Amz-Expires={value}")
            status, _, body = raw(ep, "GET", parts.path + "?" + query)
            assert (status, code_in(body)) == (400, "AuthorizationQueryParametersError"), body
            assert message in body
    with step("raw HTTP", "presigned: expired is AccessDenied"):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
        time.sleep(2)
        parts = urllib.parse.urlparse(url)
        status, _, body = raw(ep, "GET", parts.path + "?" + parts.query)
        assert (status, code_in(body)) == (403, "AccessDenied") and b"expired" in body


def test_anonymous_requests_learn_missing_buckets_and_keys_as_aws_says(endpoint, s3, bucket):
    ep = endpoint
    with step("raw HTTP", "anonymous: missing bucket is NoSuchBucket"):
        for method in ("GET", "DELETE", "HEAD"):
            status, _, body = raw(ep, method, f"/no-such-bucket-{uuid.uuid4().hex[:8]}/k")
            assert status == 404, (method, body)
            if method != "HEAD":
                assert code_in(body) == "NoSuchBucket"
    with step("raw HTTP", "anonymous: private bucket is AccessDenied"):
        status, _, body = raw(ep, "GET", f"/{bucket}/missing")
        assert (status, code_in(body)) == (403, "AccessDenied")


def test_expect_100_continue_gets_the_error_before_sending_the_body(endpoint, s3):
    ep = endpoint
    with step("raw HTTP", "Expect: 100-continue answered without the body"):
        path = f"/no-such-bucket-{uuid.uuid4().hex[:8]}/k"
        body = b"z" * (1 << 20)
        headers = signed(ep, "PUT", path, {"Expect": "100-continue", "Content-Length": str(len(body))}, body)
        where = urllib.parse.urlparse(ep.url)
        sock = socket.create_connection((where.hostname, where.port), timeout=10)
        try:
            head = f"PUT {path} HTTP/1.1\r\nHost: {host_of(ep)}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
            sock.sendall(head.encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                piece = sock.recv(4096)
                if not piece:
                    break
                answer += piece
            status_line = answer.split(b"\r\n", 1)[0]
            # The final answer comes at once: no "100 Continue", and no body was sent.
            assert status_line.startswith(b"HTTP/1.1 404"), answer[:200]
        finally:
            sock.close()


def test_chunked_upload_without_length(endpoint, s3, bucket):
    ep = endpoint
    path = f"/{bucket}/chunked"
    with step("raw HTTP", "PUT Transfer-Encoding: chunked, unsigned length"):
        headers = signed(ep, "PUT", path, payload_hash="UNSIGNED-PAYLOAD")
        headers["Transfer-Encoding"] = "chunked"
        connection = http.client.HTTPConnection(host_of(ep), timeout=30)
        connection.putrequest("PUT", path, skip_accept_encoding=True)
        for k, v in headers.items():
            connection.putheader(k, v)
        connection.endheaders()
        for piece in (b"hello ", b"world"):
            connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        body = response.read()
        assert (response.status, code_in(body)) == (411, "MissingContentLength"), body
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key="chunked")
        assert status_of(e) == 404


def test_an_empty_delimiter_is_no_delimiter(endpoint, s3, bucket):
    with step("raw HTTP", "ListObjects: empty delimiter= echoes no Delimiter"):
        s3.put_object(Bucket=bucket, Key="a/b", Body=b"x")
        for query in ("delimiter=", "list-type=2&delimiter="):
            path = f"/{bucket}?{query}"
            status, _, body = raw(endpoint, "GET", path, signed(endpoint, "GET", path))
            assert status == 200, body
            assert b"<Delimiter>" not in body and b"<Key>a/b</Key>" in body, body


def test_part_numbers_of_whole_objects(s3, bucket):
    with step("boto3", "GET/HEAD partNumber on a single-PUT object"):
        s3.put_object(Bucket=bucket, Key="whole", Body=b"hello")
        got = s3.get_object(Bucket=bucket, Key="whole", PartNumber=1)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == "bytes 0-4/5" and got["Body"].read() == b"hello"
        for call in (s3.get_object, s3.head_object):
            with pytest.raises(ClientError) as e:
                call(Bucket=bucket, Key="whole", PartNumber=2)
            assert status_of(e) == 416
            if call is s3.get_object:
                assert error_code(e) == "InvalidPartNumber"


def test_content_encoding_comes_back_as_sent(s3, bucket):
    with step("boto3", "Content-Encoding returned as sent"):
        s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ContentEncoding="deflate, gzip")
        assert s3.head_object(Bucket=bucket, Key="enc")["ContentEncoding"] == "deflate, gzip"


def test_url_encoded_listing_round_trips_awkward_keys(s3, bucket):
    keys = ["a b", "a+b", "c%d", "e\u00e9", "tab\there", "ctl\x01x", "nl\nx", "q?x", "amp&x"]
    with step("boto3", "ListObjects(V2) encoding-type=url round trip"):
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        # boto3 asks for encoding-type=url itself and decodes what comes back.
        listed_v2 = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
        assert listed_v2 == sorted(keys) and listed_v1 == sorted(keys)
        prefixes = s3.list_objects_v2(Bucket=bucket, Delimiter="b")["CommonPrefixes"]
        assert sorted(p["Prefix"] for p in prefixes) == ["a b", "a+b", "tab"]


def test_listings_refuse_unknown_encodings(endpoint, s3, bucket):
    with step("raw HTTP", "ListObjects(V2): encoding-type other than url is InvalidArgument"):
        for query in ("encoding-type=base64", "list-type=2&encoding-type=foo", "versions&encoding-type=x"):
            path = f"/{bucket}?{query}"
            status, _, body = raw(endpoint, "GET", path, signed(endpoint, "GET", path))
            assert (status, code_in(body)) == (400, "InvalidArgument"), (query, body)


def test_non_ascii_metadata_comes_back_rfc_2047_encoded(endpoint, s3, bucket):
    """AWS: non-ASCII metadata values are decoded per RFC 2047 before storing and encoded per
    RFC 2047 when returned ("mail-safe"); ASCII values come back as they were sent."""
    with step("raw HTTP", "user metadata: non-ASCII values RFC 2047-encoded"):
        path = f"/{bucket}/meta"
        value = "h\u00e9llo w\u00f6rld"
        headers = signed(endpoint, "PUT", path, {"x-amz-meta-name": value, "x-amz-meta-plain": "as is"}, b"x")
        wire = {k: (v.encode("utf-8") if k.lower() == "x-amz-meta-name" else v) for k, v in headers.items()}
        status, _, body = raw(endpoint, "PUT", path, wire, b"x")
        assert status == 200, body
        got = s3.head_object(Bucket=bucket, Key="meta")["ResponseMetadata"]["HTTPHeaders"]
        assert got["x-amz-meta-plain"] == "as is"
        encoded = got["x-amz-meta-name"]
        assert encoded.startswith("=?UTF-8?") and encoded.endswith("?="), encoded
        import email.header
        decoded = "".join(
            part.decode(charset or "ascii") if isinstance(part, bytes) else part
            for part, charset in email.header.decode_header(encoded)
        )
        assert decoded == value


def test_multipart_upload_listing_url_encodes_when_asked(endpoint, s3, bucket):
    with step("raw HTTP", "ListMultipartUploads: encoding-type=url encodes keys"):
        key = "a b+c%d"
        s3.create_multipart_upload(Bucket=bucket, Key=key)
        path = f"/{bucket}?uploads&encoding-type=url"
        status, _, body = raw(endpoint, "GET", path, signed(endpoint, "GET", path))
        assert status == 200, body
        listed = body.split(b"<Key>", 1)[1].split(b"</Key>", 1)[0].decode()
        assert listed != key and urllib.parse.unquote_plus(listed) == key, listed
        plain = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
        assert [u["Key"] for u in plain] == [key]
        for u in plain:
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])


def test_a_part_resent_while_its_first_send_is_in_flight(endpoint, s3, bucket):
    """A client retries part 1 while its first send still trickles in; Complete names the retry's
    ETag and succeeds at once; the first send, finishing after the completion, changes nothing."""
    with step("raw HTTP", "UploadPart re-sent while the first is in flight, then Complete"):
        key = "resent"
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        slow_body = b"s" * (6 << 20)
        path = f"/{bucket}/{key}?partNumber=1&uploadId={upload}"
        headers = signed(endpoint, "PUT", path, {"Content-Length": str(len(slow_body))}, slow_body)
        where = urllib.parse.urlparse(endpoint.url)
        slow = socket.create_connection((where.hostname, where.port), timeout=60)
        head = f"PUT {path} HTTP/1.1\r\nHost: {where.netloc}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
        slow.sendall(head.encode() + slow_body[: 1 << 20])  # a sixth of it, then a pause
        fast_body = b"f" * (6 << 20)
        fast = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=fast_body)
        last = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=2, Body=b"tail")
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": fast["ETag"]},
                                       {"PartNumber": 2, "ETag": last["ETag"]}]},
        )
        assert done["ETag"].endswith('-2"')
        # The first send finishes now, after the completion.
        slow.sendall(slow_body[1 << 20:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            piece = slow.recv(4096)
            if not piece:
                break
            answer += piece
        slow.close()
        assert answer.split(b" ", 2)[1] in (b"200", b"404"), answer[:300]
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert got == fast_body + b"tail"
