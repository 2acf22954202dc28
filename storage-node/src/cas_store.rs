//! The node's half of conditional writes (`If-None-Match` / `If-Match` on PUT and
//! CompleteMultipartUpload): the promise and accept steps of single-decree Paxos per key.
//!
//! A node durably records the highest ballot it has promised for a key (column family
//! `promises`). `prepare` promises a higher ballot and reports the key's newest version;
//! `accept` stores a manifest whose version *is* its ballot, unless a higher ballot has been
//! promised since or a newer version is held (plain writes are new versions too, refused
//! below a promise: see [`crate::model::WriteMode`]). Because version = ballot, last-writer-wins among manifests orders accepted
//! values exactly as Paxos orders ballots, so the gateway can decide a conditional write from a
//! majority of promises (see `gateway/src/conditional.rs`).

use rocksdb::WriteBatch;

use crate::keys;
use crate::model::{
    encode, BucketPromise, BucketRecord, Manifest, PrepareReply, Version, WriteMode, WriteReply,
    WriteUpload,
};
use crate::store::{
    synced, Admission, Store, StoreError, StoreResult, CF_BUCKETS, CF_MANIFESTS, CF_PROMISES,
    CF_UPLOADS,
};
use crate::upload_store::upload_key;

/// Where the promise of a bucket record is kept: apart from every object prefix (an escaped
/// bucket name never starts with 0xFF).
pub(crate) fn bucket_promise_key(name: &str) -> Vec<u8> {
    let mut out = vec![0xFF];
    out.extend_from_slice(b"bucket\0");
    out.extend_from_slice(name.as_bytes());
    out
}

/// Whether a record kept one version at a time (`held`) takes `version` written in `mode`
/// under the live promise `promised`, at `row`: held already, or refused when a newer version
/// is held, a higher ballot than the mode allows was promised, or a new write's ballot expired.
fn admit_record(
    held: Option<Version>,
    version: Version,
    promised: Option<Version>,
    mode: WriteMode,
    row: Vec<u8>,
) -> Admission {
    match held {
        Some(h) if h == version => Admission::Held,
        Some(h) if h > version => Admission::Refused,
        _ if promised.is_some_and(|p| p > mode.bound(version))
            || (mode == WriteMode::New && expired(version)) =>
        {
            Admission::Refused
        }
        _ => Admission::Admitted(row),
    }
}

/// How long a promise binds. A conditional writer sends its accept within a round trip of its
/// promise (well inside the RPC timeout), so an older promise belongs to a writer that is gone:
/// it no longer blocks copies (a move, a repair) or other writers, and an accept of a ballot
/// this old is refused. Gateway clocks must be within this of the nodes'.
pub const PROMISE_TTL_MS: u64 = 30_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether a ballot is too old to be promised or accepted any more.
fn expired(ballot: Version) -> bool {
    ballot.millis().saturating_add(PROMISE_TTL_MS) < now_ms()
}

impl Store {
    /// The ballot promised for a key, while it binds.
    pub(crate) fn promised(&self, prefix: &[u8]) -> StoreResult<Option<Version>> {
        match self.db.get_cf(self.cf(CF_PROMISES), prefix)? {
            Some(v) => Version::from_bytes(&v)
                .map(|b| (!expired(b)).then_some(b))
                .ok_or_else(|| StoreError::Corrupt("promise".into())),
            None => Ok(None),
        }
    }

    /// Promises `ballot` for the record under `promise_key` unless a higher-or-equal ballot
    /// is promised (the caller holds the record's stripe lock). Answers whether it promised
    /// and the highest ballot promised after the call.
    fn promise(&self, promise_key: &[u8], ballot: Version) -> StoreResult<(bool, Version)> {
        let before = self.promised(promise_key)?;
        let promised = !expired(ballot) && before.is_none_or(|b| ballot > b);
        if promised {
            self.db.put_cf_opt(
                self.cf(CF_PROMISES),
                promise_key,
                ballot.to_bytes(),
                &synced(),
            )?;
        }
        Ok((
            promised,
            if promised {
                ballot
            } else {
                before.unwrap_or(ballot)
            },
        ))
    }

    /// Promises `ballot` for `bucket/key` if no higher-or-equal ballot was promised before, and
    /// says which of the `check` versions of the key the node holds.
    pub fn prepare_checking(
        &self,
        bucket: &str,
        key: &str,
        ballot: Version,
        check: &[Version],
        upload: Option<Version>,
    ) -> StoreResult<PrepareReply> {
        let prefix = keys::object_prefix(bucket, key.as_bytes());
        let _guard = self.stripe(&prefix);
        let (promised, highest) = self.promise(&prefix, ballot)?;
        let mut holds = Vec::new();
        for &v in check {
            let row = keys::manifest_key(bucket, key.as_bytes(), v);
            if self.db.get_pinned_cf(self.cf(CF_MANIFESTS), row)?.is_some() {
                holds.push(v);
            }
        }
        Ok(PrepareReply {
            promised,
            highest,
            current: self.newest_manifest(bucket, key)?,
            holds,
            upload: match upload {
                Some(id) => self.get_upload(bucket, key, id)?,
                None => None,
            },
        })
    }

    /// [`Store::prepare_checking`] with nothing to check.
    pub fn prepare(&self, bucket: &str, key: &str, ballot: Version) -> StoreResult<PrepareReply> {
        self.prepare_checking(bucket, key, ballot, &[], None)
    }

    /// Stores a new state of an upload, and with it the manifest of the object a completion
    /// makes, both or neither, under the key's promises: the upload's version must be above
    /// the state held (a `New` step's also unexpired and at or above every live promise; a
    /// `CopyUnder(ballot)` needs the promise at most `ballot`), and the manifest is admitted
    /// as [`Store::put_manifest`] would. The reply speaks of the upload's version and the
    /// key's promise; `applied` when both are held now.
    pub fn write_upload(&self, w: &WriteUpload) -> StoreResult<WriteReply> {
        let u = &w.upload;
        let prefix = keys::object_prefix(&u.bucket, u.key.as_bytes());
        let _guard = self.stripe(&prefix);
        let promised = self.promised(&prefix)?;
        let row = upload_key(&u.bucket, &u.key, u.upload_id);
        let held = self.get_upload(&u.bucket, &u.key, u.upload_id)?;
        let held_version = held.as_ref().map(|h| h.version);
        let reply = |applied| WriteReply {
            applied,
            newest: held_version,
            promised,
        };
        let upload_taken = admit_record(held_version, u.version, promised, w.mode, row);
        let manifest_taken = match &w.manifest {
            None => Admission::Held,
            Some(m) => {
                let newest = self.newest_version(&prefix)?;
                self.admit_manifest(m, w.mode, newest, promised)?
            }
        };
        let mut batch = WriteBatch::default();
        for (taken, cf, value) in [
            (&upload_taken, CF_UPLOADS, encode(u)),
            (
                &manifest_taken,
                CF_MANIFESTS,
                w.manifest.as_ref().map(encode).unwrap_or_default(),
            ),
        ] {
            match taken {
                Admission::Refused => return Ok(reply(false)),
                Admission::Held => {}
                Admission::Admitted(row) => batch.put_cf(self.cf(cf), row, value),
            }
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, &synced())?;
        }
        Ok(WriteReply {
            applied: true,
            newest: Some(u.version),
            promised,
        })
    }

    /// Promises `ballot` for the record of bucket `name` and reports the record.
    pub fn prepare_bucket(&self, name: &str, ballot: Version) -> StoreResult<BucketPromise> {
        let promise_key = bucket_promise_key(name);
        let _guard = self.stripe(&promise_key);
        let (promised, highest) = self.promise(&promise_key, ballot)?;
        Ok(BucketPromise {
            promised,
            highest,
            current: self.get_bucket(name)?,
        })
    }

    /// Stores a bucket record version under `mode`, as manifests are: unless the node holds a
    /// newer one, or has promised a ballot above the mode's bound, or (a `New` write) its
    /// ballot expired. The reply speaks of the record's versions.
    pub fn write_bucket(&self, mode: WriteMode, record: &BucketRecord) -> StoreResult<WriteReply> {
        let promise_key = bucket_promise_key(&record.name);
        let _guard = self.stripe(&promise_key);
        let promised = self.promised(&promise_key)?;
        let held = self.get_bucket(&record.name)?.map(|b| b.version);
        let row = record.name.as_bytes().to_vec();
        let applied = match admit_record(held, record.version, promised, mode, row) {
            Admission::Held => true,
            Admission::Refused => false,
            Admission::Admitted(row) => {
                self.db
                    .put_cf_opt(self.cf(CF_BUCKETS), row, encode(record), &synced())?;
                return Ok(WriteReply {
                    applied: true,
                    newest: Some(record.version),
                    promised,
                });
            }
        };
        Ok(WriteReply {
            applied,
            newest: held,
            promised,
        })
    }

    /// Stores `m` (whose version is its ballot) as a new write: unless a higher ballot was
    /// promised or a newer version is held.
    pub fn accept(&self, m: &Manifest) -> StoreResult<WriteReply> {
        if expired(m.version) {
            let prefix = keys::object_prefix(&m.bucket, m.key.as_bytes());
            return Ok(WriteReply {
                applied: false,
                newest: self.newest_version(&prefix)?,
                promised: self.promised(&prefix)?,
            });
        }
        self.put_manifest(m, WriteMode::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layout;

    /// Ballot `n` of a run: stamped now (older promises no longer bind).
    fn v(n: u64) -> Version {
        static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let base = *BASE.get_or_init(|| now_ms() << 16);
        Version {
            hlc: base + n,
            tiebreak: 0,
        }
    }

    fn manifest(version: u64) -> Manifest {
        let mut m = Manifest::tombstone("b", "k", v(version));
        m.deleted = false;
        m.layout = Layout::Inline(b"x".to_vec());
        m
    }

    fn upload(version: u64) -> crate::model::UploadRecord {
        crate::model::UploadRecord {
            acl: None,
            bucket: "b".into(),
            key: "k".into(),
            upload_id: v(1),
            version: v(version),
            ended: false,
            owner: "o".into(),
            headers: Default::default(),
            user_metadata: Default::default(),
            checksum_algorithm: None,
            checksum_type: None,
            tags: Default::default(),
            sealing: None,
            completed: None,
            step: None,
            incarnation: None,
        }
    }

    #[test]
    fn upload_steps_share_the_key_promises_and_land_with_their_object() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.put_upload(&upload(1)).unwrap());
        let step = |mode, version, with_object: bool| {
            let mut u = upload(version);
            u.ended = true;
            s.write_upload(&WriteUpload {
                mode,
                upload: u,
                manifest: with_object.then(|| manifest(version)),
            })
            .unwrap()
            .applied
        };
        let reply = s
            .prepare_checking("b", "k", v(10), &[], Some(v(1)))
            .unwrap();
        assert_eq!(reply.upload.unwrap().version, v(1));
        // Below the promise: refused, and neither record is stored.
        assert!(!step(WriteMode::New, 9, true));
        assert!(s.get_manifest("b", "k").unwrap().is_none());
        // A plain write above the promise blocks the completion's object: neither lands.
        assert!(
            s.put_manifest(&manifest(11), WriteMode::New)
                .unwrap()
                .applied
        );
        assert!(!step(WriteMode::New, 10, true));
        assert!(!s.get_upload("b", "k", v(1)).unwrap().unwrap().ended);
        // The upload alone (an abort) is not in the object's way.
        assert!(step(WriteMode::New, 10, false));
        assert!(s.get_upload("b", "k", v(1)).unwrap().unwrap().ended);
        // A higher promise, then a completion under it: both records land together.
        assert!(s.prepare("b", "k", v(12)).unwrap().promised);
        assert!(step(WriteMode::New, 12, true));
        assert_eq!(s.get_manifest("b", "k").unwrap().unwrap().version, v(12));
        // Older states never replace newer ones, a copy of one held is taken as held.
        assert!(!step(WriteMode::CopyUnder(v(13)), 11, false));
        assert!(step(WriteMode::CopyUnder(v(13)), 12, false));
        assert_eq!(
            s.get_upload("b", "k", v(1)).unwrap().unwrap().version,
            v(12)
        );
    }

    #[test]
    fn bucket_records_are_written_under_their_own_promises() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let bucket = |version: u64, owner: &str| BucketRecord {
            name: "b".into(),
            version: v(version),
            deleted: false,
            owner: owner.into(),
            region: "r".into(),
            public_read: false,
            incarnation: Some(v(version)),
            config: Default::default(),
        };
        assert!(s.prepare_bucket("b", v(10)).unwrap().promised);
        // An object key of the same name has promises of its own.
        assert!(s.prepare("b", "k", v(5)).unwrap().promised);
        assert!(!s.prepare_bucket("b", v(9)).unwrap().promised);
        // Below the promise nothing is taken, not even a copy (read repair, a move).
        assert!(
            !s.write_bucket(WriteMode::New, &bucket(9, "x"))
                .unwrap()
                .applied
        );
        assert!(!s.put_bucket(&bucket(9, "x")).unwrap());
        assert!(
            s.write_bucket(WriteMode::CopyUnder(v(10)), &bucket(8, "y"))
                .unwrap()
                .applied
        );
        assert!(
            s.write_bucket(WriteMode::New, &bucket(10, "z"))
                .unwrap()
                .applied
        );
        let reply = s.prepare_bucket("b", v(11)).unwrap();
        assert_eq!(reply.current.unwrap().owner, "z");
        // An older version never replaces a newer one.
        assert!(
            !s.write_bucket(WriteMode::CopyUnder(v(11)), &bucket(8, "y"))
                .unwrap()
                .applied
        );
        assert!(
            s.write_bucket(WriteMode::New, &bucket(10, "z"))
                .unwrap()
                .applied
        );
    }

    #[test]
    fn promises_only_rise_and_block_lower_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let first = s.prepare("b", "k", v(10)).unwrap();
        assert!(first.promised && first.current.is_none());
        assert!(!s.prepare("b", "k", v(9)).unwrap().promised);
        assert!(!s.prepare("b", "k", v(10)).unwrap().promised);
        assert!(s.accept(&manifest(10)).unwrap().applied);
        let second = s.prepare("b", "k", v(12)).unwrap();
        assert!(second.promised);
        assert_eq!(second.current.unwrap().version, v(10));
        // Ballot 11 was overtaken by the promise of 12.
        assert!(!s.accept(&manifest(11)).unwrap().applied);
        assert!(s.accept(&manifest(12)).unwrap().applied);
        assert_eq!(s.get_manifest("b", "k").unwrap().unwrap().version, v(12));
        // A promise or an accept older than the promise's lifetime binds nothing.
        let old = Version {
            hlc: (now_ms() - PROMISE_TTL_MS - 1000) << 16,
            tiebreak: 0,
        };
        assert!(!s.prepare("b", "other", old).unwrap().promised);
        let mut stale = manifest(0);
        stale.key = "other".into();
        stale.version = old;
        assert!(!s.accept(&stale).unwrap().applied);
        // Promises survive a restart.
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.prepare("b", "k", v(11)).unwrap().promised);
    }
}
