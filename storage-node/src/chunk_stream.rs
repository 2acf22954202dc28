//! The node's end of chunk streams (the protocol and the client's end:
//! [`node_api::chunk_stream`]): accepting the upgrade, reading each frame, storing a PUT's chunk
//! from the connection into the aligned buffer it is written from, and answering a GET with
//! the chunk's bytes (checked when asked).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
pub use node_api::chunk_stream::*;
use node_api::direct_buffer::DirectBuffer;
use node_api::wire::MAX_CHUNK_BYTES;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
