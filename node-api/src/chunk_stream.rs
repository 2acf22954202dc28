//! Chunk streams: long-lived connections that carry chunk PUTs and GETs from one client (a
//! gateway) to one node, one chunk after another, outside HTTP/2.
//!
//! Over HTTP/2 a chunk arrives in DATA frames that the node's HTTP stack reads into its own
//! buffers, and the node then copies them into the aligned buffer it writes with O_DIRECT;
//! each multi-MiB frame also lands in freshly faulted pages. On a chunk stream the node reads
//! the chunk's bytes from the socket straight into that aligned buffer; a GET's reader reads
//! them straight into the buffer it opens them in. A stream is an HTTP/1.1 request
//! `GET /v1/chunk-stream` (inside the connection's mutual TLS, [`crate::identity`], and
//! epoch-checked like every other request) upgraded to protocol [`PROTOCOL`]; after the
//! `101` both ends speak the frames below until either closes. Clients keep idle streams in a
//! small pool ([`StreamPool`]) and open more as chunk requests overlap.
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
//! so after any answer the stream is ready for the next frame; it closes the stream on anything
//! it cannot read as a frame.
//!
//! A GET:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | `b'G'` |
//! | 1 | epoch flag, as in a PUT |
//! | 8 | the sender's map epoch |
//! | 24 | the chunk id |
//! | 1 | 1: check the bytes against the stored checksum before sending them; 0: send them unchecked (the reader authenticates what it reads: sealed chunks) |
//!
//! The answer as above (200 found, 404 not held, 409 …), and after a 200 the chunk's length (4)
//! and the chunk. A copy that fails its check is marked bad and answered 404, as over HTTP.
//!
//! A lane request is the single byte `b'L'`. The answer as above (200, or 503 when the node
//! has too many tickets outstanding), and after a 200 a [`LaneSecret`]: the ticket and key of
//! a read lane ([`crate::read_lane`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::direct_buffer::DirectBuffer;
use crate::model::ChunkId;
use crate::read_lane::LaneSecret;
use crate::wire::MAX_CHUNK_BYTES;

/// The path a stream is opened on.
pub const PATH: &str = "/v1/chunk-stream";
/// The protocol named in the `Upgrade` header.
pub const PROTOCOL: &str = "s3store-chunks/1";

const PUT: u8 = b'P';
const GET: u8 = b'G';
const LANE: u8 = b'L';
/// Fixed part of a PUT's header: tag, epoch flag, epoch, chunk id, owner length.
const PUT_FIXED: usize = 1 + 1 + 8 + ChunkId::BYTES + 1;
/// A GET's header: tag, epoch flag, epoch, chunk id, check flag.
pub const GET_LEN: usize = 1 + 1 + 8 + ChunkId::BYTES + 1;
/// What follows the tag and epoch flag in both: epoch, chunk id, one byte.
const REST_FIXED: usize = 8 + ChunkId::BYTES + 1;
const _: () = assert!(PUT_FIXED == 2 + REST_FIXED && GET_LEN == 2 + REST_FIXED);
/// Fixed part of an answer: status, epoch, message length.
const ANSWER_FIXED: usize = 2 + 8 + 2;
/// A node closes a stream that has carried nothing for this long.
pub const NODE_IDLE: Duration = Duration::from_secs(120);
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
        // Node ids are at most 128 bytes (`wire::valid_node_id`); a longer one is cut, and
        // the node refuses it as a bad owner.
        let owner = owner
            .as_bytes()
            .get(..usize::from(u8::MAX))
            .unwrap_or(owner.as_bytes());
        let mut out =
            BytesMut::with_capacity(PUT_FIXED.saturating_add(owner.len()).saturating_add(4));
        out.put_u8(PUT);
        out.put_u8(u8::from(self.epoch.is_some()));
        out.put_u64(self.epoch.unwrap_or(0));
        out.put_slice(&self.id.to_bytes());
        out.put_u8(u8::try_from(owner.len()).unwrap_or(u8::MAX));
        out.put_slice(owner);
        out.put_u32(self.len);
        out.freeze()
    }
}

/// A chunk GET as it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetHeader {
    pub epoch: Option<u64>,
    pub id: ChunkId,
    /// The node checks the bytes against its stored checksum before sending them.
    pub verify: bool,
}

impl GetHeader {
    pub fn encode(&self) -> [u8; GET_LEN] {
        let mut out = [0u8; GET_LEN];
        out[0] = GET;
        out[1] = u8::from(self.epoch.is_some());
        out[2..10].copy_from_slice(&self.epoch.unwrap_or(0).to_be_bytes());
        out[10..10 + ChunkId::BYTES].copy_from_slice(&self.id.to_bytes());
        out[GET_LEN - 1] = u8::from(self.verify);
        out
    }
}

/// One request read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Put(PutHeader),
    Get(GetHeader),
    /// Asks for a read lane's ticket and key.
    Lane,
}

impl Frame {
    /// Reads a request's header; `None` when the stream ends cleanly before one.
    pub async fn read<R: AsyncRead + Unpin>(from: &mut R) -> std::io::Result<Option<Frame>> {
        let tag = match from.read_u8().await {
            Ok(tag @ (PUT | GET)) => tag,
            Ok(LANE) => return Ok(Some(Frame::Lane)),
            Ok(_) => return Err(invalid("not a chunk PUT or GET")),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        // The epoch flag is checked before waiting for the rest: a stray HTTP request
        // ("GET …", "PUT …") is refused at once.
        let epoch_flag = from.read_u8().await?;
        if epoch_flag > 1 {
            return Err(invalid("bad epoch flag"));
        }
        // The rest of the fixed part, the same shape for both: epoch, chunk id, one byte.
        let mut rest = [0u8; REST_FIXED];
        from.read_exact(&mut rest).await?;
        let [e0, e1, e2, e3, e4, e5, e6, e7, id @ .., last] = rest;
        let epoch =
            (epoch_flag == 1).then_some(u64::from_be_bytes([e0, e1, e2, e3, e4, e5, e6, e7]));
        let id = ChunkId::from_bytes(&id).ok_or_else(|| invalid("bad chunk id"))?;
        if tag == GET {
            let verify = match last {
                0 => false,
                1 => true,
                _ => return Err(invalid("bad check flag")),
            };
            return Ok(Some(Frame::Get(GetHeader { epoch, id, verify })));
        }
        let mut owner = vec![0u8; usize::from(last)];
        from.read_exact(&mut owner).await?;
        let owner = match owner.is_empty() {
            true => None,
            false => Some(
                String::from_utf8(owner)
                    .ok()
                    .filter(|o| crate::wire::valid_node_id(o))
                    .ok_or_else(|| invalid("bad hint owner"))?,
            ),
        };
        let len = from.read_u32().await?;
        Ok(Some(Frame::Put(PutHeader {
            epoch,
            id,
            owner,
            len,
        })))
    }
}

/// A node's answer to one PUT or GET (a GET's chunk follows a 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub epoch: u64,
    pub message: String,
}

impl Answer {
    pub fn encode(&self) -> Bytes {
        let message = self.message.as_bytes();
        let message = message.get(..1024).unwrap_or(message);
        let mut out = BytesMut::with_capacity(ANSWER_FIXED.saturating_add(message.len()));
        out.put_u16(self.status);
        out.put_u64(self.epoch);
        out.put_u16(message.len() as u16);
        out.put_slice(message);
        out.freeze()
    }

    pub async fn read<R: AsyncRead + Unpin>(from: &mut R) -> std::io::Result<Answer> {
        let mut fixed = [0u8; ANSWER_FIXED];
        from.read_exact(&mut fixed).await?;
        let [s0, s1, e0, e1, e2, e3, e4, e5, e6, e7, m0, m1] = fixed;
        let mut message = vec![0u8; usize::from(u16::from_be_bytes([m0, m1]))];
        from.read_exact(&mut message).await?;
        Ok(Answer {
            status: u16::from_be_bytes([s0, s1]),
            epoch: u64::from_be_bytes([e0, e1, e2, e3, e4, e5, e6, e7]),
            message: String::from_utf8_lossy(&message).into_owned(),
        })
    }
}

pub fn invalid(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

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
            let epoch = crate::wire::epoch_of(response.headers());
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

/// One request on a stream.
pub enum Exchange<'a> {
    /// Stores a chunk (its bytes).
    Put(&'a PutHeader, &'a Bytes),
    /// Reads a chunk.
    Get(&'a GetHeader),
}

/// Sends one request on `stream` and reads the node's answer and, for a GET answered 200, the
/// chunk, straight into an aligned buffer (at most [`MAX_CHUNK_BYTES`]; a longer one is an
/// error and leaves the stream unusable).
pub async fn exchange(
    stream: &mut Stream,
    request: &Exchange<'_>,
) -> std::io::Result<(Answer, Option<DirectBuffer>)> {
    match request {
        Exchange::Put(header, data) => {
            debug_assert_eq!(header.len as usize, data.len());
            let mut out = header.encode().chain((*data).clone());
            stream.write_all_buf(&mut out).await?;
        }
        Exchange::Get(header) => stream.write_all(&header.encode()).await?,
    }
    stream.flush().await?;
    let answer = Answer::read(stream).await?;
    if !matches!(request, Exchange::Get(_)) || answer.status != StatusCode::OK.as_u16() {
        return Ok((answer, None));
    }
    let len = stream.read_u32().await? as usize;
    if len > MAX_CHUNK_BYTES {
        return Err(invalid("chunk longer than any chunk"));
    }
    let mut data = DirectBuffer::with_capacity(len);
    data.set_len(len);
    stream.read_exact(&mut data).await?;
    Ok((answer, Some(data)))
}

/// Asks the node for a read lane ([`crate::read_lane`]): its answer and, after a 200, the
/// lane's ticket and key.
pub async fn ask_lane(stream: &mut Stream) -> std::io::Result<(Answer, Option<LaneSecret>)> {
    stream.write_all(&[LANE]).await?;
    stream.flush().await?;
    let answer = Answer::read(stream).await?;
    if answer.status != StatusCode::OK.as_u16() {
        return Ok((answer, None));
    }
    let mut secret = [0u8; LaneSecret::BYTES];
    stream.read_exact(&mut secret).await?;
    Ok((answer, Some(LaneSecret::decode(&secret))))
}

/// The idle connections a client keeps to one node: chunk streams, or read lanes.
pub struct StreamPool<S = Stream> {
    idle: Mutex<Vec<(Instant, S)>>,
    unsupported: AtomicBool,
}

impl<S> Default for StreamPool<S> {
    fn default() -> Self {
        StreamPool {
            idle: Mutex::new(Vec::new()),
            unsupported: AtomicBool::new(false),
        }
    }
}

impl<S> StreamPool<S> {
    /// Whether the node answered that it serves no streams (clients then use HTTP/2).
    pub fn unsupported(&self) -> bool {
        self.unsupported.load(Ordering::Relaxed)
    }

    pub fn mark_unsupported(&self) {
        self.unsupported.store(true, Ordering::Relaxed);
    }

    /// The most recently used idle stream, if one is recent enough.
    pub fn take(&self) -> Option<S> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|(since, _)| since.elapsed() < CLIENT_IDLE);
        idle.pop().map(|(_, stream)| stream)
    }

    /// Keeps `stream` for the next request (dropped when the pool is full).
    pub fn give_back(&self, stream: S) {
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
            let read = Frame::read(&mut &bytes[..]).await.unwrap();
            assert_eq!(read, Some(Frame::Put(header)));
        }
        for header in [
            GetHeader {
                epoch: Some(3),
                id: id(),
                verify: false,
            },
            GetHeader {
                epoch: None,
                id: id(),
                verify: true,
            },
        ] {
            let bytes = header.encode();
            let read = Frame::read(&mut &bytes[..]).await.unwrap();
            assert_eq!(read, Some(Frame::Get(header)));
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
        assert_eq!(Frame::read(&mut &b""[..]).await.unwrap(), None);
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
        wrong_tag[0] = b'X';
        let mut wrong_flag = good.to_vec();
        wrong_flag[1] = 9;
        let mut bad_owner = good.to_vec();
        bad_owner[PUT_FIXED] = b'/';
        let truncated = &good[..good.len() - 1];
        let get = GetHeader {
            epoch: None,
            id: id(),
            verify: true,
        }
        .encode();
        let mut bad_check = get.to_vec();
        bad_check[GET_LEN - 1] = 2;
        let get_truncated = &get[..GET_LEN - 1];
        for bad in [
            &wrong_tag[..],
            &wrong_flag[..],
            &bad_owner[..],
            truncated,
            &bad_check[..],
            get_truncated,
        ] {
            assert!(Frame::read(&mut &bad[..]).await.is_err());
        }
    }
}
