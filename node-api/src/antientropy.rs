//! The messages of anti-entropy (the node computes them in `storage_node::antientropy`, the
//! gateway compares them in `gateway::antientropy`): digests per peer and cell, and the
//! identities of the records of a cell.

use std::collections::HashMap;

use placement::{stable_hash, ClusterMap};
use serde::{Deserialize, Serialize};

use crate::model::ChunkId;
use crate::table::{Family, RowVersion};

/// Cells per peer: the top bits of the placement hash.
pub const CELL_BITS: u32 = 8;
pub const CELLS: usize = 1 << CELL_BITS;

/// Which records a digest or cell covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    /// The current versions of one family of the record table (multipart uploads: ended ones
    /// included; parts: of uploads in progress).
    Rows(Family),
    Chunks,
}

impl RecordKind {
    /// The order of a pass. Uploads before parts: a part is compared only while its upload
    /// is in progress on both sides, which the uploads' round has settled.
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Rows(Family::Manifests),
        RecordKind::Rows(Family::Buckets),
        RecordKind::Rows(Family::Uploads),
        RecordKind::Rows(Family::Parts),
        RecordKind::Rows(Family::AccessKeys),
        RecordKind::Rows(Family::Settings),
        RecordKind::Chunks,
    ];
}

/// `POST /v1/ae/digest`: this node's digests, per peer and cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestRequest {
    pub map: ClusterMap,
    /// This node's id in `map`.
    pub me: String,
    pub kind: RecordKind,
}

/// `(xor, count)` of every cell, per peer id.
pub type Digests = HashMap<String, Vec<(u64, u64)>>;

/// `POST /v1/ae/cell`: the records of the given cells this node shares with `peer` (one scan
/// for all of them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellRequest {
    pub map: ClusterMap,
    pub me: String,
    pub peer: String,
    pub kind: RecordKind,
    pub cells: Vec<u32>,
}

/// A record of a cell: the current version of a row of the table (a tombstone included), or
/// a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Record {
    Row(RowVersion),
    Chunk(ChunkId),
}

impl Record {
    /// A hash of the record's identity, folded into its cell's digest.
    pub fn fingerprint(&self) -> u64 {
        match self {
            Record::Row(v) => stable_hash(&row_identity(v, true)),
            Record::Chunk(id) => stable_hash(&id.to_bytes()),
        }
    }
}

/// The bytes that name a row (its family and id, and with `versioned` its version).
pub fn row_identity(v: &RowVersion, versioned: bool) -> Vec<u8> {
    let mut b = vec![v.family as u8];
    b.extend_from_slice(&v.id);
    if versioned {
        b.extend_from_slice(&v.version.to_bytes());
    }
    b
}

/// The cell of a placement key.
pub fn cell_of(placement_key: &[u8]) -> usize {
    (stable_hash(placement_key) >> (64 - CELL_BITS)) as usize
}
