//! Anti-entropy: on a timer, every pair of nodes that share records compares digests of what
//! each holds for the other (`storage_node::antientropy`), and for each cell that differs the
//! two record lists are fetched and the difference copied: the newest version of each row of
//! the record table, whatever its family (object versions, buckets, uploads, parts of uploads
//! in progress, access keys, settings; tombstones and ended uploads included), to the side
//! that lacks it, and chunks to the owner missing them. So a node that lost its disk, or missed writes while down with no
//! stand-in to hold them, is refilled without any client read. Only differing cells cross the
//! network. A pass that reached every node and reconciled every difference is *complete*;
//! garbage collection ([`crate::gc`]) only runs after one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_api::antientropy::{CellRequest, DigestRequest, Digests, Record, RecordKind};
use node_api::client::RpcError;
use node_api::model::{ChunkId, Version};
use node_api::table::Family;

use crate::cluster::Cluster;
use crate::gc;
use crate::jobs::{Job, Jobs};
use crate::pace::Pace;

/// What one pass did.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    /// When the pass began.
    pub started: SystemTime,
    pub cells_differing: u64,
    /// Rows and chunks copied to a replica that lacked them.
    pub records_copied: u64,
    /// Every node of the map answered and every difference was reconciled: from now on, each
    /// record written before `started` is on every one of its owners.
    pub complete: bool,
}

/// The newest version of each record (family and id) of a list.
fn newest(records: &[Record]) -> HashMap<(Family, &[u8]), Version> {
    let mut out = HashMap::new();
    for r in records {
        if let Record::Row(v) = r {
            let e = out.entry(v.record()).or_insert(v.version);
            *e = (*e).max(v.version);
        }
    }
    out
}

/// Copies the newest version of a record from node `from` to node `to`; false if `from` no
/// longer has it.
async fn copy_newest(
    cluster: &Arc<Cluster>,
    (family, id): (Family, &[u8]),
    from: usize,
    to: usize,
) -> Result<bool, RpcError> {
    let Some(row) = cluster.node(from).get_row(family, id).await? else {
        return Ok(false);
    };
    cluster.node(to).put_row(&row).await?;
    Ok(true)
}

/// Runs a pass every `every`, forever; after each complete pass, garbage collection when due.
pub async fn run(
    cluster: Arc<Cluster>,
    jobs: Arc<Jobs>,
    every: Duration,
    pace: Pace,
    mut gc: Option<gc::Collector>,
) {
    let mut last = (Instant::now(), crate::jobs::now_ms());
    loop {
        jobs.next_turn(Job::Repair, every, last).await;
        last = (Instant::now(), crate::jobs::now_ms());
        jobs.report(Job::Repair, jobs.running(last.1), false).await;
        let pass = sync_once(&cluster, pace).await;
        if pass.records_copied > 0 {
            tracing::info!(
                "anti-entropy: {} cells differed, {} records copied",
                pass.cells_differing,
                pass.records_copied,
            );
        }
        let mut summary = pass.describe();
        if let Some(gc) = gc.as_mut() {
            if let Some(collected) = gc.after_pass(&cluster, &pass).await {
                summary.push_str(&format!("; {collected}"));
            }
        }
        jobs.report(Job::Repair, jobs.finished(last.1, summary), true)
            .await;
    }
}

impl Pass {
    /// One line for reports and the admin CLI.
    pub fn describe(&self) -> String {
        format!(
            "{} cells differed, {} records copied, {}",
            self.cells_differing,
            self.records_copied,
            if self.complete {
                "complete"
            } else {
                "incomplete (a node did not answer)"
            }
        )
    }
}

/// One pass over every pair of nodes that answer.
pub async fn sync_once(cluster: &Arc<Cluster>, pace: Pace) -> Pass {
    let started = SystemTime::now();
    let clock = Instant::now();
    let epoch = cluster.layout().current.map.epoch;
    let mut pass = Pass {
        started,
        cells_differing: 0,
        records_copied: 0,
        complete: true,
    };
    for kind in RecordKind::ALL {
        let layout = cluster.layout();
        let nodes = layout.current.nodes().to_vec();
        let mut digests: Vec<Option<Digests>> = Vec::new();
        for &i in &nodes {
            let d = if cluster.health.is_up(i) {
                let q = DigestRequest {
                    map: layout.current.map.clone(),
                    me: cluster.node_id(i),
                    kind,
                };
                cluster.node(i).ae_digest(&q).await.ok()
            } else {
                None
            };
            pass.complete &= d.is_some();
            digests.push(d);
        }
        // Every pair of nodes that answered, once.
        let answered: Vec<(usize, &Digests)> = nodes
            .iter()
            .zip(&digests)
            .filter_map(|(&i, d)| Some((i, d.as_ref()?)))
            .collect();
        for (x, &(a, da)) in answered.iter().enumerate() {
            for &(b, db) in answered.iter().skip(x).skip(1) {
                let empty = Vec::new();
                let cells_a = da.get(&cluster.node_id(b)).unwrap_or(&empty);
                let cells_b = db.get(&cluster.node_id(a)).unwrap_or(&empty);
                let len = cells_a.len().max(cells_b.len());
                let differing: Vec<u32> = (0..len)
                    .filter(|&c| {
                        cells_a.get(c).unwrap_or(&(0, 0)) != cells_b.get(c).unwrap_or(&(0, 0))
                    })
                    .map(|c| c as u32)
                    .collect();
                cluster.metrics.ae_pairs_compared.inc();
                if differing.is_empty() {
                    continue;
                }
                pass.cells_differing = pass.cells_differing.saturating_add(differing.len() as u64);
                cluster
                    .metrics
                    .ae_cells_differing
                    .inc_by(differing.len() as u64);
                if let Err(e) = sync_cells(cluster, kind, a, b, differing, pace, &mut pass).await {
                    tracing::debug!("anti-entropy of nodes {a}/{b}: {e}");
                    pass.complete = false;
                }
            }
        }
    }
    pass.complete &= cluster.layout().current.map.epoch == epoch;
    let m = &cluster.metrics;
    m.ae_pass_seconds.set(clock.elapsed().as_secs_f64());
    m.ae_passes
        .with_label_values(&[if pass.complete { "complete" } else { "partial" }])
        .inc();
    if pass.complete {
        m.ae_last_complete.set(
            started
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
        );
    }
    pass
}

/// The records of `cells` node `me` shares with `peer`, all cells in one list.
async fn records(
    cluster: &Cluster,
    kind: RecordKind,
    me: usize,
    peer: usize,
    cells: &[u32],
) -> Result<Vec<Record>, RpcError> {
    let by_cell = cluster
        .node(me)
        .ae_cells(&CellRequest {
            map: cluster.layout().current.map.clone(),
            me: cluster.node_id(me),
            peer: cluster.node_id(peer),
            kind,
            cells: cells.to_vec(),
        })
        .await?;
    Ok(by_cell.into_values().flatten().collect())
}

/// Reconciles the differing `cells` of nodes `a` and `b` (one listing per side).
async fn sync_cells(
    cluster: &Arc<Cluster>,
    kind: RecordKind,
    a: usize,
    b: usize,
    cells: Vec<u32>,
    pace: Pace,
    pass: &mut Pass,
) -> Result<(), RpcError> {
    let ra = records(cluster, kind, a, b, &cells).await?;
    let rb = records(cluster, kind, b, a, &cells).await?;
    match kind {
        RecordKind::Rows(_) => {
            let (na, nb) = (newest(&ra), newest(&rb));
            for (from, to, have, other) in [(a, b, &na, &nb), (b, a, &nb, &na)] {
                for (record, version) in have {
                    if other.get(record) >= Some(version) {
                        continue;
                    }
                    if copy_newest(cluster, *record, from, to).await? {
                        pass.records_copied = pass.records_copied.saturating_add(1);
                        cluster.metrics.ae_records_copied.inc();
                    }
                }
            }
        }
        RecordKind::Chunks => {
            let ids = |records: &[Record]| -> HashSet<ChunkId> {
                records
                    .iter()
                    .filter_map(|r| match r {
                        Record::Chunk(id) => Some(*id),
                        _ => None,
                    })
                    .collect()
            };
            let (ia, ib) = (ids(&ra), ids(&rb));
            for (from, to, have, other) in [(a, b, &ia, &ib), (b, a, &ib, &ia)] {
                for id in have.difference(other) {
                    if let Some(data) = cluster.node(from).get_chunk(*id).await? {
                        let len = data.len();
                        cluster.node(to).put_chunk(*id, data).await?;
                        pace.after(len).await;
                        pass.records_copied = pass.records_copied.saturating_add(1);
                        cluster.metrics.ae_records_copied.inc();
                    }
                }
            }
        }
    }
    Ok(())
}
