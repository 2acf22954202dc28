//! The messages of moving data after a membership change (the node's half is
//! `storage_node::moves`, the gateway's `gateway::rebalance`).

use placement::ClusterMap;
use serde::{Deserialize, Serialize};

use crate::model::{BucketRecord, ChunkId, Manifest, PartRecord, UploadRecord, Version};

/// The kinds of records that move, in the order a pass moves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveKind {
    Buckets,
    Uploads,
    Manifests,
    Chunks,
}

impl MoveKind {
    pub const ALL: [MoveKind; 4] = [
        MoveKind::Buckets,
        MoveKind::Uploads,
        MoveKind::Manifests,
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
    Bucket(BucketRecord),
    Upload {
        record: UploadRecord,
        parts: Vec<PartRecord>,
    },
    Manifest(Manifest),
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
    Manifest {
        bucket: String,
        key: String,
        version: Version,
    },
    Chunk(ChunkId),
}

impl Moving {
    /// The placement key of the moving record.
    pub fn placement_key(&self) -> Vec<u8> {
        match self {
            Moving::Bucket(b) => BucketRecord::placement_key(&b.name),
            Moving::Upload { record, .. } => Manifest::placement_key(&record.bucket, &record.key),
            Moving::Manifest(m) => Manifest::placement_key(&m.bucket, &m.key),
            Moving::Chunk(id) => id.to_bytes().to_vec(),
        }
    }
}

impl Released {
    /// The placement key of the released record.
    pub fn placement_key(&self) -> Vec<u8> {
        match self {
            Released::Bucket { name, .. } => BucketRecord::placement_key(name),
            Released::Upload { bucket, key, .. } | Released::Manifest { bucket, key, .. } => {
                Manifest::placement_key(bucket, key)
            }
            Released::Chunk(id) => id.to_bytes().to_vec(),
        }
    }
}
