//! The S3 endpoint's certificate is renewed without a restart: new files written over the old
//! ones are served to new connections within seconds; files that do not form an identity (a
//! half-written renewal) are refused and the current certificate kept.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{test_certificates, Shape, TestCluster};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Whether a TLS handshake with the endpoint succeeds for a client trusting only `ca_pem`.
fn trusted_by(ca_pem: &str, port: u16) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    while connection.is_handshaking() {
        if connection.complete_io(&mut socket).is_err() {
            return false;
        }
    }
    true
}

fn served_within(ca_pem: &str, port: u16, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if trusted_by(ca_pem, port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let cluster = TestCluster::start_with(Shape {
        tls: true,
        ..Default::default()
    });
    let port = cluster.s3_port;
    let old_ca = cluster.ca_pem.clone().unwrap();
    assert!(trusted_by(&old_ca, port));
    let s3 = cluster.client();
    s3.create_bucket().bucket("renewed").send().await.unwrap();

    // A half-written renewal (a certificate without its key) is refused: the old one stays.
    let (new_ca, new_leaf, new_key) = test_certificates();
    std::fs::write(cluster.path().join("cert.pem"), &new_leaf).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        trusted_by(&old_ca, port),
        "a mismatched pair replaced the certificate"
    );
    assert!(!trusted_by(&new_ca, port));

    // The whole renewal is served to new connections within seconds.
    std::fs::write(cluster.path().join("key.pem"), &new_key).unwrap();
    assert!(
        served_within(&new_ca, port, Duration::from_secs(15)),
        "the renewed certificate is not served"
    );
    assert!(!trusted_by(&old_ca, port));
    // And S3 requests over it work.
    let renewed = common::client_trusting(
        &cluster.endpoint(),
        common::ACCESS_KEY,
        common::SECRET_KEY,
        Some(&new_ca),
    );
    renewed
        .head_bucket()
        .bucket("renewed")
        .send()
        .await
        .unwrap();
}
