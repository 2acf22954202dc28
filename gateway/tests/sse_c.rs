//! SSE-C (customer-provided keys) with the Rust SDK over HTTPS, on a cluster whose internal
//! links are TLS too: round trips (single PUT, ranges, multipart), the errors AWS gives for a
//! missing, wrong or badly hashed key, CopyObject and UploadPartCopy between SSE-S3 and SSE-C
//! objects in both directions, and the refusal of SSE-C over plain HTTP unless configured.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use base64::Engine as _;
use common::{pattern, status, Shape, TestCluster};
use md5::{Digest, Md5};

/// A customer key: (base64 key, base64 MD5).
fn customer_key(byte: u8) -> (String, String) {
    let raw = [byte; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    (b64.encode(raw), b64.encode(Md5::digest(raw)))
}

/// GetObject of `key` in the test bucket with a customer key and its MD5.
async fn get_with(
    s3: &aws_sdk_s3::Client,
    key: &str,
    customer_key: &str,
    md5: &str,
) -> Result<
    aws_sdk_s3::operation::get_object::GetObjectOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::get_object::GetObjectError>,
> {
    s3.get_object()
        .bucket("ssec")
        .key(key)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(customer_key)
        .sse_customer_key_md5(md5)
        .send()
        .await
}

/// The S3 error code of a failed SDK call.
fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("?").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_round_trips_errors_and_copies_over_tls() {
    let cluster = TestCluster::start_with(Shape {
        tls: true,
        chunk_size: 256 << 10,
        ..Default::default()
    });
    assert!(cluster.endpoint().starts_with("https://"));
    let s3 = cluster.client();
    s3.create_bucket().bucket("ssec").send().await.unwrap();
    let (k1, k1_md5) = customer_key(1);
    let (k2, k2_md5) = customer_key(2);
    let body = pattern(600_000, 7);

    let put = s3
        .put_object()
        .bucket("ssec")
        .key("obj")
        .metadata("note", "secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k1)
        .sse_customer_key_md5(&k1_md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(put.sse_customer_key_md5(), Some(k1_md5.as_str()));
    assert_eq!(put.server_side_encryption(), None);

    // The right key reads it back, whole and ranged (across a chunk boundary).
    let got = get_with(&s3, "obj", &k1, &k1_md5).await.unwrap();
    assert_eq!(got.sse_customer_key_md5(), Some(k1_md5.as_str()));
    assert_eq!(
        got.metadata().unwrap().get("note").map(String::as_str),
        Some("secret")
    );
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), body);
    let ranged = s3
        .get_object()
        .bucket("ssec")
        .key("obj")
        .range("bytes=262000-263000")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k1)
        .sse_customer_key_md5(&k1_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ranged.body.collect().await.unwrap().into_bytes(),
        body[262_000..=263_000]
    );

    // Missing key, wrong key, wrong key-MD5: refused as AWS refuses them.
    let missing = s3
        .get_object()
        .bucket("ssec")
        .key("obj")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&missing), 400);
    assert_eq!(code(&missing), "InvalidRequest");
    let wrong = get_with(&s3, "obj", &k2, &k2_md5).await.unwrap_err();
    assert_eq!(status(&wrong), 403);
    assert_eq!(code(&wrong), "AccessDenied");
    let head_wrong = s3
        .head_object()
        .bucket("ssec")
        .key("obj")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k2)
        .sse_customer_key_md5(&k2_md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&head_wrong), 403);
    let head_missing = s3
        .head_object()
        .bucket("ssec")
        .key("obj")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&head_missing), 400);
    let bad_md5 = get_with(&s3, "obj", &k1, &k2_md5).await.unwrap_err();
    assert_eq!(status(&bad_md5), 400);
    assert_eq!(code(&bad_md5), "InvalidArgument");
    let bad_algorithm = s3
        .put_object()
        .bucket("ssec")
        .key("x")
        .sse_customer_algorithm("AES128")
        .sse_customer_key(&k1)
        .sse_customer_key_md5(&k1_md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_algorithm), "InvalidEncryptionAlgorithmError");

    // SSE-C -> SSE-S3: the copy reads without a key.
    let copied = s3
        .copy_object()
        .bucket("ssec")
        .key("to-s3")
        .copy_source("ssec/obj")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k1)
        .copy_source_sse_customer_key_md5(&k1_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let plain = s3
        .get_object()
        .bucket("ssec")
        .key("to-s3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.metadata().unwrap().get("note").map(String::as_str),
        Some("secret")
    );
    assert_eq!(plain.body.collect().await.unwrap().into_bytes(), body);
    // Without the source's key the copy is refused.
    let no_source_key = s3
        .copy_object()
        .bucket("ssec")
        .key("nope")
        .copy_source("ssec/obj")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_source_key), "InvalidRequest");

    // SSE-S3 -> SSE-C under another key: only that key reads it.
    let to_c = s3
        .copy_object()
        .bucket("ssec")
        .key("to-c")
        .copy_source("ssec/to-s3")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k2)
        .sse_customer_key_md5(&k2_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(to_c.sse_customer_key_md5(), Some(k2_md5.as_str()));
    assert_eq!(
        status(
            &s3.get_object()
                .bucket("ssec")
                .key("to-c")
                .send()
                .await
                .unwrap_err()
        ),
        400
    );
    let read = get_with(&s3, "to-c", &k2, &k2_md5).await.unwrap();
    assert_eq!(read.body.collect().await.unwrap().into_bytes(), body);
    // An SSE-S3 object read with a customer key: not applicable.
    let not_applicable = get_with(&s3, "to-s3", &k1, &k1_md5).await.unwrap_err();
    assert_eq!(code(&not_applicable), "InvalidRequest");

    // Multipart under a customer key; a part without the key is refused; UploadPartCopy from
    // an SSE-C source with the copy-source key.
    let part_size = 5 << 20;
    let upload = s3
        .create_multipart_upload()
        .bucket("ssec")
        .key("mp")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k1)
        .sse_customer_key_md5(&k1_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.sse_customer_key_md5(), Some(k1_md5.as_str()));
    let id = upload.upload_id().unwrap();
    let keyless = s3
        .upload_part()
        .bucket("ssec")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(pattern(10, 7)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&keyless), "InvalidRequest");
    let p1 = s3
        .upload_part()
        .bucket("ssec")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k1)
        .sse_customer_key_md5(&k1_md5)
        .body(ByteStream::from(pattern(part_size, 7)))
        .send()
        .await
        .unwrap();
    let p2 = s3
        .upload_part_copy()
        .bucket("ssec")
        .key("mp")
        .upload_id(id)
        .part_number(2)
        .copy_source("ssec/to-c")
        .copy_source_range("bytes=0-999")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k2)
        .copy_source_sse_customer_key_md5(&k2_md5)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k1)
        .sse_customer_key_md5(&k1_md5)
        .send()
        .await
        .unwrap();
    let parts = vec![
        CompletedPart::builder()
            .part_number(1)
            .e_tag(p1.e_tag().unwrap())
            .build(),
        CompletedPart::builder()
            .part_number(2)
            .e_tag(p2.copy_part_result().unwrap().e_tag().unwrap())
            .build(),
    ];
    s3.complete_multipart_upload()
        .bucket("ssec")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let whole = get_with(&s3, "mp", &k1, &k1_md5)
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(whole.len(), part_size + 1000);
    assert_eq!(whole[..part_size], pattern(part_size, 7)[..]);
    assert_eq!(whole[part_size..], body[..1000]);
    assert_eq!(
        status(
            &s3.get_object()
                .bucket("ssec")
                .key("mp")
                .send()
                .await
                .unwrap_err()
        ),
        400
    );

    // Re-keying in place (SSE-C key 1 -> key 2) is a legal copy onto itself.
    s3.copy_object()
        .bucket("ssec")
        .key("obj")
        .copy_source("ssec/obj")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k1)
        .copy_source_sse_customer_key_md5(&k1_md5)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k2)
        .sse_customer_key_md5(&k2_md5)
        .send()
        .await
        .unwrap();
    let rekeyed = get_with(&s3, "obj", &k2, &k2_md5).await.unwrap();
    assert_eq!(rekeyed.body.collect().await.unwrap().into_bytes(), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_over_plain_http_only_when_configured() {
    let mut cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket()
        .bucket("plain-http")
        .send()
        .await
        .unwrap();
    let (k, k_md5) = customer_key(7);
    let put = |s3: aws_sdk_s3::Client| {
        let (k, k_md5) = (k.clone(), k_md5.clone());
        async move {
            s3.put_object()
                .bucket("plain-http")
                .key("o")
                .sse_customer_algorithm("AES256")
                .sse_customer_key(k)
                .sse_customer_key_md5(k_md5)
                .body(ByteStream::from_static(b"over http"))
                .send()
                .await
        }
    };
    let refused = put(s3.clone()).await.unwrap_err();
    assert_eq!(status(&refused), 400);
    assert_eq!(code(&refused), "InvalidRequest");
    // aws:kms needs no TLS (its key never travels) and is kept, not replaced by SSE-S3.
    let kms = s3
        .put_object()
        .bucket("plain-http")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        kms.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );

    cluster.reconfigure_gateway("  allow_sse_c_over_http: true\n");
    put(s3.clone()).await.unwrap();
    let got = s3
        .get_object()
        .bucket("plain-http")
        .key("o")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k)
        .sse_customer_key_md5(&k_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"over http"
    );
}
