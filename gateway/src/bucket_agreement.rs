//! Changes of a bucket record agreed with its owners (CreateBucket, DeleteBucket, making a
//! bucket public), so that of two racing CreateBucket calls exactly one creates and owns the
//! bucket, and a deletion never undoes a creation it did not see.
//!
//! The same single-decree Paxos per record as conditional object writes
//! ([`crate::conditional`]), on the record alone: promise a fresh ballot with a majority of
//! the owners; the newest record among the promises is the current one (made durable on a
//! majority first when they disagree); `decide` turns it into the next record, written with
//! version = ballot unless a higher ballot was promised since. An attempt that landed on some
//! owners but not a majority is either found decided in the next round, or buried under the
//! decided record stamped anew before a refusal is answered.

use std::sync::Arc;

use node_api::model::WriteMode;
use node_api::model::{BucketPromise, BucketRecord, PrepareBucket, Version, WriteBucket};

use crate::cluster::{gather_all, satisfied, union, Cluster, ClusterError};
use crate::conditional::{backoff, CasError, MAX_ATTEMPTS};

impl Cluster {
    /// One agreed change of the record of bucket `name`: `decide` sees the current record
    /// (`None` when there is none; tombstones included) and returns the next one (its version
    /// is replaced by the ballot), `None` to write nothing, or an error to refuse. Answers the
    /// record written, `None` when nothing was.
    pub async fn agree_bucket<E: From<CasError>>(
        self: &Arc<Self>,
        name: &str,
        mut decide: impl FnMut(Option<&BucketRecord>) -> Result<Option<BucketRecord>, E>,
    ) -> Result<Option<BucketRecord>, E> {
        let sets = self.read_sets(&BucketRecord::placement_key(name), &[]);
        let owners = union(&sets);
        let need = self.agreement_quorum();
        let mut landed: Vec<Version> = Vec::new();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let ballot = self.hlc.version();
            let q = Arc::new(PrepareBucket {
                name: name.to_string(),
                ballot,
            });
            let answers = gather_all(self.fan_out(&owners, move |node| {
                let q = q.clone();
                async move { node.prepare_bucket(&q).await }
            }))
            .await;
            if !satisfied(&sets, &answers.answered(), need) {
                return Err(E::from(
                    self.quorum_error("bucket_prepare", &answers, need).into(),
                ));
            }
            let (promised, promises): (Vec<usize>, Vec<BucketPromise>) = answers
                .ok
                .into_iter()
                .inspect(|(_, r)| self.hlc.observe(r.highest.hlc))
                .filter(|(_, r)| r.promised)
                .unzip();
            if !satisfied(&sets, &promised, need) {
                continue;
            }
            let newest = promises
                .iter()
                .filter_map(|p| p.current.as_ref())
                .max_by_key(|r| r.version)
                .cloned();
            if let Some(n) = &newest {
                self.hlc.observe(n.version.hlc);
                let agreed = promises
                    .iter()
                    .all(|p| p.current.as_ref().map(|r| r.version) == Some(n.version));
                if !agreed
                    && !self
                        .write_bucket_to(&sets, &owners, WriteMode::CopyUnder(ballot), n)
                        .await
                        .0
                {
                    continue;
                }
                if landed.contains(&n.version) {
                    return Ok(Some(n.clone())); // an attempt of ours, decided now
                }
            }
            match decide(newest.as_ref()) {
                Ok(Some(mut next)) => {
                    next.name = name.to_string();
                    next.version = ballot;
                    let (took, some) = self
                        .write_bucket_to(&sets, &owners, WriteMode::New, &next)
                        .await;
                    if took {
                        return Ok(Some(next));
                    }
                    if some {
                        landed.push(ballot);
                    }
                }
                other => {
                    if !landed.is_empty() {
                        // Bury our attempts under the decided record, stamped anew.
                        let burial = match &newest {
                            Some(n) => BucketRecord {
                                version: ballot,
                                ..n.clone()
                            },
                            None => BucketRecord {
                                name: name.to_string(),
                                version: ballot,
                                deleted: true,
                                owner: String::new(),
                                region: String::new(),
                                public_read: false,
                                incarnation: None,
                                config: Default::default(),
                            },
                        };
                        if !self
                            .write_bucket_to(&sets, &owners, WriteMode::New, &burial)
                            .await
                            .0
                        {
                            continue;
                        }
                    }
                    return other;
                }
            }
        }
        Err(E::from(if landed.is_empty() {
            CasError::Conflict
        } else {
            CasError::Cluster(ClusterError::Quorum {
                kind: "bucket_write",
                ok: 0,
                needed: need,
                errors: "changes of this bucket kept conflicting".into(),
            })
        }))
    }

    /// Writes a record version to the owners in `mode`: whether a majority of each set (and
    /// `w`) holds it now, and whether any owner took it.
    async fn write_bucket_to(
        &self,
        sets: &[Vec<usize>],
        owners: &[usize],
        mode: WriteMode,
        record: &BucketRecord,
    ) -> (bool, bool) {
        let w = Arc::new(WriteBucket {
            mode,
            record: record.clone(),
        });
        let answers = gather_all(self.fan_out(owners, move |node| {
            let w = w.clone();
            async move { node.write_bucket(&w).await }
        }))
        .await;
        self.took(sets, &answers.ok, self.agreement_quorum())
    }
}
