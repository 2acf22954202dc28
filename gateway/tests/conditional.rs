//! Conditional writes against three real storage nodes: racing `If-None-Match: *` PUTs have
//! exactly one winner (also with a node down), `If-Match` follows AWS, and
//! CompleteMultipartUpload honours the same conditions. Read preconditions (GET/HEAD and the
//! CopyObject copy-source headers) answer 304/412 as AWS does.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{code, status, TestCluster};

/// Starts `writers` PUTs of distinct bodies to one new key at once; returns the bodies of the
/// winners and the HTTP statuses of the losers.
async fn race(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    writers: usize,
) -> (Vec<String>, Vec<u16>) {
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let s3 = s3.clone();
            let (bucket, key) = (bucket.to_string(), key.to_string());
            tokio::spawn(async move {
                let body = format!("writer {i}");
                let r = s3
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .if_none_match("*")
                    .body(ByteStream::from(body.clone().into_bytes()))
                    .send()
                    .await;
                (body, r.map_err(|e| (status(&e), code(&e))))
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (body, Ok(_)) => winners.push(body),
            (_, Err((status, code))) => {
                assert!(
                    matches!(
                        code.as_str(),
                        "PreconditionFailed" | "ConditionalRequestConflict"
                    ),
                    "unexpected failure {status} {code}"
                );
                losers.push(status);
            }
        }
    }
    (winners, losers)
}

async fn body_of(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    String::from_utf8(got.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_if_none_match_has_exactly_one_winner() {
    let mut cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("race").send().await.unwrap();

    let (winners, losers) = race(&s3, "race", "once", 20).await;
    assert_eq!(winners.len(), 1, "losers: {losers:?}");
    assert_eq!(losers.len(), 19);
    assert_eq!(body_of(&s3, "race", "once").await, winners[0]);
    // Later conditional writers lose too, plain writers do not.
    let (late, _) = race(&s3, "race", "once", 3).await;
    assert!(late.is_empty());

    // The same with one of the three nodes down.
    cluster.kill_node(1);
    let (winners, losers) = race(&s3, "race", "degraded", 20).await;
    assert_eq!(winners.len(), 1, "losers: {losers:?}");
    assert_eq!(body_of(&s3, "race", "degraded").await, winners[0]);
    // A deleted key is absent again.
    s3.delete_object()
        .bucket("race")
        .key("degraded")
        .send()
        .await
        .unwrap();
    let (again, _) = race(&s3, "race", "degraded", 5).await;
    assert_eq!(again.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_and_conditional_completion() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("cond").send().await.unwrap();

    let missing = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "NoSuchKey");
    let first = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    let etag = first.e_tag().unwrap().to_string();
    let updated = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap();
    // The old ETag no longer matches.
    let stale = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"three"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&stale), "PreconditionFailed");
    assert_eq!(status(&stale), 412);
    assert_eq!(body_of(&s3, "cond", "k").await, "two");
    let taken = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"four"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&taken), "PreconditionFailed");
    assert_eq!(body_of(&s3, "cond", "k").await, "two");
    assert_ne!(updated.e_tag(), Some(etag.as_str()));

    // CompleteMultipartUpload with If-None-Match: * on an existing key fails and leaves the
    // upload to be completed elsewhere; on a new key it succeeds.
    for (key, exists) in [("k", true), ("fresh", false)] {
        let id = s3
            .create_multipart_upload()
            .bucket("cond")
            .key(key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        let part = s3
            .upload_part()
            .bucket("cond")
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from_static(b"multipart body"))
            .send()
            .await
            .unwrap();
        let done = s3
            .complete_multipart_upload()
            .bucket("cond")
            .key(key)
            .upload_id(&id)
            .if_none_match("*")
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .parts(
                        aws_sdk_s3::types::CompletedPart::builder()
                            .part_number(1)
                            .e_tag(part.e_tag().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await;
        if exists {
            assert_eq!(code(&done.unwrap_err()), "PreconditionFailed");
            assert_eq!(body_of(&s3, "cond", key).await, "two");
        } else {
            done.unwrap();
            assert_eq!(body_of(&s3, "cond", key).await, "multipart body");
        }
    }
}

/// GET/HEAD `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` and the
/// CopyObject `x-amz-copy-source-if-*` headers, with AWS's answers and precedence rules
/// (RFC 7232: If-Match before If-Unmodified-Since, If-None-Match before If-Modified-Since).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_copy_preconditions() {
    use aws_sdk_s3::primitives::DateTime;
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("pre").send().await.unwrap();
    let put = s3
        .put_object()
        .bucket("pre")
        .key("k")
        .body(ByteStream::from_static(b"precondition body"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_string();
    let head = s3
        .head_object()
        .bucket("pre")
        .key("k")
        .send()
        .await
        .unwrap();
    let modified = head.last_modified().unwrap().secs();
    let before = DateTime::from_secs(modified - 3600);
    let after = DateTime::from_secs(modified + 3600);
    let other = "\"0123456789abcdef0123456789abcdef\"";

    // (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since) -> status
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<DateTime>,
        Option<DateTime>,
        u16,
    );
    let cases: Vec<Case> = vec![
        (Some(&etag), None, None, None, 200),
        (Some("*"), None, None, None, 200),
        (Some(other), None, None, None, 412),
        (None, Some(&etag), None, None, 304),
        (None, Some("*"), None, None, 304),
        (None, Some(other), None, None, 200),
        (None, None, Some(before), None, 200),
        (None, None, Some(after), None, 304),
        (None, None, None, Some(after), 200),
        (None, None, None, Some(before), 412),
        // If-Match holds, so a failing If-Unmodified-Since is ignored.
        (Some(&etag), None, None, Some(before), 200),
        // If-None-Match fails (304) even though If-Modified-Since holds.
        (None, Some(&etag), Some(before), None, 304),
        // If-None-Match holds, so If-Modified-Since is ignored.
        (None, Some(other), Some(after), None, 200),
    ];
    for (i, (if_match, if_none, since, unmodified, want)) in cases.into_iter().enumerate() {
        let got = s3
            .get_object()
            .bucket("pre")
            .key("k")
            .set_if_match(if_match.map(str::to_string))
            .set_if_none_match(if_none.map(str::to_string))
            .set_if_modified_since(since)
            .set_if_unmodified_since(unmodified)
            .send()
            .await;
        let code_got = match &got {
            Ok(_) => 200,
            Err(e) => status(e),
        };
        assert_eq!(code_got, want, "GET case {i}");
        if want == 412 {
            assert_eq!(code(got.as_ref().unwrap_err()), "PreconditionFailed");
        }
        let headed = s3
            .head_object()
            .bucket("pre")
            .key("k")
            .set_if_match(if_match.map(str::to_string))
            .set_if_none_match(if_none.map(str::to_string))
            .set_if_modified_since(since)
            .set_if_unmodified_since(unmodified)
            .send()
            .await;
        let code_head = match &headed {
            Ok(_) => 200,
            Err(e) => status(e),
        };
        assert_eq!(code_head, want, "HEAD case {i}");

        // The same conditions on a copy source: a failure is always 412 there.
        let copied = s3
            .copy_object()
            .bucket("pre")
            .key(format!("copy-{i}"))
            .copy_source("pre/k")
            .set_copy_source_if_match(if_match.map(str::to_string))
            .set_copy_source_if_none_match(if_none.map(str::to_string))
            .set_copy_source_if_modified_since(since)
            .set_copy_source_if_unmodified_since(unmodified)
            .send()
            .await;
        match (want, copied) {
            (200, Ok(_)) => {}
            (_, Err(e)) if want != 200 => {
                assert_eq!(status(&e), 412, "copy case {i}");
                assert_eq!(code(&e), "PreconditionFailed", "copy case {i}");
                let absent = s3
                    .head_object()
                    .bucket("pre")
                    .key(format!("copy-{i}"))
                    .send()
                    .await;
                assert!(absent.is_err(), "copy case {i} left an object");
            }
            (_, other) => panic!("copy case {i}: wanted {want}, got {other:?}"),
        }
    }
}
