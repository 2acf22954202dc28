//! A short-lived cache of existing buckets' records, so that an object request does not read
//! its bucket's record from a quorum of nodes every time: for 4 KiB objects that read was half
//! of the internal calls of a GET.
//!
//! Only records of live buckets are kept, for [`TTL`]; this gateway forgets a bucket at once
//! when it creates or deletes it. A change made through another gateway or the admin CLI
//! (deleting the bucket, making it public) reaches this one within [`TTL`], as stored access
//! keys do; AWS documents the same delay for bucket changes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use node_api::model::BucketRecord;

/// How long a record is used without reading it again.
pub const TTL: Duration = Duration::from_secs(1);
/// Entries kept at most (the cache is emptied beyond).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct BucketCache {
    entries: Mutex<HashMap<String, (Instant, BucketRecord)>>,
}

impl BucketCache {
    /// The record of `name` if it was read less than [`TTL`] ago.
    pub fn get(&self, name: &str) -> Option<BucketRecord> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(name)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, r)| r.clone())
    }

    /// Keeps the record of a live bucket just read.
    pub fn keep(&self, record: &BucketRecord) {
        if record.deleted {
            return self.forget(&record.name);
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(record.name.clone(), (Instant::now(), record.clone()));
    }

    /// Drops `name`: it was just created or deleted here.
    pub fn forget(&self, name: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}
