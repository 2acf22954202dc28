//! Background tasks of a gateway that keep the cluster whole: probing nodes that are down
//! ([`probe`]), handing hinted records back to their owners once they answer, and rewriting
//! chunk copies a node's scrub found corrupt from a good replica ([`hand_back`]).
//!
//! A stand-in keeps a hinted record (and serves it) until its owner has it: the record is read
//! from the stand-in, written to the owner, and only then is the hint dropped together with the
//! stand-in's copy. Every step is idempotent, so any number of gateways can do this at once and
//! a crash in between only means the record is handed back again.

use std::sync::Arc;
use std::time::Duration;

use node_api::client::RpcError;
use node_api::model::{Hint, StoredHint};

use crate::cluster::Cluster;
use crate::health::PROBE_EVERY;

/// How often the stand-ins are asked for hints.
pub const HAND_BACK_EVERY: Duration = Duration::from_secs(1);
const PAGE: u32 = 256;
/// A probe that gets no answer within this time (a partitioned node) counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Probes the nodes marked down, forever: one that answers `/health` is up again.
pub async fn probe(cluster: Arc<Cluster>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        probe_once(&cluster).await;
    }
}

async fn probe_once(cluster: &Cluster) {
    for i in cluster.members() {
        if !cluster.health.is_marked_down(i) {
            continue;
        }
        let status = tokio::time::timeout(
            PROBE_TIMEOUT,
            cluster.node(i).status_of(http::Method::GET, "/health"),
        )
        .await;
        match status {
            Ok(Ok(s)) if s.is_success() => cluster.health.mark_up(i),
            _ if cluster.health.is_up(i) => cluster.health.mark_down(i), // back off further
            _ => {}
        }
    }
}

/// Hands hints back and repairs corrupt chunks, forever.
pub async fn hand_back(cluster: Arc<Cluster>) {
    loop {
        tokio::time::sleep(HAND_BACK_EVERY).await;
        hand_back_once(&cluster).await;
        repair_bad_chunks(&cluster).await;
    }
}

/// Rewrites every chunk copy a node marked corrupt with a good copy from another node: an
/// owner under the current or (while data moves) the previous map, else any node of the
/// chunk's preference list (nodes verify their own copy before serving it). Returns how many
/// were repaired.
pub async fn repair_bad_chunks(cluster: &Arc<Cluster>) -> usize {
    let mut repaired: usize = 0;
    for i in cluster.members() {
        if !cluster.health.is_up(i) {
            continue;
        }
        let Ok(bad) = cluster.node(i).bad_chunks().await else {
            continue;
        };
        for id in bad {
            // Owners under both maps while data moves, then the stand-ins.
            let key = id.to_bytes();
            let mut sources = cluster.all_owners(&key);
            for i in cluster.preference_list(&key) {
                if !sources.contains(&i) {
                    sources.push(i);
                }
            }
            for source in sources {
                if source == i || !cluster.health.is_up(source) {
                    continue;
                }
                if let Ok(Some(data)) = cluster.node(source).get_chunk(id).await {
                    if cluster.node(i).put_chunk(id, data).await.is_ok() {
                        cluster.metrics.chunk_repairs.inc();
                        repaired = repaired.saturating_add(1);
                    }
                    break;
                }
            }
        }
    }
    repaired
}

/// One pass over every node's hints; returns how many records reached their owner.
pub async fn hand_back_once(cluster: &Arc<Cluster>) -> usize {
    let mut handed: usize = 0;
    for i in cluster.members() {
        if !cluster.health.is_up(i) {
            continue;
        }
        let mut after = Vec::new();
        loop {
            let hints = match cluster.node(i).list_hints(&after, PAGE).await {
                Ok(h) if !h.is_empty() => h,
                Ok(_) => break,
                Err(e) => {
                    cluster.health.record::<()>(i, &Err(e));
                    break;
                }
            };
            for stored in hints {
                after = stored.raw_key.clone();
                let Some(owner) = cluster.index_of(stored.hint.owner()) else {
                    continue; // an owner no map named: nowhere to hand it back
                };
                if owner == i || !cluster.health.is_up(owner) {
                    continue;
                }
                match deliver(cluster, i, owner, &stored).await {
                    Ok(()) => handed = handed.saturating_add(1),
                    Err(e) => {
                        tracing::debug!(
                            "hint for {} not handed back yet: {e}",
                            stored.hint.owner()
                        );
                    }
                }
            }
        }
    }
    handed
}

/// Moves one hinted record from stand-in `holder` to `owner`, then drops the hint.
async fn deliver(
    cluster: &Arc<Cluster>,
    holder: usize,
    owner: usize,
    stored: &StoredHint,
) -> Result<(), RpcError> {
    let from = cluster.node(holder);
    let to = cluster.node(owner);
    match &stored.hint {
        Hint::Chunk { id, .. } => {
            if let Some(data) = from.get_chunk(*id).await? {
                let put = to.put_chunk(*id, data).await;
                cluster.health.record(owner, &put);
                put?;
            }
        }
        Hint::Manifest { .. } => {
            if let Some(m) = from.hinted_manifest(&stored.hint).await? {
                let put = to.put_manifest(&m).await;
                cluster.health.record(owner, &put);
                put?;
            }
        }
        Hint::Row { version, .. } => {
            // The newest version the stand-in holds (the hinted one, or one written since).
            if let Some(row) = from.get_row(version.family, &version.id).await? {
                let put = to.put_row(&row).await;
                cluster.health.record(owner, &put);
                if !put? {
                    return Err(RpcError::Status(
                        to.address().to_string(),
                        409,
                        "refused by a promise; handed back later".into(),
                    ));
                }
            }
        }
    }
    from.hint_done(&stored.raw_key).await?;
    cluster.metrics.handoffs.inc();
    Ok(())
}
