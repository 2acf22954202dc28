//! The messages of anti-entropy (the node computes them in `storage_node::antientropy`, the
//! gateway compares them in `gateway::antientropy`): digests per peer and cell, and the
//! identities of the records of a cell.

use std::collections::HashMap;

use placement::{stable_hash, ClusterMap};
use serde::{Deserialize, Serialize};

use crate::model::{BucketRecord, ChunkId, Manifest, Version};

/// Cells per peer: the top bits of the placement hash.
pub const CELL_BITS: u32 = 8;
pub const CELLS: usize = 1 << CELL_BITS;

/// Which records a digest or cell covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    Manifests,
    Chunks,
    Buckets,
    /// Multipart upload records (ended ones included).
    Uploads,
    /// Part records of the uploads in progress on the node.
    Parts,
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

/// A record of a cell: a manifest version (a tombstone included), a chunk or a bucket record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Record {
    Manifest {
        bucket: String,
        key: String,
        version: Version,
    },
    Chunk(ChunkId),
    Bucket {
        name: String,
        version: Version,
    },
    Upload {
        bucket: String,
        key: String,
        upload_id: Version,
        version: Version,
    },
    Part {
        upload_id: Version,
        number: u32,
        version: Version,
    },
}

impl Record {
    /// A hash of the record's identity, folded into its cell's digest.
    pub fn fingerprint(&self) -> u64 {
        match self {
            Record::Manifest {
                bucket,
                key,
                version,
            } => {
                let mut b = Manifest::placement_key(bucket, key);
                b.extend_from_slice(&version.to_bytes());
                stable_hash(&b)
            }
            Record::Chunk(id) => stable_hash(&id.to_bytes()),
            Record::Bucket { name, version } => {
                let mut b = BucketRecord::placement_key(name);
                b.extend_from_slice(&version.to_bytes());
                stable_hash(&b)
            }
            Record::Upload {
                bucket,
                key,
                upload_id,
                version,
            } => {
                let mut b = Manifest::placement_key(bucket, key);
                b.extend_from_slice(&upload_id.to_bytes());
                b.extend_from_slice(&version.to_bytes());
                stable_hash(&b)
            }
            Record::Part {
                upload_id,
                number,
                version,
            } => {
                let mut b = b"p\0".to_vec();
                b.extend_from_slice(&upload_id.to_bytes());
                b.extend_from_slice(&number.to_be_bytes());
                b.extend_from_slice(&version.to_bytes());
                stable_hash(&b)
            }
        }
    }
}

/// The cell of a placement key.
pub fn cell_of(placement_key: &[u8]) -> usize {
    (stable_hash(placement_key) >> (64 - CELL_BITS)) as usize
}
