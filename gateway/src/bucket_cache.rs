//! A short-lived cache of existing buckets' records, so that an object request does not read
//! its bucket's record from a quorum of nodes every time: for 4 KiB objects that read was half
//! of the internal calls of a GET. Each entry also holds the bucket's policy compiled, so the
//! access check of a request evaluates it without parsing JSON.
//!
//! Only records of live buckets are kept, for [`TTL`] (and up to [`STALE_ON_ERROR`] while the
//! record's owners cannot be read); this gateway forgets a bucket at once
//! when it creates, deletes or reconfigures it. A change made through another gateway or the
//! admin CLI (deleting the bucket, a new policy) reaches this one within [`TTL`], as stored
//! access keys do; AWS documents the same delay for bucket changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use node_api::model::BucketRecord;

use crate::cluster::{Cluster, ClusterError};
use crate::policy::Policy;

/// How long a record is used without reading it again.
pub const TTL: Duration = Duration::from_secs(1);
/// How long a record is still used when its owners cannot be read (a quorum of them down or
/// unreachable): the request then fails or succeeds on its object's own owners, as it would
/// have a second earlier, instead of failing on the bucket record, before its body is read.
pub const STALE_ON_ERROR: Duration = Duration::from_secs(60);
/// Entries kept at most (the cache is emptied beyond).
const CAPACITY: usize = 10_000;

/// A live bucket's record and its compiled policy.
#[derive(Debug)]
pub struct Bucket {
    pub record: BucketRecord,
    pub policy: Option<Policy>,
}

impl Bucket {
    fn new(record: BucketRecord) -> Bucket {
        // Stored policies were checked when put; one that no longer reads (a rule of a newer
        // gateway) denies nothing and allows nothing, and is reported.
        let policy = record.config.policy.as_deref().and_then(|text| {
            Policy::parse(text, &record.name)
                .inspect_err(|e| tracing::warn!("policy of bucket {}: {e}", record.name))
                .ok()
        });
        Bucket { record, policy }
    }
}

#[derive(Default)]
pub struct BucketCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Bucket>)>>,
}

impl BucketCache {
    /// The live bucket `name` (read less than [`TTL`] ago, or now from its owners); `None`
    /// when there is no such bucket.
    pub async fn read(
        &self,
        cluster: &Arc<Cluster>,
        name: &str,
    ) -> Result<Option<Arc<Bucket>>, ClusterError> {
        if let Some(b) = self.get(name, TTL) {
            return Ok(Some(b));
        }
        match cluster.get_bucket(name).await {
            Ok(Some(record)) if !record.deleted => Ok(Some(self.keep(record))),
            Ok(_) => Ok(None),
            Err(e) => match self.get(name, STALE_ON_ERROR) {
                Some(b) => {
                    tracing::debug!("bucket {name}: using the record read before ({e})");
                    Ok(Some(b))
                }
                None => Err(e),
            },
        }
    }

    /// The bucket `name` if it was read less than `age` ago.
    fn get(&self, name: &str, age: Duration) -> Option<Arc<Bucket>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(name)
            .filter(|(at, _)| at.elapsed() < age)
            .map(|(_, b)| b.clone())
    }

    /// Keeps the record of a live bucket just read.
    fn keep(&self, record: BucketRecord) -> Arc<Bucket> {
        let bucket = Arc::new(Bucket::new(record));
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(bucket.record.name.clone(), (Instant::now(), bucket.clone()));
        bucket
    }

    /// Drops `name`: it was just created, deleted or changed here.
    pub fn forget(&self, name: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}
