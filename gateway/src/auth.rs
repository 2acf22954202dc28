//! Who may call the S3 API: the access keys from the configuration (`S3Auth`) and the checks
//! that run once a request's signature is verified (`S3Access`).
//!
//! `s3s` verifies SigV4 itself (header and presigned forms, with a constant-time comparison in
//! 0.14.1). What it leaves to us: the error for an unknown key (AWS says `InvalidAccessKeyId`,
//! s3s's `SimpleAuth` says `NotSignedUp`), and AWS's one-week cap on presigned URLs, which
//! s3s 0.14.1 does not enforce.

use std::collections::HashMap;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

use crate::request_log::{Parsed, RequestInfo};

/// The longest validity AWS accepts for a presigned URL: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// The configured access keys.
#[derive(Default)]
pub struct AccessKeys {
    keys: HashMap<String, SecretKey>,
}

impl AccessKeys {
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> AccessKeys {
        AccessKeys {
            keys: pairs
                .into_iter()
                .map(|(access, secret)| (access.clone(), SecretKey::from(secret.clone())))
                .collect(),
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for AccessKeys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.keys.get(access_key).cloned().ok_or_else(|| {
            s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )
        })
    }
}

/// Refuses anonymous requests and presigned URLs valid for longer than AWS allows.
pub struct SignedOnly;

#[async_trait::async_trait]
impl S3Access for SignedOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let parsed = Parsed {
            operation: cx.s3_op().name().to_string(),
            bucket: match cx.s3_path() {
                S3Path::Root => None,
                S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => {
                    Some(bucket.to_string())
                }
            },
            access_key: cx.credentials().map(|c| c.access_key.clone()),
        };
        if let Some(info) = cx.extensions_mut().get::<RequestInfo>() {
            info.set(parsed);
        }
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        if let Some(expires) = presigned_expires(cx.uri().query().unwrap_or("")) {
            match expires.parse::<u64>() {
                Ok(secs) if secs <= MAX_PRESIGNED_EXPIRES_SECS => {}
                Ok(_) => {
                    return Err(s3_error!(
                        AuthorizationQueryParametersError,
                        "X-Amz-Expires must be less than a week (in seconds) that is 604800"
                    ))
                }
                Err(_) => {
                    return Err(s3_error!(
                        AuthorizationQueryParametersError,
                        "X-Amz-Expires should be a number"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// The raw `X-Amz-Expires` value of a query string, if present.
fn presigned_expires(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.eq_ignore_ascii_case("X-Amz-Expires").then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_expires_in_query() {
        assert_eq!(
            presigned_expires("X-Amz-Algorithm=AWS4&X-Amz-Expires=900&x=1"),
            Some("900")
        );
        assert_eq!(presigned_expires("list-type=2"), None);
        assert_eq!(presigned_expires(""), None);
    }
}
