//! The object data path: cutting a request body into chunks on the way in, and streaming the
//! chunks a range covers on the way out. Neither direction ever holds a whole object: at most
//! `chunk_window` chunks are in flight.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use md5::{Digest, Md5};
use storage_node::model::{ChunkId, Layout, Manifest, ObjectHeaders, Version};

use crate::cluster::{Cluster, ClusterError};

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

/// Reads `body` to its end, showing every piece to `observe` (checksums), and stores it as the
/// chunks `(version, part, 0..)` (or keeps it inline when small).
/// On failure the chunks already written are deleted again.
pub async fn store_body<S, E>(
    cluster: &Arc<Cluster>,
    cfg: DataConfig,
    version: Version,
    part: u32,
    body: S,
    expected_len: Option<u64>,
    observe: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<StoredData, PutError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut written = 0u32;
    let result = store_chunks(
        cluster,
        cfg,
        version,
        part,
        body,
        expected_len,
        observe,
        &mut written,
    )
    .await;
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

#[allow(clippy::too_many_arguments)]
async fn store_chunks<S, E>(
    cluster: &Arc<Cluster>,
    cfg: DataConfig,
    version: Version,
    part: u32,
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
    let mut buffer = BytesMut::with_capacity(
        cfg.chunk_size
            .min(expected_len.unwrap_or(64 << 10) as usize + 1),
    );
    let mut in_flight = FuturesUnordered::new();
    let send = |index: u32, data: Bytes| {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            cluster
                .put_chunk(
                    ChunkId {
                        version,
                        part,
                        index,
                    },
                    data,
                )
                .await
        })
    };
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| PutError::Body(e.to_string()))?;
        md5.update(&piece);
        observe(&piece);
        size += piece.len() as u64;
        if size > MAX_PUT_SIZE {
            return Err(PutError::TooLarge);
        }
        let mut rest = &piece[..];
        while !rest.is_empty() {
            let take = (cfg.chunk_size - buffer.len()).min(rest.len());
            buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if buffer.len() == cfg.chunk_size {
                let data = buffer.split().freeze();
                buffer.reserve(cfg.chunk_size);
                in_flight.push(send(*started, data));
                *started += 1;
                while in_flight.len() >= cfg.window {
                    settle(in_flight.next().await)?;
                }
            }
        }
    }
    if let Some(want) = expected_len {
        if want != size {
            return Err(PutError::LengthMismatch { got: size, want });
        }
    }
    let layout = if *started == 0 && buffer.len() <= cfg.inline_threshold {
        Layout::Inline(buffer.to_vec())
    } else {
        if !buffer.is_empty() {
            in_flight.push(send(*started, buffer.split().freeze()));
            *started += 1;
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

/// Builds the manifest of a new object version.
pub fn new_manifest(
    bucket: &str,
    key: &str,
    version: Version,
    data: StoredData,
    headers: ObjectHeaders,
    user_metadata: BTreeMap<String, String>,
) -> Manifest {
    Manifest {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version,
        deleted: false,
        size: data.size,
        etag: hex::encode(data.md5),
        headers,
        user_metadata,
        layout: data.layout,
        origin: None,
        checksums: Default::default(),
        tags: Default::default(),
        modified_ms: None,
    }
}

/// The bytes of `range` of an object, fetched chunk by chunk with a read-ahead of `window`.
pub fn read_range(
    cluster: Arc<Cluster>,
    manifest: &Manifest,
    range: Range<u64>,
    window: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let pieces: Vec<(Option<ChunkId>, Bytes, Range<usize>)> = match &manifest.layout {
        Layout::Inline(data) => {
            let data = Bytes::copy_from_slice(data);
            vec![(None, data, range.start as usize..range.end as usize)]
        }
        Layout::Chunked {
            chunk_size,
            count,
            data,
        } => Extent {
            version: data.unwrap_or(manifest.version),
            part: 0,
            offset: 0,
            chunk_size: *chunk_size,
            count: *count,
        }
        .pieces(&range),
        Layout::Parts(parts) => {
            let mut offset = 0;
            let mut pieces = Vec::new();
            for p in parts {
                let extent = Extent {
                    version: p.version,
                    part: p.number,
                    offset,
                    chunk_size: p.chunk_size,
                    count: p.count,
                };
                let within = range.start.max(offset)..range.end.min(offset + p.size);
                if !within.is_empty() {
                    pieces.extend(extent.pieces(&within));
                }
                offset += p.size;
            }
            pieces
        }
    };
    futures::stream::iter(pieces)
        .map(move |(id, inline, within)| {
            let cluster = cluster.clone();
            async move {
                let data = match id {
                    None => inline,
                    Some(id) => cluster
                        .get_chunk(id)
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))?,
                };
                if within.end > data.len() {
                    return Err(std::io::Error::other(format!(
                        "stored chunk is {} bytes, expected at least {}",
                        data.len(),
                        within.end
                    )));
                }
                Ok(data.slice(within))
            }
        })
        .buffered(window.max(1))
}

/// A run of chunks `(version, part, 0..count)` holding the object bytes from `offset` on.
struct Extent {
    version: Version,
    part: u32,
    offset: u64,
    chunk_size: u64,
    count: u32,
}

impl Extent {
    /// The chunks that `range` (object offsets, inside this extent) covers, with the slice of
    /// each that it needs.
    fn pieces(&self, range: &Range<u64>) -> Vec<(Option<ChunkId>, Bytes, Range<usize>)> {
        if range.is_empty() || self.count == 0 {
            return Vec::new();
        }
        let cs = self.chunk_size;
        let (start, end) = (range.start - self.offset, range.end - self.offset);
        let first = (start / cs) as u32;
        let last = (((end - 1) / cs) as u32).min(self.count - 1);
        (first..=last)
            .map(|index| {
                let chunk_start = u64::from(index) * cs;
                let from = start.max(chunk_start) - chunk_start;
                let to = end.min(chunk_start + cs) - chunk_start;
                let id = ChunkId {
                    version: self.version,
                    part: self.part,
                    index,
                };
                (Some(id), Bytes::new(), from as usize..to as usize)
            })
            .collect()
    }
}
