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

fn crc_b64(algorithm: crc_fast::CrcAlgorithm, width: usize, data: &[u8]) -> String {
    use base64::Engine as _;
    let crc = crc_fast::checksum(algorithm, data);
    base64::engine::general_purpose::STANDARD.encode(&crc.to_be_bytes()[8 - width..])
}

/// Full-object checksums of multipart uploads (CRC32, CRC32C, CRC64NVME), as AWS defines them:
/// the CRC of the whole object, combined from the parts, checked against the value the client
/// gives at completion and validated by the SDK on GET. Without an algorithm the object still
/// gets a full-object CRC64NVME.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_full_object_checksums() {
    use aws_sdk_s3::types::ChecksumType;
    use crc_fast::CrcAlgorithm;
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("full").send().await.unwrap();
    let bodies = [pattern(5 << 20, 3), pattern(700_001, 4)];
    let whole = [bodies[0].clone(), bodies[1].clone()].concat();
    let cases = [
        (
            Some(ChecksumAlgorithm::Crc32),
            CrcAlgorithm::Crc32IsoHdlc,
            4,
        ),
        (Some(ChecksumAlgorithm::Crc32C), CrcAlgorithm::Crc32Iscsi, 4),
        (
            Some(ChecksumAlgorithm::Crc64Nvme),
            CrcAlgorithm::Crc64Nvme,
            8,
        ),
        (None, CrcAlgorithm::Crc64Nvme, 8),
    ];
    for (alg, crc, width) in cases {
        let key = alg.as_ref().map_or("default", |a| a.as_str()).to_string();
        let expected = crc_b64(crc, width, &whole);
        let created = s3
            .create_multipart_upload()
            .bucket("full")
            .key(&key)
            .set_checksum_algorithm(alg.clone())
            .set_checksum_type(alg.as_ref().map(|_| ChecksumType::FullObject))
            .send()
            .await
            .unwrap();
        if alg.is_some() {
            assert_eq!(created.checksum_type(), Some(&ChecksumType::FullObject));
        }
        let id = created.upload_id().unwrap().to_string();
        let mut done = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let n = i as i32 + 1;
            let part = s3
                .upload_part()
                .bucket("full")
                .key(&key)
                .upload_id(&id)
                .part_number(n)
                .set_checksum_algorithm(alg.clone())
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {e:?}"));
            done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(part.e_tag().unwrap())
                    .set_checksum_crc32(part.checksum_crc32().map(str::to_string))
                    .set_checksum_crc32_c(part.checksum_crc32_c().map(str::to_string))
                    .set_checksum_crc64_nvme(part.checksum_crc64_nvme().map(str::to_string))
                    .build(),
            );
        }
        let complete = |value: String| {
            let req = s3
                .complete_multipart_upload()
                .bucket("full")
                .key(&key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(done.clone()))
                        .build(),
                );
            match crc {
                CrcAlgorithm::Crc32IsoHdlc => req.checksum_crc32(value),
                CrcAlgorithm::Crc32Iscsi => req.checksum_crc32_c(value),
                _ => req.checksum_crc64_nvme(value),
            }
            .set_checksum_type(alg.as_ref().map(|_| ChecksumType::FullObject))
            .send()
        };
        // A wrong whole-object value is BadDigest; nothing becomes visible, the upload stays.
        let wrong = crc_b64(crc, width, b"something else");
        let err = complete(wrong).await.unwrap_err();
        assert_eq!(code(&err), "BadDigest", "{key}");
        let missing = s3.head_object().bucket("full").key(&key).send().await;
        assert_eq!(common::status(&missing.unwrap_err()), 404);
        let done_out = complete(expected.clone())
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(done_out.checksum_type(), Some(&ChecksumType::FullObject));
        let head = s3
            .head_object()
            .bucket("full")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.checksum_type(),
            Some(&ChecksumType::FullObject),
            "{key}"
        );
        let stored = match crc {
            CrcAlgorithm::Crc32IsoHdlc => head.checksum_crc32(),
            CrcAlgorithm::Crc32Iscsi => head.checksum_crc32_c(),
            _ => head.checksum_crc64_nvme(),
        };
        assert_eq!(stored, Some(expected.as_str()), "{key}");
        assert_eq!(
            head.checksum_crc64_nvme(),
            Some(crc_b64(CrcAlgorithm::Crc64Nvme, 8, &whole).as_str())
        );
        // The SDK validates a full-object checksum against the body it reads.
        let got = s3
            .get_object()
            .bucket("full")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes(), whole);
    }

    // Combinations AWS refuses.
    for (alg, kind) in [
        (ChecksumAlgorithm::Sha256, ChecksumType::FullObject),
        (ChecksumAlgorithm::Sha1, ChecksumType::FullObject),
        (ChecksumAlgorithm::Crc64Nvme, ChecksumType::Composite),
    ] {
        let err = s3
            .create_multipart_upload()
            .bucket("full")
            .key("refused")
            .checksum_algorithm(alg)
            .checksum_type(kind)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidRequest");
    }
}
