//! `x-amz-checksum-*` end to end with `aws-sdk-s3`: every algorithm, as a header (in-memory
//! body) and as an aws-chunked trailer (file body); stored values come back with
//! `x-amz-checksum-mode: ENABLED` (the SDK then validates the body against them) and in
//! GetObjectAttributes; a wrong value is BadDigest and stores nothing; multipart objects get
//! composite checksums.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectAttributes,
};
use common::{code, pattern, TestCluster};

const ALGORITHMS: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32C,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

fn value_of(
    alg: &ChecksumAlgorithm,
    head: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
) -> Option<String> {
    match alg {
        ChecksumAlgorithm::Crc32 => head.checksum_crc32(),
        ChecksumAlgorithm::Crc32C => head.checksum_crc32_c(),
        ChecksumAlgorithm::Crc64Nvme => head.checksum_crc64_nvme(),
        ChecksumAlgorithm::Sha1 => head.checksum_sha1(),
        _ => head.checksum_sha256(),
    }
    .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_algorithm_as_header_and_trailer() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let data = pattern(3 << 20, 7);
    let file = cluster.path().join("body.bin");
    std::fs::write(&file, &data).unwrap();
    for alg in ALGORITHMS {
        for from_file in [false, true] {
            let key = format!("{}-{from_file}", alg.as_str());
            let body = if from_file {
                ByteStream::from_path(&file).await.unwrap()
            } else {
                ByteStream::from(data.clone())
            };
            s3.put_object()
                .bucket("sums")
                .key(&key)
                .checksum_algorithm(alg.clone())
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {e:?}"));
            let head = s3
                .head_object()
                .bucket("sums")
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            assert!(value_of(&alg, &head).is_some(), "{key}: no stored checksum");
            // Every object also has a CRC64NVME, as on AWS.
            assert!(head.checksum_crc64_nvme().is_some(), "{key}");
            // The SDK checks the body against the checksum the GET returns.
            let got = s3
                .get_object()
                .bucket("sums")
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            assert_eq!(
                got.body.collect().await.unwrap().into_bytes().len(),
                data.len()
            );
        }
    }
    // A wrong value, as a header, is refused and leaves nothing behind.
    let bad = s3
        .put_object()
        .bucket("sums")
        .key("bad")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad), "BadDigest");
    let bad = s3
        .put_object()
        .bucket("sums")
        .key("bad")
        .checksum_sha256("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad), "BadDigest");
    let missing = s3
        .head_object()
        .bucket("sums")
        .key("bad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::status(&missing), 404);

    let attrs = s3
        .get_object_attributes()
        .bucket("sums")
        .key("SHA256-false")
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some(data.len() as i64));
    assert!(attrs.checksum().and_then(|c| c.checksum_sha256()).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_parts_and_composite_checksum() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("mp-sums").send().await.unwrap();
    let id = s3
        .create_multipart_upload()
        .bucket("mp-sums")
        .key("obj")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let bodies = [pattern(5 << 20, 1), pattern(1 << 20, 2)];
    let mut done = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let n = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket("mp-sums")
            .key("obj")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let crc = part.checksum_crc32().expect("part checksum").to_string();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .checksum_crc32(crc)
                .build(),
        );
    }
    // A part checksum that does not match what was stored is InvalidPart.
    let wrong = CompletedPart::builder()
        .part_number(1)
        .e_tag(done[0].e_tag().unwrap())
        .checksum_crc32("AAAAAA==")
        .build();
    let err = s3
        .complete_multipart_upload()
        .bucket("mp-sums")
        .key("obj")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(wrong)
                .parts(done[1].clone())
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidPart");
    s3.complete_multipart_upload()
        .bucket("mp-sums")
        .key("obj")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("mp-sums")
        .key("obj")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let composite = head.checksum_crc32().expect("composite checksum");
    assert!(composite.ends_with("-2"), "{composite}");
    let attrs = s3
        .get_object_attributes()
        .bucket("mp-sums")
        .key("obj")
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    let parts = attrs.object_parts().unwrap();
    assert_eq!(parts.total_parts_count(), Some(2));
    assert_eq!(parts.parts()[1].checksum_crc32(), done[1].checksum_crc32());
    // The whole object still reads back (the SDK skips composite values).
    let got = s3
        .get_object()
        .bucket("mp-sums")
        .key("obj")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        6 << 20
    );
}
