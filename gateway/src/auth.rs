//! Who may call the S3 API: the secret of each access key (`S3Auth`, from
//! [`crate::access::Directory`]). What a verified caller may do is decided by
//! [`crate::authorize`].
//!
//! `s3s` verifies SigV4 itself (header and presigned forms, with a constant-time comparison in
//! 0.14.1). What it leaves to us: the error for an unknown key (AWS says `InvalidAccessKeyId`,
//! s3s's `SimpleAuth` says `NotSignedUp`); malformed authentication (dates, skew, presigned
//! expiry, AWS's one-week cap) is answered before, by [`crate::auth_precheck`].

use std::sync::Arc;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Result};

use crate::access::Directory;

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
