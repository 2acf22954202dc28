//! Authentication of internal requests with the cluster secret.
//!
//! The caller sends `x-cluster-auth: <unix seconds>:<hex HMAC-SHA256(secret, "<seconds>\n<METHOD>\n<path?query>")>`.
//! The node recomputes it (constant-time comparison in `ring`) and accepts a clock skew of five
//! minutes. The secret itself never crosses the network.

use std::time::{SystemTime, UNIX_EPOCH};

use ring::hmac;

pub const HEADER: &str = "x-cluster-auth";
const MAX_SKEW_SECS: u64 = 300;

/// The cluster secret as an HMAC key.
#[derive(Clone)]
pub struct ClusterKey(hmac::Key);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn message(secs: u64, method: &str, path_and_query: &str) -> String {
    format!("{secs}\n{method}\n{path_and_query}")
}

impl ClusterKey {
    pub fn new(secret: &str) -> ClusterKey {
        ClusterKey(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
    }

    /// The header value for a request.
    pub fn sign(&self, method: &str, path_and_query: &str) -> String {
        let secs = now_secs();
        let tag = hmac::sign(&self.0, message(secs, method, path_and_query).as_bytes());
        format!("{secs}:{}", hex::encode(tag.as_ref()))
    }

    /// An opaque, stable id for `input` (64 hex digits): the same on every process that holds
    /// the cluster secret, meaningless without it. `purpose` separates the uses (and every
    /// use from request signatures, whose messages start with a number).
    pub fn opaque_id(&self, purpose: &str, input: &str) -> String {
        let message = format!("id\0{purpose}\0{input}");
        hex::encode(hmac::sign(&self.0, message.as_bytes()).as_ref())
    }

    /// Whether a header value authenticates this request now.
    pub fn verify(&self, header: &str, method: &str, path_and_query: &str) -> bool {
        let Some((secs, tag)) = header.split_once(':') else {
            return false;
        };
        let (Ok(secs), Ok(tag)) = (secs.parse::<u64>(), hex::decode(tag)) else {
            return false;
        };
        if now_secs().abs_diff(secs) > MAX_SKEW_SECS {
            return false;
        }
        hmac::verify(
            &self.0,
            message(secs, method, path_and_query).as_bytes(),
            &tag,
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_own_signature_only() {
        let key = ClusterKey::new("secret");
        let sig = key.sign("PUT", "/v1/chunk/ab");
        assert!(key.verify(&sig, "PUT", "/v1/chunk/ab"));
        assert!(!key.verify(&sig, "GET", "/v1/chunk/ab"));
        assert!(!key.verify(&sig, "PUT", "/v1/chunk/ac"));
        assert!(!ClusterKey::new("other").verify(&sig, "PUT", "/v1/chunk/ab"));
        assert!(!key.verify("garbage", "PUT", "/v1/chunk/ab"));
        let old = format!("{}:{}", now_secs() - 1000, sig.split_once(':').unwrap().1);
        assert!(!key.verify(&old, "PUT", "/v1/chunk/ab"));
    }

    #[test]
    fn opaque_ids_are_stable_per_secret_and_purpose() {
        let (a, b) = (ClusterKey::new("one"), ClusterKey::new("two"));
        let id = a.opaque_id("canonical-user", "AKIDEXAMPLE");
        assert_eq!(id.len(), 64);
        assert_eq!(id, a.opaque_id("canonical-user", "AKIDEXAMPLE"));
        assert_ne!(id, b.opaque_id("canonical-user", "AKIDEXAMPLE"));
        assert_ne!(id, a.opaque_id("other", "AKIDEXAMPLE"));
        assert!(!id.contains("AKID"));
    }
}
