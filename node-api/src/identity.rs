//! The cluster's own TLS identities, derived from the cluster secret: every internal link is
//! mutual TLS 1.3 with no setup beyond that secret.
//!
//! Every process that holds the secret derives the same Ed25519 key (HKDF-SHA256 of the
//! secret) and with it a cluster CA. At startup each process makes a fresh key of its own and
//! a certificate for it, signed by that CA: a node's names its node id (as
//! [`node_name`]) and [`ANY_NODE`]; a gateway's or a tool's names [`CLIENT`]. A node serves
//! only TLS and accepts a connection's requests only if its peer showed a certificate of the
//! cluster CA (its health and metrics routes answer anyone); a client checks that the node it
//! reaches holds the name of the node id it meant. So each request and chunk travels inside one
//! authenticated connection: it cannot be replayed on another connection or to another node,
//! its body cannot be swapped, and nothing without the secret can open a connection that is
//! listened to.

use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    PKCS_ED25519,
};
use ring::hkdf;
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// ALPN of the internal API: HTTP/2 (chunk streams open as HTTP/1.1 upgrades, without ALPN).
pub const ALPN_INTERNAL: &[&[u8]] = &[b"h2"];
/// The name every node's certificate carries besides its own: what a client checks when it
/// reaches an address without knowing which node is there (joining, fetching a map).
pub const ANY_NODE: &str = "node.s3store.internal";
/// The name of gateways' and tools' certificates.
pub const CLIENT: &str = "client.s3store.internal";

/// The name a node's certificate carries for its id (node ids may hold characters no DNS name
/// may, so the name is a digest of it).
pub fn node_name(node_id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, node_id.as_bytes());
    let half: Vec<u8> = digest.as_ref().iter().take(16).copied().collect();
    format!("{}.{ANY_NODE}", hex::encode(half))
}

/// One process's identity in the cluster: what it shows and what it trusts.
#[derive(Clone)]
pub struct ClusterIdentity {
    client: Arc<ClientConfig>,
    /// Only nodes serve the internal API.
    server: Option<Arc<ServerConfig>>,
}

impl std::fmt::Debug for ClusterIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterIdentity(..)")
    }
}

/// TLS 1.3 with the `ring` provider, AES-128-GCM first (the fastest suite on machines with
/// AES instructions; the chunks inside are sealed with their own keys anyway).
fn internal_provider() -> Arc<CryptoProvider> {
    let mut p = provider::default_provider();
    p.cipher_suites = vec![
        provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
        provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(p)
}

/// A TLS 1.3 client configuration that trusts the cluster CA's `roots` only; what it shows
/// of itself is up to the caller.
fn trusting(
    roots: Arc<RootCertStore>,
) -> anyhow::Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>> {
    Ok(ClientConfig::builder_with_provider(internal_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots))
}

/// The cluster CA of `secret`: its key (the same in every process) and a certificate of it.
struct ClusterCa {
    key: KeyPair,
    certificate: rcgen::Certificate,
}

struct SeedLen;

impl hkdf::KeyType for SeedLen {
    fn len(&self) -> usize {
        32
    }
}

impl ClusterCa {
    fn derive(secret: &str) -> anyhow::Result<ClusterCa> {
        let mut seed = [0u8; 32];
        hkdf::Salt::new(hkdf::HKDF_SHA256, b"s3store cluster identity v1")
            .extract(secret.as_bytes())
            .expand(&[b"cluster CA ed25519 seed"], SeedLen)
            .and_then(|okm| okm.fill(&mut seed))
            .map_err(|_| anyhow::anyhow!("cannot derive the cluster CA key"))?;
        // PKCS#8 v1 of an Ed25519 private key: a fixed prefix, then the 32-byte seed.
        let mut pkcs8 = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        pkcs8.extend_from_slice(&seed);
        let key =
            KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8), &PKCS_ED25519)
                .context("the cluster CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "s3store cluster CA");
        long_lived(&mut params);
        let certificate = params.self_signed(&key)?;
        Ok(ClusterCa { key, certificate })
    }

    fn roots(&self) -> anyhow::Result<Arc<RootCertStore>> {
        let mut roots = RootCertStore::empty();
        roots.add(self.certificate.der().clone())?;
        Ok(Arc::new(roots))
    }

    /// A fresh key and a certificate of it for `names`, good for both ends of a connection.
    fn issue(
        &self,
        names: Vec<String>,
    ) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "s3store cluster member");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        long_lived(&mut params);
        let certificate = params.signed_by(&key, &self.certificate, &self.key)?;
        let key = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| anyhow::anyhow!("a member key: {e}"))?;
        Ok((vec![certificate.der().clone()], key))
    }
}

/// Certificates live as long as the process (clocks a day apart still agree on them).
fn long_lived(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2200, 1, 1);
}

impl ClusterIdentity {
    /// A node's identity: it serves the internal API as `node_id` and reaches other nodes.
    pub fn for_node(secret: &str, node_id: &str) -> anyhow::Result<ClusterIdentity> {
        Self::build(secret, vec![node_name(node_id), ANY_NODE.to_string()], true)
    }

    /// A gateway's or a tool's identity: it reaches nodes.
    pub fn for_client(secret: &str) -> anyhow::Result<ClusterIdentity> {
        Self::build(secret, vec![CLIENT.to_string()], false)
    }

    /// An identity that trusts the cluster's nodes but shows no certificate of its own: what
    /// health probes and metrics scrapers are. Nodes answer it their health and metrics
    /// routes and refuse it everything else (tests use it to show that).
    pub fn anonymous(secret: &str) -> anyhow::Result<ClusterIdentity> {
        let roots = ClusterCa::derive(secret)?.roots()?;
        let client = trusting(roots)?.with_no_client_auth();
        Ok(ClusterIdentity {
            client: Arc::new(client),
            server: None,
        })
    }

    fn build(secret: &str, names: Vec<String>, serves: bool) -> anyhow::Result<ClusterIdentity> {
        let ca = ClusterCa::derive(secret)?;
        let roots = ca.roots()?;
        let (chain, key) = ca.issue(names)?;
        let provider = internal_provider();
        let client =
            trusting(roots.clone())?.with_client_auth_cert(chain.clone(), key.clone_key())?;
        let server = if serves {
            // Peers without a certificate may connect (probes, metrics scrapers) but are
            // answered nothing else; a certificate that does not chain to the CA fails the
            // handshake.
            let client_verifier =
                WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                    .allow_unauthenticated()
                    .build()?;
            let mut config = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])?
                .with_client_cert_verifier(client_verifier)
                .with_single_cert(chain, key)?;
            config.alpn_protocols = ALPN_INTERNAL.iter().map(|p| p.to_vec()).collect();
            Some(Arc::new(config))
        } else {
            None
        };
        Ok(ClusterIdentity {
            client: Arc::new(client),
            server,
        })
    }

    /// How this process connects to nodes (with its certificate, trusting the cluster CA).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    /// How a node serves the internal API; `None` for clients.
    pub fn server_config(&self) -> Option<Arc<ServerConfig>> {
        self.server.clone()
    }
}

/// Whether the peer of a served TLS connection showed a certificate of the cluster CA (the
/// handshake fails for any other certificate, so showing one is enough).
pub fn peer_is_member(connection: &rustls::ServerConnection) -> bool {
    connection
        .peer_certificates()
        .is_some_and(|chain| !chain.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_dns_names_per_id() {
        for id in ["node1", "n_1.zone-a", &"x".repeat(128)] {
            let name = node_name(id);
            assert!(rustls_pki_types::ServerName::try_from(name.clone()).is_ok());
            assert!(name.ends_with(ANY_NODE));
        }
        assert_ne!(node_name("a"), node_name("b"));
    }

    #[test]
    fn the_ca_is_the_same_in_every_process_of_a_secret() {
        let (a, b) = (
            ClusterCa::derive("s").unwrap(),
            ClusterCa::derive("s").unwrap(),
        );
        assert_eq!(a.key.public_key_der(), b.key.public_key_der());
        let other = ClusterCa::derive("t").unwrap();
        assert_ne!(a.key.public_key_der(), other.key.public_key_der());
    }

    /// A handshake between `client` and a node serving as `node`, `client` asking for `name`:
    /// whether it completes and whether the node saw a cluster member.
    async fn handshake(
        client: &ClusterIdentity,
        node: &ClusterIdentity,
        name: &str,
    ) -> Option<bool> {
        let (a, b) = tokio::io::duplex(1 << 16);
        let connector = tokio_rustls::TlsConnector::from(client.client_config());
        let acceptor = tokio_rustls::TlsAcceptor::from(node.server_config().unwrap());
        let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
        let (client_end, server_end) = tokio::join!(connector.connect(name, a), acceptor.accept(b));
        match (client_end, server_end) {
            (Ok(_), Ok(served)) => Some(peer_is_member(served.get_ref().1)),
            _ => None,
        }
    }

    #[tokio::test]
    async fn members_reach_the_node_they_name_and_nobody_else_does() {
        let node = ClusterIdentity::for_node("secret", "n1").unwrap();
        let gateway = ClusterIdentity::for_client("secret").unwrap();
        let other_node = ClusterIdentity::for_node("secret", "n2").unwrap();
        assert_eq!(
            handshake(&gateway, &node, &node_name("n1")).await,
            Some(true)
        );
        assert_eq!(handshake(&gateway, &node, ANY_NODE).await, Some(true));
        assert_eq!(
            handshake(&other_node, &node, &node_name("n1")).await,
            Some(true)
        );
        // Not the node the client meant.
        assert_eq!(handshake(&gateway, &node, &node_name("n2")).await, None);
        // Another cluster's members, either way round.
        let stranger = ClusterIdentity::for_client("another secret").unwrap();
        assert_eq!(handshake(&stranger, &node, ANY_NODE).await, None);
        let stranger_node = ClusterIdentity::for_node("another secret", "n1").unwrap();
        assert_eq!(handshake(&gateway, &stranger_node, ANY_NODE).await, None);
        // A client without a certificate gets a connection, and the node knows it.
        let anonymous = ClusterIdentity::anonymous("secret").unwrap();
        assert_eq!(handshake(&anonymous, &node, ANY_NODE).await, Some(false));
    }
}
