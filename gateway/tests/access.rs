//! Access control end to end, with the admin CLI: a second access key made with `gateway
//! admin key-create` is denied every operation on the first key's bucket; after a read grant it
//! can GET but not PUT; revoking and deleting take effect without restarts; a stored key owns
//! the buckets it creates; `admin buckets` counts objects and bytes; unsigned requests read a
//! bucket only once it is made public; `status` shows the data per node.

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::{anonymous, client_for, code, eventually, TestCluster};

/// A grant reaches every gateway within about a second.
const PROPAGATION: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_decide_what_a_stored_key_may_do() {
    let cluster = TestCluster::start();
    let boss = cluster.client();
    boss.create_bucket().bucket("private").send().await.unwrap();
    boss.put_object()
        .bucket("private")
        .key("doc")
        .body(ByteStream::from_static(b"secret document"))
        .send()
        .await
        .unwrap();

    let made = cluster.admin(&["key-create"]);
    let field = |name: &str| {
        made.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no `{name}` in {made}"))
            .trim()
            .to_string()
    };
    let (id, secret) = (field("access key:"), field("secret key:"));
    let other = client_for(&cluster.endpoint(), &id, &secret);

    // No grant: every operation on the bucket is AccessDenied.
    let denied = |code: String| code == "AccessDenied";
    let first = other
        .get_object()
        .bucket("private")
        .key("doc")
        .send()
        .await
        .unwrap_err();
    assert!(denied(code(&first)), "{}", code(&first));
    assert!(other
        .head_object()
        .bucket("private")
        .key("doc")
        .send()
        .await
        .is_err());
    assert!(denied(code(
        &other
            .list_objects_v2()
            .bucket("private")
            .send()
            .await
            .unwrap_err()
    )));
    assert!(denied(code(
        &other
            .put_object()
            .bucket("private")
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err()
    )));
    assert!(denied(code(
        &other
            .delete_object()
            .bucket("private")
            .key("doc")
            .send()
            .await
            .unwrap_err()
    )));
    assert!(denied(code(
        &other
            .create_multipart_upload()
            .bucket("private")
            .key("m")
            .send()
            .await
            .unwrap_err()
    )));
    assert!(denied(code(
        &other
            .delete_bucket()
            .bucket("private")
            .send()
            .await
            .unwrap_err()
    )));
    let listed = other.list_buckets().send().await.unwrap();
    assert!(
        listed.buckets().is_empty(),
        "sees no bucket it has no role in"
    );

    // Its own bucket: it is the owner; copying from the private bucket is still refused.
    other.create_bucket().bucket("mine").send().await.unwrap();
    other
        .put_object()
        .bucket("mine")
        .key("own")
        .body(ByteStream::from_static(b"own"))
        .send()
        .await
        .unwrap();
    let copy = other
        .copy_object()
        .bucket("mine")
        .key("stolen")
        .copy_source("private/doc")
        .send()
        .await;
    assert!(denied(code(&copy.unwrap_err())));

    // A read grant: GET works (on a gateway started before the grant), PUT does not.
    cluster.admin(&["grant", &id, "private", "read"]);
    eventually("read grant", PROPAGATION, || async {
        other
            .get_object()
            .bucket("private")
            .key("doc")
            .send()
            .await
            .is_ok()
    })
    .await;
    let body = other
        .get_object()
        .bucket("private")
        .key("doc")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"secret document");
    assert!(denied(code(
        &other
            .put_object()
            .bucket("private")
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err()
    )));
    other
        .copy_object()
        .bucket("mine")
        .key("copied")
        .copy_source("private/doc")
        .send()
        .await
        .unwrap();
    let listed = cluster.admin(&["key-list"]);
    assert!(
        listed.contains(&format!("{id}\tmine=owner,private=read")),
        "{listed}"
    );

    // Revoked: denied again, without a restart.
    cluster.admin(&["revoke", &id, "private"]);
    eventually("revocation", PROPAGATION, || async {
        other
            .get_object()
            .bucket("private")
            .key("doc")
            .send()
            .await
            .is_err()
    })
    .await;

    // The admin view of the buckets.
    let buckets = cluster.admin(&["buckets"]);
    assert!(buckets.contains("private\t"), "{buckets}");
    assert!(
        buckets
            .lines()
            .any(|l| l.starts_with("mine\t") && l.ends_with("\t2\t18\t-\t-")),
        "mine: 2 objects, 3 + 15 bytes: {buckets}"
    );

    // Deleted: the key stops working.
    cluster.admin(&["key-delete", &id]);
    eventually("deletion", PROPAGATION, || async {
        match other.list_buckets().send().await {
            Err(e) => code(&e) == "InvalidAccessKeyId",
            Ok(_) => false,
        }
    })
    .await;

    // Anonymous: refused, until the bucket is made public, and then only for reads.
    let url = format!("{}/private/doc", cluster.endpoint());
    assert_eq!(anonymous(http::Method::GET, &url).await.0, 403);
    // Gateways see bucket changes made elsewhere within a second (bucket_cache).
    cluster.admin(&["bucket-public", "private", "on"]);
    eventually("the bucket made public", PROPAGATION, || async {
        anonymous(http::Method::GET, &url).await.0 == 200
    })
    .await;
    assert_eq!(anonymous(http::Method::PUT, &url).await.0, 403);
    cluster.admin(&["bucket-public", "private", "off"]);
    eventually("the bucket made private", PROPAGATION, || async {
        anonymous(http::Method::GET, &url).await.0 == 403
    })
    .await;
    let status = cluster.gateway_command(&["status"]).1;
    assert!(
        status.contains("bytes") && status.contains("versions"),
        "{status}"
    );

    let repair = cluster.admin(&["repair"]);
    assert!(repair.contains("complete"), "{repair}");
}
