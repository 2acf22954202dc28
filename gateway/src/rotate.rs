//! Key rotation (`gateway rotate --config gateway.yaml`): rewraps every stored data key that is
//! wrapped under a master key other than the active one, or under a KMS key's material other
//! than that key's active one (in the configuration or on the PKCS#11 token), without touching
//! object data.
//!
//! The walk goes node by node, not key by key, so that it reaches every stored copy of a record
//! (a replica a quorum read would never consult included). Each node lists its stale records
//! (manifests and multipart upload records), the keyring unwraps each data key with the old
//! master key and wraps it with the active one, and the node replaces the envelope in place,
//! keeping the record's version (see `storage_node::envelopes`). Already-rotated records are
//! skipped by the node itself, so the command is idempotent and a run cut short resumes by
//! simply running again. A run that could not reach a node, or met a record whose master key
//! is missing from the configuration, says so and fails: the old key must stay configured
//! until a run finishes clean.

use futures::{stream, StreamExt};
use node_api::client::NodeClient;
use node_api::model::{EnvelopeKind, Reseal, StaleEnvelope, StaleEnvelopes};

use crate::cluster::Cluster;
use crate::keyring::Keyring;

/// Stale records fetched per call.
const PAGE: u32 = 256;
/// Reseals in flight per node.
const PARALLEL: usize = 16;

/// What a rotation did.
#[derive(Debug, Default)]
pub struct RotateReport {
    /// Record copies now wrapped under the active key.
    pub rewrapped: u64,
    /// Records replaced or deleted between listing and resealing (nothing left to do).
    pub gone: u64,
    /// Records whose envelope does not open with the configured keys.
    pub unopenable: Vec<String>,
    /// Nodes the walk could not finish, with the reason.
    pub unreachable: Vec<String>,
}

impl RotateReport {
    /// Whether every stored data key is now wrapped under the active key.
    pub fn complete(&self) -> bool {
        self.unopenable.is_empty() && self.unreachable.is_empty()
    }
}

/// Rewraps every stale envelope on every node of `cluster` under `keyring`'s active key.
pub async fn rotate(cluster: &Cluster, keyring: &Keyring) -> RotateReport {
    let mut report = RotateReport::default();
    for i in cluster.members() {
        let node = cluster.node(i);
        for kind in [EnvelopeKind::Manifest, EnvelopeKind::Upload] {
            if let Err(e) = rotate_node(&node, kind, keyring, &mut report).await {
                report.unreachable.push(format!("{}: {e}", node.address()));
                break;
            }
        }
    }
    report
}

/// Per node (by address), how many envelopes (object versions and uploads) are still under
/// another key than their key's active one, or why the node could not say.
pub async fn stale_counts(
    cluster: &Cluster,
    keyring: &Keyring,
) -> Vec<(String, Result<u64, String>)> {
    let mut out = Vec::new();
    for i in cluster.members() {
        let node = cluster.node(i);
        let mut count: u64 = 0;
        let mut failed = None;
        'kinds: for kind in [EnvelopeKind::Manifest, EnvelopeKind::Upload] {
            let mut after = Vec::new();
            loop {
                let page = match node
                    .stale_envelopes(&stale_query(kind, keyring, after))
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        failed = Some(e.to_string());
                        break 'kinds;
                    }
                };
                count = count.saturating_add(page.items.len() as u64);
                match page.next {
                    Some(next) => after = next.into_vec(),
                    None => break,
                }
            }
        }
        out.push((cluster.node_id(i), failed.map_or(Ok(count), Err)));
    }
    out
}

/// The page of stale envelopes of `kind` after `after`.
fn stale_query(kind: EnvelopeKind, keyring: &Keyring, after: Vec<u8>) -> StaleEnvelopes {
    StaleEnvelopes {
        kind,
        active_key: keyring.active_id().to_string(),
        current: keyring.current_ids(),
        after,
        limit: PAGE,
    }
}

async fn rotate_node(
    node: &NodeClient,
    kind: EnvelopeKind,
    keyring: &Keyring,
    report: &mut RotateReport,
) -> Result<(), node_api::client::RpcError> {
    let mut after = Vec::new();
    loop {
        let page = node
            .stale_envelopes(&stale_query(kind, keyring, after.clone()))
            .await?;
        let mut resealed = stream::iter(page.items)
            .map(|item| reseal_one(node, kind, keyring, item))
            .buffer_unordered(PARALLEL);
        while let Some(outcome) = resealed.next().await {
            match outcome? {
                Outcome::Rewrapped => report.rewrapped = report.rewrapped.saturating_add(1),
                Outcome::Gone => report.gone = report.gone.saturating_add(1),
                Outcome::Unopenable(what) => report.unopenable.push(what),
            }
        }
        match page.next {
            Some(next) => after = next.into_vec(),
            None => return Ok(()),
        }
    }
}

enum Outcome {
    Rewrapped,
    Gone,
    Unopenable(String),
}

async fn reseal_one(
    node: &NodeClient,
    kind: EnvelopeKind,
    keyring: &Keyring,
    item: StaleEnvelope,
) -> Result<Outcome, node_api::client::RpcError> {
    let sealing = match keyring.rewrap(&item.sealing) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(Outcome::Rewrapped), // already under the active key
        Err(e) => {
            return Ok(Outcome::Unopenable(format!(
                "{}/{} on {}: {e}",
                item.bucket,
                item.key,
                node.address()
            )))
        }
    };
    let done = node
        .reseal(&Reseal {
            kind,
            raw_key: item.raw_key,
            bucket: item.bucket,
            key: item.key,
            sealing,
        })
        .await?;
    Ok(if done {
        Outcome::Rewrapped
    } else {
        Outcome::Gone
    })
}
