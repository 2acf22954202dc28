//! Anti-entropy: on a timer, every pair of nodes that share records compares digests of what
//! each holds for the other (`storage_node::antientropy`), and for each cell that differs the
//! two record lists are fetched and the difference copied: the newest manifest version of a key
//! to the side that lacks it (tombstones included), and chunks to the owner missing them. So a
//! node that lost its disk, or missed writes while down with no stand-in to hold them, is
//! refilled without any client read. Only differing cells cross the network.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use storage_node::antientropy::{CellRequest, DigestRequest, Digests, Record, RecordKind};
use storage_node::client::RpcError;
use storage_node::model::ChunkId;

use crate::cluster::Cluster;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pass {
    pub cells_differing: u64,
    pub manifests_copied: u64,
    pub chunks_copied: u64,
}

/// Runs a pass every `every`, forever.
pub async fn run(cluster: Arc<Cluster>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let pass = sync_once(&cluster).await;
        if pass.manifests_copied + pass.chunks_copied > 0 {
            tracing::info!(
                "anti-entropy: {} cells differed, {} manifests and {} chunks copied",
                pass.cells_differing,
                pass.manifests_copied,
                pass.chunks_copied
            );
        }
    }
}

/// One pass over every pair of nodes that answer.
pub async fn sync_once(cluster: &Arc<Cluster>) -> Pass {
    let mut pass = Pass::default();
    for kind in [RecordKind::Manifests, RecordKind::Chunks] {
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
            digests.push(d);
        }
        for x in 0..digests.len() {
            for y in x + 1..digests.len() {
                let (Some(da), Some(db)) = (&digests[x], &digests[y]) else {
                    continue;
                };
                let (a, b) = (nodes[x], nodes[y]);
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
                if differing.is_empty() {
                    continue;
                }
                pass.cells_differing += differing.len() as u64;
                cluster
                    .metrics
                    .ae_cells_differing
                    .inc_by(differing.len() as u64);
                if let Err(e) = sync_cells(cluster, kind, a, b, differing, &mut pass).await {
                    tracing::debug!("anti-entropy of nodes {a}/{b}: {e}");
                }
            }
        }
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
    pass: &mut Pass,
) -> Result<(), RpcError> {
    let ra = records(cluster, kind, a, b, &cells).await?;
    let rb = records(cluster, kind, b, a, &cells).await?;
    match kind {
        RecordKind::Manifests => {
            let newest = |records: &[Record]| {
                let mut out = HashMap::new();
                for r in records {
                    if let Record::Manifest {
                        bucket,
                        key,
                        version,
                    } = r
                    {
                        let e = out.entry((bucket.clone(), key.clone())).or_insert(*version);
                        *e = (*e).max(*version);
                    }
                }
                out
            };
            let (na, nb) = (newest(&ra), newest(&rb));
            for (from, to, have, other) in [(a, b, &na, &nb), (b, a, &nb, &na)] {
                for ((bucket, key), version) in have {
                    if other.get(&(bucket.clone(), key.clone())) >= Some(version) {
                        continue;
                    }
                    let Some(m) = cluster.node(from).get_manifest(bucket, key).await? else {
                        continue;
                    };
                    let reply = cluster.node(to).put_manifest(&m).await?;
                    cluster.collect_superseded(&m, vec![reply]);
                    pass.manifests_copied += 1;
                    cluster.metrics.ae_records_copied.inc();
                }
            }
        }
        RecordKind::Chunks => {
            let ids = |records: &[Record]| -> HashSet<ChunkId> {
                records
                    .iter()
                    .filter_map(|r| match r {
                        Record::Chunk(id) => Some(*id),
                        Record::Manifest { .. } => None,
                    })
                    .collect()
            };
            let (ia, ib) = (ids(&ra), ids(&rb));
            for (from, to, have, other) in [(a, b, &ia, &ib), (b, a, &ib, &ia)] {
                for id in have.difference(other) {
                    if let Some(data) = cluster.node(from).get_chunk(*id).await? {
                        cluster.node(to).put_chunk(*id, data).await?;
                        pass.chunks_copied += 1;
                        cluster.metrics.ae_records_copied.inc();
                    }
                }
            }
        }
    }
    Ok(())
}
