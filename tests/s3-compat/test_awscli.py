"""aws-cli against a live cluster: the high-level `s3` commands and the `s3api` calls."""

import hashlib
import json
import os
import time


def write_tree(root, files):
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        # S3's LastModified has second precision (as on AWS); a file written in the same second
        # as its upload would look newer than the object and be uploaded again by `sync`.
        past = time.time() - 60
        os.utime(path, (past, past))


def test_mb_cp_ls_rm(aws, bucket, tmp_path, s3):
    aws("s3", "mb", "s3://cli-made-" + bucket[2:])
    ls = aws("s3", "ls").stdout
    assert "cli-made-" + bucket[2:] in ls
    aws("s3", "rb", "s3://cli-made-" + bucket[2:])

    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello from aws-cli\n")
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/hello.txt")
    listing = aws("s3", "ls", f"s3://{bucket}/dir/").stdout
    assert "hello.txt" in listing and "19" in listing
    dst = tmp_path / "back.txt"
    aws("s3", "cp", f"s3://{bucket}/dir/hello.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    aws("s3", "rm", f"s3://{bucket}/dir/hello.txt")
    assert "hello.txt" not in aws("s3", "ls", f"s3://{bucket}/", "--recursive").stdout


def test_cp_large_single_part(aws, bucket, tmp_path):
    data = os.urandom(7 * 1024 * 1024)  # under aws-cli's 8 MiB multipart threshold
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/big.bin")
    dst = tmp_path / "big.out"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(dst))
    assert hashlib.md5(dst.read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()


def test_cp_multipart_200_mib(aws, bucket, tmp_path, s3):
    # Above 8 MiB aws-cli uploads in parallel parts and downloads with ranged GETs.
    src = tmp_path / "multi.bin"
    md5 = hashlib.md5()
    with open(src, "wb") as f:
        for _ in range(25):
            block = os.urandom(8 * 1024 * 1024)
            md5.update(block)
            f.write(block)
    aws("s3", "cp", str(src), f"s3://{bucket}/multi.bin")
    head = s3.head_object(Bucket=bucket, Key="multi.bin")
    assert head["ContentLength"] == 200 * 1024 * 1024
    assert head["ETag"].endswith('-25"')
    src.unlink()
    dst = tmp_path / "multi.out"
    aws("s3", "cp", f"s3://{bucket}/multi.bin", str(dst))
    got = hashlib.md5()
    with open(dst, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            got.update(block)
    assert got.hexdigest() == md5.hexdigest()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_sync_both_ways(aws, bucket, tmp_path):
    up = tmp_path / "up"
    files = {f"d{i}/f{j}.txt": f"file {i} {j}\n".encode() for i in range(3) for j in range(5)}
    files["top.bin"] = os.urandom(100_000)
    files["with space/and+plus.txt"] = b"odd names"
    write_tree(up, files)
    aws("s3", "sync", str(up), f"s3://{bucket}/tree")
    listed = aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout
    assert len(listed.strip().splitlines()) == len(files)

    # A second sync uploads nothing.
    again = aws("s3", "sync", str(up), f"s3://{bucket}/tree").stdout
    assert "upload:" not in again

    # Change one file, delete one, and sync with --delete.
    (up / "d0" / "f0.txt").write_bytes(b"changed content, different size\n")
    os.remove(up / "d1" / "f1.txt")
    changed = aws("s3", "sync", "--delete", str(up), f"s3://{bucket}/tree").stdout
    assert "d0/f0.txt" in changed and "delete:" in changed

    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/tree", str(down))
    for rel in files:
        if rel == "d1/f1.txt":
            assert not (down / rel).exists()
        else:
            assert (down / rel).read_bytes() == (up / rel).read_bytes(), rel


def test_s3api_calls(aws, bucket, tmp_path):
    body = tmp_path / "obj.json"
    body.write_text('{"a": 1}')
    put = json.loads(
        aws(
            "s3api", "put-object", "--bucket", bucket, "--key", "obj.json", "--body", str(body),
            "--content-type", "application/json", "--metadata", "owner=cli",
        ).stdout
    )
    assert put["ETag"] == '"%s"' % hashlib.md5(b'{"a": 1}').hexdigest()
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "obj.json").stdout)
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"owner": "cli"}
    assert head["ContentLength"] == 8

    out = tmp_path / "out.json"
    got = json.loads(aws("s3api", "get-object", "--bucket", bucket, "--key", "obj.json", "--range", "bytes=1-4", str(out)).stdout)
    assert got["ContentRange"] == "bytes 1-4/8"
    assert out.read_bytes() == b'"a":'

    aws("s3api", "copy-object", "--bucket", bucket, "--key", "copy.json", "--copy-source", f"{bucket}/obj.json")
    listed = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket).stdout)
    assert [o["Key"] for o in listed["Contents"]] == ["copy.json", "obj.json"]

    missing = aws("s3api", "head-object", "--bucket", bucket, "--key", "nope", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr

    deleted = json.loads(
        aws("s3api", "delete-objects", "--bucket", bucket, "--delete", json.dumps({"Objects": [{"Key": "copy.json"}, {"Key": "obj.json"}]})).stdout
    )
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["copy.json", "obj.json"]
    loc = json.loads(aws("s3api", "get-bucket-location", "--bucket", bucket).stdout)
    assert loc.get("LocationConstraint") in (None, "")
    err = aws("s3api", "get-object", "--bucket", bucket, "--key", "gone", str(out), check=False)
    assert "NoSuchKey" in err.stderr


def test_recursive_copy_move_filters_and_sync_down_with_delete(aws, bucket, tmp_path, s3):
    src = tmp_path / "src"
    files = {
        "a.txt": b"a",
        "b.log": b"bb",
        "keep/c.txt": b"ccc",
        "keep/d.log": b"dddd",
        "skip/e.txt": b"eeeee",
    }
    write_tree(src, files)
    # cp --recursive with filters: only .txt files, and nothing under skip/.
    aws("s3", "cp", "--recursive", str(src), f"s3://{bucket}/cp/", "--exclude", "*", "--include", "*.txt", "--exclude", "skip/*")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="cp/").get("Contents", []))
    assert keys == ["cp/a.txt", "cp/keep/c.txt"]

    # sync with --exclude leaves the excluded files alone on both sides.
    aws("s3", "sync", str(src), f"s3://{bucket}/sync/", "--exclude", "*.log")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="sync/")["Contents"])
    assert keys == ["sync/a.txt", "sync/keep/c.txt", "sync/skip/e.txt"]

    # mv: a server-side copy then a delete, single object and recursive.
    aws("s3", "mv", f"s3://{bucket}/sync/a.txt", f"s3://{bucket}/moved/a.txt")
    aws("s3", "mv", "--recursive", f"s3://{bucket}/sync/keep/", f"s3://{bucket}/moved/keep/")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert "sync/a.txt" not in keys and "sync/keep/c.txt" not in keys
    assert {"moved/a.txt", "moved/keep/c.txt"} <= set(keys)
    assert s3.get_object(Bucket=bucket, Key="moved/keep/c.txt")["Body"].read() == b"ccc"
    local = tmp_path / "moved.txt"
    aws("s3", "mv", f"s3://{bucket}/moved/a.txt", str(local))
    assert local.read_bytes() == b"a"
    assert "moved/a.txt" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]

    # sync down with --delete removes local files the bucket no longer has.
    down = tmp_path / "down"
    write_tree(down, {"stale.txt": b"old", "e.txt": b"x"})
    aws("s3", "sync", "--delete", f"s3://{bucket}/sync/skip/", str(down))
    assert sorted(p.name for p in down.iterdir()) == ["e.txt"]
    assert (down / "e.txt").read_bytes() == b"eeeee"
