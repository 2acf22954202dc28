//! Bucket quotas on a three-node cluster: 16 writers at once against an object quota and a
//! byte quota store exactly what the quota admits (one gateway: no slack), the rest get 403
//! QuotaExceeded; CopyObject and CompleteMultipartUpload are refused beyond the quota too;
//! deletes give the room back at the next recount; a bucket without a quota is not limited.

mod common;

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{code, keys_in, pattern, status, TestCluster};

const WRITERS: usize = 16;

/// Every writer PUTs its own keys until it has been refused `refusals` times; answers the
/// keys stored and checks every refusal is 403 QuotaExceeded.
async fn fill(s3: &aws_sdk_s3::Client, bucket: &str, size: usize) -> usize {
    let stored = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (s3, bucket, stored) = (s3.clone(), bucket.to_string(), stored.clone());
        tasks.push(tokio::spawn(async move {
            let mut refused = 0;
            for n in 0.. {
                let put = s3
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("w{w}/{n}"))
                    .body(ByteStream::from(pattern(size, n)))
                    .send()
                    .await;
                match put {
                    Ok(_) => {
                        stored.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(e) => {
                        assert_eq!((status(&e), code(&e).as_str()), (403, "QuotaExceeded"));
                        refused += 1;
                        if refused == 3 {
                            break;
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stored.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_store_exactly_what_the_quota_admits() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    for b in ["counted", "weighed", "free"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let out = cluster.admin(&["bucket-quota", "counted", "--max-objects", "40"]);
    assert!(out.contains("counted: quota objects<=40"), "{out}");
    cluster.admin(&["bucket-quota", "weighed", "--max-bytes", "300000"]);
    let listing = cluster.admin(&["buckets"]);
    assert!(listing.contains("\tbytes<=300000"), "{listing}");
    // The gateway's bucket cache keeps a record for a second.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    assert_eq!(fill(&s3, "counted", 1000).await, 40);
    assert_eq!(keys_in(&s3, "counted").await.len(), 40);
    // 300000 bytes hold 30 objects of 10000.
    assert_eq!(fill(&s3, "weighed", 10_000).await, 30);
    assert_eq!(keys_in(&s3, "weighed").await.len(), 30);

    // A copy into a full bucket, and a completion, are refused as well.
    s3.put_object()
        .bucket("free")
        .key("src")
        .body(ByteStream::from(pattern(10_000, 1)))
        .send()
        .await
        .unwrap();
    let copy = s3
        .copy_object()
        .bucket("weighed")
        .key("copied")
        .copy_source("free/src")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&copy), "QuotaExceeded");
    let upload = s3
        .create_multipart_upload()
        .bucket("weighed")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("weighed")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(pattern(10_000, 2)))
        .send()
        .await
        .unwrap();
    let complete = |s3: aws_sdk_s3::Client, etag: String| async move {
        s3.complete_multipart_upload()
            .bucket("weighed")
            .key("mp")
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                    .build(),
            )
            .send()
            .await
    };
    let refused = complete(s3.clone(), part.e_tag().unwrap().to_string())
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "QuotaExceeded");

    // Deleting makes room once the usage is counted again.
    for k in keys_in(&s3, "weighed").await.into_iter().take(5) {
        s3.delete_object()
            .bucket("weighed")
            .key(k)
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(gateway::quota::RECOUNT + std::time::Duration::from_millis(500)).await;
    complete(s3.clone(), part.e_tag().unwrap().to_string())
        .await
        .unwrap();
    s3.copy_object()
        .bucket("weighed")
        .key("copied")
        .copy_source("free/src")
        .send()
        .await
        .unwrap();
    assert_eq!(keys_in(&s3, "weighed").await.len(), 27);

    // Removing the quota lifts it; a bucket without one was never limited.
    cluster.admin(&["bucket-quota", "counted"]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    s3.put_object()
        .bucket("counted")
        .key("after")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert!(keys_in(&s3, "free").await.len() == 1);
}

/// Quota'd writes (PUT and Copy) racing DELETEs and GETs of the same keys for a few seconds: no
/// 5xx, refusals are only 403 QuotaExceeded, the bucket never lists more objects than its
/// quota (deletes count at the next recount, so the count can only be conservative), and a GET
/// answers a whole object or 404, never a broken one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_writes_race_deletes_and_gets() {
    const LIMIT: usize = 12;
    const KEYS: u64 = 24;
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("busy").send().await.unwrap();
    s3.put_object()
        .bucket("busy")
        .key("source")
        .body(ByteStream::from(pattern(20_000, 99)))
        .send()
        .await
        .unwrap();
    cluster.admin(&["bucket-quota", "busy", "--max-objects", &LIMIT.to_string()]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let stop = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while std::time::Instant::now() < stop {
                let key = format!("k{}", (n * 7 + w) % KEYS);
                let result = if n.is_multiple_of(3) {
                    s3.copy_object()
                        .bucket("busy")
                        .key(&key)
                        .copy_source("busy/source")
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| (status(&e), code(&e)))
                } else {
                    s3.put_object()
                        .bucket("busy")
                        .key(&key)
                        .body(ByteStream::from(pattern(20_000, 99)))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| (status(&e), code(&e)))
                };
                if let Err((status, code)) = result {
                    assert_eq!((status, code.as_str()), (403, "QuotaExceeded"));
                }
                n += 1;
            }
        }));
    }
    for d in 0..2u64 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while std::time::Instant::now() < stop {
                s3.delete_object()
                    .bucket("busy")
                    .key(format!("k{}", (n * 5 + d) % KEYS))
                    .send()
                    .await
                    .unwrap();
                n += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }));
    }
    for r in 0..2u64 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while std::time::Instant::now() < stop {
                let got = s3
                    .get_object()
                    .bucket("busy")
                    .key(format!("k{}", (n * 3 + r) % KEYS))
                    .send()
                    .await;
                match got {
                    Ok(out) => {
                        let body = out.body.collect().await.unwrap().into_bytes();
                        assert!(body == pattern(20_000, 99), "a broken object was served");
                    }
                    Err(e) => assert_eq!(status(&e), 404, "{}", code(&e)),
                }
                n += 1;
            }
        }));
    }
    // The bucket never holds more than its quota (the source object counts too).
    let watcher = {
        let s3 = s3.clone();
        tokio::spawn(async move {
            while std::time::Instant::now() < stop {
                let held = keys_in(&s3, "busy").await.len();
                assert!(held <= LIMIT, "{held} objects under a quota of {LIMIT}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    watcher.await.unwrap();
    assert!(keys_in(&s3, "busy").await.len() <= LIMIT);
}
