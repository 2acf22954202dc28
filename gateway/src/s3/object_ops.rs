//! Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects and
//! CopyObject. Bytes go through [`crate::objects`]; versions through [`crate::cluster`].

use futures::stream::{self, StreamExt};
use node_api::model::{Layout, Manifest, Version};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::bucket_access::{acl_asked, object_acl};
use super::conditions::{
    check_copy_source_version, check_preconditions, copy_precondition_error, DeleteCondition,
};
use super::fields::*;
use super::sse::{self, sse_asked};
use super::sse_c::customer_headers;
use super::tagging::parse_tagging_header;
use super::Gateway;
use super::Opened;
use crate::checksums::{
    check_content_md5, checksum_map, checksum_struct, checksum_type_of, Verifier,
};
use crate::keyring::{object_extent, DataKey, Protection};
use crate::objects::{self, Sealer, StoredData};

/// `body` is the request's body, taken out of `req` so that the caller can drain it when the
/// request fails before reading it.
pub(super) async fn put_object(
    gw: &Gateway,
    req: S3Request<PutObjectInput>,
    body: &mut Option<StreamingBlob>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let S3Request {
        input,
        headers: request_headers,
        trailing_headers,
        extensions,
        credentials,
        ..
    } = req;
    validate_key(&input.key)?;
    let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let tags = parse_tagging_header(input.tagging.as_deref())?;
    let redirect = website_redirect(input.website_redirect_location.clone())?;
    let customer = gw.customer_key(&extensions, customer_headers!(input))?;
    // Refused rather than ignored: a client that asks for this relies on it.
    if input.write_offset_bytes.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "Appending writes are not supported"
        ));
    }
    let bucket = gw.bucket(&input.bucket).await?;
    let protection = sse::protection(
        gw,
        &sse_asked!(input),
        customer.as_ref(),
        &bucket,
        &input.key,
    )?;
    let writer = credentials.map(|c| c.access_key).unwrap_or_default();
    let acl = object_acl(gw, &bucket, &writer, &acl_asked!(object input))?;
    let announced_size = input.content_length.unwrap_or(0).max(0) as u64;
    let mut hold = gw
        .usage
        .reserve(&gw.cluster, &bucket, announced_size)
        .await
        .map_err(quota_error)?;
    let version = gw.cluster.hlc.version();
    let announced = Checksum {
        checksum_crc32: input.checksum_crc32.clone(),
        checksum_crc32c: input.checksum_crc32c.clone(),
        checksum_crc64nvme: input.checksum_crc64nvme.clone(),
        checksum_sha1: input.checksum_sha1.clone(),
        checksum_sha256: input.checksum_sha256.clone(),
        ..Default::default()
    };
    let (data_key, sealer) = fresh_sealer(gw, &input.bucket, &input.key, version, &protection)?;
    let Received { stored, checksum } = receive_body(
        gw,
        BodyTarget {
            version,
            part: 0,
            inline: true,
            compute: None,
            sealer,
        },
        body.take(),
        input.content_length,
        input.content_md5.as_deref(),
        announced,
        &request_headers,
        trailing_headers,
    )
    .await?;
    let mut headers = object_headers(
        input.content_type,
        input.content_encoding,
        input.content_disposition,
        input.content_language,
        input.cache_control,
        input.expires.as_ref(),
    );
    headers.website_redirect = redirect;
    let sealing = data_key.envelope(
        &input.bucket,
        &input.key,
        version,
        &user_metadata(input.metadata),
    );
    let echo = sse::echo(gw, Some(&sealing), customer.as_ref());
    let mut manifest =
        objects::new_manifest(&bucket, &input.key, version, stored, headers, sealing);
    manifest.checksums = checksum_map(&checksum);
    manifest.tags = tags;
    manifest.acl = acl;
    let etag = etag_of(&manifest);
    // A body longer than announced (or of unannounced length) holds the rest now.
    hold.grow(manifest.size.saturating_sub(announced_size))
        .map_err(quota_error)?;
    commit_manifest(&gw.cluster, manifest, condition.as_ref()).await?;
    hold.commit();
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(etag),
        server_side_encryption: echo.server_side_encryption,
        sse_customer_algorithm: echo.sse_customer_algorithm,
        sse_customer_key_md5: echo.sse_customer_key_md5,
        ssekms_key_id: echo.ssekms_key_id,
        ssekms_encryption_context: echo.ssekms_encryption_context,
        bucket_key_enabled: echo.bucket_key_enabled,
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        ..Default::default()
    }))
}

/// Where a received body goes: chunks `(version, part, ..)`, or inline in the manifest when
/// small and `inline` allows it (parts never are: completing an upload only lists chunks).
pub(super) struct BodyTarget<'a> {
    pub version: Version,
    pub part: u32,
    pub inline: bool,
    pub sealer: Sealer,
    /// A checksum algorithm to compute even if the client sends no value (a multipart
    /// upload's, so that the object's checksum can be derived from its parts).
    pub compute: Option<&'a str>,
}

/// A fresh data key for object version `version` of `bucket/key`, wrapped as `protection`
/// says, and the sealer of its data.
pub(super) fn fresh_sealer(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    version: Version,
    protection: &Protection<'_>,
) -> S3Result<(DataKey, Sealer)> {
    let data_key = gw.keyring.fresh(protection).map_err(sealed_error)?;
    let sealer = Sealer {
        key: data_key.key.clone(),
        extent: object_extent(bucket, key, version, 0, data_key.nonce_base),
    };
    Ok((data_key, sealer))
}

/// A request body stored and verified.
pub(super) struct Received {
    pub stored: StoredData,
    /// Every checksum computed (those announced matched).
    pub checksum: Checksum,
}

/// Streams a request body into chunks, checking its length, `Content-MD5` and
/// `x-amz-checksum-*` values (headers or aws-chunked trailers). If a check fails the chunks are
/// deleted again and the client gets the S3 error; nothing refers to them.
#[allow(clippy::too_many_arguments)]
pub(super) async fn receive_body(
    gw: &Gateway,
    target: BodyTarget<'_>,
    body: Option<StreamingBlob>,
    content_length: Option<i64>,
    content_md5: Option<&str>,
    announced: Checksum,
    request_headers: &http::HeaderMap,
    trailing_headers: Option<s3s::TrailingHeaders>,
) -> S3Result<Received> {
    let expected = content_length.map(|l| l.max(0) as u64);
    let body = body
        .map(|b| b.boxed())
        .unwrap_or_else(|| stream::empty().boxed());
    let mut verifier = Verifier::new(announced, request_headers);
    if let Some(algorithm) = target.compute {
        verifier.compute(algorithm);
    }
    let mut cfg = gw.data;
    if !target.inline {
        cfg.inline_threshold = 0;
    }
    let stored: StoredData = objects::store_body(
        &gw.cluster,
        cfg,
        target.version,
        target.part,
        target.sealer,
        body,
        expected,
        &mut |piece| verifier.update(piece),
    )
    .await
    .map_err(put_error)?;
    gw.cluster.metrics.bytes_in.inc_by(stored.size);
    let verified = check_content_md5(content_md5, &stored.md5)
        .and_then(|()| verifier.finish(trailing_headers.and_then(|t| t.take())));
    match verified {
        Ok(checksum) => Ok(Received { stored, checksum }),
        Err(e) => {
            gw.cluster
                .delete_chunks(stored.chunk_ids(target.version, target.part));
            Err(e)
        }
    }
}

/// What GET and HEAD have in common: the request's object, version, conditions and range.
struct ReadRequest<'a> {
    bucket: &'a str,
    key: &'a str,
    version_id: Option<&'a str>,
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
    range: Option<&'a Range>,
    part_number: Option<i32>,
}

/// The version a GET or HEAD answers with and the bytes of it that were asked for.
struct Selected {
    manifest: Manifest,
    range: std::ops::Range<u64>,
    content_range: Option<String>,
}

/// Finds the current version, checks the requested version id and the preconditions, and
/// resolves the range (`InvalidRange` when it cannot be satisfied).
async fn select(gw: &Gateway, r: ReadRequest<'_>) -> S3Result<Selected> {
    let m = gw.object(r.bucket, r.key).await?;
    if r.version_id
        .is_some_and(|v| v != m.version.to_hex() && v != "null")
    {
        return Err(s3_error!(
            NoSuchVersion,
            "The specified version does not exist."
        ));
    }
    check_preconditions(
        &m,
        r.if_match,
        r.if_none_match,
        r.if_modified_since,
        r.if_unmodified_since,
    )?;
    let (range, content_range) = match (r.range, r.part_number) {
        (Some(_), Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            ))
        }
        (None, Some(n)) => {
            let part = part_range(&m, n)?;
            let cr = content_range(&part, m.size);
            (part, cr)
        }
        (None, None) => (0..m.size, None),
        (Some(range), None) => {
            // An empty object has no byte to select: every range is unsatisfiable (416), the
            // suffix ones included, as on S3.
            let checked = range
                .check(m.size)
                .ok()
                .filter(|r| !r.is_empty())
                .ok_or_else(|| s3_error!(InvalidRange, "The requested range is not satisfiable"))?;
            let cr = content_range(&checked, m.size);
            (checked, cr)
        }
    };
    Ok(Selected {
        manifest: m,
        range,
        content_range,
    })
}

/// The `Content-Range` of `range` (not empty) of an object of `size` bytes.
fn content_range(range: &std::ops::Range<u64>, size: u64) -> Option<String> {
    let last = range.end.checked_sub(1).filter(|_| !range.is_empty())?;
    Some(format!("bytes {}-{last}/{size}", range.start))
}

/// The bytes of part `n` of an object (a single-PUT object has one part).
fn part_range(m: &Manifest, n: i32) -> S3Result<std::ops::Range<u64>> {
    let unsatisfiable = || {
        error_with_status(
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
            http::StatusCode::RANGE_NOT_SATISFIABLE,
        )
    };
    if n < 1 {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    match &m.layout {
        Layout::Parts(parts) => {
            // Like AWS (and the SDKs that fetch parts 1..=parts-count in parallel), partNumber
            // counts the object's parts in order, whatever numbers they were uploaded with.
            let idx = n.saturating_sub(1) as usize;
            let start = parts
                .iter()
                .take(idx)
                .fold(0u64, |at, p| at.saturating_add(p.size));
            parts
                .get(idx)
                .map(|p| start..start.saturating_add(p.size))
                .ok_or_else(unsatisfiable)
        }
        _ if n == 1 => Ok(0..m.size),
        _ => Err(unsatisfiable()),
    }
}

/// The representation headers of a GET or HEAD response: the stored ones, unless the request
/// overrides them with `response-content-type` and friends.
struct Representation {
    content_type: Option<ContentType>,
    content_encoding: Option<ContentEncoding>,
    content_disposition: Option<ContentDisposition>,
    content_language: Option<ContentLanguage>,
    cache_control: Option<CacheControl>,
    expires: Option<Timestamp>,
}

impl Representation {
    fn of(m: &Manifest, overrides: Representation) -> Representation {
        let h = &m.headers;
        Representation {
            content_type: overrides.content_type.or_else(|| h.content_type.clone()),
            content_encoding: overrides
                .content_encoding
                .or_else(|| h.content_encoding.clone()),
            content_disposition: overrides
                .content_disposition
                .or_else(|| h.content_disposition.clone()),
            content_language: overrides
                .content_language
                .or_else(|| h.content_language.clone()),
            cache_control: overrides.cache_control.or_else(|| h.cache_control.clone()),
            expires: overrides
                .expires
                .or_else(|| h.expires.as_deref().and_then(parse_http_date)),
        }
    }
}

/// The [`ReadRequest`] of a `GetObjectInput` or `HeadObjectInput` (same field names).
macro_rules! read_request {
    ($input:ident) => {
        ReadRequest {
            bucket: &$input.bucket,
            key: &$input.key,
            version_id: $input.version_id.as_deref(),
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
            range: $input.range.as_ref(),
            part_number: $input.part_number,
        }
    };
}

/// The `response-*` overrides of a `GetObjectInput` or `HeadObjectInput`.
macro_rules! overrides {
    ($input:ident) => {
        Representation {
            content_type: $input.response_content_type,
            content_encoding: $input.response_content_encoding,
            content_disposition: $input.response_content_disposition,
            content_language: $input.response_content_language,
            cache_control: $input.response_cache_control,
            expires: $input.response_expires,
        }
    };
}

/// Sets the stored checksums on a `GetObjectOutput` or `HeadObjectOutput` when the request
/// asked (`x-amz-checksum-mode: ENABLED`) for the whole object: AWS returns none for a range.
macro_rules! add_checksums {
    ($out:ident, $input:ident, $m:ident, $whole:expr) => {
        if $whole
            && $input
                .checksum_mode
                .as_ref()
                .is_some_and(|c| c.as_str() == ChecksumMode::ENABLED)
            && !$m.checksums.is_empty()
        {
            let c = checksum_struct(&$m.checksums);
            $out.checksum_crc32 = c.checksum_crc32;
            $out.checksum_crc32c = c.checksum_crc32c;
            $out.checksum_crc64nvme = c.checksum_crc64nvme;
            $out.checksum_sha1 = c.checksum_sha1;
            $out.checksum_sha256 = c.checksum_sha256;
            $out.checksum_type = checksum_type_of(&$m.checksums).map(ChecksumType::from_static);
        }
    };
}

/// A `GetObjectOutput` or `HeadObjectOutput` (same field names) describing manifest `$m` with
/// representation `$r`, plus the fields in braces.
macro_rules! object_output {
    ($ty:ident, $m:ident, $r:ident, $meta:expr, $echo:expr, { $($extra:tt)* }) => {
        $ty {
            $($extra)*
            server_side_encryption: $echo.server_side_encryption,
            sse_customer_algorithm: $echo.sse_customer_algorithm,
            sse_customer_key_md5: $echo.sse_customer_key_md5,
            website_redirect_location: $m.headers.website_redirect.clone(),
            ssekms_key_id: $echo.ssekms_key_id,
            bucket_key_enabled: $echo.bucket_key_enabled,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag_of(&$m)),
            last_modified: Some(last_modified(&$m)),
            content_type: $r.content_type,
            content_encoding: $r.content_encoding,
            content_disposition: $r.content_disposition,
            content_language: $r.content_language,
            cache_control: $r.cache_control,
            expires: $r.expires,
            metadata: Some($meta.into_iter().collect()),
            ..Default::default()
        }
    };
}

pub(super) async fn get_object(
    gw: &Gateway,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    let customer = gw.customer_key(&req.extensions, customer_headers!(input))?;
    let Selected {
        manifest: m,
        range,
        content_range,
    } = select(gw, read_request!(input)).await?;
    let length = range.end.saturating_sub(range.start);
    let Opened { key, metadata } = gw.open_object(&m, customer.as_ref())?;
    let mut body = Box::pin(objects::read_range(
        gw.cluster.clone(),
        &m,
        key,
        range,
        gw.data.window,
    ));
    // The first piece is read before answering, so that an object none of whose copies can be
    // read (or authenticated) gets an error status rather than a 200 that breaks off.
    let first = match body.next().await {
        Some(Err(e)) => {
            tracing::error!("{}/{}: {e}", m.bucket, m.key);
            return Err(s3_error!(
                InternalError,
                "The object's data could not be read from any replica."
            ));
        }
        first => first,
    };
    let body = stream::iter(first).chain(body);
    gw.cluster.metrics.bytes_out.inc_by(length);
    let r = Representation::of(&m, overrides!(input));
    let whole = content_range.is_none();
    let mut out = object_output!(GetObjectOutput, m, r, metadata, sse::echo(gw, m.sealing.as_ref(), customer.as_ref()), {
        tag_count: (!m.tags.is_empty()).then_some(m.tags.len() as i32),
        parts_count: m.parts_count().map(|n| n as i32),
        body: Some(StreamingBlob::wrap(body)),
        content_length: Some(length as i64),
        content_range,
    });
    add_checksums!(out, input, m, whole);
    Ok(S3Response::new(out))
}

pub(super) async fn head_object(
    gw: &Gateway,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let customer = gw.customer_key(&req.extensions, customer_headers!(input))?;
    let Selected {
        manifest: m,
        range,
        content_range,
    } = select(gw, read_request!(input)).await?;
    let r = Representation::of(&m, overrides!(input));
    let whole = content_range.is_none();
    let Opened { metadata, .. } = gw.open_object(&m, customer.as_ref())?;
    let tag_count = m.tags.len();
    let mut out = object_output!(HeadObjectOutput, m, r, metadata, sse::echo(gw, m.sealing.as_ref(), customer.as_ref()), {
        parts_count: m.parts_count().map(|n| n as i32),
        content_length: Some(range.end.saturating_sub(range.start) as i64),
        content_range,
    });
    add_checksums!(out, input, m, whole);
    let mut response = S3Response::new(out);
    // S3 tells HEAD how many tags an object has as GET does (the SDK models omit the field).
    if tag_count > 0 {
        response
            .headers
            .insert("x-amz-tagging-count", http::HeaderValue::from(tag_count));
    }
    Ok(response)
}

pub(super) async fn delete_object(
    gw: &Gateway,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let input = req.input;
    gw.bucket(&input.bucket).await?;
    let condition = DeleteCondition {
        etag: input.if_match,
        last_modified: input.if_match_last_modified_time,
        size: input.if_match_size,
    };
    gw.delete_key(&input.bucket, &input.key, condition.given().as_ref())
        .await?;
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

pub(super) async fn delete_objects(
    gw: &Gateway,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let input = req.input;
    let extensions = &req.extensions;
    if input.delete.objects.len() > 1000 {
        return Err(s3_error!(
            MalformedXML,
            "A DeleteObjects request may name at most 1000 keys"
        ));
    }
    gw.bucket(&input.bucket).await?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let bucket = input.bucket.clone();
    let results: Vec<(String, S3Result<()>)> = stream::iter(input.delete.objects)
        .map(|o| {
            let bucket = bucket.clone();
            async move {
                let condition = DeleteCondition {
                    etag: o.e_tag.map(ETagCondition::ETag),
                    last_modified: o.last_modified_time,
                    size: o.size,
                };
                let r = match crate::authorize::may_object(extensions, &o.key).await {
                    Ok(()) => {
                        gw.delete_key(&bucket, &o.key, condition.given().as_ref())
                            .await
                    }
                    Err(e) => Err(e),
                };
                (o.key, r)
            }
        })
        .buffered(16)
        .collect()
        .await;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for (key, r) in results {
        match r {
            Ok(()) if !quiet => deleted.push(DeletedObject {
                key: Some(key),
                ..Default::default()
            }),
            Ok(()) => {}
            Err(e) => errors.push(Error {
                code: Some(e.code().as_str().to_string()),
                key: Some(key),
                message: e.message().map(str::to_string),
                version_id: None,
            }),
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(errors),
        ..Default::default()
    }))
}

pub(super) async fn copy_object(
    gw: &Gateway,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let writer = requester(&req);
    let input = req.input;
    validate_key(&input.key)?;
    let customer = gw.customer_key(&req.extensions, customer_headers!(input))?;
    let source_customer = gw.customer_key(&req.extensions, customer_headers!(copy_source input))?;
    let (src_bucket, src_key) = match &input.copy_source {
        CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
        _ => {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ))
        }
    };
    let bucket = gw.bucket(&input.bucket).await?;
    let protection = sse::protection(
        gw,
        &sse_asked!(input),
        customer.as_ref(),
        &bucket,
        &input.key,
    )?;
    let acl = object_acl(gw, &bucket, &writer, &acl_asked!(object input))?;
    let source = gw.object(&src_bucket, &src_key).await?;
    check_copy_source_version(&input.copy_source, &source)?;
    let hold = gw
        .usage
        .reserve(&gw.cluster, &bucket, source.size)
        .await
        .map_err(quota_error)?;
    check_preconditions(
        &source,
        input.copy_source_if_match.as_ref(),
        input.copy_source_if_none_match.as_ref(),
        input.copy_source_if_modified_since.as_ref(),
        input.copy_source_if_unmodified_since.as_ref(),
    )
    .map_err(copy_precondition_error)?;
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let opened = gw.open_object(&source, source_customer.as_ref())?;
    let changes_encryption = input.server_side_encryption.is_some()
        || input.ssekms_key_id.is_some()
        || customer.is_some()
        || source_customer.is_some();
    if src_bucket == input.bucket && src_key == input.key && !replace && !changes_encryption {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let (headers, metadata) = if replace {
        (
            object_headers(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires.as_ref(),
            ),
            user_metadata(input.metadata),
        )
    } else {
        (source.headers.clone(), opened.metadata)
    };
    // Never copied from the source, whatever the directive (as S3 documents).
    let mut headers = headers;
    headers.website_redirect = website_redirect(input.website_redirect_location.clone())?;
    let tags = match &input.tagging_directive {
        Some(d) if d.as_str() == TaggingDirective::REPLACE => {
            parse_tagging_header(input.tagging.as_deref())?
        }
        _ => source.tags.clone(),
    };
    let version = gw.cluster.hlc.version();
    let bytes = objects::read_range(
        gw.cluster.clone(),
        &source,
        opened.key,
        0..source.size,
        gw.data.window,
    );
    let mut computed = Verifier::computing(None);
    // The copy is sealed under its own data key: the associated data names its bucket and key.
    let (data_key, sealer) = fresh_sealer(gw, &input.bucket, &input.key, version, &protection)?;
    let stored = objects::store_body(
        &gw.cluster,
        gw.data,
        version,
        0,
        sealer,
        Box::pin(bytes),
        Some(source.size),
        &mut |piece| computed.update(piece),
    )
    .await
    .map_err(put_error)?;
    let sealing = data_key.envelope(&input.bucket, &input.key, version, &metadata);
    let echo = sse::echo(gw, Some(&sealing), customer.as_ref());
    let mut manifest =
        objects::new_manifest(&bucket, &input.key, version, stored, headers, sealing);
    // Same bytes: a single-PUT source's checksums still hold; a multipart source's composite
    // values do not, so the copy keeps the CRC64NVME computed while copying.
    manifest.checksums = checksum_map(&computed.finish(None)?);
    manifest.tags = tags;
    manifest.acl = acl;
    if source.parts_count().is_none() {
        for (name, value) in &source.checksums {
            manifest
                .checksums
                .entry(name.clone())
                .or_insert(value.clone());
        }
    }
    let written = gw
        .cluster
        .put_manifest(manifest)
        .await
        .map_err(unavailable)?;
    hold.commit();
    let result = CopyObjectResult {
        e_tag: Some(etag_of(&written)),
        last_modified: Some(last_modified(&written)),
        ..Default::default()
    };
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(result),
        server_side_encryption: echo.server_side_encryption,
        sse_customer_algorithm: echo.sse_customer_algorithm,
        sse_customer_key_md5: echo.sse_customer_key_md5,
        ssekms_key_id: echo.ssekms_key_id,
        ssekms_encryption_context: echo.ssekms_encryption_context,
        bucket_key_enabled: echo.bucket_key_enabled,
        ..Default::default()
    }))
}
