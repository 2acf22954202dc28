//! Garbage collection, end to end: orphan chunks (a write that died half-way, simulated by
//! chunks put straight on the nodes), tombstones, superseded versions and the chunks only they
//! referenced go once older than their grace periods and a complete anti-entropy pass has run;
//! live objects, young orphans and the parts of an upload in progress stay, checked on every
//! node directly and by reading back through S3.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{metric, pattern, Shape, TestCluster};
use node_api::model::{ChunkId, Version};

fn version_at(ms: u64, tiebreak: u64) -> Version {
    Version {
        hlc: ms << 16,
        tiebreak,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_and_tombstones_are_collected_and_nothing_live_is() {
    let mut cluster = TestCluster::start_with(Shape {
        chunk_size: 256 << 10,
        ..Default::default()
    });
    cluster.reconfigure_gateway(
        "anti_entropy_seconds: 0.5\ngarbage_collection: { grace_seconds: 2, every_seconds: 0.5, reclaim_grace_seconds: 2 }\n",
    );
    let s3 = cluster.client();
    s3.create_bucket().bucket("gc-test").send().await.unwrap();
    let put = |key: String, data: Vec<u8>| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket("gc-test")
                .key(key)
                .body(ByteStream::from(data))
                .send()
                .await
                .unwrap();
        }
    };
    for i in 0..6 {
        put(format!("keep-{i}"), pattern(600_000, i)).await;
    }
    // The chunks of versions that get replaced or deleted: freed by the collector only.
    let mut replaced_chunks: Vec<ChunkId> = Vec::new();
    let held_chunks = |key: String| {
        let cluster = &cluster;
        async move {
            for i in 0..3 {
                if let Some(m) = cluster
                    .node_client(i)
                    .get_manifest("gc-test", &key)
                    .await
                    .unwrap()
                {
                    return m.chunk_ids();
                }
            }
            panic!("no node holds {key}");
        }
    };
    replaced_chunks.extend(held_chunks("keep-0".into()).await);
    put("keep-0".into(), pattern(700_000, 100)).await; // an overwrite
    for i in 0..3 {
        put(format!("gone-{i}"), pattern(300_000, 50 + i)).await;
        replaced_chunks.extend(held_chunks(format!("gone-{i}")).await);
        s3.delete_object()
            .bucket("gc-test")
            .key(format!("gone-{i}"))
            .send()
            .await
            .unwrap();
    }
    // An upload in progress whose part is older than the grace period by the end.
    let upload = s3
        .create_multipart_upload()
        .bucket("gc-test")
        .key("big")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_string();
    let part_data = pattern(5 << 20, 77);
    let last_data = pattern(1000, 78);
    let part = s3
        .upload_part()
        .bucket("gc-test")
        .key("big")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(part_data.clone()))
        .send()
        .await
        .unwrap();

    let written = now_ms();

    // Orphans: chunks of writes that never got a manifest, one old and one from the future
    // (young by any cutoff), on every node.
    let old_orphan = ChunkId {
        version: version_at(now_ms() - 60_000, 424242),
        part: 0,
        index: 0,
    };
    let young_orphan = ChunkId {
        version: version_at(now_ms() + 3_600_000, 434343),
        part: 0,
        index: 0,
    };
    for i in 0..3 {
        let node = cluster.node_client(i);
        for id in [old_orphan, young_orphan] {
            node.put_chunk(id, bytes::Bytes::from_static(b"orphan"))
                .await
                .unwrap();
        }
        for k in 0..3 {
            let held = node
                .get_manifest("gc-test", &format!("gone-{k}"))
                .await
                .unwrap();
            assert!(
                held.is_some_and(|m| m.deleted),
                "a tombstone before collection"
            );
        }
    }

    // Collected on every node within the test's bound.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut left = 0;
        for i in 0..3 {
            let node = cluster.node_client(i);
            left += node.has_chunk(old_orphan).await.unwrap() as usize;
            for id in &replaced_chunks {
                left += node.has_chunk(*id).await.unwrap() as usize;
            }
            for k in 0..3 {
                let key = format!("gone-{k}");
                left += node.get_manifest("gc-test", &key).await.unwrap().is_some() as usize;
            }
        }
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} orphans, replaced chunks and tombstones still held"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // And a collection whose cutoff is past every write above has run.
    loop {
        let last = metric(&cluster, "s3store_gateway_gc_last_run_timestamp_seconds").await;
        if last * 1000.0 > (written + 4_000) as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no collection after the grace period"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(metric(&cluster, "s3store_gateway_gc_runs_total{outcome=\"done\"}").await > 0.0);
    assert!(
        metric(
            &cluster,
            "s3store_gateway_gc_removed_records_total{kind=\"tombstones\"}"
        )
        .await
            >= 9.0
    );
    assert!(
        metric(
            &cluster,
            "s3store_gateway_antientropy_passes_total{result=\"complete\"}"
        )
        .await
            > 0.0
    );

    // Nothing live went: every chunk of every live manifest on every node, the young orphan,
    // the upload's part (completed now, more than the grace period after it was written).
    for i in 0..3 {
        let node = cluster.node_client(i);
        assert!(node.has_chunk(young_orphan).await.unwrap());
        for k in 0..6 {
            let m = node
                .get_manifest("gc-test", &format!("keep-{k}"))
                .await
                .unwrap()
                .unwrap();
            for id in m.chunk_ids() {
                assert!(node.has_chunk(id).await.unwrap(), "node {i} lost {id:?}");
            }
        }
    }
    let last = s3
        .upload_part()
        .bucket("gc-test")
        .key("big")
        .upload_id(&upload_id)
        .part_number(2)
        .body(ByteStream::from(last_data.clone()))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket("gc-test")
        .key("big")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(last.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let read = |key: &'static str| {
        let s3 = s3.clone();
        async move {
            let out = s3
                .get_object()
                .bucket("gc-test")
                .key(key)
                .send()
                .await
                .unwrap();
            out.body.collect().await.unwrap().into_bytes().to_vec()
        }
    };
    let mut big = part_data;
    big.extend_from_slice(&last_data);
    assert!(read("big").await == big, "the multipart object reads back");
    assert!(read("keep-0").await == pattern(700_000, 100));
    for (i, key) in ["keep-1", "keep-2", "keep-3", "keep-4", "keep-5"]
        .into_iter()
        .enumerate()
    {
        assert!(read(key).await == pattern(600_000, i as u64 + 1), "{key}");
    }
    let gone = s3.get_object().bucket("gc-test").key("gone-0").send().await;
    assert!(
        gone.is_err(),
        "a collected tombstone does not resurrect the object"
    );
}
