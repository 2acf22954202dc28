//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts and ListMultipartUploads, with AWS's
//! rules (part numbers 1..=10000, 5 MiB minimum for all parts but the last, `InvalidPart`,
//! `InvalidPartOrder`, the `"<md5 of part md5s>-N"` ETag).
//!
//! Upload and part records live on the storage nodes ([`crate::upload_state`]), so a gateway
//! restart, or another gateway, can continue an upload. Parts are chunked like any object data
//! under their own version; completing writes a manifest that lists the parts' chunks, it
//! copies nothing. A replaced part, an aborted upload, and parts left out of a completion free
//! their chunks.

use md5::{Digest, Md5};
use node_api::model::{
    Checksums, Layout, ListUploads, Manifest, ObjectHeaders, PartLayout, PartRecord, UploadRecord,
    Version,
};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::bucket_access::{acl_asked, object_acl};
use super::conditions::{check_copy_source_version, check_preconditions, copy_precondition_error};
use super::fields::*;
use super::object_ops::{receive_body, BodyTarget, Received};
use super::sse::{self, sse_asked};
use super::sse_c::customer_headers;
use super::tagging::parse_tagging_header;
use super::Gateway;
use crate::checksums::{
    check_announced, checksum_fields, checksum_map, checksum_struct, checksum_type_of,
    multipart_checksums, upload_checksum_type, Verifier,
};
use crate::conditional::{CasError, Outcome, Proposal};
use crate::keyring::{object_extent, CustomerKey};
use crate::objects::{self, Sealer};
use crate::upload_fate::{self, Request, Step};

/// The smallest part AWS accepts, except for the last one.
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// The highest part number.
pub const MAX_PART_NUMBER: i32 = 10_000;

fn no_such_upload() -> s3s::S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn parse_upload_id(id: &str) -> S3Result<Version> {
    hex::decode(id)
        .ok()
        .and_then(|b| Version::from_bytes(&b))
        .ok_or_else(no_such_upload)
}

fn check_part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

/// The upload, if it exists in `bucket` for `key` and has not ended.
async fn active_upload(gw: &Gateway, bucket: &str, key: &str, id: &str) -> S3Result<UploadRecord> {
    let incarnation = gw.bucket(bucket).await?.incarnation;
    let upload_id = parse_upload_id(id)?;
    match gw
        .cluster
        .get_upload(bucket, key, upload_id)
        .await
        .map_err(unavailable)?
    {
        Some(u) if !u.ended && u.incarnation == incarnation => Ok(u),
        _ => Err(no_such_upload()),
    }
}

fn part_layout(
    number: u32,
    version: Version,
    stored: &objects::StoredData,
    checksums: Checksums,
    nonce_base: [u8; 12],
) -> PartLayout {
    let (chunk_size, count) = match stored.layout {
        Layout::Chunked {
            chunk_size, count, ..
        } => (chunk_size, count),
        _ => (0, 0),
    };
    PartLayout {
        number,
        version,
        size: stored.size,
        etag: hex::encode(stored.md5),
        chunk_size,
        count,
        checksums,
        nonce_base: Some(nonce_base),
    }
}

/// Records a stored part with quorum. The chunks of a part it replaced (and of a record
/// that failed) are left to the collector: a completion racing with this re-upload may have
/// listed them, and nothing is freed while it may still be read.
async fn commit_part(gw: &Gateway, upload: &UploadRecord, part: PartRecord) -> S3Result<()> {
    gw.cluster
        .put_part(&upload.bucket, &upload.key, part)
        .await
        .map_err(unavailable)
}

pub(super) async fn create_multipart_upload(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let who = requester(&req);
    let input = req.input;
    validate_key(&input.key)?;
    let customer = gw.customer_key(&req.extensions, customer_headers!(input))?;
    let algorithm = input.checksum_algorithm.as_ref().map(|a| a.as_str());
    let checksum_type =
        upload_checksum_type(algorithm, input.checksum_type.as_ref().map(|t| t.as_str()))?;
    let bucket = gw.bucket(&input.bucket).await?;
    let protection = sse::protection(
        gw,
        &sse_asked!(input),
        customer.as_ref(),
        &bucket,
        &input.key,
    )?;
    let acl = object_acl(gw, &bucket, &who, &acl_asked!(object input))?;
    let incarnation = bucket.incarnation;
    let upload_id = gw.cluster.hlc.version();
    // One data key for the whole upload (each part gets its own nonce base); the metadata is
    // sealed now, so the upload record on the nodes holds ciphertext only.
    let sealing = gw
        .keyring
        .fresh(&protection)
        .map_err(sealed_error)?
        .envelope(
            &input.bucket,
            &input.key,
            upload_id,
            &user_metadata(input.metadata),
        );
    let redirect = website_redirect(input.website_redirect_location.clone())?;
    let record = UploadRecord {
        acl,
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        upload_id,
        version: upload_id,
        ended: false,
        owner: who,
        headers: ObjectHeaders {
            website_redirect: redirect,
            ..object_headers(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires.as_ref(),
            )
        },
        user_metadata: Default::default(),
        checksum_algorithm: algorithm.map(str::to_ascii_uppercase),
        checksum_type: checksum_type.clone(),
        tags: parse_tagging_header(input.tagging.as_deref())?,
        sealing: Some(sealing),
        completed: None,
        step: None,
        incarnation,
    };
    let echo = sse::echo(gw, record.sealing.as_ref(), customer.as_ref());
    gw.cluster.put_upload(record).await.map_err(unavailable)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload_id.to_hex()),
        checksum_algorithm: input.checksum_algorithm,
        checksum_type: checksum_type.map(ChecksumType::from),
        server_side_encryption: echo.server_side_encryption,
        sse_customer_algorithm: echo.sse_customer_algorithm,
        sse_customer_key_md5: echo.sse_customer_key_md5,
        ssekms_key_id: echo.ssekms_key_id,
        ssekms_encryption_context: echo.ssekms_encryption_context,
        bucket_key_enabled: echo.bucket_key_enabled,
        ..Default::default()
    }))
}

/// The sealer of a new part of `upload`: the upload's data key (opened with the request's
/// customer key for an SSE-C upload), a fresh nonce base.
fn part_sealer(
    gw: &Gateway,
    upload: &UploadRecord,
    customer: Option<&CustomerKey>,
    version: Version,
    number: u32,
) -> S3Result<Sealer> {
    let sealing = upload.sealing.as_ref().ok_or_else(|| {
        s3_error!(
            InternalError,
            "This upload was started without encryption; start a new upload."
        )
    })?;
    Ok(Sealer {
        key: gw.open_envelope(sealing, customer)?,
        extent: object_extent(
            &upload.bucket,
            &upload.key,
            version,
            number,
            crate::sealing::random(),
        ),
    })
}

pub(super) async fn upload_part(
    gw: &Gateway,
    req: S3Request<UploadPartInput>,
    body: &mut Option<StreamingBlob>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let S3Request {
        input,
        headers,
        trailing_headers,
        extensions,
        ..
    } = req;
    let number = check_part_number(input.part_number)?;
    let customer = gw.customer_key(&extensions, customer_headers!(input))?;
    let upload = active_upload(gw, &input.bucket, &input.key, &input.upload_id).await?;
    let version = gw.cluster.hlc.version();
    let announced = Checksum {
        checksum_crc32: input.checksum_crc32.clone(),
        checksum_crc32c: input.checksum_crc32c.clone(),
        checksum_crc64nvme: input.checksum_crc64nvme.clone(),
        checksum_sha1: input.checksum_sha1.clone(),
        checksum_sha256: input.checksum_sha256.clone(),
        ..Default::default()
    };
    let sealer = part_sealer(gw, &upload, customer.as_ref(), version, number)?;
    let nonce_base = sealer.extent.nonce_base;
    let Received { stored, checksum } = receive_body(
        gw,
        BodyTarget {
            version,
            part: number,
            inline: false,
            compute: upload.checksum_algorithm.as_deref(),
            sealer,
        },
        body.take(),
        input.content_length,
        input.content_md5.as_deref(),
        announced,
        &headers,
        trailing_headers,
    )
    .await?;
    let layout = part_layout(
        number,
        version,
        &stored,
        checksum_map(&checksum),
        nonce_base,
    );
    let etag = ETag::Strong(layout.etag.clone());
    let part = PartRecord {
        upload_id: upload.upload_id,
        layout,
    };
    commit_part(gw, &upload, part).await?;
    let echo = sse::echo(gw, upload.sealing.as_ref(), customer.as_ref());
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(etag),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        server_side_encryption: echo.server_side_encryption,
        sse_customer_algorithm: echo.sse_customer_algorithm,
        sse_customer_key_md5: echo.sse_customer_key_md5,
        ssekms_key_id: echo.ssekms_key_id,
        bucket_key_enabled: echo.bucket_key_enabled,
        ..Default::default()
    }))
}

/// `bytes=first-last` of `x-amz-copy-source-range`, checked against the source size.
fn copy_source_range(header: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(h) = header else {
        return Ok(0..size);
    };
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = h
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok(first..last.saturating_add(1))
}

pub(super) async fn upload_part_copy(
    gw: &Gateway,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    let number = check_part_number(input.part_number)?;
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
    let upload = active_upload(gw, &input.bucket, &input.key, &input.upload_id).await?;
    gw.bucket(&src_bucket).await?;
    let source = gw.object(&src_bucket, &src_key).await?;
    check_copy_source_version(&input.copy_source, &source)?;
    check_preconditions(
        &source,
        input.copy_source_if_match.as_ref(),
        input.copy_source_if_none_match.as_ref(),
        input.copy_source_if_modified_since.as_ref(),
        input.copy_source_if_unmodified_since.as_ref(),
    )
    .map_err(copy_precondition_error)?;
    let opened = gw.open_object(&source, source_customer.as_ref())?;
    let range = copy_source_range(input.copy_source_range.as_deref(), source.size)?;
    let length = range.end.saturating_sub(range.start);
    if length > objects::MAX_PUT_SIZE {
        return Err(s3_error!(
            InvalidRequest,
            "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"
        ));
    }
    let version = gw.cluster.hlc.version();
    let bytes = objects::read_range(
        gw.cluster.clone(),
        &source,
        opened.key,
        range,
        gw.data.window,
    );
    let mut cfg = gw.data;
    cfg.inline_threshold = 0;
    let mut computed = Verifier::computing(upload.checksum_algorithm.as_deref());
    let sealer = part_sealer(gw, &upload, customer.as_ref(), version, number)?;
    let nonce_base = sealer.extent.nonce_base;
    let stored = objects::store_body(
        &gw.cluster,
        cfg,
        version,
        number,
        sealer,
        Box::pin(bytes),
        Some(length),
        &mut |piece| computed.update(piece),
    )
    .await
    .map_err(put_error)?;
    let layout = part_layout(
        number,
        version,
        &stored,
        checksum_map(&computed.finish(None)?),
        nonce_base,
    );
    let etag = ETag::Strong(layout.etag.clone());
    let part = PartRecord {
        upload_id: upload.upload_id,
        layout,
    };
    commit_part(gw, &upload, part).await?;
    let echo = sse::echo(gw, upload.sealing.as_ref(), customer.as_ref());
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag),
            last_modified: Some(timestamp_secs(version.millis())),
            ..Default::default()
        }),
        server_side_encryption: echo.server_side_encryption,
        sse_customer_algorithm: echo.sse_customer_algorithm,
        sse_customer_key_md5: echo.sse_customer_key_md5,
        ssekms_key_id: echo.ssekms_key_id,
        bucket_key_enabled: echo.bucket_key_enabled,
        ..Default::default()
    }))
}

/// The ETag of a multipart object: the MD5 of the concatenated binary part MD5s, then `-N`.
pub fn multipart_etag(parts: &[PartLayout]) -> String {
    etag_of_parts(parts.iter().map(|p| p.etag.as_str()))
}

/// [`multipart_etag`] of the parts' ETags (hex).
fn etag_of_parts<'a>(etags: impl ExactSizeIterator<Item = &'a str>) -> String {
    let count = etags.len();
    let mut md5 = Md5::new();
    for etag in etags {
        md5.update(hex::decode(etag).unwrap_or_default());
    }
    format!("{}-{}", hex::encode(md5.finalize()), count)
}

/// The ETag the client's part list would give the object, when it names every part's ETag.
fn requested_etag(requested: &[CompletedPart]) -> Option<String> {
    let etags: Option<Vec<&str>> = requested
        .iter()
        .map(|p| p.e_tag.as_ref().map(|t| t.value().trim_matches('"')))
        .collect();
    etags.map(|e| etag_of_parts(e.into_iter()))
}

/// Matches the client's part list against the stored parts under AWS's rules.
fn assemble(requested: &[CompletedPart], stored: &[PartRecord]) -> S3Result<Vec<PartLayout>> {
    if requested.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let mut out: Vec<PartLayout> = Vec::with_capacity(requested.len());
    let invalid_part = || {
        s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        )
    };
    // AWS checks the order of the whole list first, then each part, then the sizes.
    let numbers: Vec<i32> = requested
        .iter()
        .map(|p| p.part_number.ok_or_else(invalid_part))
        .collect::<S3Result<_>>()?;
    if numbers.windows(2).any(|w| matches!(w, [a, b] if b <= a)) {
        return Err(s3_error!(
            InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        ));
    }
    for (want, number) in requested.iter().zip(numbers) {
        let number = check_part_number(number).map_err(|_| invalid_part())?;
        let part = stored
            .iter()
            .find(|p| p.layout.number == number)
            .ok_or_else(invalid_part)?;
        if let Some(tag) = &want.e_tag {
            if tag.value().trim_matches('"') != part.layout.etag {
                return Err(invalid_part());
            }
        }
        for (alg, value) in checksum_fields(want) {
            if part.layout.checksums.get(alg).is_some_and(|v| v != value) {
                return Err(invalid_part());
            }
        }
        out.push(part.layout.clone());
    }
    let all_but_last = out.split_last().map_or(&[][..], |(_, rest)| rest);
    if all_but_last.iter().any(|p| p.size < MIN_PART_SIZE) {
        return Err(s3_error!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size."
        ));
    }
    Ok(out)
}

pub(super) async fn complete_multipart_upload(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let customer = gw.customer_key(&req.extensions, customer_headers!(input))?;
    let bucket = gw.bucket(&input.bucket).await?;
    let incarnation = bucket.incarnation;
    let upload_id = parse_upload_id(&input.upload_id)?;
    let upload = gw
        .cluster
        .get_upload(&input.bucket, &input.key, upload_id)
        .await
        .map_err(unavailable)?
        .filter(|u| u.incarnation == incarnation)
        .ok_or_else(no_such_upload)?;
    // The key is optional here; one that is given must be the upload's.
    if let (Some(c), Some(s)) = (&customer, &upload.sealing) {
        gw.open_envelope(s, Some(c))?;
    }
    let echo = sse::echo(gw, upload.sealing.as_ref(), customer.as_ref());
    let requested = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.clone())
        .unwrap_or_default();
    let origin = gw.cluster.hlc.version();
    // The object, when the upload looks active; an ended one may be completed by these very
    // parts already (a repeated completion), which the agreed state tells.
    let object = if upload.ended {
        None
    } else {
        Some(completed_object(gw, &upload, &input, &requested, origin).await?)
    };
    let etag_wanted = match &object {
        Some(m) => Some(m.etag.clone()),
        None => requested_etag(&requested),
    };
    let Some(etag_wanted) = etag_wanted else {
        return Err(no_such_upload());
    };
    // The bucket's quota, checked before the object is committed.
    let hold = match &object {
        Some(m) => Some(
            gw.usage
                .reserve(&gw.cluster, &bucket, m.size)
                .await
                .map_err(quota_error)?,
        ),
        None => None,
    };
    let request = Request::Complete {
        origin,
        etag: etag_wanted.clone(),
    };
    let mut stale = false;
    let outcome = gw
        .cluster
        .agree_steps(
            &input.bucket,
            &input.key,
            origin,
            Some(upload_id),
            Vec::new(),
            |current, state| {
                match (
                    upload_fate::step(state, &request, incarnation),
                    &object,
                    state,
                ) {
                    (Step::Take(fate), Some(m), Some(u)) => {
                        if let Some(c) = &condition {
                            c.check(current.filter(|c| c.incarnation == incarnation))?;
                        }
                        Ok(Some(Proposal {
                            manifest: Some(m.clone()),
                            upload: Some(upload_fate::ended(u, &fate, origin)),
                        }))
                    }
                    (Step::Take(_), _, _) => {
                        // Active after all (the ended state read was not decided): try again.
                        stale = true;
                        Ok(None)
                    }
                    (Step::Done | Step::Repeated, _, _) => Ok(None),
                    (Step::Gone, _, _) => Err(CasError::NoSuchUpload),
                }
            },
        )
        .await
        .map_err(cas_error)?;
    if stale {
        return Err(s3_error!(
            ServiceUnavailable,
            "The upload changed state while it was being completed. Please try again."
        ));
    }
    // The upload is ended: its part records go; chunks no object uses are orphans for the
    // collector.
    gw.cluster
        .drop_parts(&upload.bucket, &upload.key, upload.upload_id);
    let written = match outcome {
        Outcome::Written(p) => object.filter(|_| p.upload.is_some()),
        Outcome::Kept => None,
    };
    if let (Some(hold), Some(_)) = (hold, &written) {
        hold.commit();
    }
    let (sums, checksum_type) = match &written {
        Some(m) => (
            checksum_struct(&m.checksums),
            checksum_type_of(&m.checksums).map(ChecksumType::from_static),
        ),
        None => (Checksum::default(), None),
    };
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        e_tag: Some(ETag::Strong(etag_wanted)),
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        checksum_type,
        // AWS's response has no SSE-C fields; an SSE-C object has no `AES256` either.
        server_side_encryption: echo.server_side_encryption,
        ssekms_key_id: echo.ssekms_key_id,
        bucket_key_enabled: echo.bucket_key_enabled,
        ..Default::default()
    }))
}

/// The manifest completing `upload` with the requested parts (AWS's checks on the part list,
/// the checksum mode and the announced checksums), its bytes' version `version`.
async fn completed_object(
    gw: &Gateway,
    upload: &UploadRecord,
    input: &CompleteMultipartUploadInput,
    requested: &[CompletedPart],
    version: Version,
) -> S3Result<Manifest> {
    let stored = gw
        .cluster
        .list_parts(&upload.bucket, &upload.key, upload.upload_id)
        .await
        .map_err(unavailable)?;
    let parts = assemble(requested, &stored)?;
    if let Some(t) = &input.checksum_type {
        if Some(t.as_str()) != upload.checksum_type.as_deref() {
            return Err(s3_error!(
                InvalidRequest,
                "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                upload.checksum_type.as_deref().unwrap_or("default")
            ));
        }
    }
    let checksums = multipart_checksums(
        upload.checksum_algorithm.as_deref(),
        upload.checksum_type.as_deref(),
        &parts,
    )?;
    let announced = Checksum {
        checksum_crc32: input.checksum_crc32.clone(),
        checksum_crc32c: input.checksum_crc32c.clone(),
        checksum_crc64nvme: input.checksum_crc64nvme.clone(),
        checksum_sha1: input.checksum_sha1.clone(),
        checksum_sha256: input.checksum_sha256.clone(),
        ..Default::default()
    };
    check_announced(&announced, &checksums)?;
    let manifest = Manifest {
        acl: upload.acl.clone(),
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        version,
        deleted: false,
        size: parts.iter().map(|p| p.size).sum(),
        etag: multipart_etag(&parts),
        headers: upload.headers.clone(),
        user_metadata: upload.user_metadata.clone(),
        layout: Layout::Parts(parts),
        incarnation: upload.incarnation,
        origin: None,
        checksums,
        tags: upload.tags.clone(),
        modified_ms: None,
        sealing: upload.sealing.clone(),
    };
    if let Some(want) = input.mpu_object_size {
        if want < 0 || want as u64 != manifest.size {
            return Err(s3_error!(
                InvalidRequest,
                "The provided x-amz-mp-object-size does not match the object's size"
            ));
        }
    }
    Ok(manifest)
}

pub(super) async fn abort_multipart_upload(
    gw: &Gateway,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    let incarnation = gw.bucket(&input.bucket).await?.incarnation;
    let upload_id = parse_upload_id(&input.upload_id)?;
    let origin = gw.cluster.hlc.version();
    let request = Request::Abort { origin };
    gw.cluster
        .agree_steps(
            &input.bucket,
            &input.key,
            origin,
            Some(upload_id),
            Vec::new(),
            |_, state| match (upload_fate::step(state, &request, incarnation), state) {
                (Step::Take(fate), Some(u)) => Ok(Some(Proposal {
                    manifest: None,
                    upload: Some(upload_fate::ended(u, &fate, origin)),
                })),
                (Step::Done, _) => Ok(None),
                _ => Err(CasError::NoSuchUpload),
            },
        )
        .await
        .map_err(cas_error)?;
    // The parts' chunks go with the collector, never at once: a completion that lost this
    // race may still be reading them, and nothing is freed while it may be read.
    gw.cluster.drop_parts(&input.bucket, &input.key, upload_id);
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub(super) async fn list_parts(
    gw: &Gateway,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let upload = active_upload(gw, &input.bucket, &input.key, &input.upload_id).await?;
    let max = match input.max_parts {
        None => 1000,
        Some(n) if n < 0 => {
            return Err(s3_error!(
                InvalidArgument,
                "max-parts must be a non-negative integer"
            ))
        }
        Some(n) => (n as usize).min(1000),
    };
    let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
    let all = gw
        .cluster
        .list_parts(&upload.bucket, &upload.key, upload.upload_id)
        .await
        .map_err(unavailable)?;
    let after: Vec<&PartRecord> = all.iter().filter(|p| p.layout.number > marker).collect();
    let page = after.get(..max).unwrap_or(&after);
    let truncated = after.len() > page.len();
    let parts = page
        .iter()
        .map(|p| {
            let c = crate::checksums::checksum_struct(&p.layout.checksums);
            Part {
                part_number: Some(p.layout.number as i32),
                e_tag: Some(ETag::Strong(p.layout.etag.clone())),
                size: Some(p.layout.size as i64),
                last_modified: Some(timestamp_secs(p.layout.version.millis())),
                checksum_crc32: c.checksum_crc32,
                checksum_crc32c: c.checksum_crc32c,
                checksum_crc64nvme: c.checksum_crc64nvme,
                checksum_sha1: c.checksum_sha1,
                checksum_sha256: c.checksum_sha256,
            }
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: page.last().map(|p| p.layout.number as i32),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(parts),
        initiator: Some(initiator(gw, &upload.owner)),
        owner: Some(owner(gw, &upload.owner)),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_algorithm: upload
            .checksum_algorithm
            .as_deref()
            .map(|a| ChecksumAlgorithm::from(a.to_string())),
        checksum_type: upload.checksum_type.map(ChecksumType::from),
        ..Default::default()
    }))
}

fn initiator(gw: &Gateway, access_key: &str) -> Initiator {
    let owner = owner(gw, access_key);
    Initiator {
        id: owner.id,
        display_name: owner.display_name,
    }
}

pub(super) async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    let incarnation = gw.bucket(&input.bucket).await?.incarnation;
    let max = match input.max_uploads {
        None => 1000,
        Some(n) if n < 0 => {
            return Err(s3_error!(
                InvalidArgument,
                "max-uploads must be a non-negative integer"
            ))
        }
        Some(n) => (n as usize).min(1000),
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let key_marker = input.key_marker.clone().unwrap_or_default();
    // AWS ignores the upload-id marker without a key marker.
    let id_marker = match (&input.upload_id_marker, key_marker.is_empty()) {
        (Some(id), false) => Some(
            parse_upload_id(id)
                .map_err(|_| s3_error!(InvalidArgument, "Invalid uploadId marker"))?,
        ),
        _ => None,
    };
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let url = super::list_ops::url_encoded(&input.encoding_type)?;
    let enc = |s: String| {
        if url {
            super::list_ops::url_encode(&s)
        } else {
            s
        }
    };
    let mut uploads = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut next: Option<(String, Version)> = None;
    let mut truncated = false;
    let mut cursor = (key_marker.clone(), id_marker);
    // Pages of the merged listing until `max` entries (uploads + common prefixes) are found.
    'pages: loop {
        if max == 0 {
            break;
        }
        let page = gw
            .cluster
            .list_uploads(ListUploads {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                key_marker: cursor.0.clone(),
                upload_id_marker: cursor.1,
                limit: 1000,
            })
            .await
            .map_err(unavailable)?;
        // Uploads of an earlier bucket of this name are not this bucket's.
        for u in page
            .uploads
            .into_iter()
            .filter(|u| u.incarnation == incarnation)
        {
            if uploads.len().saturating_add(prefixes.len()) == max {
                truncated = true;
                break 'pages;
            }
            let folded = delimiter.as_ref().and_then(|d| {
                u.key[prefix.len()..].find(d.as_str()).map(|i| {
                    u.key[..prefix.len().saturating_add(i).saturating_add(d.len())].to_string()
                })
            });
            next = Some((u.key.clone(), u.upload_id));
            match folded {
                Some(p) => {
                    if prefixes.last() != Some(&p) {
                        prefixes.push(p);
                    }
                }
                None => uploads.push(u),
            }
        }
        match page.next {
            Some(resume) => cursor = (resume.0, Some(resume.1)),
            None => break,
        }
    }
    if !truncated {
        next = None;
    }
    let listed = uploads
        .into_iter()
        .map(|u| MultipartUpload {
            key: Some(enc(u.key)),
            upload_id: Some(u.upload_id.to_hex()),
            initiated: Some(timestamp_secs(u.upload_id.millis())),
            initiator: Some(initiator(gw, &u.owner)),
            owner: Some(owner(gw, &u.owner)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
            checksum_type: u.checksum_type.map(ChecksumType::from),
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix.map(enc),
        delimiter: delimiter.map(enc),
        key_marker: input.key_marker.map(enc),
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker: next.as_ref().map(|n| enc(n.0.clone())),
        next_upload_id_marker: next.as_ref().map(|n| n.1.to_hex()),
        uploads: Some(listed),
        common_prefixes: Some(
            prefixes
                .into_iter()
                .map(|p| CommonPrefix {
                    prefix: Some(enc(p)),
                })
                .collect(),
        ),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fuzz target of `x-amz-copy-source-range` and upload ids: any text and source size
        /// give a range inside the source or an error.
        #[test]
        fn fuzz_copy_source_range_and_upload_ids(
            text in prop_oneof!["\\PC{0,40}", "bytes=[0-9]{0,21}-[0-9]{0,21}"],
            size in prop_oneof![any::<u64>(), 0u64..100, Just(u64::MAX)],
        ) {
            if let Ok(range) = copy_source_range(Some(&text), size) {
                prop_assert!(range.start < range.end && range.end <= size);
            }
            let _ = parse_upload_id(&text);
        }
    }

    #[test]
    fn copy_source_ranges_at_the_edges() {
        assert_eq!(copy_source_range(Some("bytes=0-0"), 1).unwrap(), 0..1);
        assert!(copy_source_range(Some("bytes=0-0"), 0).is_err());
        let last = u64::MAX - 1;
        assert_eq!(
            copy_source_range(Some(&format!("bytes={last}-{last}")), u64::MAX).unwrap(),
            last..u64::MAX
        );
        assert!(copy_source_range(
            Some("bytes=18446744073709551615-18446744073709551615"),
            u64::MAX
        )
        .is_err());
        assert!(copy_source_range(Some("bytes=-5"), 10).is_err());
    }
}
