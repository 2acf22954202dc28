//! The object data path: cutting a request body into chunks on the way in, and streaming the
//! chunks a range covers on the way out. Neither direction ever holds a whole object: at most
//! `chunk_window` chunks are in flight.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use md5::{Digest, Md5};
use node_api::direct_buffer::DirectBuffer;
use node_api::model::{BucketRecord, ChunkId, Layout, Manifest, ObjectHeaders, Sealing, Version};

use crate::cluster::{Cluster, ClusterError};
use crate::sealing::{self, AeadKey, ChunkAt, Extent, UnsealedChunk};

/// Largest object a single PUT accepts (AWS's limit).
pub const MAX_PUT_SIZE: u64 = 5 << 30;

/// Sizes that shape how objects are stored.
#[derive(Debug, Clone, Copy)]
pub struct DataConfig {
    pub chunk_size: usize,
    pub inline_threshold: usize,
    pub window: usize,
}

/// Why storing a body failed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("reading the request body failed: {0}")]
    Body(String),
    #[error("the body had {got} bytes, Content-Length announced {want}")]
    LengthMismatch { got: u64, want: u64 },
    #[error("the object exceeds the maximum size of a single PUT")]
    TooLarge,
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// What a stored body produced.
pub struct StoredData {
    pub size: u64,
    pub md5: [u8; 16],
    pub layout: Layout,
}

impl StoredData {
    /// The chunks written, when stored as `(version, part, ..)`.
    pub fn chunk_ids(&self, version: Version, part: u32) -> Vec<ChunkId> {
        match self.layout {
            Layout::Chunked { count, .. } => (0..count)
                .map(|index| ChunkId {
                    version,
                    part,
                    index,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// What seals a body on its way out of the gateway: the data key and the extent the
/// segments are bound to (see `sealing`).
#[derive(Clone)]
pub struct Sealer {
    pub key: Arc<AeadKey>,
    pub extent: Extent,
}

/// Reads `body` to its end, showing every piece to `observe` (checksums), seals it and stores
/// it as the chunks `(version, part, 0..)` (or keeps it inline when small).
/// On failure the chunks already written are deleted again.
#[allow(clippy::too_many_arguments)]
pub async fn store_body<S, E>(
    cluster: &Arc<Cluster>,
    cfg: DataConfig,
    version: Version,
    part: u32,
    sealer: Sealer,
    body: S,
    expected_len: Option<u64>,
    observe: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<StoredData, PutError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut written = 0u32;
    let mut body = body;
    let result = store_chunks(
        cluster,
        cfg,
        version,
        part,
        sealer,
        &mut body,
        expected_len,
        observe,
        &mut written,
    )
    .await;
    if matches!(result, Err(PutError::Cluster(_))) {
        drain(&mut body).await;
    }

    if result.is_err() && written > 0 {
        cluster.delete_chunks(
            (0..written)
                .map(|index| ChunkId {
                    version,
                    part,
                    index,
                })
                .collect(),
        );
    }
    result
}

/// Reads and discards what is left of a request body refused early (at most 256 MiB, for at
/// most 10 s), so that a client still sending sees the error response rather than a broken
/// connection.
pub async fn drain<S, E>(body: &mut S)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut left: u64 = 256 << 20;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(piece)) = body.next().await {
            left = left.saturating_sub(piece.len() as u64);
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

#[allow(clippy::too_many_arguments)]
async fn store_chunks<S, E>(
    cluster: &Arc<Cluster>,
    cfg: DataConfig,
    version: Version,
    part: u32,
    sealer: Sealer,
    mut body: S,
    expected_len: Option<u64>,
    observe: &mut (dyn FnMut(&[u8]) + Send),
    started: &mut u32,
) -> Result<StoredData, PutError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if expected_len.is_some_and(|l| l > MAX_PUT_SIZE) {
        return Err(PutError::TooLarge);
    }
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let chunk_size = cfg.chunk_size;
    // Memory for the next chunk: all of it when the rest of the body is known to fill it,
    // otherwise what is announced (growing if more arrives).
    let next_chunk = |size: u64| {
        let left = expected_len.map_or(64 << 10, |l| l.saturating_sub(size) as usize);
        UnsealedChunk::new(chunk_size, left)
    };
    let mut buffer = next_chunk(0);
    let mut in_flight = FuturesUnordered::new();
    // Sealing happens on the writer tasks, so chunks are encrypted in parallel.
    let send = |index: u32, plain: UnsealedChunk, last: bool| {
        let cluster = cluster.clone();
        let sealer = sealer.clone();
        tokio::spawn(async move {
            let sealed = plain.seal(&sealer.extent, &sealer.key, chunk_size, index, last);
            cluster
                .put_chunk(
                    ChunkId {
                        version,
                        part,
                        index,
                    },
                    sealed.into_bytes(),
                )
                .await
        })
    };
    // A full chunk waits until more bytes arrive or the body ends: only then is it known
    // whether it is the last one, whose last segment is sealed as such.
    let mut held: Option<UnsealedChunk> = None;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| PutError::Body(e.to_string()))?;
        md5.update(&piece);
        observe(&piece);
        if size.saturating_add(piece.len() as u64) > MAX_PUT_SIZE {
            return Err(PutError::TooLarge);
        }
        let mut rest = &piece[..];
        while !rest.is_empty() {
            if let Some(full) = held.take() {
                in_flight.push(send(*started, full, false));
                *started = started.saturating_add(1);
                while in_flight.len() >= cfg.window {
                    settle(in_flight.next().await)?;
                }
            }
            let taken = buffer.fill(rest);
            rest = rest.get(taken..).unwrap_or_default();
            size = size.saturating_add(taken as u64);
            if buffer.is_full() {
                held = Some(std::mem::replace(&mut buffer, next_chunk(size)));
            }
        }
    }
    if let Some(want) = expected_len {
        if want != size {
            return Err(PutError::LengthMismatch { got: size, want });
        }
    }
    let layout = if *started == 0 && held.is_none() && buffer.len() <= cfg.inline_threshold {
        let sealed = buffer.seal(&sealer.extent, &sealer.key, chunk_size, 0, true);
        Layout::Inline(sealed.to_vec())
    } else {
        match held.take() {
            Some(full) if buffer.is_empty() => {
                in_flight.push(send(*started, full, true));
                *started = started.saturating_add(1);
            }
            Some(full) => {
                in_flight.push(send(*started, full, false));
                in_flight.push(send(started.saturating_add(1), buffer, true));
                *started = started.saturating_add(2);
            }
            None => {
                in_flight.push(send(*started, buffer, true));
                *started = started.saturating_add(1);
            }
        }
        Layout::Chunked {
            chunk_size: cfg.chunk_size as u64,
            count: *started,
            data: None,
        }
    };
    while let Some(done) = in_flight.next().await {
        settle(Some(done))?;
    }
    Ok(StoredData {
        size,
        md5: md5.finalize().into(),
        layout,
    })
}

fn settle(
    done: Option<Result<Result<(), ClusterError>, tokio::task::JoinError>>,
) -> Result<(), PutError> {
    match done {
        Some(Ok(Ok(()))) | None => Ok(()),
        Some(Ok(Err(e))) => Err(e.into()),
        Some(Err(e)) => Err(PutError::Body(format!("chunk writer failed: {e}"))),
    }
}

/// Builds the manifest of a new object version in `bucket` (its current incarnation); its
/// user metadata is inside `sealing`.
pub fn new_manifest(
    bucket: &BucketRecord,
    key: &str,
    version: Version,
    data: StoredData,
    headers: ObjectHeaders,
    sealing: Sealing,
) -> Manifest {
    Manifest {
        acl: None,
        bucket: bucket.name.clone(),
        key: key.to_string(),
        version,
        deleted: false,
        size: data.size,
        etag: hex::encode(data.md5),
        incarnation: bucket.incarnation,
        headers,
        user_metadata: BTreeMap::new(),
        layout: data.layout,
        origin: None,
        checksums: Default::default(),
        tags: Default::default(),
        modified_ms: None,
        sealing: Some(sealing),
    }
}

/// One stretch of stored bytes a read needs: where it is, how it is sealed, and which
/// plaintext bytes of it the range wants.
struct Piece {
    stored: Stored,
    /// Plaintext offsets wanted, relative to the chunk.
    within: Range<usize>,
    /// How to open it; `None` for data stored before encryption existed.
    open: Option<Opening>,
}

/// Where a piece's stored bytes are.
enum Stored {
    /// The manifest's inline bytes, copied once into the buffer they are opened in.
    Inline(DirectBuffer),
    Chunk(ChunkId),
}

struct Opening {
    extent: Extent,
    at: ChunkAt,
}

/// The bytes of `range` of an object, fetched chunk by chunk with a read-ahead of `window`.
/// Only the segments the range covers are decrypted. A chunk copy that fails authentication is
/// never returned: the next replica's is used, and the bad copy rewritten; with no good copy
/// the stream ends in an error.
pub fn read_range(
    cluster: Arc<Cluster>,
    manifest: &Manifest,
    key: Option<Arc<AeadKey>>,
    range: Range<u64>,
    window: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    let sealing = manifest.sealing.as_ref();
    let object_extent = |part: u32, version: Version, nonce_base: Option<[u8; 12]>| {
        sealing.map(|s| Extent {
            bucket: manifest.bucket.clone(),
            key: manifest.key.clone(),
            version,
            part,
            nonce_base: nonce_base.unwrap_or(s.nonce_base),
        })
    };
    let pieces: Vec<Piece> = match &manifest.layout {
        Layout::Inline(data) => {
            let extent = sealing.and_then(|s| object_extent(0, s.data_version, None));
            vec![Piece {
                stored: Stored::Inline(DirectBuffer::copy_of(data)),
                within: range.start as usize..range.end as usize,
                open: extent.map(|extent| Opening {
                    extent,
                    at: ChunkAt {
                        chunk_size: sealing::SEGMENT,
                        index: 0,
                        plain_len: manifest.size as usize,
                        last: true,
                    },
                }),
            }]
        }
        Layout::Chunked {
            chunk_size,
            count,
            data,
        } => {
            let version = data.unwrap_or(manifest.version);
            ChunkRun {
                version,
                part: 0,
                offset: 0,
                size: manifest.size,
                chunk_size: *chunk_size,
                count: *count,
                extent: object_extent(0, sealing.map_or(version, |s| s.data_version), None),
            }
            .pieces(&range)
        }
        Layout::Parts(parts) => {
            let mut offset = 0;
            let mut pieces = Vec::new();
            for p in parts {
                let run = ChunkRun {
                    version: p.version,
                    part: p.number,
                    offset,
                    size: p.size,
                    chunk_size: p.chunk_size,
                    count: p.count,
                    extent: object_extent(p.number, p.version, p.nonce_base),
                };
                let within = range.start.max(offset)..range.end.min(offset.saturating_add(p.size));
                if !within.is_empty() {
                    pieces.extend(run.pieces(&within));
                }
                offset = offset.saturating_add(p.size);
            }
            pieces
        }
    };
    // Sync for response bodies: the chunk reads hold node streams, which are only Send.
    let chunks = futures::stream::iter(pieces).map(move |piece| {
        let cluster = cluster.clone();
        let key = key.clone();
        let metrics = cluster.metrics.clone();
        async move {
            // Nodes check unsealed chunks against their checksums; sealed ones are
            // checked here, by their tags.
            let node_checks = piece.open.is_none();
            let open = move |stored: DirectBuffer| -> Result<Bytes, String> {
                match (&piece.open, &key) {
                    (None, _) => {
                        if piece.within.end > stored.len() {
                            return Err(format!(
                                "stored chunk is {} bytes, expected at least {}",
                                stored.len(),
                                piece.within.end
                            ));
                        }
                        Ok(stored.into_bytes().slice(piece.within.clone()))
                    }
                    (Some(o), Some(key)) => {
                        if !piece.within.is_empty() {
                            let segments = (piece.within.end.saturating_sub(1) / sealing::SEGMENT)
                                .saturating_sub(piece.within.start / sealing::SEGMENT)
                                .saturating_add(1);
                            metrics.segments_opened.inc_by(segments as u64);
                        }
                        o.extent
                            .open_chunk(key, &o.at, stored, piece.within.clone())
                            .map_err(|e| e.to_string())
                    }
                    (Some(_), None) => Err("no data key for a sealed object".into()),
                }
            };
            match piece.stored {
                Stored::Inline(data) => open(data).map_err(std::io::Error::other),
                Stored::Chunk(id) => cluster
                    .get_chunk_checked(id, node_checks, open)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string())),
            }
        }
    });
    sync_wrapper::SyncStream::new(chunks.buffered(window.max(1)))
}

/// A run of chunks `(version, part, 0..count)` holding the `size` object bytes from `offset` on.
struct ChunkRun {
    version: Version,
    part: u32,
    offset: u64,
    size: u64,
    chunk_size: u64,
    count: u32,
    /// What the run's segments are bound to, when sealed.
    extent: Option<Extent>,
}

impl ChunkRun {
    /// The chunks that `range` (object offsets, inside this run) covers, with the plaintext
    /// slice of each that it needs.
    fn pieces(&self, range: &Range<u64>) -> Vec<Piece> {
        // A run without chunks, or a chunk size of 0 (a corrupt manifest), holds nothing.
        let (Some(cs), Some(last_chunk)) =
            (NonZeroU64::new(self.chunk_size), self.count.checked_sub(1))
        else {
            return Vec::new();
        };
        let start = range.start.saturating_sub(self.offset);
        let end = range.end.saturating_sub(self.offset);
        let Some(last_byte) = end.checked_sub(1).filter(|_| start < end) else {
            return Vec::new();
        };
        let first = u32::try_from(start / cs).unwrap_or(u32::MAX);
        let last = u32::try_from(last_byte / cs)
            .unwrap_or(u32::MAX)
            .min(last_chunk);
        let cs = cs.get();
        (first..=last)
            .map(|index| {
                let chunk_start = u64::from(index).saturating_mul(cs);
                let from = start.max(chunk_start).saturating_sub(chunk_start);
                let to = end
                    .min(chunk_start.saturating_add(cs))
                    .saturating_sub(chunk_start);
                Piece {
                    stored: Stored::Chunk(ChunkId {
                        version: self.version,
                        part: self.part,
                        index,
                    }),
                    within: from as usize..to as usize,
                    open: self.extent.clone().map(|extent| Opening {
                        extent,
                        at: ChunkAt {
                            chunk_size: cs as usize,
                            index,
                            plain_len: self.size.saturating_sub(chunk_start).min(cs) as usize,
                            last: index == last_chunk,
                        },
                    }),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(size: u64, chunk_size: u64, count: u32) -> ChunkRun {
        ChunkRun {
            version: Version {
                hlc: 1,
                tiebreak: 2,
            },
            part: 0,
            offset: 0,
            size,
            chunk_size,
            count,
            extent: None,
        }
    }

    fn spans(pieces: &[Piece]) -> Vec<Range<usize>> {
        pieces.iter().map(|p| p.within.clone()).collect()
    }

    #[test]
    fn a_range_maps_to_the_chunks_it_covers() {
        let r = run(250, 100, 3);
        assert_eq!(spans(&r.pieces(&(50..250))), [50..100, 0..100, 0..50]);
        assert_eq!(spans(&r.pieces(&(100..101))), vec![(0..1)]);
        assert!(r.pieces(&(7..7)).is_empty());
    }

    /// Manifests come from nodes: a chunk size of 0, no chunks or a range past the run give no
    /// pieces (the read then ends short and fails), never a division by zero or an overflow.
    #[test]
    fn corrupt_runs_give_no_pieces_and_no_panic() {
        assert!(run(250, 0, 3).pieces(&(0..10)).is_empty());
        assert!(run(250, 100, 0).pieces(&(0..10)).is_empty());
        let huge = run(u64::MAX, 1, u32::MAX);
        assert_eq!(huge.pieces(&(u64::MAX - 1..u64::MAX)).len(), 0);
        // A size beyond its chunks: the bytes past the last chunk are in no piece.
        let short = run(1 << 40, 100, 2);
        assert!(short.pieces(&((1 << 33)..(1 << 33) + 10)).is_empty());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 10..5;
        assert!(run(250, 100, 3).pieces(&reversed).is_empty());
    }
}
