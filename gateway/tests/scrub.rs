//! Scrub: a byte of a chunk rots in a node's chunk file on disk (not through any API); the node's
//! background scrub finds it, a gateway rewrites the copy from a good replica, and no client
//! ever reads the object meanwhile.

mod common;

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::{eventually, metric, node_metric, pattern, Shape, TestCluster};

/// Every file under `dir` containing `needle`, with the offset of its first occurrence.
fn find(dir: &Path, needle: &[u8], out: &mut Vec<(std::path::PathBuf, usize)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            find(&path, needle, out);
        } else if let Ok(data) = std::fs::read(&path) {
            if let Some(at) = data.windows(needle.len()).position(|w| w == needle) {
                out.push((path, at));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_finds_and_repairs_rot_without_a_read() {
    let mut cluster = TestCluster::start_with(Shape {
        chunk_size: 256 << 10,
        node_yaml: "scrub: { bytes_per_second: 200000000, pause_seconds: 0.3 }\n",
        ..Default::default()
    });
    let s3 = cluster.client();
    s3.create_bucket().bucket("scrubbed").send().await.unwrap();
    s3.put_object()
        .bucket("scrubbed")
        .key("obj")
        .body(ByteStream::from(pattern(600_000, 5)))
        .send()
        .await
        .unwrap();
    // The PUT returned after w=2 acks: wait until node 0 has its copies too.
    let node = cluster.node_client(0);
    let mut found = None;
    eventually(
        "node 0 to hold the object",
        Duration::from_secs(60),
        async || {
            let Some(m) = node.get_manifest("scrubbed", "obj").await.unwrap() else {
                return false;
            };
            let id = m.chunk_ids()[1];
            found = node.get_chunk(id).await.unwrap().map(|c| (id, c));
            found.is_some()
        },
    )
    .await;
    let (id, original) = found.unwrap();

    // Flip one byte of the chunk's file on disk while the node is down.
    cluster.kill_node(0);
    let needle = &original[100_000..100_064];
    let mut hits = Vec::new();
    find(&cluster.path().join("data0"), needle, &mut hits);
    let files: Vec<_> = hits
        .iter()
        .filter(|(p, _)| p.components().any(|c| c.as_os_str() == "chunk-files"))
        .collect();
    assert!(
        !files.is_empty(),
        "chunk bytes not found in a chunk file: {hits:?}"
    );
    for (path, at) in files {
        let mut data = std::fs::read(path).unwrap();
        data[at + 10] ^= 0x40;
        std::fs::write(path, data).unwrap();
    }
    cluster.restart_node(0);

    eventually(
        "the scrub to find the rot",
        Duration::from_secs(60),
        async || node_metric(&cluster, 0, "s3store_node_scrub_corrupt_chunks_total").await >= 1.0,
    )
    .await;
    // The needle may sit in more than one chunk of the pattern, so several chunks can be
    // marked: wait until every mark is cleared by a repair.
    eventually(
        "a gateway to repair it",
        Duration::from_secs(60),
        async || {
            metric(&cluster, "s3store_gateway_chunk_repairs_total").await >= 1.0
                && cluster
                    .node_client(0)
                    .bad_chunks()
                    .await
                    .is_ok_and(|bad| bad.is_empty())
        },
    )
    .await;
    // No client request was made since the PUT: the repair came from the scrub alone.
    let repaired = cluster.node_client(0).get_chunk(id).await.unwrap();
    assert_eq!(repaired.as_deref(), Some(&original[..]));
    // And the object reads back whole.
    let got = s3
        .get_object()
        .bucket("scrubbed")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes(),
        pattern(600_000, 5)
    );
}
