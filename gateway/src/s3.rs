//! The S3 API: the `s3s::S3` trait implemented over the cluster.
//!
//! Each method validates the request, checks the bucket, and delegates to [`Cluster`] (metadata
//! with quorums) and [`crate::objects`] (object bytes). Errors are S3 errors with AWS's codes.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use futures::stream::{self, StreamExt};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use storage_node::model::{BucketRecord, Manifest, ObjectHeaders};

use crate::checksums::Verifier;
use crate::cluster::{Cluster, ClusterError};
use crate::listing::{self, Item, ListQuery};
use crate::objects::{self, DataConfig, PutError, StoredData};

/// The S3 front end of the cluster.
pub struct Gateway {
    pub cluster: Arc<Cluster>,
    pub data: DataConfig,
    pub region: String,
}

fn unavailable(e: ClusterError) -> S3Error {
    tracing::warn!("{e}");
    S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
}

fn put_error(e: PutError) -> S3Error {
    match e {
        PutError::Body(m) => S3Error::with_message(S3ErrorCode::IncompleteBody, m),
        PutError::LengthMismatch { .. } => {
            S3Error::with_message(S3ErrorCode::IncompleteBody, e.to_string())
        }
        PutError::TooLarge => S3Error::with_message(
            S3ErrorCode::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size.",
        ),
        PutError::Cluster(c) => unavailable(c),
    }
}

fn timestamp_ms(ms: u64) -> Timestamp {
    Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// Last-Modified has second precision in HTTP; comparisons use it too.
fn last_modified(m: &Manifest) -> Timestamp {
    timestamp_ms(m.version.millis() / 1000 * 1000)
}

fn etag_of(m: &Manifest) -> ETag {
    ETag::Strong(m.etag.clone())
}

fn http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

fn parse_http_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s).ok()
}

fn owner(id: &str) -> Owner {
    Owner {
        display_name: Some(id.to_string()),
        id: Some(id.to_string()),
    }
}

fn requester<T>(req: &S3Request<T>) -> String {
    req.credentials
        .as_ref()
        .map(|c| c.access_key.clone())
        .unwrap_or_default()
}

fn matches(cond: &ETagCondition, m: &Manifest) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == m.etag,
    }
}

fn seconds(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// Evaluates GET/HEAD preconditions in the order RFC 9110 and S3 use.
fn check_preconditions(
    m: &Manifest,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = seconds(&last_modified(m));
    if let Some(c) = if_match {
        if !matches(c, m) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    } else if let Some(t) = if_unmodified_since {
        if modified > seconds(t) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    if let Some(c) = if_none_match {
        if matches(c, m) {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
    } else if let Some(t) = if_modified_since {
        if modified <= seconds(t) {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
    }
    Ok(())
}

fn check_content_md5(header: Option<&str>, md5: &[u8; 16]) -> S3Result<()> {
    let Some(header) = header else { return Ok(()) };
    let expected = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()
        .filter(|d| d.len() == 16)
        .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid."))?;
    if expected != md5 {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        ));
    }
    Ok(())
}

fn validate_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "Object key must not be empty"));
    }
    if key.len() > 1024 {
        return Err(s3_error!(KeyTooLongError, "Your key is too long"));
    }
    Ok(())
}

/// Keys, prefixes and markers in a listing with `encoding-type=url`.
fn url_encode(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

fn max_keys(v: Option<i32>) -> S3Result<usize> {
    match v {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "max-keys must be a non-negative integer"
        )),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

impl Gateway {
    async fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
        match self.cluster.get_bucket(name).await.map_err(unavailable)? {
            Some(b) if !b.deleted => Ok(b),
            _ => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            )),
        }
    }

    async fn object(&self, bucket: &str, key: &str) -> S3Result<Manifest> {
        match self
            .cluster
            .get_manifest(bucket, key)
            .await
            .map_err(unavailable)?
        {
            Some(m) if !m.deleted => Ok(m),
            _ => Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
        }
    }

    /// Writes a tombstone unless the key is already absent.
    async fn delete_key(&self, bucket: &str, key: &str) -> S3Result<()> {
        if self
            .cluster
            .get_manifest(bucket, key)
            .await
            .map_err(unavailable)?
            .is_none_or(|m| m.deleted)
        {
            return Ok(());
        }
        let version = self.cluster.hlc.version();
        self.cluster
            .put_manifest(Manifest::tombstone(bucket, key, version))
            .await
            .map_err(unavailable)
    }

    async fn list(&self, q: ListQuery) -> S3Result<listing::Page> {
        if q.max == 0 {
            return Ok(listing::Page::default());
        }
        listing::list(&self.cluster, &q).await.map_err(unavailable)
    }
}

struct ListedPage {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    count: usize,
}

fn render_page(page: &listing::Page, url: bool, owner_id: Option<&str>) -> ListedPage {
    let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for item in &page.items {
        match item {
            Item::Object(e) => contents.push(Object {
                key: Some(enc(&e.key)),
                e_tag: Some(ETag::Strong(e.etag.clone())),
                last_modified: Some(timestamp_ms(e.version.millis() / 1000 * 1000)),
                size: Some(e.size as i64),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                owner: owner_id.map(owner),
                ..Default::default()
            }),
            Item::CommonPrefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc(p)),
            }),
        }
    }
    ListedPage {
        count: contents.len() + prefixes.len(),
        contents,
        prefixes,
    }
}

fn object_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
) -> ObjectHeaders {
    ObjectHeaders {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires: expires.and_then(http_date),
    }
}

fn user_metadata(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect()
    })
    .unwrap_or_default()
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let who = requester(&req);
        let input = req.input;
        if let Some(c) = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
        {
            let wanted = c.as_str();
            if !wanted.is_empty() && wanted != self.region {
                return Err(s3_error!(
                    IllegalLocationConstraintException,
                    "The {} location constraint is incompatible for the region specific endpoint this request was sent to.",
                    wanted
                ));
            }
        }
        if let Some(existing) = self
            .cluster
            .get_bucket(&input.bucket)
            .await
            .map_err(unavailable)?
        {
            if !existing.deleted {
                return Err(if existing.owner == who {
                    s3_error!(BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
                } else {
                    s3_error!(
                        BucketAlreadyExists,
                        "The requested bucket name is not available."
                    )
                });
            }
        }
        let record = BucketRecord {
            name: input.bucket.clone(),
            version: self.cluster.hlc.version(),
            deleted: false,
            owner: who,
            region: self.region.clone(),
        };
        self.cluster.put_bucket(record).await.map_err(unavailable)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let mut record = self.bucket(&req.input.bucket).await?;
        let page = self
            .list(ListQuery {
                bucket: record.name.clone(),
                max: 1,
                ..Default::default()
            })
            .await?;
        if !page.items.is_empty() {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        record.deleted = true;
        record.version = self.cluster.hlc.version();
        self.cluster.put_bucket(record).await.map_err(unavailable)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let record = self.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(record.region),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let who = requester(&req);
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let buckets = self
            .cluster
            .list_buckets()
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp_ms(b.version.millis() / 1000 * 1000)),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner(&who)),
            prefix: req.input.prefix,
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let record = self.bucket(&req.input.bucket).await?;
        let location =
            (record.region != "us-east-1").then(|| BucketLocationConstraint::from(record.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: location,
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let S3Request {
            input,
            headers: request_headers,
            trailing_headers,
            ..
        } = req;
        validate_key(&input.key)?;
        if let Some(sse) = &input.server_side_encryption {
            if sse.as_str() != ServerSideEncryption::AES256 {
                return Err(s3_error!(
                    NotImplemented,
                    "Server-side encryption {} is not supported",
                    sse.as_str()
                ));
            }
        }
        self.bucket(&input.bucket).await?;
        let version = self.cluster.hlc.version();
        let expected = input.content_length.map(|l| l.max(0) as u64);
        let body = input
            .body
            .map(|b| b.boxed())
            .unwrap_or_else(|| stream::empty().boxed());
        let announced = Checksum {
            checksum_crc32: input.checksum_crc32.clone(),
            checksum_crc32c: input.checksum_crc32c.clone(),
            checksum_crc64nvme: input.checksum_crc64nvme.clone(),
            checksum_sha1: input.checksum_sha1.clone(),
            checksum_sha256: input.checksum_sha256.clone(),
            ..Default::default()
        };
        let mut verifier = Verifier::new(announced, &request_headers);
        let stored: StoredData = objects::store_body(
            &self.cluster,
            self.data,
            version,
            body,
            expected,
            &mut |piece| verifier.update(piece),
        )
        .await
        .map_err(put_error)?;
        self.cluster.metrics.bytes_in.inc_by(stored.size);
        let verified = check_content_md5(input.content_md5.as_deref(), &stored.md5)
            .and_then(|()| verifier.finish(trailing_headers.and_then(|t| t.take())));
        let checksum = match verified {
            Ok(c) => c,
            Err(e) => {
                self.cluster.delete_chunks(
                    Manifest {
                        layout: stored.layout,
                        ..Manifest::tombstone("", "", version)
                    }
                    .chunk_ids(),
                );
                return Err(e);
            }
        };
        let headers = object_headers(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires.as_ref(),
        );
        let manifest = objects::new_manifest(
            &input.bucket,
            &input.key,
            version,
            stored,
            headers,
            user_metadata(input.metadata),
        );
        let etag = etag_of(&manifest);
        let chunks = manifest.chunk_ids();
        if let Err(e) = self.cluster.put_manifest(manifest).await {
            self.cluster.delete_chunks(chunks);
            return Err(unavailable(e));
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (bucket, manifest) = tokio::join!(
            self.bucket(&input.bucket),
            self.object(&input.bucket, &input.key)
        );
        bucket?;
        let m = manifest?;
        if input
            .version_id
            .as_deref()
            .is_some_and(|v| v != m.version.to_hex() && v != "null")
        {
            return Err(s3_error!(
                NoSuchVersion,
                "The specified version does not exist."
            ));
        }
        check_preconditions(
            &m,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let (range, content_range) = match &input.range {
            None => (0..m.size, None),
            Some(r) => {
                let checked = r.check(m.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let cr = format!("bytes {}-{}/{}", checked.start, checked.end - 1, m.size);
                (checked, Some(cr))
            }
        };
        let length = range.end - range.start;
        self.cluster.metrics.bytes_out.inc_by(length);
        let body = objects::read_range(self.cluster.clone(), &m, range, self.data.window);
        let h = &m.headers;
        let output = GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some(length as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag_of(&m)),
            last_modified: Some(last_modified(&m)),
            content_type: input
                .response_content_type
                .or_else(|| h.content_type.clone()),
            content_encoding: input
                .response_content_encoding
                .or_else(|| h.content_encoding.clone()),
            content_disposition: input
                .response_content_disposition
                .or_else(|| h.content_disposition.clone()),
            content_language: input
                .response_content_language
                .or_else(|| h.content_language.clone()),
            cache_control: input
                .response_cache_control
                .or_else(|| h.cache_control.clone()),
            expires: input
                .response_expires
                .or_else(|| h.expires.as_deref().and_then(parse_http_date)),
            metadata: Some(m.user_metadata.clone().into_iter().collect()),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (bucket, manifest) = tokio::join!(
            self.bucket(&input.bucket),
            self.object(&input.bucket, &input.key)
        );
        bucket?;
        let m = manifest?;
        if input
            .version_id
            .as_deref()
            .is_some_and(|v| v != m.version.to_hex() && v != "null")
        {
            return Err(s3_error!(
                NoSuchVersion,
                "The specified version does not exist."
            ));
        }
        check_preconditions(
            &m,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let (length, content_range) = match &input.range {
            None => (m.size, None),
            Some(r) => {
                let checked = r.check(m.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let cr = format!("bytes {}-{}/{}", checked.start, checked.end - 1, m.size);
                (checked.end - checked.start, Some(cr))
            }
        };
        let h = &m.headers;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(length as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag_of(&m)),
            last_modified: Some(last_modified(&m)),
            content_type: input
                .response_content_type
                .or_else(|| h.content_type.clone()),
            content_encoding: input
                .response_content_encoding
                .or_else(|| h.content_encoding.clone()),
            content_disposition: input
                .response_content_disposition
                .or_else(|| h.content_disposition.clone()),
            content_language: input
                .response_content_language
                .or_else(|| h.content_language.clone()),
            cache_control: input
                .response_cache_control
                .or_else(|| h.cache_control.clone()),
            expires: input
                .response_expires
                .or_else(|| h.expires.as_deref().and_then(parse_http_date)),
            metadata: Some(m.user_metadata.clone().into_iter().collect()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        self.delete_key(&input.bucket, &input.key).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "A DeleteObjects request may name at most 1000 keys"
            ));
        }
        self.bucket(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let bucket = input.bucket.clone();
        let results: Vec<(String, S3Result<()>)> = stream::iter(input.delete.objects)
            .map(|o| {
                let bucket = bucket.clone();
                async move {
                    let r = self.delete_key(&bucket, &o.key).await;
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

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        validate_key(&input.key)?;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Only bucket copy sources are supported"
                ))
            }
        };
        self.bucket(&input.bucket).await?;
        self.bucket(&src_bucket).await?;
        let source = self.object(&src_bucket, &src_key).await?;
        if let CopySource::Bucket {
            version_id: Some(v),
            ..
        } = &input.copy_source
        {
            if **v != *source.version.to_hex() && &**v != "null" {
                return Err(s3_error!(
                    NoSuchVersion,
                    "The specified version does not exist."
                ));
            }
        }
        let precondition = check_preconditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        );
        if let Err(e) = precondition {
            // CopyObject reports every failed copy-source condition as 412.
            return Err(if *e.code() == S3ErrorCode::NotModified {
                s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                )
            } else {
                e
            });
        }
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if src_bucket == input.bucket && src_key == input.key && !replace {
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
            (source.headers.clone(), source.user_metadata.clone())
        };
        let version = self.cluster.hlc.version();
        let bytes = objects::read_range(
            self.cluster.clone(),
            &source,
            0..source.size,
            self.data.window,
        );
        let stored = objects::store_body(
            &self.cluster,
            self.data,
            version,
            Box::pin(bytes),
            Some(source.size),
            &mut |_| {},
        )
        .await
        .map_err(put_error)?;
        let manifest = objects::new_manifest(
            &input.bucket,
            &input.key,
            version,
            stored,
            headers,
            metadata,
        );
        let result = CopyObjectResult {
            e_tag: Some(etag_of(&manifest)),
            last_modified: Some(last_modified(&manifest)),
            ..Default::default()
        };
        let chunks = manifest.chunk_ids();
        if let Err(e) = self.cluster.put_manifest(manifest).await {
            self.cluster.delete_chunks(chunks);
            return Err(unavailable(e));
        }
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let record = self.bucket(&input.bucket).await?;
        let max = max_keys(input.max_keys)?;
        let start_after = match &input.continuation_token {
            Some(token) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?,
            None => input.start_after.clone().unwrap_or_default().into_bytes(),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .list(ListQuery {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: input.delimiter.clone(),
                start_after,
                max,
            })
            .await?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        let listed = render_page(&page, url, fetch_owner.then_some(record.owner.as_str()));
        let enc = |s: String| if url { url_encode(&s) } else { s };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            delimiter: input.delimiter.map(enc),
            max_keys: Some(max as i32),
            key_count: Some(listed.count as i32),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.truncated.then(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&page.resume_after)
            }),
            start_after: input.start_after.map(enc),
            contents: Some(listed.contents),
            common_prefixes: Some(listed.prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let record = self.bucket(&input.bucket).await?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .list(ListQuery {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: input.delimiter.clone(),
                start_after: input.marker.clone().unwrap_or_default().into_bytes(),
                max,
            })
            .await?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let listed = render_page(&page, url, Some(record.owner.as_str()));
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
}
