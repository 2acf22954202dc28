//! The consistent-hashing ring: virtual nodes in an ordered map and the distinct-node walk.

use std::collections::BTreeMap;

use crate::map::ClusterMap;

/// Position of a node in [`ClusterMap::nodes`].
pub type NodeIndex = usize;

/// The stable 64-bit hash used for every placement decision (XXH3, identical on every platform
/// and across restarts, unlike std's randomly keyed `DefaultHasher`).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// A ring built from one [`ClusterMap`].
#[derive(Debug, Clone)]
pub struct Ring {
    /// Virtual-node position -> node index. Collisions (astronomically rare) keep the first.
    points: BTreeMap<u64, NodeIndex>,
    zones: Vec<usize>,
    zone_count: usize,
    node_count: usize,
    n: usize,
}

impl Ring {
    /// Builds the ring: node `i` gets `round(weight * vnodes_per_weight)` virtual nodes, each at
    /// `stable_hash("<id>#<k>")`, so a node's points depend on nothing but its own id.
    pub fn new(map: &ClusterMap) -> Ring {
        let mut points = BTreeMap::new();
        let mut zone_names: Vec<&str> = Vec::new();
        let mut zones = Vec::with_capacity(map.nodes.len());
        for (index, node) in map.nodes.iter().enumerate() {
            let zone = match zone_names.iter().position(|z| *z == node.zone) {
                Some(z) => z,
                None => {
                    zone_names.push(&node.zone);
                    zone_names.len().saturating_sub(1)
                }
            };
            zones.push(zone);
            let vnodes = (node.weight * f64::from(map.vnodes_per_weight))
                .round()
                .max(1.0) as u64;
            for k in 0..vnodes {
                let position = stable_hash(format!("{}#{k}", node.id).as_bytes());
                points.entry(position).or_insert(index);
            }
        }
        Ring {
            points,
            zones,
            zone_count: zone_names.len(),
            node_count: map.nodes.len(),
            n: map.replication.n,
        }
    }

    /// Every physical node once, in the order it should hold `key`: the first `n` are the owners
    /// (in distinct zones whenever the cluster has at least `n` zones, otherwise spread over as
    /// many zones as there are), the rest are the fallbacks in ring order.
    pub fn preference_list(&self, key: &[u8]) -> Vec<NodeIndex> {
        let walk = self.walk(stable_hash(key));
        let n = self.n.min(walk.len());
        if self.zone_count <= 1 {
            return walk;
        }
        let mut owners: Vec<NodeIndex> = Vec::with_capacity(walk.len());
        let mut zone_used = vec![false; self.zone_count];
        // First pass: one node per zone, in ring order, until n owners are chosen.
        for &node in &walk {
            if owners.len() == n {
                break;
            }
            let used = self.zones.get(node).and_then(|&z| zone_used.get_mut(z));
            if let Some(used @ false) = used {
                *used = true;
                owners.push(node);
            }
        }
        // Fewer zones than n: fill with the next nodes in ring order.
        for &node in &walk {
            if owners.len() == n {
                break;
            }
            if !owners.contains(&node) {
                owners.push(node);
            }
        }
        for &node in &walk {
            if !owners.contains(&node) {
                owners.push(node);
            }
        }
        owners
    }

    /// The first owner of `key` (the start of its preference list); `None` only for a ring
    /// without nodes, which no validated map builds.
    pub fn primary(&self, key: &[u8]) -> Option<NodeIndex> {
        let h = stable_hash(key);
        let (_, &node) = self
            .points
            .range(h..)
            .next()
            .or_else(|| self.points.iter().next())?;
        Some(node)
    }

    /// Distinct physical nodes in ring order starting at `hash`.
    fn walk(&self, hash: u64) -> Vec<NodeIndex> {
        let mut seen = vec![false; self.node_count];
        let mut order = Vec::with_capacity(self.node_count);
        for (_, &node) in self.points.range(hash..).chain(self.points.range(..hash)) {
            if let Some(seen @ false) = seen.get_mut(node) {
                *seen = true;
                order.push(node);
                if order.len() == self.node_count {
                    break;
                }
            }
        }
        order
    }

    /// Replication factor of the map this ring was built from.
    pub fn replicas(&self) -> usize {
        self.n
    }
}
