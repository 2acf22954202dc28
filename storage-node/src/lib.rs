//! A storage node: one RocksDB holding manifests, bucket records and the index of chunks, whose
//! bytes are files ([`chunk_files`]), served over an
//! authenticated internal HTTP/2 API (chunk PUTs on [`chunk_stream`]s). It never sees S3 requests, credentials or
//! plaintext (gateways seal object data and metadata); it stores what gateways send and answers what they ask.
//!
//! * [`model`]: the records and messages shared with the gateway; [`msgpack_skim`]: reading a
//!   few fields of a stored record without decoding the rest.
//! * [`keys`]: the byte layout of manifest keys that makes a listing one range scan.
//! * [`store`]: the RocksDB column families and their last-writer-wins rules.
//! * [`cas_store`]: the Paxos steps of conditional writes; [`envelopes`]: key rotation;
//!   [`hints`]: records held for a node that was down (hinted handoff); [`scrub`]: chunk
//!   reads and writes, checksums and the background pass that re-verifies them;
//!   [`chunk_files`]: chunk bytes as files; [`direct_buffer`]: the aligned, pooled buffers
//!   chunk bytes travel in.
//! * [`antientropy`]: digests of what a node holds, per peer and hash cell.
//! * [`gc`]: what the node's records reference; removing orphan chunks, old tombstones, ended
//!   uploads and promises once the grace period has passed.
//! * [`moves`]: the cluster map state the node keeps, and the records it holds but no longer
//!   owns after a membership change.
//! * [`server`] / [`client`]: the two ends of the internal API; [`auth`] signs it, [`tls`]
//!   can encrypt it; [`chunk_stream`]: the long-lived connections chunk PUTs travel on.

pub mod antientropy;
pub mod auth;
pub mod cas_store;
pub mod chunk_files;
pub mod chunk_stream;
pub mod client;
pub mod direct_buffer;
pub mod envelopes;
pub mod gc;
pub mod hints;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod moves;
pub mod msgpack_skim;
pub mod rpc;
pub mod scrub;
pub mod server;
pub mod store;
pub mod tls;
pub mod upload_store;

use std::sync::Arc;

use tokio::net::TcpListener;

/// A running node (used by the binary and by the gateway's embedded dev cluster).
pub struct RunningNode {
    pub address: std::net::SocketAddr,
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Opens the node's store and starts serving on `listen`.
pub async fn start(config: &config::StorageNodeConfig) -> anyhow::Result<RunningNode> {
    let secret = config
        .cluster_secret
        .resolve("cluster_secret")
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = Arc::new(Store::open(&config.data_dir)?);
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr()?;
    let state = Arc::new(server::NodeState::new(
        config.node_id.clone(),
        store,
        auth::ClusterKey::new(&secret),
        metrics::NodeMetrics::new(&config.node_id),
    )?);
    let tls = match &config.tls {
        Some(files) => Some(tls::server_config(files, tls::ALPN_INTERNAL)?),
        None => None,
    };
    let joining = config.join.clone().map(|member| {
        let (state, secret) = (state.clone(), secret.clone());
        tokio::spawn(async move { join(&state, &member, &secret).await })
    });
    let pace = scrub::Pace {
        bytes_per_second: config.scrub.bytes_per_second,
        pause: std::time::Duration::from_secs_f64(config.scrub.pause_seconds),
    };
    let scrubber = (pace.bytes_per_second > 0).then(|| {
        let reporter = state.clone();
        tokio::spawn(scrub::run(state.store.clone(), pace, move |p| {
            reporter.metrics.scrub_chunks.inc_by(p.chunks);
            reporter.metrics.scrub_bytes.inc_by(p.bytes);
            reporter.metrics.corrupt_chunks.inc_by(p.bad);
        }))
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, state, tls, async move {
        let _ = rx.await;
        if let Some(s) = scrubber {
            s.abort();
        }
        if let Some(j) = joining {
            j.abort();
        }
    }));
    Ok(RunningNode {
        address,
        shutdown: tx,
        task,
    })
}

/// Learns the cluster map state from `member` (discovery), when this node holds none yet; in
/// the background, retrying for a minute while the member is unreachable or has no state
/// itself. Not fatal when it never succeeds: gateways send the state to every node of the map.
async fn join(state: &server::NodeState, member: &str, secret: &str) {
    let client = client::NodeClient::new(
        member,
        auth::ClusterKey::new(secret),
        client::Timeouts::default(),
    );
    for _ in 0..60 {
        if state.map_state().is_some() {
            return;
        }
        match client.map_state().await {
            Ok(Some(learned)) => {
                match state.offer_map(learned) {
                    Ok(s) => {
                        tracing::info!("joined: cluster map epoch {} from {member}", s.epoch())
                    }
                    Err(why) => tracing::warn!("cluster map from {member} refused: {why}"),
                }
                return;
            }
            Ok(None) => tracing::debug!("{member} holds no cluster map yet"),
            Err(e) => tracing::debug!("join {member}: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    tracing::warn!("join: {member} gave no cluster map within a minute");
}

pub use store::Store;
