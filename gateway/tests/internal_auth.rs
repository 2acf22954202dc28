//! The internal links, attacked from the network: a three-node cluster whose traffic to one node
//! is captured by a relay, then replayed (verbatim, with another body, to another node, after
//! the connection closed), and requests from peers that are not members of the cluster. The
//! nodes must act on none of it, and a replayed read lane must read nothing. Also: the GETs of
//! sealed objects do travel on read lanes.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::TestCluster;
use node_api::client::{NodeClient, RpcError, Timeouts};
use node_api::identity::ClusterIdentity;
use node_api::model::{ChunkId, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What each relayed connection's client sent, connection by connection.
type Captured = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A TCP relay to `target` that records what each connection's client sent.
async fn recording_relay(target: String) -> (String, Captured) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let captured: Captured = Arc::default();
    let connections = captured.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&target).await.unwrap();
            let sent = Arc::new(Mutex::new(Vec::new()));
            connections.lock().unwrap().push(sent.clone());
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 1 << 16];
                while let Ok(n) = client_read.read(&mut buffer).await {
                    if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    sent.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
                let _ = server_write.shutdown().await;
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                let _ = client_write.shutdown().await;
            });
        }
    });
    (address, captured)
}

/// Sends `bytes` on a new connection to `address` and reads whatever comes back until the
/// node closes it (or five seconds pass).
async fn replay(address: &str, bytes: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(address).await.unwrap();
    let _ = tcp.write_all(bytes).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut answer),
    )
    .await;
    answer
}

fn chunk(index: u32) -> ChunkId {
    ChunkId {
        version: Version {
            hlc: 3 << 40,
            tiebreak: 11,
        },
        part: 0,
        index,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_internal_traffic_cannot_be_replayed_or_altered() {
    let cluster = TestCluster::start();
    let (node0, node1) = (cluster.node_client(0), cluster.node_client(1));
    let (kept, planted) = (chunk(1), chunk(2));
    let marker = b"a body the network must never see in the clear ".repeat(1000);

    // A chunk both nodes hold, which the captured traffic deletes on node 0; and a chunk the
    // captured traffic stores there.
    for node in [&node0, &node1] {
        node.put_chunk(kept, Bytes::from_static(b"kept"))
            .await
            .unwrap();
    }
    let (relay, captured) = recording_relay(cluster.node_address(0)).await;
    {
        let through_relay = NodeClient::new(
            &relay,
            Some("node0"),
            &cluster.identity(),
            Timeouts::default(),
        );
        // An HTTP/2 request and a chunk stream.
        through_relay.delete_chunk(kept).await.unwrap();
        through_relay
            .put_chunk(planted, Bytes::from(marker.clone()))
            .await
            .unwrap();
        // A read lane (an unchecked read), opened with a ticket from the chunk stream.
        let read = through_relay.read_chunk(planted, false).await.unwrap();
        assert_eq!(&read.unwrap()[..], &marker[..]);
    }
    assert!(!node0.has_chunk(kept).await.unwrap());
    assert!(node0.has_chunk(planted).await.unwrap());
    // Undo both, so that a replay that worked would show.
    node0
        .put_chunk(kept, Bytes::from_static(b"kept"))
        .await
        .unwrap();
    node0.delete_chunk(planted).await.unwrap();
    // Let the relayed connections close (the client is gone): replays come after.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let connections: Vec<Vec<u8>> = captured
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.lock().unwrap().clone())
        .collect();
    assert!(connections.len() >= 3, "{} connections", connections.len());
    let lanes = connections
        .iter()
        .filter(|c| c.starts_with(node_api::read_lane::MAGIC))
        .count();
    assert_eq!(lanes, 1, "the read went on a lane");
    for sent in &connections {
        // Nothing readable on the wire: no path, no header, no body.
        assert!(!contains(sent, b"/v1/chunk"));
        assert!(!contains(sent, b"chunk-stream"));
        assert!(!contains(sent, &marker[..48]));
    }

    for sent in &connections {
        // The same bytes again; the same with another body (the records after the handshake
        // altered); to another node.
        let mut altered = sent.clone();
        let tail = altered.len() - altered.len().min(2000);
        for b in &mut altered[tail..] {
            *b ^= 0x5a;
        }
        for (target, bytes) in [
            (cluster.node_address(0), sent),
            (cluster.node_address(0), &altered),
            (cluster.node_address(1), sent),
        ] {
            let answer = replay(&target, bytes).await;
            assert!(
                !contains(&answer, b"HTTP/"),
                "{target} answered in the clear"
            );
            // A lane's ticket is spent: its replay is closed before any answer.
            if bytes.starts_with(node_api::read_lane::MAGIC) {
                assert!(answer.is_empty(), "{target} answered a replayed lane");
            }
        }
    }
    for node in [&node0, &node1] {
        assert!(
            node.has_chunk(kept).await.unwrap(),
            "a replayed delete acted"
        );
        assert!(
            !node.has_chunk(planted).await.unwrap(),
            "a replayed put acted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_serve_members_of_their_cluster_only() {
    let cluster = TestCluster::start();
    let address = cluster.node_address(0);
    let bucket_list = |client: NodeClient| async move {
        client
            .list_records::<node_api::model::BucketRecord>()
            .await
            .map(|_| ())
    };

    // A member is served.
    bucket_list(cluster.node_client(0)).await.unwrap();

    // A peer without a certificate reaches the health and metrics routes, nothing else.
    let anonymous = NodeClient::new(
        &address,
        Some("node0"),
        &ClusterIdentity::anonymous(cluster.cluster_secret()).unwrap(),
        Timeouts::default(),
    );
    for path in ["/health", "/metrics"] {
        let status = anonymous.status_of(http::Method::GET, path).await.unwrap();
        assert_eq!(status.as_u16(), 200, "{path}");
    }
    assert!(matches!(
        bucket_list(anonymous.clone()).await,
        Err(RpcError::Status(_, 401, _))
    ));
    assert!(!matches!(
        anonymous
            .put_chunk(chunk(7), Bytes::from_static(b"x"))
            .await,
        Ok(())
    ));
    assert!(!cluster.node_client(0).has_chunk(chunk(7)).await.unwrap());

    // Another cluster's member gets no connection at all.
    let stranger = NodeClient::new(
        &address,
        Some("node0"),
        &ClusterIdentity::for_client("another cluster's secret").unwrap(),
        Timeouts::default(),
    );
    assert!(matches!(
        bucket_list(stranger).await,
        Err(RpcError::Unreachable(..))
    ));

    // A member that meant another node does not talk to this one.
    let misdirected = NodeClient::new(
        &address,
        Some("node1"),
        &cluster.identity(),
        Timeouts::default(),
    );
    assert!(matches!(
        bucket_list(misdirected).await,
        Err(RpcError::Unreachable(..))
    ));

    // Plain HTTP, as the internal API once was (with a signature header): no answer in HTTP.
    let answer = replay(
        &address,
        b"POST /v1/row/list HTTP/1.1\r\nHost: x\r\nx-cluster-auth: 0:00\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(!contains(&answer, b"HTTP/"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_are_read_on_lanes() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("lanes").send().await.unwrap();
    // One chunk, and several (1 MiB chunks in test clusters).
    let objects = [("one", 700_000usize), ("several", (5 << 20) + 3)];
    for (key, len) in objects {
        let body = common::pattern(len, len as u64);
        s3.put_object()
            .bucket("lanes")
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    let lane_reads = async || {
        let mut sum = 0.0;
        for i in 0..3 {
            sum += common::node_metric(
                &cluster,
                i,
                // (a prefix: the node's own label follows)
                "s3store_node_requests_total{op=\"lane_get_chunk\",status=\"200\"",
            )
            .await;
        }
        sum
    };
    let before = lane_reads().await;
    for (key, len) in objects {
        let got = s3
            .get_object()
            .bucket("lanes")
            .key(key)
            .send()
            .await
            .unwrap();
        let got = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(got.len(), len);
        assert_eq!(&got[..], &common::pattern(len, len as u64)[..], "{key}");
    }
    // Every chunk read on a lane: 1 + 6.
    assert_eq!(lane_reads().await - before, 7.0);
}
