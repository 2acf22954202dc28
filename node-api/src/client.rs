//! A typed client of one storage node's internal API (used by gateways, and by tests to look at
//! one node directly). HTTP/2 inside mutual TLS ([`crate::identity`]) over one pooled
//! connection per node, TCP_NODELAY, every call bounded by a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::antientropy::{CellRequest, DigestRequest, Digests, Record as CellRecord};
use crate::chunk_stream::{self, Exchange, GetHeader, PutHeader, StreamPool};
use crate::direct_buffer::DirectBuffer;
use crate::gc::{CollectRequest, References, RefsRequest, Removed, SweepRequest};
use crate::identity::{self, ClusterIdentity};
use crate::model::{
    decode, encode, ChunkId, DropParts, GetManifest, ListManifests, ListManifestsReply, ListParts,
    ListUploads, Manifest, PartRecord, UploadRecord, Version, WriteManifest, WriteMode, WriteReply,
};
use crate::model::{Accept, NodeStats, Prepare, PrepareReply, WriteUpload};
use crate::model::{BucketPromise, PrepareBucket, WriteBucket};
use crate::model::{Hint, HintDone, ListHints, PutHintedManifest, StoredHint};
use crate::model::{Reseal, StaleEnvelopes, StaleEnvelopesReply};
use crate::moves::{MoveList, MovePage, Release};
use crate::read_lane::Lane;
use crate::rpc::{Call, GetMap, ListBadChunks, Stats};
use crate::table::{Family, GetRow, ListRows, PutHintedRow, PutRow, Record, Row};
use crate::wire::{CLOCK_HEADER, EPOCH_HEADER, H2_MAX_FRAME, MAX_CHUNK_BYTES};
use placement::MapState;
use rustls_pki_types::ServerName;

/// Why a call to a node failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("node {0} unreachable: {1}")]
    Unreachable(String, String),
    #[error("node {0} timed out")]
    Timeout(String),
    #[error("node {0} answered {1}: {2}")]
    Status(String, u16, String),
    #[error("node {0} sent an undecodable answer: {1}")]
    Decode(String, String),
}

/// Timeouts of the internal calls.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub metadata: Duration,
    pub chunk: Duration,
    /// Calls that scan a node's whole store (anti-entropy digests, garbage collection).
    pub scan: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            metadata: Duration::from_secs(10),
            chunk: Duration::from_secs(60),
            scan: Duration::from_secs(300),
        }
    }
}

/// A client of one node.
#[derive(Clone)]
pub struct NodeClient {
    address: String,
    base: String,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeouts: Timeouts,
    epochs: Option<Arc<Epochs>>,
    /// Idle chunk streams to this node, shared by the client's clones.
    streams: Arc<StreamPool>,
    /// How chunk streams reach the node: TLS with the cluster identity, and the name the
    /// node's certificate must carry.
    stream_tls: (tokio_rustls::TlsConnector, ServerName<'static>),
    /// Idle read lanes to this node, shared by the client's clones.
    lanes: Arc<Lanes>,
}

/// A client's read lanes to one node ([`crate::read_lane`]), and until when it asks for no
/// new one (the node refused one, or one failed before its first answer: an older node, or
/// something in the way that passes TLS only).
#[derive(Default)]
struct Lanes {
    pool: StreamPool<Lane<tokio::net::TcpStream>>,
    paused_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Why no lane could be opened: the node could not be reached on a chunk stream either (the
/// read fails), or the lane itself failed (the read goes on a chunk stream).
enum LaneFailure {
    Node(RpcError),
    Lane(std::io::Error),
}

/// How long a client reads on chunk streams only after a lane failed to open.
const LANE_PAUSE: Duration = Duration::from_secs(60);

impl Lanes {
    fn paused(&self) -> bool {
        let until = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| std::time::Instant::now() < t)
    }

    fn pause(&self) {
        let mut until = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        *until = std::time::Instant::now().checked_add(LANE_PAUSE);
    }
}

/// The map epochs a gateway's clients share: the one they send with every request, and the
/// highest any node answered with. A node that knows a newer map than `ours` shows it on every
/// answer, and `newer` wakes whoever fetches it. Also the latest wall clock a node showed
/// (`clock_ms`, [`crate::wire::CLOCK_HEADER`]), which the gateway's clock never stamps below.
#[derive(Debug, Default)]
pub struct Epochs {
    pub ours: AtomicU64,
    pub highest_seen: AtomicU64,
    pub newer: tokio::sync::Notify,
    pub clock_ms: AtomicU64,
}

impl Epochs {
    fn saw(&self, epoch: u64) {
        if epoch > self.ours.load(Ordering::SeqCst)
            && self.highest_seen.fetch_max(epoch, Ordering::SeqCst) < epoch
        {
            self.newer.notify_one();
        }
    }
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeClient({})", self.address)
    }
}

impl NodeClient {
    /// A client of the node at `address`: HTTP/2 inside mutual TLS with this process's cluster
    /// identity. `node_id` is the node it means to reach (its certificate must name it);
    /// `None` takes any node of the cluster (joining, fetching a map from an address).
    #[allow(
        clippy::expect_used,
        reason = "node names are hex digits under a constant suffix (identity::node_name): \
                  always DNS names"
    )]
    pub fn new(
        address: &str,
        node_id: Option<&str>,
        identity: &ClusterIdentity,
        timeouts: Timeouts,
    ) -> NodeClient {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeouts.connect));
        tcp.enforce_http(false);
        let name = match node_id {
            Some(id) => identity::node_name(id),
            None => identity::ANY_NODE.to_string(),
        };
        let name = ServerName::try_from(name).expect("node names are DNS names");
        let config = identity.client_config();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*config).clone())
            .https_only()
            .with_server_name_resolver(FixedServerNameResolver::new(name.clone()))
            .enable_http2()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .http2_initial_stream_window_size(8 << 20)
            .http2_initial_connection_window_size(32 << 20)
            .http2_max_frame_size(H2_MAX_FRAME)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .http2_keep_alive_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        NodeClient {
            address: address.to_string(),
            base: format!("https://{address}"),
            http,
            timeouts,
            epochs: None,
            streams: Arc::default(),
            stream_tls: (tokio_rustls::TlsConnector::from(config), name),
            lanes: Arc::default(),
        }
    }

    /// This client sends `epochs.ours` with every request and reports newer epochs into it.
    pub fn with_epochs(mut self, epochs: Arc<Epochs>) -> NodeClient {
        self.epochs = Some(epochs);
        self
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        timeout: Duration,
        max_answer: usize,
    ) -> Result<(StatusCode, Bytes), RpcError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{}", self.base, path));
        if let Some(e) = &self.epochs {
            request = request.header(EPOCH_HEADER, e.ours.load(Ordering::SeqCst));
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| RpcError::Unreachable(self.address.clone(), e.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| RpcError::Unreachable(self.address.clone(), e.to_string()))?;
            let status = response.status();
            if let Some(e) = &self.epochs {
                let answered = response
                    .headers()
                    .get(EPOCH_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if let Some(epoch) = answered {
                    e.saw(epoch);
                }
                let clock = response
                    .headers()
                    .get(CLOCK_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if let Some(ms) = clock {
                    e.clock_ms.fetch_max(ms, Ordering::Relaxed);
                }
            }
            let body = Limited::new(response.into_body(), max_answer)
                .collect()
                .await
                .map_err(|e| RpcError::Unreachable(self.address.clone(), e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| RpcError::Timeout(self.address.clone()))?
    }

    fn status_error(&self, status: StatusCode, body: &[u8]) -> RpcError {
        RpcError::Status(
            self.address.clone(),
            status.as_u16(),
            String::from_utf8_lossy(body.get(..200).unwrap_or(body)).into_owned(),
        )
    }

    /// A request of the internal API ([`crate::rpc`]): its path, its timeout (a scan of the
    /// node's store may take long on a large node) and its answer's type come from the table.
    pub async fn call<C: Call>(&self, q: &C) -> Result<C::Reply, RpcError> {
        let timeout = if C::SCAN {
            self.timeouts.scan
        } else {
            self.timeouts.metadata
        };
        self.rpc_within(C::PATH, q, timeout).await
    }

    async fn rpc_within<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
        timeout: Duration,
    ) -> Result<A, RpcError> {
        let (status, body) = self
            .exchange(Method::POST, path, encode(query).into(), timeout, 64 << 20)
            .await?;
        if status != StatusCode::OK {
            return Err(self.status_error(status, &body));
        }
        decode(&body).map_err(|e| self.undecodable(e))
    }

    /// Stores a chunk; returns once the node has it durably.
    /// The newest version the node holds of one record of the table.
    pub async fn get_row(&self, family: Family, id: &[u8]) -> Result<Option<Row>, RpcError> {
        self.call(&GetRow {
            family,
            id: id.to_vec(),
        })
        .await
    }

    /// Stores a copy of a row (its version kept) under its family's newest-wins rule; whether
    /// the node now holds that version or a newer one.
    pub async fn put_row(&self, row: &Row) -> Result<bool, RpcError> {
        self.call(&PutRow(row.clone())).await
    }

    /// [`NodeClient::put_row`] on a stand-in for `owner`, with a hint naming it.
    pub async fn put_hinted_row(&self, owner: &str, row: &Row) -> Result<bool, RpcError> {
        self.call(&PutHintedRow {
            owner: owner.to_string(),
            row: row.clone(),
        })
        .await
    }

    /// Every row of a small family (buckets, access keys, settings), tombstones included.
    pub async fn list_rows(&self, family: Family) -> Result<Vec<Row>, RpcError> {
        self.call(&ListRows { family }).await
    }

    /// [`NodeClient::get_row`], decoded.
    pub async fn get_record<R: Record>(&self, id: &R::Id) -> Result<Option<R>, RpcError> {
        match self.get_row(R::FAMILY, &encode(id)).await? {
            Some(row) => row.decode().map(Some).map_err(|e| self.undecodable(e)),
            None => Ok(None),
        }
    }

    /// [`NodeClient::put_row`] of a record.
    pub async fn put_record<R: Record>(&self, record: &R) -> Result<bool, RpcError> {
        self.put_row(&record.row()).await
    }

    /// [`NodeClient::list_rows`], decoded.
    pub async fn list_records<R: Record>(&self) -> Result<Vec<R>, RpcError> {
        let rows = self.list_rows(R::FAMILY).await?;
        rows.iter()
            .map(|row| row.decode())
            .collect::<Result<_, _>>()
            .map_err(|e| self.undecodable(e))
    }

    fn undecodable(&self, why: String) -> RpcError {
        RpcError::Decode(self.address.clone(), why)
    }

    pub async fn put_chunk(&self, id: ChunkId, data: Bytes) -> Result<(), RpcError> {
        self.put_chunk_for(id, data, None).await
    }

    /// Stores a chunk durably; with `owner`, on that node's behalf (a hinted write). Sent on a
    /// chunk stream ([`crate::chunk_stream`]) unless the node serves none.
    pub async fn put_chunk_for(
        &self,
        id: ChunkId,
        data: Bytes,
        owner: Option<&str>,
    ) -> Result<(), RpcError> {
        if data.len() <= MAX_CHUNK_BYTES {
            let header = PutHeader {
                epoch: self.epochs.as_ref().map(|e| e.ours.load(Ordering::SeqCst)),
                id,
                owner: owner.map(str::to_string),
                len: data.len() as u32,
            };
            if let Some(answer) = self.on_stream(Exchange::Put(&header, &data)).await? {
                return match answer.0.status {
                    204 => Ok(()),
                    _ => Err(self.stream_error(answer.0)),
                };
            }
        }
        self.put_chunk_http(id, data, owner).await
    }

    /// Reads a chunk into an aligned buffer that the caller may open in place; `None` when the
    /// node does not hold it. With `verify` the node checks the bytes against its checksum
    /// first; without, it sends its copy as it is, for callers that authenticate what they
    /// read (sealed chunks) and so find a bad copy themselves. Unchecked reads go on a read
    /// lane ([`crate::read_lane`]), checked ones on a chunk stream, unless the node serves
    /// neither.
    pub async fn read_chunk(
        &self,
        id: ChunkId,
        verify: bool,
    ) -> Result<Option<DirectBuffer>, RpcError> {
        let header = GetHeader {
            epoch: self.epochs.as_ref().map(|e| e.ours.load(Ordering::SeqCst)),
            id,
            verify,
        };
        let answered = match verify {
            false => self.on_lane(&header).await?,
            true => None,
        };
        let answered = match answered {
            Some(answered) => Some(answered),
            None => self.on_stream(Exchange::Get(&header)).await?,
        };
        match answered {
            Some((answer, data)) => match answer.status {
                200 => Ok(data),
                404 => Ok(None),
                _ => Err(self.stream_error(answer)),
            },
            None => Ok(self
                .get_chunk(id)
                .await?
                .map(|data| DirectBuffer::copy_of(&data))),
        }
    }

    /// Sends an unchecked chunk GET on a read lane within the chunk timeout. `None`: no lane
    /// could be had (the caller uses a chunk stream).
    async fn on_lane(
        &self,
        header: &GetHeader,
    ) -> Result<Option<(chunk_stream::Answer, Option<DirectBuffer>)>, RpcError> {
        if self.lanes.paused() || self.streams.unsupported() {
            return Ok(None);
        }
        let answered = tokio::time::timeout(self.timeouts.chunk, self.lane_exchange(header))
            .await
            .map_err(|_| RpcError::Timeout(self.address.clone()))??;
        if let (Some((answer, _)), Some(e)) = (&answered, &self.epochs) {
            e.saw(answer.epoch);
        }
        Ok(answered)
    }

    /// Sends a GET on a pooled lane, or on a new one when none is idle or the pooled one turns
    /// out closed. `None`: a new lane failed, and lanes to this node pause; an error: not
    /// even a chunk stream could be opened.
    async fn lane_exchange(
        &self,
        header: &GetHeader,
    ) -> Result<Option<(chunk_stream::Answer, Option<DirectBuffer>)>, RpcError> {
        if let Some(mut lane) = self.lanes.pool.take() {
            if let Ok(answered) = lane.get(header).await {
                self.lanes.pool.give_back(lane);
                return Ok(Some(answered));
            }
        }
        let opened = match self.open_lane().await {
            Ok(mut lane) => lane.get(header).await.map(|answered| (lane, answered)),
            Err(LaneFailure::Node(e)) => return Err(e),
            Err(LaneFailure::Lane(e)) => Err(e),
        };
        match opened {
            Ok((lane, answered)) => {
                self.lanes.pool.give_back(lane);
                Ok(Some(answered))
            }
            Err(e) => {
                tracing::debug!("read lane to {}: {e}; chunk streams for now", self.address);
                self.lanes.pause();
                Ok(None)
            }
        }
    }

    /// Asks for a ticket on a chunk stream, connects and opens a lane with it.
    async fn open_lane(&self) -> Result<Lane<tokio::net::TcpStream>, LaneFailure> {
        // A pooled stream the node has closed meanwhile is no reason to pause lanes.
        let pooled = match self.streams.take() {
            Some(mut stream) => chunk_stream::ask_lane(&mut stream)
                .await
                .ok()
                .map(|asked| (stream, asked)),
            None => None,
        };
        let (stream, (answer, secret)) = match pooled {
            Some(asked) => asked,
            None => {
                let mut stream = self.open_stream().await.map_err(|e| match e {
                    Some(e) => LaneFailure::Node(e),
                    None => LaneFailure::Lane(std::io::Error::other("no chunk streams")),
                })?;
                let asked = chunk_stream::ask_lane(&mut stream)
                    .await
                    .map_err(LaneFailure::Lane)?;
                (stream, asked)
            }
        };
        self.streams.give_back(stream);
        let secret = secret.ok_or_else(|| {
            LaneFailure::Lane(std::io::Error::other(format!(
                "refused: {} {}",
                answer.status, answer.message
            )))
        })?;
        let tcp = tokio::time::timeout(
            self.timeouts.connect,
            tokio::net::TcpStream::connect(&self.address),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))
        .and_then(|connected| connected)
        .map_err(LaneFailure::Lane)?;
        let _ = tcp.set_nodelay(true);
        Lane::open(tcp, &secret, self.timeouts.connect)
            .await
            .map_err(LaneFailure::Lane)
    }

    /// Sends `request` on a chunk stream within the chunk timeout and notes the node's epoch
    /// from the answer. `None`: the node serves no streams (the caller uses HTTP/2).
    async fn on_stream(
        &self,
        request: Exchange<'_>,
    ) -> Result<Option<(chunk_stream::Answer, Option<DirectBuffer>)>, RpcError> {
        if self.streams.unsupported() {
            return Ok(None);
        }
        let sent = tokio::time::timeout(self.timeouts.chunk, self.stream_exchange(&request))
            .await
            .map_err(|_| RpcError::Timeout(self.address.clone()))?;
        match sent {
            Err(None) => {
                self.streams.mark_unsupported();
                Ok(None)
            }
            Err(Some(e)) => Err(e),
            Ok(answered) => {
                if let Some(e) = &self.epochs {
                    e.saw(answered.0.epoch);
                }
                Ok(Some(answered))
            }
        }
    }

    fn stream_error(&self, answer: chunk_stream::Answer) -> RpcError {
        RpcError::Status(self.address.clone(), answer.status, answer.message)
    }

    /// Sends a request on a pooled stream, or on a new one when none is idle or the pooled one
    /// turns out closed (chunk PUTs and GETs may be repeated: same id, same bytes). `Err(None)`:
    /// the node serves no streams.
    async fn stream_exchange(
        &self,
        request: &Exchange<'_>,
    ) -> Result<(chunk_stream::Answer, Option<DirectBuffer>), Option<RpcError>> {
        if let Some(mut stream) = self.streams.take() {
            if let Ok(answered) = chunk_stream::exchange(&mut stream, request).await {
                self.streams.give_back(stream);
                return Ok(answered);
            }
        }
        let mut stream = self.open_stream().await?;
        let answered = chunk_stream::exchange(&mut stream, request)
            .await
            .map_err(|e| Some(RpcError::Unreachable(self.address.clone(), e.to_string())))?;
        self.streams.give_back(stream);
        Ok(answered)
    }

    /// Connects (inside TLS) and opens a chunk stream.
    async fn open_stream(&self) -> Result<chunk_stream::Stream, Option<RpcError>> {
        let unreachable = |e: String| Some(RpcError::Unreachable(self.address.clone(), e));
        let tcp = tokio::time::timeout(
            self.timeouts.connect,
            tokio::net::TcpStream::connect(&self.address),
        )
        .await
        .map_err(|_| unreachable("connect timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let mut headers = http::HeaderMap::new();
        if let Some(e) = &self.epochs {
            headers.insert(EPOCH_HEADER, e.ours.load(Ordering::SeqCst).into());
        }
        let (connector, name) = &self.stream_tls;
        let tls = connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        chunk_stream::open(tls, &self.address, headers)
            .await
            .map_err(|e| match e {
                chunk_stream::OpenError::Unsupported => None,
                chunk_stream::OpenError::Refused(status, body, epoch) => {
                    if let (Some(e), Some(epoch)) = (&self.epochs, epoch) {
                        e.saw(epoch);
                    }
                    Some(self.status_error(status, &body))
                }
                chunk_stream::OpenError::Failed(e) => unreachable(e),
            })
    }

    /// Stores a chunk with an HTTP/2 PUT.
    async fn put_chunk_http(
        &self,
        id: ChunkId,
        data: Bytes,
        owner: Option<&str>,
    ) -> Result<(), RpcError> {
        let path = match owner {
            Some(owner) => format!("/v1/chunk/{}?hint={owner}", id.to_hex()),
            None => format!("/v1/chunk/{}", id.to_hex()),
        };
        let (status, body) = self
            .exchange(Method::PUT, &path, data, self.timeouts.chunk, 4096)
            .await?;
        if status != StatusCode::NO_CONTENT {
            return Err(self.status_error(status, &body));
        }
        Ok(())
    }

    /// Reads a chunk; `None` when the node does not hold it.
    pub async fn get_chunk(&self, id: ChunkId) -> Result<Option<Bytes>, RpcError> {
        let path = format!("/v1/chunk/{}", id.to_hex());
        let (status, body) = self
            .exchange(
                Method::GET,
                &path,
                Bytes::new(),
                self.timeouts.chunk,
                MAX_CHUNK_BYTES + 1,
            )
            .await?;
        match status {
            StatusCode::OK => Ok(Some(body)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(status, &body)),
        }
    }

    pub async fn delete_chunk(&self, id: ChunkId) -> Result<(), RpcError> {
        let path = format!("/v1/chunk/{}", id.to_hex());
        let (status, body) = self
            .exchange(
                Method::DELETE,
                &path,
                Bytes::new(),
                self.timeouts.metadata,
                4096,
            )
            .await?;
        if status != StatusCode::NO_CONTENT {
            return Err(self.status_error(status, &body));
        }
        Ok(())
    }

    /// Whether the node holds chunk `id`, without transferring it.
    pub async fn has_chunk(&self, id: ChunkId) -> Result<bool, RpcError> {
        let path = format!("/v1/chunk/{}", id.to_hex());
        let (status, body) = self
            .exchange(
                Method::HEAD,
                &path,
                Bytes::new(),
                self.timeouts.metadata,
                4096,
            )
            .await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(status, &body)),
        }
    }

    /// The cluster map state the node holds.
    pub async fn map_state(&self) -> Result<Option<MapState>, RpcError> {
        self.call(&GetMap).await
    }

    /// Offers a map state; the node keeps it if it is newer and answers the state it holds. A
    /// refusal (older or conflicting) is a 409 status error.
    pub async fn offer_map(&self, state: &MapState) -> Result<MapState, RpcError> {
        self.call(state).await
    }

    /// Records the node holds but does not own under `q.map`.
    pub async fn move_list(&self, q: &MoveList) -> Result<MovePage, RpcError> {
        self.call(q).await
    }

    /// Drops the node's copy of a record that now sits on its owners.
    pub async fn release(&self, q: &Release) -> Result<(), RpcError> {
        self.call(q).await
    }

    /// Stores a copy of a version that exists elsewhere ([`WriteMode::Copy`]).
    pub async fn put_manifest(&self, m: &Manifest) -> Result<WriteReply, RpcError> {
        self.call(m).await
    }

    /// Stores a manifest version under `mode`.
    pub async fn write_manifest(
        &self,
        manifest: &Manifest,
        mode: WriteMode,
    ) -> Result<WriteReply, RpcError> {
        self.call(&WriteManifest {
            mode,
            manifest: manifest.clone(),
        })
        .await
    }

    pub async fn get_manifest(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Manifest>, RpcError> {
        let q = GetManifest {
            bucket: bucket.to_string(),
            key: key.to_string(),
        };
        self.call(&q).await
    }

    pub async fn list_manifests(&self, q: &ListManifests) -> Result<ListManifestsReply, RpcError> {
        self.call(q).await
    }

    /// Stores a manifest on behalf of `owner` (a hinted write).
    pub async fn put_hinted_manifest(
        &self,
        owner: &str,
        manifest: &Manifest,
    ) -> Result<WriteReply, RpcError> {
        self.call(&PutHintedManifest {
            owner: owner.to_string(),
            manifest: manifest.clone(),
        })
        .await
    }

    /// The node's anti-entropy digests (see [`crate::antientropy`]).
    pub async fn ae_digest(&self, q: &DigestRequest) -> Result<Digests, RpcError> {
        self.call(q).await
    }

    /// The records of some anti-entropy cells, by cell.
    pub async fn ae_cells(
        &self,
        q: &CellRequest,
    ) -> Result<HashMap<u32, Vec<CellRecord>>, RpcError> {
        self.call(q).await
    }

    /// A filter of the chunk groups the node's records reference (see [`crate::gc`]).
    pub async fn gc_references(&self, q: &RefsRequest) -> Result<References, RpcError> {
        self.call(q).await
    }

    /// Deletes old chunks outside the union of every node's references.
    pub async fn gc_sweep(&self, q: &SweepRequest) -> Result<Removed, RpcError> {
        self.call(q).await
    }

    /// Removes old tombstones, ended uploads and promises.
    pub async fn gc_collect(&self, q: &CollectRequest) -> Result<Removed, RpcError> {
        self.call(q).await
    }

    /// Chunks the node found corrupt (by its scrub or on a read), awaiting a good copy.
    pub async fn bad_chunks(&self) -> Result<Vec<ChunkId>, RpcError> {
        self.call(&ListBadChunks).await
    }

    /// The hints this node holds after the cursor `after`.
    pub async fn list_hints(&self, after: &[u8], limit: u32) -> Result<Vec<StoredHint>, RpcError> {
        self.call(&ListHints {
            after: after.to_vec(),
            limit,
        })
        .await
    }

    /// The manifest version a hint names, if the node still holds it.
    pub async fn hinted_manifest(&self, hint: &Hint) -> Result<Option<Manifest>, RpcError> {
        self.call(hint).await
    }

    /// The hint's record reached its owner: the node drops the hint and its copy.
    pub async fn hint_done(&self, raw_key: &[u8]) -> Result<(), RpcError> {
        self.call(&HintDone {
            raw_key: raw_key.to_vec(),
        })
        .await
    }

    /// Records sealed under a master key other than the active one (key rotation).
    pub async fn stale_envelopes(
        &self,
        q: &StaleEnvelopes,
    ) -> Result<StaleEnvelopesReply, RpcError> {
        self.call(q).await
    }

    /// Replaces one record's envelope by its rewrapped form; `false` if the record is gone.
    pub async fn reseal(&self, q: &Reseal) -> Result<bool, RpcError> {
        self.call(q).await
    }

    /// How much the node stores.
    pub async fn stats(&self) -> Result<NodeStats, RpcError> {
        self.call(&Stats).await
    }

    /// Phase one of an agreed change of a bucket record.
    pub async fn prepare_bucket(&self, q: &PrepareBucket) -> Result<BucketPromise, RpcError> {
        self.call(q).await
    }

    /// Stores a bucket record version under `w.mode`.
    pub async fn write_bucket(&self, w: &WriteBucket) -> Result<WriteReply, RpcError> {
        self.call(w).await
    }

    /// Phase one of a conditional write on `bucket/key`.
    pub async fn prepare(&self, q: &Prepare) -> Result<PrepareReply, RpcError> {
        self.call(q).await
    }

    /// Phase two: store `manifest` (version = ballot) unless a higher ballot was promised.
    pub async fn accept(&self, manifest: &Manifest) -> Result<WriteReply, RpcError> {
        self.call(&Accept {
            manifest: manifest.clone(),
        })
        .await
    }

    /// Stores an agreed step of an upload (and a completion's manifest) under the key's
    /// promises.
    pub async fn write_upload(&self, w: &WriteUpload) -> Result<WriteReply, RpcError> {
        self.call(w).await
    }

    pub async fn list_uploads(&self, q: &ListUploads) -> Result<Vec<UploadRecord>, RpcError> {
        self.call(q).await
    }

    pub async fn list_parts(&self, q: &ListParts) -> Result<Vec<PartRecord>, RpcError> {
        self.call(q).await
    }

    pub async fn drop_parts(&self, upload_id: Version) -> Result<(), RpcError> {
        self.call(&DropParts { upload_id }).await
    }

    /// Sends a bodiless request and returns only the answer's status (health probes).
    pub async fn status_of(&self, method: Method, path: &str) -> Result<StatusCode, RpcError> {
        Ok(self.fetch(method, path).await?.0)
    }

    /// Sends a bodiless request; the answer's status and body (at most 16 MiB): health and
    /// metrics pages.
    pub async fn fetch(&self, method: Method, path: &str) -> Result<(StatusCode, Bytes), RpcError> {
        self.exchange(method, path, Bytes::new(), self.timeouts.metadata, 16 << 20)
            .await
    }
}
