//! The cluster's nodes as this gateway sees them (`gateway admin status`, the console's cluster
//! page): per node its zone, weight, role in a membership change, whether it answers, how many
//! hinted records it holds for nodes that were down, and how much it stores.

use crate::cluster::Cluster;

/// One node's line.
pub struct NodeStatus {
    pub id: String,
    pub address: String,
    pub zone: String,
    pub weight: f64,
    /// `member`, or during a move `joining` (only in the new map) / `leaving` (only in the old).
    pub role: &'static str,
    pub up: bool,
    /// Hints held for other nodes (`None` when the node did not answer).
    pub hints: Option<u64>,
    /// Bytes stored and object versions held (`None` when the node did not answer).
    pub data: Option<node_api::model::NodeStats>,
}

/// Asks every node for its health and its hints.
pub async fn cluster_status(cluster: &Cluster) -> Vec<NodeStatus> {
    let layout = cluster.layout();
    let mut out = Vec::new();
    for i in layout.members() {
        let id = cluster.node_id(i);
        let in_current = layout.current.map.node(&id);
        let in_previous = layout.previous.as_ref().and_then(|p| p.map.node(&id));
        let (spec, role) = match (in_current, in_previous, &layout.previous) {
            (Some(s), None, Some(_)) => (s, "joining"),
            (Some(s), _, _) => (s, "member"),
            (None, Some(s), _) => (s, "leaving"),
            (None, None, _) => continue,
        };
        let node = cluster.node(i);
        let probe = node.status_of(http::Method::GET, "/health");
        let up = tokio::time::timeout(std::time::Duration::from_secs(2), probe)
            .await
            .is_ok_and(|r| r.is_ok_and(|s| s.is_success()));
        let mut hints = None;
        let data = if up { node.stats().await.ok() } else { None };
        if up {
            let mut count = 0u64;
            let mut after = Vec::new();
            hints = loop {
                match node.list_hints(&after, 1000).await {
                    Ok(page) if page.is_empty() => break Some(count),
                    Ok(page) => {
                        count = count.saturating_add(page.len() as u64);
                        after = page.last().map(|h| h.raw_key.clone()).unwrap_or_default();
                    }
                    Err(_) => break None,
                }
            };
        }
        out.push(NodeStatus {
            id: spec.id.clone(),
            address: spec.address.clone(),
            zone: spec.zone.clone(),
            weight: spec.weight,
            role,
            up,
            hints,
            data,
        });
    }
    out
}
