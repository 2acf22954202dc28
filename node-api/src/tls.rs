//! TLS of the S3 endpoint (rustls with the `ring` provider): the server identity loaded from
//! the PEM files the configuration names, and loaded again when they change. The internal links have their own identities,
//! derived from the cluster secret ([`crate::identity`]).

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::crypto::ring::default_provider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN of the S3 endpoint: HTTP/2 or HTTP/1.1, as the client prefers.
pub const ALPN_S3: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The certificates of a PEM file's bytes (`path` names it in errors).
fn certificates(path: &Path, pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: holds no certificate",
        path.display()
    );
    Ok(certs)
}

/// The S3 endpoint's certificate and key, re-read from their files while the gateway runs:
/// [`ReloadingIdentity::refresh`] (called every few seconds) swaps in a new pair as soon as
/// both files hold one that loads, so a renewed certificate (cert-manager, Let's Encrypt,
/// a Kubernetes secret update) is served without a restart. A pair that does not load (a
/// half-written file, a key that does not match) is refused and the current one kept.
#[derive(Debug)]
pub struct ReloadingIdentity {
    files: config::TlsFiles,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    /// The files' bytes the key was made from.
    source: (Vec<u8>, Vec<u8>),
}

impl ReloadingIdentity {
    /// Loads the pair `files` names; an error names the file.
    pub fn load(files: &config::TlsFiles) -> anyhow::Result<Arc<ReloadingIdentity>> {
        let source = read_pair(files)?;
        let key = Arc::new(certified_key(files, &source)?);
        Ok(Arc::new(ReloadingIdentity {
            files: files.clone(),
            current: RwLock::new(Loaded { key, source }),
        }))
    }

    /// Re-reads the files; when they changed and load, the new pair is served from now on.
    /// Answers whether it changed.
    pub fn refresh(&self) -> anyhow::Result<bool> {
        let source = read_pair(&self.files)?;
        let unchanged = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .source
            == source;
        if unchanged {
            return Ok(false);
        }
        let key = Arc::new(certified_key(&self.files, &source)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Loaded { key, source };
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .key
                .clone(),
        )
    }
}

fn read_pair(files: &config::TlsFiles) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    Ok((read(&files.certificate)?, read(&files.private_key)?))
}

/// The identity of a PEM certificate chain and private key (their bytes, read from `files`).
fn certified_key(
    files: &config::TlsFiles,
    (chain, key): &(Vec<u8>, Vec<u8>),
) -> anyhow::Result<CertifiedKey> {
    let chain = certificates(&files.certificate, chain)?;
    let key = PrivateKeyDer::from_pem_slice(key).with_context(|| {
        format!(
            "{}: no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            files.private_key.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, &default_provider())
        .context("the certificate and private key do not form a usable identity")
}

/// A server configuration serving `identity` (as it is at each handshake).
pub fn server_config(
    identity: Arc<ReloadingIdentity>,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(identity);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
