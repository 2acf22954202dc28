//! The PKCS#11 key provider: a KMS key's materials are AES-256 secret keys on a token (an HSM;
//! SoftHSM2 in the tests), made sensitive and not extractable, so they never leave it. The
//! token wraps a data key by AES-GCM encryption under the material (random 96-bit IV, the
//! envelope's binding as associated data) and unwraps it the same way; the gateway only ever
//! holds the data keys, as a KMS client does.
//!
//! One module and token per gateway. Sessions are pooled (a PKCS#11 session serves one call
//! at a time) and share the login; key object handles are looked up by label once. Calls
//! block: a token is a library in this process (a network HSM's library does its own I/O).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{aead::GcmParams, Mechanism};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::provider::{KeyProvider, ProviderError};
use crate::sealing;

/// IV, then the 32-byte key and the 16-byte tag: as long as a master-key wrapping.
const IV_LEN: usize = 12;

/// An open token: the module, the slot holding it, and pooled logged-in sessions.
pub struct Token {
    module: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    sessions: Mutex<Vec<Session>>,
    handles: Mutex<HashMap<String, ObjectHandle>>,
}

fn token_error(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Token(e.to_string())
}

impl Token {
    /// Loads `module`, finds the token labelled `token_label` and logs in with `pin`.
    pub fn open(
        module: &std::path::Path,
        token_label: &str,
        pin: String,
    ) -> Result<Token, ProviderError> {
        let pkcs11 = Pkcs11::new(module)
            .map_err(|e| token_error(format!("cannot load {}: {e}", module.display())))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(token_error(e)),
        }
        let slot = pkcs11
            .get_slots_with_token()
            .map_err(token_error)?
            .into_iter()
            .find(|s| {
                pkcs11
                    .get_token_info(*s)
                    .is_ok_and(|t| t.label() == token_label)
            })
            .ok_or_else(|| {
                token_error(format!(
                    "no token labelled `{token_label}` in {}",
                    module.display()
                ))
            })?;
        let token = Token {
            module: pkcs11,
            slot,
            pin: AuthPin::new(pin.into()),
            sessions: Mutex::new(Vec::new()),
            handles: Mutex::new(HashMap::new()),
        };
        // Log in now, so that a wrong PIN is a startup error.
        let session = token.session()?;
        token.give_back(session);
        Ok(token)
    }

    fn session(&self) -> Result<Session, ProviderError> {
        if let Some(s) = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
        {
            return Ok(s);
        }
        let session = self
            .module
            .open_rw_session(self.slot)
            .map_err(token_error)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(token_error(format!("login: {e}"))),
        }
    }

    fn give_back(&self, session: Session) {
        let mut pool = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 16 {
            pool.push(session);
        }
    }

    /// Runs `f` on a pooled session; a session that failed is dropped, not pooled.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let session = self.session()?;
        let out = f(&session);
        if out.is_ok() {
            self.give_back(session);
        }
        out
    }

    fn find(session: &Session, label: &str) -> Result<Option<ObjectHandle>, ProviderError> {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(token_error)?;
        Ok(found.first().copied())
    }

    /// The key object labelled `label`.
    fn handle(&self, session: &Session, label: &str) -> Result<ObjectHandle, ProviderError> {
        if let Some(h) = self
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(label)
        {
            return Ok(*h);
        }
        let h = Self::find(session, label)?
            .ok_or_else(|| ProviderError::UnknownMaterial(label.to_string()))?;
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.to_string(), h);
        Ok(h)
    }

    /// Whether a key labelled `label` is on the token.
    pub fn has(&self, label: &str) -> Result<bool, ProviderError> {
        self.with_session(|s| Ok(Self::find(s, label)?.is_some()))
    }

    /// Makes an AES-256 key labelled `label` on the token (sensitive, never extractable);
    /// `false` when one exists already.
    pub fn generate(&self, label: &str) -> Result<bool, ProviderError> {
        self.with_session(|s| {
            if Self::find(s, label)?.is_some() {
                return Ok(false);
            }
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
            )
            .map_err(token_error)?;
            Ok(true)
        })
    }

    fn wrap(&self, label: &str, aad: &[u8], raw: &[u8; 32]) -> Result<Vec<u8>, ProviderError> {
        let iv: [u8; IV_LEN] = sealing::random();
        self.with_session(|s| {
            let key = self.handle(s, label)?;
            let mut param_iv = iv;
            let params = GcmParams::new(&mut param_iv, aad, 128.into()).map_err(token_error)?;
            let sealed = s
                .encrypt(&Mechanism::AesGcm(params), key, raw)
                .map_err(token_error)?;
            let mut out = iv.to_vec();
            out.extend_from_slice(&sealed);
            Ok(out)
        })
    }

    fn unwrap(&self, label: &str, aad: &[u8], wrapped: &[u8]) -> Result<[u8; 32], ProviderError> {
        let corrupt = || sealing::Corrupt("wrapped data key does not open".into());
        if wrapped.len() != sealing::WRAPPED_LEN {
            return Err(corrupt().into());
        }
        let (iv, sealed) = wrapped.split_at(IV_LEN);
        let mut iv: [u8; IV_LEN] = iv.try_into().map_err(|_| corrupt())?;
        self.with_session(|s| {
            let key = self.handle(s, label)?;
            let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(token_error)?;
            match s.decrypt(&Mechanism::AesGcm(params), key, sealed) {
                Ok(plain) => Ok(<[u8; 32]>::try_from(plain.as_slice()).map_err(|_| corrupt())?),
                // The tag did not verify: the envelope is not this material's, or was altered.
                Err(CkError::Pkcs11(RvError::EncryptedDataInvalid, _)) => Err(corrupt().into()),
                Err(e) => Err(token_error(e)),
            }
        })
    }
}

/// A KMS key whose materials are key objects on a token, named by label.
pub struct TokenKey {
    pub token: Arc<Token>,
    /// Every label still read, the active one first.
    pub labels: Vec<String>,
}

impl KeyProvider for TokenKey {
    fn kind(&self) -> &'static str {
        "pkcs11"
    }

    fn active(&self) -> &str {
        self.labels.first().map(String::as_str).unwrap_or_default()
    }

    fn materials(&self) -> Vec<String> {
        self.labels.clone()
    }

    fn wrap(&self, aad: &str, raw: &[u8; 32]) -> Result<Vec<u8>, ProviderError> {
        self.token.wrap(self.active(), &sealing::wrap_aad(aad), raw)
    }

    fn unwrap(&self, material: &str, aad: &str, wrapped: &[u8]) -> Result<[u8; 32], ProviderError> {
        if !self.labels.iter().any(|l| l == material) {
            return Err(ProviderError::UnknownMaterial(material.to_string()));
        }
        self.token
            .unwrap(material, &sealing::wrap_aad(aad), wrapped)
    }
}
