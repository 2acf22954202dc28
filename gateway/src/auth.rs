//! Who may call the S3 API: the secret of each access key (`S3Auth`, from
//! [`crate::access::Directory`]) and the checks that run once a request's signature is
//! verified (`S3Access`): the key's role in the bucket, and the presigned-URL cap.
//!
//! `s3s` verifies SigV4 itself (header and presigned forms, with a constant-time comparison in
//! 0.14.1). What it leaves to us: the error for an unknown key (AWS says `InvalidAccessKeyId`,
//! s3s's `SimpleAuth` says `NotSignedUp`); malformed authentication (dates, skew, presigned
//! expiry, AWS's one-week cap) is answered before, by [`crate::auth_precheck`].
//!
//! Roles: keys of the configuration may do everything. A stored key needs, in the bucket it
//! addresses, `Read` for GET/HEAD/List operations, `Write` for the other object operations
//! (and `Read` on a copy's source bucket), `Owner` for deleting the bucket and changing its
//! settings. Any key may list buckets (it sees those it has a role in) and create one (it
//! becomes its owner). Unsigned requests may only read a bucket made public.

use std::sync::Arc;

use node_api::model::Role;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

use crate::access::{Allowed, BucketState, Directory};
use crate::request_log::{Parsed, RequestInfo};
use crate::s3::no_such_bucket;

/// Secrets of the keys the directory knows.
pub struct AccessKeys {
    directory: Arc<Directory>,
}

impl AccessKeys {
    pub fn new(directory: Arc<Directory>) -> AccessKeys {
        AccessKeys { directory }
    }
}

#[async_trait::async_trait]
impl S3Auth for AccessKeys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.directory.secret(access_key).await {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// The role an operation needs in its bucket; `None` for the operations any key may call.
pub fn role_needed(operation: &str) -> Option<Role> {
    match operation {
        "ListBuckets" | "CreateBucket" => None,
        "DeleteBucket" => Some(Role::Owner),
        op if op.starts_with("Get") || op.starts_with("Head") || op.starts_with("List") => {
            Some(Role::Read)
        }
        op if op.starts_with("PutBucket") || op.starts_with("DeleteBucket") => Some(Role::Owner),
        _ => Some(Role::Write),
    }
}

/// The bucket of an `x-amz-copy-source` header (`bucket/key`, maybe URL-encoded, maybe with a
/// leading slash).
fn copy_source_bucket(value: &str) -> Option<String> {
    let decoded = urlencoding::decode(value).ok()?;
    let trimmed = decoded.trim_start_matches('/');
    Some(trimmed.split('/').next()?.to_string())
}

/// Refuses anonymous requests, keys without the role an operation needs, and presigned URLs
/// valid for longer than AWS allows.
pub struct Authorize {
    directory: Arc<Directory>,
}

impl Authorize {
    pub fn new(directory: Arc<Directory>) -> Authorize {
        Authorize { directory }
    }

    fn may(&self, key: &str, bucket: &str, needed: Role) -> bool {
        match self.directory.allowed(key, bucket) {
            Allowed::Everything => true,
            Allowed::Role(role) => role.is_some_and(|r| r >= needed),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Authorize {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let operation = cx.s3_op().name().to_string();
        let bucket = match cx.s3_path() {
            S3Path::Root => None,
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => Some(bucket.to_string()),
        };
        let access_key = cx.credentials().map(|c| c.access_key.clone());
        if let Some(info) = cx.extensions_mut().get::<RequestInfo>() {
            info.set(Parsed {
                operation: operation.clone(),
                bucket: bucket.clone(),
                access_key: access_key.clone(),
            });
        }
        let Some(key) = access_key else {
            // Anonymous: only reads of a bucket made public.
            let Some(bucket) = &bucket else {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            };
            return match self.directory.bucket_state(bucket).await {
                BucketState::Public if role_needed(&operation) == Some(Role::Read) => Ok(()),
                BucketState::Missing => Err(no_such_bucket()),
                _ => Err(s3_error!(AccessDenied, "Access Denied")),
            };
        };
        if let (Some(needed), Some(bucket)) = (role_needed(&operation), &bucket) {
            if !self.may(&key, bucket, needed) {
                // As on S3, a bucket that does not exist is no secret: 404, not 403.
                return Err(match self.directory.bucket_state(bucket).await {
                    BucketState::Missing => no_such_bucket(),
                    _ => s3_error!(AccessDenied, "Access Denied"),
                });
            }
        }
        if let Some(source) = cx
            .headers()
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .and_then(copy_source_bucket)
        {
            if !self.may(&key, &source, Role::Read) {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_operation() {
        assert_eq!(role_needed("GetObject"), Some(Role::Read));
        assert_eq!(role_needed("ListObjectsV2"), Some(Role::Read));
        assert_eq!(role_needed("HeadBucket"), Some(Role::Read));
        assert_eq!(role_needed("PutObject"), Some(Role::Write));
        assert_eq!(role_needed("CompleteMultipartUpload"), Some(Role::Write));
        assert_eq!(role_needed("DeleteObjects"), Some(Role::Write));
        assert_eq!(role_needed("DeleteBucket"), Some(Role::Owner));
        assert_eq!(role_needed("PutBucketTagging"), Some(Role::Owner));
        assert_eq!(role_needed("CreateBucket"), None);
        assert_eq!(
            copy_source_bucket("/src%2Dbkt/a/b").as_deref(),
            Some("src-bkt")
        );
        assert_eq!(copy_source_bucket("src/k").as_deref(), Some("src"));
    }
}
