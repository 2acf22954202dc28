//! The node's internal API over HTTP/2 (or HTTP/1.1), authenticated with the cluster secret.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | PUT | `/v1/chunk/<hex id>` | chunk bytes | 204 once durable |
//! | GET | `/v1/chunk/<hex id>` | | chunk bytes, or 404 |
//! | DELETE | `/v1/chunk/<hex id>` | | 204 |
//! | POST | `/v1/manifest/{put,get,remove,list}` | MessagePack | MessagePack |
//! | POST | `/v1/bucket/{put,get,list}` | MessagePack | MessagePack |
//! | HEAD | `/v1/chunk/<hex id>` | | 200 if held, else 404 |
//! | GET | `/v1/chunk-stream` (HTTP/1.1 upgrade) | | 101, then chunk PUTs ([`chunk_stream`]) |
//! | POST | `/v1/map/{get,put}` | MessagePack | the node's cluster map state |
//! | POST | `/v1/move/{list,release}` | MessagePack | records to move after a map change |
//! | GET | `/health`, `/metrics` | | unauthenticated |
//!
//! Every answer carries the node's map epoch in `x-s3store-epoch`. A request that carries an
//! older epoch than the node's is refused with 409 (except the map calls): a gateway that has
//! not yet seen a membership change cannot read or write by the old map once the node has the
//! new one; it fetches the new state and retries.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::antientropy::{CellRequest, DigestRequest};
use crate::chunk_stream;
use crate::direct_buffer::DirectBuffer;
use crate::gc::{CollectRequest, RefsRequest, SweepRequest};
use crate::identity;
use crate::metrics::NodeMetrics;
use crate::model::{
    decode, encode, ChunkId, DropParts, GetManifest, ListManifests, ListParts, ListUploads,
    Manifest, WriteManifest, WriteMode,
};
use crate::model::{Accept, Prepare, Reseal, StaleEnvelopes};
use crate::model::{Hint, HintDone, ListHints, PutHintedManifest};
use crate::model::{PrepareBucket, WriteBucket, WriteUpload};
use crate::moves::{MoveList, Release};
use crate::rpc::{self, Call, GetMap, ListBadChunks, Stats};
use crate::store::Store;
use node_api::read_lane;
use node_api::table::{GetRow, ListRows, PutHintedRow, PutRow};
pub use node_api::wire::{
    epoch_of, valid_node_id, CLOCK_HEADER, EPOCH_HEADER, H2_MAX_FRAME, MAX_CHUNK_BYTES,
};
use placement::{MapState, Offer};

const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Everything a request handler needs.
pub struct NodeState {
    pub node_id: String,
    pub store: Arc<Store>,
    pub metrics: NodeMetrics,
    /// The cluster map state this node holds (also in the store), and its epoch (0: none).
    map: std::sync::Mutex<Option<HeldMap>>,
    pub epoch: AtomicU64,
    /// Read lanes' tickets issued and not yet used ([`node_api::read_lane`]).
    pub lane_tickets: node_api::read_lane::Tickets,
}

/// A map state and the ring of its current map, built once when the state is adopted.
struct HeldMap {
    state: MapState,
    ring: placement::Ring,
}

impl HeldMap {
    fn new(state: MapState) -> HeldMap {
        let ring = placement::Ring::new(&state.current);
        HeldMap { state, ring }
    }
}

impl NodeState {
    /// State for a node whose store is open; the map state is read from the store.
    pub fn new(
        node_id: String,
        store: Arc<Store>,
        metrics: NodeMetrics,
    ) -> Result<NodeState, crate::store::StoreError> {
        let map = store.map_state()?;
        let epoch = map.as_ref().map_or(0, MapState::epoch);
        Ok(NodeState {
            node_id,
            store,
            metrics,
            map: std::sync::Mutex::new(map.map(HeldMap::new)),
            epoch: AtomicU64::new(epoch),
            lane_tickets: Default::default(),
        })
    }

    /// Why a request sent at map epoch `sent` must be refused (409), if it must: the sender
    /// has not yet seen the map this node holds.
    pub fn stale_epoch(&self, sent: Option<u64>) -> Option<String> {
        let held = self.epoch.load(Ordering::SeqCst);
        sent.is_some_and(|e| e < held)
            .then(|| format!("stale epoch: this node holds cluster map epoch {held}"))
    }

    /// The map state held, if any.
    pub fn map_state(&self) -> Option<MapState> {
        self.held().as_ref().map(|h| h.state.clone())
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<HeldMap>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this node may drop its copy of a record: only by its own current map (epoch
    /// `epoch`), and only a record it does not own there.
    pub fn may_release(&self, epoch: u64, placement_key: &[u8]) -> bool {
        self.held().as_ref().is_some_and(|h| {
            h.state.epoch() == epoch
                && !crate::moves::owns(&h.state.current, &h.ring, &self.node_id, placement_key)
        })
    }

    /// Takes `offered` if it is newer (see [`MapState::offer`]); answers the state held after.
    pub fn offer_map(&self, offered: MapState) -> Result<MapState, String> {
        let mut held = self.held();
        match MapState::offer(held.as_ref().map(|h| &h.state), &offered) {
            Offer::Adopt => {
                self.store
                    .save_map_state(&offered)
                    .map_err(|e| e.to_string())?;
                tracing::info!(
                    node = %self.node_id,
                    "cluster map epoch {}{}",
                    offered.epoch(),
                    if offered.is_moving() { " (data moving)" } else { "" }
                );
                self.epoch.store(offered.epoch(), Ordering::SeqCst);
                *held = Some(HeldMap::new(offered.clone()));
                Ok(offered)
            }
            Offer::Same => Ok(offered),
            Offer::Refuse(why) => Err(why),
        }
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

/// Serves the internal API on `listener`, inside TLS with the node's cluster identity, until
/// `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<NodeState>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // Read lanes share the port: their first byte is not a TLS record's.
            let mut first = [0u8; 1];
            match tokio::time::timeout(chunk_stream::HELLO_WAIT, stream.peek(&mut first)).await {
                Ok(Ok(1)) if first == [read_lane::MAGIC[0]] => {
                    return chunk_stream::serve_lane(state, stream).await;
                }
                Ok(Ok(1)) => {}
                _ => return,
            }
            let result = match acceptor.accept(stream).await {
                Ok(tls) => {
                    let member = identity::peer_is_member(tls.get_ref().1);
                    serve_connection(tls, state, member).await
                }
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
}

/// Serves one connection; `member`: its peer showed a certificate of the cluster CA (anyone
/// else is answered the health and metrics routes only).
async fn serve_connection<IO>(
    io: IO,
    state: Arc<NodeState>,
    member: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, req, member).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .initial_stream_window_size(8 << 20)
        .initial_connection_window_size(32 << 20)
        .max_frame_size(H2_MAX_FRAME);
    builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await
}

async fn handle(state: &Arc<NodeState>, req: Request<Incoming>, member: bool) -> Reply {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let op = operation_name(&method, &path);
    let response = match (method.as_str(), path.as_str()) {
        ("GET", "/health") => reply(StatusCode::OK, "ok\n"),
        // RocksDB's properties are read from memory: no need to leave the runtime.
        ("GET", "/metrics") => reply(StatusCode::OK, state.metrics.render_with(&state.store)),
        _ => {
            let authentic = member;
            // Map calls are how a sender behind catches up: never refused as stale.
            let stale = (authentic && !path.starts_with("/v1/map/"))
                .then(|| state.stale_epoch(epoch_of(req.headers())))
                .flatten();
            if let Some(why) = stale {
                reply(StatusCode::CONFLICT, why)
            } else if authentic && chunk_stream::wants_stream(&req) {
                chunk_stream::accept(state.clone(), req)
            } else if authentic {
                route(state, req, &method, &path).await
            } else {
                reply(
                    StatusCode::UNAUTHORIZED,
                    "only members of the cluster (a certificate of its CA) are served",
                )
            }
        }
    };
    let mut response = response;
    response.headers_mut().insert(
        EPOCH_HEADER,
        http::HeaderValue::from(state.epoch.load(Ordering::SeqCst)),
    );
    response
        .headers_mut()
        .insert(CLOCK_HEADER, http::HeaderValue::from(wall_ms()));
    state.metrics.observe(op, response.status(), started);
    response
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn operation_name(method: &Method, path: &str) -> &'static str {
    match (method.as_str(), path) {
        (_, "/health") => "health",
        (_, "/metrics") => "metrics",
        ("PUT", p) if p.starts_with("/v1/chunk/") => "put_chunk",
        ("GET", p) if p.starts_with("/v1/chunk/") => "get_chunk",
        ("DELETE", p) if p.starts_with("/v1/chunk/") => "delete_chunk",
        ("HEAD", p) if p.starts_with("/v1/chunk/") => "has_chunk",
        (_, chunk_stream::PATH) => "chunk_stream",
        (_, p) => rpc::name_of(p).unwrap_or("unknown"),
    }
}

/// The `hint=<node id>` of a chunk PUT stored for another node.
fn hint_owner(query: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(owner) = query.and_then(|q| q.split('&').find_map(|p| p.strip_prefix("hint="))) else {
        return Ok(None);
    };
    if !valid_node_id(owner) {
        return Err("bad hint owner");
    }
    Ok(Some(owner.to_string()))
}

async fn read_body(
    state: &NodeState,
    req: Request<Incoming>,
    limit: usize,
) -> Result<Bytes, Reply> {
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            state.metrics.bytes_in.inc_by(bytes.len() as u64);
            Ok(bytes)
        }
        Err(e) => Err(reply(
            StatusCode::BAD_REQUEST,
            format!("bad request body: {e}"),
        )),
    }
}

/// Reads a chunk PUT's body straight into an aligned buffer (sized by its Content-Length), from
/// which it is checksummed and written without another copy.
async fn read_chunk_body(state: &NodeState, req: Request<Incoming>) -> Result<DirectBuffer, Reply> {
    let announced = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(1 << 20);
    let too_large = || reply(StatusCode::PAYLOAD_TOO_LARGE, "chunk too large");
    if announced > MAX_CHUNK_BYTES {
        return Err(too_large());
    }
    let mut buffer = DirectBuffer::with_capacity(announced);
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| reply(StatusCode::BAD_REQUEST, format!("bad request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buffer.len().saturating_add(data.len()) > MAX_CHUNK_BYTES {
                return Err(too_large());
            }
            buffer.extend_from_slice(&data);
        }
    }
    state.metrics.bytes_in.inc_by(buffer.len() as u64);
    Ok(buffer)
}

async fn message<T: serde::de::DeserializeOwned>(
    state: &NodeState,
    req: Request<Incoming>,
) -> Result<T, Reply> {
    let bytes = read_body(state, req, MAX_MESSAGE_BYTES).await?;
    decode(&bytes).map_err(|e| reply(StatusCode::BAD_REQUEST, format!("bad message: {e}")))
}

/// Runs a blocking store call off the async threads; a failure (logged when the store's)
/// comes back as its message, the body of a 500.
pub(crate) async fn run_store<T, F>(state: &NodeState, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
{
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(node = %state.node_id, "store error: {e}");
            Err(e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// [`run_store`], its failure as a reply.
async fn blocking<T, F>(state: &NodeState, f: F) -> Result<T, Reply>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
{
    run_store(state, f)
        .await
        .map_err(|e| reply(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// Stores a chunk PUT's bytes (over HTTP or a chunk stream), on `owner`'s behalf when it is a
/// hinted write. A failure comes back as the message of a 500.
pub(crate) async fn store_chunk(
    state: &NodeState,
    id: ChunkId,
    owner: Option<String>,
    data: DirectBuffer,
) -> Result<(), String> {
    run_store(state, move |s| match owner {
        Some(owner) => s.put_hinted_chunk(&owner, id, &data),
        None => s.put_chunk(id, &data),
    })
    .await
}

fn packed<T: serde::Serialize>(state: &NodeState, value: &T) -> Reply {
    let body = encode(value);
    state.metrics.bytes_out.inc_by(body.len() as u64);
    reply(StatusCode::OK, body)
}

/// The answer to a request of the table, of the type the table names for it.
fn answer<C: Call>(state: &NodeState, out: &C::Reply) -> Reply {
    packed(state, out)
}

/// Routes each request type of the table to a store call whose result is its answer: the path
/// comes from the table, and a handler answering another type than the table's does not
/// compile.
macro_rules! serve {
    ($state:expr, $req:expr, $path:expr, { $($request:ty => |$s:ident, $q:ident| $call:expr,)* }) => {
        match $path {
            $(<$request as Call>::PATH => {
                let $q: $request = message($state, $req).await?;
                let out = blocking($state, move |$s| $call).await?;
                Ok(answer::<$request>($state, &out))
            })*
            _ => Ok(reply(StatusCode::NOT_FOUND, "no such route")),
        }
    };
}

async fn route(state: &NodeState, req: Request<Incoming>, method: &Method, path: &str) -> Reply {
    let result: Result<Reply, Reply> = async {
        if let Some(hex_id) = path.strip_prefix("/v1/chunk/") {
            let id = ChunkId::from_hex(hex_id)
                .ok_or_else(|| reply(StatusCode::BAD_REQUEST, "bad chunk id"))?;
            return match *method {
                Method::PUT => {
                    let owner = hint_owner(req.uri().query())
                        .map_err(|e| reply(StatusCode::BAD_REQUEST, e))?;
                    let data = read_chunk_body(state, req).await?;
                    store_chunk(state, id, owner, data)
                        .await
                        .map_err(|e| reply(StatusCode::INTERNAL_SERVER_ERROR, e))?;
                    Ok(reply(StatusCode::NO_CONTENT, Bytes::new()))
                }
                Method::GET => match blocking(state, move |s| s.get_chunk(id)).await? {
                    Some(data) => {
                        state.metrics.bytes_out.inc_by(data.len() as u64);
                        Ok(reply(StatusCode::OK, data))
                    }
                    None => Ok(reply(StatusCode::NOT_FOUND, "no such chunk")),
                },
                Method::DELETE => {
                    blocking(state, move |s| s.delete_chunk(id)).await?;
                    Ok(reply(StatusCode::NO_CONTENT, Bytes::new()))
                }
                Method::HEAD => Ok(if blocking(state, move |s| s.has_chunk(id)).await? {
                    reply(StatusCode::OK, Bytes::new())
                } else {
                    reply(StatusCode::NOT_FOUND, Bytes::new())
                }),
                _ => Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")),
            };
        }
        if *method != Method::POST {
            return Ok(reply(StatusCode::NOT_FOUND, "no such route"));
        }
        // Routes that answer more than a store call's result.
        match path {
            GetMap::PATH => return Ok(answer::<GetMap>(state, &state.map_state())),
            MapState::PATH => {
                let offered: MapState = message(state, req).await?;
                return Ok(match state.offer_map(offered) {
                    Ok(held) => answer::<MapState>(state, &held),
                    Err(why) => reply(StatusCode::CONFLICT, why),
                });
            }
            Release::PATH => {
                let q: Release = message(state, req).await?;
                if q.me != state.node_id || !state.may_release(q.epoch, &q.record.placement_key()) {
                    return Ok(reply(
                        StatusCode::CONFLICT,
                        "not releasable: the node owns the record or holds another map",
                    ));
                }
                blocking(state, move |s| s.release(&q.record)).await?;
                return Ok(answer::<Release>(state, &()));
            }
            Stats::PATH => return Ok(answer::<Stats>(state, &state.store.totals())),
            _ => {}
        }
        serve!(state, req, path, {
            Manifest => |s, m| s.put_manifest(&m, WriteMode::Copy),
            WriteManifest => |s, q| s.put_manifest(&q.manifest, q.mode),
            GetManifest => |s, q| s.get_manifest(&q.bucket, &q.key),
            ListManifests => |s, q| s.list_manifests(&q),
            PutHintedManifest => |s, q| s.put_hinted_manifest(&q.owner, &q.manifest),
            DigestRequest => |s, q| s.digest(&q),
            CellRequest => |s, q| s.cells(&q),
            RefsRequest => |s, q| s.references(&q),
            SweepRequest => |s, q| s.sweep(&q),
            CollectRequest => |s, q| s.collect(&q),
            MoveList => |s, q| s.move_list(&q),
            ListBadChunks => |s, _q| s.bad_chunks(1000),
            ListHints => |s, q| s.list_hints(&q.after, q.limit),
            Hint => |s, q| s.hinted_manifest(&q),
            HintDone => |s, q| s.hint_done(&q.raw_key),
            StaleEnvelopes => |s, q| s.stale_envelopes(&q),
            Reseal => |s, q| s.reseal(&q),
            PrepareBucket => |s, q| s.prepare_bucket(&q.name, q.ballot),
            WriteBucket => |s, w| s.write_bucket(w.mode, &w.record),
            Prepare => |s, q| s.prepare_checking(&q.bucket, &q.key, q.ballot, &q.check, q.upload),
            Accept => |s, q| s.accept(&q.manifest),
            GetRow => |s, q| s.get_row(&q),
            PutRow => |s, r| s.put_row(&r.0),
            PutHintedRow => |s, q| s.put_hinted_row(&q.owner, &q.row),
            ListRows => |s, q| s.list_rows(q.family),
            WriteUpload => |s, w| s.write_upload(&w),
            ListUploads => |s, q| s.list_uploads(&q),
            ListParts => |s, q| s.list_parts(&q),
            DropParts => |s, q| s.drop_parts(q.upload_id),
        })
    }
    .await;
    result.unwrap_or_else(|e| e)
}
