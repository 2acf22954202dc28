//! What the S3 layer learned about a request, for the HTTP layer's metrics and access log.
//!
//! The server puts an empty [`RequestInfo`] into each request's extensions; the access check
//! (`auth::SignedOnly`, which `s3s` runs once it has parsed and authenticated the request)
//! fills in the operation, bucket and access key; after the response the server reads it back.
//! A request refused before that (a bad signature, a malformed path) keeps the operation
//! `Unknown`.

use std::sync::{Arc, OnceLock};

/// The operation (`PutObject`, ...), bucket and access key of one request, once known.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo(Arc<OnceLock<Parsed>>);

#[derive(Debug, Clone)]
pub struct Parsed {
    pub operation: String,
    pub bucket: Option<String>,
    pub access_key: Option<String>,
}

impl RequestInfo {
    pub fn set(&self, parsed: Parsed) {
        let _ = self.0.set(parsed);
    }

    /// The operation's name, `Unknown` if the request never reached the access check.
    pub fn operation(&self) -> &str {
        self.0.get().map_or("Unknown", |p| p.operation.as_str())
    }

    pub fn bucket(&self) -> &str {
        self.0
            .get()
            .and_then(|p| p.bucket.as_deref())
            .unwrap_or("-")
    }

    pub fn access_key(&self) -> &str {
        self.0
            .get()
            .and_then(|p| p.access_key.as_deref())
            .unwrap_or("-")
    }
}
