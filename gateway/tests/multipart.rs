//! Multipart uploads through the real gateway and storage nodes with `aws-sdk-s3`: part order,
//! re-uploads, AWS's size and ordering rules, abort, listings, UploadPartCopy, partNumber reads,
//! and a gateway restart in the middle of an upload.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{code, md5_hex, pattern, TestCluster};
use md5::{Digest, Md5};

const MIB: usize = 1 << 20;

async fn create(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-test")
        .metadata("origin", "multipart")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string()
}

async fn part(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    n: i32,
    data: &[u8],
) -> String {
    s3.upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string()
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, etag)| {
                    CompletedPart::builder()
                        .part_number(*n)
                        .e_tag(*etag)
                        .build()
                })
                .collect(),
        ))
        .build()
}

fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex::encode(md5.finalize()), parts.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_out_of_order_with_a_reupload_and_a_gateway_restart() {
    let mut cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("mp-bucket").send().await.unwrap();
    let id = create(&s3, "mp-bucket", "big/object.bin").await;
    let p1 = pattern(5 * MIB, 1);
    let p2_first = pattern(5 * MIB, 2);
    let p2 = pattern(5 * MIB, 22);
    let p3 = pattern(5 * MIB, 3);
    let p4 = pattern(123_457, 4);

    let e4 = part(&s3, "mp-bucket", "big/object.bin", &id, 4, &p4).await;
    let _ = part(&s3, "mp-bucket", "big/object.bin", &id, 2, &p2_first).await;
    // The gateway holds no upload state: a new process takes the next parts.
    cluster.restart_gateway();
    let s3 = cluster.client();
    let e1 = part(&s3, "mp-bucket", "big/object.bin", &id, 1, &p1).await;
    let e3 = part(&s3, "mp-bucket", "big/object.bin", &id, 3, &p3).await;
    let e2 = part(&s3, "mp-bucket", "big/object.bin", &id, 2, &p2).await;
    assert_eq!(e2, format!("\"{}\"", md5_hex(&p2)));

    // ListParts sees the re-uploaded part 2 only, and pages.
    let listed = s3
        .list_parts()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .upload_id(&id)
        .max_parts(3)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.is_truncated(), Some(true));
    let numbers: Vec<i32> = listed
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(listed.parts()[1].e_tag(), Some(e2.as_str()));
    assert_eq!(listed.parts()[1].size(), Some(5 * MIB as i64));
    let rest = s3
        .list_parts()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .upload_id(&id)
        .part_number_marker(listed.next_part_number_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.parts().len(), 1);
    assert_eq!(rest.parts()[0].part_number(), Some(4));

    let done = s3
        .complete_multipart_upload()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e1), (2, &e2), (3, &e3), (4, &e4)]))
        .send()
        .await
        .unwrap();
    let want_etag = multipart_etag(&[&p1, &p2, &p3, &p4]);
    assert_eq!(done.e_tag(), Some(want_etag.as_str()));

    let whole: Vec<u8> = [&p1[..], &p2, &p3, &p4].concat();
    let got = s3
        .get_object()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), Some(want_etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("multipart")
    );
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(md5_hex(&body), md5_hex(&whole));

    // A range across the part 2/3 boundary, and reads by part number.
    let across = s3
        .get_object()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .range(format!("bytes={}-{}", 10 * MIB - 10, 10 * MIB + 9))
        .send()
        .await
        .unwrap();
    let across = across.body.collect().await.unwrap().into_bytes();
    assert_eq!(&across[..], &whole[10 * MIB - 10..10 * MIB + 10]);
    let head = s3
        .head_object()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(5 * MIB as i64));
    assert_eq!(head.parts_count(), Some(4));
    let last = s3
        .get_object()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .part_number(4)
        .send()
        .await
        .unwrap();
    assert_eq!(last.body.collect().await.unwrap().into_bytes(), p4);
    let beyond = s3
        .get_object()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .part_number(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&beyond), "InvalidPartNumber");

    // The upload is over: no more parts, no listing, no second completion.
    let late = s3
        .upload_part()
        .bucket("mp-bucket")
        .key("big/object.bin")
        .upload_id(&id)
        .part_number(5)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&late), "NoSuchUpload");
    let uploads = s3
        .list_multipart_uploads()
        .bucket("mp-bucket")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_rules_abort_and_listing() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("rules").send().await.unwrap();
    let small = pattern(MIB, 5);

    // A part below 5 MiB is fine as the last part only.
    let id = create(&s3, "rules", "small").await;
    let a = part(&s3, "rules", "small", &id, 1, &small).await;
    let b = part(&s3, "rules", "small", &id, 2, &small).await;
    let err = s3
        .complete_multipart_upload()
        .bucket("rules")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &a), (2, &b)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "EntityTooSmall");
    let err = s3
        .complete_multipart_upload()
        .bucket("rules")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&[(2, &b), (1, &a)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidPartOrder");
    let err = s3
        .complete_multipart_upload()
        .bucket("rules")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, "\"00000000000000000000000000000000\"")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidPart");
    let err = s3
        .complete_multipart_upload()
        .bucket("rules")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&[(7, &a)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidPart");
    let err = s3
        .upload_part()
        .bucket("rules")
        .key("small")
        .upload_id(&id)
        .part_number(10_001)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
    // Nothing became visible through the failed completions.
    let missing = s3
        .head_object()
        .bucket("rules")
        .key("small")
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::status(&missing), 404);
    // A single short part is a valid object.
    let done = s3
        .complete_multipart_upload()
        .bucket("rules")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&[(2, &b)]))
        .send()
        .await
        .unwrap();
    assert_eq!(done.e_tag(), Some(multipart_etag(&[&small]).as_str()));

    // In-progress uploads list by key then id, with prefix and delimiter.
    let x1 = create(&s3, "rules", "dir/x").await;
    let x2 = create(&s3, "rules", "dir/x").await;
    let y = create(&s3, "rules", "dir/sub/y").await;
    let z = create(&s3, "rules", "z").await;
    let all = s3
        .list_multipart_uploads()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = all
        .uploads()
        .iter()
        .map(|u| (u.key().unwrap(), u.upload_id().unwrap()))
        .collect();
    let mut xs = [x1.as_str(), x2.as_str()];
    xs.sort();
    assert_eq!(
        got,
        [
            ("dir/sub/y", y.as_str()),
            ("dir/x", xs[0]),
            ("dir/x", xs[1]),
            ("z", z.as_str())
        ]
    );
    let folded = s3
        .list_multipart_uploads()
        .bucket("rules")
        .prefix("dir/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = folded
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["dir/sub/"]);
    assert_eq!(folded.uploads().len(), 2);
    let paged = s3
        .list_multipart_uploads()
        .bucket("rules")
        .max_uploads(2)
        .send()
        .await
        .unwrap();
    assert_eq!(paged.is_truncated(), Some(true));
    let next = s3
        .list_multipart_uploads()
        .bucket("rules")
        .key_marker(paged.next_key_marker().unwrap())
        .upload_id_marker(paged.next_upload_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.uploads().len(), 2);
    assert_eq!(next.uploads()[1].key(), Some("z"));

    // Abort: the upload is gone and takes no parts.
    s3.abort_multipart_upload()
        .bucket("rules")
        .key("z")
        .upload_id(&z)
        .send()
        .await
        .unwrap();
    let err = s3
        .upload_part()
        .bucket("rules")
        .key("z")
        .upload_id(&z)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    let err = s3
        .abort_multipart_upload()
        .bucket("rules")
        .key("z")
        .upload_id("not-an-upload-id")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    let left = s3
        .list_multipart_uploads()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    assert_eq!(left.uploads().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_part_copy_with_ranges() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket().bucket("cp-bucket").send().await.unwrap();
    let source = pattern(12 * MIB, 9);
    s3.put_object()
        .bucket("cp-bucket")
        .key("source")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .unwrap();
    let id = create(&s3, "cp-bucket", "assembled").await;
    let copy = |n: i32, range: &str| {
        let s3 = s3.clone();
        let (id, range) = (id.clone(), range.to_string());
        async move {
            s3.upload_part_copy()
                .bucket("cp-bucket")
                .key("assembled")
                .upload_id(id)
                .part_number(n)
                .copy_source("cp-bucket/source")
                .copy_source_range(range)
                .send()
                .await
        }
    };
    let first = copy(1, &format!("bytes=0-{}", 6 * MIB - 1)).await.unwrap();
    let second = copy(2, &format!("bytes={}-{}", 6 * MIB, 12 * MIB - 1))
        .await
        .unwrap();
    let beyond = copy(3, &format!("bytes=0-{}", 12 * MIB)).await.unwrap_err();
    assert_eq!(code(&beyond), "InvalidRange");
    let e1 = first
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let e2 = second
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    s3.complete_multipart_upload()
        .bucket("cp-bucket")
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e1), (2, &e2)]))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("cp-bucket")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(md5_hex(&body), md5_hex(&source));
}
