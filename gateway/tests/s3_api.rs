//! Every S3 operation of the foundation, through the Rust SDK, against three storage-node
//! processes and a gateway process.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};
use common::{code, md5_hex, pattern, status, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();

    s3.create_bucket().bucket("alpha").send().await.unwrap();
    s3.create_bucket().bucket("beta").send().await.unwrap();
    // us-east-1 answers its owner's repeated creation with 200 and changes nothing.
    s3.create_bucket().bucket("alpha").send().await.unwrap();

    let bad = s3
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad), "InvalidBucketName");

    s3.head_bucket().bucket("alpha").send().await.unwrap();
    let missing = s3.head_bucket().bucket("nope").send().await.unwrap_err();
    assert_eq!(status(&missing), 404);

    let names: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let location = s3
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .unwrap();
    assert!(location
        .location_constraint()
        .is_none_or(|c| c.as_str().is_empty()));

    s3.put_object()
        .bucket("alpha")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let not_empty = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&not_empty), "BucketNotEmpty");
    assert_eq!(status(&not_empty), 409);

    s3.delete_object()
        .bucket("alpha")
        .key("x")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket("alpha").send().await.unwrap();
    let gone = s3
        .list_objects_v2()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&gone), "NoSuchBucket");
    let put_gone = s3
        .put_object()
        .bucket("alpha")
        .key("y")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&put_gone), "NoSuchBucket");
    // A deleted name can be created again.
    s3.create_bucket().bucket("alpha").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_with_headers_and_metadata() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("objs").send().await.unwrap();

    for (key, len) in [
        ("empty", 0usize),
        ("small", 1000),
        ("inline-edge", 16 << 10),
        ("chunked", 3 * (1 << 20) + 17),
    ] {
        let data = pattern(len, len as u64);
        let put = s3
            .put_object()
            .bucket("objs")
            .key(key)
            .body(ByteStream::from(data.clone()))
            .content_type("application/x-test")
            .content_encoding("identity")
            .content_disposition("attachment; filename=\"a b.bin\"")
            .cache_control("max-age=60")
            .content_language("en")
            .expires(aws_sdk_s3::primitives::DateTime::from_secs(1_900_000_000))
            .metadata("color", "blue")
            .metadata("Mixed-Case", "Value With Spaces")
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.e_tag(),
            Some(format!("\"{}\"", md5_hex(&data)).as_str())
        );

        let got = s3
            .get_object()
            .bucket("objs")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(got.content_type(), Some("application/x-test"));
        assert_eq!(got.content_encoding(), Some("identity"));
        assert_eq!(
            got.content_disposition(),
            Some("attachment; filename=\"a b.bin\"")
        );
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(got.content_language(), Some("en"));
        assert_eq!(got.expires_string(), Some("Sun, 17 Mar 2030 17:46:40 GMT"));
        assert_eq!(got.content_length(), Some(len as i64));
        assert_eq!(got.e_tag(), put.e_tag());
        let meta = got.metadata().unwrap();
        assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
        assert_eq!(
            meta.get("mixed-case").map(String::as_str),
            Some("Value With Spaces")
        );
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), md5_hex(&data), "{key}");

        let head = s3
            .head_object()
            .bucket("objs")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(len as i64));
        assert_eq!(head.e_tag(), put.e_tag());
        assert!(head.last_modified().is_some());
    }

    let missing = s3
        .get_object()
        .bucket("objs")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "NoSuchKey");
    assert_eq!(status(&missing), 404);
    let no_bucket = s3
        .get_object()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_bucket), "NoSuchBucket");

    // Overwrite: the newest version wins.
    s3.put_object()
        .bucket("objs")
        .key("small")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("objs")
        .key("small")
        .send()
        .await
        .unwrap();
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"new");

    // Delete, then delete again (idempotent), then it is gone.
    s3.delete_object()
        .bucket("objs")
        .key("small")
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket("objs")
        .key("small")
        .send()
        .await
        .unwrap();
    let gone = s3
        .head_object()
        .bucket("objs")
        .key("small")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&gone), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("ranges").send().await.unwrap();
    // Small chunks are 1 MiB: a 2.5 MiB object has ranges that cross chunk borders.
    let data = pattern(5 * (1 << 19), 7);
    s3.put_object()
        .bucket("ranges")
        .key("obj")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let len = data.len();
    let cases = [
        ("bytes=0-0", 0..1),
        ("bytes=10-19", 10..20),
        ("bytes=1048570-1048590", 1_048_570..1_048_591),
        ("bytes=2000000-", 2_000_000..len),
        ("bytes=-100", len - 100..len),
        ("bytes=0-99999999", 0..len),
        ("bytes=-99999999", 0..len),
    ];
    for (header, want) in cases {
        let got = s3
            .get_object()
            .bucket("ranges")
            .key("obj")
            .range(header)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {}-{}/{len}", want.start, want.end - 1).as_str()),
            "{header}"
        );
        assert_eq!(got.content_length(), Some((want.end - want.start) as i64));
        let body = got.body.collect().await.unwrap().into_bytes();
        assert!(body[..] == data[want.clone()], "{header}: wrong bytes");
    }
    for bad in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 5, len + 10),
    ] {
        let err = s3
            .get_object()
            .bucket("ranges")
            .key("obj")
            .range(&bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidRange", "{bad}");
        assert_eq!(status(&err), 416, "{bad}");
    }
    // An empty object: every range is unsatisfiable, suffix ranges included, for GET and HEAD;
    // the connection and the gateway stay up.
    s3.put_object()
        .bucket("ranges")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    for bad in ["bytes=-1", "bytes=0-", "bytes=0-0", "bytes=-100"] {
        let err = s3
            .get_object()
            .bucket("ranges")
            .key("empty")
            .range(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidRange", "GET {bad}");
        assert_eq!(status(&err), 416, "GET {bad}");
        let err = s3
            .head_object()
            .bucket("ranges")
            .key("empty")
            .range(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&err), 416, "HEAD {bad}");
    }
    let whole = s3
        .get_object()
        .bucket("ranges")
        .key("empty")
        .send()
        .await
        .unwrap();
    assert_eq!(whole.content_length(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_batch_delete() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("src").send().await.unwrap();
    s3.create_bucket().bucket("dst").send().await.unwrap();
    let data = pattern(1_500_000, 3);
    s3.put_object()
        .bucket("src")
        .key("a b+c")
        .content_type("text/plain")
        .metadata("k", "v")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();

    let copied = s3
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("src/a%20b%2Bc")
        .send()
        .await
        .unwrap();
    let etag = copied
        .copy_object_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    assert_eq!(etag, format!("\"{}\"", md5_hex(&data)));
    let got = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata().unwrap().get("k").map(String::as_str),
        Some("v")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        data.len()
    );

    let replaced = s3
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("dst/copy")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/json")
        .metadata("new", "1")
        .send()
        .await
        .unwrap();
    assert!(replaced.copy_object_result().is_some());
    let head = s3
        .head_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
    let meta = head.metadata().unwrap();
    assert_eq!(meta.get("new").map(String::as_str), Some("1"));
    assert!(!meta.contains_key("k"));

    let to_self = s3
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("dst/copy")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&to_self), "InvalidRequest");
    let no_src = s3
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("src/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_src), "NoSuchKey");

    for i in 0..5 {
        s3.put_object()
            .bucket("dst")
            .key(format!("d{i}"))
            .body(ByteStream::from_static(b"1"))
            .send()
            .await
            .unwrap();
    }
    let ids = |keys: &[&str]| {
        Delete::builder().set_objects(Some(
            keys.iter()
                .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                .collect(),
        ))
    };
    let out = s3
        .delete_objects()
        .bucket("dst")
        .delete(ids(&["d0", "d1", "never-existed"]).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 3);
    assert!(out.errors().is_empty());
    let quiet = s3
        .delete_objects()
        .bucket("dst")
        .delete(ids(&["d2", "d3"]).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(quiet.deleted().is_empty());
    let left: Vec<String> = common::keys_in(&s3, "dst").await;
    assert_eq!(left, ["copy", "d4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_and_delimiters() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("list").send().await.unwrap();
    // 1,500 keys: 3 folders of 400 and 300 top-level keys.
    let mut keys: Vec<String> = Vec::new();
    for f in 0..3 {
        for i in 0..400 {
            keys.push(format!("dir{f}/file{i:04}"));
        }
    }
    for i in 0..300 {
        keys.push(format!("top{i:04}"));
    }
    let uploads = futures::stream::iter(keys.clone())
        .map(|k| {
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket("list")
                    .key(k)
                    .body(ByteStream::from_static(b"v"))
                    .send()
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(32);
    use futures::StreamExt;
    uploads.collect::<Vec<_>>().await;
    keys.sort();

    // V2, pages of 333 via continuation tokens.
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("list")
            .max_keys(333)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.key_count().unwrap() <= 333);
        listed.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
        if page.is_truncated() == Some(true) {
            token = page.next_continuation_token().map(str::to_string);
        } else {
            break;
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(listed, keys);

    // Paginator over the whole bucket agrees.
    let mut pager = s3.list_objects_v2().bucket("list").into_paginator().send();
    let mut count = 0;
    while let Some(page) = pager.next().await {
        count += page.unwrap().contents().len();
    }
    assert_eq!(count, 1500);

    // Delimiter: 3 common prefixes and 300 keys, paged 100 at a time.
    let mut prefixes = Vec::new();
    let mut top = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("list")
            .delimiter("/")
            .max_keys(100)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        prefixes.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_string()),
        );
        top.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
        token = page.next_continuation_token().map(str::to_string);
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    assert_eq!(prefixes, ["dir0/", "dir1/", "dir2/"]);
    assert_eq!(top.len(), 300);

    // Prefix + delimiter inside a folder, start-after, fetch-owner.
    let page = s3
        .list_objects_v2()
        .bucket("list")
        .prefix("dir1/")
        .delimiter("/")
        .start_after("dir1/file0389")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let got: Vec<_> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0], "dir1/file0390");
    let first = &page.contents()[0];
    // Owners are shown by an opaque canonical user id (derived with the cluster secret), the
    // same in listings, ACLs and ListBuckets, never by the access key id.
    let canonical = node_api::auth::ClusterKey::new(cluster.cluster_secret())
        .opaque_id("canonical-user", common::ACCESS_KEY);
    assert_eq!(first.owner().and_then(|o| o.id()), Some(canonical.as_str()));
    assert!(!canonical.contains(common::ACCESS_KEY));
    let acl = s3.get_bucket_acl().bucket("list").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(canonical.as_str()));
    assert_eq!(
        acl.grants()[0].grantee().and_then(|g| g.id()),
        Some(canonical.as_str())
    );
    let buckets = s3.list_buckets().send().await.unwrap();
    assert_eq!(
        buckets.owner().and_then(|o| o.id()),
        Some(canonical.as_str())
    );
    assert_eq!(first.size(), Some(1));
    assert_eq!(
        first.e_tag(),
        Some(format!("\"{}\"", md5_hex(b"v")).as_str())
    );

    // V1 with marker and delimiter.
    let v1 = s3
        .list_objects()
        .bucket("list")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.is_truncated(), Some(true));
    assert_eq!(v1.next_marker(), Some("dir1/"));
    let v1b = s3
        .list_objects()
        .bucket("list")
        .delimiter("/")
        .marker("dir1/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let cps: Vec<_> = v1b
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(cps, ["dir2/"]);
    assert_eq!(v1b.contents()[0].key(), Some("top0000"));
    let all_v1 = s3
        .list_objects()
        .bucket("list")
        .prefix("dir0/")
        .send()
        .await
        .unwrap();
    assert_eq!(all_v1.contents().len(), 400);
    assert_eq!(all_v1.is_truncated(), Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_keys_and_url_encoding() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("keys").send().await.unwrap();
    let long = "k".repeat(1000);
    let keys = [
        "a b",
        "plus+sign",
        "per%cent",
        "hash#tag",
        "ünïcødé/ファイル",
        "q?x=1&y",
        long.as_str(),
    ];
    for k in keys {
        s3.put_object()
            .bucket("keys")
            .key(k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
        let got = s3.get_object().bucket("keys").key(k).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes(), k.as_bytes());
    }
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    // Without encoding-type the keys come back verbatim (XML-escaped on the wire).
    let listed: Vec<String> = common::keys_in(&s3, "keys").await;
    assert_eq!(listed, want);
    // With encoding-type=url they come back percent-encoded (the Rust SDK does not decode them,
    // botocore does); decoding must give the keys back intact.
    let listed = s3
        .list_objects_v2()
        .bucket("keys")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.encoding_type(),
        Some(&aws_sdk_s3::types::EncodingType::Url)
    );
    let decoded: Vec<String> = listed
        .contents()
        .iter()
        .map(|o| {
            percent_encoding::percent_decode_str(o.key().unwrap())
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .collect();
    assert_eq!(decoded, want);
    assert!(listed.contents().iter().any(|o| o.key() == Some("a%20b")));
    let too_long = s3
        .put_object()
        .bucket("keys")
        .key("x".repeat(1025))
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&too_long), "KeyTooLongError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_from_file_and_memory() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("big").send().await.unwrap();
    let data = pattern(100 << 20, 11);
    let want = md5_hex(&data);
    let file = cluster.path().join("upload.bin");
    std::fs::write(&file, &data).unwrap();
    // A file body takes the SDK's streaming path (aws-chunked with a checksum trailer).
    let put = s3
        .put_object()
        .bucket("big")
        .key("from-file")
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(format!("\"{want}\"").as_str()));
    std::fs::remove_file(&file).unwrap();
    s3.put_object()
        .bucket("big")
        .key("from-memory")
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap();
    for key in ["from-file", "from-memory"] {
        let got = s3.get_object().bucket("big").key(key).send().await.unwrap();
        assert_eq!(got.content_length(), Some(100 << 20));
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), want, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_enforced() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("auth").send().await.unwrap();
    let wrong_secret =
        common::client_for(&cluster.endpoint(), common::ACCESS_KEY, "not-the-secret");
    let err = wrong_secret.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&err), "SignatureDoesNotMatch");
    assert_eq!(status(&err), 403);
    let unknown = common::client_for(&cluster.endpoint(), "NOSUCHKEY", "x");
    let err = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidAccessKeyId");

    // Refused requests changed nothing on the nodes (internal_auth.rs attacks the nodes
    // themselves).
    let buckets = cluster
        .node_client(0)
        .list_records::<node_api::model::BucketRecord>()
        .await
        .unwrap();
    assert_eq!(buckets.len(), 1, "{buckets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_verified() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("sums").send().await.unwrap();
    // The SDK computes and sends a correct CRC32 by default.
    let ok = s3
        .put_object()
        .bucket("sums")
        .key("ok")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.checksum_crc32(), Some("NhCmhg=="));
    // A wrong value supplied by the caller is refused and nothing is stored.
    for (alg, key) in [
        ("crc32", "bad32"),
        ("sha256", "bad256"),
        ("crc32c", "bad32c"),
    ] {
        let req = s3
            .put_object()
            .bucket("sums")
            .key(key)
            .body(ByteStream::from_static(b"hello"));
        let req = match alg {
            "crc32" => req.checksum_crc32("AAAAAA=="),
            "crc32c" => req.checksum_crc32_c("AAAAAA=="),
            _ => req.checksum_sha256("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        };
        let err = req.send().await.unwrap_err();
        assert_eq!(code(&err), "BadDigest", "{alg}");
        assert_eq!(status(&err), 400);
        let gone = s3
            .head_object()
            .bucket("sums")
            .key(key)
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&gone), 404, "{alg}");
    }
    let bad_md5 = s3
        .put_object()
        .bucket("sums")
        .key("md5")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_md5), "BadDigest");
}

/// Outside us-east-1 a repeated creation by the owner is BucketAlreadyOwnedByYou (409), and
/// another key's is BucketAlreadyExists either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_creation_outside_us_east_1_is_a_conflict() {
    let cluster = TestCluster::start_with(common::Shape {
        gateway_yaml: "region: eu-west-1\n",
        ..Default::default()
    });
    let s3 = cluster.client();
    s3.create_bucket().bucket("alpha").send().await.unwrap();
    let again = s3.create_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&again), "BucketAlreadyOwnedByYou");
    assert_eq!(status(&again), 409);
}
