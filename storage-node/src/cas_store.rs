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

use crate::keys;
use crate::model::{Manifest, PrepareReply, Version, WriteMode, WriteReply};
use crate::store::{synced, Store, StoreError, StoreResult, CF_MANIFESTS, CF_PROMISES};

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

    /// Promises `ballot` for `bucket/key` if no higher-or-equal ballot was promised before, and
    /// says which of the `check` versions of the key the node holds.
    pub fn prepare_checking(
        &self,
        bucket: &str,
        key: &str,
        ballot: Version,
        check: &[Version],
    ) -> StoreResult<PrepareReply> {
        let prefix = keys::object_prefix(bucket, key.as_bytes());
        let _guard = self.stripe(&prefix);
        let before = self.promised(&prefix)?;
        let promised = !expired(ballot) && before.is_none_or(|b| ballot > b);
        if promised {
            self.db
                .put_cf_opt(self.cf(CF_PROMISES), &prefix, ballot.to_bytes(), &synced())?;
        }
        let mut holds = Vec::new();
        for &v in check {
            let row = keys::manifest_key(bucket, key.as_bytes(), v);
            if self.db.get_pinned_cf(self.cf(CF_MANIFESTS), row)?.is_some() {
                holds.push(v);
            }
        }
        Ok(PrepareReply {
            promised,
            highest: if promised {
                ballot
            } else {
                before.unwrap_or(ballot)
            },
            current: self.newest_manifest(bucket, key)?,
            holds,
        })
    }

    /// [`Store::prepare_checking`] with nothing to check.
    pub fn prepare(&self, bucket: &str, key: &str, ballot: Version) -> StoreResult<PrepareReply> {
        self.prepare_checking(bucket, key, ballot, &[])
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
