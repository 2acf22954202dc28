//! Chunk integrity on the node: every stored chunk has a CRC32C (column family `chunk_sums`),
//! written in the same batch as the chunk. A read whose bytes do not match (or that RocksDB
//! itself reports corrupt) is never served: the chunk is recorded as bad (column family
//! `bad_chunks`) and answered as missing, so the gateway reads another replica and writes the
//! good copy back. A background scrub ([`run`]) re-verifies every chunk at a configured pace, so
//! rot is found without a client reading it; gateways repair what it marks
//! (`gateway/src/handoff.rs`). Rewriting a chunk clears its mark.

use std::sync::Arc;
use std::time::Duration;

use crc_fast::CrcAlgorithm;
use rocksdb::{Direction, IteratorMode, WriteBatch};

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
    /// Adds a chunk, its checksum and the clearing of any bad mark to `batch`.
    pub(crate) fn chunk_into(&self, batch: &mut WriteBatch, id: ChunkId, data: &[u8]) {
        let key = id.to_bytes();
        batch.put_cf(self.cf(CF_CHUNKS), key, data);
        batch.put_cf(self.cf(CF_CHUNK_SUMS), key, chunk_sum(data));
        batch.delete_cf(self.cf(CF_BAD_CHUNKS), key);
    }

    /// Stores a chunk durably (with its checksum).
    pub fn put_chunk(&self, id: ChunkId, data: &[u8]) -> StoreResult<()> {
        let mut batch = WriteBatch::default();
        self.chunk_into(&mut batch, id, data);
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    /// Deletes a chunk and its checksum (no error if absent).
    pub fn delete_chunk(&self, id: ChunkId) -> StoreResult<()> {
        let key = id.to_bytes();
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_CHUNKS), key);
        batch.delete_cf(self.cf(CF_CHUNK_SUMS), key);
        batch.delete_cf(self.cf(CF_BAD_CHUNKS), key);
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    /// Reads a chunk whose bytes match its checksum; a copy that does not (or that RocksDB finds
    /// corrupt) is marked bad and answered as missing.
    pub fn get_chunk(&self, id: ChunkId) -> StoreResult<Option<Vec<u8>>> {
        match self.verify_chunk(id)? {
            Verified::Good(data) => Ok(Some(data)),
            Verified::Missing => Ok(None),
            Verified::Bad => {
                self.mark_bad(id)?;
                Ok(None)
            }
        }
    }

    fn verify_chunk(&self, id: ChunkId) -> StoreResult<Verified> {
        let key = id.to_bytes();
        let data = match self.db.get_cf(self.cf(CF_CHUNKS), key) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(Verified::Missing),
            Err(e) if e.kind() == rocksdb::ErrorKind::Corruption => {
                tracing::error!("chunk {}: {e}", id.to_hex());
                return Ok(Verified::Bad);
            }
            Err(e) => return Err(e.into()),
        };
        match self.db.get_cf(self.cf(CF_CHUNK_SUMS), key)? {
            Some(sum) if sum.as_slice() != chunk_sum(&data) => {
                tracing::error!("chunk {} does not match its checksum", id.to_hex());
                Ok(Verified::Bad)
            }
            // A chunk stored before checksums existed is taken as it is.
            _ => Ok(Verified::Good(data)),
        }
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
                Verified::Good(data) => progress.bytes += data.len() as u64,
                Verified::Missing => {}
                Verified::Bad => {
                    self.mark_bad(id)?;
                    progress.bad += 1;
                }
            }
            progress.chunks += 1;
            if progress.bytes >= budget {
                return Ok((Some(key.to_vec()), progress));
            }
        }
        Ok((None, progress))
    }
}

enum Verified {
    Good(Vec<u8>),
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
            s.put_chunk(id(i), &[i as u8; 1000]).unwrap();
        }
        // Rot that bypasses the API: the bytes change, the checksum does not.
        s.db.put_cf(s.cf(CF_CHUNKS), id(3).to_bytes(), [9u8; 1000])
            .unwrap();
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
        assert_eq!((total.chunks, total.bad), (5, 1));
        assert_eq!(s.bad_chunks(10).unwrap(), vec![id(3)]);
        assert_eq!(s.get_chunk(id(3)).unwrap(), None, "never served");
        assert_eq!(s.get_chunk(id(2)).unwrap(), Some(vec![2u8; 1000]));
        // A rewrite (the repair) clears the mark.
        s.put_chunk(id(3), &[3u8; 1000]).unwrap();
        assert!(s.bad_chunks(10).unwrap().is_empty());
        assert_eq!(s.get_chunk(id(3)).unwrap(), Some(vec![3u8; 1000]));
    }
}
