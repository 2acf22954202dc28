//! A storage node SIGKILLed in the middle of a concurrent write load of 2,000 objects and
//! restarted later: every PUT that got 200 reads back byte-identical, and within the time bound
//! every object is back on all three replicas (checked on each node directly), by hinted-free
//! repair: anti-entropy.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{metric, pattern, Shape, TestCluster};
use futures::StreamExt;

const OBJECTS: usize = 2000;

fn body(i: usize) -> Vec<u8> {
    // Mostly small objects, every 50th one spanning several chunks.
    let len = if i.is_multiple_of(50) {
        300_000
    } else {
        200 + i % 3000
    };
    pattern(len, i as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_crash_and_return_to_n_replicas() {
    let mut cluster = TestCluster::start_with(Shape {
        chunk_size: 128 << 10,
        ..Default::default()
    });
    cluster.reconfigure_gateway("anti_entropy_seconds: 1\n");
    let s3 = cluster.client();
    s3.create_bucket().bucket("load").send().await.unwrap();

    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let (s3, done) = (s3.clone(), done.clone());
        tokio::spawn(async move {
            futures::stream::iter(0..OBJECTS)
                .map(|i| {
                    let (s3, done) = (s3.clone(), done.clone());
                    async move {
                        let ok = s3
                            .put_object()
                            .bucket("load")
                            .key(format!("obj-{i:05}"))
                            .body(ByteStream::from(body(i)))
                            .send()
                            .await
                            .is_ok();
                        done.fetch_add(1, Ordering::Relaxed);
                        (i, ok)
                    }
                })
                .buffer_unordered(16)
                .collect::<Vec<_>>()
                .await
        })
    };
    let wait_for = |n: usize| {
        let done = done.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            while done.load(Ordering::Relaxed) < n {
                assert!(Instant::now() < deadline, "the load stalled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(OBJECTS / 4).await;
    cluster.kill_node(1);
    wait_for(OBJECTS * 3 / 4).await;
    cluster.restart_node(1);
    let results = load.await.unwrap();
    let acknowledged: Vec<usize> = results.iter().filter(|r| r.1).map(|r| r.0).collect();
    assert!(
        acknowledged.len() >= OBJECTS * 9 / 10,
        "only {} of {OBJECTS} PUTs succeeded with one node of three down",
        acknowledged.len()
    );

    // Every acknowledged object reads back byte-identical.
    let mismatches = futures::stream::iter(acknowledged.clone())
        .map(|i| {
            let s3 = s3.clone();
            async move {
                let got = s3
                    .get_object()
                    .bucket("load")
                    .key(format!("obj-{i:05}"))
                    .send()
                    .await;
                match got {
                    Ok(o) => o.body.collect().await.unwrap().into_bytes() != body(i),
                    Err(_) => true,
                }
            }
        })
        .buffer_unordered(16)
        .filter(|bad| std::future::ready(*bad))
        .count()
        .await;
    assert_eq!(mismatches, 0, "acknowledged objects did not read back");

    // And every one of them is back on all three nodes, manifest and chunks.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut missing = 0;
        for node in 0..3 {
            let client = cluster.node_client(node);
            for &i in &acknowledged {
                match client.get_manifest("load", &format!("obj-{i:05}")).await {
                    Ok(Some(m)) if !m.deleted => {
                        for id in m.chunk_ids() {
                            if !matches!(client.get_chunk(id).await, Ok(Some(_))) {
                                missing += 1;
                            }
                        }
                    }
                    _ => missing += 1,
                }
            }
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} records still missing a replica"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The killed node had missed writes: something had to be copied back to it.
    let copied = metric(&cluster, "s3store_gateway_antientropy_records_copied_total").await
        + metric(&cluster, "s3store_gateway_read_repairs_total").await;
    assert!(copied > 0.0, "the crash went unnoticed");
}
