//! The S3 gateway: a stateless front end that turns S3 requests into quorum reads and writes on
//! the storage nodes.
//!
//! * [`s3`]: the S3 operations (`s3s::S3`), validation and S3 errors.
//! * [`objects`]: the data path, chunking bodies in and streaming ranges out.
//! * [`listing`]: the k-way merge of the nodes' sorted listings.
//! * [`cluster`]: preference lists, quorums, undo of failed writes, read repair;
//!   [`conditional`]: writes with If-None-Match / If-Match, agreed by the key's owners (Paxos);
//!   [`upload_state`]: multipart upload records.
//! * [`hlc`]: the hybrid logical clock that orders versions.
//! * [`auth`]: access keys and post-signature checks; [`checksums`]: `x-amz-checksum-*` checks.
//! * [`server`]: HTTP serving, request ids, metrics routes; [`dev`]: the one-command dev cluster.

pub mod auth;
pub mod checksums;
pub mod cluster;
pub mod conditional;
pub mod dev;
pub mod hlc;
pub mod keyring;
pub mod listing;
pub mod metrics;
pub mod objects;
pub mod s3;
pub mod sealing;
pub mod server;
pub mod upload_state;

use std::sync::Arc;

use storage_node::auth::ClusterKey;
use tokio::net::TcpListener;

/// A running gateway.
pub struct RunningGateway {
    pub address: std::net::SocketAddr,
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Loads the cluster map and credentials named by `config` and starts serving S3.
pub async fn start(config: &config::GatewayConfig) -> anyhow::Result<RunningGateway> {
    let map = config::load_cluster_map(&config.cluster_map)?;
    let secret = config
        .cluster_secret
        .resolve("cluster_secret")
        .map_err(anyhow::Error::msg)?;
    let mut credentials = Vec::new();
    for (i, c) in config.credentials.iter().enumerate() {
        let secret = c
            .secret_key
            .resolve(&format!("credentials[{i}].secret_key"))
            .map_err(anyhow::Error::msg)?;
        credentials.push((c.access_key.clone(), secret));
    }
    let keys = config.encryption.load_keys().map_err(anyhow::Error::msg)?;
    let keyring = Arc::new(keyring::Keyring::new(&config.encryption.active_key, keys));
    let metrics = Arc::new(metrics::GatewayMetrics::new());
    let cluster = Arc::new(cluster::Cluster::new(
        map,
        ClusterKey::new(&secret),
        metrics.clone(),
    ));
    let gateway = s3::Gateway {
        cluster,
        data: objects::DataConfig {
            chunk_size: config.chunk_size,
            inline_threshold: config.inline_threshold,
            window: config.chunk_window,
        },
        region: config.region.clone(),
        keyring,
    };
    let service =
        server::build_service(gateway, &credentials, config.virtual_host_domain.as_deref())?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, service, metrics, async move {
        let _ = rx.await;
    }));
    Ok(RunningGateway {
        address,
        shutdown: tx,
        task,
    })
}
