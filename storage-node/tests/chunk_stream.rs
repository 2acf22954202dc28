//! Chunk PUTs on chunk streams, against the real `storage-node` binary on a loopback port: the
//! bytes arrive whole, one stream carries many chunks, hinted writes and stale epochs are
//! answered as over HTTP/2, a node restart costs no failed write, and a stream that is not
//! authenticated or not well formed is refused without harm to the node. Read lanes: sealed
//! reads travel on them, and a lane without a fresh ticket, or a frame without the lane key's
//! tag, is closed unanswered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use node_api::chunk_stream::GetHeader;
use node_api::read_lane::{self, Lane, LaneMac, LaneSecret, MAGIC};
use storage_node::client::{Epochs, NodeClient, RpcError, Timeouts};
use storage_node::identity::{ClusterIdentity, ANY_NODE};
use storage_node::model::{ChunkId, Hint, Version};

const SECRET: &str = "chunk-stream-test-secret";

struct Node {
    dir: tempfile::TempDir,
    address: String,
    child: Option<Child>,
}

impl Node {
    fn start() -> Node {
        // A port never handed out before in this binary: tests run in parallel and one
        // restarts its node on its port, which another test must not have taken meanwhile
        // (its client would then talk to the other test's node).
        static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
        let port = loop {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
            if !given.contains(&port) {
                given.push(port);
                break port;
            }
        };
        let mut node = Node {
            dir: tempfile::tempdir().unwrap(),
            address: format!("127.0.0.1:{port}"),
            child: None,
        };
        let config = format!(
            "node_id: n1\nlisten: \"{}\"\ndata_dir: data\ncluster_secret: {{ value: {SECRET} }}\nscrub: {{ bytes_per_second: 0 }}\n",
            node.address
        );
        std::fs::write(node.dir.path().join("node.yaml"), config).unwrap();
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_storage-node"))
            .current_dir(self.dir.path())
            .arg("--config")
            .arg("node.yaml")
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&self.address).is_err() {
            assert!(Instant::now() < deadline, "node did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Listening, and it is this node that listens (not one that took the port first).
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        assert!(exited.is_none(), "the node exited: {exited:?}");
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn client(&self) -> NodeClient {
        NodeClient::new(
            &self.address,
            Some("n1"),
            &ClusterIdentity::for_client(SECRET).unwrap(),
            Timeouts::default(),
        )
    }

    /// Gives the node a one-node map at epoch 5.
    async fn move_to_epoch_5(&self) {
        let map = placement::ClusterMap::from_yaml(&format!(
            "epoch: 5\nreplication: {{ n: 1, w: 1, r: 1 }}\nnodes:\n  - {{ id: n1, address: '{}', zone: z1 }}\n",
            self.address
        ))
        .unwrap();
        self.client()
            .offer_map(&placement::MapState::settled(map))
            .await
            .unwrap();
    }

    /// A client that sends the epoch held in the returned cell (set to `epoch`).
    fn client_at(&self, epoch: u64) -> (NodeClient, Arc<Epochs>) {
        let epochs = Arc::new(Epochs::default());
        epochs.ours.store(epoch, Ordering::SeqCst);
        (self.client().with_epochs(epochs.clone()), epochs)
    }

    /// The value of `s3store_node_requests_total` for `op` and `status`.
    fn requests(&self, op: &str, status: &str) -> u64 {
        let text = http_get(&self.address, "/metrics");
        let wanted = format!("op=\"{op}\"");
        let status = format!("status=\"{status}\"");
        text.lines()
            .filter(|l| l.starts_with("s3store_node_requests_total{"))
            .filter(|l| l.contains(&wanted) && l.contains(&status))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to the node with `identity` (blocking, for raw requests).
fn tls_connect(address: &str, identity: &ClusterIdentity) -> TlsStream {
    let tcp = TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from(ANY_NODE).unwrap();
    let connection = rustls::ClientConnection::new(identity.client_config(), name).unwrap();
    rustls::StreamOwned::new(connection, tcp)
}

/// Reads until the peer closes (a reset or a missing TLS close is a close too).
fn read_all(stream: &mut TlsStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buffer[..n]),
        }
    }
}

/// An HTTP/1.1 GET as a probe or a scraper sends it (TLS, no certificate); the whole answer.
fn http_get(address: &str, path: &str) -> String {
    let mut tls = tls_connect(address, &ClusterIdentity::anonymous(SECRET).unwrap());
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    String::from_utf8_lossy(&read_all(&mut tls)).into_owned()
}

fn chunk(index: u32) -> ChunkId {
    ChunkId {
        version: Version {
            hlc: 1 << 40,
            tiebreak: 7,
        },
        part: 0,
        index,
    }
}

fn body(index: u32, len: usize) -> Bytes {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(index) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_cross_pooled_streams_whole() {
    let node = Node::start();
    let client = node.client();
    // Sizes around the O_DIRECT block and a multi-frame chunk.
    let sizes = [0, 1, 4095, 4096, 4097, 1 << 20, (4 << 20) + 3];
    for (i, len) in sizes.into_iter().enumerate() {
        client
            .put_chunk(chunk(i as u32), body(i as u32, len))
            .await
            .unwrap();
    }
    // Sent one after another: one stream carried them all.
    assert_eq!(node.requests("chunk_stream", "101"), 1);
    assert_eq!(node.requests("put_chunk", "204"), sizes.len() as u64);
    // Eight at once: more streams, each reused afterwards.
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let puts: Vec<_> = (0..8u32)
        .map(|i| {
            let (client, start, data) = (client.clone(), start.clone(), body(i, 3 << 20));
            tokio::spawn(async move {
                start.wait().await;
                client.put_chunk(chunk(100 + i), data).await
            })
        })
        .collect();
    for put in puts {
        put.await.unwrap().unwrap();
    }
    let opened = node.requests("chunk_stream", "101");
    assert!((2..=9).contains(&opened), "{opened} streams");
    client.put_chunk(chunk(200), body(200, 10)).await.unwrap();
    assert_eq!(node.requests("chunk_stream", "101"), opened);
    for (i, len) in sizes.into_iter().enumerate() {
        let read = client.get_chunk(chunk(i as u32)).await.unwrap().unwrap();
        assert_eq!(read, body(i as u32, len), "chunk {i}");
    }
    for i in 0..8u32 {
        let read = client.get_chunk(chunk(100 + i)).await.unwrap().unwrap();
        assert_eq!(read, body(i, 3 << 20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_gets_on_streams_are_checked_when_asked() {
    let node = Node::start();
    let client = node.client();
    let sizes = [0, 1, 4095, 4097, (4 << 20) + 3];
    for (i, len) in sizes.into_iter().enumerate() {
        client
            .put_chunk(chunk(i as u32), body(i as u32, len))
            .await
            .unwrap();
    }
    // Sent unchecked and checked, all on the one stream the PUTs used.
    for verify in [false, true] {
        for (i, len) in sizes.into_iter().enumerate() {
            let read = client.read_chunk(chunk(i as u32), verify).await.unwrap();
            assert_eq!(&read.unwrap()[..], &body(i as u32, len)[..], "chunk {i}");
        }
    }
    assert!(client.read_chunk(chunk(99), false).await.unwrap().is_none());
    // The PUTs' stream also asked for the read lane the unchecked reads went on.
    let streams = node.requests("chunk_stream", "101");
    if streams != 1 {
        // Seen once in ~30 runs under full-suite load, with 0; what the node counted says why.
        let text = http_get(&node.address, "/metrics");
        let counted: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("s3store_node_requests_total"))
            .collect();
        panic!("{streams} chunk streams opened, the node counted: {counted:#?}");
    }
    assert_eq!(node.requests("get_chunk", "200"), sizes.len() as u64);
    assert_eq!(node.requests("lane_get_chunk", "200"), sizes.len() as u64);
    assert_eq!(node.requests("lane_get_chunk", "404"), 1);

    // A rotten copy: sent as it is when unchecked (the reader authenticates it), answered as
    // missing and marked bad when checked.
    let id = chunk(4);
    let hex = id.to_hex();
    let file = node
        .dir
        .path()
        .join("data/chunk-files")
        .join(&hex[..2])
        .join(&hex);
    let mut rotten = std::fs::read(&file).unwrap();
    rotten[1000] ^= 1;
    std::fs::write(&file, &rotten).unwrap();
    let read = client.read_chunk(id, false).await.unwrap().unwrap();
    assert_eq!(&read[..], &rotten[..]);
    assert!(client.read_chunk(id, true).await.unwrap().is_none());
    assert_eq!(client.bad_chunks().await.unwrap(), vec![id]);

    // A stale epoch gets its 409 on the stream, which carries on.
    node.move_to_epoch_5().await;
    let (gateway, epochs) = node.client_at(5);
    assert!(gateway.read_chunk(chunk(1), false).await.unwrap().is_some());
    epochs.ours.store(4, Ordering::SeqCst);
    assert!(matches!(
        gateway.read_chunk(chunk(1), false).await,
        Err(RpcError::Status(_, 409, _))
    ));
    epochs.ours.store(5, Ordering::SeqCst);
    let read = gateway.read_chunk(chunk(1), false).await.unwrap().unwrap();
    assert_eq!(&read[..], &body(1, 1)[..]);
    assert_eq!(node.requests("lane_get_chunk", "409"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hinted_writes_and_stale_epochs_are_answered_on_streams() {
    let node = Node::start();
    let client = node.client();
    client
        .put_chunk_for(chunk(1), body(1, 5000), Some("node-9"))
        .await
        .unwrap();
    let hints = client.list_hints(&[], 10).await.unwrap();
    assert!(
        hints.iter().any(|h| h.hint
            == Hint::Chunk {
                owner: "node-9".into(),
                id: chunk(1)
            }),
        "{hints:?}"
    );
    assert_eq!(node.requests("put_chunk", "204"), 1);

    node.move_to_epoch_5().await;
    // A gateway still at epoch 4 is told to catch up, on an open stream or a new one.
    let (behind, epochs) = node.client_at(4);
    for _ in 0..2 {
        match behind.put_chunk(chunk(2), body(2, 100)).await {
            Err(RpcError::Status(_, 409, message)) => assert!(message.contains("epoch 5")),
            other => panic!("expected 409, got {other:?}"),
        }
        assert_eq!(epochs.highest_seen.load(Ordering::SeqCst), 5);
    }
    // On an open stream (opened at the current epoch), a stale PUT gets its 409 and the
    // stream carries on.
    epochs.ours.store(5, Ordering::SeqCst);
    behind.put_chunk(chunk(3), body(3, 100)).await.unwrap();
    epochs.ours.store(4, Ordering::SeqCst);
    assert!(matches!(
        behind.put_chunk(chunk(4), body(4, 100)).await,
        Err(RpcError::Status(_, 409, _))
    ));
    epochs.ours.store(5, Ordering::SeqCst);
    behind.put_chunk(chunk(5), body(5, 100)).await.unwrap();
    assert_eq!(node.requests("put_chunk", "409"), 1);
    assert!(client.get_chunk(chunk(2)).await.unwrap().is_none());
    assert!(client.get_chunk(chunk(4)).await.unwrap().is_none());
    assert_eq!(
        client.get_chunk(chunk(5)).await.unwrap().unwrap(),
        body(5, 100)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_costs_no_failed_write() {
    let mut node = Node::start();
    let client = node.client();
    client.put_chunk(chunk(1), body(1, 1 << 20)).await.unwrap();
    node.stop();
    node.spawn();
    // The pooled stream died with the old process: the PUT goes on a new one.
    client.put_chunk(chunk(2), body(2, 1 << 20)).await.unwrap();
    assert_eq!(
        client.get_chunk(chunk(1)).await.unwrap().unwrap(),
        body(1, 1 << 20)
    );
    assert_eq!(
        client.get_chunk(chunk(2)).await.unwrap().unwrap(),
        body(2, 1 << 20)
    );
    node.stop();
    assert!(matches!(
        client.put_chunk(chunk(3), body(3, 10)).await,
        Err(RpcError::Unreachable(..))
    ));
}

/// Opens a stream by hand, as `identity`: the raw upgrade request inside TLS.
fn raw_stream(address: &str, identity: &ClusterIdentity) -> (TlsStream, String) {
    let mut tls = tls_connect(address, identity);
    write!(
        tls,
        "GET /v1/chunk-stream HTTP/1.1\r\nHost: {address}\r\nConnection: upgrade\r\nUpgrade: s3store-chunks/1\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (tls, String::from_utf8_lossy(&head).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_streams_are_refused_and_harm_nothing() {
    let node = Node::start();
    let member = ClusterIdentity::for_client(SECRET).unwrap();

    // No certificate: refused.
    let anonymous = ClusterIdentity::anonymous(SECRET).unwrap();
    let (_, head) = raw_stream(&node.address, &anonymous);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    // Garbage after the upgrade: the node closes the stream.
    let (mut tls, head) = raw_stream(&node.address, &member);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tls.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let rest = read_all(&mut tls);
    assert!(rest.is_empty(), "expected the stream closed, got {rest:?}");

    // A chunk longer than any node takes: 413, then the stream is closed.
    let (mut tls, _) = raw_stream(&node.address, &member);
    let mut frame = vec![b'P', 0];
    frame.extend_from_slice(&[0u8; 8]);
    frame.extend_from_slice(&chunk(1).to_bytes());
    frame.push(0);
    frame.extend_from_slice(&u32::MAX.to_be_bytes());
    tls.write_all(&frame).unwrap();
    let answer = read_all(&mut tls);
    assert_eq!(&answer[..2], &413u16.to_be_bytes());

    // A chunk cut short: nothing stored.
    let (mut tls, _) = raw_stream(&node.address, &member);
    let mut frame = vec![b'P', 0];
    frame.extend_from_slice(&[0u8; 8]);
    frame.extend_from_slice(&chunk(2).to_bytes());
    frame.push(0);
    frame.extend_from_slice(&1000u32.to_be_bytes());
    frame.extend_from_slice(&[1u8; 999]);
    tls.write_all(&frame).unwrap();
    tls.flush().unwrap();
    drop(tls);

    let client = node.client();
    client.put_chunk(chunk(3), body(3, 100)).await.unwrap();
    assert!(client.get_chunk(chunk(2)).await.unwrap().is_none());
    assert_eq!(
        client.get_chunk(chunk(3)).await.unwrap().unwrap(),
        body(3, 100)
    );
}

/// A lane's ticket and key, asked for by hand on a raw chunk stream.
fn lane_ticket(address: &str) -> LaneSecret {
    let (mut tls, head) = raw_stream(address, &ClusterIdentity::for_client(SECRET).unwrap());
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tls.write_all(b"L").unwrap();
    let mut answer = [0u8; 12];
    tls.read_exact(&mut answer).unwrap();
    assert_eq!(&answer[..2], &200u16.to_be_bytes());
    let mut secret = [0u8; LaneSecret::BYTES];
    tls.read_exact(&mut secret).unwrap();
    LaneSecret::decode(&secret)
}

/// Sends `bytes` on a new plain connection and reads until the node closes it (at most 5 s).
async fn plain_exchange(address: &str, bytes: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let _ = tcp.write_all(bytes).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the node kept the connection open");
    answer
}

fn hello(secret: &LaneSecret) -> Vec<u8> {
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&secret.ticket);
    hello
}

fn lane_get(index: u32, verify: bool) -> GetHeader {
    GetHeader {
        epoch: None,
        id: chunk(index),
        verify,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_lanes_need_a_fresh_ticket_and_the_lane_key() {
    let node = Node::start();
    let client = node.client();
    client.put_chunk(chunk(1), body(1, 300_000)).await.unwrap();

    // A lane opened with a ticket serves unchecked reads, one after another, and answers a
    // checked read 400 (checked bytes travel inside TLS).
    let secret = lane_ticket(&node.address);
    let tcp = tokio::net::TcpStream::connect(&node.address).await.unwrap();
    let mut lane = Lane::open(tcp, &secret, Duration::from_secs(5))
        .await
        .unwrap();
    for _ in 0..3 {
        let (answer, data) = lane.get(&lane_get(1, false)).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(&data.unwrap()[..], &body(1, 300_000)[..]);
    }
    let (answer, data) = lane.get(&lane_get(1, true)).await.unwrap();
    assert_eq!((answer.status, data.is_none()), (400, true));
    let (answer, _) = lane.get(&lane_get(2, false)).await.unwrap();
    assert_eq!(answer.status, 404);

    // The same ticket again, or one never issued: closed before any answer.
    let mut request = hello(&secret);
    request.extend_from_slice(&LaneMac::new(&secret.key).request(&lane_get(1, false)));
    assert!(plain_exchange(&node.address, &request).await.is_empty());
    let made_up = LaneSecret {
        ticket: [7u8; 16],
        key: secret.key,
    };
    let mut request = hello(&made_up);
    request.extend_from_slice(&LaneMac::new(&made_up.key).request(&lane_get(1, false)));
    assert!(plain_exchange(&node.address, &request).await.is_empty());

    // A fresh ticket with a request tagged under another key: taken, then closed unanswered.
    let fresh = lane_ticket(&node.address);
    let mut request = hello(&fresh);
    request.extend_from_slice(&LaneMac::new(&[3u8; 32]).request(&lane_get(1, false)));
    assert_eq!(
        plain_exchange(&node.address, &request).await,
        vec![read_lane::TAKEN]
    );

    // A request sent twice on one lane: the first is answered, the replay closes the lane.
    let fresh = lane_ticket(&node.address);
    let mut request = hello(&fresh);
    let tagged = LaneMac::new(&fresh.key).request(&lane_get(1, false));
    request.extend_from_slice(&tagged);
    request.extend_from_slice(&tagged);
    let answer = plain_exchange(&node.address, &request).await;
    assert_eq!(answer[0], read_lane::TAKEN);
    let answer = &answer[1..];
    let mut reader = LaneMac::new(&fresh.key);
    let (first, data) = reader.read_answer(&mut &answer[..]).await.unwrap();
    assert_eq!(first.status, 200);
    let data = data.unwrap();
    assert_eq!(&data[..], &body(1, 300_000)[..]);
    assert_eq!(answer.len(), 4 + 12 + 4 + 32 + data.len(), "answered twice");

    // A ticket expires unused.
    let late = lane_ticket(&node.address);
    tokio::time::sleep(read_lane::TICKET_LIFETIME + Duration::from_millis(200)).await;
    let mut request = hello(&late);
    request.extend_from_slice(&LaneMac::new(&late.key).request(&lane_get(1, false)));
    assert!(plain_exchange(&node.address, &request).await.is_empty());

    // Neither TLS nor a lane: closed (after a TLS alert at most); the node serves on.
    let answer = plain_exchange(&node.address, b"GET /health HTTP/1.1\r\n\r\n").await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/"),
        "{answer:?}"
    );
    assert!(plain_exchange(&node.address, b"s3lane/2 sixteen bytes!!")
        .await
        .is_empty());
    let read = client.read_chunk(chunk(1), false).await.unwrap().unwrap();
    assert_eq!(&read[..], &body(1, 300_000)[..]);
}
