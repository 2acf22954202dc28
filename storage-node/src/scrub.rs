//! Chunks on the node and their integrity: every stored chunk is a file
//! ([`crate::chunk_files`]) indexed by its CRC32C (column family `chunk_sums`), the index entry
//! written once the file is durable. A read whose bytes do not match (or that RocksDB
//! itself reports corrupt) is never served: the chunk is recorded as bad (column family
//! `bad_chunks`) and answered as missing, so the gateway reads another replica and writes the
//! good copy back. A background scrub ([`run`]) re-verifies every chunk at a configured pace, so
//! rot is found without a client reading it; gateways repair what it marks
//! (`gateway/src/handoff.rs`). Rewriting a chunk clears its mark.

use std::sync::Arc;
use std::time::Duration;

use crc_fast::CrcAlgorithm;
use rocksdb::{Direction, IteratorMode, WriteBatch};

use bytes::Bytes;

use crate::direct_buffer::DirectBuffer;
use crate::model::ChunkId;
use crate::store::{synced, Store, StoreResult, CF_BAD_CHUNKS, CF_CHUNKS, CF_CHUNK_SUMS};

/// CRC32C of a chunk, as stored.
pub fn chunk_sum(data: &[u8]) -> [u8; 4] {
    (crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, data) as u32).to_be_bytes()
}

/// How the scrub paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Chunk bytes verified per second.
    pub bytes_per_second: u64,
    /// Pause between two full passes.
    pub pause: Duration,
}

/// Counters of the scrub, for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    pub chunks: u64,
    pub bytes: u64,
    pub bad: u64,
}

impl Store {
    /// Writes a chunk's file durably and adds its index entry (checksum) and the clearing of
    /// any bad mark to `batch`; the chunk is stored once the batch is written.
    pub(crate) fn chunk_into(
        &self,
        batch: &mut WriteBatch,
        id: ChunkId,
        data: &DirectBuffer,
    ) -> StoreResult<()> {
        self.files.write(id, data)?;
        let key = id.to_bytes();
        batch.put_cf(self.cf(CF_CHUNK_SUMS), key, chunk_sum(data));
        batch.delete_cf(self.cf(CF_BAD_CHUNKS), key);
        Ok(())
    }

    /// Stores a chunk durably (with its checksum).
    pub fn put_chunk(&self, id: ChunkId, data: &DirectBuffer) -> StoreResult<()> {
        let mut batch = WriteBatch::default();
        self.chunk_into(&mut batch, id, data)?;
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    /// Adds the removal of chunks' index entries (and of copies from before chunk files) to
    /// `batch`; their files go with [`Store::forget_chunk_files`] once it is written.
    pub(crate) fn chunk_removal_into(&self, batch: &mut WriteBatch, id: ChunkId) {
        let key = id.to_bytes();
        for cf in [CF_CHUNKS, CF_CHUNK_SUMS, CF_BAD_CHUNKS] {
            batch.delete_cf(self.cf(cf), key);
        }
    }

    /// Removes the files of chunks whose index entries are gone. A file left by an error here
    /// is unindexed, never served, and swept later.
    pub(crate) fn forget_chunk_files(&self, ids: &[ChunkId]) {
        for &id in ids {
            if let Err(e) = self.files.remove(id) {
                tracing::warn!("chunk file {} not removed: {e}", id.to_hex());
            }
        }
    }

    /// Deletes a chunk and its checksum (no error if absent).
    pub fn delete_chunk(&self, id: ChunkId) -> StoreResult<()> {
        let mut batch = WriteBatch::default();
        self.chunk_removal_into(&mut batch, id);
        self.db.write_opt(batch, &synced())?;
        self.forget_chunk_files(&[id]);
        Ok(())
    }

    /// Reads a chunk whose bytes match its checksum; a copy that does not (or that RocksDB finds
    /// corrupt) is marked bad and answered as missing.
    pub fn get_chunk(&self, id: ChunkId) -> StoreResult<Option<Bytes>> {
        match self.verify_chunk(id)? {
            Verified::Good(data) => Ok(Some(data)),
            Verified::Missing => Ok(None),
            Verified::Bad => {
                self.mark_bad(id)?;
                Ok(None)
            }
        }
    }

    /// A chunk to send to a reader. With `verify`, or where its file cannot be read, it is
    /// [`Store::get_chunk`]'s checked bytes; without, the chunk's file's bytes unchecked, for a
    /// reader that authenticates what it reads (sealed chunks) and reports a bad copy itself.
    pub fn chunk_to_send(&self, id: ChunkId, verify: bool) -> StoreResult<Option<Bytes>> {
        if !verify && self.indexed(id)? {
            if let Ok(Some(data)) = self.files.read(id) {
                if data.len() <= crate::server::MAX_CHUNK_BYTES {
                    return Ok(Some(data));
                }
            }
        }
        self.get_chunk(id)
    }

    /// An unchecked chunk to send as it is stored ([`Store::chunk_to_send`] without `verify`)
    /// on a connection that can take a file: the chunk's open file, or where it cannot be
    /// opened, its checked bytes.
    pub fn chunk_file_to_send(&self, id: ChunkId) -> StoreResult<Option<ChunkToSend>> {
        if self.indexed(id)? {
            if let Ok(Some((file, len))) = self.files.open_chunk(id) {
                if len <= crate::server::MAX_CHUNK_BYTES as u64 {
                    return Ok(Some(ChunkToSend::File(file, len)));
                }
            }
        }
        Ok(self.get_chunk(id)?.map(ChunkToSend::Bytes))
    }

    /// Whether chunk `id` has an index entry (its file is whole and durable).
    fn indexed(&self, id: ChunkId) -> StoreResult<bool> {
        Ok(self
            .db
            .get_cf(self.cf(CF_CHUNK_SUMS), id.to_bytes())?
            .is_some())
    }

    /// The index entry decides: without one the chunk is missing (a file without one is a
    /// write under way or a leftover); with one, its file must exist and match it.
    fn verify_chunk(&self, id: ChunkId) -> StoreResult<Verified> {
        let key = id.to_bytes();
        let sum = self.db.get_cf(self.cf(CF_CHUNK_SUMS), key)?;
        let data = match self.files.read(id) {
            Ok(Some(data)) if sum.is_some() => data,
            Ok(Some(_)) => return Ok(Verified::Missing),
            Ok(None) => match self.db.get_cf(self.cf(CF_CHUNKS), key) {
                // Stored before chunk files existed.
                Ok(Some(d)) => Bytes::from(d),
                Ok(None) if sum.is_some() => {
                    tracing::error!("chunk {}: its file is gone", id.to_hex());
                    return Ok(Verified::Bad);
                }
                Ok(None) => return Ok(Verified::Missing),
                Err(e) if e.kind() == rocksdb::ErrorKind::Corruption => {
                    tracing::error!("chunk {}: {e}", id.to_hex());
                    return Ok(Verified::Bad);
                }
                Err(e) => return Err(e.into()),
            },
            Err(e) => {
                tracing::error!("chunk {}: reading its file: {e}", id.to_hex());
                return Ok(Verified::Bad);
            }
        };
        match sum {
            Some(sum) if sum.as_slice() != chunk_sum(&data) => {
                tracing::error!("chunk {} does not match its checksum", id.to_hex());
                Ok(Verified::Bad)
            }
            // A chunk stored before checksums existed is taken as it is.
            _ => Ok(Verified::Good(data)),
        }
    }

    /// Removes chunk files older than an hour that the index does not name (writes cut short,
    /// removals a crash interrupted). An hour is far longer than any write takes between its
    /// file and its index entry.
    pub fn sweep_chunk_files(&self) -> std::io::Result<u64> {
        self.files.sweep(Duration::from_secs(3600), |id| {
            self.has_chunk(id).unwrap_or(true)
        })
    }

    fn mark_bad(&self, id: ChunkId) -> StoreResult<()> {
        self.db
            .put_cf_opt(self.cf(CF_BAD_CHUNKS), id.to_bytes(), [], &synced())?;
        Ok(())
    }

    /// Chunks marked bad, at most `limit`.
    pub fn bad_chunks(&self, limit: u32) -> StoreResult<Vec<ChunkId>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_BAD_CHUNKS), IteratorMode::Start)
        {
            let (key, _) = item?;
            if let Some(id) = ChunkId::from_bytes(&key) {
                out.push(id);
            }
            if out.len() >= limit as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Verifies the chunks after `after` (a raw chunk id; empty to start) until about `budget`
    /// bytes were read. Returns the cursor to continue from (`None` at the end) and progress.
    pub fn scrub_step(
        &self,
        after: &[u8],
        budget: u64,
    ) -> StoreResult<(Option<Vec<u8>>, Progress)> {
        let mut progress = Progress::default();
        // The checksums are small and live in the LSM tree: iterating them never touches a
        // (possibly corrupt) chunk value; each chunk is then read on its own.
        let iter = self.db.iterator_cf(
            self.cf(CF_CHUNK_SUMS),
            IteratorMode::From(after, Direction::Forward),
        );
        for item in iter {
            let (key, _) = item?;
            if *key == *after {
                continue;
            }
            let Some(id) = ChunkId::from_bytes(&key) else {
                continue;
            };
            match self.verify_chunk(id)? {
                Verified::Good(data) => {
                    progress.bytes = progress.bytes.saturating_add(data.len() as u64)
                }
                Verified::Missing => {}
                Verified::Bad => {
                    self.mark_bad(id)?;
                    progress.bad = progress.bad.saturating_add(1);
                }
            }
            progress.chunks = progress.chunks.saturating_add(1);
            if progress.bytes >= budget {
                return Ok((Some(key.to_vec()), progress));
            }
        }
        Ok((None, progress))
    }
}

/// A chunk as a node sends it on a read lane ([`Store::chunk_file_to_send`]).
pub enum ChunkToSend {
    /// Checked bytes.
    Bytes(Bytes),
    /// The chunk's open file and its length, unchecked.
    File(std::fs::File, u64),
}

impl ChunkToSend {
    pub fn len(&self) -> u64 {
        match self {
            ChunkToSend::Bytes(b) => b.len() as u64,
            ChunkToSend::File(_, len) => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum Verified {
    Good(Bytes),
    Missing,
    Bad,
}

/// Scrubs forever at `pace`, reporting progress to `report`.
pub async fn run(store: Arc<Store>, pace: Pace, report: impl Fn(Progress) + Send + 'static) {
    const STEP: Duration = Duration::from_millis(100);
    let budget = (pace.bytes_per_second / 10).max(1);
    let mut cursor: Vec<u8> = Vec::new();
    loop {
        let store2 = store.clone();
        let after = cursor.clone();
        let step = tokio::task::spawn_blocking(move || store2.scrub_step(&after, budget)).await;
        match step {
            Ok(Ok((next, progress))) => {
                report(progress);
                match next {
                    Some(next) => {
                        cursor = next;
                        tokio::time::sleep(STEP).await;
                    }
                    None => {
                        cursor.clear();
                        let store = store.clone();
                        let swept =
                            tokio::task::spawn_blocking(move || store.sweep_chunk_files()).await;
                        if let Ok(Ok(n)) = swept.map_err(|e| e.to_string()) {
                            if n > 0 {
                                tracing::info!("scrub: {n} unindexed chunk files removed");
                            }
                        }
                        tokio::time::sleep(pace.pause).await;
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::error!("scrub: {e}");
                tokio::time::sleep(pace.pause).await;
            }
            Err(e) => {
                tracing::error!("scrub task failed: {e}");
                tokio::time::sleep(pace.pause).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Version;

    fn id(i: u32) -> ChunkId {
        ChunkId {
            version: Version {
                hlc: 1,
                tiebreak: 1,
            },
            part: 0,
            index: i,
        }
    }

    #[test]
    fn a_chunk_that_does_not_match_its_checksum_is_found_and_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for i in 0..5 {
            s.put_chunk(id(i), &(&[i as u8; 1000]).into()).unwrap();
        }
        // Rot that bypasses the API: the bytes change, the checksum does not; a file vanishes.
        std::fs::write(s.files.path(id(3)), [9u8; 1000]).unwrap();
        std::fs::remove_file(s.files.path(id(4))).unwrap();
        let mut cursor = Vec::new();
        let mut total = Progress::default();
        loop {
            let (next, p) = s.scrub_step(&cursor, 1500).unwrap();
            total.chunks += p.chunks;
            total.bad += p.bad;
            match next {
                Some(n) => cursor = n,
                None => break,
            }
        }
        assert_eq!((total.chunks, total.bad), (5, 2));
        assert_eq!(s.bad_chunks(10).unwrap(), vec![id(3), id(4)]);
        assert_eq!(s.get_chunk(id(3)).unwrap(), None, "never served");
        assert_eq!(
            s.get_chunk(id(2)).unwrap(),
            Some(Bytes::from(vec![2u8; 1000]))
        );
        // A rewrite (the repair) clears the mark.
        s.put_chunk(id(3), &(&[3u8; 1000]).into()).unwrap();
        s.put_chunk(id(4), &(&[4u8; 1000]).into()).unwrap();
        assert!(s.bad_chunks(10).unwrap().is_empty());
        assert_eq!(
            s.get_chunk(id(4)).unwrap(),
            Some(Bytes::from(vec![4u8; 1000]))
        );
        assert_eq!(
            s.get_chunk(id(3)).unwrap(),
            Some(Bytes::from(vec![3u8; 1000]))
        );
    }
}
