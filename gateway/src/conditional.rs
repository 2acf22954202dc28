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
//! answers concurrent conditional writes (503 when an attempt of its own may have landed).
//!
//! Plain writes take part in the same order: a node refuses a new version below a ballot it
//! promised or below a version it holds (`node_api::model::WriteMode`). An answer never
//! rests on a value only some owners hold: when the promises disagree, the newest value is
//! copied to a majority first, under its own version ([`Cluster::agree`]). A value is never
//! stamped anew before it is decided, so a writer whose attempt is provably dead may stamp
//! it again without it ever appearing twice. Nothing is removed: values that lost are
//! superseded versions, reclaimed by the collector.
//!
//! A multipart upload's states live under its key and share the key's promises: a completion
//! writes the object and the upload's ended state in one accept, an abort only the state
//! ([`Cluster::agree_steps`], the steps themselves in [`crate::upload_fate`]), so of a racing
//! completion and abort exactly one finds the upload active.

use std::sync::Arc;
use std::time::Duration;

use node_api::model::{
    Layout, Manifest, Prepare, PrepareReply, UploadRecord, Version, WriteMode, WriteReply,
    WriteUpload,
};

use crate::cluster::{gather_all, satisfied, union, Cluster, ClusterError};

/// How many ballots a writer tries before giving up (tagging calls racing overwrites need
/// many: every overwrite that lands between a promise and its accept costs one).
pub(crate) const MAX_ATTEMPTS: u32 = 24;

/// How many times a gateway tries to settle a write of unknown outcome (about ten minutes).
const BURIAL_ROUNDS: u32 = 100;

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
    #[error("the upload does not exist for this request")]
    NoSuchUpload,
    #[error("conditional writes on this key kept conflicting")]
    Conflict,
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl Condition {
    pub(crate) fn check(&self, current: Option<&Manifest>) -> Result<(), CasError> {
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

pub(crate) async fn backoff(attempt: u32) {
    let cap = 5u64 << attempt.min(5);
    let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 2..cap.saturating_add(2));
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// `m` again under `version`: the same object (bytes, ETag, Last-Modified, origin), ordered
/// at `version`.
pub(crate) fn restamped(m: &Manifest, version: Version) -> Manifest {
    let mut out = m.clone();
    out.version = version;
    if !m.deleted {
        out.modified_ms = Some(m.modified_ms.unwrap_or(m.version.millis()));
    }
    if let Layout::Chunked { data, .. } = &mut out.layout {
        data.get_or_insert(m.version);
    }
    out.origin.get_or_insert(m.version);
    out
}

/// What one agreed step writes: a new version of the key's object, a new state of one of its
/// uploads, or both together (a completion).
#[derive(Debug, Clone, Default)]
pub struct Proposal {
    pub manifest: Option<Manifest>,
    pub upload: Option<UploadRecord>,
}

impl Proposal {
    pub fn object(m: Manifest) -> Self {
        Proposal {
            manifest: Some(m),
            upload: None,
        }
    }
}

/// What an agreed step decided.
#[derive(Debug)]
pub enum Outcome {
    /// The proposal was written (or had been, by an earlier attempt of the same operation).
    Written(Box<Proposal>),
    /// Nothing was written.
    Kept,
}

/// The newest of the records the promises report, and whether every promise reports that one.
fn newest_of<T: Clone>(
    promises: &[PrepareReply],
    record: impl Fn(&PrepareReply) -> Option<&T>,
    version: impl Fn(&T) -> Version,
) -> Option<(T, bool)> {
    let newest = promises
        .iter()
        .filter_map(&record)
        .max_by_key(|r| version(r))?;
    let v = version(newest);
    let agreed = promises.iter().all(|p| record(p).map(&version) == Some(v));
    Some((newest.clone(), agreed))
}

impl Cluster {
    /// How many owners must promise and accept: a majority of `n`, and at least `w`.
    pub(crate) fn agreement_quorum(&self) -> usize {
        self.majority().max(self.w())
    }

    /// Writes `m` if `condition` holds for the key's current object, deciding with the key's
    /// owners as described in the module documentation. `m.version` is the version the object's
    /// bytes were stored under; the written manifest gets the winning ballot as its version.
    pub async fn put_manifest_if(
        self: &Arc<Self>,
        m: Manifest,
        condition: &Condition,
    ) -> Result<(), CasError> {
        let (bucket, key) = (m.bucket.clone(), m.key.clone());
        self.agree(&bucket, &key, m.version, |current| {
            // An object of an earlier incarnation of the bucket is no object of this one.
            condition.check(current.filter(|c| c.incarnation == m.incarnation))?;
            Ok(Some(m.clone()))
        })
        .await
        .map(|_| ())
    }

    /// One read-modify-write of `bucket/key`, agreed with the key's owners: `decide` sees the
    /// current object (`None` when absent) and returns the manifest to write (its version is
    /// replaced by the ballot), `None` to write nothing, or an error to refuse. `origin`
    /// identifies the operation across attempts. Answers the manifest written (by this
    /// call, or by an earlier attempt of the operation), `None` when nothing was.
    ///
    /// An answer never rests on a value that only some owners hold: when the promises
    /// disagree, the newest value is first copied to a majority under this ballot (its own
    /// version kept: a value is never re-stamped before it is decided). An attempt of this
    /// writer whose accept landed on some owners but not a majority is looked for in the next
    /// prepare: held by a majority by then, it was decided and the write succeeded; otherwise a
    /// refusal first buries it under a newer version of the decided value, so it can never
    /// surface after the answer.
    pub async fn agree(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        origin: Version,
        decide: impl FnMut(Option<&Manifest>) -> Result<Option<Manifest>, CasError>,
    ) -> Result<Option<Manifest>, CasError> {
        self.agree_after(bucket, key, origin, Vec::new(), decide)
            .await
    }

    /// [`Cluster::agree`] for an operation whose earlier attempts `landed` (its versions)
    /// may have been taken by some owners.
    pub(crate) async fn agree_after(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        origin: Version,
        landed: Vec<Manifest>,
        mut decide: impl FnMut(Option<&Manifest>) -> Result<Option<Manifest>, CasError>,
    ) -> Result<Option<Manifest>, CasError> {
        let landed = landed.into_iter().map(Proposal::object).collect();
        let outcome = self
            .agree_steps(bucket, key, origin, None, landed, |current, _| {
                decide(current).map(|m| m.map(Proposal::object))
            })
            .await?;
        Ok(match outcome {
            Outcome::Written(p) => p.manifest,
            Outcome::Kept => None,
        })
    }

    /// One agreed step of `bucket/key` that may also move one of its uploads (`upload`, its
    /// id) to a new state: `decide` sees the key's current object and the upload's current
    /// record, and returns what to write (versions replaced by the ballot), `None` for
    /// nothing, or an error to refuse. An upload's records share the key's promises, so a
    /// completion (object and upload state, written together) and an abort are ordered like
    /// any two writes of the key: of the two, exactly one finds the upload active.
    /// `landed` are earlier attempts of this operation that some owners may have taken.
    pub(crate) async fn agree_steps(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        origin: Version,
        upload: Option<Version>,
        mut landed: Vec<Proposal>,
        mut decide: impl FnMut(
            Option<&Manifest>,
            Option<&UploadRecord>,
        ) -> Result<Option<Proposal>, CasError>,
    ) -> Result<Outcome, CasError> {
        // While data moves after a membership change, a majority of the owners under each map
        // must promise and accept (joint quorums), so no two writers can both win.
        let sets = self.read_sets(&Manifest::placement_key(bucket, key), &[]);
        let owners = union(&sets);
        let need = self.agreement_quorum();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let ballot = self.hlc.version();
            let prepare = Arc::new(Prepare {
                bucket: bucket.to_string(),
                key: key.to_string(),
                ballot,
                check: landed
                    .iter()
                    .filter_map(|p| p.manifest.as_ref().map(|m| m.version))
                    .collect(),
                upload,
            });
            let answers = gather_all(self.fan_out(&owners, move |node| {
                let q = prepare.clone();
                async move { node.prepare(&q).await }
            }))
            .await;
            if !satisfied(&sets, &answers.answered(), need) {
                return Err(self.quorum_error("cas_prepare", &answers, need).into());
            }
            for mine in &landed {
                let Some(m) = &mine.manifest else { continue };
                let holders: Vec<usize> = answers
                    .ok
                    .iter()
                    .filter(|(_, r)| r.holds.contains(&m.version))
                    .map(|(i, _)| *i)
                    .collect();
                if satisfied(&sets, &holders, self.majority()) {
                    return Ok(Outcome::Written(Box::new(mine.clone())));
                }
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
            let newest = newest_of(&promises, |r| r.current.as_ref(), |m| m.version);
            let newest_upload = newest_of(&promises, |r| r.upload.as_ref(), |u| u.version);
            // What the decision rests on must be held by a majority first.
            if let Some((n, agreed)) = &newest {
                self.hlc.observe(n.version.hlc);
                if !agreed && !self.copy_under(&sets, &owners, n, ballot).await {
                    continue;
                }
            }
            if let Some((u, false)) = &newest_upload {
                if !self.copy_upload_under(&sets, &owners, u, ballot).await {
                    continue;
                }
            }
            let newest = newest.map(|(n, _)| n);
            let newest_upload = newest_upload.map(|(u, _)| u);
            // An attempt of ours, decided now.
            if let Some(u) = newest_upload.as_ref().filter(|u| u.step == Some(origin)) {
                return Ok(Outcome::Written(Box::new(Proposal {
                    manifest: newest.filter(|n| n.origin == Some(origin)),
                    upload: Some(u.clone()),
                })));
            }
            if let Some(n) = newest.as_ref().filter(|n| n.origin == Some(origin)) {
                return Ok(Outcome::Written(Box::new(Proposal::object(n.clone()))));
            }
            let current = newest.as_ref().filter(|c| !c.deleted);
            let decision = decide(current, newest_upload.as_ref());
            match decision {
                Ok(Some(mut proposal)) => {
                    if let Some(m) = &mut proposal.manifest {
                        if let Layout::Chunked { data, .. } = &mut m.layout {
                            data.get_or_insert(m.version);
                        }
                        m.version = ballot;
                        m.origin = Some(origin);
                    }
                    if let Some(u) = &mut proposal.upload {
                        u.version = ballot;
                        u.step = Some(origin);
                    }
                    let (took, some) = self.accept(&sets, &owners, proposal.clone()).await;
                    if took {
                        return Ok(Outcome::Written(Box::new(proposal)));
                    }
                    if some {
                        landed.push(proposal);
                    }
                }
                Ok(None) | Err(_) => {
                    if !landed.is_empty() {
                        // Bury our attempts under the decided values, stamped anew.
                        let burial = Proposal {
                            manifest: landed.iter().any(|p| p.manifest.is_some()).then(|| {
                                match &newest {
                                    Some(n) => restamped(n, ballot),
                                    None => Manifest::tombstone(bucket, key, ballot),
                                }
                            }),
                            upload: newest_upload
                                .as_ref()
                                .filter(|_| landed.iter().any(|p| p.upload.is_some()))
                                .map(|u| UploadRecord {
                                    version: ballot,
                                    ..u.clone()
                                }),
                        };
                        if !self.accept(&sets, &owners, burial).await.0 {
                            continue;
                        }
                    }
                    return decision.map(|_| Outcome::Kept);
                }
            }
        }
        if !landed.is_empty() {
            // An attempt may still be decided by another writer: the outcome is unknown.
            return Err(CasError::Cluster(ClusterError::Quorum {
                kind: "cas_accept",
                ok: 0,
                needed: need,
                errors: "conditional writes on this key kept conflicting".into(),
            }));
        }
        Err(CasError::Conflict)
    }

    /// After a write whose outcome is unknown (some owners took `attempt`, others did not
    /// answer), keeps trying, in the background, to settle it: once a majority of the owners
    /// answers, an attempt a majority holds stays (it was decided: a read may have returned
    /// it); one that fewer hold, with every owner that might hold it answering, is buried
    /// under the decided value stamped anew, so it never surfaces later. A read may still
    /// decide it first: the client was told its outcome is unknown.
    pub fn bury_if_undecided(self: &Arc<Self>, attempt: Manifest) {
        let cluster = self.clone();
        tokio::spawn(async move {
            for round in 0..BURIAL_ROUNDS {
                tokio::time::sleep(Duration::from_millis(200 << round.min(5))).await;
                match cluster.bury_once(&attempt).await {
                    Some(true) => {
                        tracing::info!(
                            "a failed write of {}/{} was buried",
                            attempt.bucket,
                            attempt.key
                        );
                        return;
                    }
                    Some(false) => return,
                    None => {}
                }
            }
        });
    }

    /// One try of [`Cluster::bury_if_undecided`]: `Some(buried)` when settled, `None` to try
    /// again.
    async fn bury_once(&self, attempt: &Manifest) -> Option<bool> {
        let (bucket, key) = (attempt.bucket.as_str(), attempt.key.as_str());
        let sets = self.read_sets(&Manifest::placement_key(bucket, key), &[]);
        let owners = union(&sets);
        let need = self.agreement_quorum();
        let ballot = self.hlc.version();
        let prepare = Arc::new(Prepare {
            bucket: bucket.to_string(),
            key: key.to_string(),
            ballot,
            check: vec![attempt.version],
            upload: None,
        });
        let answers = gather_all(self.fan_out_all(&owners, move |node| {
            let q = prepare.clone();
            async move { node.prepare(&q).await }
        }))
        .await;
        let holders: Vec<usize> = answers
            .ok
            .iter()
            .filter(|(_, r)| r.holds.contains(&attempt.version))
            .map(|(i, _)| *i)
            .collect();
        if satisfied(&sets, &holders, self.majority()) {
            return Some(false); // decided: it stays
        }
        // Owners that did not answer might hold it too.
        let mut maybe = holders.clone();
        maybe.extend(answers.failed.iter().map(|(i, _)| *i));
        if satisfied(&sets, &maybe, self.majority()) {
            return None;
        }
        let promises: Vec<(usize, PrepareReply)> =
            answers.ok.into_iter().filter(|(_, r)| r.promised).collect();
        let promised: Vec<usize> = promises.iter().map(|(i, _)| *i).collect();
        if !satisfied(&sets, &promised, need) {
            return None;
        }
        // The decided value: the newest among the other promises, made durable first.
        let others: Vec<&PrepareReply> = promises
            .iter()
            .filter(|(i, _)| !holders.contains(i))
            .map(|(_, r)| r)
            .collect();
        let newest = others
            .iter()
            .filter_map(|r| r.current.as_ref())
            .max_by_key(|c| c.version)
            .cloned();
        if let Some(n) = &newest {
            if !self.copy_under(&sets, &owners, n, ballot).await {
                return None;
            }
            if n.version > attempt.version {
                // Superseded by a decided version: it can never be the newest again.
                return Some(false);
            }
        }
        let burial = match &newest {
            Some(n) => restamped(n, ballot),
            None => Manifest::tombstone(bucket, key, ballot),
        };
        self.accept(&sets, &owners, Proposal::object(burial))
            .await
            .0
            .then_some(true)
    }

    /// Phase two: whether a majority of each set accepted the proposal (versions = ballot),
    /// and whether any owner took it.
    async fn accept(&self, sets: &[Vec<usize>], owners: &[usize], p: Proposal) -> (bool, bool) {
        let sent = Arc::new(p);
        let answers = gather_all(self.fan_out(owners, move |node| {
            let p = sent.clone();
            async move {
                match (&p.upload, &p.manifest) {
                    (None, Some(m)) => node.accept(m).await,
                    (Some(u), m) => {
                        node.write_upload(&WriteUpload {
                            mode: WriteMode::New,
                            upload: u.clone(),
                            manifest: m.clone(),
                        })
                        .await
                    }
                    (None, None) => Ok(WriteReply {
                        applied: true,
                        ..Default::default()
                    }),
                }
            }
        }))
        .await;
        self.took(sets, &answers.ok, self.agreement_quorum())
    }

    /// Copies an upload's state (its version kept) to the owners as the writer holding
    /// `ballot`'s promise; whether a majority of each set now holds it.
    async fn copy_upload_under(
        &self,
        sets: &[Vec<usize>],
        owners: &[usize],
        u: &UploadRecord,
        ballot: Version,
    ) -> bool {
        let sent = Arc::new(WriteUpload {
            mode: WriteMode::CopyUnder(ballot),
            upload: u.clone(),
            manifest: None,
        });
        let answers = gather_all(self.fan_out(owners, move |node| {
            let w = sent.clone();
            async move { node.write_upload(&w).await }
        }))
        .await;
        self.took(sets, &answers.ok, self.majority()).0
    }

    /// Copies `m` (its version kept) to the owners as the writer holding `ballot`'s promise;
    /// whether a majority of each set now holds it.
    async fn copy_under(
        &self,
        sets: &[Vec<usize>],
        owners: &[usize],
        m: &Manifest,
        ballot: Version,
    ) -> bool {
        let sent = Arc::new(m.clone());
        let answers = gather_all(self.fan_out(owners, move |node| {
            let m = sent.clone();
            async move { node.write_manifest(&m, WriteMode::CopyUnder(ballot)).await }
        }))
        .await;
        self.took(sets, &answers.ok, self.majority()).0
    }

    /// Whether the owners that applied a write satisfy `need` in each set, and whether any did.
    pub(crate) fn took(
        &self,
        sets: &[Vec<usize>],
        replies: &[(usize, WriteReply)],
        need: usize,
    ) -> (bool, bool) {
        let took: Vec<usize> = replies
            .iter()
            .filter(|(_, r)| r.applied)
            .map(|(i, _)| *i)
            .collect();
        for (_, r) in replies {
            if let Some(floor) = r.floor() {
                self.hlc.observe(floor.hlc);
            }
        }
        (satisfied(sets, &took, need), !took.is_empty())
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
