//! The node's end of chunk streams (the protocol and the client's end:
//! [`node_api::chunk_stream`]): accepting the upgrade, reading each frame, storing a PUT's chunk
//! from the connection into the aligned buffer it is written from, answering a GET with the
//! chunk's bytes (checked when asked), and issuing read lanes' tickets. And the node's end of
//! read lanes ([`node_api::read_lane`]): redeeming a ticket, checking each request's tag, and
//! answering with the chunk's file handed to the kernel (`sendfile`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
pub use node_api::chunk_stream::*;
use node_api::direct_buffer::DirectBuffer;
use node_api::read_lane::{self, LaneMac};
use node_api::wire::MAX_CHUNK_BYTES;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::scrub::ChunkToSend;
use crate::server::NodeState;

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

/// Serves requests on one stream until the client closes it, goes idle or sends something
/// else.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(state: &NodeState, mut stream: S) {
    loop {
        let frame = match tokio::time::timeout(NODE_IDLE, Frame::read(&mut stream)).await {
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                tracing::debug!("chunk stream closed: {e}");
                return;
            }
        };
        let served = match frame {
            Frame::Put(header) => serve_put(state, &mut stream, header).await,
            Frame::Get(header) => serve_get(state, &mut stream, header).await,
            Frame::Lane => issue_lane(state, &mut stream).await,
        };
        if let Err(e) = served {
            tracing::debug!("chunk stream closed: {e}");
            return;
        }
    }
}

/// Reads one chunk and stores it. An error closes the stream.
async fn serve_put<S: AsyncRead + AsyncWrite + Unpin>(
    state: &NodeState,
    stream: &mut S,
    header: PutHeader,
) -> std::io::Result<()> {
    let started = Instant::now();
    let len = header.len as usize;
    if len > MAX_CHUNK_BYTES {
        // The chunk is not read, so the stream cannot go on.
        let answer = state.answer(StatusCode::PAYLOAD_TOO_LARGE, "chunk too large");
        let _ = stream.write_all(&answer.encode()).await;
        let _ = stream.flush().await;
        return Err(invalid("chunk too large"));
    }
    let mut data = DirectBuffer::with_capacity(len);
    data.set_len(len);
    stream.read_exact(&mut data).await?;
    state.metrics.bytes_in.inc_by(len as u64);
    let answer = store(state, header, data).await;
    state.metrics.observe(
        "put_chunk",
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        started,
    );
    stream.write_all(&answer.encode()).await?;
    stream.flush().await
}

/// Answers one GET: the answer, then (found) the chunk's length and bytes. An error closes the
/// stream.
async fn serve_get<S: AsyncRead + AsyncWrite + Unpin>(
    state: &NodeState,
    stream: &mut S,
    header: GetHeader,
) -> std::io::Result<()> {
    let started = Instant::now();
    let (answer, chunk) = if let Some(why) = state.stale_epoch(header.epoch) {
        (state.answer(StatusCode::CONFLICT, &why), None)
    } else {
        let (id, verify) = (header.id, header.verify);
        match crate::server::run_store(state, move |s| s.chunk_to_send(id, verify)).await {
            Ok(Some(chunk)) => (state.answer(StatusCode::OK, ""), Some(chunk)),
            Ok(None) => (state.answer(StatusCode::NOT_FOUND, "no such chunk"), None),
            Err(why) => (state.answer(StatusCode::INTERNAL_SERVER_ERROR, &why), None),
        }
    };
    let sent = chunk.as_ref().map_or(0, Bytes::len);
    let mut head = BytesMut::from(&answer.encode()[..]);
    if chunk.is_some() {
        // At most MAX_CHUNK_BYTES (chunk_to_send), so it fits.
        head.put_u32(sent as u32);
    }
    stream.write_all(&head).await?;
    if let Some(data) = chunk {
        stream.write_all(&data).await?;
    }
    stream.flush().await?;
    state.metrics.bytes_out.inc_by(sent as u64);
    state.metrics.observe(
        "get_chunk",
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        started,
    );
    Ok(())
}

/// Answers a lane request with a new ticket and key (or 503 when too many are outstanding).
async fn issue_lane<S: AsyncWrite + Unpin>(
    state: &NodeState,
    stream: &mut S,
) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    match state.lane_tickets.issue() {
        Some(secret) => {
            out.put_slice(&state.answer(StatusCode::OK, "").encode());
            out.put_slice(&secret.encode());
        }
        None => out.put_slice(
            &state
                .answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many lane tickets outstanding",
                )
                .encode(),
        ),
    }
    stream.write_all(&out).await?;
    stream.flush().await
}

/// How long a new connection may take to show its first byte, and a lane its ticket.
pub const HELLO_WAIT: Duration = Duration::from_secs(10);

/// Serves a read lane on `tcp` (a connection whose first byte said lane): closed unless it
/// presents a ticket this node issued, then GETs until the client closes it, goes idle or
/// sends a frame whose tag does not verify.
pub async fn serve_lane(state: Arc<NodeState>, mut tcp: TcpStream) {
    let key =
        match tokio::time::timeout(HELLO_WAIT, read_lane::accept(&mut tcp, &state.lane_tickets))
            .await
        {
            Ok(Ok(Some(key))) => key,
            _ => {
                tracing::debug!("read lane refused: no valid ticket");
                return;
            }
        };
    if tcp.write_all(&[read_lane::TAKEN]).await.is_err() {
        return;
    }
    let mut mac = LaneMac::new(&key);
    loop {
        let header = match tokio::time::timeout(NODE_IDLE, mac.read_request(&mut tcp)).await {
            Ok(Ok(Some(header))) => header,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                tracing::debug!("read lane closed: {e}");
                return;
            }
        };
        if let Err(e) = serve_lane_get(&state, &mut tcp, &mut mac, header).await {
            tracing::debug!("read lane closed: {e}");
            return;
        }
    }
}

/// Answers one GET on a lane: the tagged head, then (found) the chunk as stored.
async fn serve_lane_get(
    state: &NodeState,
    tcp: &mut TcpStream,
    mac: &mut LaneMac,
    header: GetHeader,
) -> std::io::Result<()> {
    let started = Instant::now();
    let (answer, chunk) = if let Some(why) = state.stale_epoch(header.epoch) {
        (state.answer(StatusCode::CONFLICT, &why), None)
    } else if header.verify {
        // Checked bytes are for readers that cannot tell bad ones: they travel inside TLS.
        let why = "checked reads go on chunk streams";
        (state.answer(StatusCode::BAD_REQUEST, why), None)
    } else {
        let id = header.id;
        match crate::server::run_store(state, move |s| s.chunk_file_to_send(id)).await {
            Ok(Some(chunk)) => (state.answer(StatusCode::OK, ""), Some(chunk)),
            Ok(None) => (state.answer(StatusCode::NOT_FOUND, "no such chunk"), None),
            Err(why) => (state.answer(StatusCode::INTERNAL_SERVER_ERROR, &why), None),
        }
    };
    let sent = chunk.as_ref().map_or(0, ChunkToSend::len);
    // At most MAX_CHUNK_BYTES (chunk_file_to_send), so it fits.
    let head = mac.answer(&answer, chunk.as_ref().map(|_| sent as u32));
    tcp.write_all(&head).await?;
    match chunk {
        None => {}
        Some(ChunkToSend::Bytes(data)) => tcp.write_all(&data).await?,
        Some(ChunkToSend::File(file, len)) => send_file(tcp, file, len).await?,
    }
    state.metrics.bytes_out.inc_by(sent);
    state.metrics.observe(
        "lane_get_chunk",
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        started,
    );
    Ok(())
}

/// A send that makes no progress for this long ends the lane.
const SEND_STALL: Duration = Duration::from_secs(30);

/// Sends `len` bytes of `file` on `tcp` with `sendfile` (page-cache pages go to the socket
/// without a copy through user space), on a blocking thread since the file may need reading
/// from disk. The socket is duplicated first, so the thread never writes to a descriptor
/// number that the lane has closed (a timed-out request) and something else reused.
async fn send_file(tcp: &TcpStream, file: std::fs::File, len: u64) -> std::io::Result<()> {
    let socket = socket_dup(tcp)?;
    tokio::task::spawn_blocking(move || send_file_blocking(&socket, &file, len))
        .await
        .map_err(std::io::Error::other)?
}

fn socket_dup(tcp: &TcpStream) -> std::io::Result<OwnedFd> {
    use std::os::fd::AsFd;
    tcp.as_fd().try_clone_to_owned()
}

fn send_file_blocking(socket: &OwnedFd, file: &std::fs::File, len: u64) -> std::io::Result<()> {
    let mut offset: libc::off_t = 0;
    while u64::try_from(offset).unwrap_or(u64::MAX) < len {
        let left = usize::try_from(len.saturating_sub(offset as u64)).unwrap_or(usize::MAX);
        // SAFETY: both descriptors are open for the call; `offset` is ours.
        let sent =
            unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut offset, left) };
        if sent > 0 {
            continue;
        }
        if sent == 0 {
            // The file is shorter than the length already announced.
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "chunk file shrank while sent",
            ));
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::Interrupted => {}
            std::io::ErrorKind::WouldBlock => {
                let mut poll = libc::pollfd {
                    fd: socket.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let ready = unsafe { libc::poll(&mut poll, 1, SEND_STALL.as_millis() as i32) };
                if ready == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "read lane reader stalled",
                    ));
                }
                if ready < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
            _ => return Err(e),
        }
    }
    Ok(())
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
