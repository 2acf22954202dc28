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

/// What a conditional delete requires of the current object (DeleteObject's `If-Match`,
/// `x-amz-if-match-last-modified-time`, `x-amz-if-match-size`, or a DeleteObjects entry's
/// `ETag`, `LastModifiedTime`, `Size`): every part given must hold. A key without an object
/// has nothing to delete, whatever the condition (204, as S3 documents).
#[derive(Debug, Clone, Default)]
pub(super) struct DeleteCondition {
    pub etag: Option<ETagCondition>,
    pub last_modified: Option<Timestamp>,
    pub size: Option<i64>,
}

impl DeleteCondition {
    /// `None` when the request names no condition (a plain delete).
    pub fn given(self) -> Option<DeleteCondition> {
        let any = self.etag.is_some() || self.last_modified.is_some() || self.size.is_some();
        any.then_some(self)
    }

    pub fn holds(&self, m: &Manifest) -> bool {
        self.etag.as_ref().is_none_or(|c| matches(c, m))
            && self
                .last_modified
                .as_ref()
                .is_none_or(|t| seconds(t) == seconds(&last_modified(m)))
            && self
                .size
                .is_none_or(|size| u64::try_from(size).is_ok_and(|s| s == m.size))
    }
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
