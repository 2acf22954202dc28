//! The master keys of server-side encryption (from the configuration) and the envelopes they
//! make: a new object version gets a random data key, wrapped under the active master key;
//! reading unwraps it under whichever key id the envelope names, so objects written under an
//! older key stay readable until `rotate` rewraps them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use storage_node::model::{Sealing, Version};

use crate::sealing::{self, AeadKey, Corrupt, Extent, FORMAT};

/// Master keys by id, and the one new objects use.
pub struct Keyring {
    active: String,
    keys: HashMap<String, AeadKey>,
}

/// A fresh data key for one object version (or multipart upload), not yet stored.
pub struct DataKey {
    pub key: Arc<AeadKey>,
    pub key_id: String,
    pub wrapped: Vec<u8>,
    pub nonce_base: [u8; 12],
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
}

impl Keyring {
    /// `keys` as loaded by `EncryptionConfig::load_keys` (which checked `active` is among them).
    pub fn new(active: &str, keys: Vec<(String, [u8; 32])>) -> Keyring {
        Keyring {
            active: active.to_string(),
            keys: keys
                .into_iter()
                .map(|(id, k)| (id, AeadKey::new(&k)))
                .collect(),
        }
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    /// A random data key wrapped under the active master key, with a random nonce base.
    pub fn fresh(&self) -> DataKey {
        let raw = sealing::random::<32>();
        let master = &self.keys[&self.active];
        DataKey {
            key: Arc::new(AeadKey::new(&raw)),
            key_id: self.active.clone(),
            wrapped: sealing::wrap(master, &self.active, &raw),
            nonce_base: sealing::random(),
        }
    }

    /// The data key of a stored envelope.
    pub fn open(&self, s: &Sealing) -> Result<Arc<AeadKey>, KeyError> {
        if s.format != FORMAT {
            return Err(KeyError::UnknownFormat(s.format));
        }
        let master = self
            .keys
            .get(&s.key_id)
            .ok_or_else(|| KeyError::UnknownKey(s.key_id.clone()))?;
        let raw = sealing::unwrap(master, &s.key_id, &s.wrapped_key)?;
        Ok(Arc::new(AeadKey::new(&raw)))
    }

    /// The envelope with its data key wrapped under the active master key instead, or `None`
    /// when it already is. Data and metadata are untouched: the data key stays the same.
    pub fn rewrap(&self, s: &Sealing) -> Result<Option<Sealing>, KeyError> {
        if s.key_id == self.active {
            return Ok(None);
        }
        let master = self
            .keys
            .get(&s.key_id)
            .ok_or_else(|| KeyError::UnknownKey(s.key_id.clone()))?;
        let raw = sealing::unwrap(master, &s.key_id, &s.wrapped_key)?;
        Ok(Some(Sealing {
            key_id: self.active.clone(),
            wrapped_key: sealing::wrap(&self.keys[&self.active], &self.active, &raw),
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
        let plain = rmp_serde::to_vec(metadata).expect("a string map serializes");
        Sealing {
            format: FORMAT,
            key_id: self.key_id.clone(),
            wrapped_key: self.wrapped.clone(),
            data_version,
            nonce_base: self.nonce_base,
            metadata: extent.seal_metadata(&self.key, &plain),
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
