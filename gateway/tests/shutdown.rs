//! Graceful shutdown: on SIGTERM the gateway stops accepting connections, lets the requests in
//! flight finish (`shutdown_grace_seconds`), and exits 0; nothing it acknowledged is lost. A
//! second test: a request still in flight when the grace period ends does not hold the exit.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{pattern, Shape, TestCluster};

const BUCKET: &str = "stopping";
const SIZE: usize = 24 << 20;

/// Reads a GET's body slowly (a pause after every piece, by its size), so that it is still in
/// flight when the gateway is told to stop; answers the bytes read.
async fn slow_read(s3: aws_sdk_s3::Client, key: String) -> Result<Vec<u8>, String> {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut body = out.body;
    let mut got = Vec::with_capacity(SIZE);
    while let Some(piece) = body.try_next().await.map_err(|e| format!("{e:?}"))? {
        got.extend_from_slice(&piece);
        // About 16 MiB/s: a 24 MiB object takes 1.5 s at least.
        tokio::time::sleep(Duration::from_micros(piece.len() as u64 / 16)).await;
    }
    Ok(got)
}

fn terminate(pid: u32) {
    // SAFETY: sending a signal to a child process of this test.
    let sent = unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert_eq!(sent, 0, "SIGTERM not sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_requests_in_flight_then_exits() {
    let mut cluster = TestCluster::start_with(Shape {
        gateway_yaml: "shutdown_grace_seconds: 30\n",
        ..Default::default()
    });
    let s3 = cluster.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let data = pattern(SIZE, 7);
    for i in 0..3 {
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("big-{i}"))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
    }
    // Three slow GETs in flight, then SIGTERM.
    let readers: Vec<_> = (0..3)
        .map(|i| tokio::spawn(slow_read(s3.clone(), format!("big-{i}"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        readers.iter().all(|r| !r.is_finished()),
        "the GETs ended before the gateway was told to stop"
    );
    let mut gateway = cluster.take_gateway();
    let stopped = Instant::now();
    terminate(gateway.id());
    // New connections are refused soon after.
    let endpoint = cluster.endpoint();
    let address = endpoint.trim_start_matches("http://").to_string();
    let mut refused = false;
    for _ in 0..50 {
        if std::net::TcpStream::connect(&address).is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "the gateway still accepts connections after SIGTERM"
    );
    // Every GET in flight completes with the whole object.
    for reader in readers {
        let got = reader.await.unwrap().expect("a GET in flight failed");
        assert!(got == data, "a GET in flight returned other bytes");
    }
    let status = tokio::task::spawn_blocking(move || gateway.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "gateway exited with {status}");
    assert!(
        stopped.elapsed() < Duration::from_secs(30),
        "the gateway took {:?} to stop",
        stopped.elapsed()
    );
    // Nothing acknowledged is lost: a new gateway reads every object back.
    cluster.restart_gateway();
    let s3 = cluster.client();
    for i in 0..3 {
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(format!("big-{i}"))
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert!(got.as_ref() == data.as_slice());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_grace_period_bounds_the_wait() {
    let mut cluster = TestCluster::start_with(Shape {
        gateway_yaml: "shutdown_grace_seconds: 1\n",
        ..Default::default()
    });
    let s3 = cluster.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.put_object()
        .bucket(BUCKET)
        .key("big")
        .body(ByteStream::from(pattern(SIZE, 9)))
        .send()
        .await
        .unwrap();
    // A GET that reads far slower than the grace period allows.
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key("big")
        .send()
        .await
        .unwrap();
    let mut gateway = cluster.take_gateway();
    let stopped = Instant::now();
    terminate(gateway.id());
    let status = tokio::task::spawn_blocking(move || gateway.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "gateway exited with {status}");
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "stopped after {took:?} with a 1 s grace period and a request in flight"
    );
    drop(out);
}
