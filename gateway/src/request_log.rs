//! What the S3 layer learned about a request, for the HTTP layer's metrics and access log.
//!
//! The server puts an empty [`RequestInfo`] into each request's extensions; the access check
//! (`auth::SignedOnly`, which `s3s` runs once it has parsed and authenticated the request)
//! fills in the operation, bucket and access key; after the response the server reads it back.
//! A request refused before that (a bad signature, a malformed path) keeps the operation
//! `Unknown`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The operation (`PutObject`, ...), bucket and access key of one request, once known, and
/// whether a missing object must be answered as AccessDenied.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    parsed: OnceLock<Parsed>,
    hide_missing: AtomicBool,
}

#[derive(Debug, Clone)]
pub struct Parsed {
    pub operation: String,
    pub bucket: Option<String>,
    pub access_key: Option<String>,
}

impl RequestInfo {
    pub fn set(&self, parsed: Parsed) {
        let _ = self.0.parsed.set(parsed);
    }

    /// The caller may read the object but not list its bucket: as on S3, a missing object is
    /// then AccessDenied (403), not NoSuchKey, so the caller cannot learn which keys exist.
    pub fn hide_missing(&self) {
        self.0.hide_missing.store(true, Ordering::Relaxed);
    }

    pub fn hides_missing(&self) -> bool {
        self.0.hide_missing.load(Ordering::Relaxed)
    }

    /// The operation's name, `Unknown` if the request never reached the access check.
    pub fn operation(&self) -> &str {
        self.0
            .parsed
            .get()
            .map_or("Unknown", |p| p.operation.as_str())
    }

    pub fn bucket(&self) -> &str {
        self.0
            .parsed
            .get()
            .and_then(|p| p.bucket.as_deref())
            .unwrap_or("-")
    }

    pub fn access_key(&self) -> &str {
        self.0
            .parsed
            .get()
            .and_then(|p| p.access_key.as_deref())
            .unwrap_or("-")
    }
}
