//! The bucket and object sub-resources that sync tools and test suites probe, answered as an
//! unversioned store does: GetBucketVersioning (never enabled) and ListObjectVersions (the
//! current objects, each with version id `null`; cleanup scripts call it before DeleteBucket).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::fields::owner;
use super::list_ops::{fetch, max_keys, render_page, url_encode, url_encoded};
use super::Gateway;

pub(super) async fn get_bucket_versioning(
    gw: &Gateway,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    gw.bucket(&req.input.bucket).await?;
    Ok(S3Response::new(GetBucketVersioningOutput::default()))
}

pub(super) async fn list_object_versions(
    gw: &Gateway,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let record = gw.bucket(&input.bucket).await?;
    let max = max_keys(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let marker = input.key_marker.clone().unwrap_or_default().into_bytes();
    let page = fetch(gw, &input.bucket, &prefix, &input.delimiter, marker, max).await?;
    let url = url_encoded(&input.encoding_type)?;
    let listed = render_page(&page, url, Some(owner(gw, &record.owner)));
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let versions = listed
        .contents
        .into_iter()
        .map(|o| ObjectVersion {
            key: o.key,
            version_id: Some("null".into()),
            is_latest: Some(true),
            last_modified: o.last_modified,
            e_tag: o.e_tag,
            size: o.size,
            owner: o.owner,
            storage_class: Some(ObjectVersionStorageClass::from_static(
                ObjectVersionStorageClass::STANDARD,
            )),
            ..Default::default()
        })
        .collect();
    let next_key_marker = page.truncated.then(|| page.last.clone()).flatten();
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(enc(prefix)),
        delimiter: input.delimiter.map(enc),
        key_marker: Some(enc(input.key_marker.unwrap_or_default())),
        version_id_marker: input.version_id_marker,
        max_keys: Some(max as i32),
        is_truncated: Some(page.truncated),
        next_version_id_marker: next_key_marker.as_ref().map(|_| "null".to_string()),
        next_key_marker: next_key_marker.map(enc),
        versions: Some(versions),
        delete_markers: Some(Vec::new()),
        common_prefixes: Some(listed.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
