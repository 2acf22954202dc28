//! The master keys of server-side encryption (from the configuration) and the envelopes they
//! make: a new object version gets a random data key, wrapped under the active master key;
//! reading unwraps it under whichever key id the envelope names, so objects written under an
//! older key stay readable until `rotate` rewraps them.
//!
//! With SSE-C the customer's key takes the master key's place: it wraps the data key (under
//! the reserved id [`CUSTOMER_KEY_ID`]) and is never stored. A salted HMAC-SHA256 of it is
//! ([`CustomerKeyProof`]), so that a later request with a wrong key is told so before anything
//! is decrypted; without the customer's key the object cannot be read, master keys or not.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use node_api::model::{CustomerKeyProof, Sealing, Version};
use ring::hmac;

use crate::sealing::{self, AeadKey, Corrupt, Extent, FORMAT};

/// Master keys by id, and the one new objects use.
pub struct Keyring {
    active: String,
    active_key: Arc<AeadKey>,
    keys: HashMap<String, Arc<AeadKey>>,
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

/// A fresh data key for one object version (or multipart upload), not yet stored.
pub struct DataKey {
    pub key: Arc<AeadKey>,
    pub key_id: String,
    pub wrapped: Vec<u8>,
    pub nonce_base: [u8; 12],
    pub customer: Option<CustomerKeyProof>,
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
}

impl Keyring {
    /// `keys` as loaded by `EncryptionConfig::load_keys`; `active` must be among them.
    pub fn new(active: &str, keys: Vec<(String, [u8; 32])>) -> Result<Keyring, KeyError> {
        let keys: HashMap<String, Arc<AeadKey>> = keys
            .into_iter()
            .map(|(id, k)| (id, Arc::new(AeadKey::new(&k))))
            .collect();
        let active_key = keys
            .get(active)
            .cloned()
            .ok_or_else(|| KeyError::UnknownKey(active.to_string()))?;
        Ok(Keyring {
            active: active.to_string(),
            active_key,
            keys,
        })
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    /// A random data key with a random nonce base, wrapped under the customer's key if one is
    /// given (SSE-C), else under the active master key.
    pub fn fresh(&self, customer: Option<&CustomerKey>) -> DataKey {
        let raw = sealing::random::<32>();
        let (key_id, wrapped) = match customer {
            Some(c) => (
                CUSTOMER_KEY_ID,
                sealing::wrap(&AeadKey::new(&c.raw), CUSTOMER_KEY_ID, &raw),
            ),
            None => (
                self.active.as_str(),
                sealing::wrap(&self.active_key, &self.active, &raw),
            ),
        };
        DataKey {
            key: Arc::new(AeadKey::new(&raw)),
            key_id: key_id.to_string(),
            wrapped,
            nonce_base: sealing::random(),
            customer: customer.map(CustomerKey::proof),
        }
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
        let master = self
            .keys
            .get(&s.key_id)
            .ok_or_else(|| KeyError::UnknownKey(s.key_id.clone()))?;
        let raw = sealing::unwrap(master, &s.key_id, &s.wrapped_key)?;
        Ok(Arc::new(AeadKey::new(&raw)))
    }

    /// Wraps a 32-byte secret (an access key's) under the active master key: `(key id, sealed)`.
    pub fn seal_secret(&self, raw: &[u8; 32]) -> (String, Vec<u8>) {
        (
            self.active.clone(),
            sealing::wrap(&self.active_key, &self.active, raw),
        )
    }

    /// The secret [`Keyring::seal_secret`] sealed.
    pub fn open_secret(&self, key_id: &str, sealed: &[u8]) -> Result<[u8; 32], KeyError> {
        let master = self
            .keys
            .get(key_id)
            .ok_or_else(|| KeyError::UnknownKey(key_id.to_string()))?;
        Ok(sealing::unwrap(master, key_id, sealed)?)
    }

    /// The envelope with its data key wrapped under the active master key instead, or `None`
    /// when it already is. Data and metadata are untouched: the data key stays the same.
    pub fn rewrap(&self, s: &Sealing) -> Result<Option<Sealing>, KeyError> {
        if s.key_id == self.active || s.customer.is_some() {
            return Ok(None);
        }
        let master = self
            .keys
            .get(&s.key_id)
            .ok_or_else(|| KeyError::UnknownKey(s.key_id.clone()))?;
        let raw = sealing::unwrap(master, &s.key_id, &s.wrapped_key)?;
        Ok(Some(Sealing {
            key_id: self.active.clone(),
            wrapped_key: sealing::wrap(&self.active_key, &self.active, &raw),
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
