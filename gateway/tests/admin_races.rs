//! The admin API under concurrent use, on a three-node cluster, driven by its real client
//! (`gateway admin --endpoint`, one process per request, all at once): sixteen grants of one
//! key at once all land; eight creations of one key id make exactly one key, whose secret
//! works; grants racing the key's deletion leave it deleted (its secret refused); quotas set
//! through the API race S3 bucket configuration changes and both are kept.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin, client_for, code, eventually, free_port, wait_for_port, TestCluster};

const TOKEN: &str = "test-admin-token-0123456789";

/// A cluster whose gateway serves the admin API; returns it and the API's URL.
fn cluster_with_admin() -> (TestCluster, String) {
    let mut cluster = TestCluster::start();
    let port = free_port();
    cluster.reconfigure_gateway(&format!(
        "admin: {{ listen: \"127.0.0.1:{port}\", token: {{ value: {TOKEN} }} }}\n"
    ));
    wait_for_port(port);
    (cluster, format!("http://127.0.0.1:{port}"))
}

/// Runs `gateway admin <args> --endpoint <url>`: (success, stdout + stderr).
fn remote(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin("gateway"))
        .arg("admin")
        .args(args)
        .args(["--endpoint", url])
        .env("S3STORE_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs every command of `commands` at once, each in its own process; their results in order.
fn all_at_once(url: &str, commands: Vec<Vec<String>>) -> Vec<(bool, String)> {
    std::thread::scope(|s| {
        let running: Vec<_> = commands
            .iter()
            .map(|c| {
                s.spawn(move || {
                    let args: Vec<&str> = c.iter().map(String::as_str).collect();
                    remote(url, &args)
                })
            })
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admin_changes_of_one_key_all_land() {
    let (cluster, url) = cluster_with_admin();
    let s3 = cluster.client();
    let buckets: Vec<String> = (0..16).map(|i| format!("race-{i:02}")).collect();
    for b in &buckets {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let (ok, out) = remote(&url, &["key-create", "--id", "RACER"]);
    assert!(ok, "{out}");

    // Sixteen grants of one key, each to its own bucket, at once: every one is kept.
    for round in 0..3 {
        let role = ["read", "write", "owner"][round];
        let results = all_at_once(
            &url,
            buckets
                .iter()
                .map(|b| words(&format!("grant RACER {b} {role}")))
                .collect(),
        );
        for (ok, out) in &results {
            assert!(ok, "{out}");
        }
        let (_, listed) = remote(&url, &["key-list"]);
        let line = listed.lines().find(|l| l.starts_with("RACER")).unwrap();
        for b in &buckets {
            assert!(
                line.contains(&format!("{b}={role}")),
                "round {round}: the grant in {b} was lost: {line}"
            );
        }
    }
    // Sixteen revocations at once: none is left.
    let results = all_at_once(
        &url,
        buckets
            .iter()
            .map(|b| words(&format!("revoke RACER {b}")))
            .collect(),
    );
    assert!(results.iter().all(|(ok, _)| *ok));
    let (_, listed) = remote(&url, &["key-list"]);
    assert!(listed.lines().any(|l| l.trim_end() == "RACER"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_id_created_at_once_makes_one_key() {
    let (cluster, url) = cluster_with_admin();
    let s3 = cluster.client();
    s3.create_bucket().bucket("shared").send().await.unwrap();
    let results = all_at_once(
        &url,
        (0..8).map(|_| words("key-create --id TWIN")).collect(),
    );
    let made: Vec<&String> = results
        .iter()
        .filter(|(ok, _)| *ok)
        .map(|(_, o)| o)
        .collect();
    assert_eq!(made.len(), 1, "{results:?}");
    for (ok, out) in &results {
        if !ok {
            assert!(
                out.contains("409 (Conflict)") && out.contains("exists"),
                "{out}"
            );
        }
    }
    let secret = made[0]
        .lines()
        .find_map(|l| l.strip_prefix("secret key:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(remote(&url, &["grant", "TWIN", "shared", "read"]).0);
    let twin = client_for(&cluster.endpoint(), "TWIN", &secret);
    eventually(
        "the created key's secret works",
        Duration::from_secs(15),
        async || twin.list_objects_v2().bucket("shared").send().await.is_ok(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_racing_the_keys_deletion_leave_it_deleted() {
    let (cluster, url) = cluster_with_admin();
    let s3 = cluster.client();
    let buckets: Vec<String> = (0..8).map(|i| format!("gone-{i}")).collect();
    for b in &buckets {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    for round in 0..4 {
        let id = format!("DOOMED{round}");
        let (ok, made) = remote(&url, &["key-create", "--id", &id]);
        assert!(ok, "{made}");
        let secret = made
            .lines()
            .find_map(|l| l.strip_prefix("secret key:"))
            .unwrap()
            .trim()
            .to_string();
        let mut commands: Vec<Vec<String>> = buckets
            .iter()
            .map(|b| words(&format!("grant {id} {b} read")))
            .collect();
        commands.insert(round * 2, words(&format!("key-delete {id}")));
        let results = all_at_once(&url, commands);
        for (ok, out) in &results {
            // A grant after the deletion finds no key: 404, nothing written.
            assert!(*ok || out.contains("404 (NotFound)"), "{out}");
        }
        let (_, listed) = remote(&url, &["key-list"]);
        assert!(
            !listed.lines().any(|l| l.starts_with(&id)),
            "round {round}: a grant brought the deleted key back: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let gone = client_for(&cluster.endpoint(), &id, &secret);
        let err = gone
            .list_objects_v2()
            .bucket(&buckets[0])
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidAccessKeyId");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_set_through_the_api_race_bucket_configuration() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let (cluster, url) = cluster_with_admin();
    let s3 = cluster.client();
    s3.create_bucket().bucket("cfg").send().await.unwrap();
    for round in 0..6u64 {
        let quota = format!("{}", 1000 + round);
        let api = {
            let url = url.clone();
            let quota = quota.clone();
            std::thread::spawn(move || {
                remote(&url, &["bucket-quota", "cfg", "--max-objects", &quota])
            })
        };
        let tag = Tag::builder()
            .key("round")
            .value(round.to_string())
            .build()
            .unwrap();
        s3.put_bucket_tagging()
            .bucket("cfg")
            .tagging(Tagging::builder().tag_set(tag).build().unwrap())
            .send()
            .await
            .unwrap();
        let (ok, out) = api.join().unwrap();
        assert!(ok, "{out}");
        let (_, listed) = remote(&url, &["buckets"]);
        assert!(
            listed.contains(&format!("objects<={quota}")),
            "round {round}: the quota was lost: {listed}"
        );
        let tags = s3.get_bucket_tagging().bucket("cfg").send().await.unwrap();
        assert_eq!(
            tags.tag_set()[0].value(),
            round.to_string(),
            "the tags were lost"
        );
    }
}
