//! Access keys and what each may do: the keys of the configuration (bootstrap keys, allowed
//! everything) and the keys made with `gateway admin key create`, stored on every storage node
//! (`node_api::model::AccessKeyRecord`) with their grants per bucket.
//!
//! Stored keys are few and read on every request, so each gateway keeps all of them in memory
//! and re-reads them from the nodes every [`REFRESH_EVERY`] (and at once when a request names
//! a key it does not know): a grant, a revocation or a deleted key takes effect within that
//! time on every gateway, without restarts. Records are kept on every node
//! ([`crate::everywhere`]).
//!
//! Secrets are 32 random bytes, given to clients as 43 characters of URL-safe base64 and
//! stored wrapped under the active master key (nodes never see them).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use node_api::model::{AccessKeyRecord, Role};

use crate::cluster::{Cluster, ClusterError};
use crate::everywhere::{self, write};

/// The newest record of every stored key (tombstones included).
async fn read_all(cluster: &Cluster) -> Result<Vec<AccessKeyRecord>, ClusterError> {
    everywhere::read_all(cluster).await
}
use crate::keyring::Keyring;

/// How often every gateway re-reads the stored keys.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// A request naming an unknown key triggers a re-read at most this often.
const MISS_REFRESH_GAP: Duration = Duration::from_millis(200);

/// What a key may do in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// A key of the configuration: everything.
    Everything,
    /// A stored key's role in the bucket, if it has one.
    Role(Option<Role>),
}

struct Known {
    secret: String,
    grants: BTreeMap<String, Role>,
}

/// The keys a gateway accepts.
pub struct Directory {
    cluster: Arc<Cluster>,
    keyring: Arc<Keyring>,
    bootstrap: HashMap<String, String>,
    stored: RwLock<HashMap<String, Known>>,
    /// When a request naming an unknown key last caused a re-read.
    last_miss: tokio::sync::Mutex<Option<Instant>>,
    /// Held across each read-modify-write of a stored key (create, update): changes made
    /// through this gateway (admin API requests in parallel, a DeleteBucket's grant cleanup)
    /// never lose one another. Two gateways changing one key at the same instant still can:
    /// the last write wins (ARCHITECTURE.md, Access keys).
    changes: tokio::sync::Mutex<()>,
}

/// Why a change of a stored key failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("an access key id is 1 to 128 letters and digits")]
    InvalidId,
    #[error("access key {0} exists")]
    Exists(String),
    #[error("no stored access key {0}")]
    Missing(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// The secret a client signs with, from its 32 stored bytes.
pub fn secret_text(raw: &[u8; 32]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

impl Directory {
    pub fn new(
        cluster: Arc<Cluster>,
        keyring: Arc<Keyring>,
        bootstrap: &[(String, String)],
    ) -> Directory {
        Directory {
            cluster,
            keyring,
            bootstrap: bootstrap.iter().cloned().collect(),
            stored: RwLock::new(HashMap::new()),
            last_miss: tokio::sync::Mutex::new(None),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// The secret of `id`, re-reading the stored keys once if it is not known yet.
    pub async fn secret(&self, id: &str) -> Option<String> {
        if let Some(s) = self.bootstrap.get(id) {
            return Some(s.clone());
        }
        if let Some(k) = self.read_known(id, |k| k.secret.clone()) {
            return Some(k);
        }
        // Misses wait for one re-read at a time, at most one per MISS_REFRESH_GAP: a miss
        // answered by a re-read that started after it arrived needs no other, and a miss just
        // after a re-read waits out the gap rather than being refused (a key made a moment
        // after another key's first use is found).
        let arrived = Instant::now();
        let mut last = self.last_miss.lock().await;
        if let Some(k) = self.read_known(id, |k| k.secret.clone()) {
            return Some(k);
        }
        if let Some(at) = *last {
            if at >= arrived {
                return None;
            }
            if let Some(wait) = MISS_REFRESH_GAP.checked_sub(at.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        *last = Some(Instant::now());
        let _ = self.refresh().await;
        self.read_known(id, |k| k.secret.clone())
    }

    fn read_known<T>(&self, id: &str, f: impl FnOnce(&Known) -> T) -> Option<T> {
        self.stored
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .map(f)
    }

    /// What `id` may do in `bucket`.
    pub fn allowed(&self, id: &str, bucket: &str) -> Allowed {
        if self.bootstrap.contains_key(id) {
            return Allowed::Everything;
        }
        Allowed::Role(
            self.read_known(id, |k| k.grants.get(bucket).copied())
                .flatten(),
        )
    }

    /// Whether `id` is a key of the configuration.
    pub fn is_bootstrap(&self, id: &str) -> bool {
        self.bootstrap.contains_key(id)
    }

    /// Re-reads every stored key (newest version among a majority of nodes), writes the
    /// newest back where it was missing, and replaces the in-memory set.
    pub async fn refresh(&self) -> Result<Vec<AccessKeyRecord>, ClusterError> {
        let records = read_all(&self.cluster).await?;
        let mut live = HashMap::new();
        for r in records.iter().filter(|r| !r.deleted) {
            match self.keyring.open_secret(&r.key_id, &r.sealed_secret) {
                Ok(raw) => {
                    live.insert(
                        r.id.clone(),
                        Known {
                            secret: secret_text(&raw),
                            grants: r.grants.clone(),
                        },
                    );
                }
                Err(e) => tracing::warn!("access key {}: {e}", r.id),
            }
        }
        *self.stored.write().unwrap_or_else(|p| p.into_inner()) = live;
        Ok(records)
    }

    /// A new key with no grants: its id and secret.
    pub async fn create(&self, id: Option<String>) -> Result<(String, String), KeyError> {
        let id = id.unwrap_or_else(|| {
            use rand::distributions::{Alphanumeric, DistString};
            format!(
                "S3K{}",
                Alphanumeric
                    .sample_string(&mut rand::thread_rng(), 17)
                    .to_uppercase()
            )
        });
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyError::InvalidId);
        }
        let _serial = self.changes.lock().await;
        if self.bootstrap.contains_key(&id) || self.current(&id).await?.is_some() {
            return Err(KeyError::Exists(id));
        }
        let raw = crate::sealing::random::<32>();
        let (key_id, sealed_secret) = self.keyring.seal_secret(&raw);
        write(
            &self.cluster,
            AccessKeyRecord {
                id: id.clone(),
                version: self.cluster.hlc.version(),
                deleted: false,
                key_id,
                sealed_secret,
                grants: BTreeMap::new(),
            },
        )
        .await?;
        Ok((id, secret_text(&raw)))
    }

    /// The live record of `id`, if any.
    pub async fn current(&self, id: &str) -> Result<Option<AccessKeyRecord>, ClusterError> {
        Ok(read_all(&self.cluster)
            .await?
            .into_iter()
            .find(|r| r.id == id && !r.deleted))
    }

    /// Changes a stored key: `change` edits its record (a new version is written).
    pub async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut AccessKeyRecord),
    ) -> Result<AccessKeyRecord, KeyError> {
        let _serial = self.changes.lock().await;
        let Some(mut record) = self.current(id).await? else {
            return Err(KeyError::Missing(id.to_string()));
        };
        change(&mut record);
        record.version = self.cluster.hlc.version();
        write(&self.cluster, record.clone()).await?;
        Ok(record)
    }
}

impl Directory {
    /// Gives `id` `role` in `bucket` (`None` revokes), and makes it effective here at once.
    pub async fn grant(
        &self,
        id: &str,
        bucket: &str,
        role: Option<Role>,
    ) -> Result<AccessKeyRecord, KeyError> {
        let record = self
            .update(id, |r| match role {
                Some(role) => {
                    r.grants.insert(bucket.to_string(), role);
                }
                None => {
                    r.grants.remove(bucket);
                }
            })
            .await?;
        self.refresh().await?;
        Ok(record)
    }

    /// Rewraps every stored key's secret that another master key than the active one wraps
    /// (part of `gateway rotate`). Returns how many were rewrapped.
    pub async fn rewrap_secrets(&self) -> anyhow::Result<u64> {
        let mut rewrapped: u64 = 0;
        for record in read_all(&self.cluster).await? {
            if record.deleted || record.key_id == self.keyring.active_id() {
                continue;
            }
            let raw = self
                .keyring
                .open_secret(&record.key_id, &record.sealed_secret)
                .map_err(|e| anyhow::anyhow!("access key {}: {e}", record.id))?;
            let (key_id, sealed) = self.keyring.seal_secret(&raw);
            self.update(&record.id, |r| {
                r.key_id = key_id;
                r.sealed_secret = sealed;
            })
            .await?;
            rewrapped = rewrapped.saturating_add(1);
        }
        Ok(rewrapped)
    }

    /// How many stored keys have their secret wrapped under another master key than the
    /// active one (what [`Directory::rewrap_secrets`] would rewrap).
    pub async fn stale_secrets(&self) -> Result<u64, ClusterError> {
        Ok(read_all(&self.cluster)
            .await?
            .iter()
            .filter(|r| !r.deleted && r.key_id != self.keyring.active_id())
            .count() as u64)
    }

    /// Drops every stored key's grant in a deleted bucket, so that a new bucket of the same
    /// name does not inherit them.
    pub async fn forget_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        self.forget_bucket_except(bucket, "").await
    }

    /// [`Directory::forget_bucket`] for every key but `keep`.
    pub async fn forget_bucket_except(&self, bucket: &str, keep: &str) -> anyhow::Result<()> {
        for record in read_all(&self.cluster).await? {
            if !record.deleted && record.id != keep && record.grants.contains_key(bucket) {
                self.update(&record.id, |r| {
                    r.grants.remove(bucket);
                })
                .await?;
            }
        }
        self.refresh().await?;
        Ok(())
    }
}

/// Re-reads the stored keys every [`REFRESH_EVERY`], forever.
pub async fn refresh_loop(directory: Arc<Directory>) {
    loop {
        tokio::time::sleep(REFRESH_EVERY).await;
        if let Err(e) = directory.refresh().await {
            tracing::debug!("access keys not refreshed: {e}");
        }
    }
}
