//! The node's half of garbage collection: what it references, and the removal of what nobody
//! references or needs any more once a grace period has passed.
//!
//! * **References** (`/v1/gc/refs`): a Bloom filter of every chunk group `(data version, part)`
//!   that a row on this node holds, whatever its family (`Record::chunk_groups`: parts and
//!   every stored object version, superseded and hinted ones included). Families are scanned
//!   in `Family::REFERENCE_SCAN` order, parts before object versions, so that an upload
//!   completed during the scan is seen either way (completion writes the object before it
//!   drops the parts). The gateway ORs every node's filter into one (`fastbloom`'s `union`).
//! * **Sweep** (`/v1/gc/sweep`): deletes the chunks written before the cutoff whose group is
//!   not in that union. A Bloom filter has false positives, never false negatives: an orphan
//!   may survive a pass, a referenced chunk never goes.
//! * **Collect** (`/v1/gc/collect`): removes superseded manifest versions whose successor is
//!   older than the reclaim cutoff (the only way superseded versions ever go: a request that
//!   started on one reads it whole), and tombstones, ended upload records and Paxos promises
//!   older than the record cutoff. Each key is re-checked under its lock ([`collectable`]),
//!   so a newer write that arrived meanwhile is never touched.
//!
//! When it is safe to run (every node answers, no hints, no move, a complete anti-entropy pass
//! since the cutoff) is the gateway's decision (`gateway/src/gc.rs`).

use std::collections::HashSet;

use placement::stable_hash;
use rocksdb::{IteratorMode, WriteBatch};

use crate::keys;
use crate::model::{decode, ChunkId, ListEntry, Manifest, PartRecord, UploadRecord, Version};
use crate::store::{
    synced, Store, StoreError, StoreResult, CF_ACCESS_KEYS, CF_BUCKETS, CF_CHUNK_SUMS,
    CF_MANIFESTS, CF_PARTS, CF_PROMISES, CF_UPLOADS,
};
use node_api::table::Family;

pub use node_api::gc::*;

/// Chunks deleted per write batch during a sweep.
const SWEEP_BATCH: usize = 512;

/// The filter key of a chunk group.
fn group_hash(version: Version, part: u32) -> u64 {
    let mut b = [0u8; 20];
    b[..16].copy_from_slice(&version.to_bytes());
    b[16..].copy_from_slice(&part.to_be_bytes());
    stable_hash(&b)
}

fn check_format(format: &str) -> StoreResult<()> {
    if format == FILTER_FORMAT {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "filter format {format:?}, this node reads {FILTER_FORMAT:?}"
        )))
    }
}

/// Which of one key's versions (newest first: version and whether it is a tombstone) the
/// collector removes: the range from the returned start to the end. The newest version stays
/// unless it is a tombstone older than `cutoff_ms` (then the key goes whole); an older version
/// goes once the version after it is older than `superseded_cutoff_ms`.
pub fn collectable(
    versions: &[(Version, bool)],
    cutoff_ms: u64,
    superseded_cutoff_ms: u64,
) -> std::ops::Range<usize> {
    let len = versions.len();
    match versions.first() {
        None => len..len,
        Some((v, true)) if v.millis() < cutoff_ms => 0..len,
        Some(_) => {
            let first_old = versions
                .iter()
                .position(|(v, _)| v.millis() < superseded_cutoff_ms)
                .unwrap_or(len);
            first_old.saturating_add(1).min(len)..len
        }
    }
}

impl Store {
    /// The chunk groups this node's records reference (see the module documentation).
    pub fn references(&self, q: &RefsRequest) -> StoreResult<References> {
        check_format(&q.format)?;
        let mut f = filter(q.shape, None).map_err(StoreError::Corrupt)?;
        let mut items = 0u64;
        for family in Family::REFERENCE_SCAN {
            self.each_chunk_groups(family, |groups| {
                for (version, part) in groups {
                    f.insert_hash(group_hash(version, part));
                    items = items.saturating_add(1);
                }
            })?;
        }
        Ok(References {
            words: words(&f),
            items,
        })
    }

    /// Deletes chunks older than the cutoff whose group the filter does not hold.
    pub fn sweep(&self, q: &SweepRequest) -> StoreResult<Removed> {
        check_format(&q.format)?;
        let f = filter(q.shape, Some(&q.words)).map_err(StoreError::Corrupt)?;
        let mut removed = Removed::default();
        let mut batch = WriteBatch::default();
        let mut doomed = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_CHUNK_SUMS), IteratorMode::Start)
        {
            let (raw, _) = item?;
            let Some(id) = ChunkId::from_bytes(&raw) else {
                continue;
            };
            if id.version.millis() >= q.cutoff_ms
                || f.contains_hash(group_hash(id.version, id.part))
            {
                continue;
            }
            self.chunk_removal_into(&mut batch, id);
            doomed.push(id);
            removed.chunks = removed.chunks.saturating_add(1);
            if doomed.len() >= SWEEP_BATCH {
                self.db.write_opt(std::mem::take(&mut batch), &synced())?;
                self.forget_chunk_files(&std::mem::take(&mut doomed));
            }
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, &synced())?;
            self.forget_chunk_files(&doomed);
        }
        Ok(removed)
    }

    /// Removes the versions older than the reclaim cutoff that were written in a bucket
    /// incarnation that is gone ([`of_dead_incarnation`]); the rest of the key is left as it
    /// is (a version of the current incarnation that such a late write hid is current again).
    /// Each row is read through the listing view (two fields decoded).
    fn collect_dead_incarnations(&self, q: &CollectRequest) -> StoreResult<u64> {
        if q.buckets.is_empty() {
            return Ok(0);
        }
        let mut dead: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_MANIFESTS), IteratorMode::Start)
        {
            let (raw, value) = item?;
            let Some((bucket, key, version)) = keys::parse_manifest_key(&raw) else {
                continue;
            };
            if version.millis() >= q.superseded_cutoff_ms {
                continue;
            }
            let Some(&state) = std::str::from_utf8(&bucket)
                .ok()
                .and_then(|b| q.buckets.get(b))
            else {
                continue;
            };
            let seen = ListEntry::from_stored(String::new(), version, &value)
                .map_err(StoreError::Corrupt)?;
            if of_dead_incarnation(state, seen.deleted, seen.incarnation) {
                let prefix =
                    keys::object_prefix(std::str::from_utf8(&bucket).unwrap_or_default(), &key);
                dead.push((prefix, raw.to_vec()));
            }
        }
        for (prefix, row) in &dead {
            // The row is exactly one version: a write arriving meanwhile is another row.
            let _guard = self.stripe(prefix);
            self.db
                .delete_cf_opt(self.cf(CF_MANIFESTS), row, &synced())?;
        }
        Ok(dead.len() as u64)
    }

    /// Removes superseded manifest versions, tombstones, ended upload records and promises
    /// older than their cutoffs.
    pub fn collect(&self, q: &CollectRequest) -> StoreResult<Removed> {
        let old = |v: Version| v.millis() < q.cutoff_ms;
        let mut removed = Removed {
            dead_incarnation: self.collect_dead_incarnations(q)?,
            ..Default::default()
        };
        // Keys with something to collect, found from the row keys (only the newest row of a
        // key is decoded, and only when it is old enough to be a collectable tombstone).
        let mut candidates: Vec<Vec<u8>> = Vec::new();
        let mut previous: Option<(Vec<u8>, Version)> = None;
        for item in self
            .db
            .iterator_cf(self.cf(CF_MANIFESTS), IteratorMode::Start)
        {
            let (raw, value) = item?;
            let Some((_, _, version)) = keys::parse_manifest_key(&raw) else {
                continue;
            };
            let prefix = raw
                .get(..raw.len().saturating_sub(16))
                .unwrap_or_default()
                .to_vec();
            match previous.take() {
                Some((p, newer)) if p == prefix => {
                    if newer.millis() < q.superseded_cutoff_ms && candidates.last() != Some(&prefix)
                    {
                        candidates.push(prefix.clone());
                    }
                }
                _ => {
                    if old(version) {
                        let m: Manifest = decode(&value).map_err(StoreError::Corrupt)?;
                        if m.deleted {
                            candidates.push(prefix.clone());
                        }
                    }
                }
            }
            previous = Some((prefix, version));
        }
        for prefix in candidates {
            let _guard = self.stripe(&prefix);
            let versions = self.versions_of(&prefix)?;
            let doomed = collectable(
                &versions
                    .iter()
                    .map(|(v, m)| (*v, m.deleted))
                    .collect::<Vec<_>>(),
                q.cutoff_ms,
                q.superseded_cutoff_ms,
            );
            let mut batch = WriteBatch::default();
            for (i, (version, m)) in versions.iter().enumerate() {
                if i < doomed.start {
                    continue;
                }
                batch.delete_cf(
                    self.cf(CF_MANIFESTS),
                    keys::manifest_key(&m.bucket, m.key.as_bytes(), *version),
                );
                if i == 0 {
                    removed.tombstones = removed.tombstones.saturating_add(1);
                } else {
                    removed.superseded = removed.superseded.saturating_add(1);
                }
            }
            if !batch.is_empty() {
                self.db.write_opt(batch, &synced())?;
            }
        }
        let mut uploads = Vec::new();
        let mut active: HashSet<Version> = HashSet::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_UPLOADS), IteratorMode::Start)
        {
            let (raw, v) = item?;
            let u: UploadRecord = decode(&v).map_err(StoreError::Corrupt)?;
            if !u.ended {
                active.insert(u.upload_id);
            } else if old(u.version) {
                let prefix = keys::object_prefix(&u.bucket, u.key.as_bytes());
                uploads.push((raw.to_vec(), u.version, prefix));
            }
        }
        // Part records of an upload that ended (or that this node does not hold), older than
        // the cutoff: a part that landed after its upload ended (an UploadPart racing the
        // completion or the abort) outlived the ended upload's drop.
        let mut parts = WriteBatch::default();
        for item in self.db.iterator_cf(self.cf(CF_PARTS), IteratorMode::Start) {
            let (raw, v) = item?;
            let p: PartRecord = decode(&v).map_err(StoreError::Corrupt)?;
            if !active.contains(&p.upload_id) && old(p.layout.version) {
                parts.delete_cf(self.cf(CF_PARTS), raw);
                removed.parts = removed.parts.saturating_add(1);
            }
        }
        if !parts.is_empty() {
            self.db.write_opt(parts, &synced())?;
        }
        for (raw, version, prefix) in uploads {
            let _guard = self.stripe(&prefix);
            let current: Option<UploadRecord> = match self.db.get_cf(self.cf(CF_UPLOADS), &raw)? {
                Some(v) => Some(decode(&v).map_err(StoreError::Corrupt)?),
                None => None,
            };
            if current.is_some_and(|c| c.version == version) {
                self.db.delete_cf_opt(self.cf(CF_UPLOADS), raw, &synced())?;
                removed.uploads = removed.uploads.saturating_add(1);
            }
        }
        // Bucket tombstones: a deleted bucket's record, once older than the record cutoff
        // (every owner has had it through a complete anti-entropy pass by then).
        for b in self.list_buckets()? {
            if !(b.deleted && old(b.version)) {
                continue;
            }
            let _guard = self.stripe(&crate::cas_store::bucket_promise_key(&b.name));
            if self
                .get_bucket(&b.name)?
                .is_some_and(|c| c.version == b.version)
            {
                self.db
                    .delete_cf_opt(self.cf(CF_BUCKETS), b.name.as_bytes(), &synced())?;
                removed.buckets = removed.buckets.saturating_add(1);
            }
        }
        // Deleted access keys, likewise (every gateway's key refresh writes the newest record
        // back to each node that lacks it, so every node has had the tombstone).
        for k in self.list_access_keys()? {
            if !(k.deleted && old(k.version)) {
                continue;
            }
            let _guard = self.stripe(k.id.as_bytes());
            let current: Option<crate::model::AccessKeyRecord> =
                match self.db.get_cf(self.cf(CF_ACCESS_KEYS), k.id.as_bytes())? {
                    Some(v) => Some(decode(&v).map_err(StoreError::Corrupt)?),
                    None => None,
                };
            if current.is_some_and(|c| c.version == k.version) {
                self.db
                    .delete_cf_opt(self.cf(CF_ACCESS_KEYS), k.id.as_bytes(), &synced())?;
                removed.access_keys = removed.access_keys.saturating_add(1);
            }
        }
        let mut promises = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_PROMISES), IteratorMode::Start)
        {
            let (prefix, v) = item?;
            if Version::from_bytes(&v).is_some_and(old) {
                promises.push((prefix.to_vec(), v.to_vec()));
            }
        }
        for (prefix, ballot) in promises {
            let _guard = self.stripe(&prefix);
            if self.db.get_cf(self.cf(CF_PROMISES), &prefix)?.as_deref() == Some(&ballot[..]) {
                self.db
                    .delete_cf_opt(self.cf(CF_PROMISES), prefix, &synced())?;
                removed.promises = removed.promises.saturating_add(1);
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Layout, PartLayout};

    const SHAPE: FilterShape = FilterShape {
        bits: 1 << 14,
        hashes: 7,
    };

    fn v(ms: u64) -> Version {
        Version {
            hlc: ms << 16,
            tiebreak: 1,
        }
    }

    fn chunked(key: &str, version: Version, count: u32) -> Manifest {
        let mut m = Manifest::tombstone("b", key, version);
        m.deleted = false;
        m.layout = Layout::Chunked {
            chunk_size: 4,
            count,
            data: None,
        };
        m
    }

    fn chunk(version: Version, part: u32, index: u32) -> ChunkId {
        ChunkId {
            version,
            part,
            index,
        }
    }

    #[test]
    fn sweep_keeps_referenced_and_young_chunks_and_deletes_old_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        // A live object, an upload in progress, an old orphan and a young orphan.
        s.put_manifest(&chunked("live", v(100), 2), crate::model::WriteMode::New)
            .unwrap();
        let part = PartLayout {
            number: 3,
            version: v(110),
            size: 4,
            etag: String::new(),
            chunk_size: 4,
            count: 1,
            checksums: Default::default(),
            nonce_base: None,
        };
        s.put_part(&PartRecord {
            upload_id: v(105),
            layout: part,
        })
        .unwrap();
        let kept = [
            chunk(v(100), 0, 0),
            chunk(v(100), 0, 1),
            chunk(v(110), 3, 0),
        ];
        let orphan = chunk(v(120), 0, 0);
        let young = chunk(v(5000), 0, 0);
        for id in kept.iter().chain([&orphan, &young]) {
            s.put_chunk(*id, &b"data".into()).unwrap();
        }
        let refs = s
            .references(&RefsRequest {
                format: FILTER_FORMAT.into(),
                shape: SHAPE,
            })
            .unwrap();
        assert_eq!(refs.items, 2);
        // The union with another node's (empty) filter changes nothing.
        let mut union = filter(SHAPE, Some(&refs.words)).unwrap();
        union.union(&filter(SHAPE, None).unwrap());
        let removed = s
            .sweep(&SweepRequest {
                format: FILTER_FORMAT.into(),
                shape: SHAPE,
                words: words(&union),
                cutoff_ms: 1000,
            })
            .unwrap();
        assert_eq!(removed.chunks, 1);
        assert!(!s.has_chunk(orphan).unwrap());
        for id in kept.iter().chain([&young]) {
            assert!(s.has_chunk(*id).unwrap(), "{id:?} was swept");
        }
        // A filter of another format is refused.
        assert!(s
            .sweep(&SweepRequest {
                format: "other".into(),
                shape: SHAPE,
                words: words(&union),
                cutoff_ms: 1000,
            })
            .is_err());
    }

    #[test]
    fn collect_removes_old_tombstones_and_ended_uploads_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put_manifest(
            &Manifest::tombstone("b", "old", v(10)),
            crate::model::WriteMode::New,
        )
        .unwrap();
        s.put_manifest(
            &Manifest::tombstone("b", "young", v(5000)),
            crate::model::WriteMode::New,
        )
        .unwrap();
        s.put_manifest(&chunked("live", v(10), 1), crate::model::WriteMode::New)
            .unwrap();
        // An old promise (written as prepare once did; a prepare this old is refused now).
        s.db.put_cf(
            s.cf(CF_PROMISES),
            keys::object_prefix("b", b"cas"),
            v(20).to_bytes(),
        )
        .unwrap();
        // "live" was overwritten at 20 and again at 3000: the version replaced at 20 goes, the
        // one replaced at 3000 is kept while requests may still read it.
        s.put_manifest(&chunked("live", v(20), 1), crate::model::WriteMode::New)
            .unwrap();
        s.put_manifest(&chunked("live", v(3000), 1), crate::model::WriteMode::New)
            .unwrap();
        // An active upload with an old part, an ended one with an old and a young part.
        let upload = |id: u64, ended: bool| UploadRecord {
            acl: None,
            bucket: "b".into(),
            key: format!("up{id}"),
            upload_id: v(id),
            version: v(id + 1),
            ended,
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
        };
        let part = |id: u64, number: u32, at: u64| PartRecord {
            upload_id: v(id),
            layout: PartLayout {
                number,
                version: v(at),
                size: 1,
                etag: String::new(),
                chunk_size: 1,
                count: 1,
                checksums: Default::default(),
                nonce_base: None,
            },
        };
        // An old bucket tombstone goes, a young one and a live bucket stay.
        let bucket = |name: &str, at: u64, deleted: bool| crate::model::BucketRecord {
            name: name.into(),
            version: v(at),
            deleted,
            owner: "o".into(),
            region: "r".into(),
            public_read: false,
            incarnation: None,
            config: Default::default(),
        };
        s.put_bucket(&bucket("old-gone", 20, true)).unwrap();
        s.put_bucket(&bucket("young-gone", 5000, true)).unwrap();
        s.put_bucket(&bucket("live", 20, false)).unwrap();
        // An old deleted access key goes, a live one stays.
        let key = |id: &str, deleted: bool| crate::model::AccessKeyRecord {
            id: id.into(),
            version: v(20),
            deleted,
            key_id: "k".into(),
            sealed_secret: Vec::new(),
            grants: Default::default(),
        };
        s.put_access_key(&key("gone-key", true)).unwrap();
        s.put_access_key(&key("live-key", false)).unwrap();
        s.put_upload(&upload(30, false)).unwrap();
        s.put_upload(&upload(40, true)).unwrap();
        s.put_part(&part(30, 1, 31)).unwrap();
        s.put_part(&part(40, 1, 41)).unwrap();
        s.put_part(&part(40, 2, 4000)).unwrap();
        let removed = s
            .collect(&CollectRequest {
                cutoff_ms: 1000,
                superseded_cutoff_ms: 2000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(removed.tombstones, 1);
        assert_eq!(removed.superseded, 1);
        assert_eq!(removed.promises, 1);
        assert_eq!(removed.uploads, 1);
        assert_eq!(removed.parts, 1);
        assert_eq!(removed.buckets, 1);
        assert_eq!(removed.access_keys, 1);
        let ids: Vec<String> = s
            .list_access_keys()
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(ids, ["live-key"]);
        assert!(s.get_bucket("old-gone").unwrap().is_none());
        assert!(s.get_bucket("young-gone").unwrap().is_some());
        assert!(s.get_bucket("live").unwrap().is_some());
        let numbers = |id| {
            s.list_parts(&crate::model::ListParts {
                upload_id: v(id),
                after: 0,
                limit: 10,
            })
            .unwrap()
            .iter()
            .map(|p| p.layout.number)
            .collect::<Vec<_>>()
        };
        assert_eq!(numbers(30), [1]);
        assert_eq!(numbers(40), [2]);
        assert!(s.get_manifest("b", "old").unwrap().is_none());
        assert!(s.get_manifest("b", "young").unwrap().is_some());
        let live: Vec<u64> = s
            .versions_of(&keys::object_prefix("b", b"live"))
            .unwrap()
            .iter()
            .map(|(v, _)| v.millis())
            .collect();
        assert_eq!(live, [3000, 20]);
    }

    #[test]
    fn versions_of_gone_incarnations_go_and_uncover_what_they_hid() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (earlier, current) = (Some(v(10)), Some(v(50)));
        let put = |bucket: &str, key: &str, at: u64, incarnation: Option<Version>| {
            let mut m = chunked(key, v(at), 1);
            m.bucket = bucket.into();
            m.incarnation = incarnation;
            s.put_manifest(&m, crate::model::WriteMode::New).unwrap();
        };
        // A late write of the earlier incarnation hides the current one's object.
        put("b", "shadow", 100, current);
        put("b", "shadow", 200, earlier);
        // A tombstone of the current incarnation over its object stays a tombstone.
        put("b", "gone", 100, current);
        s.put_manifest(
            &Manifest::tombstone("b", "gone", v(150)),
            crate::model::WriteMode::New,
        )
        .unwrap();
        // Too young to go, though of the earlier incarnation.
        put("b", "young", 3000, earlier);
        // A deleted bucket's late write; a bucket from before incarnations.
        put("d", "late", 100, earlier);
        put("l", "legacy", 100, None);
        let removed = s
            .collect(&CollectRequest {
                cutoff_ms: 10,
                superseded_cutoff_ms: 2000,
                buckets: [
                    ("b".to_string(), BucketState::Live(current)),
                    ("d".to_string(), BucketState::Deleted),
                    ("l".to_string(), BucketState::Live(None)),
                ]
                .into(),
            })
            .unwrap();
        assert_eq!(removed.dead_incarnation, 2);
        let newest = |bucket: &str, key: &str| {
            s.get_manifest(bucket, key)
                .unwrap()
                .map(|m| (m.version.millis(), m.deleted))
        };
        assert_eq!(newest("b", "shadow"), Some((100, false)));
        assert_eq!(newest("b", "gone"), Some((150, true)));
        assert_eq!(newest("b", "young"), Some((3000, false)));
        assert_eq!(newest("d", "late"), None);
        assert_eq!(newest("l", "legacy"), Some((100, false)));
        // Without word of the buckets, nothing goes for its incarnation.
        put("b", "shadow", 300, earlier);
        let removed = s
            .collect(&CollectRequest {
                cutoff_ms: 10,
                superseded_cutoff_ms: 2000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(removed.dead_incarnation, 0);
    }

    #[test]
    fn only_live_versions_of_earlier_incarnations_are_dead() {
        let (i1, i2) = (Some(v(1)), Some(v(2)));
        assert!(of_dead_incarnation(BucketState::Live(i2), false, i1));
        assert!(of_dead_incarnation(BucketState::Live(i2), false, None));
        assert!(!of_dead_incarnation(BucketState::Live(i2), false, i2));
        assert!(!of_dead_incarnation(BucketState::Live(i1), false, i2));
        assert!(!of_dead_incarnation(BucketState::Live(None), false, None));
        assert!(!of_dead_incarnation(BucketState::Live(i2), true, None));
        assert!(of_dead_incarnation(BucketState::Deleted, false, i2));
        assert!(!of_dead_incarnation(BucketState::Deleted, true, None));
    }

    proptest::proptest! {
        /// Against a direct statement of the rule: the newest stays unless it is an old
        /// tombstone (then all go); an older version goes iff the one after it is old.
        #[test]
        fn collectable_follows_the_rule(
            mut ms in proptest::collection::vec(0u64..100, 0..8),
            newest_deleted: bool,
            cutoff in 0u64..100,
            superseded_cutoff in 0u64..100,
        ) {
            ms.sort_unstable_by(|a, b| b.cmp(a));
            ms.dedup();
            let versions: Vec<(Version, bool)> = ms
                .iter()
                .enumerate()
                .map(|(i, &m)| (v(m), i == 0 && newest_deleted))
                .collect();
            let doomed = collectable(&versions, cutoff, superseded_cutoff);
            for i in 0..versions.len() {
                let expected = if newest_deleted && ms[0] < cutoff {
                    true
                } else {
                    i > 0 && ms[..i].iter().any(|&newer| newer < superseded_cutoff)
                };
                proptest::prop_assert_eq!(doomed.contains(&i), expected, "index {}", i);
            }
        }
    }
}
