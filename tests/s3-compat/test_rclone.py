"""rclone (Debian's package, `--s3-provider Other`) as a nightly sync job uses it: a tree of more
than 2,000 files with awkward names and a multipart file, a second sync that transfers only the
changes and propagates deletions (rclone's own stats say so), `check` with and without
`--download`, modification times, server-side copy between buckets, `lsf -R`, `size`, `purge`.
Path style and virtual-hosted style (names mapped to 127.0.0.1 in /etc/hosts).
"""

import json
import os
import re
import shutil
import subprocess
import uuid
from datetime import datetime

import pytest

from conftest import CA_VARS, step

# Names every sync tool trips over, and a key of exactly 1,000 bytes (nested folders: a file
# name is at most 255 bytes).
ODD_NAMES = [
    "with space.txt",
    "plus+sign.txt",
    "percent%20encoded.txt",
    "hash#tag.txt",
    "ünïcødé-日本語.txt",
    "quote'and&amp.txt",
    "tilde~and=equals.txt",
]


def long_key_parts():
    parts = ["long", "a" * 200, "b" * 200, "c" * 200, "d" * 200]
    used = len("/".join(parts)) + 1
    parts.append("e" * (1000 - used))
    assert len("/".join(parts).encode()) == 1000
    return parts


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def make_tree(root):
    """2,000 small files in nested folders (every 50th empty), the odd names, the long key and a
    100 MiB file. Returns the number of files."""
    count = 0
    for d in range(20):
        for s in range(5):
            for f in range(20):
                n = d * 100 + s * 20 + f
                size = 0 if n % 50 == 0 else (n * 37) % 3000 + 1
                write(os.path.join(root, f"dir{d}", f"sub{s}", f"file{f}.bin"), os.urandom(size))
                count += 1
    for name in ODD_NAMES:
        write(os.path.join(root, "odd", name), name.encode() * 3)
        count += 1
    write(os.path.join(root, *long_key_parts()), b"the long key")
    count += 1
    big = os.path.join(root, "big", "hundred.bin")
    os.makedirs(os.path.dirname(big), exist_ok=True)
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(100):
            f.write(block[i:] + block[:i])
    count += 1
    return count


class Rclone:
    def __init__(self, endpoint, tmp, path_style):
        self.env = {k: v for k, v in os.environ.items() if k not in CA_VARS and not k.startswith("RCLONE_")}
        config = os.path.join(tmp, "rclone.conf")
        open(config, "w").close()
        self.env.update(
            RCLONE_CONFIG=config,
            RCLONE_CONFIG_STORE_TYPE="s3",
            RCLONE_CONFIG_STORE_PROVIDER="Other",
            RCLONE_CONFIG_STORE_ACCESS_KEY_ID=endpoint.access_key,
            RCLONE_CONFIG_STORE_SECRET_ACCESS_KEY=endpoint.secret_key,
            RCLONE_CONFIG_STORE_ENDPOINT=endpoint.url,
            RCLONE_CONFIG_STORE_REGION=endpoint.region,
            RCLONE_CONFIG_STORE_FORCE_PATH_STYLE="true" if path_style else "false",
            # The 100 MiB file goes up in 16 MiB parts.
            RCLONE_CONFIG_STORE_UPLOAD_CUTOFF="16Mi",
            RCLONE_CONFIG_STORE_CHUNK_SIZE="16Mi",
        )

    def __call__(self, *args, check=True):
        cmd = ["rclone", *args, "--transfers", "8", "--checkers", "8", "--low-level-retries", "2", "--retries", "1"]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=900)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        return proc


def stat(text, label):
    """A number from rclone's final stats block (`Transferred: 15 / 15, 100%`, `Deleted: 5 ...`)."""
    found = re.findall(rf"^{label}:\s+(\d+)", text, re.M)
    assert found, f"no `{label}` in rclone's stats:\n{text[-3000:]}"
    return int(found[-1])


def run_matrix(endpoint, tmp_path, path_style, suffix):
    rclone = Rclone(endpoint, str(tmp_path), path_style)
    style = "path style" if path_style else "virtual-hosted"

    def op(name):
        return step("rclone", f"{name} ({style})")

    src, dst = f"rc-src-{suffix}", f"rc-dst-{suffix}"
    tree = str(tmp_path / "tree")
    files = make_tree(tree)
    try:
        with op("sync of 2,000+ files and a 100 MiB multipart file"):
            rclone("mkdir", f"store:{src}")
            first = rclone("sync", tree, f"store:{src}", "--stats", "1h", "--stats-log-level", "NOTICE")
            assert stat(first.stderr, "Transferred") == files

        # Change, add and delete a few; the second sync moves exactly those.
        for i in range(10):
            write(os.path.join(tree, "dir3", "sub1", f"file{i}.bin"), os.urandom(5000 + i))
        for i in range(5):
            write(os.path.join(tree, "new", f"added{i}.txt"), f"new file {i}".encode())
        for i in range(5):
            os.remove(os.path.join(tree, "dir7", "sub4", f"file{i}.bin"))
        with op("second sync moves only changes and deletions"):
            second = rclone("sync", tree, f"store:{src}", "--stats", "1h", "--stats-log-level", "NOTICE")
            assert stat(second.stderr, "Transferred") == 15, second.stderr[-3000:]
            assert stat(second.stderr, "Deleted") == 5, second.stderr[-3000:]
        files += 5 - 5

        with op("check"):
            rclone("check", tree, f"store:{src}")
        with op("check --download"):
            rclone("check", tree, f"store:{src}", "--download")

        # Modification times survive (rclone keeps them in its mtime metadata).
        with op("modification times"):
            listed = json.loads(rclone("lsjson", "-R", "--files-only", f"store:{src}/odd").stdout)
            assert len(listed) == len(ODD_NAMES)
            for entry in listed:
                local = os.stat(os.path.join(tree, "odd", entry["Path"])).st_mtime
                remote = entry["ModTime"]
                # RFC 3339 with nanoseconds; compared to the microsecond.
                stamp = re.sub(r"(\.\d{6})\d*", r"\1", remote).replace("Z", "+00:00")
                assert abs(datetime.fromisoformat(stamp).timestamp() - local) < 0.001, entry

        with op("lsf -R (odd names, 1,000-byte key)"):
            names = rclone("lsf", "-R", "--files-only", f"store:{src}").stdout.splitlines()
            assert len(names) == files
            assert "/".join(long_key_parts()) in names
            for name in ODD_NAMES:
                assert f"odd/{name}" in names

        with op("size"):
            size = json.loads(rclone("size", "--json", f"store:{src}").stdout)
            local_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tree) for f in fs)
            assert (size["count"], size["bytes"]) == (files, local_bytes), size

        # Bucket to bucket: server-side copies, nothing through the client.
        with op("copy between buckets (server-side)"):
            rclone("mkdir", f"store:{dst}")
            copied = rclone("copy", f"store:{src}/odd", f"store:{dst}/odd", "-v", "--stats", "1h", "--stats-log-level", "NOTICE")
            assert copied.stderr.count("(server-side copy)") == len(ODD_NAMES), copied.stderr[-3000:]
            rclone("check", f"store:{src}/odd", f"store:{dst}/odd")

        with op("purge"):
            rclone("purge", f"store:{dst}")
            rclone("purge", f"store:{src}")
            buckets = rclone("lsf", "store:").stdout.splitlines()
            assert f"{src}/" not in buckets and f"{dst}/" not in buckets
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        for b in (src, dst):
            rclone("purge", f"store:{b}", check=False)


@pytest.fixture(scope="module")
def have_rclone():
    if shutil.which("rclone") is None:
        pytest.fail("rclone is not installed: scripts/setup.sh installs it")


def test_rclone_path_style(endpoint, tmp_path, have_rclone):
    run_matrix(endpoint, tmp_path, path_style=True, suffix=uuid.uuid4().hex[:8])


def test_rclone_virtual_host_style(vhost_endpoint, tmp_path, have_rclone):
    run_matrix(vhost_endpoint, tmp_path, path_style=False, suffix=vhost_endpoint.suffix)
