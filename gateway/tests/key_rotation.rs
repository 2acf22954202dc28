//! Master-key rotation end to end: objects (single PUT, inline and chunked, multipart) and an
//! upload in progress are written under key 1; a gateway without key 1 cannot read them; key 2
//! becomes active and `gateway rotate` rewraps every stored data key (refusing to call itself
//! complete while a node is down, finishing when run again); afterwards key 1 is removed from
//! the configuration and everything still reads back, the pending upload completes.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{pattern, TestCluster, MASTER_KEY_1};
use node_api::model::{EnvelopeKind, StaleEnvelopes};

const MASTER_KEY_2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

async fn upload_part(
    s3: &aws_sdk_s3::Client,
    key: &str,
    id: &str,
    number: i32,
    body: Vec<u8>,
) -> CompletedPart {
    let out = s3
        .upload_part()
        .bucket("rot")
        .key(key)
        .upload_id(id)
        .part_number(number)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(number)
        .e_tag(out.e_tag().unwrap())
        .build()
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> Result<(Vec<u8>, Option<String>), String> {
    let out = s3
        .get_object()
        .bucket("rot")
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let note = out.metadata().and_then(|m| m.get("note").cloned());
    let body = out.body.collect().await.unwrap().into_bytes().to_vec();
    Ok((body, note))
}

/// Records on node `i` still wrapped under another key than `active`.
async fn stale_on(cluster: &TestCluster, i: usize, active: &str) -> usize {
    let node = cluster.node_client(i);
    let mut count = 0;
    for kind in [EnvelopeKind::Manifest, EnvelopeKind::Upload] {
        let mut after = Vec::new();
        loop {
            let page = node
                .stale_envelopes(&StaleEnvelopes {
                    kind,
                    active_key: active.into(),
                    current: Vec::new(),
                    after: after.clone(),
                    limit: 1000,
                })
                .await
                .unwrap();
            count += page.items.len();
            match page.next {
                Some(next) => after = next.into_vec(),
                None => break,
            }
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_to_a_new_master_key_and_drop_the_old_one() {
    let mut cluster = TestCluster::start_with(common::Shape {
        chunk_size: 256 << 10,
        ..Default::default()
    });
    let s3 = cluster.client();
    s3.create_bucket().bucket("rot").send().await.unwrap();
    let objects = [("inline", 10), ("chunked", 700_000), ("empty", 0)];
    for (key, len) in objects {
        s3.put_object()
            .bucket("rot")
            .key(key)
            .metadata("note", key)
            .body(ByteStream::from(pattern(len, 7)))
            .send()
            .await
            .unwrap();
    }
    let part_size = 5 << 20;
    let mp = s3
        .create_multipart_upload()
        .bucket("rot")
        .key("multipart")
        .metadata("note", "multipart")
        .send()
        .await
        .unwrap();
    let mp_id = mp.upload_id().unwrap();
    let parts = vec![
        upload_part(&s3, "multipart", mp_id, 1, pattern(part_size, 7)).await,
        upload_part(&s3, "multipart", mp_id, 2, pattern(1000, 7)).await,
    ];
    s3.complete_multipart_upload()
        .bucket("rot")
        .key("multipart")
        .upload_id(mp_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let pending = s3
        .create_multipart_upload()
        .bucket("rot")
        .key("pending")
        .send()
        .await
        .unwrap();
    let pending_id = pending.upload_id().unwrap().to_string();
    let first = upload_part(&s3, "pending", &pending_id, 1, pattern(part_size, 7)).await;
    // A stored access key, its secret wrapped under key 1.
    let (ok, made) = cluster.gateway_command(&["admin", "key-create"]);
    assert!(ok, "{made}");
    let field = |name: &str| {
        made.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    let (key_id, key_secret) = (field("access key:"), field("secret key:"));
    let (ok, out) = cluster.gateway_command(&["admin", "grant", &key_id, "rot", "read"]);
    assert!(ok, "{out}");

    // Without key 1 the old objects do not open: rotation is what keeps them readable.
    cluster.set_master_keys("k2", &[("k2", MASTER_KEY_2)]);
    cluster.restart_gateway();
    assert!(get(&s3, "chunked").await.is_err());

    // Key 2 active, key 1 still known: new writes use key 2, old objects read.
    cluster.set_master_keys("k2", &[("k1", MASTER_KEY_1), ("k2", MASTER_KEY_2)]);
    cluster.restart_gateway();
    s3.put_object()
        .bucket("rot")
        .key("new")
        .metadata("note", "new")
        .body(ByteStream::from(pattern(300, 7)))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&s3, "chunked").await.unwrap().0, pattern(700_000, 7));
    // 4 objects and 1 upload record (ended uploads included: the multipart one), 3 copies each.
    let stale: usize = [
        stale_on(&cluster, 0, "k2").await,
        stale_on(&cluster, 1, "k2").await,
        stale_on(&cluster, 2, "k2").await,
    ]
    .iter()
    .sum();
    assert!(stale >= 15, "{stale} stale envelopes before rotating");

    // A run with a node down rewraps what it reaches and says it is incomplete.
    cluster.kill_node(2);
    let (ok, out) = cluster.gateway_command(&["rotate"]);
    assert!(!ok, "{out}");
    assert!(out.contains("incomplete"), "{out}");
    cluster.restart_node(2);
    let (ok, out) = cluster.gateway_command(&["rotate"]);
    assert!(ok, "{out}");
    assert!(out.contains("complete"), "{out}");
    for i in 0..3 {
        assert_eq!(stale_on(&cluster, i, "k2").await, 0, "node {i}");
    }
    // Safe to run twice: nothing left to do.
    let (ok, out) = cluster.gateway_command(&["rotate"]);
    assert!(ok, "{out}");
    assert!(out.contains("rotate: 0 envelopes rewrapped"), "{out}");

    // Key 1 gone: everything reads, the pending upload completes, the stored key still signs.
    cluster.set_master_keys("k2", &[("k2", MASTER_KEY_2)]);
    cluster.restart_gateway();
    let stored = common::client_for(&cluster.endpoint(), &key_id, &key_secret);
    stored
        .get_object()
        .bucket("rot")
        .key("inline")
        .send()
        .await
        .expect("a stored key survives the rotation");
    for (key, len) in objects.into_iter().chain([("new", 300)]) {
        let (body, note) = get(&s3, key).await.unwrap();
        assert_eq!(body, pattern(len, 7), "{key}");
        assert_eq!(note.as_deref(), Some(key));
    }
    let (body, note) = get(&s3, "multipart").await.unwrap();
    assert_eq!(body.len(), part_size + 1000);
    assert_eq!(&body[..part_size], &pattern(part_size, 7)[..]);
    assert_eq!(&body[part_size..], &pattern(1000, 7)[..]);
    assert_eq!(note.as_deref(), Some("multipart"));
    let second = upload_part(&s3, "pending", &pending_id, 2, pattern(10, 7)).await;
    s3.complete_multipart_upload()
        .bucket("rot")
        .key("pending")
        .upload_id(&pending_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(vec![first, second]))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (body, _) = get(&s3, "pending").await.unwrap();
    assert_eq!(body.len(), part_size + 10);
    assert_eq!(&body[part_size..], &pattern(10, 7)[..]);
}
