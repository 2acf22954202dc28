//! The S3 gateway: a stateless front end that turns S3 requests into quorum reads and writes on
//! the storage nodes.
//!
//! * [`s3`]: the S3 operations (`s3s::S3`), validation and S3 errors.
//! * [`objects`]: the data path, chunking bodies in and streaming ranges out.
//! * [`listing`]: the k-way merge of the nodes' sorted listings.
//! * [`cluster`]: preference lists, quorums, the order of manifest writes and reads, read repair;
//!   [`conditional`]: writes with If-None-Match / If-Match, agreed by the key's owners (Paxos);
//!   [`upload_state`]: multipart upload records.
//! * [`antientropy`]: replicas compare digests and copy what differs; [`gc`]: removing orphan
//!   chunks and old tombstones after a complete pass.
//! * [`membership`]: the cluster map state, kept newest on this gateway and on every node;
//!   [`rebalance`]: moving data to its new owners after a change.
//! * [`health`]: which nodes answer; [`handoff`]: probing them and handing hinted writes back;
//!   [`status`]: the `gateway status` report; [`admin`]: the `gateway admin` commands.
//! * [`hlc`]: the hybrid logical clock that orders versions; [`pace`]: the rate of background
//!   copies.
//! * [`auth`]: signature and permission checks; [`access`]: the access keys (configured and
//!   stored) and their grants; [`checksums`]: `x-amz-checksum-*` checks.
//! * [`everywhere`]: records kept on every node (access keys, settings); [`jobs`]: stopping,
//!   starting and inspecting the background jobs cluster-wide; [`bucket_cache`]: live
//!   buckets' records for a second.
//! * [`sealing`]: the at-rest format (AES-256-GCM segments); [`keyring`]: master keys and data
//!   key envelopes; [`rotate`]: rewrapping stored data keys under a new master key.
//! * [`server`]: HTTP serving, request ids, metrics routes, the access log ([`request_log`]); [`virtual_host`]: the bucket a
//!   `Host` header names; [`dev`]: the one-command dev cluster.

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

pub mod access;
pub mod acl;
pub mod admin;
pub mod antientropy;
pub mod auth;
pub mod auth_precheck;
pub mod authorize;
pub mod bucket_agreement;
pub mod bucket_cache;
pub mod checksums;
pub mod cluster;
pub mod conditional;
pub mod cors;
pub mod cors_front;
pub mod dev;
pub mod everywhere;
pub mod gc;
pub mod handoff;
pub mod health;
pub mod hlc;
pub mod jobs;
pub mod keyring;
pub mod kms;
pub mod listing;
pub mod logging;
pub mod membership;
pub mod metrics;
pub mod objects;
pub mod pace;
pub mod policy;
pub mod quota;
pub mod rebalance;
pub mod request_log;
pub mod rotate;
pub mod s3;
pub mod sealing;
pub mod server;
pub mod status;
pub mod table;
pub mod upload_fate;
pub mod upload_state;
pub mod virtual_host;
pub mod website;
pub mod website_front;

use std::sync::Arc;

use node_api::auth::ClusterKey;
use node_api::identity::ClusterIdentity;
use tokio::net::TcpListener;

/// A running gateway.
pub struct RunningGateway {
    pub address: std::net::SocketAddr,
    /// The website endpoint's address, when configured.
    pub website_address: Option<std::net::SocketAddr>,
    /// The admin listener's address, when configured.
    pub admin_address: Option<std::net::SocketAddr>,
    /// Whether the S3 endpoint serves HTTPS.
    pub tls: bool,
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<()>,
}

/// What a gateway builds from its configuration: the S3 service state, its metrics and the
/// access keys it accepts.
pub struct Assembled {
    pub gateway: s3::Gateway,
    pub metrics: Arc<metrics::GatewayMetrics>,
    pub credentials: Vec<(String, String)>,
}

/// Loads the cluster map (from the file, or from a member named in `join`), secrets and master
/// keys named by `config`.
pub async fn assemble(config: &config::GatewayConfig) -> anyhow::Result<Assembled> {
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
    let keyring = Arc::new(load_keyring(&config.encryption)?);
    let metrics = Arc::new(metrics::GatewayMetrics::new()?);
    let identity = ClusterIdentity::for_client(&secret)?;
    let (state, learned) = match &config.cluster_map {
        Some(path) => (
            placement::MapState::settled(config::load_cluster_map(path)?),
            false,
        ),
        None => (membership::learn(&config.join, &identity).await?, true),
    };
    let cluster = Arc::new(cluster::Cluster::new(
        state.current.clone(),
        ClusterKey::new(&secret),
        &identity,
        config.hinted_handoff,
        metrics.clone(),
    )?);
    cluster.install(state)?;
    cluster
        .confirmed
        .store(learned, std::sync::atomic::Ordering::SeqCst);
    let directory = Arc::new(access::Directory::new(
        cluster.clone(),
        keyring.clone(),
        &credentials,
    ));
    let jobs = Arc::new(jobs::Jobs::new(
        cluster.clone(),
        jobs::gateway_name(&config.listen),
    ));
    let gateway = s3::Gateway {
        usage: Default::default(),
        directory,
        jobs,
        buckets: Default::default(),
        cluster,
        data: objects::DataConfig {
            chunk_size: config.chunk_size,
            inline_threshold: config.inline_threshold,
            window: config.chunk_window,
        },
        region: config.region.clone(),
        keyring,
        allow_sse_c_over_http: config.encryption.allow_sse_c_over_http,
    };
    Ok(Assembled {
        gateway,
        metrics,
        credentials,
    })
}

/// The master keys and KMS keys of `config`, the PKCS#11 token opened (and logged in to)
/// when a KMS key is kept on one.
pub fn load_keyring(config: &config::EncryptionConfig) -> anyhow::Result<keyring::Keyring> {
    let keys = config.load_keys().map_err(anyhow::Error::msg)?;
    let master = Arc::new(
        kms::Materials::new(&config.active_key, keys)
            .ok_or_else(|| anyhow::anyhow!("encryption.active_key is not among the master keys"))?,
    );
    let loaded = config.load_kms_keys().map_err(anyhow::Error::msg)?;
    let kms_config = config.kms.as_ref();
    let token = match kms_config.and_then(|k| k.pkcs11.as_ref()) {
        Some(p) => Some(Arc::new(open_token(p)?)),
        None => None,
    };
    let kms = kms::Kms::new(
        master.clone(),
        loaded,
        kms_config.and_then(|k| k.default_key.as_deref()),
        token,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(keyring::Keyring::new(master, kms))
}

/// The PKCS#11 token of `p`, logged in.
pub fn open_token(p: &config::Pkcs11Config) -> anyhow::Result<kms::pkcs11::Token> {
    let pin = p
        .pin
        .resolve("encryption.kms.pkcs11.pin")
        .map_err(anyhow::Error::msg)?;
    kms::pkcs11::Token::open(&p.module, &p.token_label, pin)
        .map_err(|e| anyhow::anyhow!("encryption.kms.pkcs11: {e}"))
}

/// Bytes of idle chunk buffers a gateway keeps for reuse: the chunks of requests in flight
/// are in use, not idle, so this only bounds what sits between requests (measured against the
/// gateway's resident memory in PERFORMANCE.md).
const IDLE_CHUNK_BUFFERS: usize = 16 << 20;

/// How often the S3 endpoint's certificate files are checked for a renewal.
const TLS_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Loads what `config` names and starts serving S3.
pub async fn start(config: &config::GatewayConfig) -> anyhow::Result<RunningGateway> {
    node_api::direct_buffer::limit_pool(IDLE_CHUNK_BUFFERS);
    let Assembled {
        gateway, metrics, ..
    } = assemble(config).await?;
    let identity = match &config.tls {
        Some(files) => Some(
            node_api::tls::ReloadingIdentity::load(files)
                .map_err(|e| anyhow::anyhow!("tls: {e:#}"))?,
        ),
        None => None,
    };
    let tls = match &identity {
        Some(identity) => Some(node_api::tls::server_config(
            identity.clone(),
            node_api::tls::ALPN_S3,
        )?),
        None => None,
    };
    // A renewed certificate is served without a restart.
    let reload = identity.map(|identity| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TLS_RELOAD_EVERY).await;
                match identity.refresh() {
                    Ok(true) => tracing::info!("tls: serving the renewed certificate"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("tls: kept the current certificate: {e:#}"),
                }
            }
        })
    });
    let cluster = gateway.cluster.clone();
    // Before serving: the newest map state among the file and the nodes.
    membership::sync_once(&cluster, config.cluster_map.as_deref()).await;
    let directory = gateway.directory.clone();
    if let Err(e) = directory.refresh().await {
        tracing::warn!("stored access keys not read yet: {e}");
    }
    let jobs = gateway.jobs.clone();
    if let Err(e) = jobs.refresh().await {
        tracing::warn!("job controls not read yet: {e}");
    }
    let website = config.website.as_ref().map(|w| website_front::Website {
        domain: w.domain.clone(),
        buckets: gateway.buckets.clone(),
        cluster: gateway.cluster.clone(),
    });
    let admin = match &config.admin {
        Some(a) => Some((
            admin::front::AdminFront::new(
                admin::Admin::of(&gateway),
                &a.load_token().map_err(anyhow::Error::msg)?,
            ),
            a.listen.clone(),
        )),
        None => None,
    };
    let service = server::build_service(gateway, config.virtual_host_domain.as_deref())?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr()?;
    let grace = std::time::Duration::from_secs_f64(config.shutdown_grace_seconds);
    // The website endpoint stops with the S3 endpoint (`stop` is set when it does).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (website_address, website_task) = match (website, &config.website) {
        (Some(website), Some(w)) => {
            let web_listener = TcpListener::bind(&w.listen)
                .await
                .map_err(|e| anyhow::anyhow!("website: cannot listen on {}: {e}", w.listen))?;
            let web_address = web_listener.local_addr()?;
            let mut stopped = stopped.clone();
            let task = tokio::spawn(server::serve(
                web_listener,
                server::S3Handler {
                    front: service.for_website(website),
                    metrics: metrics.clone(),
                },
                None,
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
                grace,
            ));
            (Some(web_address), Some(task))
        }
        _ => (None, None),
    };
    // The admin listener too (HTTPS when the S3 endpoint is).
    let (admin_address, admin_task) = match admin {
        Some((front, listen)) => {
            let admin_listener = TcpListener::bind(&listen)
                .await
                .map_err(|e| anyhow::anyhow!("admin: cannot listen on {listen}: {e}"))?;
            let admin_address = admin_listener.local_addr()?;
            let mut stopped = stopped.clone();
            let task = tokio::spawn(server::serve(
                admin_listener,
                front,
                tls.clone(),
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
                grace,
            ));
            (Some(admin_address), Some(task))
        }
        None => (None, None),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let with_tls = tls.is_some();
    let probe = tokio::spawn(handoff::probe(cluster.clone()));
    let keys = tokio::spawn(access::refresh_loop(directory));
    let job_controls = tokio::spawn(jobs::refresh_loop(jobs.clone()));
    let hand_back = tokio::spawn(handoff::hand_back(cluster.clone()));
    let watch = tokio::spawn(membership::watch(
        cluster.clone(),
        config.cluster_map.clone(),
    ));
    let rebalance = tokio::spawn(rebalance::run(
        cluster.clone(),
        jobs.clone(),
        rebalance::Pace {
            bytes_per_second: config.rebalance_bytes_per_second,
        },
    ));
    let gc_config = &config.garbage_collection;
    let collector = (gc_config.every_seconds > 0.0).then(|| {
        gc::Collector::new(
            std::time::Duration::from_secs_f64(gc_config.grace_seconds),
            std::time::Duration::from_secs_f64(gc_config.reclaim_grace_seconds),
            std::time::Duration::from_secs_f64(gc_config.every_seconds),
        )
    });
    let anti_entropy = (config.anti_entropy_seconds > 0.0).then(|| {
        tokio::spawn(antientropy::run(
            cluster,
            jobs,
            std::time::Duration::from_secs_f64(config.anti_entropy_seconds),
            pace::Pace {
                bytes_per_second: config.anti_entropy_bytes_per_second,
            },
            collector,
        ))
    });
    let serving = server::serve(
        listener,
        server::S3Handler {
            front: service,
            metrics,
        },
        tls,
        async move {
            let _ = rx.await;
            let _ = stop.send(true);
            probe.abort();
            keys.abort();
            job_controls.abort();
            hand_back.abort();
            watch.abort();
            rebalance.abort();
            if let Some(t) = anti_entropy {
                t.abort();
            }
            if let Some(t) = reload {
                t.abort();
            }
        },
        grace,
    );
    let task = tokio::spawn(async move {
        serving.await;
        for t in [website_task, admin_task].into_iter().flatten() {
            let _ = t.await;
        }
    });
    Ok(RunningGateway {
        address,
        website_address,
        admin_address,
        tls: with_tls,
        shutdown: tx,
        task,
    })
}
