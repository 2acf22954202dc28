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

/// SIGTERM (what Kubernetes sends to stop a pod) ends the node cleanly: exit status 0, soon,
/// and the store opens again.
#[test]
fn sigterm_stops_the_node_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.yaml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &path,
        format!(
            "node_id: a\nlisten: 127.0.0.1:{port}\ndata_dir: {}\ncluster_secret: {{ value: s }}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    for round in 0..2 {
        let mut node = Command::new(env!("CARGO_BIN_EXE_storage-node"))
            .arg("--config")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 30,
                "round {round}: not listening"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // SAFETY: a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(node.id() as i32, libc::SIGTERM) }, 0);
        let stopping = std::time::Instant::now();
        let status = loop {
            if let Some(status) = node.try_wait().unwrap() {
                break status;
            }
            assert!(
                stopping.elapsed().as_secs() < 20,
                "round {round}: still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(status.success(), "round {round}: exited with {status}");
    }
}
