//! ListObjects (v1) and ListObjectsV2: query parsing, continuation tokens, `encoding-type=url`
//! and rendering a merged [`listing::Page`] as S3 `Contents` and `CommonPrefixes`.

use base64::Engine as _;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::fields::{owner, timestamp_secs};
use super::Gateway;
use crate::listing::{self, Item, ListQuery};

/// A continuation token: the raw bytes of the last name a page held, base64url-encoded (a
/// client treats it as opaque and sends it back as it came).
pub(super) fn continuation_token(last: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

/// The last name a [`continuation_token`] holds.
pub(super) fn read_token(token: &str) -> S3Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad_token())
}

/// The last name a [`continuation_token`] holds, as text (bucket names).
pub(super) fn read_text_token(token: &str) -> S3Result<String> {
    String::from_utf8(read_token(token)?).map_err(|_| bad_token())
}

fn bad_token() -> s3s::S3Error {
    s3_error!(
        InvalidArgument,
        "The continuation token provided is incorrect"
    )
}

pub(super) async fn list_objects_v2(
    gw: &Gateway,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let mut input = req.input;
    // An empty `delimiter=` is no delimiter: nothing is folded and none is echoed, as on S3.
    input.delimiter = input.delimiter.filter(|d| !d.is_empty());
    let record = gw.bucket(&input.bucket).await?;
    let max = max_keys(input.max_keys)?;
    let start_after = match &input.continuation_token {
        Some(token) => read_token(token)?,
        None => input.start_after.clone().unwrap_or_default().into_bytes(),
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let page = fetch(
        gw,
        &input.bucket,
        &prefix,
        &input.delimiter,
        start_after,
        max,
    )
    .await?;
    let url = url_encoded(&input.encoding_type)?;
    let fetch_owner = input.fetch_owner.unwrap_or(false);
    let listed = render_page(&page, url, fetch_owner.then(|| owner(gw, &record.owner)));
    let enc = |s: String| if url { url_encode(&s) } else { s };
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc(prefix)),
        delimiter: input.delimiter.map(enc),
        max_keys: Some(max as i32),
        key_count: Some(listed.count as i32),
        is_truncated: Some(page.truncated),
        continuation_token: input.continuation_token,
        next_continuation_token: page
            .truncated
            .then(|| continuation_token(&page.resume_after)),
        start_after: input.start_after.map(enc),
        contents: Some(listed.contents),
        common_prefixes: Some(listed.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

pub(super) async fn list_objects(
    gw: &Gateway,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let mut input = req.input;
    // An empty `delimiter=` is no delimiter: nothing is folded and none is echoed, as on S3.
    input.delimiter = input.delimiter.filter(|d| !d.is_empty());
    let record = gw.bucket(&input.bucket).await?;
    let max = max_keys(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let marker = input.marker.clone().unwrap_or_default().into_bytes();
    let page = fetch(gw, &input.bucket, &prefix, &input.delimiter, marker, max).await?;
    let url = url_encoded(&input.encoding_type)?;
    let listed = render_page(&page, url, Some(owner(gw, &record.owner)));
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let next_marker = (page.truncated && input.delimiter.is_some())
        .then(|| page.last.clone())
        .flatten()
        .map(enc);
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(enc(prefix)),
        marker: Some(enc(input.marker.unwrap_or_default())),
        delimiter: input.delimiter.map(enc),
        max_keys: Some(max as i32),
        is_truncated: Some(page.truncated),
        next_marker,
        contents: Some(listed.contents),
        common_prefixes: Some(listed.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// One page of a bucket listing, from the merged node listings.
pub(super) async fn fetch(
    gw: &Gateway,
    bucket: &str,
    prefix: &str,
    delimiter: &Option<String>,
    start_after: Vec<u8>,
    max: usize,
) -> S3Result<listing::Page> {
    gw.list(ListQuery {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        delimiter: delimiter.clone(),
        start_after,
        max,
        incarnation: None, // the bucket's, filled in by `Gateway::list`
    })
    .await
}

/// Whether a listing asked for `encoding-type=url`; any other encoding is refused, as on S3.
pub(super) fn url_encoded(encoding_type: &Option<EncodingType>) -> S3Result<bool> {
    match encoding_type.as_ref().map(EncodingType::as_str) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

pub(super) struct ListedPage {
    pub contents: Vec<Object>,
    pub prefixes: Vec<CommonPrefix>,
    pub count: usize,
}

pub(super) fn render_page(page: &listing::Page, url: bool, owner: Option<Owner>) -> ListedPage {
    let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for item in &page.items {
        match item {
            Item::Object(e) => contents.push(Object {
                key: Some(enc(&e.key)),
                e_tag: Some(ETag::Strong(e.etag.clone())),
                last_modified: Some(timestamp_secs(e.modified_ms.unwrap_or(e.version.millis()))),
                size: Some(e.size as i64),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                owner: owner.clone(),
                ..Default::default()
            }),
            Item::CommonPrefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc(p)),
            }),
        }
    }
    ListedPage {
        count: contents.len().saturating_add(prefixes.len()),
        contents,
        prefixes,
    }
}

/// Keys, prefixes and markers in a listing with `encoding-type=url`.
pub(super) fn url_encode(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

pub(super) fn max_keys(v: Option<i32>) -> S3Result<usize> {
    match v {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "max-keys must be a non-negative integer"
        )),
        Some(n) => Ok((n as usize).min(1000)),
    }
}
