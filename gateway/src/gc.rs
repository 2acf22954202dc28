//! Garbage collection: removing what no record needs any more, once it is old enough that no
//! write in flight and no replica that has not caught up can still need it.
//!
//! A collection runs after a *complete* anti-entropy pass ([`crate::antientropy`]), at most
//! every `garbage_collection.every_seconds`, and only when it is safe to judge the whole
//! cluster: every node of the map answers, no node holds hints, and no data is moving. The
//! cutoffs are the older of `now - grace` and the start of that anti-entropy pass, for the
//! record grace (tombstones, ended uploads, promises) and for the reclaim grace (superseded
//! versions, then the chunks nothing references any more, in the same collection), so:
//!
//! * a tombstone removed was on every owner before it went (the pass copied it to any replica
//!   that lacked it), and no replica keeps the version it deleted;
//! * a chunk removed was written before the cutoff and is referenced by no manifest or part
//!   record on any node: each node sends a Bloom filter of the chunk groups its records point
//!   at, the union goes back to every node, and each deletes its old chunks outside it
//!   (`storage_node::gc`). False positives keep an orphan one more round; nothing referenced
//!   is ever deleted.
//!
//! An orphan chunk belongs to a write that failed half-way, an aborted, replaced or unused
//! part, or a superseded version the collection just removed: nothing else ever frees chunks.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_api::gc::{
    filter, words, BucketState, CollectRequest, FilterShape, RefsRequest, Removed, SweepRequest,
    FILTER_FORMAT,
};

use crate::antientropy::Pass;
use crate::cluster::Cluster;

/// Filter bits per distinct chunk group (about 1% false positives with 7 hashes).
const BITS_PER_ITEM: u64 = 10;
const MIN_BITS: u64 = 1 << 16;
/// 8 MiB of filter: beyond about 6 million distinct groups per cluster, more orphans survive a
/// round, nothing else changes.
const MAX_BITS: u64 = 1 << 26;
const HASHES: u32 = 7;

/// Why a collection did not run.
#[derive(Debug, thiserror::Error)]
pub enum Skipped {
    #[error("data is moving after a membership change")]
    Moving,
    #[error("node {0} does not answer")]
    NodeDown(String),
    #[error("node {0} holds hints")]
    Hints(String),
    #[error("the cluster map changed during the collection")]
    MapChanged,
}

/// Runs collections from the anti-entropy loop.
pub struct Collector {
    grace: Duration,
    reclaim_grace: Duration,
    every: Duration,
    last: Option<Instant>,
    shape: FilterShape,
}

impl Collector {
    pub fn new(grace: Duration, reclaim_grace: Duration, every: Duration) -> Collector {
        Collector {
            grace,
            reclaim_grace,
            every,
            last: None,
            shape: FilterShape {
                bits: MIN_BITS,
                hashes: HASHES,
            },
        }
    }

    /// Collects if `pass` was complete and the last collection is `every` ago; says what it
    /// did when it ran.
    pub async fn after_pass(&mut self, cluster: &Arc<Cluster>, pass: &Pass) -> Option<String> {
        if !pass.complete || self.last.is_some_and(|t| t.elapsed() < self.every) {
            return None;
        }
        self.last = Some(Instant::now());
        let cutoffs = Cutoffs {
            records_ms: cutoff_ms(SystemTime::now(), self.grace, pass.started),
            reclaim_ms: cutoff_ms(SystemTime::now(), self.reclaim_grace, pass.started),
        };
        Some(
            match collect_once(cluster, cutoffs, &mut self.shape).await {
                Ok(r) => {
                    let line = format!(
                    "garbage collection: {} chunks, {} superseded versions, {} versions of gone bucket incarnations, {} tombstones, {} uploads, {} parts, {} bucket records, {} access keys, {} promises removed",
                    r.chunks, r.superseded, r.dead_incarnation, r.tombstones, r.uploads, r.parts, r.buckets, r.access_keys, r.promises
                );
                    if r != Removed::default() {
                        tracing::info!("{line}");
                    }
                    line
                }
                Err(why) => {
                    tracing::info!("garbage collection skipped: {why}");
                    format!("garbage collection skipped: {why}")
                }
            },
        )
    }
}

/// The cutoff in milliseconds: the older of `now - grace` and `pass_started`.
pub fn cutoff_ms(now: SystemTime, grace: Duration, pass_started: SystemTime) -> u64 {
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    ms(now)
        .saturating_sub(grace.as_millis() as u64)
        .min(ms(pass_started))
}

/// What a collection removes: tombstones, ended uploads and promises older than `records_ms`;
/// superseded versions (replaced before it) and orphan chunks older than `reclaim_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub records_ms: u64,
    pub reclaim_ms: u64,
}

/// One collection. `shape` is the filter size to use; it is resized for the next round from
/// the number of references seen.
pub async fn collect_once(
    cluster: &Arc<Cluster>,
    cutoffs: Cutoffs,
    shape: &mut FilterShape,
) -> Result<Removed, anyhow::Error> {
    let result = collect(cluster, cutoffs, shape).await;
    let outcome = match &result {
        Ok(_) => "done",
        Err(_) => "skipped",
    };
    cluster.metrics.gc_runs.with_label_values(&[outcome]).inc();
    result
}

async fn collect(
    cluster: &Arc<Cluster>,
    cutoffs: Cutoffs,
    shape: &mut FilterShape,
) -> Result<Removed, anyhow::Error> {
    let layout = cluster.layout();
    if layout.previous.is_some() {
        return Err(Skipped::Moving.into());
    }
    let nodes = layout.current.nodes().to_vec();
    for &i in &nodes {
        let id = cluster.node_id(i);
        if !cluster.health.is_up(i) {
            return Err(Skipped::NodeDown(id).into());
        }
        match cluster.node(i).list_hints(&[], 1).await {
            Ok(h) if h.is_empty() => {}
            Ok(_) => return Err(Skipped::Hints(id).into()),
            Err(_) => return Err(Skipped::NodeDown(id).into()),
        }
    }

    // Records first, so that the chunks of the versions collected now are orphans below.
    // Buckets as they stand now: a version older than the reclaim cutoff written in an
    // incarnation older than the current one (or of a deleted bucket) can only be a late
    // write of an incarnation that is gone.
    let buckets = cluster
        .bucket_records()
        .await?
        .into_iter()
        .map(|b| {
            let state = match b.deleted {
                true => BucketState::Deleted,
                false => BucketState::Live(b.incarnation),
            };
            (b.name, state)
        })
        .collect();
    let request = CollectRequest {
        cutoff_ms: cutoffs.records_ms,
        superseded_cutoff_ms: cutoffs.reclaim_ms,
        buckets,
    };
    let mut removed = Removed::default();
    for &i in &nodes {
        let collected = cluster.node(i).gc_collect(&request).await?;
        removed.tombstones = removed.tombstones.saturating_add(collected.tombstones);
        removed.superseded = removed.superseded.saturating_add(collected.superseded);
        removed.uploads = removed.uploads.saturating_add(collected.uploads);
        removed.parts = removed.parts.saturating_add(collected.parts);
        removed.dead_incarnation = removed
            .dead_incarnation
            .saturating_add(collected.dead_incarnation);
        removed.buckets = removed.buckets.saturating_add(collected.buckets);
        removed.access_keys = removed.access_keys.saturating_add(collected.access_keys);
        removed.promises = removed.promises.saturating_add(collected.promises);
    }

    // Every node's references, in one filter; once more with a larger filter if this one
    // turns out too small for what the nodes reference.
    let (mut union, mut used);
    loop {
        used = *shape;
        let q = RefsRequest {
            format: FILTER_FORMAT.into(),
            shape: used,
        };
        union = filter(used, None).map_err(anyhow::Error::msg)?;
        let mut items: u64 = 0;
        for &i in &nodes {
            let refs = cluster.node(i).gc_references(&q).await?;
            items = items.saturating_add(refs.items);
            union.union(&filter(used, Some(&refs.words)).map_err(anyhow::Error::msg)?);
        }
        // Each group is referenced from about n replicas.
        let distinct = items.checked_div(cluster.n() as u64).unwrap_or(items);
        let fit = distinct
            .saturating_mul(BITS_PER_ITEM)
            .next_power_of_two()
            .clamp(MIN_BITS, MAX_BITS);
        shape.bits = fit; // for the next round
        if fit <= used.bits {
            break;
        }
    }
    if cluster.layout().current.map.epoch != layout.current.map.epoch {
        return Err(Skipped::MapChanged.into());
    }

    let sweep = SweepRequest {
        format: FILTER_FORMAT.into(),
        shape: used,
        words: words(&union),
        cutoff_ms: cutoffs.reclaim_ms,
    };
    for &i in &nodes {
        let swept = cluster.node(i).gc_sweep(&sweep).await?;
        removed.chunks = removed.chunks.saturating_add(swept.chunks);
    }
    let m = &cluster.metrics;
    for (kind, n) in [
        ("chunks", removed.chunks),
        ("tombstones", removed.tombstones),
        ("superseded", removed.superseded),
        ("uploads", removed.uploads),
        ("parts", removed.parts),
        ("dead_incarnation", removed.dead_incarnation),
        ("buckets", removed.buckets),
        ("access_keys", removed.access_keys),
        ("promises", removed.promises),
    ] {
        m.gc_removed.with_label_values(&[kind]).inc_by(n);
    }
    m.gc_last.set(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64(),
    );

    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_the_older_of_grace_and_the_pass_start() {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(
            cutoff_ms(t(1000), Duration::from_secs(100), t(950)),
            900_000
        );
        assert_eq!(cutoff_ms(t(1000), Duration::from_secs(10), t(950)), 950_000);
        assert_eq!(cutoff_ms(t(5), Duration::from_secs(10), t(5)), 0);
    }
}
