//! The JSON shapes of the admin API (`/admin/v1/...`), shared by the server, the `gateway admin`
//! client and `openapi/admin-v1.yaml`, which documents each of them. Field names are snake_case;
//! sizes are bytes; times are milliseconds since the Unix epoch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An error answer: a stable `code` and a sentence for people.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// `GET /admin/v1/cluster`: the cluster as this gateway sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub epoch: u64,
    pub replication: Replication,
    /// While data moves after a membership change: the epoch it moves from.
    pub moving_from: Option<u64>,
    pub nodes: Vec<NodeView>,
    /// Nodes that answered, of all nodes.
    pub nodes_up: usize,
    /// Hinted records held for nodes that were down, over the nodes that answered.
    pub hints: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Replication {
    pub n: usize,
    pub w: usize,
    pub r: usize,
}

/// One storage node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeView {
    pub id: String,
    pub address: String,
    pub zone: String,
    pub weight: f64,
    /// `member`, or during a move `joining` (new map only) or `leaving` (old map only).
    pub role: String,
    pub up: bool,
    /// Hints held for other nodes; null when the node did not answer.
    pub hints: Option<u64>,
    /// Bytes stored; null when the node did not answer.
    pub bytes: Option<u64>,
    /// Object versions held (an estimate); null when the node did not answer.
    pub versions: Option<u64>,
}

/// `GET /admin/v1/cluster/map`: the map in force and, during a move, the one data moves from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapView {
    pub current: placement::ClusterMap,
    pub previous: Option<placement::ClusterMap>,
}

/// `PUT /admin/v1/cluster/map`: what the change did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapApplied {
    pub epoch: u64,
    /// Nodes that took the new map, of `offered`.
    pub took: usize,
    pub offered: usize,
}

/// A bucket's limits; null in a field: no limit on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    #[serde(default)]
    pub max_bytes: Option<u64>,
    #[serde(default)]
    pub max_objects: Option<u64>,
}

/// What a bucket's policy does, in short.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicySummary {
    pub statements: usize,
    /// The policy grants something to everyone (GetBucketPolicyStatus's IsPublic).
    pub public: bool,
}

/// One bucket with its usage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketView {
    pub name: String,
    pub owner: String,
    pub region: String,
    pub objects: u64,
    pub bytes: u64,
    /// Anyone may read without signing (`public_read`, set here or by `bucket-public`).
    pub public_read: bool,
    pub quota: Option<Quota>,
    pub policy: Option<PolicySummary>,
    /// `AES256` or `aws:kms` when the bucket has default encryption.
    pub default_encryption: Option<String>,
    /// The bucket serves a website.
    pub website: bool,
}

/// `PUT /admin/v1/buckets/{bucket}/public`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Public {
    pub public_read: bool,
}

/// A stored access key and its grants (`read`, `write` or `owner` per bucket).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub grants: BTreeMap<String, String>,
}

/// `POST /admin/v1/keys`: the id to give the key (generated when absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[serde(default)]
    pub id: Option<String>,
}

/// A key just made: its secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedKey {
    pub id: String,
    pub secret: String,
}

/// `PUT /admin/v1/keys/{id}/grants/{bucket}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `read`, `write` or `owner`.
    pub role: String,
}

/// One SSE-KMS key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KmsKeyView {
    pub id: String,
    /// The key `aws:kms` uses when a request names none.
    pub default: bool,
    pub provider: String,
    pub active: String,
    pub materials: Vec<String>,
    /// Buckets whose default encryption uses the key.
    pub buckets: Vec<String>,
}

/// One background job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    /// `repair` or `rebalance`.
    pub name: String,
    /// `running` or `stopped`.
    pub state: String,
    /// For rebalance: whether data is moving.
    pub detail: Option<String>,
    /// Each gateway's last report.
    pub gateways: Vec<JobReport>,
}

/// What one gateway last did of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReport {
    pub gateway: String,
    /// A pass is under way (since `started_ms`).
    pub running: bool,
    pub started_ms: u64,
    /// When the last pass ended (0: none yet).
    pub finished_ms: u64,
    pub summary: String,
}

/// `POST /admin/v1/repair`: one anti-entropy pass, made by this gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepairResult {
    pub cells_differing: u64,
    pub records_copied: u64,
    /// Every node answered and every difference was reconciled.
    pub complete: bool,
    pub summary: String,
}

/// `GET /admin/v1/rotate`: what a rotation would still have to rewrap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateStatus {
    /// The master key new envelopes are wrapped under.
    pub active_key: String,
    /// Envelopes (object versions and uploads, each replica counted) under an older key, over
    /// the nodes that answered.
    pub stale_envelopes: u64,
    /// Stored access keys whose secret an older master key wraps.
    pub stale_access_keys: u64,
    pub nodes: Vec<NodeRotation>,
    /// Nothing is left under an older key on any node, and every node answered.
    pub complete: bool,
}

/// One node's part of [`RotateStatus`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRotation {
    pub node: String,
    /// Null when the node did not answer (see `error`).
    pub stale_envelopes: Option<u64>,
    pub error: Option<String>,
}

/// `POST /admin/v1/rotate`: what a rotation did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateResult {
    pub active_key: String,
    pub rewrapped: u64,
    /// Records replaced or deleted meanwhile (nothing left to do).
    pub gone: u64,
    pub access_keys_rewrapped: u64,
    /// Records whose envelope no configured key opens.
    pub unopenable: Vec<String>,
    /// What could not be finished (nodes, access keys), with the reason.
    pub incomplete: Vec<String>,
    pub complete: bool,
}
