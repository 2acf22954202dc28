//! SSE-C request headers as AWS specifies them: `x-amz-server-side-encryption-customer-algorithm`
//! (`AES256`), `-customer-key` (base64 of 32 bytes) and `-customer-key-MD5` (base64 MD5 of the
//! key), and their `x-amz-copy-source-server-side-encryption-customer-*` twins naming the key of
//! a copy's source. The checks and errors follow AWS: all three headers or none, the MD5 must
//! match, and the key must travel over TLS unless the configuration allows plain HTTP for local
//! testing. What a key then does is the keyring's business (`crate::keyring`).

use base64::Engine as _;
use md5::{Digest, Md5};
use s3s::{s3_error, S3Result};

use crate::keyring::CustomerKey;

/// How the request reached the gateway: inserted into each request's extensions by the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transport {
    pub tls: bool,
    /// The client's address (`aws:SourceIp`).
    pub peer: Option<std::net::IpAddr>,
}

/// The three SSE-C headers of one request (the object's own, or a copy source's).
pub(super) struct Headers<'a> {
    pub algorithm: Option<&'a str>,
    pub key: Option<&'a str>,
    pub key_md5: Option<&'a str>,
}

impl<'a> Headers<'a> {
    pub fn new(
        algorithm: Option<&'a String>,
        key: Option<&'a String>,
        key_md5: Option<&'a String>,
    ) -> Headers<'a> {
        Headers {
            algorithm: algorithm.map(String::as_str),
            key: key.map(String::as_str),
            key_md5: key_md5.map(String::as_str),
        }
    }
}

/// The SSE-C headers of an operation's input (`customer_headers!(input)`), or of its copy
/// source (`customer_headers!(copy_source input)`).
macro_rules! customer_headers {
    ($input:expr) => {
        $crate::s3::sse_c::Headers::new(
            $input.sse_customer_algorithm.as_ref(),
            $input.sse_customer_key.as_ref(),
            $input.sse_customer_key_md5.as_ref(),
        )
    };
    (copy_source $input:expr) => {
        $crate::s3::sse_c::Headers::new(
            $input.copy_source_sse_customer_algorithm.as_ref(),
            $input.copy_source_sse_customer_key.as_ref(),
            $input.copy_source_sse_customer_key_md5.as_ref(),
        )
    };
}
pub(super) use customer_headers;

/// Whether SSE-C may be used on this request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    pub transport: Transport,
    pub allow_over_http: bool,
}

/// The customer key of `h`, or `None` when the request has none of the headers.
pub(super) fn customer_key(h: Headers<'_>, policy: Policy) -> S3Result<Option<CustomerKey>> {
    if h.algorithm.is_none() && h.key.is_none() && h.key_md5.is_none() {
        return Ok(None);
    }
    if !policy.transport.tls && !policy.allow_over_http {
        return Err(s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
        ));
    }
    let Some(algorithm) = h.algorithm else {
        return Err(s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
        ));
    };
    if algorithm != "AES256" {
        return Err(s3_error!(
            InvalidEncryptionAlgorithmError,
            "The encryption request you specified is not valid. The valid value is AES256."
        ));
    }
    let Some(key) = h.key else {
        return Err(s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
        ));
    };
    let Some(key_md5) = h.key_md5 else {
        return Err(s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
        ));
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw: [u8; 32] = b64
        .decode(key.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The secret key was invalid for the specified algorithm."
            )
        })?;
    let md5 = b64.encode(Md5::digest(raw));
    if md5 != key_md5.trim() {
        return Err(s3_error!(
            InvalidArgument,
            "The calculated MD5 hash of the key did not match the hash that was provided."
        ));
    }
    Ok(Some(CustomerKey::new(raw, md5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";
    const KEY_MD5: &str = "KYvwGXoFFJ42a2u2GDWhwQ==";

    fn check(
        alg: Option<&str>,
        key: Option<&str>,
        md5: Option<&str>,
        tls: bool,
    ) -> Result<bool, String> {
        customer_key(
            Headers {
                algorithm: alg,
                key,
                key_md5: md5,
            },
            Policy {
                transport: Transport { tls, peer: None },
                allow_over_http: false,
            },
        )
        .map(|k| k.is_some())
        .map_err(|e| e.code().as_str().to_string())
    }

    #[test]
    fn headers_are_checked_as_aws_does() {
        let ok = (Some("AES256"), Some(KEY), Some(KEY_MD5));
        assert_eq!(check(ok.0, ok.1, ok.2, true), Ok(true));
        assert_eq!(check(None, None, None, false), Ok(false));
        assert_eq!(
            check(ok.0, ok.1, ok.2, false).unwrap_err(),
            "InvalidRequest",
            "plain HTTP"
        );
        assert_eq!(check(None, ok.1, ok.2, true).unwrap_err(), "InvalidRequest");
        assert_eq!(
            check(Some("aws:kms"), ok.1, ok.2, true).unwrap_err(),
            "InvalidEncryptionAlgorithmError"
        );
        assert_eq!(check(ok.0, None, ok.2, true).unwrap_err(), "InvalidRequest");
        assert_eq!(check(ok.0, ok.1, None, true).unwrap_err(), "InvalidRequest");
        assert_eq!(
            check(ok.0, Some("c2hvcnQ="), ok.2, true).unwrap_err(),
            "InvalidArgument"
        );
        assert_eq!(
            check(ok.0, ok.1, Some("AAAAAAAAAAAAAAAAAAAAAA=="), true).unwrap_err(),
            "InvalidArgument"
        );
    }
}
