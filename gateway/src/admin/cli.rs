//! `gateway admin <command>`: a client of the admin API. With `--endpoint` (or
//! `S3STORE_ADMIN_ENDPOINT`) and the token in `S3STORE_ADMIN_TOKEN`, it asks a running
//! gateway's admin listener over HTTP(S), and needs no cluster secret; with `--config
//! gateway.yaml` it answers the same requests in this process, reaching the nodes itself with
//! the configuration's cluster secret. Both go through the same routes
//! ([`super::routes::dispatch`]), so both print the same.

use std::fmt::Write as _;
use std::path::PathBuf;

use http::Method;
use serde::de::DeserializeOwned;

use super::api;
use super::routes::PREFIX;

/// An admin command.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Show the cluster: epoch, replication, and per node its zone, health, hints and data.
    Status,
    /// Print the cluster map in force (and the one data moves from, during a move).
    Map,
    /// Apply a membership change: the map in `--map` (a higher epoch) is offered to every node;
    /// gateways pick it up and move the data in the background.
    ApplyMap {
        #[arg(long)]
        map: PathBuf,
    },
    /// Make an access key (no grants yet); prints its id and secret once.
    KeyCreate {
        /// The id (letters and digits); generated when not given.
        #[arg(long)]
        id: Option<String>,
    },
    /// List the stored access keys and their grants.
    KeyList,
    /// Delete a stored access key; it stops working within a second on every gateway.
    KeyDelete { id: String },
    /// Give a key `read`, `write` or `owner` in a bucket.
    Grant {
        id: String,
        bucket: String,
        #[arg(value_parser = ["read", "write", "owner"])]
        role: String,
    },
    /// Take a key's role in a bucket away.
    Revoke { id: String, bucket: String },
    /// Let anyone read a bucket without signing (`on`), or stop that (`off`).
    BucketPublic {
        bucket: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// List the buckets with their owners, object counts, sizes and quotas.
    Buckets,
    /// Limit what a bucket may hold (PUT, Copy and Complete beyond it get 403 QuotaExceeded);
    /// with neither limit, remove the quota.
    BucketQuota {
        bucket: String,
        /// The most bytes the bucket's objects may take together.
        #[arg(long)]
        max_bytes: Option<u64>,
        /// The most objects the bucket may hold.
        #[arg(long)]
        max_objects: Option<u64>,
    },
    /// List the KMS keys of SSE-KMS (provider, active material, every material) and the
    /// buckets whose default encryption uses each.
    KmsKeys,
    /// Run one anti-entropy pass now (replicas compare digests and copy what differs).
    Repair,
    /// Show the background jobs (repair, rebalance): stopped or running, and each gateway's
    /// last pass.
    Jobs,
    /// Stop a background job on every gateway (the pass under way finishes).
    JobStop {
        #[arg(value_parser = ["repair", "rebalance"])]
        job: String,
    },
    /// Start a stopped background job on every gateway, with a pass at once.
    JobStart {
        #[arg(value_parser = ["repair", "rebalance"])]
        job: String,
    },
    /// Show what a key rotation still has to rewrap (envelopes per node, access keys).
    RotateStatus,
}

/// One admin API request.
pub struct Request {
    pub method: Method,
    /// Below [`PREFIX`].
    pub path: String,
    pub body: Option<serde_json::Value>,
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

impl Command {
    /// The API request the command makes.
    pub fn request(&self) -> anyhow::Result<Request> {
        let (method, path, body) = match self {
            Command::Status => (Method::GET, "/cluster".to_string(), None),
            Command::Map => (Method::GET, "/cluster/map".to_string(), None),
            Command::ApplyMap { map } => {
                let next = config::load_cluster_map(map)?;
                (
                    Method::PUT,
                    "/cluster/map".to_string(),
                    Some(serde_json::to_value(next)?),
                )
            }
            Command::KeyCreate { id } => (
                Method::POST,
                "/keys".to_string(),
                Some(serde_json::to_value(api::NewKey { id: id.clone() })?),
            ),
            Command::KeyList => (Method::GET, "/keys".to_string(), None),
            Command::KeyDelete { id } => (Method::DELETE, format!("/keys/{}", seg(id)), None),
            Command::Grant { id, bucket, role } => (
                Method::PUT,
                format!("/keys/{}/grants/{}", seg(id), seg(bucket)),
                Some(serde_json::to_value(api::Grant { role: role.clone() })?),
            ),
            Command::Revoke { id, bucket } => (
                Method::DELETE,
                format!("/keys/{}/grants/{}", seg(id), seg(bucket)),
                None,
            ),
            Command::BucketPublic { bucket, state } => (
                Method::PUT,
                format!("/buckets/{}/public", seg(bucket)),
                Some(serde_json::to_value(api::Public {
                    public_read: state == "on",
                })?),
            ),
            Command::Buckets => (Method::GET, "/buckets".to_string(), None),
            Command::BucketQuota {
                bucket,
                max_bytes,
                max_objects,
            } => {
                let path = format!("/buckets/{}/quota", seg(bucket));
                if max_bytes.is_none() && max_objects.is_none() {
                    (Method::DELETE, path, None)
                } else {
                    let quota = api::Quota {
                        max_bytes: *max_bytes,
                        max_objects: *max_objects,
                    };
                    (Method::PUT, path, Some(serde_json::to_value(quota)?))
                }
            }
            Command::KmsKeys => (Method::GET, "/kms-keys".to_string(), None),
            Command::Repair => (Method::POST, "/repair".to_string(), None),
            Command::Jobs => (Method::GET, "/jobs".to_string(), None),
            Command::JobStop { job } => (Method::POST, format!("/jobs/{job}/stop"), None),
            Command::JobStart { job } => (Method::POST, format!("/jobs/{job}/start"), None),
            Command::RotateStatus => (Method::GET, "/rotate".to_string(), None),
        };
        Ok(Request { method, path, body })
    }

    /// What to print for the successful answer `body`.
    pub fn render(&self, body: &[u8]) -> anyhow::Result<String> {
        fn parse<T: DeserializeOwned>(body: &[u8]) -> anyhow::Result<T> {
            serde_json::from_slice(body)
                .map_err(|e| anyhow::anyhow!("the admin API answered something unexpected: {e}"))
        }
        let mut out = String::new();
        match self {
            Command::Status => render_status(&mut out, &parse(body)?)?,
            Command::Map => {
                let map: api::MapView = parse(body)?;
                out.push_str(&serde_yaml_ng::to_string(&map.current)?);
                if let Some(p) = map.previous {
                    writeln!(out, "# data moves from epoch {}", p.epoch)?;
                }
            }
            Command::ApplyMap { .. } => {
                let a: api::MapApplied = parse(body)?;
                writeln!(
                    out,
                    "cluster map epoch {} offered: {} of {} nodes took it; data moves in the background",
                    a.epoch, a.took, a.offered
                )?;
            }
            Command::KeyCreate { .. } => {
                let k: api::CreatedKey = parse(body)?;
                writeln!(out, "access key: {}", k.id)?;
                writeln!(out, "secret key: {}", k.secret)?;
            }
            Command::KeyList => {
                let keys: Vec<api::KeyView> = parse(body)?;
                for k in keys {
                    let grants: Vec<String> =
                        k.grants.iter().map(|(b, r)| format!("{b}={r}")).collect();
                    writeln!(out, "{}\t{}", k.id, grants.join(","))?;
                }
            }
            Command::KeyDelete { id } => writeln!(out, "deleted {id}")?,
            Command::Grant { id, bucket, role } => writeln!(out, "{id} has {role} in {bucket}")?,
            Command::Revoke { id, bucket } => writeln!(out, "{id} has no role in {bucket}")?,
            Command::BucketPublic { bucket, state } => {
                writeln!(out, "{bucket}: public read {state}")?
            }
            Command::BucketQuota { bucket, .. } => {
                let b: api::BucketView = parse(body)?;
                writeln!(out, "{bucket}: quota {}", quota_text(b.quota.as_ref()))?;
            }
            Command::Buckets => {
                let buckets: Vec<api::BucketView> = parse(body)?;
                writeln!(out, "bucket\towner\tobjects\tbytes\tpublic\tquota")?;
                for b in buckets {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        b.name,
                        b.owner,
                        b.objects,
                        b.bytes,
                        if b.public_read { "public" } else { "-" },
                        quota_text(b.quota.as_ref())
                    )?;
                }
            }
            Command::KmsKeys => {
                let keys: Vec<api::KmsKeyView> = parse(body)?;
                writeln!(out, "key\tprovider\tactive\tmaterials\tbuckets")?;
                for k in keys {
                    let default = if k.default { " (default)" } else { "" };
                    let users = if k.buckets.is_empty() {
                        "-".to_string()
                    } else {
                        k.buckets.join(",")
                    };
                    writeln!(
                        out,
                        "{}{default}\t{}\t{}\t{}\t{users}",
                        k.id,
                        k.provider,
                        k.active,
                        k.materials.join(",")
                    )?;
                }
            }
            Command::Repair => {
                let r: api::RepairResult = parse(body)?;
                writeln!(out, "anti-entropy: {}", r.summary)?;
            }
            Command::Jobs => {
                let jobs: Vec<api::JobView> = parse(body)?;
                for j in jobs {
                    render_job(&mut out, &j)?;
                }
            }
            Command::JobStop { job } => {
                writeln!(out, "{job}: stopped (passes under way finish)")?;
            }
            Command::JobStart { job } => {
                writeln!(out, "{job}: running, a pass starts now on every gateway")?;
            }
            Command::RotateStatus => {
                let r: api::RotateStatus = parse(body)?;
                writeln!(
                    out,
                    "active master key {}: {} envelopes and {} access keys under older keys{}",
                    r.active_key,
                    r.stale_envelopes,
                    r.stale_access_keys,
                    if r.complete {
                        " (rotation complete)"
                    } else {
                        ""
                    }
                )?;
                for n in r.nodes {
                    match (n.stale_envelopes, n.error) {
                        (Some(count), _) => writeln!(out, "  {}: {count}", n.node)?,
                        (None, e) => writeln!(
                            out,
                            "  {}: did not answer ({})",
                            n.node,
                            e.unwrap_or_default()
                        )?,
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A quota as `admin buckets` shows it: `bytes<=N,objects<=M`, or `-`.
fn quota_text(q: Option<&api::Quota>) -> String {
    let Some(q) = q else {
        return "-".to_string();
    };
    let mut parts = Vec::new();
    if let Some(b) = q.max_bytes {
        parts.push(format!("bytes<={b}"));
    }
    if let Some(o) = q.max_objects {
        parts.push(format!("objects<={o}"));
    }
    parts.join(",")
}

fn render_status(out: &mut String, s: &api::ClusterStatus) -> std::fmt::Result {
    let moving = match s.moving_from {
        Some(p) => format!("  moving data from epoch {p}"),
        None => String::new(),
    };
    writeln!(
        out,
        "epoch {}  n={} w={} r={}{moving}",
        s.epoch, s.replication.n, s.replication.w, s.replication.r
    )?;
    writeln!(
        out,
        "{:<12} {:<22} {:<10} {:>6} {:<8} {:<5} {:>6} {:>12} {:>10}",
        "node", "address", "zone", "weight", "role", "state", "hints", "bytes", "versions"
    )?;
    let or_dash = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    for n in &s.nodes {
        writeln!(
            out,
            "{:<12} {:<22} {:<10} {:>6} {:<8} {:<5} {:>6} {:>12} {:>10}",
            n.id,
            n.address,
            n.zone,
            n.weight,
            n.role,
            if n.up { "up" } else { "DOWN" },
            or_dash(n.hints),
            or_dash(n.bytes),
            or_dash(n.versions)
        )?;
    }
    Ok(())
}

fn render_job(out: &mut String, j: &api::JobView) -> std::fmt::Result {
    let detail = j
        .detail
        .as_deref()
        .map(|d| format!("; {d}"))
        .unwrap_or_default();
    writeln!(out, "{}: {}{detail}", j.name, j.state)?;
    let now = crate::jobs::now_ms();
    let ago = |ms: u64| format!("{:.0} s ago", now.saturating_sub(ms) as f64 / 1e3);
    for r in &j.gateways {
        if r.running {
            writeln!(
                out,
                "  {}: pass under way since {}",
                r.gateway,
                ago(r.started_ms)
            )?;
        } else {
            let took = r.finished_ms.saturating_sub(r.started_ms) as f64 / 1e3;
            writeln!(
                out,
                "  {}: last pass ended {} (took {took:.1} s): {}",
                r.gateway,
                ago(r.finished_ms),
                r.summary
            )?;
        }
    }
    Ok(())
}

/// What `gateway rotate` prints of a rotation.
pub fn render_rotation(r: &api::RotateResult) -> String {
    let mut out = format!(
        "rotate: {} envelopes rewrapped under `{}`, {} replaced meanwhile\n",
        r.rewrapped, r.active_key, r.gone
    );
    for what in &r.unopenable {
        out.push_str(&format!("cannot open: {what}\n"));
    }
    out.push_str(&format!(
        "rotate: {} stored access keys rewrapped\n",
        r.access_keys_rewrapped
    ));
    for what in &r.incomplete {
        out.push_str(&format!("incomplete: {what}\n"));
    }
    if r.complete {
        out.push_str(&format!(
            "rotate: complete; once every gateway writes under `{}`, other master keys can go\n",
            r.active_key
        ));
    }
    out
}

/// The text of a failed answer: the API's message.
fn failure(status: http::StatusCode, body: &[u8]) -> anyhow::Error {
    match serde_json::from_slice::<api::ApiError>(body) {
        Ok(e) => anyhow::anyhow!("{} ({}): {}", status.as_u16(), e.code, e.message),
        Err(_) => anyhow::anyhow!(
            "{}: {}",
            status.as_u16(),
            String::from_utf8_lossy(body).trim()
        ),
    }
}

/// Runs `command` in this process against `admin`; returns what to print.
pub async fn run_local(admin: &super::Admin, command: &Command) -> anyhow::Result<String> {
    let req = command.request()?;
    let body = match &req.body {
        Some(b) => serde_json::to_vec(b)?,
        None => Vec::new(),
    };
    let router = super::routes::Router::new();
    let answer = super::routes::dispatch(admin, &router, &req.method, &req.path, &body).await;
    let body = answer.body.unwrap_or_default();
    if !answer.status.is_success() {
        return Err(failure(answer.status, &body));
    }
    command.render(&body)
}

/// Where a remote admin API is and how to reach it.
pub struct Remote {
    /// `http(s)://host:port` of the admin listener.
    pub endpoint: String,
    pub token: String,
    /// PEM certificates to trust (the system's roots when none).
    pub ca_file: Option<PathBuf>,
}

/// Runs `command` against the admin API at `remote`; returns what to print.
pub async fn run_remote(remote: &Remote, command: &Command) -> anyhow::Result<String> {
    use http_body_util::BodyExt as _;
    let req = command.request()?;
    let mut roots = rustls::RootCertStore::empty();
    match &remote.ca_file {
        Some(path) => {
            use rustls_pki_types::pem::PemObject as _;
            for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            {
                roots.add(cert.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?)?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    let url = format!(
        "{}{PREFIX}{}",
        remote.endpoint.trim_end_matches('/'),
        req.path
    );
    let body = match &req.body {
        Some(b) => serde_json::to_vec(b)?,
        None => Vec::new(),
    };
    let request = http::Request::builder()
        .method(req.method)
        .uri(&url)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", remote.token),
        )
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(600), client.request(request))
            .await
            .map_err(|_| anyhow::anyhow!("{url}: no answer in 10 minutes"))?
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(failure(status, &body));
    }
    command.render(&body)
}
