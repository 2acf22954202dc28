//! The Rust `aws-sdk-s3` addressing buckets virtual-hosted style (`<bucket>.s3.test`, every
//! name resolved to 127.0.0.1 by the client's own resolver) next to path style on the same
//! gateway, with streaming bodies from files (aws-chunked with a trailing checksum) and
//! in-memory bodies.

mod common;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use common::{pattern, TestCluster, ACCESS_KEY, SECRET_KEY};

/// Resolves every name to 127.0.0.1, as /etc/hosts entries would.
#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![std::net::Ipv4Addr::LOCALHOST.into()]))
    }
}

fn client(endpoint: &str, path_style: bool) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_with_resolver(Loopback);
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .force_path_style(path_style)
        .http_client(http)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_hosted_and_path_style_side_by_side() {
    let mut cluster = TestCluster::start();
    cluster.reconfigure_gateway("virtual_host_domain: s3.test\n");
    let port = cluster.s3_port;
    let vhost = client(&format!("http://s3.test:{port}"), false);
    let path_by_name = client(&format!("http://s3.test:{port}"), true);
    let path_by_ip = cluster.client();

    vhost
        .create_bucket()
        .bucket("vhost-rust")
        .send()
        .await
        .unwrap();
    let data = pattern(3 << 20, 5);
    let file = cluster.path().join("upload.bin");
    std::fs::write(&file, &data).unwrap();
    vhost
        .put_object()
        .bucket("vhost-rust")
        .key("from-file")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    vhost
        .put_object()
        .bucket("vhost-rust")
        .key("dir/in-memory")
        .body(ByteStream::from(b"small body".to_vec()))
        .send()
        .await
        .unwrap();

    // Every style sees the same objects.
    for (style, s3) in [
        ("virtual-hosted", &vhost),
        ("path style by name", &path_by_name),
        ("path style by IP", &path_by_ip),
    ] {
        let got = s3
            .get_object()
            .bucket("vhost-rust")
            .key("from-file")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{style}: {e:?}"));
        assert!(
            got.body.collect().await.unwrap().into_bytes() == data,
            "{style}"
        );
        let listed = s3
            .list_objects_v2()
            .bucket("vhost-rust")
            .send()
            .await
            .unwrap();
        let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["dir/in-memory", "from-file"], "{style}");
    }
    let buckets = vhost.list_buckets().send().await.unwrap();
    assert!(buckets
        .buckets()
        .iter()
        .any(|b| b.name() == Some("vhost-rust")));

    for key in ["from-file", "dir/in-memory"] {
        vhost
            .delete_object()
            .bucket("vhost-rust")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    vhost
        .delete_bucket()
        .bucket("vhost-rust")
        .send()
        .await
        .unwrap();
    let gone = path_by_ip.head_bucket().bucket("vhost-rust").send().await;
    assert!(gone.is_err());
}

/// The unsigned operational routes live under `/_s3store/`, which no bucket name can start
/// with: buckets named `metrics`, `health` and `ready` and their objects are S3 resources in
/// both addressing styles, and in virtual-hosted style even a key `_s3store/metrics` is an
/// object of its bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_routes_shadow_no_bucket_or_object() {
    let mut cluster = TestCluster::start();
    cluster.reconfigure_gateway("virtual_host_domain: s3.test\n");
    let port = cluster.s3_port;
    let vhost = client(&format!("http://s3.test:{port}"), false);
    let path = cluster.client();
    for name in ["metrics", "health", "ready"] {
        path.create_bucket().bucket(name).send().await.unwrap();
        path.put_object()
            .bucket(name)
            .key(name)
            .body(ByteStream::from_static(b"an object"))
            .send()
            .await
            .unwrap();
        let listed = path.list_objects_v2().bucket(name).send().await.unwrap();
        assert_eq!(listed.contents().len(), 1, "{name} lists as a bucket");
        for s3 in [&path, &vhost] {
            let got = s3.get_object().bucket(name).key(name).send().await.unwrap();
            let body = got.body.collect().await.unwrap().into_bytes();
            assert_eq!(&body[..], b"an object", "{name}/{name}");
        }
    }
    vhost
        .put_object()
        .bucket("metrics")
        .key("_s3store/metrics")
        .body(ByteStream::from_static(b"a key like a route"))
        .send()
        .await
        .unwrap();
    let got = vhost
        .get_object()
        .bucket("metrics")
        .key("_s3store/metrics")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"a key like a route");
    // The routes themselves answer unsigned, path-style.
    let raw = |path: &'static str| async move {
        use http_body_util::BodyExt;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let uri: http::Uri = format!("http://127.0.0.1:{port}{path}").parse().unwrap();
        let response = client.get(uri).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(
        raw("/_s3store/health").await,
        (http::StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        raw("/_s3store/ready").await,
        (http::StatusCode::OK, "ok\n".into())
    );
    let (status, metrics) = raw("/_s3store/metrics").await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(metrics.contains("s3store_gateway_"), "{metrics}");
    let (status, _) = raw("/_s3store/other").await;
    assert_ne!(status, http::StatusCode::OK, "only the three routes");
}
