//! Membership change: grow a three-node cluster to four and shrink it back to three, by
//! rewriting the gateway's cluster map file, under continuous reads (and some writes). No read
//! may fail, nothing may be lost, and once each move is done every record sits on exactly the
//! nodes the new map's ring names (checked on each node directly): each node holds the share
//! its weight gives it, and the node that left holds nothing. Multipart uploads in progress
//! across both moves (their upload and part records move as rows) complete afterwards with
//! every part. A stopped rebalance job holds a move back until it is started again.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{md5_hex, metric, pattern, Shape, TestCluster};
use node_api::client::NodeClient;
use node_api::model::Manifest;
use placement::{ClusterMap, Ring};

const BUCKET: &str = "members";

/// Waits until every node in `nodes` holds map epoch `epoch` with no move under way.
async fn wait_settled(cluster: &TestCluster, nodes: &[usize], epoch: u64) -> ClusterMap {
    let started = Instant::now();
    loop {
        let mut states = Vec::new();
        for &i in nodes {
            states.push(cluster.node_client(i).map_state().await.ok().flatten());
        }
        if states.iter().all(|s| {
            s.as_ref()
                .is_some_and(|s| s.epoch() == epoch && !s.is_moving())
        }) {
            return states[0].clone().unwrap().current;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the move to epoch {epoch} did not finish: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Checks on every node that each object's manifest and chunks sit exactly on their owners
/// under `map`; answers how many records each node holds.
async fn check_placement(
    cluster: &TestCluster,
    map: &ClusterMap,
    nodes: &[usize],
    keys: &[String],
) -> HashMap<usize, usize> {
    let ring = Ring::new(map);
    let n = map.replication.n;
    let clients: Vec<(usize, NodeClient)> =
        nodes.iter().map(|&i| (i, cluster.node_client(i))).collect();
    let owners = |placement_key: &[u8]| -> Vec<usize> {
        ring.preference_list(placement_key)[..n]
            .iter()
            .map(|&p| {
                map.nodes[p]
                    .id
                    .trim_start_matches("node")
                    .parse::<usize>()
                    .unwrap()
            })
            .collect()
    };
    let mut held: HashMap<usize, usize> = HashMap::new();
    for key in keys {
        let expected = owners(&Manifest::placement_key(BUCKET, key));
        let mut manifest = None;
        for (i, c) in &clients {
            let m = c.get_manifest(BUCKET, key).await.unwrap();
            assert_eq!(
                m.is_some(),
                expected.contains(i),
                "manifest of {key} on node{i}; owners {expected:?}"
            );
            if m.is_some() {
                *held.entry(*i).or_default() += 1;
                manifest = m;
            }
        }
        for id in manifest.unwrap().chunk_ids() {
            let expected = owners(&id.to_bytes());
            for (i, c) in &clients {
                let has = c.has_chunk(id).await.unwrap();
                assert_eq!(
                    has,
                    expected.contains(i),
                    "chunk {} of {key} on node{i}; owners {expected:?}",
                    id.to_hex()
                );
                if has {
                    *held.entry(*i).or_default() += 1;
                }
            }
        }
    }
    held
}

/// Each node of `map` holds about `n / nodes` of all records (equal weights).
fn assert_shares(held: &HashMap<usize, usize>, map: &ClusterMap) {
    let total: usize = held.values().sum();
    let expected = map.replication.n as f64 / map.nodes.len() as f64;
    for (i, count) in held {
        let share = *count as f64 / (total as f64 / map.replication.n as f64);
        assert!(
            (share - expected).abs() < 0.15,
            "node{i} holds {count} of {total} record copies: share {share:.2}, weight says {expected:.2}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_to_four_and_shrink_back_under_reads() {
    let cluster = TestCluster::start_with(Shape {
        nodes: 4,
        map_nodes: 3,
        chunk_size: 256 << 10,
        ..Default::default()
    });
    // Discovery: node3, not yet in the map, joins through node0's address and learns the map.
    let mut cluster = cluster;
    cluster.kill_node(3);
    let config = cluster.path().join("node3.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("join: \"127.0.0.1:{}\"\n", cluster.node_ports[0]));
    std::fs::write(&config, text).unwrap();
    cluster.restart_node(3);
    let started = Instant::now();
    while cluster
        .node_client(3)
        .map_state()
        .await
        .unwrap()
        .map(|s| s.epoch())
        != Some(1)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node3 learned no map"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cluster = cluster;
    let s3 = cluster.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let mut objects: HashMap<String, String> = HashMap::new();
    let put = |key: String, len: usize, seed: u64| {
        let s3 = s3.clone();
        async move {
            let body = pattern(len, seed);
            s3.put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap();
            (key, md5_hex(&body))
        }
    };
    for i in 0..150u64 {
        let len = if i % 5 == 0 { 600_000 } else { 1_500 };
        let (k, md5) = put(format!("obj-{i:03}"), len, i).await;
        objects.insert(k, md5);
    }

    // Uploads in progress across both moves: two parts each, completed at the end.
    let mut uploads = Vec::new();
    for u in 0..8u64 {
        let key = format!("upload-{u}");
        let id = s3
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        let mut parts = Vec::new();
        let mut whole = Vec::new();
        for number in 1..=2 {
            let body = pattern(
                if number == 1 { 5 << 20 } else { 1000 },
                u * 10 + number as u64,
            );
            whole.extend_from_slice(&body);
            let etag = s3
                .upload_part()
                .bucket(BUCKET)
                .key(&key)
                .upload_id(&id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap()
                .e_tag()
                .unwrap()
                .to_string();
            parts.push(
                aws_sdk_s3::types::CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .build(),
            );
        }
        uploads.push((key, id, parts, md5_hex(&whole)));
    }

    // Readers: random objects, byte-checked, for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let shared = Arc::new(std::sync::Mutex::new(objects.clone()));
    let mut readers = Vec::new();
    for r in 0..2u64 {
        let (s3, stop, reads, shared) = (s3.clone(), stop.clone(), reads.clone(), shared.clone());
        readers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                let (key, md5) = {
                    let objects = shared.lock().unwrap();
                    let mut all: Vec<_> = objects.iter().collect();
                    all.sort();
                    let (k, m) = all[(i * 7919 % all.len() as u64) as usize];
                    (k.clone(), m.clone())
                };
                i += 1;
                match s3.get_object().bucket(BUCKET).key(&key).send().await {
                    Ok(o) => {
                        let body = o.body.collect().await.unwrap().into_bytes();
                        if md5_hex(&body) != md5 {
                            failures.push(format!("{key}: wrong bytes"));
                        }
                    }
                    Err(e) => failures.push(format!("{key}: {e:?}")),
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }

    // Grow: node3 joins.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.write_map(2, &[0, 1, 2, 3]);
    for i in 150..170u64 {
        let (k, md5) = put(format!("obj-{i:03}"), 300_000, i).await;
        shared.lock().unwrap().insert(k.clone(), md5.clone());
        objects.insert(k, md5);
    }
    let map = wait_settled(&cluster, &[0, 1, 2, 3], 2).await;
    assert_eq!(map.nodes.len(), 4);
    let mut keys: Vec<String> = objects.keys().cloned().collect();
    keys.sort();
    let held = check_placement(&cluster, &map, &[0, 1, 2, 3], &keys).await;
    assert_shares(&held, &map);
    assert!(metric(&cluster, "s3store_gateway_rebalance_records_moved_total").await > 0.0);

    // Shrink: node1 is decommissioned, drained, and holds nothing afterwards. The rebalance
    // job is stopped first: the change is taken but nothing moves (reads and writes go on)
    // until it is started again.
    cluster.admin(&["job-stop", "rebalance"]);
    tokio::time::sleep(Duration::from_secs(2)).await; // gateways read controls every second
    let moved_before = metric(&cluster, "s3store_gateway_rebalance_records_moved_total").await;
    cluster.write_map(3, &[0, 2, 3]);
    for i in 170..180u64 {
        let (k, md5) = put(format!("obj-{i:03}"), 1_000, i).await;
        shared.lock().unwrap().insert(k.clone(), md5.clone());
        objects.insert(k, md5);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = cluster.node_client(0).map_state().await.unwrap().unwrap();
    assert!(
        state.epoch() == 3 && state.is_moving(),
        "the change is taken, the move waits: {state:?}"
    );
    assert_eq!(
        metric(&cluster, "s3store_gateway_rebalance_records_moved_total").await,
        moved_before,
        "a stopped rebalance moved records"
    );
    let jobs = cluster.admin(&["jobs"]);
    assert!(
        jobs.contains("rebalance: stopped; data is moving"),
        "{jobs}"
    );
    cluster.admin(&["job-start", "rebalance"]);
    let map = wait_settled(&cluster, &[0, 1, 2, 3], 3).await;
    assert_eq!(map.nodes.len(), 3);
    let mut keys: Vec<String> = objects.keys().cloned().collect();
    keys.sort();
    let held = check_placement(&cluster, &map, &[0, 1, 2, 3], &keys).await;
    assert_eq!(held.get(&1), None, "the node that left still holds records");
    assert_shares(&held, &map);

    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for r in readers {
        failures.extend(r.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "reads failed during the moves: {failures:?}"
    );
    assert!(reads.load(Ordering::Relaxed) > 50, "the read load ran");

    // The uploads moved with their parts: each completes and reads back whole, and the node
    // that left holds none of their records.
    let left = cluster.node_client(1);
    let on_left = left
        .list_uploads(&node_api::model::ListUploads {
            bucket: BUCKET.into(),
            prefix: String::new(),
            key_marker: String::new(),
            upload_id_marker: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert!(on_left.is_empty(), "uploads left behind: {on_left:?}");
    for (key, id, parts, md5) in uploads {
        s3.complete_multipart_upload()
            .bucket(BUCKET)
            .key(&key)
            .upload_id(&id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let o = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        let body = o.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), md5, "{key}");
        objects.insert(key, md5);
    }

    // Everything reads back byte-identical, and the listing is whole.
    for (key, md5) in &objects {
        let o = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        let body = o.body.collect().await.unwrap().into_bytes();
        assert_eq!(&md5_hex(&body), md5, "{key}");
    }
    let listed = common::keys_in(&s3, BUCKET).await;
    assert_eq!(listed.len(), objects.len());

    // Discovery for a gateway: no map file, only a member's address.
    let yaml = std::fs::read_to_string(cluster.path().join("gateway.yaml")).unwrap();
    let joined = yaml.replace(
        "cluster_map: cluster.yaml",
        &format!("join: [\"127.0.0.1:{}\"]", cluster.node_ports[2]),
    );
    assert_ne!(yaml, joined);
    std::fs::write(cluster.path().join("joined.yaml"), joined).unwrap();
    let (ok, out) = cluster.gateway_command_with("joined.yaml", &["status"]);
    assert!(ok, "{out}");
    assert!(out.starts_with("epoch 3 "), "{out}");
    assert!(!out.contains("moving") && !out.contains("node1"), "{out}");
}
