//! Anti-entropy: a node whose data folder is wiped (and that missed writes and a delete while
//! down) is refilled by the replicas' digest comparison alone, with no client read: every
//! manifest (the tombstone included), every chunk, the bucket record, an upload in progress with
//! its part and an upload aborted meanwhile, checked on the node directly.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{metric, pattern, Shape, TestCluster};
use node_api::model::{BucketRecord, ListParts, UploadRecord, Version};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_is_refilled_without_reads() {
    let mut cluster = TestCluster::start_with(Shape {
        chunk_size: 256 << 10,
        ..Default::default()
    });
    let s3 = cluster.client();
    s3.create_bucket().bucket("entropy").send().await.unwrap();
    let put = |key: String, len: usize| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket("entropy")
                .key(key)
                .body(ByteStream::from(pattern(len, 9)))
                .send()
                .await
                .unwrap();
        }
    };
    for i in 0..20 {
        put(
            format!("before-{i}"),
            if i % 4 == 0 { 600_000 } else { 300 },
        )
        .await;
    }
    // Two uploads in progress with a part each.
    let mut uploads = Vec::new();
    for key in ["upload-kept", "upload-aborted"] {
        let id = s3
            .create_multipart_upload()
            .bucket("entropy")
            .key(key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        s3.upload_part()
            .bucket("entropy")
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from(pattern(1000, 3)))
            .send()
            .await
            .unwrap();
        uploads.push((key, id));
    }
    // Node 2 loses everything; meanwhile more writes, a delete and an abort happen without it.
    cluster.kill_node(2);
    std::fs::remove_dir_all(cluster.path().join("data2")).unwrap();
    for i in 0..10 {
        put(format!("during-{i}"), if i % 3 == 0 { 400_000 } else { 50 }).await;
    }
    s3.delete_object()
        .bucket("entropy")
        .key("before-1")
        .send()
        .await
        .unwrap();
    s3.abort_multipart_upload()
        .bucket("entropy")
        .key(uploads[1].0)
        .upload_id(&uploads[1].1)
        .send()
        .await
        .unwrap();

    cluster.reconfigure_gateway("anti_entropy_seconds: 0.5\n");
    cluster.restart_node(2);

    // What node 2 must end up with: node 0's records (node 0 saw every write).
    let keys: Vec<String> = (0..20)
        .map(|i| format!("before-{i}"))
        .chain((0..10).map(|i| format!("during-{i}")))
        .collect();
    let (reference, wiped) = (cluster.node_client(0), cluster.node_client(2));
    let mut expected = Vec::new();
    for key in &keys {
        let m = reference
            .get_manifest("entropy", key)
            .await
            .unwrap()
            .unwrap();
        expected.push(m);
    }
    assert!(
        expected.iter().any(|m| m.deleted),
        "the delete is a tombstone"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut missing = 0;
        for m in &expected {
            let held = wiped.get_manifest("entropy", &m.key).await.unwrap();
            if held.map(|h| h.version) != Some(m.version) {
                missing += 1;
                continue;
            }
            for id in m.chunk_ids() {
                if wiped.get_chunk(id).await.unwrap().is_none() {
                    missing += 1;
                }
            }
        }
        if wiped
            .get_record::<BucketRecord>(&"entropy".to_string())
            .await
            .unwrap()
            .is_none()
        {
            missing += 1; // the bucket record too
        }
        // The upload in progress with its part, and the aborted one's ended state.
        for (i, (key, id)) in uploads.iter().enumerate() {
            let upload_id = Version::from_bytes(&hex::decode(id).unwrap()).unwrap();
            let id = ("entropy".to_string(), key.to_string(), upload_id);
            let held = wiped.get_record::<UploadRecord>(&id).await.unwrap();
            let parts = wiped
                .list_parts(&ListParts {
                    upload_id,
                    after: 0,
                    limit: 10,
                })
                .await
                .unwrap();
            let aborted = i == 1;
            if held.is_none_or(|u| u.ended != aborted) || (!aborted && parts.len() != 1) {
                missing += 1;
            }
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} records still missing on the wiped node"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(metric(&cluster, "s3store_gateway_antientropy_records_copied_total").await > 0.0);
    assert_eq!(
        metric(&cluster, "s3store_gateway_read_repairs_total").await,
        0.0,
        "refilled by anti-entropy, not by reads"
    );
}
