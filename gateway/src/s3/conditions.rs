//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since` and
//! `If-Unmodified-Since` (and their `x-amz-copy-source-` forms), evaluated as RFC 9110 and S3 do.

use node_api::model::Manifest;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};

use super::fields::last_modified;

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
pub(super) fn check_preconditions(
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

/// CopyObject and UploadPartCopy report every failed copy-source condition as 412.
pub(super) fn copy_precondition_error(e: S3Error) -> S3Error {
    if *e.code() == S3ErrorCode::NotModified {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    } else {
        e
    }
}

/// A copy source naming a version must name the current one (buckets are unversioned).
pub(super) fn check_copy_source_version(source: &CopySource, current: &Manifest) -> S3Result<()> {
    if let CopySource::Bucket {
        version_id: Some(v),
        ..
    } = source
    {
        if **v != *current.version.to_hex() && &**v != "null" {
            return Err(s3_error!(
                NoSuchVersion,
                "The specified version does not exist."
            ));
        }
    }
    Ok(())
}
