//! The gateway streams: uploading and downloading a 2 GiB object keeps its peak resident memory
//! under 256 MiB. A one-node, one-replica cluster keeps the disk use of this test at 2 GiB.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use common::{Shape, TestCluster};
use md5::Digest;

const SIZE: u64 = 2 << 30;
const FRAME: usize = 1 << 20;

/// A body that generates `SIZE` deterministic bytes frame by frame.
struct Generated {
    sent: u64,
    frame: Bytes,
}

impl Generated {
    fn new() -> Generated {
        Generated {
            sent: 0,
            frame: Bytes::from(common::pattern(FRAME, 99)),
        }
    }
    fn next_frame(&mut self) -> Option<Bytes> {
        if self.sent >= SIZE {
            return None;
        }
        let len = (SIZE - self.sent).min(FRAME as u64) as usize;
        // Vary each frame a little so that a misplaced chunk would change the MD5.
        let mut v = self.frame[..len].to_vec();
        v[..8].copy_from_slice(&self.sent.to_le_bytes());
        self.sent += len as u64;
        Some(Bytes::from(v))
    }
}

impl http_body::Body for Generated {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.next_frame().map(|b| Ok(http_body::Frame::data(b))))
    }
    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(SIZE - self.sent)
    }
    fn is_end_stream(&self) -> bool {
        self.sent >= SIZE
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gib_round_trip_in_bounded_memory() {
    let cluster = TestCluster::start_with(Shape {
        nodes: 1,
        n: 1,
        w: 1,
        r: 1,
        ..Shape::default()
    });
    let s3 = cluster.client();
    s3.create_bucket().bucket("mem").send().await.unwrap();

    let mut expected = md5::Md5::new();
    let mut g = Generated::new();
    while let Some(f) = g.next_frame() {
        expected.update(&f);
    }
    let expected = hex::encode(expected.finalize());

    let body = ByteStream::new(SdkBody::from_body_1_x(Generated::new()));
    let put = s3
        .put_object()
        .bucket("mem")
        .key("two-gib")
        .content_length(SIZE as i64)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(format!("\"{expected}\"").as_str()));

    let mut got = s3
        .get_object()
        .bucket("mem")
        .key("two-gib")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(SIZE as i64));
    let mut md5 = md5::Md5::new();
    let mut received = 0u64;
    while let Some(piece) = got.body.try_next().await.unwrap() {
        received += piece.len() as u64;
        md5.update(&piece);
    }
    assert_eq!(received, SIZE);
    assert_eq!(hex::encode(md5.finalize()), expected);

    let peak = peak_rss_kib(cluster.gateway_pid());
    println!(
        "gateway peak RSS during 2 GiB up and down: {} MiB",
        peak / 1024
    );
    assert!(
        peak < 256 * 1024,
        "gateway peak RSS {} MiB exceeds 256 MiB",
        peak / 1024
    );
    s3.delete_object()
        .bucket("mem")
        .key("two-gib")
        .send()
        .await
        .unwrap();
}
