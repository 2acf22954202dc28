//! Prometheus metrics of the gateway.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry,
};

pub struct GatewayMetrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub quorum_failures: IntCounterVec,
    pub read_repairs: IntCounter,
    pub corrupt_chunks: IntCounter,
    pub chunk_reads: IntCounter,
    pub segments_opened: IntCounter,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    /// 1 while a node answers, 0 while it is backed off as down.
    pub node_up: IntGaugeVec,
    /// Writes that went to a stand-in because an owner was down.
    pub hinted_writes: IntCounter,
    /// Hinted records handed back to their owner.
    pub handoffs: IntCounter,
    /// Chunk copies a node marked corrupt, rewritten from a good replica.
    pub chunk_repairs: IntCounter,
    /// Anti-entropy cells whose digests differed between two replicas.
    pub ae_cells_differing: IntCounter,
    /// Records anti-entropy copied to a replica that lacked them.
    pub ae_records_copied: IntCounter,
    /// Digest comparisons of two replicas.
    pub ae_pairs_compared: IntCounter,
    /// Anti-entropy passes by result (`complete`, `partial`).
    pub ae_passes: IntCounterVec,
    /// How long the last anti-entropy pass took.
    pub ae_pass_seconds: Gauge,
    /// When the last complete anti-entropy pass began (Unix seconds).
    pub ae_last_complete: Gauge,
    /// Garbage collections by outcome (`done`, `skipped`).
    pub gc_runs: IntCounterVec,
    /// Records garbage collection removed, by kind.
    pub gc_removed: IntCounterVec,
    /// When the last garbage collection finished (Unix seconds).
    pub gc_last: Gauge,
    /// The map epoch this gateway places by.
    pub map_epoch: IntGauge,
    /// Records found on nodes that no longer own them and not yet moved (last pass).
    pub rebalance_pending: IntGauge,
    /// Records moved to their new owners after a membership change.
    pub rebalance_moved: IntCounter,
    /// Chunk bytes copied to new owners after a membership change.
    pub rebalance_bytes: IntCounter,
}

impl GatewayMetrics {
    pub fn new() -> Result<GatewayMetrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("s3store_gateway".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "requests_total",
                "S3 requests by operation (PutObject, ...; Unknown when refused before parsing) and HTTP status",
            ),
            &["operation", "status"],
        )
        ?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "S3 request latency by operation, until the response head",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 18)?),
            &["operation"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Always 1; the version of this gateway"),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let quorum_failures = IntCounterVec::new(
            Opts::new(
                "quorum_failures_total",
                "Operations that did not reach their quorum",
            ),
            &["kind"],
        )?;
        let read_repairs = IntCounter::new(
            "read_repairs_total",
            "Stale or missing replicas rewritten after a read saw them",
        )?;
        let corrupt_chunks = IntCounter::new(
            "corrupt_chunks_total",
            "Chunk copies that failed authentication (served from another replica, rewritten)",
        )?;
        let chunk_reads = IntCounter::new(
            "chunk_reads_total",
            "Chunk copies fetched from storage nodes for reads",
        )?;
        let segments_opened = IntCounter::new(
            "segments_decrypted_total",
            "Encrypted 64 KiB segments opened for reads",
        )?;
        let bytes_in =
            IntCounter::new("received_bytes_total", "Object bytes received from clients")?;
        let bytes_out = IntCounter::new("sent_bytes_total", "Object bytes sent to clients")?;
        let node_up = IntGaugeVec::new(
            Opts::new(
                "node_up",
                "Whether a storage node answers (1) or is backed off (0)",
            ),
            &["node"],
        )?;
        let hinted_writes = IntCounter::new(
            "hinted_writes_total",
            "Chunk and manifest writes stored on a stand-in for an owner that was down",
        )?;
        let handoffs = IntCounter::new(
            "hints_handed_off_total",
            "Hinted records delivered to their owner",
        )?;
        let chunk_repairs = IntCounter::new(
            "chunk_repairs_total",
            "Chunk copies found corrupt by a node's scrub and rewritten from a good replica",
        )?;
        let ae_cells_differing = IntCounter::new(
            "antientropy_cells_differing_total",
            "Anti-entropy cells whose digests differed between two replicas",
        )?;
        let ae_records_copied = IntCounter::new(
            "antientropy_records_copied_total",
            "Manifests and chunks anti-entropy copied to a replica that lacked them",
        )?;
        let ae_pairs_compared = IntCounter::new(
            "antientropy_pairs_compared_total",
            "Digest comparisons between two replicas",
        )?;
        let ae_passes = IntCounterVec::new(
            Opts::new(
                "antientropy_passes_total",
                "Anti-entropy passes: complete (every node answered, every difference reconciled) or partial",
            ),
            &["result"],
        )
        ?;
        let ae_pass_seconds = Gauge::new(
            "antientropy_last_pass_duration_seconds",
            "How long the last anti-entropy pass took",
        )?;
        let ae_last_complete = Gauge::new(
            "antientropy_last_complete_pass_start_timestamp_seconds",
            "When the last complete anti-entropy pass began",
        )?;
        let gc_runs = IntCounterVec::new(
            Opts::new(
                "gc_runs_total",
                "Garbage collections: done, or skipped (a node down, hints held, data moving)",
            ),
            &["outcome"],
        )?;
        let gc_removed = IntCounterVec::new(
            Opts::new(
                "gc_removed_records_total",
                "Orphan chunks, tombstones, ended uploads and promises removed by garbage collection",
            ),
            &["kind"],
        )
        ?;
        let gc_last = Gauge::new(
            "gc_last_run_timestamp_seconds",
            "When the last garbage collection finished",
        )?;
        let map_epoch = IntGauge::new("map_epoch", "The cluster map epoch this gateway places by")?;
        let rebalance_pending = IntGauge::new(
            "rebalance_pending_records",
            "Records the last move pass found on nodes that no longer own them and did not move",
        )?;
        let rebalance_moved = IntCounter::new(
            "rebalance_records_moved_total",
            "Records moved to their new owners after a membership change",
        )?;
        let rebalance_bytes = IntCounter::new(
            "rebalance_bytes_total",
            "Chunk bytes copied to new owners after a membership change",
        )?;
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(build_info),
            Box::new(map_epoch.clone()),
            Box::new(ae_pairs_compared.clone()),
            Box::new(ae_passes.clone()),
            Box::new(ae_pass_seconds.clone()),
            Box::new(ae_last_complete.clone()),
            Box::new(gc_runs.clone()),
            Box::new(gc_removed.clone()),
            Box::new(gc_last.clone()),
            Box::new(rebalance_pending.clone()),
            Box::new(rebalance_moved.clone()),
            Box::new(rebalance_bytes.clone()),
            Box::new(latency.clone()),
            Box::new(quorum_failures.clone()),
            Box::new(read_repairs.clone()),
            Box::new(corrupt_chunks.clone()),
            Box::new(chunk_reads.clone()),
            Box::new(segments_opened.clone()),
            Box::new(bytes_in.clone()),
            Box::new(bytes_out.clone()),
            Box::new(node_up.clone()),
            Box::new(hinted_writes.clone()),
            Box::new(handoffs.clone()),
            Box::new(chunk_repairs.clone()),
            Box::new(ae_cells_differing.clone()),
            Box::new(ae_records_copied.clone()),
        ] {
            registry.register(m)?;
        }
        Ok(GatewayMetrics {
            registry,
            requests,
            latency,
            quorum_failures,
            read_repairs,
            corrupt_chunks,
            chunk_reads,
            segments_opened,
            bytes_in,
            bytes_out,
            node_up,
            hinted_writes,
            handoffs,
            chunk_repairs,
            ae_cells_differing,
            ae_records_copied,
            ae_pairs_compared,
            ae_passes,
            ae_pass_seconds,
            ae_last_complete,
            gc_runs,
            gc_removed,
            gc_last,
            map_epoch,
            rebalance_pending,
            rebalance_moved,
            rebalance_bytes,
        })
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .unwrap_or_else(|e| tracing::warn!("metrics not rendered: {e}"));
        out
    }
}
