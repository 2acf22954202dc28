//! Virtual-hosted-style addressing: which bucket a `Host` header names.
//!
//! With `virtual_host_domain: <d>`, a request to `<bucket>.<d>` (any port) addresses that
//! bucket; a request to `<d>` itself, to an IP address or to any other name is path style
//! (`/<bucket>/<key>`), so path style always works. `s3s`'s own `SingleDomain` compares the
//! header with its port still attached (so `bucket.localhost:9000` never matches
//! `localhost`) and takes any unknown host for a bucket name (so `localhost:9000` would be a
//! bucket): neither is what clients expect.

use std::borrow::Cow;

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

/// The host a request names: its `Host` header, else its URI's host, else empty.
pub fn host_of<B>(req: &http::Request<B>) -> &str {
    req.headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(req.uri().host())
        .unwrap_or("")
}

/// The `S3Host` of a gateway with `virtual_host_domain`.
#[derive(Debug, Clone)]
pub struct VirtualHostDomain {
    domain: String,
}

impl VirtualHostDomain {
    /// Fails (naming the field) for a domain that is not a host name.
    pub fn new(domain: &str) -> anyhow::Result<VirtualHostDomain> {
        let valid = !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            anyhow::bail!("virtual_host_domain: `{domain}` is not a domain name");
        }
        Ok(VirtualHostDomain {
            domain: domain.to_ascii_lowercase(),
        })
    }

    /// The bucket `host` names, if it is `<bucket>.<domain>`.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<Cow<'a, str>> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.strip_suffix('.').unwrap_or(name); // a fully qualified name
        let cut = name
            .len()
            .checked_sub(self.domain.len().saturating_add(1))?;
        let (bucket, rest) = (name.get(..cut)?, name.get(cut..)?);
        if bucket.is_empty()
            || !rest.starts_with('.')
            || !rest[1..].eq_ignore_ascii_case(&self.domain)
        {
            return None;
        }
        Some(if bucket.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(bucket.to_ascii_lowercase()) // host names are case-insensitive
        } else {
            Cow::Borrowed(bucket)
        })
    }
}

impl S3Host for VirtualHostDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(self.domain.as_str()).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fuzz target of the Host header: any text is a bucket of the domain or path style.
        #[test]
        fn fuzz_host_header(host in prop_oneof!["\\PC{0,80}", "[a-zA-Z0-9.:-]{0,40}(s3\\.example\\.com)?[.:0-9]{0,6}"]) {
            let vh = VirtualHostDomain::new("s3.example.com").unwrap();
            if let Some(bucket) = vh.bucket_of(&host) {
                prop_assert!(!bucket.is_empty());
            }
            prop_assert!(vh.parse_host_header(&host).is_ok());
        }
    }

    #[test]
    fn buckets_come_from_subdomains_and_everything_else_is_path_style() {
        let vh = VirtualHostDomain::new("s3.example.com").unwrap();
        let bucket = |h| vh.bucket_of(h).map(|b| b.into_owned());
        assert_eq!(bucket("photos.s3.example.com"), Some("photos".into()));
        assert_eq!(bucket("photos.s3.example.com:9000"), Some("photos".into()));
        assert_eq!(bucket("a.b.s3.example.com"), Some("a.b".into()));
        assert_eq!(bucket("Photos.S3.Example.com."), Some("photos".into()));
        for path_style in [
            "s3.example.com",
            "s3.example.com:9000",
            "localhost:9000",
            "xs3.example.com",
            ".s3.example.com",
            "example.com",
        ] {
            assert_eq!(bucket(path_style), None, "{path_style}");
        }
        assert!(VirtualHostDomain::new("bad domain").is_err());
        assert!(VirtualHostDomain::new("a..b").is_err());
    }
}
