"""s3cmd (Debian's package) with signature v4, path style: mb, put, get, ls, la, info, sync,
multipart put, del, rb."""

import hashlib
import os
import shutil
import subprocess
import uuid
from urllib.parse import urlparse

import pytest

from conftest import CA_VARS


class S3cmd:
    def __init__(self, endpoint, tmp):
        url = urlparse(endpoint.url)
        self.config = os.path.join(tmp, "s3cfg")
        with open(self.config, "w") as f:
            f.write(
                "[default]\n"
                f"access_key = {endpoint.access_key}\n"
                f"secret_key = {endpoint.secret_key}\n"
                f"host_base = {url.netloc}\n"
                f"host_bucket = {url.netloc}\n"
                f"bucket_location = {endpoint.region}\n"
                f"use_https = {'True' if url.scheme == 'https' else 'False'}\n"
                "signature_v2 = False\n"
                "check_ssl_certificate = True\n"
            )
        self.env = {k: v for k, v in os.environ.items() if k not in CA_VARS}

    def __call__(self, *args, check=True):
        cmd = ["s3cmd", "-c", self.config, *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc


@pytest.fixture
def s3cmd(endpoint, tmp_path):
    if shutil.which("s3cmd") is None:
        pytest.fail("s3cmd is not installed: scripts/setup.sh installs it")
    return S3cmd(endpoint, str(tmp_path))


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_s3cmd_bucket_and_object_commands(s3cmd, s3, tmp_path):
    bucket = "s3cmd-" + uuid.uuid4().hex[:10]
    s3cmd("mb", f"s3://{bucket}")
    try:
        assert f"s3://{bucket}" in s3cmd("ls").stdout

        small = tmp_path / "small.txt"
        small.write_bytes(b"hello from s3cmd\n")
        s3cmd("put", "--mime-type=text/plain", str(small), f"s3://{bucket}/dir/small.txt")
        listing = s3cmd("ls", f"s3://{bucket}/dir/").stdout
        assert f"s3://{bucket}/dir/small.txt" in listing
        assert f"s3://{bucket}/dir/" in s3cmd("la").stdout

        info = s3cmd("info", f"s3://{bucket}/dir/small.txt").stdout
        assert "File size: 17" in info, info
        assert hashlib.md5(b"hello from s3cmd\n").hexdigest() in info, info
        assert "text/plain" in info, info

        back = tmp_path / "back.txt"
        s3cmd("get", f"s3://{bucket}/dir/small.txt", str(back))
        assert back.read_bytes() == small.read_bytes()

        # Multipart put: 12 MiB in 5 MiB parts, read back whole.
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(12 << 20))
        s3cmd("put", "--multipart-chunk-size-mb=5", str(big), f"s3://{bucket}/big.bin")
        assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-3"')
        big_back = tmp_path / "big.back"
        s3cmd("get", f"s3://{bucket}/big.bin", str(big_back))
        assert md5_file(big_back) == md5_file(big)

        # sync up, change, sync again (with deletion), sync down.
        tree = tmp_path / "tree"
        for i in range(12):
            (tree / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
            (tree / f"d{i % 3}" / f"f{i}.txt").write_bytes(f"file {i}\n".encode())
        s3cmd("sync", str(tree) + "/", f"s3://{bucket}/tree/")
        assert len(s3cmd("ls", "-r", f"s3://{bucket}/tree/").stdout.splitlines()) == 12
        (tree / "d0" / "f0.txt").write_bytes(b"changed, and longer than before\n")
        os.remove(tree / "d1" / "f1.txt")
        again = s3cmd("sync", "--delete-removed", str(tree) + "/", f"s3://{bucket}/tree/").stdout
        assert "d0/f0.txt" in again and "delete:" in again, again
        down = tmp_path / "down"
        s3cmd("sync", f"s3://{bucket}/tree/", str(down) + "/")
        got = sorted(str(p.relative_to(down)) for p in down.rglob("*.txt"))
        want = sorted(str(p.relative_to(tree)) for p in tree.rglob("*.txt"))
        assert got == want
        assert (down / "d0" / "f0.txt").read_bytes() == b"changed, and longer than before\n"

        s3cmd("del", f"s3://{bucket}/dir/small.txt")
        assert "small.txt" not in s3cmd("ls", "-r", f"s3://{bucket}").stdout
        missing = s3cmd("get", f"s3://{bucket}/dir/small.txt", str(tmp_path / "nope"), check=False)
        assert missing.returncode != 0 and "does not exist" in missing.stderr, missing.stderr
    finally:
        s3cmd("del", "--recursive", "--force", f"s3://{bucket}", check=False)
        s3cmd("rb", f"s3://{bucket}", check=False)
    assert f"s3://{bucket}" not in s3cmd("ls").stdout
