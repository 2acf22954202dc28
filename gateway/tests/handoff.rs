//! Sloppy quorum and hinted handoff: with an owner down, writes land on a stand-in with a hint
//! (visible on the stand-in): chunks, manifests, and rows of the record table (a multipart
//! upload and its part); when the owner is back the gateway hands the records over without
//! any client read, and the stand-ins drop their copies. Strict mode refuses writes that cannot
//! reach `w` true owners.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{pattern, status, Shape, TestCluster};
use node_api::model::Manifest;

fn ring(cluster: &TestCluster) -> placement::Ring {
    let map = config::load_cluster_map(&cluster.path().join("cluster.yaml")).unwrap();
    placement::Ring::new(&map)
}

/// Indices of the `n` owners of a placement key.
fn owners(ring: &placement::Ring, key: &[u8], n: usize) -> Vec<usize> {
    let mut list = ring.preference_list(key);
    list.truncate(n);
    list
}

/// Hints held on node `i` (for any owner).
async fn hints_on(cluster: &TestCluster, i: usize) -> Vec<node_api::model::StoredHint> {
    cluster
        .node_client(i)
        .list_hints(&[], 10_000)
        .await
        .unwrap()
}

fn four_nodes(w: usize) -> Shape {
    Shape {
        nodes: 4,
        n: 3,
        w,
        r: 2,
        chunk_size: 256 << 10,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hinted_writes_reach_their_owner_without_reads() {
    let mut cluster = TestCluster::start_with(four_nodes(2));
    let s3 = cluster.client();
    s3.create_bucket().bucket("handoff").send().await.unwrap();
    let down = 3;
    cluster.kill_node(down);

    let objects: Vec<(String, usize)> = (0..24)
        .map(|i| (format!("k{i}"), if i % 3 == 0 { 600_000 } else { 100 }))
        .collect();
    for (key, len) in &objects {
        s3.put_object()
            .bucket("handoff")
            .key(key)
            .body(ByteStream::from(pattern(*len, 3)))
            .send()
            .await
            .unwrap();
    }
    // A multipart upload of a key the dead node owns: its upload and part records land on a
    // stand-in with hints too (rows of the record table, like manifests).
    let ring = ring(&cluster);
    let upload_key = (0..)
        .map(|i| format!("upload-{i}"))
        .find(|k| owners(&ring, &Manifest::placement_key("handoff", k), 3).contains(&down))
        .unwrap();
    let upload_id = s3
        .create_multipart_upload()
        .bucket("handoff")
        .key(&upload_key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let part_etag = s3
        .upload_part()
        .bucket("handoff")
        .key(&upload_key)
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(pattern(1000, 5)))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();

    // The stand-ins hold hints naming the dead node.
    let mut held = 0;
    for i in 0..3 {
        let hints = hints_on(&cluster, i).await;
        assert!(hints.iter().all(|h| h.hint.owner() == "node3"));
        held += hints.len();
    }
    assert!(held > 0, "no hints were written");
    let mut row_hints = 0;
    for i in 0..3 {
        row_hints += hints_on(&cluster, i)
            .await
            .iter()
            .filter(|h| matches!(h.hint, node_api::model::Hint::Row { .. }))
            .count();
    }
    // Eventually both rows: a PUT answers after a majority, the hinted copy may follow.
    let deadline = Instant::now() + Duration::from_secs(10);
    while row_hints < 2 {
        assert!(Instant::now() < deadline, "{row_hints} row hints");
        tokio::time::sleep(Duration::from_millis(100)).await;
        row_hints = 0;
        for i in 0..3 {
            row_hints += hints_on(&cluster, i)
                .await
                .iter()
                .filter(|h| matches!(h.hint, node_api::model::Hint::Row { .. }))
                .count();
        }
    }
    // `gateway status` shows the dead node and the hints held for it.
    let (ok, report) = cluster.gateway_command(&["status"]);
    assert!(ok, "{report}");
    let line = |id: &str| {
        report
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} missing:\n{report}"))
            .to_string()
    };
    assert!(line("node3").contains("DOWN"), "{report}");
    let shown: usize = (0..3)
        .map(|i| {
            let l = line(&format!("node{i}"));
            assert!(l.contains(" up "), "{report}");
            // node address zone weight role state hints bytes versions
            l.split_whitespace()
                .nth(6)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(shown, held, "{report}");
    // Everything reads while the owner is down.
    for (key, len) in &objects {
        let got = s3
            .get_object()
            .bucket("handoff")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes(),
            pattern(*len, 3)
        );
    }

    // The owner comes back: the hints drain with no client request at all.
    cluster.restart_node(down);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut left = 0;
        for i in 0..4 {
            left += hints_on(&cluster, i).await.len();
        }
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} hints still pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The owner got the upload and its part without any read, and the upload completes.
    let returned = cluster.node_client(down);
    let upload_id_version =
        node_api::model::Version::from_bytes(&hex::decode(&upload_id).unwrap()).unwrap();
    let record = returned
        .get_record::<node_api::model::UploadRecord>(&(
            "handoff".to_string(),
            upload_key.clone(),
            upload_id_version,
        ))
        .await
        .unwrap();
    assert!(
        record.is_some_and(|u| !u.ended),
        "the upload was handed back"
    );
    let parts = returned
        .list_parts(&node_api::model::ListParts {
            upload_id: upload_id_version,
            after: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(parts.len(), 1, "the part was handed back");
    s3.complete_multipart_upload()
        .bucket("handoff")
        .key(&upload_key)
        .upload_id(&upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part_etag)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The owner holds what it owns; stand-ins kept nothing they do not own. A PUT answers
    // after `w` copies, so a hinted copy may still have been on its way when the hints were
    // counted: the check is repeated until the hand-back has caught up (or a deadline).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match misplaced(&cluster, &ring, &objects).await {
            Ok(checked_chunks) => {
                assert!(checked_chunks >= 8 * 3);
                break;
            }
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Checks that every manifest and chunk of `objects` sits exactly on its owners; answers the
/// chunks checked, or the first record out of place.
async fn misplaced(
    cluster: &TestCluster,
    ring: &placement::Ring,
    objects: &[(String, usize)],
) -> Result<usize, String> {
    let mut checked_chunks = 0;
    for (key, _) in objects {
        let m: Manifest = cluster
            .node_client(0)
            .get_manifest("handoff", key)
            .await
            .unwrap()
            .or(cluster
                .node_client(1)
                .get_manifest("handoff", key)
                .await
                .unwrap())
            .unwrap();
        let manifest_owners = owners(ring, &Manifest::placement_key("handoff", key), 3);
        for i in 0..4 {
            let held = cluster
                .node_client(i)
                .get_manifest("handoff", key)
                .await
                .unwrap();
            if held.map(|h| h.version) != manifest_owners.contains(&i).then_some(m.version) {
                return Err(format!("manifest of {key} on node {i}"));
            }
        }
        for id in m.chunk_ids() {
            let chunk_owners = owners(ring, &id.to_bytes(), 3);
            for i in 0..4 {
                let held = cluster.node_client(i).get_chunk(id).await.unwrap();
                if held.is_some() != chunk_owners.contains(&i) {
                    return Err(format!(
                        "chunk {} on node {i}: held {}, owners {chunk_owners:?}",
                        id.to_hex(),
                        held.is_some()
                    ));
                }
            }
            checked_chunks += 1;
        }
    }
    Ok(checked_chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_needs_w_true_owners() {
    let mut cluster = TestCluster::start_with(four_nodes(3));
    let s3 = cluster.client();
    s3.create_bucket().bucket("strict").send().await.unwrap();
    // The bucket record must stay readable with node 3 down: r=2 of its owners answer.
    cluster.kill_node(3);
    let ring = ring(&cluster);
    let owned_by_3 = (0..100)
        .map(|i| format!("key-{i}"))
        .find(|k| owners(&ring, &Manifest::placement_key("strict", k), 3).contains(&3))
        .unwrap();
    let put = |key: String| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket("strict")
                .key(key)
                .body(ByteStream::from_static(b"tiny"))
                .send()
                .await
        }
    };
    // Sloppy (the default): w=3 is met by two owners and a stand-in.
    put(owned_by_3.clone()).await.unwrap();

    cluster.reconfigure_gateway("hinted_handoff: false\n");
    let refused = put(owned_by_3).await.unwrap_err();
    assert_eq!(status(&refused), 503);
}
