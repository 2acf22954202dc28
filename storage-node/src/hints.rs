//! Hinted handoff on the node: records stored for another node that was down (column family
//! `hints`), next to the record itself in its usual column family, so that reads and listings
//! find it here meanwhile.
//!
//! A hint's key is `owner ‖ 00 ‖ kind ‖ record id`, so one owner's hints are one range. The
//! record and its hint are written in one batch; `done` (called once the owner has the record)
//! removes the hint and this node's copy, again in one batch. Who hands hints back is the
//! gateway's business (`gateway/src/handoff.rs`): it knows which nodes answer.

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch};

use crate::antientropy::row_identity;
use crate::direct_buffer::DirectBuffer;
use crate::keys;
use crate::model::{decode, encode, ChunkId, Hint, Manifest, StoredHint, WriteMode, WriteReply};
use crate::store::{synced, Store, StoreError, StoreResult, CF_HINTS, CF_MANIFESTS};
use node_api::table::Row;

fn hint_key(hint: &Hint) -> Vec<u8> {
    let mut out = hint.owner().as_bytes().to_vec();
    out.push(0);
    match hint {
        Hint::Chunk { id, .. } => {
            out.push(b'c');
            out.extend_from_slice(&id.to_bytes());
        }
        Hint::Manifest {
            bucket,
            key,
            version,
            ..
        } => {
            out.push(b'm');
            out.extend(keys::manifest_key(bucket, key.as_bytes(), *version));
        }
        Hint::Row { version, .. } => {
            out.push(b'r');
            out.extend(row_identity(version, true));
        }
    }
    out
}

impl Store {
    /// Stores a chunk for `owner`, with its hint.
    pub fn put_hinted_chunk(
        &self,
        owner: &str,
        id: ChunkId,
        data: &DirectBuffer,
    ) -> StoreResult<()> {
        let hint = Hint::Chunk {
            owner: owner.to_string(),
            id,
        };
        let mut batch = WriteBatch::default();
        self.chunk_into(&mut batch, id, data)?;
        batch.put_cf(self.cf(CF_HINTS), hint_key(&hint), encode(&hint));
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    /// Stores a manifest for `owner` as a new write would be stored on the owner; the hint is
    /// kept only if the version was stored (a newer one held here makes it moot).
    pub fn put_hinted_manifest(&self, owner: &str, m: &Manifest) -> StoreResult<WriteReply> {
        let prefix = keys::object_prefix(&m.bucket, m.key.as_bytes());
        let _guard = self.stripe(&prefix);
        let reply = self.put_manifest_locked(m, WriteMode::New)?;
        if reply.applied {
            let hint = Hint::Manifest {
                owner: owner.to_string(),
                bucket: m.bucket.clone(),
                key: m.key.clone(),
                version: m.version,
            };
            self.db
                .put_cf_opt(self.cf(CF_HINTS), hint_key(&hint), encode(&hint), &synced())?;
        }
        Ok(reply)
    }

    /// Stores a row for `owner` as [`Store::put_row`] would, with its hint while this version
    /// is the newest held (a newer one held here makes it moot).
    pub fn put_hinted_row(&self, owner: &str, row: &Row) -> StoreResult<bool> {
        let put = self.put_row_reporting(row)?;
        if put.newest {
            let hint = Hint::Row {
                owner: owner.to_string(),
                version: put.version,
            };
            self.db
                .put_cf_opt(self.cf(CF_HINTS), hint_key(&hint), encode(&hint), &synced())?;
        }
        Ok(put.held)
    }

    /// Hints after `after` (a raw hint key), in key order, at most `limit`.
    pub fn list_hints(&self, after: &[u8], limit: u32) -> StoreResult<Vec<StoredHint>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(
            self.cf(CF_HINTS),
            ReadOptions::default(),
            IteratorMode::From(after, Direction::Forward),
        ) {
            let (raw_key, value) = item?;
            if *raw_key == *after {
                continue;
            }
            out.push(StoredHint {
                raw_key: raw_key.to_vec(),
                hint: decode(&value).map_err(StoreError::Corrupt)?,
            });
            if out.len() >= limit.max(1) as usize {
                break;
            }
        }
        Ok(out)
    }

    /// The record a hint names, if this node still holds it: a chunk's bytes or the manifest.
    pub fn hinted_manifest(&self, hint: &Hint) -> StoreResult<Option<Manifest>> {
        let Hint::Manifest {
            bucket,
            key,
            version,
            ..
        } = hint
        else {
            return Ok(None);
        };
        match self.db.get_cf(
            self.cf(CF_MANIFESTS),
            keys::manifest_key(bucket, key.as_bytes(), *version),
        )? {
            Some(v) => Ok(Some(decode(&v).map_err(StoreError::Corrupt)?)),
            None => Ok(None),
        }
    }

    /// The owner has the record: drop the hint and this node's copy of it.
    pub fn hint_done(&self, raw_key: &[u8]) -> StoreResult<()> {
        let Some(value) = self.db.get_cf(self.cf(CF_HINTS), raw_key)? else {
            return Ok(());
        };
        let hint: Hint = decode(&value).map_err(StoreError::Corrupt)?;
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_HINTS), raw_key);
        match &hint {
            Hint::Chunk { id, .. } => {
                self.chunk_removal_into(&mut batch, *id);
                self.db.write_opt(batch, &synced())?;
                self.forget_chunk_files(&[*id]);
                Ok(())
            }
            Hint::Manifest {
                bucket,
                key,
                version,
                ..
            } => {
                let prefix = keys::object_prefix(bucket, key.as_bytes());
                let _guard = self.stripe(&prefix);
                batch.delete_cf(
                    self.cf(CF_MANIFESTS),
                    keys::manifest_key(bucket, key.as_bytes(), *version),
                );
                self.db.write_opt(batch, &synced())?;
                Ok(())
            }
            Hint::Row { version, .. } => {
                self.release_row(version)?;
                self.db.write_opt(batch, &synced())?;
                Ok(())
            }
        }
    }

    /// How many hints this node holds.
    pub fn hint_count(&self) -> StoreResult<u64> {
        let mut n: u64 = 0;
        for item in self.db.iterator_cf(self.cf(CF_HINTS), IteratorMode::Start) {
            item?;
            n = n.saturating_add(1);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Version;
    use node_api::table::Record;

    #[test]
    fn hinted_records_are_listed_and_dropped_with_their_copy() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let id = ChunkId {
            version: Version {
                hlc: 1,
                tiebreak: 2,
            },
            part: 0,
            index: 0,
        };
        s.put_hinted_chunk("node9", id, &b"bytes".into()).unwrap();
        let m = Manifest::tombstone(
            "b",
            "k",
            Version {
                hlc: 5,
                tiebreak: 1,
            },
        );
        s.put_hinted_manifest("node9", &m).unwrap();
        // An older version for the same key is refused on arrival: no hint for it.
        let old = Manifest::tombstone(
            "b",
            "k",
            Version {
                hlc: 4,
                tiebreak: 1,
            },
        );
        s.put_hinted_manifest("node8", &old).unwrap();
        // A row of the record table (an upload), and an older version of it: no hint.
        let upload = crate::upload_store::tests::upload("k", 7);
        let mut older = upload.clone();
        older.version.hlc = 6;
        assert!(s.put_hinted_row("node9", &upload.row()).unwrap());
        assert!(
            s.put_hinted_row("node8", &older.row()).unwrap(),
            "a newer one is held"
        );
        assert_eq!(s.hint_count().unwrap(), 3);

        let first = s.list_hints(&[], 1).unwrap();
        assert_eq!(first.len(), 1);
        let rest = s.list_hints(&first[0].raw_key, 10).unwrap();
        assert_eq!(rest.len(), 2);
        let all: Vec<_> = first.into_iter().chain(rest).collect();
        assert!(all.iter().all(|h| h.hint.owner() == "node9"));
        let manifest_hint = all
            .iter()
            .find(|h| matches!(h.hint, Hint::Manifest { .. }))
            .unwrap();
        assert_eq!(s.hinted_manifest(&manifest_hint.hint).unwrap(), Some(m));

        for h in &all {
            s.hint_done(&h.raw_key).unwrap();
            s.hint_done(&h.raw_key).unwrap(); // twice is harmless
        }
        assert_eq!(s.hint_count().unwrap(), 0);
        assert_eq!(s.get_chunk(id).unwrap(), None);
        assert_eq!(s.get_manifest("b", "k").unwrap(), None);
        assert_eq!(s.get_upload("b", "k", upload.upload_id).unwrap(), None);
    }
}
