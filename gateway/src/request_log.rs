//! What the S3 layer learned about a request, for the HTTP layer's metrics and access log.
//!
//! The server puts an empty [`RequestInfo`] into each request's extensions; the access check
//! (`auth::SignedOnly`, which `s3s` runs once it has parsed and authenticated the request)
//! fills in the operation, bucket and access key; after the response the server reads it back.
//! A request refused before that (a bad signature, a malformed path) keeps the operation
//! `Unknown`.

use std::sync::{Arc, OnceLock};

/// The operation (`PutObject`, ...), bucket and access key of one request, once known, and
/// whether a missing object must be answered as AccessDenied.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo(Arc<Shared>);

#[derive(Default)]
struct Shared {
    parsed: OnceLock<Parsed>,
    on_missing: OnceLock<Arc<dyn MissingObject>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("parsed", &self.parsed)
            .finish()
    }
}

/// What decides how a missing object is answered (the access check leaves one for GET and
/// HEAD): as on S3, a caller who may read objects but not list the bucket gets AccessDenied
/// (403) rather than NoSuchKey, so it cannot learn which keys exist.
#[async_trait::async_trait]
pub trait MissingObject: Send + Sync {
    /// Whether the caller may list the bucket (and so learn the object is missing).
    async fn may_list(&self) -> bool;
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

    /// Leaves the check of how a missing object is answered.
    pub fn on_missing(&self, check: Arc<dyn MissingObject>) {
        let _ = self.0.on_missing.set(check);
    }

    /// Whether a missing object must be answered as AccessDenied.
    pub async fn hides_missing(&self) -> bool {
        match self.0.on_missing.get() {
            Some(check) => !check.may_list().await,
            None => false,
        }
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
