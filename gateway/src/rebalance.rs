//! Moving data after a membership change, in the background.
//!
//! While the map state names a previous map, every gateway runs passes: it asks each node of
//! either map for the records it holds but does not own under the current map
//! (`storage_node::moves`), puts each on every current owner that lacks it (rows of the record
//! table by their family's newest-wins rule, whatever the family: buckets, then parts, then
//! their uploads, then object versions; chunks after a `HEAD`), and then has the node release
//! its copy (each row by itself: parts move before their upload, whose placement they need). A record is released only once all its current owners hold it, so at every
//! moment a record is on a quorum of its previous owners or on all of its current ones: reads,
//! which ask both groups while data moves, always find it. Chunk copies are paced at
//! `rebalance_bytes_per_second`.
//!
//! A pass that finds nothing left to move on any node (all of them answering) ends the move:
//! the state without the previous map is offered to every node and installed, and reads go back
//! to the current owners alone. A decommissioned node (one only the previous map names) is
//! then empty and can be stopped. Passes are idempotent, so gateways may run them at the same
//! time, and a crash (of a gateway or a node) loses nothing: the next pass starts over on
//! what is still left.

use std::sync::Arc;
use std::time::Duration;

use node_api::client::RpcError;
use node_api::moves::{MoveKind, MoveList, Moving, Release, Released};

use crate::cluster::{Cluster, Layout};
use crate::jobs::{Job, Jobs};

/// Pause between passes while data moves.
const PASS_EVERY: Duration = Duration::from_secs(1);
/// Records per listing call.
const PAGE: u32 = 256;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Records found on nodes that do not own them.
    pub found: u64,
    /// Records put on their owners and released.
    pub moved: u64,
    pub chunk_bytes: u64,
    /// Nodes that could not be listed or whose records could not all be moved.
    pub incomplete_nodes: u64,
}

pub use crate::pace::Pace;

/// Runs passes while data moves (and the job is not stopped), forever.
pub async fn run(cluster: Arc<Cluster>, jobs: Arc<Jobs>, pace: Pace) {
    loop {
        tokio::time::sleep(PASS_EVERY).await;
        let layout = cluster.layout();
        if layout.previous.is_none() || jobs.control(Job::Rebalance).paused {
            continue;
        }
        let started = crate::jobs::now_ms();
        let pass = pass_once(&cluster, &layout, pace).await;
        let done = pass.found == 0 && pass.incomplete_nodes == 0;
        let summary = format!(
            "epoch {}: {} records found off their owners, {} moved ({} chunk bytes), {} nodes incomplete{}",
            layout.state.epoch(),
            pass.found,
            pass.moved,
            pass.chunk_bytes,
            pass.incomplete_nodes,
            if done { "; move finished" } else { "" }
        );
        jobs.report(Job::Rebalance, jobs.finished(started, summary), done)
            .await;
        if pass.moved > 0 || pass.incomplete_nodes > 0 {
            tracing::info!(
                "moving data to epoch {}: {} records moved ({} chunk bytes), {} found, {} nodes incomplete",
                layout.state.epoch(),
                pass.moved,
                pass.chunk_bytes,
                pass.found,
                pass.incomplete_nodes
            );
        }
        if done {
            finish(&cluster, &layout).await;
        }
    }
}

/// Declares the move of `layout` done: every node is offered the state without the previous map.
async fn finish(cluster: &Arc<Cluster>, layout: &Layout) {
    let done = layout.state.done_moving();
    let took = crate::membership::publish(cluster, &done).await;
    if let Err(e) = cluster.install(done) {
        tracing::warn!("cannot finish the move: {e:#}");
        return;
    }
    cluster.metrics.rebalance_pending.set(0);
    tracing::info!(
        "data moved: epoch {} in place ({took} nodes told)",
        layout.state.epoch()
    );
}

/// One pass over every node of either map.
pub async fn pass_once(cluster: &Arc<Cluster>, layout: &Layout, pace: Pace) -> Pass {
    let mut pass = Pass::default();
    for i in layout.members() {
        if let Err(e) = move_from(cluster, layout, i, pace, &mut pass).await {
            tracing::debug!("moving data off {}: {e}", cluster.node_id(i));
            pass.incomplete_nodes = pass.incomplete_nodes.saturating_add(1);
        }
    }
    cluster
        .metrics
        .rebalance_pending
        .set(pass.found.saturating_sub(pass.moved) as i64);
    pass
}

/// Moves every record node `i` holds but does not own.
async fn move_from(
    cluster: &Arc<Cluster>,
    layout: &Layout,
    i: usize,
    pace: Pace,
    pass: &mut Pass,
) -> Result<(), RpcError> {
    let me = cluster.node_id(i);
    let holder = cluster.node(i);
    for kind in MoveKind::ALL {
        let mut after = None;
        loop {
            let page = holder
                .move_list(&MoveList {
                    map: layout.current.map.clone(),
                    me: me.clone(),
                    kind,
                    after,
                    limit: PAGE,
                })
                .await?;
            for record in page.records {
                pass.found = pass.found.saturating_add(1);
                if let Some(released) =
                    copy_to_owners(cluster, layout, i, record, pace, pass).await?
                {
                    holder
                        .release(&Release {
                            epoch: layout.state.epoch(),
                            me: me.clone(),
                            record: released,
                        })
                        .await?;
                    pass.moved = pass.moved.saturating_add(1);
                    cluster.metrics.rebalance_moved.inc();
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(())
}

/// Puts `record` on every current owner that lacks it; answers what the holder may release
/// (`None`: the record vanished from the holder meanwhile).
async fn copy_to_owners(
    cluster: &Arc<Cluster>,
    layout: &Layout,
    holder: usize,
    record: Moving,
    pace: Pace,
    pass: &mut Pass,
) -> Result<Option<Released>, RpcError> {
    let owners = layout.current.owners(&record.placement_key());
    match record {
        Moving::Row {
            placement,
            version,
            row,
        } => {
            for &o in &owners {
                if !cluster.node(o).put_row(&row).await? {
                    // A conditional writer's promise is in the way: keep it for a later pass.
                    return Ok(None);
                }
            }
            Ok(Some(Released::Row { placement, version }))
        }
        Moving::Chunk(id) => {
            let mut data = None;
            for &o in &owners {
                let node = cluster.node(o);
                if node.has_chunk(id).await? {
                    continue;
                }
                if data.is_none() {
                    data = cluster.node(holder).get_chunk(id).await?;
                }
                let Some(bytes) = data.clone() else {
                    return Ok(None);
                };
                node.put_chunk(id, bytes.clone()).await?;
                pass.chunk_bytes = pass.chunk_bytes.saturating_add(bytes.len() as u64);
                cluster.metrics.rebalance_bytes.inc_by(bytes.len() as u64);
                pace.after(bytes.len()).await;
            }
            Ok(Some(Released::Chunk(id)))
        }
    }
}
