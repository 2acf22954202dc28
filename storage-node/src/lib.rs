//! A storage node: one RocksDB holding manifests, bucket records and the index of chunks, whose
//! bytes are files ([`chunk_files`]), served over an internal HTTP/2 API inside mutual TLS
//! with the cluster's identities ([`identity`]; chunk PUTs and GETs on [`chunk_stream`]s). It
//! never sees S3 requests, credentials or plaintext (gateways seal object data and metadata);
//! it stores what gateways send and answers what they ask.
//!
//! The records, messages, client and wire format it shares with gateways live in `node_api`
//! (re-exported here under their old paths: [`model`], [`rpc`], [`client`], [`identity`],
//! [`direct_buffer`], [`msgpack_skim`]).
//!
//! * [`table`]: how each family of the record table is stored, and the row operations all
//!   families share (read, copy, the current versions anti-entropy digests, moves, release).
//! * [`keys`]: the byte layout of manifest keys that makes a listing one range scan.
//! * [`store`]: the RocksDB column families and their newest-version rules.
//! * [`cas_store`]: the Paxos steps of conditional writes; [`envelopes`]: key rotation;
//!   [`hints`]: records held for a node that was down (hinted handoff); [`scrub`]: chunk
//!   reads and writes, checksums and the background pass that re-verifies them;
//!   [`chunk_files`]: chunk bytes as files.
//! * [`antientropy`]: digests of what a node holds, per peer and hash cell.
//! * [`gc`]: what the node's records reference; removing orphan chunks, old tombstones, ended
//!   uploads and promises once the grace period has passed.
//! * [`moves`]: the cluster map state the node keeps, and the records it holds but no longer
//!   owns after a membership change.
//! * [`server`]: the node's end of the internal API; [`chunk_stream`]: its end of the
//!   long-lived connections chunk PUTs and GETs travel on.

// Outside bytes never panic the process: library code has no unwrap/expect/panic and no
// unchecked arithmetic or indexing (tests may). An exception says why where it stands.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

pub mod antientropy;
pub use node_api::{client, direct_buffer, identity, model, msgpack_skim, rpc};
pub mod cas_store;
pub mod chunk_files;
pub mod chunk_stream;
pub mod envelopes;
pub mod gc;
pub mod hints;
pub mod keys;
pub mod metrics;
pub mod moves;
pub mod scrub;
pub mod server;
pub mod store;
pub mod table;
pub mod upload_store;

use std::sync::Arc;

use tokio::net::TcpListener;

use identity::ClusterIdentity;

/// A running node (used by the binary and by tests).
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
    let identity = ClusterIdentity::for_node(&secret, &config.node_id)?;
    let state = Arc::new(server::NodeState::new(
        config.node_id.clone(),
        store,
        metrics::NodeMetrics::new(&config.node_id)?,
    )?);
    let tls = identity
        .server_config()
        .ok_or_else(|| anyhow::anyhow!("a node's identity has no server configuration"))?;
    let joining = config.join.clone().map(|member| {
        let (state, identity) = (state.clone(), identity.clone());
        tokio::spawn(async move { join(&state, &member, &identity).await })
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
async fn join(state: &server::NodeState, member: &str, identity: &ClusterIdentity) {
    let client = client::NodeClient::new(member, None, identity, client::Timeouts::default());
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
