//! The master keys of server-side encryption (from the configuration) and the envelopes they
//! make: a new object version gets a random data key, wrapped under the active master key;
//! reading unwraps it under whichever key id the envelope names, so objects written under an
//! older key stay readable until `rotate` rewraps them.
//!
//! With SSE-C the customer's key takes the master key's place: it wraps the data key (under
//! the reserved id [`CUSTOMER_KEY_ID`]) and is never stored. A salted HMAC-SHA256 of it is
//! ([`CustomerKeyProof`]), so that a later request with a wrong key is told so before anything
//! is decrypted; without the customer's key the object cannot be read, master keys or not.

use std::collections::BTreeMap;
use std::sync::Arc;

use node_api::model::{CustomerKeyProof, KmsSealing, Sealing, Version};
use ring::hmac;

use crate::kms::{KeyProvider, Kms, Materials, ProviderError};
use crate::sealing::{self, AeadKey, Corrupt, Extent, FORMAT};

/// Master keys by id, and the one new objects use; the KMS keys of SSE-KMS.
pub struct Keyring {
    master: Arc<Materials>,
    pub kms: Kms,
}

/// The key id of envelopes wrapped by a customer's key (SSE-C); no master key may use it.
pub const CUSTOMER_KEY_ID: &str = "sse-c";

/// An SSE-C customer key as a request supplied it (its MD5 already checked).
pub struct CustomerKey {
    raw: [u8; 32],
    /// Base64 MD5 of the key, echoed in responses (`x-amz-server-side-encryption-customer-key-MD5`).
    pub md5: String,
}

impl CustomerKey {
    pub fn new(raw: [u8; 32], md5: String) -> CustomerKey {
        CustomerKey { raw, md5 }
    }

    #[allow(clippy::expect_used, reason = "HMAC-SHA256 tags are 32 bytes")]
    fn mac(&self, salt: &[u8; 16]) -> [u8; 32] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), &self.raw);
        tag.as_ref().try_into().expect("HMAC-SHA256 is 32 bytes")
    }

    fn proof(&self) -> CustomerKeyProof {
        let salt = sealing::random();
        CustomerKeyProof {
            salt,
            hmac: self.mac(&salt),
        }
    }

    fn matches(&self, proof: &CustomerKeyProof) -> bool {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &proof.salt);
        hmac::verify(&key, &self.raw, &proof.hmac).is_ok()
    }
}

/// How a new object version's data key is protected.
pub enum Protection<'a> {
    /// SSE-S3: wrapped under the active master key.
    S3,
    /// SSE-C: wrapped under the customer's key.
    Customer(&'a CustomerKey),
    /// SSE-KMS: wrapped under a KMS key's active material (key id resolved, context canonical).
    Kms(KmsSealing),
}

/// A fresh data key for one object version (or multipart upload), not yet stored.
pub struct DataKey {
    pub key: Arc<AeadKey>,
    pub key_id: String,
    pub wrapped: Vec<u8>,
    pub nonce_base: [u8; 12],
    pub customer: Option<CustomerKeyProof>,
    pub kms: Option<KmsSealing>,
}

/// Why an envelope does not open.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the object's master key `{0}` is not in the configuration")]
    UnknownKey(String),
    #[error("the object's encryption format {0} is not known to this gateway")]
    UnknownFormat(u8),
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    #[error("the object is encrypted with a customer key (SSE-C) and the request gave none")]
    CustomerKeyMissing,
    #[error("the request's customer key is not the one the object is encrypted with")]
    CustomerKeyWrong,
    #[error("the request gave a customer key but the object is not encrypted with one")]
    CustomerKeyNotApplicable,
    #[error("the KMS key provider failed: {0}")]
    Provider(String),
}

impl From<ProviderError> for KeyError {
    fn from(e: ProviderError) -> KeyError {
        match e {
            ProviderError::UnknownMaterial(id) => KeyError::UnknownKey(id),
            ProviderError::Corrupt(c) => KeyError::Corrupt(c),
            ProviderError::Token(t) => KeyError::Provider(t),
        }
    }
}

/// What a KMS-wrapped data key is bound to: the material, the KMS key and the context.
fn kms_aad(material: &str, kms: &KmsSealing) -> String {
    format!("{material}\0kms\0{}\0{}", kms.key, kms.context)
}

impl Keyring {
    /// The master keys and the KMS keys (whose built-in key shares `master`).
    pub fn new(master: Arc<Materials>, kms: Kms) -> Keyring {
        Keyring { master, kms }
    }

    /// A keyring with master keys alone (the built-in KMS key over them).
    pub fn with_master_keys(
        active: &str,
        keys: Vec<(String, [u8; 32])>,
    ) -> Result<Keyring, KeyError> {
        let master = Arc::new(
            Materials::new(active, keys).ok_or_else(|| KeyError::UnknownKey(active.to_string()))?,
        );
        let kms = Kms::new(master.clone(), Vec::new(), None, None).map_err(KeyError::Provider)?;
        Ok(Keyring::new(master, kms))
    }

    pub fn active_id(&self) -> &str {
        self.master.active()
    }

    /// The KMS key `kms.key`'s provider.
    fn kms_provider(&self, kms: &KmsSealing) -> Result<&Arc<dyn KeyProvider>, KeyError> {
        self.kms
            .provider(&kms.key)
            .ok_or_else(|| KeyError::UnknownKey(kms.key.clone()))
    }

    /// A random data key with a random nonce base, wrapped as `protection` says.
    pub fn fresh(&self, protection: &Protection<'_>) -> Result<DataKey, KeyError> {
        let raw = sealing::random::<32>();
        let (key_id, wrapped, customer, kms) = match protection {
            Protection::Customer(c) => (
                CUSTOMER_KEY_ID.to_string(),
                sealing::wrap(&AeadKey::new(&c.raw), CUSTOMER_KEY_ID, &raw),
                Some(c.proof()),
                None,
            ),
            Protection::S3 => (
                self.active_id().to_string(),
                sealing::wrap(self.master.active_key(), self.active_id(), &raw),
                None,
                None,
            ),
            Protection::Kms(kms) => {
                let provider = self.kms_provider(kms)?;
                let material = provider.active().to_string();
                let wrapped = provider.wrap(&kms_aad(&material, kms), &raw)?;
                (material, wrapped, None, Some(kms.clone()))
            }
        };
        Ok(DataKey {
            key: Arc::new(AeadKey::new(&raw)),
            key_id,
            wrapped,
            nonce_base: sealing::random(),
            customer,
            kms,
        })
    }

    /// The data key of a stored envelope; `customer` is the request's SSE-C key, required
    /// exactly when the object was stored with one.
    pub fn open(
        &self,
        s: &Sealing,
        customer: Option<&CustomerKey>,
    ) -> Result<Arc<AeadKey>, KeyError> {
        if s.format != FORMAT {
            return Err(KeyError::UnknownFormat(s.format));
        }
        match (&s.customer, customer) {
            (Some(proof), Some(c)) => {
                if !c.matches(proof) {
                    return Err(KeyError::CustomerKeyWrong);
                }
                let raw = sealing::unwrap(&AeadKey::new(&c.raw), CUSTOMER_KEY_ID, &s.wrapped_key)?;
                return Ok(Arc::new(AeadKey::new(&raw)));
            }
            (Some(_), None) => return Err(KeyError::CustomerKeyMissing),
            (None, Some(_)) => return Err(KeyError::CustomerKeyNotApplicable),
            (None, None) => {}
        }
        Ok(Arc::new(AeadKey::new(&self.unwrap_stored(s)?)))
    }

    /// The raw data key of an envelope wrapped by a master key or a KMS key.
    fn unwrap_stored(&self, s: &Sealing) -> Result<[u8; 32], KeyError> {
        Ok(match &s.kms {
            Some(kms) => self.kms_provider(kms)?.unwrap(
                &s.key_id,
                &kms_aad(&s.key_id, kms),
                &s.wrapped_key,
            )?,
            None => sealing::unwrap(self.master.get(&s.key_id)?, &s.key_id, &s.wrapped_key)?,
        })
    }

    /// Wraps a 32-byte secret (an access key's) under the active master key: `(key id, sealed)`.
    pub fn seal_secret(&self, raw: &[u8; 32]) -> (String, Vec<u8>) {
        (
            self.active_id().to_string(),
            sealing::wrap(self.master.active_key(), self.active_id(), raw),
        )
    }

    /// The secret [`Keyring::seal_secret`] sealed.
    pub fn open_secret(&self, key_id: &str, sealed: &[u8]) -> Result<[u8; 32], KeyError> {
        Ok(sealing::unwrap(self.master.get(key_id)?, key_id, sealed)?)
    }

    /// Key ids of envelopes that need no rotation: the active master key and every KMS key's
    /// active material.
    pub fn current_ids(&self) -> Vec<String> {
        let mut ids = self.kms.current();
        ids.retain(|id| id != self.active_id());
        ids
    }

    /// The envelope with its data key wrapped under the current material of its key (the
    /// active master key, or its KMS key's active material) instead, or `None` when it already
    /// is. Data and metadata are untouched: the data key stays the same.
    pub fn rewrap(&self, s: &Sealing) -> Result<Option<Sealing>, KeyError> {
        if s.customer.is_some() {
            return Ok(None);
        }
        let (active, wrapped) = match &s.kms {
            Some(kms) => {
                let provider = self.kms_provider(kms)?;
                if s.key_id == provider.active() {
                    return Ok(None);
                }
                let raw = self.unwrap_stored(s)?;
                let active = provider.active().to_string();
                let wrapped = provider.wrap(&kms_aad(&active, kms), &raw)?;
                (active, wrapped)
            }
            None => {
                if s.key_id == self.active_id() {
                    return Ok(None);
                }
                let raw = self.unwrap_stored(s)?;
                let wrapped = sealing::wrap(self.master.active_key(), self.active_id(), &raw);
                (self.active_id().to_string(), wrapped)
            }
        };
        Ok(Some(Sealing {
            key_id: active,
            wrapped_key: wrapped,
            ..s.clone()
        }))
    }
}

/// The extent of an object's own data or metadata (`part` 0) under envelope fields.
pub fn object_extent(
    bucket: &str,
    key: &str,
    version: Version,
    part: u32,
    nonce_base: [u8; 12],
) -> Extent {
    Extent {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version,
        part,
        nonce_base,
    }
}

impl DataKey {
    /// The envelope to store, with `metadata` sealed; `data_version` is what the data and
    /// metadata are bound to.
    pub fn envelope(
        &self,
        bucket: &str,
        key: &str,
        data_version: Version,
        metadata: &BTreeMap<String, String>,
    ) -> Sealing {
        let extent = object_extent(bucket, key, data_version, 0, self.nonce_base);
        let plain = node_api::model::encode(metadata);
        Sealing {
            format: FORMAT,
            key_id: self.key_id.clone(),
            wrapped_key: self.wrapped.clone(),
            data_version,
            nonce_base: self.nonce_base,
            metadata: extent.seal_metadata(&self.key, &plain),
            customer: self.customer.clone(),
            kms: self.kms.clone(),
        }
    }
}

/// The user metadata of an envelope.
pub fn open_metadata(
    key: &AeadKey,
    bucket: &str,
    object_key: &str,
    s: &Sealing,
) -> Result<BTreeMap<String, String>, KeyError> {
    let extent = object_extent(bucket, object_key, s.data_version, 0, s.nonce_base);
    let plain = extent.open_metadata(key, &s.metadata)?;
    rmp_serde::from_slice(&plain).map_err(|e| KeyError::Corrupt(Corrupt(e.to_string())))
}
