//! Background jobs from the admin CLI: with `repair` stopped, a wiped node stays empty while
//! anti-entropy would otherwise refill it within a second; `job-start repair` refills it, and
//! `admin jobs` shows the job's state and the gateway's report of its last pass.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{eventually, pattern, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_stops_and_starts_cluster_wide() {
    let mut cluster = TestCluster::start();
    cluster.reconfigure_gateway("anti_entropy_seconds: 0.5\n");
    let s3 = cluster.client();
    s3.create_bucket().bucket("jobs").send().await.unwrap();
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    for key in &keys {
        s3.put_object()
            .bucket("jobs")
            .key(key)
            .body(ByteStream::from(pattern(200, 3)))
            .send()
            .await
            .unwrap();
    }

    let out = cluster.admin(&["job-stop", "repair"]);
    assert!(out.contains("repair: stopped"), "{out}");
    let out = cluster.admin(&["jobs"]);
    assert!(out.contains("repair: stopped"), "{out}");
    assert!(out.contains("rebalance: running; no data to move"), "{out}");
    // Gateways read the controls every second; a pass under way finishes.
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.kill_node(2);
    std::fs::remove_dir_all(cluster.path().join("data2")).unwrap();
    cluster.restart_node(2);
    let wiped = cluster.node_client(2);
    let held = || async {
        let mut n = 0;
        for key in &keys {
            if wiped.get_manifest("jobs", key).await.unwrap().is_some() {
                n += 1;
            }
        }
        n
    };
    // Six anti-entropy periods: a running job would have refilled the node by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(held().await, 0, "a stopped repair copied records");

    let out = cluster.admin(&["job-start", "repair"]);
    assert!(out.contains("repair: running"), "{out}");
    eventually("the node refilled", Duration::from_secs(30), async || {
        held().await == keys.len()
    })
    .await;
    // The gateway reports what its passes did.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = cluster.admin(&["jobs"]);
        if out.contains("repair: running") && out.contains("last pass ended") {
            assert!(out.contains("records copied, complete"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "no report: {out}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
