//! The node's end of chunk streams (the protocol and the client's end:
//! [`node_api::chunk_stream`]): accepting the upgrade, reading each frame, storing a PUT's chunk
//! from the socket into the aligned buffer it is written from, and answering a GET with the
//! chunk's checked bytes or, on a plain socket, its file handed to the kernel (`sendfile`).

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
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
use node_api::wire::MAX_CHUNK_BYTES;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::scrub::ChunkToSend;
use crate::server::NodeState;

/// Whether `req` asks for a chunk stream.
pub fn wants_stream(req: &Request<Incoming>) -> bool {
    req.uri().path() == PATH
}

/// The socket of a connection served without TLS, set as an extension of its requests: a
/// stream upgraded from one of them sends chunk files with `sendfile` on it.
#[derive(Debug, Clone, Copy)]
pub struct PlainSocket(pub RawFd);

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
    let socket = req.extensions().get::<PlainSocket>().copied();
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            // The upgraded connection owns `socket` until `serve` returns.
            Ok(upgraded) => serve(&state, TokioIo::new(upgraded), socket).await,
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
/// else. `socket`: the stream's own socket, when no TLS sits between.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    state: &NodeState,
    mut stream: S,
    socket: Option<PlainSocket>,
) {
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
            Frame::Get(header) => serve_get(state, &mut stream, socket, header).await,
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
    socket: Option<PlainSocket>,
    header: GetHeader,
) -> std::io::Result<()> {
    let started = Instant::now();
    let (answer, chunk) = if let Some(why) = state.stale_epoch(header.epoch) {
        (state.answer(StatusCode::CONFLICT, &why), None)
    } else {
        // Without a socket of its own the file could not be sent as it is anyway.
        let verify = header.verify || socket.is_none();
        let id = header.id;
        match crate::server::run_store(state, move |s| s.chunk_to_send(id, verify)).await {
            Ok(Some(chunk)) => (state.answer(StatusCode::OK, ""), Some(chunk)),
            Ok(None) => (state.answer(StatusCode::NOT_FOUND, "no such chunk"), None),
            Err(why) => (state.answer(StatusCode::INTERNAL_SERVER_ERROR, &why), None),
        }
    };
    let sent = chunk.as_ref().map_or(0, ChunkToSend::len);
    let mut head = BytesMut::from(&answer.encode()[..]);
    if chunk.is_some() {
        head.put_u32(sent as u32);
    }
    stream.write_all(&head).await?;
    match chunk {
        None => {}
        Some(ChunkToSend::Bytes(data)) => stream.write_all(&data).await?,
        Some(ChunkToSend::File(file, len)) => {
            stream.flush().await?;
            let socket = socket.expect("files are sent only on plain sockets");
            send_file(socket, file, len).await?;
        }
    }
    stream.flush().await?;
    state.metrics.bytes_out.inc_by(sent);
    state.metrics.observe(
        "get_chunk",
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        started,
    );
    Ok(())
}

/// A send that makes no progress for this long ends the stream.
const SEND_STALL: Duration = Duration::from_secs(30);

/// Sends `len` bytes of `file` on `socket` with `sendfile` (page-cache pages go to the socket
/// without a copy through user space), on a blocking thread since the file may need reading
/// from disk. The socket is duplicated first, so the thread never writes to a descriptor
/// number that its connection has closed and something else reused.
async fn send_file(socket: PlainSocket, file: std::fs::File, len: u64) -> std::io::Result<()> {
    // SAFETY: the caller's connection owns `socket` and is open for the whole call.
    let socket = unsafe { BorrowedFd::borrow_raw(socket.0) }.try_clone_to_owned()?;
    tokio::task::spawn_blocking(move || send_file_blocking(&socket, &file, len))
        .await
        .map_err(std::io::Error::other)?
}

fn send_file_blocking(socket: &OwnedFd, file: &std::fs::File, len: u64) -> std::io::Result<()> {
    let mut offset: libc::off_t = 0;
    while (offset as u64) < len {
        let left = usize::try_from(len - offset as u64).unwrap_or(usize::MAX);
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
                        "chunk stream reader stalled",
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
