//! Typed configuration of both binaries, loaded from YAML.
//!
//! Every struct rejects unknown fields, and every error names the file and the field, so a typo
//! in a config is a startup error rather than a silently ignored setting. Secrets (the cluster
//! secret, S3 secret keys) are [`Secret`]s: read from an environment variable or a file, or given
//! inline only where a test or the dev cluster generates them. Relative paths in a file are taken
//! relative to that file's folder.

use std::path::{Path, PathBuf};

use placement::ClusterMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A configuration that cannot be used. The message names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Where a secret value comes from: exactly one of `{ env: VAR }`, `{ file: path }` or
/// `{ value: "..." }` (the last meant for generated dev and test configs only).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SecretFields", into = "SecretFields")]
pub enum Secret {
    /// The value of an environment variable.
    Env(String),
    /// The contents of a file (surrounding white space trimmed).
    File(PathBuf),
    /// The value itself.
    Value(String),
}

/// Where the secret comes from, never its value: a configuration printed with `{:?}` (in an
/// error, a log line) shows `Value(<redacted>)`.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Env(var) => f.debug_tuple("Env").field(var).finish(),
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
            Secret::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

/// The YAML shape of a [`Secret`].
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

impl std::fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFields")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl TryFrom<SecretFields> for Secret {
    type Error = String;
    fn try_from(f: SecretFields) -> Result<Self, String> {
        match (f.env, f.file, f.value) {
            (Some(v), None, None) => Ok(Secret::Env(v)),
            (None, Some(p), None) => Ok(Secret::File(p)),
            (None, None, Some(v)) => Ok(Secret::Value(v)),
            _ => Err("a secret takes exactly one of `env`, `file` or `value`".into()),
        }
    }
}

impl From<Secret> for SecretFields {
    fn from(s: Secret) -> Self {
        let mut f = SecretFields::default();
        match s {
            Secret::Env(v) => f.env = Some(v),
            Secret::File(p) => f.file = Some(p),
            Secret::Value(v) => f.value = Some(v),
        }
        f
    }
}

impl Secret {
    /// Reads the secret. `field` names it in the error.
    pub fn resolve(&self, field: &str) -> Result<String, String> {
        let value = match self {
            Secret::Env(var) => std::env::var(var)
                .map_err(|_| format!("{field}: environment variable `{var}` is not set"))?,
            Secret::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("{field}: cannot read `{}`: {e}", path.display()))?
                .trim()
                .to_string(),
            Secret::Value(v) => v.clone(),
        };
        if value.is_empty() {
            return Err(format!("{field}: the secret is empty"));
        }
        Ok(value)
    }

    fn rebase(&mut self, dir: &Path) {
        if let Secret::File(p) = self {
            *p = dir.join(&*p);
        }
    }
}

/// Configuration of one storage node process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageNodeConfig {
    /// This node's id in the cluster map.
    pub node_id: String,
    /// Address the internal API listens on, e.g. `127.0.0.1:9101`.
    pub listen: String,
    /// Folder of this node's RocksDB.
    pub data_dir: PathBuf,
    /// Shared secret that authenticates every internal request.
    pub cluster_secret: Secret,
    /// The background re-verification of stored chunks.
    #[serde(default)]
    pub scrub: ScrubConfig,
    /// Address (`host:port`) of any member of the cluster: a node with no cluster map state yet
    /// learns it from there at startup (gateways also send it later).
    #[serde(default)]
    pub join: Option<String>,
    /// Log filter (`info`, `warn,storage_node=debug`, ...) used when RUST_LOG is not set.
    #[serde(default)]
    pub log: Option<String>,
}

/// Pace of the scrub: chunk bytes verified per second (0 turns it off), and the pause between
/// two full passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrubConfig {
    pub bytes_per_second: u64,
    pub pause_seconds: f64,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            bytes_per_second: 16 << 20,
            pause_seconds: 3600.0,
        }
    }
}

/// A TLS server identity: PEM files of the certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain (PEM), leaf first.
    pub certificate: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

impl TlsFiles {
    fn rebase(&mut self, dir: &Path) {
        self.certificate = dir.join(&self.certificate);
        self.private_key = dir.join(&self.private_key);
    }
}

/// An S3 access key and its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub access_key: String,
    pub secret_key: Secret,
}

/// Configuration of one gateway process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address the S3 endpoint listens on, e.g. `127.0.0.1:9000`.
    pub listen: String,
    /// Region reported to clients and expected in signatures.
    #[serde(default = "default_region")]
    pub region: String,
    /// The cluster map file. Watched: a valid map with a higher epoch written here is a
    /// membership change (see ARCHITECTURE.md). The nodes keep the map state too, and a
    /// newer state held by them wins over this file. Give this, or `join`, or both.
    #[serde(default)]
    pub cluster_map: Option<PathBuf>,
    /// Addresses (`host:port`) of storage nodes to learn the cluster map from (discovery):
    /// any one member that answers is enough.
    #[serde(default)]
    pub join: Vec<String>,
    /// Shared secret that authenticates every internal request.
    pub cluster_secret: Secret,
    /// Access keys accepted by the S3 endpoint.
    pub credentials: Vec<Credential>,
    /// Domain for virtual-hosted-style requests (`bucket.<domain>`); path style always works.
    #[serde(default)]
    pub virtual_host_domain: Option<String>,
    /// Size of the chunks large objects are cut into, in bytes. 4 MiB by default (as Ceph RGW
    /// stripes): a chunk is a file on each of its nodes, and fewer, larger files cost less
    /// per byte to create, sync and index (PERFORMANCE.md).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// Objects up to this size are stored inside their manifest.
    #[serde(default = "default_inline_threshold")]
    pub inline_threshold: usize,
    /// Chunks of one request in flight to the storage nodes at once (2 by default: 8 MiB of
    /// 4 MiB chunks per request, which keeps the gateway's memory bounded under load).
    #[serde(default = "default_window")]
    pub chunk_window: usize,
    /// Master keys for server-side encryption (always on).
    pub encryption: EncryptionConfig,
    /// Serve the S3 endpoint over HTTPS with this certificate.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Sloppy quorum: a write meant for an owner that is down goes to the next node of the
    /// preference list with a hint, and is handed back later. `false` is strict: a write
    /// needs `w` true owners.
    #[serde(default = "default_true")]
    pub hinted_handoff: bool,
    /// Seconds between anti-entropy passes (replicas compare digests and copy what differs);
    /// 0 turns it off.
    #[serde(default = "default_anti_entropy_seconds")]
    pub anti_entropy_seconds: f64,
    /// Pace of the chunk copies anti-entropy makes, in bytes per second; 0 is unlimited.
    #[serde(default = "default_rebalance_rate")]
    pub anti_entropy_bytes_per_second: u64,
    /// Pace of chunk copies when data moves after a membership change, in bytes per second;
    /// 0 is unlimited.
    #[serde(default = "default_rebalance_rate")]
    pub rebalance_bytes_per_second: u64,
    /// Removal of what nobody needs any more: orphan chunks, old tombstones, ended uploads.
    #[serde(default)]
    pub garbage_collection: GcConfig,
    /// Log filter (`info`, `warn,s3store::access=info`, ...) used when RUST_LOG is not set.
    #[serde(default)]
    pub log: Option<String>,
    /// On SIGTERM or Ctrl-C the gateway stops accepting connections and gives the requests in
    /// flight this many seconds to finish before it exits (Kubernetes waits 30 s by default
    /// before it kills a pod: keep this below the pod's termination grace period).
    #[serde(default = "default_shutdown_grace_seconds")]
    pub shutdown_grace_seconds: f64,
    /// The website endpoint of website buckets (PutBucketWebsite); none when not set.
    #[serde(default)]
    pub website: Option<WebsiteEndpoint>,
    /// The admin HTTP API (`/admin/v1/...`) and web console (`/console/`); none when not set.
    #[serde(default)]
    pub admin: Option<AdminEndpoint>,
}

/// The admin endpoint: its own listener (HTTPS when the S3 endpoint has `tls`), every API
/// request authenticated with `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminEndpoint {
    /// Address to listen on (`127.0.0.1:9090`: keep it off public networks).
    pub listen: String,
    /// The admin token (at least 16 characters).
    pub token: Secret,
}

impl AdminEndpoint {
    /// The token, checked for length.
    pub fn load_token(&self) -> Result<String, String> {
        let token = self.token.resolve("admin.token")?;
        let token = token.trim().to_string();
        if token.len() < 16 {
            return Err("admin.token: an admin token has at least 16 characters".to_string());
        }
        Ok(token)
    }
}

/// The website endpoint: its own listener, plain HTTP as S3's website endpoints are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebsiteEndpoint {
    /// Address to listen on (`0.0.0.0:9080`).
    pub listen: String,
    /// A request to `<bucket>.<domain>` reads the website bucket `<bucket>`; any other host
    /// name is taken as a bucket's whole name (a CNAME named as the bucket, as on S3).
    pub domain: String,
}

fn default_shutdown_grace_seconds() -> f64 {
    25.0
}

/// Garbage collection: after a complete anti-entropy pass, at most every `every_seconds`
/// (0 turns it off), remove tombstones, ended upload records and conditional write promises
/// older than `grace_seconds` (at least two anti-entropy cycles: a deletion must have reached
/// every replica before its tombstone goes), and superseded object versions and orphan chunks
/// older than `reclaim_grace_seconds`, which must outlast the slowest request (a GET still
/// streaming a replaced version, a PUT whose chunks are not yet in a manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    pub grace_seconds: f64,
    pub every_seconds: f64,
    pub reclaim_grace_seconds: f64,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace_seconds: 86_400.0,
            every_seconds: 600.0,
            reclaim_grace_seconds: 900.0,
        }
    }
}

fn default_rebalance_rate() -> u64 {
    64 << 20
}

fn default_anti_entropy_seconds() -> f64 {
    60.0
}

fn default_true() -> bool {
    true
}

/// Server-side encryption: the master keys that wrap every object's data key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Id of the key new objects are wrapped with; the others stay for reading and `rotate`.
    pub active_key: String,
    /// Every master key still needed: 32 random bytes, base64-encoded
    /// (`openssl rand -base64 32`), from a file or an environment variable.
    pub master_keys: Vec<MasterKey>,
    /// Accept SSE-C (customer-provided keys) over plain HTTP. AWS refuses it, since the key
    /// travels in a header; only for local testing without TLS.
    #[serde(default)]
    pub allow_sse_c_over_http: bool,
    /// SSE-KMS (`aws:kms`) keys beyond the built-in `aws/s3` (which the master keys back).
    #[serde(default)]
    pub kms: Option<KmsConfig>,
}

/// The KMS keys SSE-KMS objects may name, and where their key material is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsConfig {
    /// The key `aws:kms` uses when neither the request nor the bucket names one (default:
    /// the built-in `aws/s3`).
    #[serde(default)]
    pub default_key: Option<String>,
    pub keys: Vec<KmsKeyConfig>,
    /// The PKCS#11 token (an HSM) that keeps the materials of `provider: pkcs11` keys.
    #[serde(default)]
    pub pkcs11: Option<Pkcs11Config>,
}

/// Where a KMS key's materials are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KmsProvider {
    /// In the configuration, as master keys are (`materials`).
    #[default]
    Keyring,
    /// On the PKCS#11 token, as AES-256 secret keys that never leave it (`labels`).
    Pkcs11,
}

/// One KMS key: the id clients name (bare, as `alias/<id>`, or in an ARN), and its materials:
/// new data keys are wrapped by `active`, the others stay for reading and `rotate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsKeyConfig {
    pub id: String,
    #[serde(default)]
    pub provider: KmsProvider,
    pub active: String,
    /// `provider: keyring`: the materials, shaped like master keys.
    #[serde(default)]
    pub materials: Vec<MasterKey>,
    /// `provider: pkcs11`: labels of older key objects on the token still read (`active` is
    /// always included).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A PKCS#11 module and the token in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The module's shared library (SoftHSM2: `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: Secret,
}

/// A KMS key's material ids: the envelope names the material that wrapped a data key, so
/// they are unique across master keys and every KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedKmsKey {
    pub id: String,
    pub provider: KmsProvider,
    pub active: String,
    /// Keyring materials with their bytes; empty for a PKCS#11 key.
    pub materials: Vec<(String, [u8; 32])>,
    /// Every label of a PKCS#11 key, `active` first; empty for a keyring key.
    pub labels: Vec<String>,
}

/// The KMS key built in: backed by the master keys, used when nothing names another.
pub const BUILT_IN_KMS_KEY: &str = "aws/s3";

/// One master key and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKey {
    pub id: String,
    pub key: Secret,
}

impl EncryptionConfig {
    /// Checks the shape (ids, the active key present, no inline keys) and reads every key,
    /// returning `(id, key bytes)` pairs. Errors name the field.
    pub fn load_keys(&self) -> Result<Vec<(String, [u8; 32])>, String> {
        load_materials(
            &self.master_keys,
            &self.active_key,
            "encryption.master_keys",
            "encryption.active_key",
        )
    }

    /// Checks and reads the KMS keys (materials included), their ids unique and apart from
    /// the master keys'. Errors name the field.
    pub fn load_kms_keys(&self) -> Result<Vec<LoadedKmsKey>, String> {
        let Some(kms) = &self.kms else {
            return Ok(Vec::new());
        };
        let mut taken: Vec<String> = self.master_keys.iter().map(|k| k.id.clone()).collect();
        taken.push("sse-c".into());
        let mut out: Vec<LoadedKmsKey> = Vec::new();
        for (i, k) in kms.keys.iter().enumerate() {
            let field = format!("encryption.kms.keys[{i}]");
            check_kms_id(&k.id).map_err(|e| format!("{field}.id: {e}"))?;
            if k.id == BUILT_IN_KMS_KEY || out.iter().any(|o| o.id == k.id) {
                return Err(format!(
                    "{field}.id: `{}` is listed twice or built in",
                    k.id
                ));
            }
            let mut loaded = LoadedKmsKey {
                id: k.id.clone(),
                provider: k.provider,
                active: k.active.clone(),
                materials: Vec::new(),
                labels: Vec::new(),
            };
            let ids: Vec<String> = match k.provider {
                KmsProvider::Keyring => {
                    if !k.labels.is_empty() {
                        return Err(format!("{field}.labels: only a pkcs11 key has labels"));
                    }
                    loaded.materials = load_materials(
                        &k.materials,
                        &k.active,
                        &format!("{field}.materials"),
                        &format!("{field}.active"),
                    )?;
                    loaded.materials.iter().map(|(id, _)| id.clone()).collect()
                }
                KmsProvider::Pkcs11 => {
                    if !k.materials.is_empty() {
                        return Err(format!(
                            "{field}.materials: a pkcs11 key's materials are on the token; list their labels"
                        ));
                    }
                    if kms.pkcs11.is_none() {
                        return Err(format!(
                            "{field}.provider: pkcs11 needs encryption.kms.pkcs11 (module, token_label, pin)"
                        ));
                    }
                    let mut labels = vec![k.active.clone()];
                    labels.extend(k.labels.iter().filter(|l| **l != k.active).cloned());
                    for l in &labels {
                        if l.is_empty() || l.len() > 32 {
                            return Err(format!(
                                "{field}.labels: `{l}` must be 1 to 32 characters"
                            ));
                        }
                    }
                    loaded.labels = labels.clone();
                    labels
                }
            };
            for id in ids {
                if taken.contains(&id) {
                    return Err(format!(
                        "{field}: material `{id}` is also another key's; material ids and labels are unique across master keys and KMS keys"
                    ));
                }
                taken.push(id);
            }
            out.push(loaded);
        }
        if let Some(d) = &kms.default_key {
            if d != BUILT_IN_KMS_KEY && !out.iter().any(|k| k.id == *d) {
                return Err(format!(
                    "encryption.kms.default_key: `{d}` is not among encryption.kms.keys"
                ));
            }
        }
        Ok(out)
    }
}

/// Checks and reads a list of keys shaped like master keys (`list` and `active_field` name
/// them in errors): ids unique, `active` among them, each key 32 bytes in base64 from a file or
/// the environment, never inline.
fn load_materials(
    keys: &[MasterKey],
    active: &str,
    list: &str,
    active_field: &str,
) -> Result<Vec<(String, [u8; 32])>, String> {
    use base64::Engine as _;
    if keys.is_empty() {
        return Err(format!("{list}: at least one key is needed"));
    }
    if !keys.iter().any(|k| k.id == active) {
        return Err(format!("{active_field}: `{active}` is not among {list}"));
    }
    let mut out: Vec<(String, [u8; 32])> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let field = format!("{list}[{i}]");
        if k.id.is_empty() || k.id.len() > 64 {
            return Err(format!("{field}.id: must be 1 to 64 characters"));
        }
        if out.iter().any(|(id, _)| *id == k.id) {
            return Err(format!("{field}.id: `{}` is listed twice", k.id));
        }
        if k.id == "sse-c" {
            return Err(format!("{field}.id: `sse-c` is reserved for customer keys"));
        }
        if matches!(k.key, Secret::Value(_)) {
            return Err(format!(
                "{field}.key: a master key is read from {{ file: path }} or {{ env: VAR }}, never written into the configuration"
            ));
        }
        let text = k.key.resolve(&format!("{field}.key"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                format!("{field}.key: must be 32 bytes in base64 (openssl rand -base64 32)")
            })?;
        out.push((k.id.clone(), bytes));
    }
    Ok(out)
}

/// A KMS key id: 1 to 64 letters, digits, `-` and `_` (clients name it bare, as
/// `alias/<id>` or in an ARN, so no `/` or `:`).
fn check_kms_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "`{id}` must be 1 to 64 letters, digits, `-` or `_`"
        ));
    }
    Ok(())
}

fn default_region() -> String {
    "us-east-1".to_string()
}
fn default_chunk_size() -> usize {
    4 << 20
}
fn default_inline_threshold() -> usize {
    16 << 10
}
fn default_window() -> usize {
    2
}

impl GatewayConfig {
    /// Checks the values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.credentials.is_empty() {
            return Err("credentials: at least one access key is needed".into());
        }
        if !(64 << 10..=64 << 20).contains(&self.chunk_size)
            || !self.chunk_size.is_multiple_of(64 << 10)
        {
            return Err(format!(
                "chunk_size: must be a multiple of 64 KiB (the encryption segment) between 64 KiB and 64 MiB, got {}",
                self.chunk_size
            ));
        }
        if self.cluster_map.is_none() && self.join.is_empty() {
            return Err(
                "cluster_map: give the cluster map file, or `join` with the address of a member"
                    .into(),
            );
        }
        if self.inline_threshold > self.chunk_size {
            return Err("inline_threshold: must not exceed chunk_size".into());
        }
        let gc = &self.garbage_collection;
        if !(gc.every_seconds >= 0.0 && gc.grace_seconds >= 0.0 && gc.reclaim_grace_seconds >= 0.0)
        {
            return Err("garbage_collection: seconds must not be negative".into());
        }
        if gc.every_seconds > 0.0 && gc.grace_seconds < 2.0 * self.anti_entropy_seconds {
            return Err(format!(
                "garbage_collection.grace_seconds: must be at least twice anti_entropy_seconds ({}), got {}",
                self.anti_entropy_seconds, gc.grace_seconds
            ));
        }
        if self.chunk_window == 0 || self.chunk_window > 64 {
            return Err(format!(
                "chunk_window: must be between 1 and 64, got {}",
                self.chunk_window
            ));
        }
        if !(0.0..=3600.0).contains(&self.shutdown_grace_seconds) {
            return Err(format!(
                "shutdown_grace_seconds: must be between 0 and 3600, got {}",
                self.shutdown_grace_seconds
            ));
        }
        Ok(())
    }

    /// Reads every secret the configuration refers to (cluster secret, access keys' secrets,
    /// master keys); the error names the field.
    pub fn check_secrets(&self) -> Result<(), String> {
        self.cluster_secret.resolve("cluster_secret")?;
        for (i, c) in self.credentials.iter().enumerate() {
            c.secret_key
                .resolve(&format!("credentials[{i}].secret_key"))?;
        }
        self.encryption.load_keys()?;
        self.encryption.load_kms_keys()?;
        if let Some(p) = self.encryption.kms.as_ref().and_then(|k| k.pkcs11.as_ref()) {
            p.pin.resolve("encryption.kms.pkcs11.pin")?;
        }
        if let Some(admin) = &self.admin {
            admin.load_token()?;
        }
        Ok(())
    }

    fn rebase(&mut self, dir: &Path) {
        if let Some(map) = &mut self.cluster_map {
            *map = dir.join(&*map);
        }
        self.cluster_secret.rebase(dir);
        if let Some(admin) = &mut self.admin {
            admin.token.rebase(dir);
        }
        for c in &mut self.credentials {
            c.secret_key.rebase(dir);
        }
        for k in &mut self.encryption.master_keys {
            k.key.rebase(dir);
        }
        if let Some(kms) = &mut self.encryption.kms {
            for k in &mut kms.keys {
                for m in &mut k.materials {
                    m.key.rebase(dir);
                }
            }
            if let Some(p) = &mut kms.pkcs11 {
                p.pin.rebase(dir);
            }
        }
        if let Some(t) = &mut self.tls {
            t.rebase(dir);
        }
    }
}

impl StorageNodeConfig {
    fn rebase(&mut self, dir: &Path) {
        self.data_dir = dir.join(&self.data_dir);
        self.cluster_secret.rebase(dir);
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    // serde_path_to_error names the field even when the error comes from a nested
    // `try_from` (a secret with two sources, say), where serde alone loses the path.
    serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text)).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = if field == "." || inner.starts_with(&field) {
            inner
        } else {
            format!("{field}: {inner}")
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        }
    })
}

fn folder_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Loads a gateway configuration file.
pub fn load_gateway(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let mut config: GatewayConfig = parse(path, &read(path)?)?;
    config.validate().map_err(|message| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    config.rebase(&folder_of(path));
    Ok(config)
}

/// Loads a storage node configuration file.
pub fn load_storage_node(path: &Path) -> Result<StorageNodeConfig, ConfigError> {
    let mut config: StorageNodeConfig = parse(path, &read(path)?)?;
    config.rebase(&folder_of(path));
    Ok(config)
}

/// Loads and validates a cluster map file.
pub fn load_cluster_map(path: &Path) -> Result<ClusterMap, ConfigError> {
    ClusterMap::from_yaml(&read(path)?).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const GATEWAY: &str = "
listen: 127.0.0.1:9000
cluster_map: cluster.yaml
cluster_secret: { file: secret.txt }
credentials:
  - access_key: AK
    secret_key: { env: TEST_SK }
encryption:
  active_key: k1
  master_keys:
    - { id: k1, key: { file: mk1 } }
";

    const NODE: &str = "node_id: n1\nlisten: 127.0.0.1:9101\ndata_dir: data\ncluster_secret: { value: s }\nscrub: { bytes_per_second: 0 }\njoin: 127.0.0.1:9102\n";
    const MAP: &str = "epoch: 3\nreplication: { n: 3, w: 2, r: 2 }\nnodes:\n  - { id: a, address: '127.0.0.1:1', zone: z1 }\n  - { id: b, address: '127.0.0.1:2', zone: z2, weight: 2 }\n  - { id: c, address: '127.0.0.1:3', zone: z3 }\n";

    #[test]
    fn printed_configurations_never_show_secret_values() {
        let text = "
listen: 127.0.0.1:9000
cluster_map: cluster.yaml
cluster_secret: { value: cluster-secret-1234 }
credentials:
  - access_key: AK
    secret_key: { value: access-secret-5678 }
encryption:
  active_key: k1
  master_keys:
    - { id: k1, key: { value: master-key-9012 } }
";
        let cfg: GatewayConfig = serde_yaml_ng::from_str(text).unwrap();
        let node: StorageNodeConfig = serde_yaml_ng::from_str(NODE).unwrap();
        let shown = format!("{cfg:?} {cfg:#?} {node:?}");
        for secret in [
            "cluster-secret-1234",
            "access-secret-5678",
            "master-key-9012",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("Value(<redacted>)"));
        let fields = SecretFields::from(Secret::Value("x-secret-x".into()));
        assert!(!format!("{fields:?}").contains("x-secret-x"));
        // Where a secret comes from is still shown.
        let env = Secret::Env("MY_VAR".into());
        assert_eq!(format!("{env:?}"), "Env(\"MY_VAR\")");
    }

    /// A configuration text with characters flipped, cut or inserted.
    fn mutated(text: &'static str) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        proptest::collection::vec(
            (
                any::<u16>(),
                prop_oneof![
                    Just(' '),
                    Just(':'),
                    Just('{'),
                    Just('}'),
                    Just('-'),
                    Just('\n'),
                    Just('9'),
                    Just('x'),
                    Just('\''),
                    Just('&'),
                    Just('*'),
                    Just('!')
                ],
                0u8..3,
            ),
            1..6,
        )
        .prop_map(move |edits| {
            let mut chars: Vec<char> = text.chars().collect();
            for (at, c, kind) in edits {
                let at = usize::from(at) % (chars.len() + 1);
                match kind {
                    0 if at < chars.len() => chars[at] = c,
                    1 => {
                        chars.remove(at.min(chars.len().saturating_sub(1)));
                    }
                    _ => chars.insert(at, c),
                }
            }
            chars.into_iter().collect()
        })
    }

    proptest::proptest! {
        /// Fuzz target of the YAML configuration: mutated files load or are refused with an
        /// error that names the file; never a panic.
        #[test]
        fn fuzz_configuration_files_load_or_are_refused(
            gateway in mutated(GATEWAY),
            node in mutated(NODE),
            map in mutated(MAP),
            arbitrary in "\\PC{0,200}",
        ) {
            let path = Path::new("fuzz.yaml");
            for text in [gateway.as_str(), arbitrary.as_str()] {
                match parse::<GatewayConfig>(path, text) {
                    Ok(config) => { let _ = config.validate(); }
                    Err(e) => proptest::prop_assert!(e.to_string().contains("fuzz.yaml"), "{}", e),
                }
            }
            for text in [node.as_str(), arbitrary.as_str()] {
                if let Err(e) = parse::<StorageNodeConfig>(path, text) {
                    proptest::prop_assert!(e.to_string().contains("fuzz.yaml"), "{}", e);
                }
            }
            let _ = ClusterMap::from_yaml(&map);
            let _ = ClusterMap::from_yaml(&arbitrary);
        }
    }

    #[test]
    fn example_configs_load() {
        // Cargo sets the variable when it runs the test too: a test binary reused from a build
        // of the same sources at another path still finds these files.
        let root = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let gw =
            load_gateway(&root.join("examples/gateway.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let map = load_cluster_map(gw.cluster_map.as_ref().unwrap()).unwrap();
        assert_eq!(map.nodes.len(), 3);
        for i in 1..=3 {
            let node = load_storage_node(&root.join(format!("examples/node{i}.yaml"))).unwrap();
            let spec = map.node(&node.node_id).expect("node listed in the map");
            assert_eq!(spec.address, node.listen);
        }
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "gw.yaml", GATEWAY);
        let config = load_gateway(&path).unwrap();
        assert_eq!(config.cluster_map, Some(dir.path().join("cluster.yaml")));
        assert_eq!(
            config.cluster_secret,
            Secret::File(dir.path().join("secret.txt"))
        );
        assert_eq!(config.chunk_size, 4 << 20);
    }

    #[test]
    fn admin_token_is_read_from_its_file_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "gw.yaml",
            &format!("{GATEWAY}admin: {{ listen: \"127.0.0.1:9090\", token: {{ file: tok }} }}\n"),
        );
        std::fs::write(dir.path().join("tok"), "0123456789abcdef\n").unwrap();
        let config = load_gateway(&path).unwrap();
        let admin = config.admin.as_ref().unwrap();
        assert_eq!(admin.load_token().unwrap(), "0123456789abcdef");
        std::fs::write(dir.path().join("tok"), "short").unwrap();
        let err = admin.load_token().unwrap_err();
        assert!(err.contains("admin.token") && err.contains("16"), "{err}");
        let typo = write(
            dir.path(),
            "gw2.yaml",
            &format!("{GATEWAY}admin: {{ listen: \"127.0.0.1:9090\", tokn: {{ file: tok }} }}\n"),
        );
        let err = load_gateway(&typo).unwrap_err().to_string();
        assert!(err.contains("tokn"), "{err}");
    }

    #[test]
    fn unknown_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "gw.yaml", &format!("{GATEWAY}chunk_sise: 5\n"));
        let err = load_gateway(&path).unwrap_err().to_string();
        assert!(
            err.contains("chunk_sise") && err.contains("gw.yaml"),
            "{err}"
        );
    }

    #[test]
    fn tls_paths_follow_the_file_and_typos_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let tls = "tls: { certificate: c.pem, private_key: k.pem }\n";
        let path = write(dir.path(), "gw.yaml", &format!("{GATEWAY}{tls}"));
        let config = load_gateway(&path).unwrap();
        let files = config.tls.unwrap();
        assert_eq!(files.certificate, dir.path().join("c.pem"));
        assert_eq!(files.private_key, dir.path().join("k.pem"));
        // Internal links need no files (their identities come from the cluster secret): the
        // settings that named some are gone, and an old file says which one it still has.
        let old = "internal_tls: { ca_certificate: ca.pem }\n";
        let path = write(dir.path(), "gw1.yaml", &format!("{GATEWAY}{old}"));
        let err = load_gateway(&path).unwrap_err().to_string();
        assert!(err.contains("internal_tls"), "{err}");
        let typo = "tls: { certificate: c.pem, private_kye: k.pem }\n";
        let path = write(dir.path(), "gw2.yaml", &format!("{GATEWAY}{typo}"));
        let err = load_gateway(&path).unwrap_err().to_string();
        assert!(err.contains("private_kye"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "gw.yaml", &format!("{GATEWAY}chunk_size: 10\n"));
        let err = load_gateway(&path).unwrap_err().to_string();
        assert!(err.contains("chunk_size"), "{err}");
        let short_grace = "anti_entropy_seconds: 60\ngarbage_collection: { grace_seconds: 100 }\n";
        let path = write(dir.path(), "gw2.yaml", &format!("{GATEWAY}{short_grace}"));
        let err = load_gateway(&path).unwrap_err().to_string();
        assert!(err.contains("garbage_collection.grace_seconds"), "{err}");
    }

    #[test]
    fn master_keys_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = |text: &str| {
            std::fs::write(dir.path().join("mk1"), text).unwrap();
            let path = write(dir.path(), "gw.yaml", GATEWAY);
            load_gateway(&path).unwrap().encryption.load_keys()
        };
        let keys = key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
        assert_eq!(keys[0].0, "k1");
        assert_eq!(keys[0].1[31], 31);
        let err = key("too short").unwrap_err();
        assert!(err.contains("encryption.master_keys[0].key"), "{err}");
        let inline = GATEWAY.replace("{ file: mk1 }", "{ value: AAAA }");
        let path = write(dir.path(), "gw2.yaml", &inline);
        let err = load_gateway(&path)
            .unwrap()
            .encryption
            .load_keys()
            .unwrap_err();
        assert!(
            err.contains("never written into the configuration"),
            "{err}"
        );
        let other = GATEWAY.replace("active_key: k1", "active_key: k9");
        let path = write(dir.path(), "gw3.yaml", &other);
        let err = load_gateway(&path)
            .unwrap()
            .encryption
            .load_keys()
            .unwrap_err();
        assert!(err.contains("encryption.active_key"), "{err}");
    }

    #[test]
    fn secrets_resolve_or_name_the_field() {
        assert_eq!(Secret::Value("x".into()).resolve("f").unwrap(), "x");
        let err = Secret::Env("S3STORE_SURELY_UNSET_VAR".into())
            .resolve("cluster_secret")
            .unwrap_err();
        assert!(err.contains("cluster_secret") && err.contains("S3STORE_SURELY_UNSET_VAR"));
    }
}
