//! `gateway admin --config gw.yaml <command>`: access keys and their grants, buckets with their
//! object counts and sizes, and an anti-entropy pass on demand. It talks to the storage nodes'
//! internal API, authenticated with the cluster secret, as a gateway does (never to RocksDB
//! files), so it works from any machine that can reach the nodes.

use std::fmt::Write as _;

use node_api::model::{BucketQuota, BucketRecord, Role};

use crate::jobs::{now_ms, Job};
use crate::listing;
use crate::s3::Gateway;

/// An admin command.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
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
        #[arg(value_parser = parse_role)]
        role: Role,
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
    /// Run one anti-entropy pass now, from this command (replicas compare digests and copy
    /// what differs).
    Repair,
    /// Show the background jobs (repair, rebalance): stopped or running, and each gateway's
    /// last pass.
    Jobs,
    /// Stop a background job on every gateway (the pass under way finishes).
    JobStop {
        #[arg(value_enum)]
        job: Job,
    },
    /// Start a stopped background job on every gateway, with a pass at once.
    JobStart {
        #[arg(value_enum)]
        job: Job,
    },
}

/// A quota as `admin buckets` shows it: `bytes<=N,objects<=M`, or `-`.
fn quota_text(q: Option<&BucketQuota>) -> String {
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

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "read" => Ok(Role::Read),
        "write" => Ok(Role::Write),
        "owner" => Ok(Role::Owner),
        _ => Err(format!("`{s}`: a role is read, write or owner")),
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Read => "read",
        Role::Write => "write",
        Role::Owner => "owner",
    }
}

/// Runs `command`; returns what to print.
pub async fn run(gw: &Gateway, command: Command) -> anyhow::Result<String> {
    let dir = &gw.directory;
    let mut out = String::new();
    match command {
        Command::KeyCreate { id } => {
            let (id, secret) = dir.create(id).await?;
            writeln!(out, "access key: {id}")?;
            writeln!(out, "secret key: {secret}")?;
        }
        Command::KeyList => {
            for r in dir.refresh().await?.into_iter().filter(|r| !r.deleted) {
                let grants: Vec<String> = r
                    .grants
                    .iter()
                    .map(|(b, role)| format!("{b}={}", role_name(*role)))
                    .collect();
                writeln!(out, "{}\t{}", r.id, grants.join(","))?;
            }
        }
        Command::KeyDelete { id } => {
            dir.update(&id, |r| r.deleted = true).await?;
            writeln!(out, "deleted {id}")?;
        }
        Command::Grant { id, bucket, role } => {
            if gw
                .cluster
                .get_bucket(&bucket)
                .await?
                .is_none_or(|b| b.deleted)
            {
                anyhow::bail!("no bucket {bucket}");
            }
            dir.grant(&id, &bucket, Some(role)).await?;
            writeln!(out, "{id} has {} in {bucket}", role_name(role))?;
        }
        Command::Revoke { id, bucket } => {
            dir.grant(&id, &bucket, None).await?;
            writeln!(out, "{id} has no role in {bucket}")?;
        }
        Command::BucketQuota {
            bucket,
            max_bytes,
            max_objects,
        } => {
            let quota = (max_bytes.is_some() || max_objects.is_some()).then_some(BucketQuota {
                max_bytes,
                max_objects,
            });
            gw.cluster
                .agree_bucket(&bucket, |current| match current {
                    Some(b) if !b.deleted => {
                        let mut next = b.clone();
                        next.config.quota = quota.clone();
                        Ok(Some(next))
                    }
                    _ => Err(anyhow::anyhow!("no bucket {bucket}")),
                })
                .await?;
            writeln!(out, "{bucket}: quota {}", quota_text(quota.as_ref()))?;
        }
        Command::BucketPublic { bucket, state } => {
            let public = state == "on";
            gw.cluster
                .agree_bucket(&bucket, |current| match current {
                    Some(b) if !b.deleted => Ok(Some(BucketRecord {
                        public_read: public,
                        ..b.clone()
                    })),
                    _ => Err(anyhow::anyhow!("no bucket {bucket}")),
                })
                .await?;
            writeln!(out, "{bucket}: public read {state}")?;
        }
        Command::KmsKeys => {
            let buckets = gw.cluster.list_buckets().await?;
            writeln!(out, "key\tprovider\tactive\tmaterials\tbuckets")?;
            for k in gw.keyring.kms.list() {
                let users: Vec<&str> = buckets
                    .iter()
                    .filter(|b| {
                        b.config.encryption.as_ref().is_some_and(|e| {
                            e.algorithm == crate::kms::AWS_KMS
                                && gw.keyring.kms.resolve(e.kms_key.as_deref()).ok().as_deref()
                                    == Some(k.id.as_str())
                        })
                    })
                    .map(|b| b.name.as_str())
                    .collect();
                let default = if k.default { " (default)" } else { "" };
                writeln!(
                    out,
                    "{}{default}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.provider,
                    k.active,
                    k.materials.join(","),
                    if users.is_empty() {
                        "-".to_string()
                    } else {
                        users.join(",")
                    }
                )?;
            }
        }
        Command::Buckets => {
            writeln!(out, "bucket\towner\tobjects\tbytes\tpublic\tquota")?;
            for b in gw.cluster.list_buckets().await? {
                let (objects, bytes) = listing::usage(&gw.cluster, &b).await?;
                let public = if b.public_read { "public" } else { "-" };
                let quota = quota_text(b.config.quota.as_ref());
                writeln!(
                    out,
                    "{}\t{}\t{objects}\t{bytes}\t{public}\t{quota}",
                    b.name, b.owner
                )?;
            }
        }
        Command::Repair => {
            let pass = crate::antientropy::sync_once(
                &gw.cluster,
                crate::pace::Pace {
                    bytes_per_second: 0,
                },
            )
            .await;
            writeln!(out, "anti-entropy: {}", pass.describe())?;
        }
        Command::Jobs => {
            let moving = gw.cluster.layout().previous.is_some();
            for state in gw.jobs.refresh().await? {
                let running = if state.control.paused {
                    "stopped"
                } else {
                    "running"
                };
                let detail = match state.job {
                    Job::Rebalance if moving => "; data is moving to its new owners",
                    Job::Rebalance => "; no data to move",
                    Job::Repair => "",
                };
                writeln!(out, "{}: {running}{detail}", state.job.name())?;
                for r in state.reports {
                    let ago =
                        |ms: u64| format!("{:.0} s ago", now_ms().saturating_sub(ms) as f64 / 1e3);
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
            }
        }
        Command::JobStop { job } => {
            gw.jobs.set(job, |c| c.paused = true).await?;
            writeln!(out, "{}: stopped (passes under way finish)", job.name())?;
        }
        Command::JobStart { job } => {
            gw.jobs
                .set(job, |c| {
                    c.paused = false;
                    c.run_requested_ms = now_ms();
                })
                .await?;
            writeln!(
                out,
                "{}: running, a pass starts now on every gateway",
                job.name()
            )?;
        }
    }
    Ok(out)
}
