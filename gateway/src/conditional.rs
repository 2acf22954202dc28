//! Conditional writes: `If-None-Match: *` and `If-Match` on PutObject and
//! CompleteMultipartUpload, decided by agreement among the key's replicas rather than by
//! last-writer-wins, so that of many racing writers exactly one wins.
//!
//! The protocol is single-decree Paxos per key, as Cassandra's lightweight transactions use it:
//!
//! 1. **Prepare.** Pick a fresh ballot (an HLC version, unique and above every ballot seen) and
//!    ask the key's owners to promise it. A majority of promises (and at least `w`) is needed;
//!    each promise reports the node's newest version of the key.
//! 2. **Decide.** The newest version among the promises is the key's current state: a value
//!    accepted by a majority before is always among them. If it is this writer's own earlier
//!    attempt (same `origin`), the writer finishes that attempt; otherwise the condition is
//!    evaluated on it, and a failed condition ends the write with 412 (or 404 for `If-Match` on a
//!    missing key).
//! 3. **Accept.** Send the manifest with version = ballot. Owners that promised a higher ballot
//!    meanwhile refuse it. A majority of accepts makes the write durable and decided.
//!
//! A lost race (refused promises or accepts) retries with a higher ballot after a random
//! backoff; after a few attempts the client gets 409 `ConditionalRequestConflict`, as AWS
//! answers concurrent conditional writes. Attempts that did not win are removed from the owners
//! again, and their bytes are freed by the caller.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use storage_node::model::{AcceptReply, Layout, Manifest, Prepare, PrepareReply, Version};

use crate::cluster::{gather_all, satisfied, union, Cluster, ClusterError};

/// How many ballots a writer tries before answering 409.
const MAX_ATTEMPTS: u32 = 10;

/// What a conditional write requires of the key's current object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `If-None-Match: *`: the key has no object.
    Absent,
    /// `If-Match: <etag>` (hex, unquoted), or `If-Match: *` as `None`: the key has an object
    /// (with that ETag).
    Matches(Option<String>),
    /// The key's current object is exactly this version (a read-modify-write, such as a tagging
    /// change, must not resurrect an object replaced meanwhile).
    Is(Version),
}

/// Why a conditional write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error("the precondition does not hold")]
    PreconditionFailed,
    #[error("If-Match names a key that has no object")]
    NoSuchKey,
    #[error("conditional writes on this key kept conflicting")]
    Conflict,
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl Condition {
    fn check(&self, current: Option<&Manifest>) -> Result<(), CasError> {
        match (self, current) {
            (Condition::Absent, None) => Ok(()),
            (Condition::Absent, Some(_)) => Err(CasError::PreconditionFailed),
            (Condition::Matches(_), None) => Err(CasError::NoSuchKey),
            (Condition::Matches(None), Some(_)) => Ok(()),
            (Condition::Matches(Some(etag)), Some(m)) if *etag == m.etag => Ok(()),
            (Condition::Matches(Some(_)), Some(_)) => Err(CasError::PreconditionFailed),
            (Condition::Is(_), None) => Err(CasError::NoSuchKey),
            (Condition::Is(v), Some(m)) if m.version == *v => Ok(()),
            (Condition::Is(_), Some(_)) => Err(CasError::PreconditionFailed),
        }
    }
}

async fn backoff(attempt: u32) {
    let cap = 5u64 << attempt.min(6);
    let ms = 2 + rand::random::<u64>() % cap;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

impl Cluster {
    /// How many owners must promise and accept: a majority of `n`, and at least `w`.
    fn agreement_quorum(&self) -> usize {
        (self.n() / 2 + 1).max(self.w())
    }

    /// Writes `m` if `condition` holds for the key's current object, deciding with the key's
    /// owners as described in the module documentation. `m.version` is the version the object's
    /// bytes were stored under; the written manifest gets the winning ballot as its version.
    pub async fn put_manifest_if(
        self: &Arc<Self>,
        mut m: Manifest,
        condition: &Condition,
    ) -> Result<(), CasError> {
        let origin = m.version;
        m.origin = Some(origin);
        if let Layout::Chunked { data, .. } = &mut m.layout {
            data.get_or_insert(origin);
        }
        // While data moves after a membership change, a majority of the owners under each map
        // must promise and accept (joint quorums), so no two writers can both win.
        let sets = self.read_sets(&Manifest::placement_key(&m.bucket, &m.key), &[]);
        let owners = union(&sets);
        let need = self.agreement_quorum();
        let mut tried: Vec<Version> = Vec::new();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let ballot = self.hlc.version();
            let prepare = Arc::new(Prepare {
                bucket: m.bucket.clone(),
                key: m.key.clone(),
                ballot,
            });
            let answers = gather_all(self.fan_out(&owners, move |node| {
                let q = prepare.clone();
                async move { node.prepare(&q).await }
            }))
            .await;
            if !satisfied(&sets, &answers.answered(), need) {
                let err = self.quorum_error("cas_prepare", &answers, need);
                self.undo_attempts(&m, &tried).await;
                return Err(err.into());
            }
            let (promised, promises): (Vec<usize>, Vec<PrepareReply>) = answers
                .ok
                .into_iter()
                .inspect(|(_, r)| self.hlc.observe(r.highest.hlc))
                .filter(|(_, r)| r.promised)
                .unzip();
            if !satisfied(&sets, &promised, need) {
                continue; // a writer with a higher ballot is at work
            }
            let current = promises
                .iter()
                .filter_map(|r| r.current.as_ref())
                .max_by_key(|c| c.version)
                .filter(|c| !c.deleted);
            let mine = current.is_some_and(|c| c.origin == Some(origin));
            if !mine {
                if let Err(e) = condition.check(current) {
                    self.undo_attempts(&m, &tried).await;
                    return Err(e);
                }
            }
            let proposal = Arc::new(Manifest {
                version: ballot,
                ..m.clone()
            });
            tried.push(ballot);
            let sent = proposal.clone();
            let answers = gather_all(self.fan_out(&owners, move |node| {
                let m = sent.clone();
                async move { node.accept(&m).await }
            }))
            .await;
            let (took, accepted): (Vec<usize>, Vec<AcceptReply>) =
                answers.ok.into_iter().filter(|(_, r)| r.accepted).unzip();
            if satisfied(&sets, &took, need) {
                self.collect_replaced(&proposal, origin, accepted);
                return Ok(());
            }
        }
        self.undo_attempts(&m, &tried).await;
        Err(CasError::Conflict)
    }

    /// Frees the chunks of the versions a decided write replaced, except this writer's own
    /// earlier attempts (they share its chunks).
    fn collect_replaced(
        self: &Arc<Self>,
        winner: &Manifest,
        origin: Version,
        replies: Vec<AcceptReply>,
    ) {
        let keep: std::collections::HashSet<_> = winner.chunk_ids().into_iter().collect();
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for old in replies.into_iter().flat_map(|r| r.superseded) {
            if old.version < winner.version
                && old.origin != Some(origin)
                && seen.insert(old.version)
            {
                ids.extend(old.chunk_ids().into_iter().filter(|id| !keep.contains(id)));
            }
        }
        self.delete_chunks(ids);
    }

    /// Removes the attempts of a write that did not win from every owner, so none of them
    /// surfaces later through read repair.
    async fn undo_attempts(&self, m: &Manifest, tried: &[Version]) {
        if tried.is_empty() {
            return;
        }
        let owners = self.all_owners(&Manifest::placement_key(&m.bucket, &m.key));
        let (bucket, key) = (m.bucket.clone(), m.key.clone());
        let tried = tried.to_vec();
        let pending = self.fan_out(&owners, move |node| {
            let (bucket, key, tried) = (bucket.clone(), key.clone(), tried.clone());
            async move {
                for v in tried {
                    node.remove_manifest_version(&bucket, &key, v).await?;
                }
                Ok(())
            }
        });
        pending.for_each(|_| async {}).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(etag: &str) -> Manifest {
        let mut m = Manifest::tombstone(
            "b",
            "k",
            Version {
                hlc: 1,
                tiebreak: 1,
            },
        );
        m.deleted = false;
        m.etag = etag.into();
        m
    }

    #[test]
    fn conditions_follow_aws() {
        let o = object("abc");
        assert!(Condition::Absent.check(None).is_ok());
        assert!(matches!(
            Condition::Absent.check(Some(&o)),
            Err(CasError::PreconditionFailed)
        ));
        assert!(matches!(
            Condition::Matches(Some("abc".into())).check(None),
            Err(CasError::NoSuchKey)
        ));
        assert!(Condition::Matches(Some("abc".into()))
            .check(Some(&o))
            .is_ok());
        assert!(Condition::Matches(None).check(Some(&o)).is_ok());
        assert!(matches!(
            Condition::Matches(Some("abd".into())).check(Some(&o)),
            Err(CasError::PreconditionFailed)
        ));
    }
}
