//! The node's RocksDB: manifests, the chunk index (`chunk_sums`; chunk bytes are files, see
//! [`crate::chunk_files`]) and bucket records, each in its own column family
//! (multipart uploads and parts in [`crate::upload_store`], conditional-write promises in
//! [`crate::cas_store`]).
//!
//! Every write uses a synced write batch (the WAL is fsync'd before the call returns), so an
//! acknowledgement means the data survives a crash. RocksDB groups concurrent synced writers
//! into one fsync, so throughput grows with concurrency. All methods block: the server calls
//! them from `spawn_blocking`.

use std::path::Path;
use std::sync::Mutex;

use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options,
    ReadOptions, WriteOptions, DB,
};

use crate::chunk_files::ChunkFiles;
use crate::keys;
use crate::model::{
    decode, encode, AccessKeyRecord, BucketRecord, ListEntry, ListManifests, ListManifestsReply,
    Manifest, NodeStats, SettingRecord, Version, WriteMode, WriteReply,
};

pub(crate) const CF_MANIFESTS: &str = "manifests";
pub(crate) const CF_CHUNKS: &str = "chunks";
pub(crate) const CF_BUCKETS: &str = "buckets";
pub(crate) const CF_UPLOADS: &str = "uploads";
pub(crate) const CF_PARTS: &str = "parts";
pub(crate) const CF_PROMISES: &str = "promises";
pub(crate) const CF_HINTS: &str = "hints";
pub(crate) const CF_CHUNK_SUMS: &str = "chunk_sums";
pub(crate) const CF_BAD_CHUNKS: &str = "bad_chunks";
pub(crate) const CF_ACCESS_KEYS: &str = "access_keys";
pub(crate) const CF_SETTINGS: &str = "settings";
const LOCK_STRIPES: usize = 256;

/// A storage failure (RocksDB error or a record that does not decode).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("chunk files: {0}")]
    Files(String),
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> StoreError {
        StoreError::Files(e.to_string())
    }
}

/// The folder of chunk files, inside the node's data folder.
const CHUNK_FILES: &str = "chunk-files";

pub type StoreResult<T> = Result<T, StoreError>;

/// What a node does with a record version it is sent.
pub(crate) enum Admission {
    /// It holds that version already.
    Held,
    /// Nothing stands in the way: store it at this row.
    Admitted(Vec<u8>),
    /// A newer version or a higher promise stands in the way.
    Refused,
}

/// One node's durable state.
pub struct Store {
    pub(crate) db: DB,
    /// Chunk bytes, one file each; `chunk_sums` is their index.
    pub(crate) files: ChunkFiles,
    /// Serializes read-modify-write of one key's versions (striped by key hash).
    stripes: Vec<Mutex<()>>,
}

pub(crate) fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// What RocksDB reports about one column family.
#[derive(Debug, Clone, Copy)]
pub struct FamilyStats {
    pub name: &'static str,
    /// Bytes of live SST files.
    pub sst_bytes: u64,
    /// Bytes of live blob files (chunk values).
    pub blob_bytes: u64,
    /// RocksDB's estimate of the keys held.
    pub keys: u64,
    /// Bytes compaction estimates it still has to rewrite.
    pub pending_compaction_bytes: u64,
}

/// Every column family, for [`Store::stats`].
const FAMILIES: [&str; 11] = [
    CF_MANIFESTS,
    CF_CHUNKS,
    CF_BUCKETS,
    CF_UPLOADS,
    CF_PARTS,
    CF_PROMISES,
    CF_HINTS,
    CF_CHUNK_SUMS,
    CF_BAD_CHUNKS,
    CF_ACCESS_KEYS,
    CF_SETTINGS,
];

impl Store {
    /// Size and compaction figures per column family, and the compactions running now.
    pub fn stats(&self) -> (Vec<FamilyStats>, u64) {
        let prop = |cf: &rocksdb::ColumnFamily, name: &str| {
            self.db
                .property_int_value_cf(cf, name)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        let families = FAMILIES
            .iter()
            .map(|&name| {
                let cf = self.cf(name);
                FamilyStats {
                    name,
                    sst_bytes: prop(cf, "rocksdb.total-sst-files-size"),
                    blob_bytes: prop(cf, "rocksdb.live-blob-file-size"),
                    keys: prop(cf, "rocksdb.estimate-num-keys"),
                    pending_compaction_bytes: prop(cf, "rocksdb.estimate-pending-compaction-bytes"),
                }
            })
            .collect();
        let running = self
            .db
            .property_int_value("rocksdb.num-running-compactions")
            .ok()
            .flatten()
            .unwrap_or(0);
        (families, running)
    }

    /// Bytes of chunk files.
    pub fn chunk_file_bytes(&self) -> u64 {
        self.files.bytes()
    }

    /// Totals of [`Store::stats`].
    pub fn totals(&self) -> NodeStats {
        let (families, _) = self.stats();
        NodeStats {
            bytes: families.iter().fold(self.files.bytes(), |sum, f| {
                sum.saturating_add(f.sst_bytes).saturating_add(f.blob_bytes)
            }),
            manifests: families
                .iter()
                .find(|f| f.name == CF_MANIFESTS)
                .map_or(0, |f| f.keys),
        }
    }

    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> StoreResult<Store> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.increase_parallelism(2);
        db_opts.set_max_background_jobs(2);
        db_opts.set_keep_log_file_num(4);
        db_opts.set_max_total_wal_size(256 << 20);

        let mut manifests = Options::default();
        manifests.set_compression_type(DBCompressionType::Lz4);
        manifests.set_write_buffer_size(32 << 20);
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        manifests.set_block_based_table_factory(&table);

        // Chunk bytes are files (`chunk_files`); this family only holds chunks stored before
        // them, in blob files (the LSM tree holds small references, compaction never rewrites
        // object data).
        let mut chunks = Options::default();
        chunks.set_enable_blob_files(true);
        chunks.set_min_blob_size(4096);
        chunks.set_blob_file_size(256 << 20);
        chunks.set_blob_compression_type(DBCompressionType::None);
        chunks.set_enable_blob_gc(true);
        chunks.set_blob_gc_age_cutoff(0.25);
        chunks.set_write_buffer_size(64 << 20);

        let mut buckets = Options::default();
        buckets.set_compression_type(DBCompressionType::Lz4);
        let mut uploads = Options::default();
        uploads.set_compression_type(DBCompressionType::Lz4);
        let mut parts = Options::default();
        parts.set_compression_type(DBCompressionType::Lz4);
        let promises = Options::default();
        let hints = Options::default();
        let mut chunk_sums = Options::default();
        chunk_sums.set_block_based_table_factory(&table);
        let bad_chunks = Options::default();

        let db = DB::open_cf_descriptors(
            &db_opts,
            dir,
            vec![
                ColumnFamilyDescriptor::new(CF_MANIFESTS, manifests),
                ColumnFamilyDescriptor::new(CF_CHUNKS, chunks),
                ColumnFamilyDescriptor::new(CF_BUCKETS, buckets),
                ColumnFamilyDescriptor::new(CF_UPLOADS, uploads),
                ColumnFamilyDescriptor::new(CF_PARTS, parts),
                ColumnFamilyDescriptor::new(CF_PROMISES, promises),
                ColumnFamilyDescriptor::new(CF_HINTS, hints),
                ColumnFamilyDescriptor::new(CF_CHUNK_SUMS, chunk_sums),
                ColumnFamilyDescriptor::new(CF_BAD_CHUNKS, bad_chunks),
                ColumnFamilyDescriptor::new(CF_ACCESS_KEYS, Options::default()),
                ColumnFamilyDescriptor::new(CF_SETTINGS, Options::default()),
            ],
        )?;
        let files = ChunkFiles::open(&dir.join(CHUNK_FILES))
            .map_err(|e| StoreError::Files(format!("{}: {e}", dir.join(CHUNK_FILES).display())))?;
        Ok(Store {
            db,
            files,
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    #[allow(
        clippy::expect_used,
        reason = "callers name the families `open` creates (constants of this module)"
    )]
    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    #[allow(
        clippy::indexing_slicing,
        reason = "the index is taken modulo LOCK_STRIPES, the number of stripes"
    )]
    pub(crate) fn stripe(&self, key: &[u8]) -> std::sync::MutexGuard<'_, ()> {
        let i = (placement::stable_hash(key) as usize) % LOCK_STRIPES;
        self.stripes[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a manifest version: a node keeps every version it is sent, newest first; older
    /// ones stay (superseded) until the collector reclaims them (`gc::collect`). `mode` says
    /// what may refuse it (see [`WriteMode`]); the reply says whether the node now holds it and
    /// what stood in the way.
    pub fn put_manifest(&self, m: &Manifest, mode: WriteMode) -> StoreResult<WriteReply> {
        let prefix = keys::object_prefix(&m.bucket, m.key.as_bytes());
        let _guard = self.stripe(&prefix);
        self.put_manifest_locked(m, mode)
    }

    /// [`Store::put_manifest`] for a caller that holds the key's stripe lock.
    pub(crate) fn put_manifest_locked(
        &self,
        m: &Manifest,
        mode: WriteMode,
    ) -> StoreResult<WriteReply> {
        let prefix = keys::object_prefix(&m.bucket, m.key.as_bytes());
        let newest = self.newest_version(&prefix)?;
        let promised = self.promised(&prefix)?;
        let reply = |applied| WriteReply {
            applied,
            newest,
            promised,
        };
        match self.admit_manifest(m, mode, newest, promised)? {
            Admission::Held => Ok(reply(true)),
            Admission::Refused => Ok(reply(false)),
            Admission::Admitted(row) => {
                self.db
                    .put_cf_opt(self.cf(CF_MANIFESTS), row, encode(m), &synced())?;
                Ok(WriteReply {
                    applied: true,
                    newest: Some(m.version),
                    promised,
                })
            }
        }
    }

    /// Whether `m` may be stored under `mode`, given the key's newest version and live
    /// promise (the caller holds the key's stripe lock).
    pub(crate) fn admit_manifest(
        &self,
        m: &Manifest,
        mode: WriteMode,
        newest: Option<Version>,
        promised: Option<Version>,
    ) -> StoreResult<Admission> {
        if newest == Some(m.version) {
            return Ok(Admission::Held);
        }
        let row = keys::manifest_key(&m.bucket, m.key.as_bytes(), m.version);
        // Held already (superseded since, perhaps): a write of it was taken here, which is
        // what its writer counts (a read may have copied it here before the write arrived).
        if self
            .db
            .get_pinned_cf(self.cf(CF_MANIFESTS), &row)?
            .is_some()
        {
            return Ok(Admission::Held);
        }
        if promised.is_some_and(|p| p > mode.bound(m.version))
            || newest.is_some_and(|n| n > m.version)
        {
            return Ok(Admission::Refused);
        }
        Ok(Admission::Admitted(row))
    }

    /// The newest version stored under an object prefix (read from the key, nothing decoded).
    pub(crate) fn newest_version(&self, prefix: &[u8]) -> StoreResult<Option<Version>> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(rocksdb::PrefixRange(prefix.to_vec()));
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_MANIFESTS), opts);
        iter.seek(prefix);
        if !iter.valid() {
            iter.status()?;
            return Ok(None);
        }
        let raw = iter.key().unwrap_or_default();
        keys::parse_manifest_key(raw)
            .map(|(_, _, v)| Some(v))
            .ok_or_else(|| StoreError::Corrupt("manifest key".into()))
    }

    /// Every stored version under an object prefix, newest first.
    pub(crate) fn versions_of(&self, prefix: &[u8]) -> StoreResult<Vec<(Version, Manifest)>> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(rocksdb::PrefixRange(prefix.to_vec()));
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(
            self.cf(CF_MANIFESTS),
            opts,
            IteratorMode::From(prefix, Direction::Forward),
        ) {
            let (_, value) = item?;
            let m: Manifest = decode(&value).map_err(StoreError::Corrupt)?;
            out.push((m.version, m));
        }
        Ok(out)
    }

    /// The newest version of `bucket/key` this node holds (a tombstone included).
    pub fn get_manifest(&self, bucket: &str, key: &str) -> StoreResult<Option<Manifest>> {
        self.newest_manifest(bucket, key)
    }

    pub(crate) fn newest_manifest(&self, bucket: &str, key: &str) -> StoreResult<Option<Manifest>> {
        let prefix = keys::object_prefix(bucket, key.as_bytes());
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(rocksdb::PrefixRange(prefix.clone()));
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_MANIFESTS), opts);
        iter.seek(&prefix);
        if !iter.valid() {
            iter.status()?;
            return Ok(None);
        }
        let value = iter.value().unwrap_or_default();
        Ok(Some(decode(value).map_err(StoreError::Corrupt)?))
    }

    /// Removes exactly one version (a record moved to its new owners, a hint handed back).
    pub fn remove_manifest_version(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
    ) -> StoreResult<()> {
        let prefix = keys::object_prefix(bucket, key.as_bytes());
        let _guard = self.stripe(&prefix);
        self.db.delete_cf_opt(
            self.cf(CF_MANIFESTS),
            keys::manifest_key(bucket, key.as_bytes(), version),
            &synced(),
        )?;
        Ok(())
    }

    /// The newest entry of each key of `bucket` that starts with `prefix` and sorts after
    /// `start_after`, in key order, at most `limit` of them.
    pub fn list_manifests(&self, req: &ListManifests) -> StoreResult<ListManifestsReply> {
        let range_prefix = keys::key_prefix(&req.bucket, req.prefix.as_bytes());
        let mut start = range_prefix.clone();
        if !req.start_after.is_empty() {
            let after = keys::after_object(&req.bucket, &req.start_after);
            if after > start {
                start = after;
            }
        }
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(rocksdb::PrefixRange(range_prefix));
        let limit = req.limit.max(1) as usize;
        let mut reply = ListManifestsReply::default();
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_MANIFESTS),
            opts,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (raw_key, value) = item?;
            let (_, key, version) = keys::parse_manifest_key(&raw_key)
                .ok_or_else(|| StoreError::Corrupt("manifest key".into()))?;
            let listed = reply.entries.last().map(|e| e.key.as_bytes());
            if listed == Some(key.as_slice()) {
                continue; // an older version of the key just listed
            }
            if reply.entries.len() == limit {
                reply.truncated = true;
                break;
            }
            let name = String::from_utf8(key)
                .map_err(|_| StoreError::Corrupt("manifest key is not UTF-8".into()))?;
            let entry =
                ListEntry::from_stored(name, version, &value).map_err(StoreError::Corrupt)?;
            reply.entries.push(entry);
        }
        Ok(reply)
    }

    /// Stores a bucket record under last-writer-wins. Returns whether it was applied.
    pub fn put_bucket(&self, record: &BucketRecord) -> StoreResult<bool> {
        Ok(self.write_bucket(WriteMode::Copy, record)?.applied)
    }

    /// The bucket record (possibly a tombstone).
    pub fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        match self.db.get_cf(self.cf(CF_BUCKETS), name.as_bytes())? {
            Some(v) => Ok(Some(decode(&v).map_err(StoreError::Corrupt)?)),
            None => Ok(None),
        }
    }

    /// Deletes the bucket record if it is still that version (after a move).
    pub fn remove_bucket_version(&self, name: &str, version: Version) -> StoreResult<()> {
        let _guard = self.stripe(&crate::cas_store::bucket_promise_key(name));
        if self.get_bucket(name)?.is_some_and(|b| b.version == version) {
            self.db
                .delete_cf_opt(self.cf(CF_BUCKETS), name.as_bytes(), &synced())?;
        }
        Ok(())
    }

    /// Stores `record` under `name` in `family` unless a version at least as new is there
    /// (last writer wins). Returns whether the stored version is now the record's (applied,
    /// or already present).
    fn put_newest<R>(
        &self,
        family: &str,
        name: &str,
        record: &R,
        version_of: impl Fn(&R) -> Version,
    ) -> StoreResult<bool>
    where
        R: serde::Serialize + serde::de::DeserializeOwned,
    {
        let version = version_of(record);
        let _guard = self.stripe(name.as_bytes());
        if let Some(v) = self.db.get_cf(self.cf(family), name.as_bytes())? {
            let current: R = decode(&v).map_err(StoreError::Corrupt)?;
            let current = version_of(&current);
            if current >= version {
                return Ok(current == version);
            }
        }
        self.db
            .put_cf_opt(self.cf(family), name.as_bytes(), encode(record), &synced())?;
        Ok(true)
    }

    /// Every record of `family`.
    fn all_of<R: serde::de::DeserializeOwned>(&self, family: &str) -> StoreResult<Vec<R>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(family), IteratorMode::Start) {
            let (_, v) = item?;
            out.push(decode(&v).map_err(StoreError::Corrupt)?);
        }
        Ok(out)
    }

    /// Stores an access key record under last-writer-wins. Returns whether it was applied.
    pub fn put_access_key(&self, record: &AccessKeyRecord) -> StoreResult<bool> {
        self.put_newest(CF_ACCESS_KEYS, &record.id, record, |r| r.version)
    }

    /// Every access key record this node holds, tombstones included.
    pub fn list_access_keys(&self) -> StoreResult<Vec<AccessKeyRecord>> {
        self.all_of(CF_ACCESS_KEYS)
    }

    /// Stores a cluster setting under last-writer-wins. Returns whether it was applied.
    pub fn put_setting(&self, record: &SettingRecord) -> StoreResult<bool> {
        self.put_newest(CF_SETTINGS, &record.name, record, |r| r.version)
    }

    /// Every bucket record this node holds, tombstones included.
    pub fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>> {
        self.all_of(CF_BUCKETS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChunkId, Layout};

    fn manifest(key: &str, hlc: u64) -> Manifest {
        let mut m = Manifest::tombstone("bkt", key, Version { hlc, tiebreak: 1 });
        m.deleted = false;
        m.size = 3;
        m.layout = Layout::Inline(b"abc".to_vec());
        m
    }

    #[test]
    fn new_writes_must_be_newest_and_copies_keep_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let put = |hlc, mode| store.put_manifest(&manifest("k", hlc), mode).unwrap();
        assert!(put(5, WriteMode::New).applied);
        // A new write below the newest is refused and told what is there.
        let late = put(3, WriteMode::New);
        assert!(!late.applied);
        assert_eq!(late.newest.unwrap().hlc, 5);
        assert!(put(9, WriteMode::New).applied);
        // Re-delivery of the newest is idempotent.
        assert!(put(9, WriteMode::New).applied);
        assert_eq!(
            store.get_manifest("bkt", "k").unwrap().unwrap().version.hlc,
            9
        );
        // The superseded version is kept, not deleted.
        let prefix = keys::object_prefix("bkt", b"k");
        let kept: Vec<u64> = store
            .versions_of(&prefix)
            .unwrap()
            .iter()
            .map(|(v, _)| v.hlc)
            .collect();
        assert_eq!(kept, [9, 5]);
        // A copy of an older version is not stored over a newer one; a copy of a held one is
        // acknowledged.
        assert!(!put(7, WriteMode::Copy).applied);
        assert!(put(5, WriteMode::Copy).applied);
        // A (live) promise blocks new writes and copies below it.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let at = |n: u64| (now << 16) + n;
        let ballot = Version {
            hlc: at(20),
            tiebreak: 0,
        };
        store.prepare("bkt", "k", ballot).unwrap();
        let blocked = put(at(15), WriteMode::New);
        assert!(!blocked.applied);
        assert_eq!(blocked.promised, Some(ballot));
        assert!(!put(at(16), WriteMode::Copy).applied);
        // The writer holding the promise may copy below it.
        assert!(put(at(16), WriteMode::CopyUnder(ballot)).applied);
        assert!(put(at(21), WriteMode::New).applied);
    }

    #[test]
    fn listing_is_ordered_paged_and_prefixed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for k in ["b", "a/2", "a/1", "c", "a\u{0}x", "ab"] {
            store.put_manifest(&manifest(k, 1), WriteMode::New).unwrap();
        }
        let list = |prefix: &str, after: &[u8], limit| {
            store
                .list_manifests(&ListManifests {
                    bucket: "bkt".into(),
                    prefix: prefix.into(),
                    start_after: after.to_vec(),
                    limit,
                })
                .unwrap()
        };
        let all = list("", b"", 100);
        let keys: Vec<_> = all.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a\u{0}x", "a/1", "a/2", "ab", "b", "c"]);
        assert!(!all.truncated);
        let page = list("", b"a/1", 2);
        let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a/2", "ab"]);
        assert!(page.truncated);
        let skipped = list("", b"a/\xff", 10);
        assert_eq!(skipped.entries[0].key, "ab");
        let prefixed = list("a/", b"", 10);
        assert_eq!(prefixed.entries.len(), 2);
    }

    #[test]
    fn chunks_and_buckets_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = ChunkId {
            version: Version {
                hlc: 1,
                tiebreak: 2,
            },
            part: 0,
            index: 4,
        };
        store.put_chunk(id, &(&[7u8; 10_000]).into()).unwrap();
        assert_eq!(store.get_chunk(id).unwrap().unwrap().len(), 10_000);
        store.delete_chunk(id).unwrap();
        assert!(store.get_chunk(id).unwrap().is_none());

        let rec = |hlc, deleted| BucketRecord {
            name: "bkt".into(),
            version: Version { hlc, tiebreak: 0 },
            deleted,
            owner: "o".into(),
            region: "r".into(),
            public_read: false,
            incarnation: None,
            config: Default::default(),
        };
        assert!(store.put_bucket(&rec(2, false)).unwrap());
        assert!(!store.put_bucket(&rec(1, true)).unwrap());
        assert!(!store.get_bucket("bkt").unwrap().unwrap().deleted);
        assert_eq!(store.list_buckets().unwrap().len(), 1);
    }
}
