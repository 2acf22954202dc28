//! The admin operations: what each route of the admin API does, on this gateway's view of the
//! cluster. Answers are the shapes of [`super::api`]; failures are [`AdminError`]s, which the
//! HTTP layer turns into statuses in one place ([`AdminError::status`]).

use std::sync::Arc;

use node_api::model::{BucketQuota, BucketRecord, Role};

use super::api;
use crate::access::{Directory, KeyError};
use crate::cluster::{Cluster, ClusterError};
use crate::conditional::CasError;
use crate::jobs::{now_ms, Job, Jobs};
use crate::keyring::Keyring;
use crate::listing;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request is malformed or names something invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The request does not carry the admin token.
    #[error("{0}")]
    Unauthorized(String),
    /// The bucket, key, job or route does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the state (a key that exists, a map change refused).
    #[error("{0}")]
    Conflict(String),
    /// The cluster could not do it now (too few nodes answered).
    #[error("{0}")]
    Unavailable(String),
}

impl AdminError {
    /// The HTTP status of the error.
    pub fn status(&self) -> http::StatusCode {
        match self {
            AdminError::BadRequest(_) => http::StatusCode::BAD_REQUEST,
            AdminError::Unauthorized(_) => http::StatusCode::UNAUTHORIZED,
            AdminError::NotFound(_) => http::StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => http::StatusCode::CONFLICT,
            AdminError::Unavailable(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error's code in the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::BadRequest(_) => "BadRequest",
            AdminError::Unauthorized(_) => "Unauthorized",
            AdminError::NotFound(_) => "NotFound",
            AdminError::Conflict(_) => "Conflict",
            AdminError::Unavailable(_) => "Unavailable",
        }
    }
}

impl From<ClusterError> for AdminError {
    fn from(e: ClusterError) -> Self {
        AdminError::Unavailable(e.to_string())
    }
}

impl From<CasError> for AdminError {
    fn from(e: CasError) -> Self {
        AdminError::Unavailable(e.to_string())
    }
}

impl From<KeyError> for AdminError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::InvalidId => AdminError::BadRequest(e.to_string()),
            KeyError::Exists(_) => AdminError::Conflict(e.to_string()),
            KeyError::Missing(_) => AdminError::NotFound(e.to_string()),
            KeyError::Cluster(c) => c.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, AdminError>;

/// What the admin operations work on: this gateway's cluster, keys, jobs and master keys.
#[derive(Clone)]
pub struct Admin {
    pub cluster: Arc<Cluster>,
    pub directory: Arc<Directory>,
    pub jobs: Arc<Jobs>,
    pub keyring: Arc<Keyring>,
}

impl Admin {
    pub fn of(gw: &crate::s3::Gateway) -> Admin {
        Admin {
            cluster: gw.cluster.clone(),
            directory: gw.directory.clone(),
            jobs: gw.jobs.clone(),
            keyring: gw.keyring.clone(),
        }
    }
}

fn parse_role(s: &str) -> Result<Role> {
    match s {
        "read" => Ok(Role::Read),
        "write" => Ok(Role::Write),
        "owner" => Ok(Role::Owner),
        _ => Err(AdminError::BadRequest(format!(
            "`{s}`: a role is read, write or owner"
        ))),
    }
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Read => "read",
        Role::Write => "write",
        Role::Owner => "owner",
    }
}

fn parse_job(name: &str) -> Result<Job> {
    Job::ALL
        .into_iter()
        .find(|j| j.name() == name)
        .ok_or_else(|| AdminError::NotFound(format!("no job {name} (repair, rebalance)")))
}

fn key_view(r: &node_api::model::AccessKeyRecord) -> api::KeyView {
    api::KeyView {
        id: r.id.clone(),
        grants: r
            .grants
            .iter()
            .map(|(b, role)| (b.clone(), role_name(*role).to_string()))
            .collect(),
    }
}

impl Admin {
    pub async fn cluster_status(&self) -> api::ClusterStatus {
        let nodes = self.nodes().await;
        let layout = self.cluster.layout();
        let r = &layout.current.map.replication;
        api::ClusterStatus {
            epoch: layout.current.map.epoch,
            replication: api::Replication {
                n: r.n,
                w: r.w,
                r: r.r,
            },
            moving_from: layout.previous.as_ref().map(|p| p.map.epoch),
            nodes_up: nodes.iter().filter(|n| n.up).count(),
            hints: nodes.iter().filter_map(|n| n.hints).sum(),
            nodes,
        }
    }

    pub async fn nodes(&self) -> Vec<api::NodeView> {
        crate::status::cluster_status(&self.cluster)
            .await
            .into_iter()
            .map(|s| api::NodeView {
                id: s.id,
                address: s.address,
                zone: s.zone,
                weight: s.weight,
                role: s.role.to_string(),
                up: s.up,
                hints: s.hints,
                bytes: s.data.map(|d| d.bytes),
                versions: s.data.map(|d| d.manifests),
            })
            .collect()
    }

    pub fn map(&self) -> api::MapView {
        let layout = self.cluster.layout();
        api::MapView {
            current: layout.current.map.clone(),
            previous: layout.previous.as_ref().map(|p| p.map.clone()),
        }
    }

    pub async fn apply_map(&self, next: placement::ClusterMap) -> Result<api::MapApplied> {
        let applied = crate::membership::apply_map(&self.cluster, next)
            .await
            .map_err(AdminError::Conflict)?;
        Ok(api::MapApplied {
            epoch: applied.epoch,
            took: applied.took,
            offered: applied.offered,
        })
    }

    async fn bucket_view(&self, b: &BucketRecord) -> Result<api::BucketView> {
        let (objects, bytes) = listing::usage(&self.cluster, b).await?;
        let policy = b.config.policy.as_deref().map(|text| {
            match crate::policy::Policy::parse(text, &b.name) {
                Ok(p) => api::PolicySummary {
                    statements: p.statements.len(),
                    public: p.is_public(),
                },
                // Stored policies were checked when put; one the parser now refuses counts
                // as nothing granted.
                Err(_) => api::PolicySummary {
                    statements: 0,
                    public: false,
                },
            }
        });
        Ok(api::BucketView {
            name: b.name.clone(),
            owner: b.owner.clone(),
            region: b.region.clone(),
            objects,
            bytes,
            public_read: b.public_read,
            quota: b.config.quota.as_ref().map(|q| api::Quota {
                max_bytes: q.max_bytes,
                max_objects: q.max_objects,
            }),
            policy,
            default_encryption: b.config.encryption.as_ref().map(|e| e.algorithm.clone()),
            website: b.config.website.is_some(),
        })
    }

    pub async fn buckets(&self) -> Result<Vec<api::BucketView>> {
        let mut out = Vec::new();
        for b in self.cluster.list_buckets().await? {
            out.push(self.bucket_view(&b).await?);
        }
        Ok(out)
    }

    async fn live_bucket(&self, name: &str) -> Result<BucketRecord> {
        self.cluster
            .get_bucket(name)
            .await?
            .filter(|b| !b.deleted)
            .ok_or_else(|| AdminError::NotFound(format!("no bucket {name}")))
    }

    pub async fn bucket(&self, name: &str) -> Result<api::BucketView> {
        let b = self.live_bucket(name).await?;
        self.bucket_view(&b).await
    }

    /// Changes a live bucket's record by agreement.
    async fn change_bucket(
        &self,
        name: &str,
        change: impl Fn(&mut BucketRecord),
    ) -> Result<BucketRecord> {
        self.cluster
            .agree_bucket(name, |current| match current {
                Some(b) if !b.deleted => {
                    let mut next = b.clone();
                    change(&mut next);
                    Ok(Some(next))
                }
                _ => Err(AdminError::NotFound(format!("no bucket {name}"))),
            })
            .await?
            .ok_or_else(|| AdminError::Unavailable(format!("bucket {name} was not changed")))
    }

    /// Sets (or, with neither limit, removes) a bucket's quota.
    pub async fn set_quota(&self, bucket: &str, quota: api::Quota) -> Result<api::BucketView> {
        let stored =
            (quota.max_bytes.is_some() || quota.max_objects.is_some()).then_some(BucketQuota {
                max_bytes: quota.max_bytes,
                max_objects: quota.max_objects,
            });
        let b = self
            .change_bucket(bucket, |b| b.config.quota = stored.clone())
            .await?;
        self.bucket_view(&b).await
    }

    pub async fn set_public(&self, bucket: &str, public: api::Public) -> Result<api::BucketView> {
        let b = self
            .change_bucket(bucket, |b| b.public_read = public.public_read)
            .await?;
        self.bucket_view(&b).await
    }

    pub async fn keys(&self) -> Result<Vec<api::KeyView>> {
        Ok(self
            .directory
            .refresh()
            .await?
            .iter()
            .filter(|r| !r.deleted)
            .map(key_view)
            .collect())
    }

    pub async fn key(&self, id: &str) -> Result<api::KeyView> {
        self.directory
            .current(id)
            .await?
            .map(|r| key_view(&r))
            .ok_or_else(|| AdminError::NotFound(format!("no stored access key {id}")))
    }

    pub async fn create_key(&self, new: api::NewKey) -> Result<api::CreatedKey> {
        let (id, secret) = self.directory.create(new.id).await?;
        Ok(api::CreatedKey { id, secret })
    }

    pub async fn delete_key(&self, id: &str) -> Result<()> {
        self.directory.update(id, |r| r.deleted = true).await?;
        Ok(())
    }

    pub async fn grant(&self, id: &str, bucket: &str, grant: api::Grant) -> Result<api::KeyView> {
        let role = parse_role(&grant.role)?;
        self.live_bucket(bucket).await?;
        let r = self.directory.grant(id, bucket, Some(role)).await?;
        Ok(key_view(&r))
    }

    pub async fn revoke(&self, id: &str, bucket: &str) -> Result<api::KeyView> {
        let r = self.directory.grant(id, bucket, None).await?;
        Ok(key_view(&r))
    }

    pub async fn kms_keys(&self) -> Result<Vec<api::KmsKeyView>> {
        let buckets = self.cluster.list_buckets().await?;
        let kms = &self.keyring.kms;
        Ok(kms
            .list()
            .into_iter()
            .map(|k| api::KmsKeyView {
                buckets: buckets
                    .iter()
                    .filter(|b| {
                        b.config.encryption.as_ref().is_some_and(|e| {
                            e.algorithm == crate::kms::AWS_KMS
                                && kms.resolve(e.kms_key.as_deref()).ok().as_deref()
                                    == Some(k.id.as_str())
                        })
                    })
                    .map(|b| b.name.clone())
                    .collect(),
                id: k.id,
                default: k.default,
                provider: k.provider.to_string(),
                active: k.active,
                materials: k.materials,
            })
            .collect())
    }

    pub async fn jobs(&self) -> Result<Vec<api::JobView>> {
        let moving = self.cluster.layout().previous.is_some();
        Ok(self
            .jobs
            .refresh()
            .await?
            .into_iter()
            .map(|state| api::JobView {
                name: state.job.name().to_string(),
                state: if state.control.paused {
                    "stopped"
                } else {
                    "running"
                }
                .to_string(),
                detail: match state.job {
                    Job::Rebalance if moving => Some("data is moving to its new owners"),
                    Job::Rebalance => Some("no data to move"),
                    Job::Repair => None,
                }
                .map(str::to_string),
                gateways: state
                    .reports
                    .into_iter()
                    .map(|r| api::JobReport {
                        gateway: r.gateway,
                        running: r.running,
                        started_ms: r.started_ms,
                        finished_ms: r.finished_ms,
                        summary: r.summary,
                    })
                    .collect(),
            })
            .collect())
    }

    async fn job(&self, job: Job) -> Result<api::JobView> {
        self.jobs()
            .await?
            .into_iter()
            .find(|j| j.name == job.name())
            .ok_or_else(|| AdminError::NotFound(format!("no job {}", job.name())))
    }

    /// Stops (`run` false) or starts a job on every gateway; a start asks for a pass at once.
    pub async fn set_job(&self, name: &str, run: bool) -> Result<api::JobView> {
        let job = parse_job(name)?;
        self.jobs
            .set(job, |c| {
                c.paused = !run;
                if run {
                    c.run_requested_ms = now_ms();
                }
            })
            .await?;
        self.job(job).await
    }

    pub async fn repair(&self) -> api::RepairResult {
        let pass = crate::antientropy::sync_once(
            &self.cluster,
            crate::pace::Pace {
                bytes_per_second: 0,
            },
        )
        .await;
        api::RepairResult {
            cells_differing: pass.cells_differing,
            records_copied: pass.records_copied,
            complete: pass.complete,
            summary: pass.describe(),
        }
    }

    pub async fn rotate_status(&self) -> Result<api::RotateStatus> {
        let nodes: Vec<api::NodeRotation> =
            crate::rotate::stale_counts(&self.cluster, &self.keyring)
                .await
                .into_iter()
                .map(|(node, count)| match count {
                    Ok(n) => api::NodeRotation {
                        node,
                        stale_envelopes: Some(n),
                        error: None,
                    },
                    Err(e) => api::NodeRotation {
                        node,
                        stale_envelopes: None,
                        error: Some(e),
                    },
                })
                .collect();
        let stale_access_keys = self.directory.stale_secrets().await?;
        let stale_envelopes = nodes.iter().filter_map(|n| n.stale_envelopes).sum();
        Ok(api::RotateStatus {
            active_key: self.keyring.active_id().to_string(),
            complete: stale_envelopes == 0
                && stale_access_keys == 0
                && nodes.iter().all(|n| n.error.is_none()),
            stale_envelopes,
            stale_access_keys,
            nodes,
        })
    }

    pub async fn rotate(&self) -> api::RotateResult {
        let report = crate::rotate::rotate(&self.cluster, &self.keyring).await;
        let keys = self.directory.rewrap_secrets().await;
        let mut incomplete = report.unreachable.clone();
        if let Err(e) = &keys {
            incomplete.push(format!("stored access keys: {e:#}"));
        }
        api::RotateResult {
            active_key: self.keyring.active_id().to_string(),
            rewrapped: report.rewrapped,
            gone: report.gone,
            access_keys_rewrapped: keys.as_ref().map_or(0, |n| *n),
            complete: report.complete() && keys.is_ok(),
            unopenable: report.unopenable,
            incomplete,
        }
    }
}
