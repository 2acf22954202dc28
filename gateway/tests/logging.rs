//! `--log-format json`: every line a gateway writes is one JSON object, and the access log's
//! fields (operation, bucket, status, ...) are JSON fields a collector can index.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use common::{bin, free_port, wait_for_port, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_access_fields() {
    let cluster = TestCluster::start();
    let port = free_port();
    let yaml = std::fs::read_to_string(cluster.path().join("gateway.yaml")).unwrap();
    let yaml = yaml.replace(
        &format!("listen: \"127.0.0.1:{}\"", cluster.s3_port),
        &format!("listen: \"127.0.0.1:{port}\""),
    );
    let config = cluster.path().join("gateway-json.yaml");
    std::fs::write(&config, yaml).unwrap();
    let mut gateway = Command::new(bin("gateway"))
        .args(["--log-format", "json", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let endpoint = cluster
        .endpoint()
        .replace(&cluster.s3_port.to_string(), &port.to_string());
    let s3 = cluster.client_of(&endpoint);
    s3.create_bucket().bucket("logs").send().await.unwrap();
    s3.put_object()
        .bucket("logs")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    let mut out = String::new();
    gateway
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("gateway listening"))),
        "no start line in {out}"
    );
    let access = lines
        .iter()
        .find(|l| l["target"] == "s3store::access" && l["fields"]["operation"] == "PutObject")
        .unwrap_or_else(|| panic!("no PutObject access line in {out}"));
    assert_eq!(access["fields"]["bucket"], "logs");
    assert_eq!(access["fields"]["status"], 200);
    assert_eq!(access["level"], "INFO");
    assert!(access["timestamp"].is_string());
}
