//! The key provider interface: what keeps a KMS key's materials and wraps data keys with them.
//! Two providers implement it: [`Materials`] (keys in the gateway's configuration, as master
//! keys are: the master keys themselves are one) and the PKCS#11 token (`super::pkcs11`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::sealing::{self, AeadKey, Corrupt};

/// Why a provider could not wrap or unwrap.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("key material `{0}` is not known to this gateway")]
    UnknownMaterial(String),
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    #[error("the PKCS#11 token failed: {0}")]
    Token(String),
}

/// Keeps the materials (versions) of one key and wraps data keys under them. `aad` binds a
/// wrapped key to where it is used; the same `aad` must be given to unwrap it.
pub trait KeyProvider: Send + Sync {
    /// What keeps the materials: `keyring` or `pkcs11`.
    fn kind(&self) -> &'static str;
    /// The material new data keys are wrapped with.
    fn active(&self) -> &str;
    /// Every material this provider can unwrap with, `active` first.
    fn materials(&self) -> Vec<String>;
    /// `raw` wrapped under the active material.
    fn wrap(&self, aad: &str, raw: &[u8; 32]) -> Result<Vec<u8>, ProviderError>;
    /// The data key `wrapped` under `material`.
    fn unwrap(&self, material: &str, aad: &str, wrapped: &[u8]) -> Result<[u8; 32], ProviderError>;
}

/// Materials held in memory, read from the configuration.
pub struct Materials {
    active: String,
    active_key: Arc<AeadKey>,
    keys: HashMap<String, Arc<AeadKey>>,
}

impl Materials {
    /// `keys` as the configuration loaded them; `None` when `active` is not among them.
    pub fn new(active: &str, keys: Vec<(String, [u8; 32])>) -> Option<Materials> {
        let keys: HashMap<String, Arc<AeadKey>> = keys
            .into_iter()
            .map(|(id, k)| (id, Arc::new(AeadKey::new(&k))))
            .collect();
        Some(Materials {
            active: active.to_string(),
            active_key: keys.get(active)?.clone(),
            keys,
        })
    }

    pub fn active_key(&self) -> &AeadKey {
        &self.active_key
    }

    pub fn get(&self, id: &str) -> Result<&AeadKey, ProviderError> {
        self.keys
            .get(id)
            .map(|k| &**k)
            .ok_or_else(|| ProviderError::UnknownMaterial(id.to_string()))
    }
}

impl KeyProvider for Materials {
    fn kind(&self) -> &'static str {
        "keyring"
    }

    fn active(&self) -> &str {
        &self.active
    }

    fn materials(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .keys
            .keys()
            .filter(|k| **k != self.active)
            .cloned()
            .collect();
        ids.sort();
        ids.insert(0, self.active.clone());
        ids
    }

    fn wrap(&self, aad: &str, raw: &[u8; 32]) -> Result<Vec<u8>, ProviderError> {
        Ok(sealing::wrap(&self.active_key, aad, raw))
    }

    fn unwrap(&self, material: &str, aad: &str, wrapped: &[u8]) -> Result<[u8; 32], ProviderError> {
        Ok(sealing::unwrap(self.get(material)?, aad, wrapped)?)
    }
}
