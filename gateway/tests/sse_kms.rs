//! SSE-KMS end to end with the Rust SDK, for both key providers:
//!
//! * a KMS key whose materials are in the configuration: objects (inline, chunked, multipart,
//!   and by the bucket's default encryption) written under it, read after a gateway restart,
//!   rewrapped by `gateway rotate` under a new material, and read once the old material is gone;
//! * a KMS key kept on a PKCS#11 token (SoftHSM2, a token made for the test): the key made by
//!   `gateway kms-keygen` is sensitive and not extractable, objects round-trip through the token,
//!   survive a restart and a rotation to a second key on the token, and neither the PIN nor the
//!   data reaches the logs or the nodes' disks in plaintext.

mod common;

use std::path::Path;
use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use common::{pattern, Shape, TestCluster, MASTER_KEY_1};

const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "73915-pin-of-the-test-token";
const MATERIAL_1: &str = "EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8=";
const MATERIAL_2: &str = "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8=";

/// The objects each test writes: name and size (inline, one chunk, several chunks).
const OBJECTS: [(&str, usize); 3] = [("small", 900), ("one-chunk", 200_000), ("chunks", 700_000)];

fn kms_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:000000000000:key/{id}")
}

/// Writes the test objects under KMS key `key`, a multipart object, and one object by the
/// bucket's default encryption (set to `key` with a bucket key); checks what PUT answers.
async fn write_objects(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    for (name, size) in OBJECTS {
        let put = s3
            .put_object()
            .bucket(bucket)
            .key(name)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(key)
            .metadata("note", name)
            .body(ByteStream::from(pattern(size, size as u64)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(put.ssekms_key_id(), Some(kms_arn(key).as_str()));
    }
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key("multipart")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(format!("alias/{key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.ssekms_key_id(), Some(kms_arn(key).as_str()));
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let size = if n == 1 { 5 << 20 } else { 1234 };
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key("multipart")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(pattern(size, n as u64)))
            .send()
            .await
            .unwrap();
        assert_eq!(out.ssekms_key_id(), Some(kms_arn(key).as_str()));
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key("multipart")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id(kms_arn(key))
                .build()
                .unwrap(),
        )
        .bucket_key_enabled(true)
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let put = s3
        .put_object()
        .bucket(bucket)
        .key("by-default")
        .body(ByteStream::from_static(b"default encryption"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.ssekms_key_id(), Some(kms_arn(key).as_str()));
    assert_eq!(put.bucket_key_enabled(), Some(true));
}

/// Reads back everything [`write_objects`] wrote, checking bytes, metadata and headers.
async fn check_objects(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    for (name, size) in OBJECTS {
        let got = s3
            .get_object()
            .bucket(bucket)
            .key(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {name}: {e:?}"));
        assert_eq!(
            got.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(got.ssekms_key_id(), Some(kms_arn(key).as_str()));
        assert_eq!(
            got.metadata()
                .and_then(|m| m.get("note"))
                .map(String::as_str),
            Some(name)
        );
        let body = got.body.collect().await.unwrap().into_bytes();
        assert!(body == pattern(size, size as u64), "{name} differs");
    }
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("multipart")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some((5 << 20) + 1234));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert!(body[..5 << 20] == pattern(5 << 20, 1)[..]);
    assert!(body[5 << 20..] == pattern(1234, 2)[..]);
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("by-default")
        .send()
        .await
        .unwrap();
    assert_eq!(got.bucket_key_enabled(), Some(true));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"default encryption");
}

fn master_section() -> String {
    "encryption:\n  active_key: k1\n  master_keys:\n    - { id: k1, key: { file: master-key-1 } }\n"
        .to_string()
}

/// `gateway rotate`, which must report itself complete.
fn rotate(cluster: &TestCluster) -> String {
    let (ok, out) = cluster.gateway_command(&["rotate"]);
    assert!(ok, "rotate: {out}");
    assert!(out.contains("rotate: complete"), "{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_kms_key_survives_restart_and_rotation() {
    let mut cluster = TestCluster::start_with(Shape {
        chunk_size: 256 << 10,
        ..Default::default()
    });
    std::fs::write(cluster.path().join("master-key-1"), MASTER_KEY_1).unwrap();
    std::fs::write(cluster.path().join("app-1.key"), MATERIAL_1).unwrap();
    std::fs::write(cluster.path().join("app-2.key"), MATERIAL_2).unwrap();
    let with_materials = |active: &str, materials: &[&str]| {
        let mut section = master_section();
        section.push_str(&format!(
            "  kms:\n    keys:\n      - id: app\n        active: {active}\n        materials:\n"
        ));
        for m in materials {
            section.push_str(&format!(
                "          - {{ id: {m}, key: {{ file: {m}.key }} }}\n"
            ));
        }
        section
    };
    cluster.set_encryption(&with_materials("app-1", &["app-1"]));
    cluster.restart_gateway();
    let s3 = cluster.client();
    write_objects(&s3, "kms", "app").await;
    check_objects(&s3, "kms", "app").await;
    cluster.restart_gateway();
    check_objects(&cluster.client(), "kms", "app").await;

    // A new material becomes active; rotate rewraps every data key under it.
    cluster.set_encryption(&with_materials("app-2", &["app-1", "app-2"]));
    cluster.restart_gateway();
    let keys = cluster.admin(&["kms-keys"]);
    assert!(
        keys.contains("app\tkeyring\tapp-2\tapp-2,app-1\tkms"),
        "{keys}"
    );
    let out = rotate(&cluster);
    assert!(!out.contains("rotate: 0 envelopes"), "{out}");
    // The old material is gone: everything still opens.
    cluster.set_encryption(&with_materials("app-2", &["app-2"]));
    cluster.restart_gateway();
    check_objects(&cluster.client(), "kms", "app").await;
    // A second rotation finds nothing left to do.
    assert!(rotate(&cluster).contains("rotate: 0 envelopes rewrapped"));
}

/// A fresh SoftHSM2 token in `dir` (its configuration file returned), labelled `s3store`.
fn softhsm_token(dir: &Path) -> std::path::PathBuf {
    assert!(
        Path::new(SOFTHSM_MODULE).exists(),
        "SoftHSM2 is missing: scripts/setup.sh installs Debian's softhsm2"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "s3store",
            "--so-pin",
            "5555",
            "--pin",
            PIN,
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

/// Whether the token's key `label` is sensitive, not extractable, and its value unreadable.
fn key_stays_on_the_token(label: &str) -> bool {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    let p = Pkcs11::new(SOFTHSM_MODULE).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = p
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p.get_token_info(*s).unwrap().label() == "s3store")
        .unwrap();
    let session = p.open_ro_session(slot).unwrap();
    session
        .login(
            UserType::User,
            Some(&cryptoki::types::AuthPin::new(PIN.into())),
        )
        .unwrap();
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .unwrap();
    let [key] = found[..] else {
        panic!("{} keys labelled {label}", found.len());
    };
    let flags = session
        .get_attributes(key, &[AttributeType::Sensitive, AttributeType::Extractable])
        .unwrap();
    let value = session
        .get_attributes(key, &[AttributeType::Value])
        .unwrap();
    flags.contains(&Attribute::Sensitive(true))
        && flags.contains(&Attribute::Extractable(false))
        && value.is_empty()
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs11_token_keeps_the_kms_key() {
    let mut cluster = TestCluster::start_with(Shape {
        chunk_size: 256 << 10,
        ..Default::default()
    });
    let conf = softhsm_token(cluster.path());
    // The gateway and the tools it runs find the token through SOFTHSM2_CONF; this test's
    // process is alone in setting it (one test per process touches the token).
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::fs::write(cluster.path().join("hsm-pin"), PIN).unwrap();
    let with_labels = |active: &str, labels: &[&str]| {
        format!(
            "{}  kms:\n    default_key: vault\n    pkcs11: {{ module: {SOFTHSM_MODULE}, token_label: s3store, pin: {{ file: hsm-pin }} }}\n    keys:\n      - {{ id: vault, provider: pkcs11, active: {active}, labels: [{}] }}\n",
            master_section(),
            labels.join(", ")
        )
    };
    cluster.set_encryption(&with_labels("vault-1", &["vault-1"]));
    // Before its key is made, the gateway refuses to start and says how to make it.
    let (ok, out) = cluster.gateway_command(&["admin", "kms-keys"]);
    assert!(!ok && out.contains("kms-keygen"), "{out}");
    let (ok, out) = cluster.gateway_command(&["kms-keygen", "--key", "vault"]);
    assert!(ok && out.contains("made `vault-1`"), "{out}");
    let (ok, out) = cluster.gateway_command(&["kms-keygen", "--key", "vault"]);
    assert!(ok && out.contains("has `vault-1` already"), "{out}");
    assert!(key_stays_on_the_token("vault-1"));
    cluster.restart_gateway();

    let s3 = cluster.client();
    write_objects(&s3, "hsm", "vault").await;
    check_objects(&s3, "hsm", "vault").await;
    // `aws:kms` without a key id takes the configured default, the token's key.
    let put = s3
        .put_object()
        .bucket("hsm")
        .key("unnamed")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from_static(b"secret words in the clear"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.ssekms_key_id(), Some(kms_arn("vault").as_str()));
    cluster.restart_gateway();
    check_objects(&cluster.client(), "hsm", "vault").await;

    // Rotation to a second key on the token; then the first is no longer configured.
    cluster.set_encryption(&with_labels("vault-2", &["vault-1", "vault-2"]));
    let (ok, out) = cluster.gateway_command(&["kms-keygen", "--key", "vault"]);
    assert!(ok && out.contains("made `vault-2`"), "{out}");
    cluster.restart_gateway();
    let keys = cluster.admin(&["kms-keys"]);
    assert!(
        keys.contains("vault (default)\tpkcs11\tvault-2\tvault-2,vault-1\thsm"),
        "{keys}"
    );
    rotate(&cluster);
    cluster.set_encryption(&with_labels("vault-2", &["vault-2"]));
    cluster.restart_gateway();
    check_objects(&cluster.client(), "hsm", "vault").await;

    // No plaintext anywhere it should not be: the PIN only in its own file, the object's
    // words nowhere on the nodes' disks or in any log.
    for (path, bytes) in files_under(cluster.path()) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = String::from_utf8_lossy(&bytes);
        if name != "hsm-pin" {
            assert!(!text.contains(PIN), "the PIN is in {}", path.display());
        }
        assert!(
            !text.contains("secret words in the clear"),
            "plaintext in {}",
            path.display()
        );
    }
}
