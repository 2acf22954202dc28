//! The messages of moving data after a membership change (the node's half is
//! `storage_node::moves`, the gateway's `gateway::rebalance`). Records move as rows of the
//! record table, whatever their family; chunks as chunks.

use placement::ClusterMap;
use serde::{Deserialize, Serialize};

use crate::model::ChunkId;
use crate::table::{Family, Row, RowVersion};

/// The kinds of records that move, in the order a pass moves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveKind {
    /// The rows of one family of the record table (never those kept on every node).
    Rows(Family),
    Chunks,
}

impl MoveKind {
    /// Parts before their uploads: a part is placed with its upload, which the node must
    /// still hold to know where the part goes.
    pub const ALL: [MoveKind; 5] = [
        MoveKind::Rows(Family::Buckets),
        MoveKind::Rows(Family::Parts),
        MoveKind::Rows(Family::Uploads),
        MoveKind::Rows(Family::Manifests),
        MoveKind::Chunks,
    ];
}

/// `POST /v1/move/list`: records of `kind` this node holds but does not own under `map`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveList {
    pub map: ClusterMap,
    /// This node's id.
    pub me: String,
    pub kind: MoveKind,
    /// Resume after this raw key (the `next` of the previous page).
    pub after: Option<Vec<u8>>,
    pub limit: u32,
}

/// A record that moves, with what the gateway needs to copy it (chunk bytes are fetched
/// separately).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Moving {
    /// One version of a record: where it is placed, which version it is, and the row.
    Row {
        #[serde(with = "serde_bytes")]
        placement: Vec<u8>,
        version: RowVersion,
        row: Row,
    },
    Chunk(ChunkId),
}

/// One page of [`MoveList`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MovePage {
    pub records: Vec<Moving>,
    /// Where the next page starts; `None` when the scan reached the end.
    pub next: Option<Vec<u8>>,
}

/// `POST /v1/move/release`: drop this node's copy of a record that now sits on its owners.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    /// The map under which the node is not an owner; it must be the node's current map.
    pub epoch: u64,
    pub me: String,
    pub record: Released,
}

/// The exact record a [`Release`] drops.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Released {
    /// That version of a record, placed at `placement` (as the move list said).
    Row {
        #[serde(with = "serde_bytes")]
        placement: Vec<u8>,
        version: RowVersion,
    },
    Chunk(ChunkId),
}

impl Moving {
    /// The placement key of the moving record.
    pub fn placement_key(&self) -> Vec<u8> {
        match self {
            Moving::Row { placement, .. } => placement.clone(),
            Moving::Chunk(id) => id.to_bytes().to_vec(),
        }
    }
}

impl Released {
    /// The placement key of the released record.
    pub fn placement_key(&self) -> Vec<u8> {
        match self {
            Released::Row { placement, .. } => placement.clone(),
            Released::Chunk(id) => id.to_bytes().to_vec(),
        }
    }
}
