//! The background jobs an operator stops, starts and inspects across the whole cluster:
//! `repair` (anti-entropy passes, each complete one followed by garbage collection) and
//! `rebalance` (moving data after a membership change).
//!
//! Every gateway runs both. Their controls are cluster settings kept on every node
//! (`job/<name>/control`, see [`crate::everywhere`]) that each gateway re-reads every
//! [`REFRESH_EVERY`]: a stopped job finishes the pass it is in and starts no other until it is
//! started again, on every gateway; `start` also asks each gateway for a pass at once. Each
//! gateway reports its job's last pass (`job/<name>/report/<gateway>`) for `gateway admin jobs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_api::model::{decode, encode, SettingRecord};
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, ClusterError};
use crate::everywhere::{read_all, write};

/// How often every gateway re-reads the controls.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// A gateway writes its report of a job at most this often (and when a pass ends a move).
const REPORT_GAP: Duration = Duration::from_secs(5);

/// A background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Job {
    /// Anti-entropy passes and garbage collection.
    Repair,
    /// Moving data to its owners after a membership change.
    Rebalance,
}

impl Job {
    pub const ALL: [Job; 2] = [Job::Repair, Job::Rebalance];

    pub fn name(self) -> &'static str {
        match self {
            Job::Repair => "repair",
            Job::Rebalance => "rebalance",
        }
    }

    fn control_name(self) -> String {
        format!("job/{}/control", self.name())
    }

    fn report_prefix(self) -> String {
        format!("job/{}/report/", self.name())
    }
}

/// What the operator set for a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub paused: bool,
    /// When a pass was last asked for (ms since the epoch): a gateway whose last pass started
    /// before runs one at once.
    pub run_requested_ms: u64,
}

/// What one gateway last did of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub gateway: String,
    /// A pass is under way (started at `started_ms`).
    pub running: bool,
    pub started_ms: u64,
    /// When the last pass ended (0: none yet).
    pub finished_ms: u64,
    /// What the last pass did.
    pub summary: String,
    /// When this report was written.
    pub written_ms: u64,
}

/// One job as `gateway admin jobs` shows it.
pub struct JobState {
    pub job: Job,
    pub control: Control,
    pub reports: Vec<Report>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A gateway's view of the job controls, and its reports.
pub struct Jobs {
    cluster: Arc<Cluster>,
    /// This gateway's name in reports.
    gateway: String,
    controls: RwLock<HashMap<Job, Control>>,
    last_report: Mutex<HashMap<Job, Instant>>,
}

impl Jobs {
    pub fn new(cluster: Arc<Cluster>, gateway: String) -> Jobs {
        Jobs {
            cluster,
            gateway,
            controls: RwLock::new(HashMap::new()),
            last_report: Mutex::new(HashMap::new()),
        }
    }

    /// The job's control as last read (a job never set runs).
    pub fn control(&self, job: Job) -> Control {
        self.controls
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&job)
            .cloned()
            .unwrap_or_default()
    }

    /// Re-reads the controls and reports from the nodes.
    pub async fn refresh(&self) -> Result<Vec<JobState>, ClusterError> {
        let settings: Vec<SettingRecord> = read_all(&self.cluster).await?;
        let mut controls = HashMap::new();
        let mut out = Vec::new();
        for job in Job::ALL {
            let control = settings
                .iter()
                .find(|s| s.name == job.control_name())
                .and_then(|s| decode::<Control>(&s.value).ok())
                .unwrap_or_default();
            let reports = settings
                .iter()
                .filter(|s| s.name.starts_with(&job.report_prefix()))
                .filter_map(|s| decode::<Report>(&s.value).ok())
                .collect();
            controls.insert(job, control.clone());
            out.push(JobState {
                job,
                control,
                reports,
            });
        }
        *self.controls.write().unwrap_or_else(|p| p.into_inner()) = controls;
        Ok(out)
    }

    /// Changes a job's control on every node.
    pub async fn set(
        &self,
        job: Job,
        change: impl FnOnce(&mut Control),
    ) -> Result<Control, ClusterError> {
        self.refresh().await?;
        let mut control = self.control(job);
        change(&mut control);
        write(
            &self.cluster,
            SettingRecord {
                name: job.control_name(),
                version: self.cluster.hlc.version(),
                value: encode(&control),
            },
        )
        .await?;
        self.refresh().await?;
        Ok(control)
    }

    /// Waits until the job's next pass is due: `every` after `last_started` (the gateway's
    /// start for the first pass), or at once when a pass was asked for since; never while the
    /// job is stopped.
    pub async fn next_turn(&self, job: Job, every: Duration, last_started: (Instant, u64)) {
        loop {
            let control = self.control(job);
            if !control.paused
                && (control.run_requested_ms > last_started.1 || last_started.0.elapsed() >= every)
            {
                return;
            }
            let left = every.saturating_sub(last_started.0.elapsed());
            tokio::time::sleep(left.clamp(Duration::from_millis(10), REFRESH_EVERY.div_f64(4.0)))
                .await;
        }
    }

    /// Writes this gateway's report of `job`; at most every [`REPORT_GAP`] unless `now`.
    pub async fn report(&self, job: Job, report: Report, now: bool) {
        {
            let mut last = self.last_report.lock().unwrap_or_else(|p| p.into_inner());
            if !now && last.get(&job).is_some_and(|t| t.elapsed() < REPORT_GAP) {
                return;
            }
            last.insert(job, Instant::now());
        }
        let record = SettingRecord {
            name: format!("{}{}", job.report_prefix(), self.gateway),
            version: self.cluster.hlc.version(),
            value: encode(&Report {
                written_ms: now_ms(),
                ..report
            }),
        };
        if let Err(e) = write(&self.cluster, record).await {
            tracing::debug!("{} report not written: {e}", job.name());
        }
    }

    /// A report of a pass that started at `started_ms` and is under way.
    pub fn running(&self, started_ms: u64) -> Report {
        Report {
            gateway: self.gateway.clone(),
            running: true,
            started_ms,
            finished_ms: 0,
            summary: String::new(),
            written_ms: 0,
        }
    }

    /// A report of a pass that started at `started_ms` and ended now.
    pub fn finished(&self, started_ms: u64, summary: String) -> Report {
        Report {
            gateway: self.gateway.clone(),
            running: false,
            started_ms,
            finished_ms: now_ms(),
            summary,
            written_ms: 0,
        }
    }
}

/// This gateway's name in job reports: the host's name and the address it serves.
pub fn gateway_name(listen: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "gateway".to_string());
    format!("{host}@{listen}")
}

/// Re-reads the controls every [`REFRESH_EVERY`], forever.
pub async fn refresh_loop(jobs: Arc<Jobs>) {
    loop {
        tokio::time::sleep(REFRESH_EVERY).await;
        if let Err(e) = jobs.refresh().await {
            tracing::debug!("job controls not refreshed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_report_names_are_per_job() {
        assert_eq!(Job::Repair.control_name(), "job/repair/control");
        assert!(format!("{}gw@x:1", Job::Rebalance.report_prefix())
            .starts_with("job/rebalance/report/"));
        assert!(!Job::Repair
            .control_name()
            .starts_with(&Job::Repair.report_prefix()));
    }
}
