//! Keys derived from the cluster secret for uses other than the internal links (those are
//! authenticated by [`crate::identity`]): opaque ids that every process holding the secret
//! computes alike.

use ring::hmac;

/// The cluster secret as an HMAC key.
#[derive(Clone)]
pub struct ClusterKey(hmac::Key);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl ClusterKey {
    pub fn new(secret: &str) -> ClusterKey {
        ClusterKey(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
    }

    /// An opaque, stable id for `input` (64 hex digits): the same on every process that holds
    /// the cluster secret, meaningless without it. `purpose` separates the uses.
    pub fn opaque_id(&self, purpose: &str, input: &str) -> String {
        let message = format!("id\0{purpose}\0{input}");
        hex::encode(hmac::sign(&self.0, message.as_bytes()).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
