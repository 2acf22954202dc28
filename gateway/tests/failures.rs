//! Quorum behaviour with storage nodes SIGKILLed: one down is invisible to clients, two down
//! refuses writes (their outcome unknown, never flipping once read), and a returning node is
//! repaired by reads.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{code, md5_hex, metric, pattern, status, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_one_node_refuses_with_two_and_repairs_on_read() {
    let mut cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("fail").send().await.unwrap();
    let big = pattern(3 << 20, 5);
    s3.put_object()
        .bucket("fail")
        .key("before")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();

    // One of three down: writes and reads still succeed.
    cluster.kill_node(2);
    s3.put_object()
        .bucket("fail")
        .key("during")
        .body(ByteStream::from_static(b"small"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("fail")
        .key("during-big")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    for key in ["before", "during-big"] {
        let got = s3
            .get_object()
            .bucket("fail")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            md5_hex(&got.body.collect().await.unwrap().into_bytes()),
            md5_hex(&big),
            "{key}"
        );
    }
    let listed = s3.list_objects_v2().bucket("fail").send().await.unwrap();
    assert_eq!(listed.contents().len(), 3);

    // Two of three down: a PUT is refused with 503 and nothing becomes visible.
    cluster.kill_node(1);
    for (key, body) in [("refused", b"tiny".to_vec()), ("refused-big", big.clone())] {
        let err = s3
            .put_object()
            .bucket("fail")
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&err), 503, "{key}: {}", code(&err));
    }
    let read = s3
        .get_object()
        .bucket("fail")
        .key("before")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&read), 503);

    cluster.restart_node(1);
    cluster.restart_node(2);
    // A refused write's outcome is unknown (as a 503 on S3): it may surface once the nodes are
    // back (a read that finds it on one node may decide it) or stay buried, but it reads back
    // whole, and once a read has seen it no later read goes back.
    let mut surfaced = Vec::new();
    for (key, body) in [("refused", b"tiny".to_vec()), ("refused-big", big.clone())] {
        let mut seen = false;
        for _ in 0..5 {
            match s3.get_object().bucket("fail").key(key).send().await {
                Ok(out) => {
                    let got = out.body.collect().await.unwrap().into_bytes();
                    assert_eq!(md5_hex(&got), md5_hex(&body), "{key} reads back wrong");
                    seen = true;
                }
                Err(e) => {
                    assert_eq!(status(&e), 404, "{key}: {}", code(&e));
                    assert!(!seen, "{key} was seen, then gone");
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if seen {
            surfaced.push(key);
        }
    }

    // Node 2 missed "during"; a GET through the gateway puts it back, as node 2 itself shows.
    let node2 = cluster.node_client(2);
    assert!(node2
        .get_manifest("fail", "during")
        .await
        .unwrap()
        .is_none());
    let repairs_before = metric(&cluster, "s3store_gateway_read_repairs_total").await;
    let got = s3
        .get_object()
        .bucket("fail")
        .key("during")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"small"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(m) = node2.get_manifest("fail", "during").await.unwrap() {
            assert!(!m.deleted);
            assert_eq!(m.size, 5);
            break;
        }
        assert!(Instant::now() < deadline, "node 2 was not repaired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metric(&cluster, "s3store_gateway_read_repairs_total").await > repairs_before);

    // And a delete made while a node is down is not undone by that node coming back.
    cluster.kill_node(0);
    s3.delete_object()
        .bucket("fail")
        .key("before")
        .send()
        .await
        .unwrap();
    cluster.restart_node(0);
    let err = s3
        .get_object()
        .bucket("fail")
        .key("before")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
    // A listing reads two of the three nodes, a different pair each time: every pair holds the
    // tombstone, including the pairs with node 0's stale copy, and also when a node asked is
    // down and the third one stands in for it.
    for down in [None, Some(1)] {
        if let Some(node) = down {
            cluster.kill_node(node);
        }
        for _ in 0..3 {
            let listed = s3.list_objects_v2().bucket("fail").send().await.unwrap();
            let keys: Vec<_> = listed.contents().iter().map(|o| o.key().unwrap()).collect();
            let mut expected = vec!["during", "during-big"];
            expected.extend(&surfaced);
            expected.sort_unstable();
            let listed_known: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| !k.starts_with("refused") || surfaced.contains(k))
                .collect();
            assert_eq!(listed_known, expected, "node down: {down:?}");
        }
    }
}
