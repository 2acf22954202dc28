//! Bucket quotas (`gateway admin bucket-quota`): the most bytes and objects a bucket may hold,
//! checked on PutObject (POST forms included), CopyObject and CompleteMultipartUpload before
//! the new object is committed, refused with 403 `QuotaExceeded`.
//!
//! A gateway knows a bucket's usage from a listing at most [`RECOUNT`] old plus what it wrote
//! itself since; a write in flight holds a reservation of its size, so writers through one
//! gateway, however many at once, never pass the quota together. The slack, documented: writes
//! through *other* gateways since the last listing are not seen until the next one (at most
//! [`RECOUNT`] of them), and overwrites and deletes count at the next listing (until then a
//! bucket counts fuller than it is, never emptier). Buckets without a quota cost nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use node_api::model::{BucketQuota, BucketRecord, Version};

use crate::cluster::Cluster;

/// How old a bucket's listed usage may be before the next write lists it again.
pub const RECOUNT: Duration = Duration::from_secs(5);

/// Bytes and objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub bytes: u64,
    pub objects: u64,
}

impl Amount {
    fn plus(self, o: Amount) -> Amount {
        Amount {
            bytes: self.bytes.saturating_add(o.bytes),
            objects: self.objects.saturating_add(o.objects),
        }
    }

    fn minus(self, o: Amount) -> Amount {
        Amount {
            bytes: self.bytes.saturating_sub(o.bytes),
            objects: self.objects.saturating_sub(o.objects),
        }
    }
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("The bucket's quota of {limit} bytes would be exceeded: it holds {used} bytes and this write adds {adding}")]
    Bytes { limit: u64, used: u64, adding: u64 },
    #[error("The bucket's quota of {limit} objects would be exceeded: it holds {used} objects")]
    Objects { limit: u64, used: u64 },
    #[error("the bucket's usage cannot be counted: {0}")]
    Unavailable(String),
}

/// Whether `used` plus `adding` stays within `quota`. Pure.
pub fn admits(quota: &BucketQuota, used: Amount, adding: Amount) -> Result<(), QuotaError> {
    let after = used.plus(adding);
    if let Some(limit) = quota.max_bytes {
        if adding.bytes > 0 && after.bytes > limit {
            return Err(QuotaError::Bytes {
                limit,
                used: used.bytes,
                adding: adding.bytes,
            });
        }
    }
    if let Some(limit) = quota.max_objects {
        if adding.objects > 0 && after.objects > limit {
            return Err(QuotaError::Objects {
                limit,
                used: used.objects,
            });
        }
    }
    Ok(())
}

/// What one gateway knows of one bucket incarnation's usage.
#[derive(Default)]
struct Numbers {
    /// The last listing's count, and when that listing began.
    counted: Option<(Instant, Amount)>,
    /// Committed by this gateway since.
    since: Amount,
    /// Held by writes in flight.
    reserved: Amount,
}

impl Numbers {
    fn used(&self) -> Amount {
        self.counted
            .map(|(_, a)| a)
            .unwrap_or_default()
            .plus(self.since)
            .plus(self.reserved)
    }
}

#[derive(Default)]
struct BucketUsage {
    numbers: Mutex<Numbers>,
    /// One listing at a time per bucket.
    recount: tokio::sync::Mutex<()>,
}

/// A bucket incarnation: its name and incarnation version.
type Incarnation = (String, Option<Version>);

/// The usage of the quota'd buckets this gateway writes to.
#[derive(Default)]
pub struct Usage {
    buckets: Mutex<HashMap<Incarnation, Arc<BucketUsage>>>,
}

/// A write's hold on part of a bucket's quota: released when dropped, counted when committed.
pub struct Reservation {
    held: Option<(Arc<BucketUsage>, BucketQuota)>,
    amount: Amount,
}

fn lock(m: &Mutex<Numbers>) -> std::sync::MutexGuard<'_, Numbers> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Usage {
    /// Holds `bytes` (and one object) of `bucket`'s quota for a write, or refuses it.
    pub async fn reserve(
        &self,
        cluster: &Arc<Cluster>,
        bucket: &BucketRecord,
        bytes: u64,
    ) -> Result<Reservation, QuotaError> {
        let Some(quota) = bucket.config.quota.clone() else {
            return Ok(Reservation {
                held: None,
                amount: Amount::default(),
            });
        };
        let entry = {
            let mut all = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            all.entry((bucket.name.clone(), bucket.incarnation))
                .or_default()
                .clone()
        };
        let stale = |n: &Numbers| n.counted.is_none_or(|(at, _)| at.elapsed() > RECOUNT);
        if stale(&lock(&entry.numbers)) {
            let _one = entry.recount.lock().await;
            if stale(&lock(&entry.numbers)) {
                let began = Instant::now();
                let before = lock(&entry.numbers).since;
                match crate::listing::usage(cluster, bucket).await {
                    Ok((objects, bytes)) => {
                        let mut n = lock(&entry.numbers);
                        n.counted = Some((began, Amount { bytes, objects }));
                        // What was committed before the listing began is in its count.
                        n.since = n.since.minus(before);
                    }
                    Err(e) if lock(&entry.numbers).counted.is_none() => {
                        return Err(QuotaError::Unavailable(e.to_string()));
                    }
                    Err(e) => tracing::warn!("bucket {}: usage not recounted: {e}", bucket.name),
                }
            }
        }
        let amount = Amount { bytes, objects: 1 };
        let mut n = lock(&entry.numbers);
        admits(&quota, n.used(), amount)?;
        n.reserved = n.reserved.plus(amount);
        drop(n);
        Ok(Reservation {
            held: Some((entry, quota)),
            amount,
        })
    }
}

impl Reservation {
    /// Holds `more` bytes as well (a body turned out longer than announced), or refuses.
    pub fn grow(&mut self, more: u64) -> Result<(), QuotaError> {
        let Some((entry, quota)) = &self.held else {
            return Ok(());
        };
        let adding = Amount {
            bytes: more,
            objects: 0,
        };
        let mut n = lock(&entry.numbers);
        admits(quota, n.used(), adding)?;
        n.reserved = n.reserved.plus(adding);
        self.amount = self.amount.plus(adding);
        Ok(())
    }

    /// The write is committed: what it held now counts as written.
    pub fn commit(mut self) {
        if let Some((entry, _)) = self.held.take() {
            let mut n = lock(&entry.numbers);
            n.reserved = n.reserved.minus(self.amount);
            n.since = n.since.plus(self.amount);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some((entry, _)) = self.held.take() {
            let mut n = lock(&entry.numbers);
            n.reserved = n.reserved.minus(self.amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quota(bytes: Option<u64>, objects: Option<u64>) -> BucketQuota {
        BucketQuota {
            max_bytes: bytes,
            max_objects: objects,
        }
    }

    #[test]
    fn limits_are_inclusive() {
        let q = quota(Some(100), Some(2));
        let used = Amount {
            bytes: 60,
            objects: 1,
        };
        assert!(admits(
            &q,
            used,
            Amount {
                bytes: 40,
                objects: 1
            }
        )
        .is_ok());
        assert!(matches!(
            admits(
                &q,
                used,
                Amount {
                    bytes: 41,
                    objects: 1
                }
            ),
            Err(QuotaError::Bytes { .. })
        ));
        let full = Amount {
            bytes: 0,
            objects: 2,
        };
        assert!(matches!(
            admits(
                &q,
                full,
                Amount {
                    bytes: 0,
                    objects: 1
                }
            ),
            Err(QuotaError::Objects { .. })
        ));
        // Growing a write by no bytes never fails on bytes.
        assert!(admits(
            &q,
            Amount {
                bytes: 500,
                objects: 0
            },
            Amount::default()
        )
        .is_ok());
    }

    proptest! {
        #[test]
        fn admitted_writes_never_pass_the_limit(
            limit in 0u64..10_000,
            sizes in proptest::collection::vec(0u64..3_000, 0..40),
        ) {
            let q = quota(Some(limit), None);
            let mut used = Amount::default();
            for s in sizes {
                let adding = Amount { bytes: s, objects: 1 };
                if admits(&q, used, adding).is_ok() {
                    used = used.plus(adding);
                }
                prop_assert!(used.bytes <= limit);
            }
        }
    }
}
