//! Chunk streams: long-lived connections that carry chunk PUTs from one client (a gateway) to
//! one node, one chunk after another, outside HTTP/2.
//!
//! Over HTTP/2 a chunk arrives in DATA frames that the node's HTTP stack reads into its own
//! buffers, and the node then copies them into the aligned buffer it writes with O_DIRECT;
//! each multi-MiB frame also lands in freshly faulted pages. On a chunk stream the node reads
//! the chunk's bytes from the socket straight into that aligned buffer. A stream is an
//! HTTP/1.1 request `GET /v1/chunk-stream` (authenticated and epoch-checked like every other
//! request, inside TLS when the node serves it) upgraded to protocol [`PROTOCOL`]; after the
//! `101` both ends speak the frames below until either closes. Clients keep idle streams in a
//! small pool ([`StreamPool`]) and open more as chunk PUTs overlap.
//!
//! A PUT (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | `b'P'` |
//! | 1 | 1 if an epoch follows is meaningful, else 0 |
//! | 8 | the sender's map epoch |
//! | 24 | the chunk id ([`ChunkId::to_bytes`]) |
//! | 1 | length of the owner's node id (0: not a hinted write) |
//! | n | the owner's node id |
//! | 4 | the chunk's length (at most [`MAX_CHUNK_BYTES`]) |
//! | len | the chunk |
//!
//! The answer: status (2 bytes: 204 stored, 409 stale epoch, 400, 500 …), the node's map epoch
//! (8), a message's length (2) and the message. The node reads a whole chunk before it answers,
//! so after any answer the stream is ready for the next PUT; it closes the stream on anything
//! it cannot read as a frame.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::direct_buffer::DirectBuffer;
use crate::model::ChunkId;
use crate::server::{NodeState, MAX_CHUNK_BYTES};

/// The path a stream is opened on.
pub const PATH: &str = "/v1/chunk-stream";
/// The protocol named in the `Upgrade` header.
pub const PROTOCOL: &str = "s3store-chunks/1";

const PUT: u8 = b'P';
/// Fixed part of a PUT's header: tag, epoch flag, epoch, chunk id, owner length.
const PUT_FIXED: usize = 1 + 1 + 8 + ChunkId::BYTES + 1;
/// Fixed part of an answer: status, epoch, message length.
const ANSWER_FIXED: usize = 2 + 8 + 2;
/// A node closes a stream that has carried nothing for this long.
const NODE_IDLE: Duration = Duration::from_secs(120);
/// A client reuses only streams idle for less than this (well inside [`NODE_IDLE`]).
const CLIENT_IDLE: Duration = Duration::from_secs(30);
/// Idle streams a client keeps per node.
const POOLED_STREAMS: usize = 32;

/// A chunk PUT as it travels, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutHeader {
    pub epoch: Option<u64>,
    pub id: ChunkId,
    pub owner: Option<String>,
    pub len: u32,
}

impl PutHeader {
    pub fn encode(&self) -> Bytes {
        let owner = self.owner.as_deref().unwrap_or("");
        let mut out = BytesMut::with_capacity(PUT_FIXED + owner.len() + 4);
        out.put_u8(PUT);
        out.put_u8(u8::from(self.epoch.is_some()));
        out.put_u64(self.epoch.unwrap_or(0));
        out.put_slice(&self.id.to_bytes());
        out.put_u8(u8::try_from(owner.len()).expect("node ids are at most 128 bytes"));
        out.put_slice(owner.as_bytes());
        out.put_u32(self.len);
        out.freeze()
    }

    /// Reads a header; `None` when the stream ends cleanly before one.
    async fn read<R: AsyncRead + Unpin>(from: &mut R) -> std::io::Result<Option<PutHeader>> {
        let mut fixed = [0u8; PUT_FIXED];
        match from.read_exact(&mut fixed[..1]).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        if fixed[0] != PUT {
            return Err(invalid("not a chunk PUT"));
        }
        from.read_exact(&mut fixed[1..]).await?;
        let epoch = match fixed[1] {
            0 => None,
            1 => Some(u64::from_be_bytes(
                fixed[2..10].try_into().expect("8 bytes"),
            )),
            _ => return Err(invalid("bad epoch flag")),
        };
        let id = ChunkId::from_bytes(&fixed[10..10 + ChunkId::BYTES])
            .ok_or_else(|| invalid("bad chunk id"))?;
        let mut owner = vec![0u8; usize::from(fixed[PUT_FIXED - 1])];
        from.read_exact(&mut owner).await?;
        let owner = match owner.is_empty() {
            true => None,
            false => Some(
                String::from_utf8(owner)
                    .ok()
                    .filter(|o| crate::server::valid_node_id(o))
                    .ok_or_else(|| invalid("bad hint owner"))?,
            ),
        };
        let len = from.read_u32().await?;
        Ok(Some(PutHeader {
            epoch,
            id,
            owner,
            len,
        }))
    }
}

/// A node's answer to one PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub epoch: u64,
    pub message: String,
}

impl Answer {
    fn encode(&self) -> Bytes {
        let message = &self.message.as_bytes()[..self.message.len().min(1024)];
        let mut out = BytesMut::with_capacity(ANSWER_FIXED + message.len());
        out.put_u16(self.status);
        out.put_u64(self.epoch);
        out.put_u16(message.len() as u16);
        out.put_slice(message);
        out.freeze()
    }

    async fn read<R: AsyncRead + Unpin>(from: &mut R) -> std::io::Result<Answer> {
        let mut fixed = [0u8; ANSWER_FIXED];
        from.read_exact(&mut fixed).await?;
        let mut message = vec![0u8; usize::from(u16::from_be_bytes([fixed[10], fixed[11]]))];
        from.read_exact(&mut message).await?;
        Ok(Answer {
            status: u16::from_be_bytes([fixed[0], fixed[1]]),
            epoch: u64::from_be_bytes(fixed[2..10].try_into().expect("8 bytes")),
            message: String::from_utf8_lossy(&message).into_owned(),
        })
    }
}

fn invalid(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

// ---- node side ----

/// Whether `req` asks for a chunk stream.
pub fn wants_stream(req: &Request<Incoming>) -> bool {
    req.uri().path() == PATH
}

/// Answers an (authenticated, current-epoch) stream request with `101 Switching Protocols` and
/// serves the stream once hyper hands the connection over.
pub fn accept(state: Arc<NodeState>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let asks = req.version() == http::Version::HTTP_11
        && req
            .headers()
            .get(http::header::UPGRADE)
            .is_some_and(|u| u.as_bytes() == PROTOCOL.as_bytes());
    if !asks {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"a chunk stream is an HTTP/1.1 upgrade to s3store-chunks/1",
        )));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => serve(&state, TokioIo::new(upgraded)).await,
            Err(e) => tracing::debug!("chunk stream upgrade failed: {e}"),
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("upgrade"),
    );
    r.headers_mut().insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static(PROTOCOL),
    );
    r
}

/// Serves PUTs on one stream until the client closes it, goes idle or sends something else.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(state: &NodeState, mut stream: S) {
    loop {
        let header = match tokio::time::timeout(NODE_IDLE, PutHeader::read(&mut stream)).await {
            Ok(Ok(Some(header))) => header,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                tracing::debug!("chunk stream closed: {e}");
                return;
            }
        };
        let started = Instant::now();
        let len = header.len as usize;
        if len > MAX_CHUNK_BYTES {
            // The chunk is not read, so the stream cannot go on.
            let answer = state.answer(StatusCode::PAYLOAD_TOO_LARGE, "chunk too large");
            let _ = stream.write_all(&answer.encode()).await;
            let _ = stream.flush().await;
            return;
        }
        let mut data = DirectBuffer::with_capacity(len);
        data.set_len(len);
        if let Err(e) = stream.read_exact(&mut data).await {
            tracing::debug!("chunk stream closed inside a chunk: {e}");
            return;
        }
        state.metrics.bytes_in.inc_by(len as u64);
        let answer = store(state, header, data).await;
        state.metrics.observe(
            "put_chunk",
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            started,
        );
        if stream.write_all(&answer.encode()).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// Stores one chunk read from a stream, unless the sender's map epoch is stale.
async fn store(state: &NodeState, header: PutHeader, data: DirectBuffer) -> Answer {
    if let Some(why) = state.stale_epoch(header.epoch) {
        return state.answer(StatusCode::CONFLICT, &why);
    }
    match crate::server::store_chunk(state, header.id, header.owner, data).await {
        Ok(()) => state.answer(StatusCode::NO_CONTENT, ""),
        Err(why) => state.answer(StatusCode::INTERNAL_SERVER_ERROR, &why),
    }
}

impl NodeState {
    fn answer(&self, status: StatusCode, message: &str) -> Answer {
        Answer {
            status: status.as_u16(),
            epoch: self.epoch.load(Ordering::SeqCst),
            message: message.to_string(),
        }
    }
}

// ---- client side ----

/// One open stream to a node.
pub type Stream = TokioIo<Upgraded>;

/// Why a stream could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The node does not serve chunk streams (it answered the request with 404).
    Unsupported,
    /// The node refused the request with this status and body (e.g. 409, a stale epoch).
    Refused(StatusCode, Bytes, Option<u64>),
    /// Connecting or the HTTP exchange failed.
    Failed(String),
}

/// Opens a stream over `io` (a connected TCP or TLS stream) by upgrading an HTTP/1.1 request
/// that carries `headers` (authentication, epoch).
pub async fn open<IO>(io: IO, host: &str, headers: http::HeaderMap) -> Result<Stream, OpenError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| OpenError::Failed(e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(failed)?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!("chunk stream connection: {e}");
        }
    });
    let mut request = Request::get(PATH)
        .header(http::header::HOST, host)
        .header(http::header::CONNECTION, "upgrade")
        .header(http::header::UPGRADE, PROTOCOL)
        .body(Empty::<Bytes>::new())
        .map_err(|e| OpenError::Failed(e.to_string()))?;
    request.headers_mut().extend(headers);
    let mut response = sender.send_request(request).await.map_err(failed)?;
    match response.status() {
        StatusCode::SWITCHING_PROTOCOLS => {}
        StatusCode::NOT_FOUND => return Err(OpenError::Unsupported),
        status => {
            use http_body_util::BodyExt;
            let epoch = crate::server::epoch_of(response.headers());
            let body = http_body_util::Limited::new(response.into_body(), 4096)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(OpenError::Refused(status, body, epoch));
        }
    }
    let upgraded = hyper::upgrade::on(&mut response).await.map_err(failed)?;
    Ok(TokioIo::new(upgraded))
}

/// Sends one chunk on `stream` and reads the node's answer.
pub async fn put(stream: &mut Stream, header: &PutHeader, data: &Bytes) -> std::io::Result<Answer> {
    debug_assert_eq!(header.len as usize, data.len());
    let mut out = header.encode().chain(data.clone());
    stream.write_all_buf(&mut out).await?;
    stream.flush().await?;
    Answer::read(stream).await
}

/// The idle streams a client keeps to one node.
#[derive(Default)]
pub struct StreamPool {
    idle: Mutex<Vec<(Instant, Stream)>>,
    unsupported: AtomicBool,
}

impl StreamPool {
    /// Whether the node answered that it serves no streams (clients then use HTTP/2).
    pub fn unsupported(&self) -> bool {
        self.unsupported.load(Ordering::Relaxed)
    }

    pub fn mark_unsupported(&self) {
        self.unsupported.store(true, Ordering::Relaxed);
    }

    /// The most recently used idle stream, if one is recent enough.
    pub fn take(&self) -> Option<Stream> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|(since, _)| since.elapsed() < CLIENT_IDLE);
        idle.pop().map(|(_, stream)| stream)
    }

    /// Keeps `stream` for the next PUT (dropped when the pool is full).
    pub fn give_back(&self, stream: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOLED_STREAMS {
            idle.push((Instant::now(), stream));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Version;

    fn id() -> ChunkId {
        ChunkId {
            version: Version::from_bytes(&[7u8; 16]).unwrap(),
            part: 2,
            index: 9,
        }
    }

    #[tokio::test]
    async fn headers_and_answers_round_trip() {
        for header in [
            PutHeader {
                epoch: Some(42),
                id: id(),
                owner: Some("node-3".into()),
                len: 4 << 20,
            },
            PutHeader {
                epoch: None,
                id: id(),
                owner: None,
                len: 0,
            },
        ] {
            let bytes = header.encode();
            let read = PutHeader::read(&mut &bytes[..]).await.unwrap();
            assert_eq!(read, Some(header));
        }
        let answer = Answer {
            status: 409,
            epoch: 7,
            message: "stale".into(),
        };
        assert_eq!(
            Answer::read(&mut &answer.encode()[..]).await.unwrap(),
            answer
        );
        assert_eq!(PutHeader::read(&mut &b""[..]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn malformed_headers_are_refused() {
        let good = PutHeader {
            epoch: Some(1),
            id: id(),
            owner: Some("n1".into()),
            len: 10,
        }
        .encode();
        let mut wrong_tag = good.to_vec();
        wrong_tag[0] = b'G';
        let mut wrong_flag = good.to_vec();
        wrong_flag[1] = 9;
        let mut bad_owner = good.to_vec();
        bad_owner[PUT_FIXED] = b'/';
        let truncated = &good[..good.len() - 1];
        for bad in [&wrong_tag[..], &wrong_flag[..], &bad_owner[..], truncated] {
            assert!(PutHeader::read(&mut &bad[..]).await.is_err());
        }
    }
}
