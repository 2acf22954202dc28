//! The messages of garbage collection (the node's half is `storage_node::gc`, the gateway's
//! `gateway::gc`): filters of referenced chunk groups, sweeps, collections and what they removed.

use std::collections::HashMap;

use fastbloom::BloomFilter;
use serde::{Deserialize, Serialize};

use crate::model::Version;

/// Names the filter's bit layout: nodes refuse a filter built by another (a mixed-version
/// cluster must not sweep by a filter it reads differently).
pub const FILTER_FORMAT: &str = "fastbloom-0.17/xxh3-64/v1";

/// The shape of a filter: bits (a multiple of 64) and hash count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterShape {
    pub bits: u64,
    pub hashes: u32,
}

/// `POST /v1/gc/refs`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefsRequest {
    pub format: String,
    pub shape: FilterShape,
}

/// A filter of referenced chunk groups, as raw little-endian words.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct References {
    #[serde(with = "serde_bytes")]
    pub words: Vec<u8>,
    /// Chunk groups inserted (duplicates across records counted once per record).
    pub items: u64,
}

/// `POST /v1/gc/sweep`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRequest {
    pub format: String,
    pub shape: FilterShape,
    #[serde(with = "serde_bytes")]
    pub words: Vec<u8>,
    /// Only chunks whose version is older than this (milliseconds since the epoch) go.
    pub cutoff_ms: u64,
}

/// `POST /v1/gc/collect`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CollectRequest {
    /// Tombstones, ended uploads and promises older than this go.
    pub cutoff_ms: u64,
    /// A superseded manifest version goes once the version that replaced it on this node is
    /// older than this (no request that could still read it is in flight).
    #[serde(default)]
    pub superseded_cutoff_ms: u64,
    /// What the collector knows of each bucket: versions written in an incarnation that is
    /// gone (an earlier one, or the bucket is deleted) go once older than the reclaim cutoff.
    #[serde(default)]
    pub buckets: HashMap<String, BucketState>,
}

/// A bucket as the collector saw it at the start of its pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketState {
    /// Live, in this incarnation (`None`: made before incarnations).
    Live(Option<Version>),
    Deleted,
}

/// Whether a version (a tombstone or not, written in `incarnation`) of a bucket in `state`
/// belongs to an incarnation that is gone. Tombstones never do: they carry no incarnation
/// and hide what is older (the tombstone rule collects them).
pub fn of_dead_incarnation(
    state: BucketState,
    deleted: bool,
    incarnation: Option<Version>,
) -> bool {
    !deleted
        && match state {
            BucketState::Deleted => true,
            BucketState::Live(current) => incarnation < current,
        }
}

/// What a sweep or a collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub chunks: u64,
    pub tombstones: u64,
    #[serde(default)]
    pub superseded: u64,
    pub uploads: u64,
    pub promises: u64,
    /// Part records of ended uploads.
    #[serde(default)]
    pub parts: u64,
    /// Versions of bucket incarnations that are gone.
    #[serde(default)]
    pub dead_incarnation: u64,
    /// Records of deleted buckets.
    #[serde(default)]
    pub buckets: u64,
    /// Records of deleted access keys.
    #[serde(default)]
    pub access_keys: u64,
}

/// An empty filter of `shape`, or the one `words` hold.
pub fn filter(shape: FilterShape, words: Option<&[u8]>) -> Result<BloomFilter, String> {
    if shape.bits == 0
        || shape.bits > 1 << 30
        || !shape.bits.is_multiple_of(64)
        || shape.hashes == 0
        || shape.hashes > 32
    {
        return Err(format!("bad filter shape {shape:?}"));
    }
    let len = (shape.bits / 64) as usize;
    let vec = match words {
        None => vec![0u64; len],
        Some(w) if Some(w.len()) == len.checked_mul(8) => w
            .as_chunks::<8>()
            .0
            .iter()
            .map(|c| u64::from_le_bytes(*c))
            .collect(),
        Some(w) => return Err(format!("filter of {} bytes, shape {shape:?}", w.len())),
    };
    Ok(BloomFilter::from_vec(vec).hashes(shape.hashes))
}

/// The raw little-endian words of a filter.
pub fn words(f: &BloomFilter) -> Vec<u8> {
    f.as_slice().iter().flat_map(|w| w.to_le_bytes()).collect()
}
