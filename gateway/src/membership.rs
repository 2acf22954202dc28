//! Keeping this gateway, and every storage node, on the newest cluster map state.
//!
//! A membership change is a new cluster map with a higher epoch. An operator makes it by
//! editing the map file of any gateway (`cluster_map` in its configuration, watched here) or
//! with `gateway map apply`; either way the gateway turns it into a [`MapState`] that still
//! names the previous map (data moves, see [`crate::rebalance`]) and offers it to every node.
//! Each node keeps its state durably and shows its epoch on every answer; a gateway that sees a
//! newer epoch fetches the state at once, and a node with an older one is sent ours. A request
//! stamped with an older epoch than the node's is refused by the node, so no gateway reads or
//! writes by a map that has been replaced once the nodes have the new one.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use placement::{ClusterMap, MapState, Offer};

use node_api::client::{NodeClient, Timeouts};
use node_api::identity::ClusterIdentity;

use crate::cluster::Cluster;

/// How often the map file and the nodes' states are compared with ours when nothing wakes the
/// watcher earlier.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Bound on one round of asking the nodes.
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);

/// What one round found.
#[derive(Debug, Default, PartialEq)]
pub struct Round {
    /// The state installed by this round, if ours changed.
    pub installed: Option<u64>,
    /// Nodes sent our state.
    pub pushed: usize,
    /// A change in the map file that cannot be applied yet, with the reason.
    pub refused: Option<String>,
}

/// The map file's map, if it parses (a file being edited may not).
fn read_map(path: &Path) -> Option<ClusterMap> {
    let text = std::fs::read_to_string(path).ok()?;
    match ClusterMap::from_yaml(&text) {
        Ok(map) => Some(map),
        Err(e) => {
            tracing::warn!("{}: {e}", path.display());
            None
        }
    }
}

/// One round: the newest state among ours and the nodes' (plus a newer map in `file`, as a
/// change from it) becomes ours, and every node holding an older one is sent it.
pub async fn sync_once(cluster: &Cluster, file: Option<&Path>) -> Round {
    let mut round = Round::default();
    let ours = cluster.map_state();
    let file_map = file.and_then(read_map);
    // Ask every node of our maps.
    let mut asks: FuturesUnordered<_> = cluster
        .members()
        .into_iter()
        .map(|i| {
            let node = cluster.node(i);
            async move { (i, node.map_state().await) }
        })
        .collect();
    let mut held: Vec<(usize, Option<MapState>)> = Vec::new();
    let _ = tokio::time::timeout(ROUND_TIMEOUT, async {
        while let Some((i, answer)) = asks.next().await {
            if let Ok(state) = answer {
                held.push((i, state));
            }
        }
    })
    .await;
    drop(asks);

    // Until a node has answered, our state is only our file's map, which cannot say whether
    // data still moves: the nodes' newest state (if any) is the base, and a newer map in the
    // file is a change from it.
    let confirmed = cluster.confirmed.load(Ordering::SeqCst);
    let from_nodes =
        held.iter()
            .filter_map(|(_, s)| s.as_ref())
            .fold(None::<MapState>, |best, s| {
                match MapState::offer(best.as_ref(), s) {
                    Offer::Adopt => Some(s.clone()),
                    _ => best,
                }
            });
    let mut best = match (&from_nodes, confirmed) {
        (Some(nodes), false) => nodes.clone(),
        _ => ours.clone(),
    };
    if !held.is_empty() {
        cluster.confirmed.store(true, Ordering::SeqCst);
    }
    for (_, state) in &held {
        if let Some(s) = state {
            if MapState::offer(Some(&best), s) == Offer::Adopt {
                best = s.clone();
            }
        }
    }
    if let Some(map) = file_map {
        if map.epoch > best.epoch() {
            match best.change_to(map) {
                Ok(next) => {
                    tracing::info!(
                        "cluster map file: epoch {} replaces {}; moving data",
                        next.epoch(),
                        best.epoch()
                    );
                    best = next;
                }
                Err(why) => round.refused = Some(why),
            }
        }
    }
    if best != ours {
        match cluster.install(best.clone()) {
            Ok(()) => {
                tracing::info!(
                    "cluster map epoch {}{}",
                    best.epoch(),
                    if best.is_moving() {
                        " (data moving)"
                    } else {
                        ""
                    }
                );
                round.installed = Some(best.epoch());
            }
            Err(e) => {
                tracing::warn!("cannot place by cluster map epoch {}: {e:#}", best.epoch());
                return round;
            }
        }
    }
    round.pushed = push(cluster, &best, &held).await;
    round
}

/// Sends `state` to every member whose state (in `held`, or unknown) is older; answers how
/// many took it.
async fn push(cluster: &Cluster, state: &MapState, held: &[(usize, Option<MapState>)]) -> usize {
    let behind: Vec<usize> = cluster
        .members()
        .into_iter()
        .filter(|i| match held.iter().find(|(j, _)| j == i) {
            Some((_, s)) => MapState::offer(s.as_ref(), state) == Offer::Adopt,
            None => false, // did not answer: the next round tries again
        })
        .collect();
    let state = Arc::new(state.clone());
    let mut sends: FuturesUnordered<_> = behind
        .into_iter()
        .map(|i| {
            let node = cluster.node(i);
            let state = state.clone();
            async move { node.offer_map(&state).await }
        })
        .collect();
    let mut took: usize = 0;
    while let Some(answer) = sends.next().await {
        match answer {
            Ok(_) => took = took.saturating_add(1),
            Err(e) => tracing::warn!("a node refused cluster map epoch {}: {e}", state.epoch()),
        }
    }
    took
}

/// Offers `state` to every member now (used when data has finished moving).
pub async fn publish(cluster: &Cluster, state: &MapState) -> usize {
    let held: Vec<(usize, Option<MapState>)> =
        cluster.members().into_iter().map(|i| (i, None)).collect();
    push(cluster, state, &held).await
}

/// What [`apply_map`] did.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    /// The new map's epoch.
    pub epoch: u64,
    /// Nodes that took the new state.
    pub took: usize,
    /// Nodes offered it (the members of the old and new maps).
    pub offered: usize,
}

/// An operator's membership change: the newest state known (this gateway's and the nodes')
/// changed to `next` (a higher epoch, no move under way), installed here and offered to every
/// member. Fails with the reason when `next` is refused or no node took it.
pub async fn apply_map(cluster: &Cluster, next: placement::ClusterMap) -> Result<Applied, String> {
    sync_once(cluster, None).await;
    let state = cluster.map_state().change_to(next)?;
    cluster.install(state.clone()).map_err(|e| e.to_string())?;
    let took = publish(cluster, &state).await;
    let applied = Applied {
        epoch: state.epoch(),
        took,
        offered: cluster.members().len(),
    };
    if took == 0 {
        return Err(format!("no node took cluster map epoch {}", applied.epoch));
    }
    Ok(applied)
}

/// The map state of the first member among `addresses` that has one (discovery: a gateway
/// configured with `join` instead of a map file).
pub async fn learn(addresses: &[String], identity: &ClusterIdentity) -> anyhow::Result<MapState> {
    let mut errors = Vec::new();
    for address in addresses {
        let node = NodeClient::new(address, None, identity, Timeouts::default());
        match node.map_state().await {
            Ok(Some(state)) => {
                tracing::info!("cluster map epoch {} learned from {address}", state.epoch());
                return Ok(state);
            }
            Ok(None) => errors.push(format!("{address}: holds no cluster map yet")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    anyhow::bail!(
        "join: no member answered with a cluster map ({})",
        errors.join("; ")
    )
}

/// Rounds forever: every [`WATCH_EVERY`], and at once when a node answers with a newer epoch.
pub async fn watch(cluster: Arc<Cluster>, file: Option<PathBuf>) {
    let mut last_refusal: Option<String> = None;
    loop {
        let newer = cluster.epochs.newer.notified();
        let _ = tokio::time::timeout(WATCH_EVERY, newer).await;
        let round = sync_once(&cluster, file.as_deref()).await;
        if round.refused != last_refusal {
            if let Some(why) = &round.refused {
                tracing::warn!("cluster map file not applied yet: {why}");
            }
            last_refusal = round.refused;
        }
    }
}
