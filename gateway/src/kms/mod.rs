//! SSE-KMS keys: the named keys `aws:kms` objects are encrypted under, each kept by a
//! [`KeyProvider`] (the gateway's configuration, or a PKCS#11 token). The built-in key `aws/s3`
//! is backed by the master keys, so `aws:kms` works with no KMS configuration at all, as on AWS.
//!
//! A KMS object's data key is wrapped by its key's active material, bound (as associated data)
//! to the material, the key and the encryption context. The envelope names the material, so a
//! key's older materials keep opening the objects they wrapped until `rotate` rewraps them.

pub mod context;
pub mod key_ref;
pub mod pkcs11;
pub mod provider;

use std::collections::BTreeMap;
use std::sync::Arc;

use config::{KmsProvider, LoadedKmsKey, BUILT_IN_KMS_KEY};

/// The SSE-KMS algorithm name (`x-amz-server-side-encryption`, bucket default encryption).
pub const AWS_KMS: &str = "aws:kms";
pub use provider::{KeyProvider, Materials, ProviderError};

/// Why a request's KMS key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error(transparent)]
    Malformed(#[from] key_ref::RefError),
    #[error("Invalid keyId '{0}'")]
    NotFound(String),
}

/// What `gateway admin kms-keys` and the admin listing show of a key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeySummary {
    pub id: String,
    pub provider: &'static str,
    pub active: String,
    pub materials: Vec<String>,
    pub default: bool,
}

/// The KMS keys of this gateway.
pub struct Kms {
    keys: BTreeMap<String, Arc<dyn KeyProvider>>,
    default: String,
}

impl Kms {
    /// The built-in key over `master`, and the configured keys (`token` must be open when any
    /// of them is a PKCS#11 key).
    pub fn new(
        master: Arc<Materials>,
        loaded: Vec<LoadedKmsKey>,
        default: Option<&str>,
        token: Option<Arc<pkcs11::Token>>,
    ) -> Result<Kms, String> {
        let mut keys: BTreeMap<String, Arc<dyn KeyProvider>> = BTreeMap::new();
        keys.insert(BUILT_IN_KMS_KEY.to_string(), master);
        for k in loaded {
            let provider: Arc<dyn KeyProvider> = match k.provider {
                KmsProvider::Keyring => Arc::new(
                    Materials::new(&k.active, k.materials)
                        .ok_or_else(|| format!("KMS key {}: no active material", k.id))?,
                ),
                KmsProvider::Pkcs11 => {
                    let token = token
                        .clone()
                        .ok_or_else(|| format!("KMS key {}: no PKCS#11 token", k.id))?;
                    if !token.has(&k.active).map_err(|e| e.to_string())? {
                        return Err(format!(
                            "KMS key {}: the token has no key labelled `{}` (make it with `gateway kms-keygen --key {}`)",
                            k.id, k.active, k.id
                        ));
                    }
                    Arc::new(pkcs11::TokenKey {
                        token,
                        labels: k.labels,
                    })
                }
            };
            keys.insert(k.id, provider);
        }
        Ok(Kms {
            keys,
            default: default.unwrap_or(BUILT_IN_KMS_KEY).to_string(),
        })
    }

    /// The configured key a request's reference names (`None`: the default key).
    pub fn resolve(&self, reference: Option<&str>) -> Result<String, KmsError> {
        let id = match reference {
            Some(r) => key_ref::key_id(r)?,
            None => return Ok(self.default.clone()),
        };
        if self.keys.contains_key(&id) {
            Ok(id)
        } else {
            Err(KmsError::NotFound(
                reference.unwrap_or_default().to_string(),
            ))
        }
    }

    pub fn provider(&self, id: &str) -> Option<&Arc<dyn KeyProvider>> {
        self.keys.get(id)
    }

    /// The active material of every key: envelopes wrapped by them need no rotation.
    pub fn current(&self) -> Vec<String> {
        self.keys.values().map(|p| p.active().to_string()).collect()
    }

    pub fn list(&self) -> Vec<KeySummary> {
        self.keys
            .iter()
            .map(|(id, p)| KeySummary {
                id: id.clone(),
                provider: if id == BUILT_IN_KMS_KEY {
                    "master keys"
                } else {
                    p.kind()
                },
                active: p.active().to_string(),
                materials: p.materials(),
                default: *id == self.default,
            })
            .collect()
    }
}
