//! Multipart upload state in the node's RocksDB: upload records (column family `uploads`, keyed
//! like manifests then by upload id, so a bucket's uploads list in key order) and part records
//! (column family `parts`, keyed by upload id then part number).
//!
//! Both follow last-writer-wins by version, as manifests do: an upload record is replaced by its
//! ended state, a part by its re-upload. Writes are synced like every other write.

use rocksdb::{Direction, IteratorMode, ReadOptions};

use crate::keys;
use crate::model::{decode, encode, ListParts, ListUploads, PartRecord, UploadRecord, Version};
use crate::store::{synced, Store, StoreError, StoreResult, CF_PARTS, CF_UPLOADS};

pub(crate) fn upload_key(bucket: &str, key: &str, upload_id: Version) -> Vec<u8> {
    let mut out = keys::object_prefix(bucket, key.as_bytes());
    out.extend_from_slice(&upload_id.to_bytes());
    out
}

fn part_key(upload_id: Version, number: u32) -> Vec<u8> {
    let mut out = upload_id.to_bytes().to_vec();
    out.extend_from_slice(&number.to_be_bytes());
    out
}

impl Store {
    /// Stores an upload record unless this node holds a newer state of the upload. Returns
    /// whether it was applied (or already present).
    pub fn put_upload(&self, record: &UploadRecord) -> StoreResult<bool> {
        let k = upload_key(&record.bucket, &record.key, record.upload_id);
        // The key's lock: an upload's states are written under the key's promises too.
        let _guard = self.stripe(&keys::object_prefix(&record.bucket, record.key.as_bytes()));
        if let Some(current) = self.read_upload(&k)? {
            if current.version >= record.version {
                return Ok(current.version == record.version);
            }
        }
        self.db
            .put_cf_opt(self.cf(CF_UPLOADS), &k, encode(record), &synced())?;
        Ok(true)
    }

    fn read_upload(&self, k: &[u8]) -> StoreResult<Option<UploadRecord>> {
        match self.db.get_cf(self.cf(CF_UPLOADS), k)? {
            Some(v) => Ok(Some(decode(&v).map_err(StoreError::Corrupt)?)),
            None => Ok(None),
        }
    }

    /// The upload record (possibly ended).
    pub fn get_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: Version,
    ) -> StoreResult<Option<UploadRecord>> {
        self.read_upload(&upload_key(bucket, key, upload_id))
    }

    /// Every upload record the node holds (ended ones included).
    pub fn all_uploads(&self) -> StoreResult<Vec<UploadRecord>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_UPLOADS), IteratorMode::Start)
        {
            let (_, v) = item?;
            out.push(decode(&v).map_err(StoreError::Corrupt)?);
        }
        Ok(out)
    }

    /// Upload records of a bucket after the marker, in (key, upload id) order.
    pub fn list_uploads(&self, q: &ListUploads) -> StoreResult<Vec<UploadRecord>> {
        let range_prefix = keys::key_prefix(&q.bucket, q.prefix.as_bytes());
        let mut start = range_prefix.clone();
        if !q.key_marker.is_empty() {
            let after = match q.upload_id_marker {
                // Just past that upload of the marker key.
                Some(id) => {
                    let mut k = upload_key(&q.bucket, &q.key_marker, id);
                    k.push(0);
                    k
                }
                None => keys::after_object(&q.bucket, q.key_marker.as_bytes()),
            };
            if after > start {
                start = after;
            }
        }
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(rocksdb::PrefixRange(range_prefix));
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(
            self.cf(CF_UPLOADS),
            opts,
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (_, v) = item?;
            out.push(decode(&v).map_err(StoreError::Corrupt)?);
            if out.len() >= q.limit.max(1) as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Stores a part under last-writer-wins per part number. Returns the records that lost
    /// (possibly `part` itself, when a newer upload of that number is present).
    pub fn put_part(&self, part: &PartRecord) -> StoreResult<Vec<PartRecord>> {
        let k = part_key(part.upload_id, part.layout.number);
        let _guard = self.stripe(&k);
        if let Some(v) = self.db.get_cf(self.cf(CF_PARTS), &k)? {
            let current: PartRecord = decode(&v).map_err(StoreError::Corrupt)?;
            if current.layout.version == part.layout.version {
                return Ok(Vec::new());
            }
            if current.layout.version > part.layout.version {
                return Ok(vec![part.clone()]);
            }
            self.db
                .put_cf_opt(self.cf(CF_PARTS), &k, encode(part), &synced())?;
            return Ok(vec![current]);
        }
        self.db
            .put_cf_opt(self.cf(CF_PARTS), &k, encode(part), &synced())?;
        Ok(Vec::new())
    }

    /// Parts of an upload numbered above `after`, in order, at most `limit`.
    pub fn list_parts(&self, q: &ListParts) -> StoreResult<Vec<PartRecord>> {
        let prefix = q.upload_id.to_bytes().to_vec();
        let start = part_key(q.upload_id, q.after.saturating_add(1));
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(rocksdb::PrefixRange(prefix));
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(
            self.cf(CF_PARTS),
            opts,
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (_, v) = item?;
            out.push(decode(&v).map_err(StoreError::Corrupt)?);
            if out.len() >= q.limit.max(1) as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Deletes one upload record if it is still that version (after a move or a hand-back;
    /// its parts are rows of their own).
    pub fn remove_upload_version(
        &self,
        bucket: &str,
        key: &str,
        upload_id: Version,
        version: Version,
    ) -> StoreResult<()> {
        let k = upload_key(bucket, key, upload_id);
        let _guard = self.stripe(&keys::object_prefix(bucket, key.as_bytes()));
        if self.read_upload(&k)?.is_some_and(|u| u.version == version) {
            self.db.delete_cf_opt(self.cf(CF_UPLOADS), &k, &synced())?;
        }
        Ok(())
    }

    /// Deletes one part record if it is still that version (after a move).
    pub fn remove_part_version(
        &self,
        upload_id: Version,
        number: u32,
        version: Version,
    ) -> StoreResult<()> {
        let k = part_key(upload_id, number);
        let _guard = self.stripe(&k);
        if let Some(v) = self.db.get_cf(self.cf(CF_PARTS), &k)? {
            let current: PartRecord = decode(&v).map_err(StoreError::Corrupt)?;
            if current.layout.version == version {
                self.db.delete_cf_opt(self.cf(CF_PARTS), &k, &synced())?;
            }
        }
        Ok(())
    }

    /// Deletes every part record of an upload (its chunks are the gateway's business).
    pub fn drop_parts(&self, upload_id: Version) -> StoreResult<()> {
        let mut end = part_key(upload_id, u32::MAX);
        end.push(0);
        self.db
            .delete_range_cf_opt(self.cf(CF_PARTS), part_key(upload_id, 0), end, &synced())?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{ObjectHeaders, PartLayout};

    fn v(hlc: u64) -> Version {
        Version { hlc, tiebreak: 1 }
    }

    pub(crate) fn upload(key: &str, id: u64) -> UploadRecord {
        UploadRecord {
            acl: None,
            bucket: "b".into(),
            key: key.into(),
            upload_id: v(id),
            version: v(id),
            ended: false,
            owner: "o".into(),
            headers: ObjectHeaders::default(),
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

    pub(crate) fn part(id: u64, number: u32, version: u64) -> PartRecord {
        PartRecord {
            upload_id: v(id),
            layout: PartLayout {
                number,
                version: v(version),
                size: 5,
                etag: format!("{version}"),
                chunk_size: 1,
                count: 5,
                checksums: Default::default(),
                nonce_base: None,
            },
        }
    }

    #[test]
    fn uploads_list_in_key_then_id_order_after_markers() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for (k, id) in [("b", 3), ("a", 2), ("a", 1), ("c", 4)] {
            assert!(s.put_upload(&upload(k, id)).unwrap());
        }
        let all = |marker: &str, id: Option<u64>| {
            s.list_uploads(&ListUploads {
                bucket: "b".into(),
                prefix: String::new(),
                key_marker: marker.into(),
                upload_id_marker: id.map(v),
                limit: 10,
            })
            .unwrap()
            .into_iter()
            .map(|u| (u.key, u.upload_id.hlc))
            .collect::<Vec<_>>()
        };
        let k = |s: &str, n: u64| (s.to_string(), n);
        assert_eq!(all("", None), [k("a", 1), k("a", 2), k("b", 3), k("c", 4)]);
        assert_eq!(all("a", Some(1)), [k("a", 2), k("b", 3), k("c", 4)]);
        assert_eq!(all("a", None), [k("b", 3), k("c", 4)]);
        // An ended state replaces the record; an older state does not.
        let mut ended = upload("a", 1);
        ended.ended = true;
        ended.version = v(9);
        assert!(s.put_upload(&ended).unwrap());
        assert!(!s.put_upload(&upload("a", 1)).unwrap());
        assert!(s.get_upload("b", "a", v(1)).unwrap().unwrap().ended);
    }

    #[test]
    fn newest_part_wins_and_drop_forgets_all() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.put_part(&part(1, 2, 10)).unwrap().is_empty());
        assert_eq!(s.put_part(&part(1, 2, 12)).unwrap(), [part(1, 2, 10)]);
        assert_eq!(s.put_part(&part(1, 2, 11)).unwrap(), [part(1, 2, 11)]);
        s.put_part(&part(1, 1, 5)).unwrap();
        s.put_part(&part(2, 1, 5)).unwrap();
        let listed = |after| {
            s.list_parts(&ListParts {
                upload_id: v(1),
                after,
                limit: 10,
            })
            .unwrap()
        };
        assert_eq!(listed(0), [part(1, 1, 5), part(1, 2, 12)]);
        assert_eq!(listed(1), [part(1, 2, 12)]);
        s.drop_parts(v(1)).unwrap();
        assert!(listed(0).is_empty());
        assert_eq!(
            s.list_parts(&ListParts {
                upload_id: v(2),
                after: 0,
                limit: 10
            })
            .unwrap()
            .len(),
            1
        );
    }
}
