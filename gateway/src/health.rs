//! Failure detection: which storage nodes answer, as seen by this gateway.
//!
//! Every call's outcome feeds it: a node that cannot be reached (connection refused, reset or
//! timed out) is *down* for a back-off that doubles with each consecutive failure (250 ms up to
//! 8 s). While down, calls to it fail at once instead of waiting for a timeout, writes go to
//! stand-ins (hinted handoff) and reads to the next nodes of the preference list. A probe of
//! `/health` brings it back as soon as it answers; so does any successful call. An answer with
//! an error status still means the node is up.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use node_api::client::RpcError;

use crate::metrics::GatewayMetrics;

const FIRST_BACKOFF_MS: u64 = 250;
const MAX_BACKOFF_MS: u64 = 8_000;
/// How often down nodes are probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Default)]
struct NodeHealth {
    /// Calls fail fast until this time (ms since the epoch); 0 when up.
    down_until_ms: AtomicU64,
    failures: AtomicU32,
}

/// The health of every node the gateway has known, by node table index (nodes are only ever
/// added: a node that leaves the cluster map keeps its index).
pub struct Health {
    nodes: RwLock<Vec<Arc<NodeHealth>>>,
    names: RwLock<Vec<String>>,
    metrics: Arc<GatewayMetrics>,
}

impl Health {
    /// All nodes start up. `names` label the `node_up` metric.
    pub fn new(names: Vec<String>, metrics: Arc<GatewayMetrics>) -> Health {
        let health = Health {
            nodes: RwLock::new(Vec::new()),
            names: RwLock::new(Vec::new()),
            metrics,
        };
        for name in names {
            health.add(name);
        }
        health
    }

    /// Tracks one more node (up); answers its index.
    pub fn add(&self, name: String) -> usize {
        self.metrics.node_up.with_label_values(&[&name]).set(1);
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        nodes.push(Arc::new(NodeHealth::default()));
        self.names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(name);
        nodes.len().saturating_sub(1)
    }

    /// Node `i`'s health and name; `None` for an index never added (no caller has one: node
    /// indices come from the cluster's node table, which adds every node here).
    fn node(&self, i: usize) -> Option<(Arc<NodeHealth>, String)> {
        let node = self
            .nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(i)?
            .clone();
        let name = self
            .names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(i)?
            .clone();
        Some((node, name))
    }

    /// Node `i`'s back-off deadline (0 when up), read under the lock without cloning.
    fn down_until(&self, i: usize) -> u64 {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        nodes
            .get(i)
            .map_or(0, |node| node.down_until_ms.load(Ordering::Relaxed))
    }

    /// Whether calls to node `i` are worth making now.
    pub fn is_up(&self, i: usize) -> bool {
        let until = self.down_until(i);
        until == 0 || now_ms() >= until
    }

    /// Whether node `i` is considered down (backed off), even if its back-off has run out.
    pub fn is_marked_down(&self, i: usize) -> bool {
        self.down_until(i) != 0
    }

    /// Feeds the outcome of a call to node `i`.
    pub fn record<T>(&self, i: usize, outcome: &Result<T, RpcError>) {
        match outcome {
            Err(RpcError::Unreachable(..) | RpcError::Timeout(_)) => self.mark_down(i),
            _ => self.mark_up(i),
        }
    }

    pub fn mark_down(&self, i: usize) {
        let Some((node, name)) = self.node(i) else {
            return;
        };
        let failures = node.failures.fetch_add(1, Ordering::Relaxed).min(10);
        let backoff = (FIRST_BACKOFF_MS << failures).min(MAX_BACKOFF_MS);
        node.down_until_ms
            .store(now_ms().saturating_add(backoff), Ordering::Relaxed);
        self.metrics.node_up.with_label_values(&[&name]).set(0);
    }

    pub fn mark_up(&self, i: usize) {
        let Some((node, name)) = self.node(i) else {
            return;
        };
        if node.down_until_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("storage node {name} answers again");
        }
        node.failures.store(0, Ordering::Relaxed);
        self.metrics.node_up.with_label_values(&[&name]).set(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_nodes_back_off_and_any_answer_brings_them_back() {
        let h = Health::new(
            vec!["a".into(), "b".into()],
            Arc::new(GatewayMetrics::new().unwrap()),
        );
        assert!(h.is_up(0) && h.is_up(1));
        h.record::<()>(0, &Err(RpcError::Timeout("a".into())));
        assert!(!h.is_up(0), "backed off after a timeout");
        assert!(h.is_marked_down(0));
        assert!(h.is_up(1));
        // An error status is an answer: the node is up.
        h.record::<()>(0, &Err(RpcError::Status("a".into(), 500, "x".into())));
        assert!(h.is_up(0) && !h.is_marked_down(0));
        h.record::<()>(1, &Err(RpcError::Unreachable("b".into(), "refused".into())));
        h.record::<()>(1, &Ok(()));
        assert!(h.is_up(1));
    }
}
