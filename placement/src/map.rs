//! The cluster map document: its YAML form and its validation rules.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// One storage node as the cluster map describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Stable identity of the node; placement hashes it, so renaming a node moves its data.
    pub id: String,
    /// `host:port` of the node's internal API.
    pub address: String,
    /// Failure domain. Replicas of a key go to distinct zones whenever there are enough zones.
    #[serde(default = "default_zone")]
    pub zone: String,
    /// Relative capacity; the node gets virtual nodes in proportion to it. Must be > 0.
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_zone() -> String {
    "default".to_string()
}

fn default_weight() -> f64 {
    1.0
}

/// Replication factor and quorums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replication {
    /// Number of replicas of every manifest and chunk.
    pub n: usize,
    /// Durable acknowledgements a write waits for.
    pub w: usize,
    /// Answers a read waits for before it picks the newest version.
    pub r: usize,
    /// Allows `r + w <= n`, where a read may miss the latest acknowledged write.
    #[serde(default)]
    pub allow_weak_consistency: bool,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            n: 3,
            w: 2,
            r: 2,
            allow_weak_consistency: false,
        }
    }
}

/// The versioned description of the cluster shared by every process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterMap {
    /// Increases with every change of the map; the higher epoch wins.
    pub epoch: u64,
    #[serde(default)]
    pub replication: Replication,
    /// Virtual nodes per unit of weight. More means better balance and a larger ring.
    #[serde(default = "default_vnodes")]
    pub vnodes_per_weight: u32,
    pub nodes: Vec<NodeSpec>,
}

fn default_vnodes() -> u32 {
    1024
}

/// A cluster map that cannot be used; the message names the offending field.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MapError {
    #[error("cluster map is not valid YAML for this schema: {0}")]
    Parse(String),
    #[error("cluster map field `{field}`: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> MapError {
    MapError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl ClusterMap {
    /// Parses and validates a map from YAML.
    pub fn from_yaml(text: &str) -> Result<ClusterMap, MapError> {
        let map: ClusterMap =
            serde_yaml_ng::from_str(text).map_err(|e| MapError::Parse(e.to_string()))?;
        map.validate()?;
        Ok(map)
    }

    /// Checks the rules a usable map obeys.
    pub fn validate(&self) -> Result<(), MapError> {
        let Replication {
            n,
            w,
            r,
            allow_weak_consistency,
        } = self.replication;
        if n == 0 {
            return Err(invalid("replication.n", "must be at least 1"));
        }
        if w == 0 || w > n {
            return Err(invalid(
                "replication.w",
                format!("must be between 1 and replication.n ({n}), got {w}"),
            ));
        }
        if r == 0 || r > n {
            return Err(invalid(
                "replication.r",
                format!("must be between 1 and replication.n ({n}), got {r}"),
            ));
        }
        if r.saturating_add(w) <= n && !allow_weak_consistency {
            return Err(invalid(
                "replication.r",
                format!(
                    "r ({r}) + w ({w}) <= n ({n}) lets a read miss an acknowledged write; \
                     raise r or w, or set replication.allow_weak_consistency: true"
                ),
            ));
        }
        if self.vnodes_per_weight == 0 {
            return Err(invalid("vnodes_per_weight", "must be at least 1"));
        }
        if self.nodes.is_empty() {
            return Err(invalid("nodes", "the map names no node"));
        }
        if self.nodes.len() < n {
            return Err(invalid(
                "nodes",
                format!(
                    "{} nodes cannot hold replication.n = {n} replicas",
                    self.nodes.len()
                ),
            ));
        }
        let mut ids = HashSet::new();
        let mut addresses = HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.id.is_empty() {
                return Err(invalid(format!("nodes[{i}].id"), "must not be empty"));
            }
            if !ids.insert(node.id.as_str()) {
                return Err(invalid(
                    format!("nodes[{i}].id"),
                    format!("duplicate node id `{}`", node.id),
                ));
            }
            if node.address.is_empty() {
                return Err(invalid(format!("nodes[{i}].address"), "must not be empty"));
            }
            if !addresses.insert(node.address.as_str()) {
                return Err(invalid(
                    format!("nodes[{i}].address"),
                    format!("duplicate address `{}`", node.address),
                ));
            }
            if !(node.weight.is_finite() && node.weight > 0.0) {
                return Err(invalid(
                    format!("nodes[{i}].weight"),
                    format!("must be a positive number, got {}", node.weight),
                ));
            }
            if (node.weight * f64::from(self.vnodes_per_weight)).round() < 1.0 {
                return Err(invalid(
                    format!("nodes[{i}].weight"),
                    "too small to give the node a single virtual node",
                ));
            }
        }
        Ok(())
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
epoch: 3
replication: { n: 3, w: 2, r: 2 }
nodes:
  - { id: a, address: '127.0.0.1:1', zone: z1 }
  - { id: b, address: '127.0.0.1:2', zone: z2, weight: 2 }
  - { id: c, address: '127.0.0.1:3', zone: z3 }
";

    fn field_of(text: &str) -> String {
        match ClusterMap::from_yaml(text) {
            Err(MapError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_good_map() {
        let map = ClusterMap::from_yaml(GOOD).unwrap();
        assert_eq!(map.epoch, 3);
        assert_eq!(map.nodes[1].weight, 2.0);
        assert_eq!(map.nodes[0].weight, 1.0);
        assert_eq!(map.vnodes_per_weight, 1024);
    }

    #[test]
    fn rejects_w_above_n() {
        assert_eq!(field_of(&GOOD.replace("w: 2", "w: 4")), "replication.w");
    }

    #[test]
    fn rejects_weak_quorums_unless_opted_in() {
        let weak = GOOD.replace("{ n: 3, w: 2, r: 2 }", "{ n: 3, w: 1, r: 2 }");
        assert_eq!(field_of(&weak), "replication.r");
        let opted = GOOD.replace(
            "{ n: 3, w: 2, r: 2 }",
            "{ n: 3, w: 1, r: 2, allow_weak_consistency: true }",
        );
        ClusterMap::from_yaml(&opted).unwrap();
    }

    #[test]
    fn rejects_duplicate_ids_and_zero_weight() {
        assert_eq!(field_of(&GOOD.replace("id: b", "id: a")), "nodes[1].id");
        assert_eq!(
            field_of(&GOOD.replace("weight: 2", "weight: 0")),
            "nodes[1].weight"
        );
        assert_eq!(
            field_of(&GOOD.replace("weight: 2", "weight: -1")),
            "nodes[1].weight"
        );
    }

    #[test]
    fn rejects_unknown_fields_by_name() {
        let err =
            ClusterMap::from_yaml(&GOOD.replace("epoch: 3", "epoch: 3\nepoc: 4")).unwrap_err();
        assert!(err.to_string().contains("epoc"), "{err}");
    }

    #[test]
    fn rejects_too_few_nodes() {
        let two = GOOD.replace("  - { id: c, address: '127.0.0.1:3', zone: z3 }\n", "");
        assert_eq!(field_of(&two), "nodes");
    }
}
