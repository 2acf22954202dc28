//! Server-side encryption end to end: nothing a client stores (bodies, user metadata, also of
//! uploads in progress) appears in any file of any storage node; a chunk copy that fails
//! authentication is never served (another replica's is, and the bad copy is rewritten; with
//! no good copy the GET fails); range reads at segment and chunk boundaries return exactly the
//! plaintext and open only the segments they cover.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use bytes::Bytes;
use common::{metric, pattern, status, TestCluster};
use node_api::model::{ChunkId, Layout};

const MARKER: &[u8] = b"MARKER-7f3a9c-PLAINTEXT-MUST-NOT-REACH-DISK";

/// `len` bytes of the marker repeated.
fn marked(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

fn files_containing(dir: &std::path::Path, needle: &[u8], found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_containing(&path, needle, found);
        } else if let Ok(data) = std::fs::read(&path) {
            if data.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_reaches_the_storage_nodes() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("secret").send().await.unwrap();
    let meta = String::from_utf8(MARKER.to_vec()).unwrap();
    // Inline, one chunk, several chunks.
    for (key, len) in [("small", 100), ("one", 200_000), ("many", 2_500_000)] {
        let put = s3
            .put_object()
            .bucket("secret")
            .key(key)
            .metadata("note", &meta)
            .body(ByteStream::from(marked(len)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
    }
    // A multipart object, and an upload still in progress (its record holds the metadata).
    for (key, complete) in [("mp", true), ("pending", false)] {
        let id = s3
            .create_multipart_upload()
            .bucket("secret")
            .key(key)
            .metadata("note", &meta)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        let part = s3
            .upload_part()
            .bucket("secret")
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from(marked(300_000)))
            .send()
            .await
            .unwrap();
        if complete {
            s3.complete_multipart_upload()
                .bucket("secret")
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .parts(
                            CompletedPart::builder()
                                .part_number(1)
                                .e_tag(part.e_tag().unwrap())
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }
    // Everything reads back as written.
    for (key, len) in [
        ("small", 100),
        ("one", 200_000),
        ("many", 2_500_000),
        ("mp", 300_000),
    ] {
        let got = s3
            .get_object()
            .bucket("secret")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(got.metadata().unwrap().get("note"), Some(&meta), "{key}");
        assert_eq!(
            got.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        let body = got.body.collect().await.unwrap().into_bytes();
        assert!(body == marked(len), "{key}: body differs");
    }
    // No file of any node (RocksDB WAL, memtable flushes, blob files) holds the marker, nor a
    // long enough piece of it to matter.
    let mut found = Vec::new();
    for i in 0..3 {
        files_containing(
            &cluster.path().join(format!("data{i}")),
            &MARKER[..24],
            &mut found,
        );
    }
    assert!(found.is_empty(), "plaintext found in {found:?}");
}

/// The chunk ids of a single-PUT object, read from node 0's manifest (waiting for it: a PUT
/// answers after `w` = 2 copies, the third may still be on its way).
async fn chunk_ids(cluster: &TestCluster, bucket: &str, key: &str) -> Vec<ChunkId> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        if let Some(m) = cluster
            .node_client(0)
            .get_manifest(bucket, key)
            .await
            .unwrap()
        {
            break m;
        }
        assert!(Instant::now() < deadline, "no manifest on node 0");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    match m.layout {
        Layout::Chunked { count, data, .. } => (0..count)
            .map(|index| ChunkId {
                version: data.unwrap_or(m.version),
                part: 0,
                index,
            })
            .collect(),
        _ => panic!("expected a chunked object"),
    }
}

async fn flip_byte(cluster: &TestCluster, node: usize, id: ChunkId, at: usize) -> Bytes {
    let client = cluster.node_client(node);
    let deadline = Instant::now() + Duration::from_secs(20);
    let good = loop {
        if let Some(c) = client.get_chunk(id).await.unwrap() {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "no copy of the chunk on node {node}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut bad = good.to_vec();
    bad[at] ^= 0x01;
    client.put_chunk(id, Bytes::from(bad)).await.unwrap();
    good
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_copy_is_never_served() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("rot").send().await.unwrap();
    let data = pattern(1_500_000, 9);
    s3.put_object()
        .bucket("rot")
        .key("obj")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let ids = chunk_ids(&cluster, "rot", "obj").await;
    assert_eq!(ids.len(), 2);

    // One byte flipped on the first two owners the gateway reads, in different places: reads
    // still return the right bytes (the third owner's), and both bad copies are rewritten.
    let map = config::load_cluster_map(&cluster.path().join("cluster.yaml")).unwrap();
    let order = placement::Ring::new(&map).preference_list(&ids[0].to_bytes());
    let corrupt_before = metric(&cluster, "s3store_gateway_corrupt_chunks_total").await;
    let good = flip_byte(&cluster, order[0], ids[0], 10).await;
    flip_byte(&cluster, order[1], ids[0], 70_000).await;
    for _ in 0..2 {
        let got = s3
            .get_object()
            .bucket("rot")
            .key("obj")
            .send()
            .await
            .unwrap();
        assert!(got.body.collect().await.unwrap().into_bytes() == data);
    }
    assert!(metric(&cluster, "s3store_gateway_corrupt_chunks_total").await > corrupt_before);
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in [order[0], order[1]] {
        loop {
            let now = cluster.node_client(node).get_chunk(ids[0]).await.unwrap();
            if now.as_ref() == Some(&good) {
                break;
            }
            assert!(Instant::now() < deadline, "node {node} was not repaired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Flipped on all replicas: the GET fails with an error instead of returning bad bytes.
    for node in 0..3 {
        flip_byte(&cluster, node, ids[1], 5).await;
    }
    let whole = s3.get_object().bucket("rot").key("obj").send().await;
    match whole {
        Err(e) => assert_eq!(status(&e), 500),
        Ok(out) => assert!(
            out.body.collect().await.is_err(),
            "a body no replica can authenticate was served"
        ),
    }
    // A range that only touches the second chunk fails before any byte is sent.
    let err = s3
        .get_object()
        .bucket("rot")
        .key("obj")
        .range("bytes=1048576-1048600")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 500);
    // The first chunk is still fine.
    let head = s3
        .get_object()
        .bucket("rot")
        .key("obj")
        .range("bytes=0-99")
        .send()
        .await
        .unwrap();
    assert!(head.body.collect().await.unwrap().into_bytes() == data[..100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_at_segment_and_chunk_boundaries() {
    const SEG: u64 = 64 << 10;
    const CHUNK: u64 = 1 << 20;
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("ranges").send().await.unwrap();
    let size = 3 * CHUNK + 1000;
    let data = pattern(size as usize, 4);
    s3.put_object()
        .bucket("ranges")
        .key("obj")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    // (first, last) inclusive, chunk reads, segments opened.
    let cases = [
        (0, 0, 1, 1),                                     // first byte
        (size - 1, size - 1, 1, 1),                       // last byte
        (SEG - 1, SEG, 1, 2),                             // spans two segments
        (CHUNK - 1, CHUNK, 2, 2),                         // spans two chunks
        (CHUNK - 10, 2 * CHUNK + 10, 3, 18),              // a whole chunk and bits of two
        (2 * CHUNK + SEG, 2 * CHUNK + 2 * SEG - 1, 1, 1), // exactly one segment
    ];
    for (first, last, chunks, segments) in cases {
        let reads = metric(&cluster, "s3store_gateway_chunk_reads_total").await;
        let opened = metric(&cluster, "s3store_gateway_segments_decrypted_total").await;
        let got = s3
            .get_object()
            .bucket("ranges")
            .key("obj")
            .range(format!("bytes={first}-{last}"))
            .send()
            .await
            .unwrap();
        let body = got.body.collect().await.unwrap().into_bytes();
        assert!(
            body[..] == data[first as usize..=last as usize],
            "bytes {first}-{last} differ"
        );
        let reads = metric(&cluster, "s3store_gateway_chunk_reads_total").await - reads;
        let opened = metric(&cluster, "s3store_gateway_segments_decrypted_total").await - opened;
        assert_eq!(reads as u64, chunks, "chunk reads for {first}-{last}");
        assert_eq!(opened as u64, segments, "segments for {first}-{last}");
    }
}
