//! `/metrics` after a scripted workload: the counters moved by exactly what the workload did
//! (10 PUTs add 10 to PutObject's 200 counter, a missing key adds one 404 to GetObject), the
//! latency histograms counted the same requests, bytes in and out grew by at least the bodies,
//! and the nodes report their store sizes and build.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{metric, node_metric, pattern, TestCluster};

async fn sample(cluster: &TestCluster, name: &str) -> f64 {
    metric(cluster, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_what_the_workload_did() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("metered").send().await.unwrap();

    let put_ok = "s3store_gateway_requests_total{operation=\"PutObject\",status=\"200\"}";
    let get_ok = "s3store_gateway_requests_total{operation=\"GetObject\",status=\"200\"}";
    let get_missing = "s3store_gateway_requests_total{operation=\"GetObject\",status=\"404\"}";
    let put_latency = "s3store_gateway_request_duration_seconds_count{operation=\"PutObject\"}";
    let counters = async || {
        [
            sample(&cluster, put_ok).await,
            sample(&cluster, get_ok).await,
            sample(&cluster, get_missing).await,
            sample(&cluster, put_latency).await,
            sample(&cluster, "s3store_gateway_received_bytes_total").await,
            sample(&cluster, "s3store_gateway_sent_bytes_total").await,
        ]
    };
    let before = counters().await;

    let body = pattern(100_000, 3);
    for i in 0..10 {
        s3.put_object()
            .bucket("metered")
            .key(format!("k{i}"))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    for i in 0..3 {
        s3.get_object()
            .bucket("metered")
            .key(format!("k{i}"))
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap();
    }
    let missing = s3.get_object().bucket("metered").key("nope").send().await;
    assert!(missing.is_err());

    let after = counters().await;
    assert_eq!(after[0] - before[0], 10.0, "PutObject 200");
    assert_eq!(after[1] - before[1], 3.0, "GetObject 200");
    assert_eq!(after[2] - before[2], 1.0, "GetObject 404");
    assert_eq!(after[3] - before[3], 10.0, "PutObject latency samples");
    assert!(after[4] - before[4] >= 10.0 * body.len() as f64, "bytes in");
    assert!(after[5] - before[5] >= 3.0 * body.len() as f64, "bytes out");
    assert_eq!(
        sample(&cluster, "s3store_gateway_build_info{version=").await,
        1.0
    );

    // The nodes: their store holds the data (RocksDB's figures), they answered PUTs.
    for i in 0..3 {
        let sst_and_blob =
            node_metric(&cluster, i, "s3store_node_store_keys{cf=\"manifests\"").await;
        assert!(sst_and_blob >= 1.0, "node {i} reports its manifests");
        assert_eq!(
            node_metric(&cluster, i, "s3store_node_build_info{").await,
            1.0
        );
        assert_eq!(
            node_metric(&cluster, i, "s3store_node_hints_pending{").await,
            0.0
        );
    }
}

/// Every metric the Grafana dashboard (helm/s3store/dashboards/s3store.json) queries is one
/// the gateway or the nodes register.
#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let dashboard = include_str!("../../helm/s3store/dashboards/s3store.json");
    let sources = [
        ("s3store_gateway_", include_str!("../src/metrics.rs")),
        (
            "s3store_node_",
            include_str!("../../storage-node/src/metrics.rs"),
        ),
    ];
    let mut checked = 0;
    for (at, _) in dashboard.match_indices("s3store_") {
        let name: String = dashboard[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let (prefix, source) = sources
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .unwrap_or_else(|| panic!("{name}: neither a gateway nor a node metric"));
        let base = name.strip_prefix(prefix).unwrap();
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| base.strip_suffix(s))
            .unwrap_or(base);
        assert!(
            source.contains(&format!("\"{base}\"")),
            "{name} is not registered"
        );
        checked += 1;
    }
    assert!(checked > 20);
}
