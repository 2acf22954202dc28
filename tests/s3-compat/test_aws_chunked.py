"""aws-chunked request bodies in all three forms, built byte by byte and signed here with SigV4
(the SDKs pick one form each; these tests pin every form down):

- STREAMING-AWS4-HMAC-SHA256-PAYLOAD: signed chunks, no trailer;
- STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks and a signed checksum trailer;
- STREAMING-UNSIGNED-PAYLOAD-TRAILER: unsigned chunks and a checksum trailer.

The stored object must be the decoded bytes (never the framing), a wrong trailer checksum must
be BadDigest for every algorithm, a wrong chunk signature SignatureDoesNotMatch, and a refused
upload must leave nothing behind.
"""

import base64
import datetime
import hashlib
import hmac
import os
import zlib
from urllib.parse import urlparse

import pytest
import requests

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CHUNK = 64 * 1024


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Signer:
    """SigV4 for one request: the seed signature, then chunk and trailer signatures chained to it."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        now = datetime.datetime.now(datetime.timezone.utc)
        self.amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        self.scope = f"{day}/{endpoint.region}/s3/aws4_request"
        key = _hmac(("AWS4" + endpoint.secret_key).encode(), day)
        key = _hmac(key, endpoint.region)
        key = _hmac(key, "s3")
        self.key = _hmac(key, "aws4_request")
        self.previous = None

    def _sign(self, string_to_sign):
        self.previous = hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        return self.previous

    def seed(self, method, path, headers):
        names = sorted(headers)
        canonical = "\n".join([
            method,
            path,
            "",
            "".join(f"{n}:{headers[n].strip()}\n" for n in names),
            ";".join(names),
            headers["x-amz-content-sha256"],
        ])
        signature = self._sign("\n".join([
            "AWS4-HMAC-SHA256", self.amz_date, self.scope, hashlib.sha256(canonical.encode()).hexdigest(),
        ]))
        return (
            f"AWS4-HMAC-SHA256 Credential={self.endpoint.access_key}/{self.scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )

    def chunk(self, data):
        return self._sign("\n".join([
            "AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, self.previous, EMPTY_SHA256,
            hashlib.sha256(data).hexdigest(),
        ]))

    def trailer(self, canonical_trailers):
        return self._sign("\n".join([
            "AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, self.previous,
            hashlib.sha256(canonical_trailers.encode()).hexdigest(),
        ]))


def chunked_put(endpoint, bucket, key, data, mode, trailer=None, corrupt_chunk_signature=False,
                without_length=False):
    """PUTs `data` as an aws-chunked body. mode: "signed", "signed-trailer" or "unsigned-trailer";
    trailer: (header name, value) sent after the last chunk; without_length: sent with HTTP's
    `Transfer-Encoding: chunked` and no Content-Length (only the decoded length is announced)."""
    url = urlparse(endpoint.url)
    path = f"/{bucket}/{key}"
    content_sha = {
        "signed": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "signed-trailer": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "unsigned-trailer": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    }[mode]
    signer = Signer(endpoint)
    headers = {
        "host": url.netloc,
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": content_sha,
        "x-amz-date": signer.amz_date,
        "x-amz-decoded-content-length": str(len(data)),
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    headers["authorization"] = signer.seed("PUT", path, {k: v for k, v in headers.items()})

    body = bytearray()
    pieces = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] + [b""]
    for piece in pieces:
        if mode == "unsigned-trailer":
            body += f"{len(piece):x}\r\n".encode()
        else:
            signature = signer.chunk(piece)
            if corrupt_chunk_signature and piece:
                signature = "0" * 64
            body += f"{len(piece):x};chunk-signature={signature}\r\n".encode()
        if piece:
            body += piece + b"\r\n"
    if trailer:
        name, value = trailer
        body += f"{name}:{value}\r\n".encode()
        if mode == "signed-trailer":
            signature = signer.trailer(name + ":" + value + "\n")
            body += f"x-amz-trailer-signature:{signature}\r\n".encode()
        body += b"\r\n"
    else:
        body += b"\r\n"
    session = requests.Session()
    session.trust_env = False
    send = {k: v for k, v in headers.items() if k != "host"}
    if without_length:
        pieces = [bytes(body[i:i + 10_000]) for i in range(0, len(body), 10_000)]
        return session.put(endpoint.url + path, data=iter(pieces), headers=send, timeout=60)
    return session.put(endpoint.url + path, data=bytes(body), headers=send, timeout=60)


def b64(raw):
    return base64.b64encode(raw).decode()


def crc32(data):
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def sha256(data):
    return b64(hashlib.sha256(data).digest())


# Values of the right length for each algorithm that do not match the body.
WRONG = {
    "x-amz-checksum-crc32": b64(b"\0\1\2\3"),
    "x-amz-checksum-crc32c": b64(b"\0\1\2\3"),
    "x-amz-checksum-crc64nvme": b64(b"\0\1\2\3\4\5\6\7"),
    "x-amz-checksum-sha1": b64(bytes(20)),
    "x-amz-checksum-sha256": b64(bytes(32)),
}


@pytest.fixture
def body():
    return os.urandom(200 * 1024 + 17)


@pytest.mark.parametrize("mode,trailer", [
    ("signed", None),
    ("signed-trailer", "x-amz-checksum-crc32"),
    ("signed-trailer", "x-amz-checksum-sha256"),
    ("unsigned-trailer", "x-amz-checksum-crc32"),
    ("unsigned-trailer", "x-amz-checksum-sha256"),
])
def test_stored_bytes_are_the_decoded_body(endpoint, s3, bucket, body, mode, trailer):
    value = {None: None, "x-amz-checksum-crc32": crc32(body), "x-amz-checksum-sha256": sha256(body)}[trailer]
    resp = chunked_put(endpoint, bucket, "obj", body, mode, trailer and (trailer, value))
    assert resp.status_code == 200, resp.text
    got = s3.get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert got["ContentLength"] == len(body)
    assert got["Body"].read() == body
    assert got.get("ContentEncoding") in (None, "")  # aws-chunked is transport, not content
    if trailer:
        field = "ChecksumCRC32" if trailer.endswith("crc32") else "ChecksumSHA256"
        assert got[field] == value


@pytest.mark.parametrize("mode,trailer", [
    ("signed", None),
    ("signed-trailer", "x-amz-checksum-crc32"),
    ("unsigned-trailer", "x-amz-checksum-crc32"),
])
def test_streaming_signed_body_needs_no_content_length(endpoint, s3, bucket, body, mode, trailer):
    """As on AWS, a streaming upload sent with `Transfer-Encoding: chunked` and no
    Content-Length is accepted (x-amz-decoded-content-length says the size); a plain payload
    without a length is 411 MissingContentLength (test_aws_answers.py)."""
    value = trailer and (trailer, crc32(body))
    resp = chunked_put(endpoint, bucket, "nolength", body, mode, value, without_length=True)
    assert resp.status_code == 200, resp.text
    assert s3.get_object(Bucket=bucket, Key="nolength")["Body"].read() == body


@pytest.mark.parametrize("mode", ["signed-trailer", "unsigned-trailer"])
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_trailer_checksum_is_bad_digest_and_stores_nothing(endpoint, s3, bucket, body, mode, name):
    resp = chunked_put(endpoint, bucket, "bad", body, mode, (name, WRONG[name]))
    assert resp.status_code == 400, resp.text
    assert "<Code>BadDigest</Code>" in resp.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_wrong_chunk_signature_stores_nothing(endpoint, s3, bucket, body):
    resp = chunked_put(endpoint, bucket, "forged", body, "signed", corrupt_chunk_signature=True)
    assert resp.status_code == 403, resp.text
    assert "<Code>SignatureDoesNotMatch</Code>" in resp.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_truncated_chunked_body_stores_nothing(endpoint, s3, bucket, body):
    """A decoded length that promises more than the chunks carry is refused."""
    url = urlparse(endpoint.url)
    signer = Signer(endpoint)
    headers = {
        "host": url.netloc,
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-date": signer.amz_date,
        "x-amz-decoded-content-length": str(len(body) + 100),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    headers["authorization"] = signer.seed("PUT", f"/{bucket}/short", dict(headers))
    framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n" + f"x-amz-checksum-crc32:{crc32(body)}\r\n\r\n".encode()
    session = requests.Session()
    session.trust_env = False
    resp = session.put(f"{endpoint.url}/{bucket}/short", data=framed,
                       headers={k: v for k, v in headers.items() if k != "host"}, timeout=60)
    assert resp.status_code in (400, 403), resp.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
