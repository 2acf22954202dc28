//! Conversions between the stored records and the S3 wire types: timestamps, ETags, owners,
//! object headers and user metadata, and the mapping of internal errors to S3 errors.

use std::collections::BTreeMap;

use node_api::model::{Manifest, ObjectHeaders};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Result};

use crate::cluster::ClusterError;
use crate::conditional::{CasError, Condition};
use crate::keyring::KeyError;
use crate::objects::PutError;
use crate::s3::Gateway;

/// 404 NoSuchBucket, for every path that finds no bucket (the S3 layer and the access check).
pub(crate) fn no_such_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

pub(crate) fn unavailable(e: ClusterError) -> S3Error {
    tracing::warn!("{e}");
    S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
}

/// An object whose envelope does not open: its master key was removed from the configuration,
/// or the envelope was tampered with. Never served as data.
/// SSE-C key mismatches are the client's (and answered as AWS answers them).
pub(super) fn sealed_error(e: KeyError) -> S3Error {
    match e {
        KeyError::CustomerKeyMissing => S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        ),
        KeyError::CustomerKeyWrong => S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "The provided encryption parameters did not match the ones used originally.",
        ),
        KeyError::CustomerKeyNotApplicable => S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The encryption parameters are not applicable to this object.",
        ),
        KeyError::Provider(_) => {
            tracing::error!("{e}");
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "The KMS key provider is unavailable; try again.",
            )
        }
        KeyError::UnknownKey(_) | KeyError::UnknownFormat(_) | KeyError::Corrupt(_) => {
            tracing::error!("{e}");
            S3Error::with_message(
                S3ErrorCode::InternalError,
                "The object's encryption key is not available to this gateway.",
            )
        }
    }
}

/// An error with the HTTP status AWS gives it (for codes `s3s` knows with another status, or
/// not at all).
pub(super) fn error_with_status(
    code: &str,
    message: impl Into<std::borrow::Cow<'static, str>>,
    status: http::StatusCode,
) -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(S3ErrorCode::InternalError),
        message,
    );
    e.set_status_code(status);
    e
}

/// A write the bucket's quota refuses: 403 `QuotaExceeded` saying which limit.
pub(super) fn quota_error(e: crate::quota::QuotaError) -> S3Error {
    match e {
        crate::quota::QuotaError::Unavailable(_) => {
            S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
        }
        _ => error_with_status("QuotaExceeded", e.to_string(), http::StatusCode::FORBIDDEN),
    }
}

pub(super) fn put_error(e: PutError) -> S3Error {
    match e {
        // A chunk or trailer of an aws-chunked body whose signature does not verify is a forged
        // request, as AWS answers it; other body errors mean it ended early or was malformed.
        PutError::Body(m) if m.contains("SignatureMismatch") => S3Error::with_message(
            S3ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided.",
        ),
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

/// The whole second of `ms` milliseconds since the Unix epoch: S3 answers times (and HTTP
/// compares them) with second precision.
pub(super) fn timestamp_secs(ms: u64) -> Timestamp {
    let at = std::time::Duration::from_secs(ms / 1000);
    Timestamp::from(
        std::time::UNIX_EPOCH
            .checked_add(at)
            .unwrap_or(std::time::UNIX_EPOCH),
    )
}

/// Last-Modified has second precision in HTTP; comparisons use it too.
pub(super) fn last_modified(m: &Manifest) -> Timestamp {
    timestamp_secs(m.modified_ms.unwrap_or(m.version.millis()))
}

pub(super) fn etag_of(m: &Manifest) -> ETag {
    ETag::Strong(m.etag.clone())
}

pub(super) fn http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

pub(super) fn parse_http_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s).ok()
}

/// The owner of a bucket, object or upload made by `access_key`, as S3 shows it: its
/// canonical user id (`Cluster::canonical_user_id`: opaque, never the key id, which anonymous
/// readers of a public bucket would otherwise learn) and no display name (AWS no longer
/// returns one).
pub(super) fn owner(gw: &Gateway, access_key: &str) -> Owner {
    Owner {
        display_name: None,
        id: Some(gw.cluster.canonical_user_id(access_key)),
    }
}

pub(super) fn requester<T>(req: &S3Request<T>) -> String {
    req.credentials
        .as_ref()
        .map(|c| c.access_key.clone())
        .unwrap_or_default()
}

pub(super) fn validate_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "Object key must not be empty"));
    }
    if key.len() > 1024 {
        return Err(s3_error!(KeyTooLongError, "Your key is too long"));
    }
    Ok(())
}

pub(super) fn object_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
) -> ObjectHeaders {
    ObjectHeaders {
        content_type,
        content_encoding: content_encoding.and_then(|e| without_aws_chunked(&e)),
        content_disposition,
        content_language,
        cache_control,
        expires: expires.and_then(http_date),
        website_redirect: None,
    }
}

/// An `x-amz-website-redirect-location` value: a path in the bucket (`/…`) or an `http://` or
/// `https://` URL, at most 2 KiB, as S3 accepts it.
pub(super) fn website_redirect(value: Option<String>) -> S3Result<Option<String>> {
    match value {
        Some(v)
            if !(v.starts_with('/') || v.starts_with("http://") || v.starts_with("https://"))
                || v.len() > 2048 =>
        {
            Err(s3_error!(
                InvalidArgument,
                "The website redirect location must have a prefix of 'http://' or 'https://' or '/'."
            ))
        }
        v => Ok(v),
    }
}

/// `aws-chunked` in Content-Encoding describes the request's framing, not the object: AWS drops
/// it and stores what remains (`aws-chunked,gzip` is stored as `gzip`, `aws-chunked` as nothing).
/// A value without it is stored exactly as sent (`deflate, gzip` keeps its space).
fn without_aws_chunked(encoding: &str) -> Option<String> {
    let framing = |e: &str| e.trim().eq_ignore_ascii_case("aws-chunked");
    if !encoding.split(',').any(framing) {
        return (!encoding.trim().is_empty()).then(|| encoding.to_string());
    }
    let rest: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !framing(e))
        .collect();
    (!rest.is_empty()).then(|| rest.join(","))
}

pub(super) fn user_metadata(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect()
    })
    .unwrap_or_default()
}

/// The condition of a PUT or CompleteMultipartUpload (`If-None-Match: *`, `If-Match`).
pub(super) fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<Option<Condition>> {
    match (if_match, if_none_match) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(s3_error!(
            NotImplemented,
            "If-Match and If-None-Match cannot be combined on a write"
        )),
        (None, Some(ETagCondition::Any)) => Ok(Some(Condition::Absent)),
        (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
            NotImplemented,
            "If-None-Match on a write supports only *"
        )),
        (Some(ETagCondition::Any), None) => Ok(Some(Condition::Matches(None))),
        (Some(ETagCondition::ETag(tag)), None) => Ok(Some(Condition::Matches(Some(
            tag.value().trim_matches('"').to_string(),
        )))),
    }
}

/// Makes `manifest` the key's current version: a plain write, or agreed with the key's owners
/// when the request has a condition. A failure leaves the bytes to the collector (an attempt
/// may have landed on some owners).
pub(super) async fn commit_manifest(
    cluster: &std::sync::Arc<crate::cluster::Cluster>,
    manifest: Manifest,
    condition: Option<&Condition>,
) -> S3Result<()> {
    let Some(condition) = condition else {
        return cluster
            .put_manifest(manifest)
            .await
            .map(|_| ())
            .map_err(unavailable);
    };
    cluster
        .put_manifest_if(manifest, condition)
        .await
        .map_err(cas_error)
}

impl From<CasError> for s3s::S3Error {
    fn from(e: CasError) -> Self {
        cas_error(e)
    }
}

/// The S3 error of an agreed write that did not happen.
pub(super) fn cas_error(e: CasError) -> s3s::S3Error {
    match e {
        CasError::PreconditionFailed => s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ),
        CasError::NoSuchKey => s3_error!(NoSuchKey, "The specified key does not exist."),
        CasError::NoSuchUpload => s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        CasError::Conflict => s3_error!(
            ConditionalRequestConflict,
            "A conflicting operation occurred. If using PutObject you can retry the request."
        ),
        CasError::Cluster(c) => unavailable(c),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_http_date, without_aws_chunked};
    use proptest::prelude::*;

    proptest! {
        /// Fuzz target of the date and encoding headers: any text parses or is refused.
        #[test]
        fn fuzz_date_and_encoding_headers(text in "\\PC{0,60}") {
            let _ = parse_http_date(&text);
            if let Some(kept) = without_aws_chunked(&text) {
                prop_assert!(!kept.to_ascii_lowercase().split(',').any(|e| e.trim() == "aws-chunked"));
            }
        }
    }

    #[test]
    fn aws_chunked_is_not_stored_as_content_encoding() {
        assert_eq!(without_aws_chunked("aws-chunked"), None);
        assert_eq!(
            without_aws_chunked("aws-chunked,gzip").as_deref(),
            Some("gzip")
        );
        assert_eq!(
            without_aws_chunked("gzip, aws-chunked").as_deref(),
            Some("gzip")
        );
        assert_eq!(without_aws_chunked("br").as_deref(), Some("br"));
        assert_eq!(
            without_aws_chunked("deflate, gzip").as_deref(),
            Some("deflate, gzip")
        );
        assert_eq!(without_aws_chunked(" ").as_deref(), None);
    }
}
