//! Prometheus metrics of one storage node (its own registry, so several embedded nodes in the
//! dev cluster each expose their own `/metrics`).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::store::Store;

pub struct NodeMetrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    pub scrub_chunks: IntCounter,
    pub scrub_bytes: IntCounter,
    pub corrupt_chunks: IntCounter,
    store_bytes: IntGaugeVec,
    store_keys: IntGaugeVec,
    pending_compaction: IntGaugeVec,
    compactions_running: IntGauge,
    hints_pending: IntGauge,
}

impl NodeMetrics {
    pub fn new(node_id: &str) -> Result<NodeMetrics, prometheus::Error> {
        let registry = Registry::new_custom(
            Some("s3store_node".into()),
            Some([("node".to_string(), node_id.to_string())].into()),
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "requests_total",
                "Internal API requests by operation and status",
            ),
            &["op", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Internal API latency by operation",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16)?),
            &["op"],
        )?;
        let bytes_in = IntCounter::new("received_bytes_total", "Request body bytes received")?;
        let bytes_out = IntCounter::new("sent_bytes_total", "Response body bytes sent")?;
        let scrub_chunks =
            IntCounter::new("scrub_chunks_total", "Chunks re-verified by the scrub")?;
        let scrub_bytes = IntCounter::new(
            "scrub_verified_bytes_total",
            "Chunk bytes re-verified by the scrub",
        )?;
        let corrupt_chunks = IntCounter::new(
            "scrub_corrupt_chunks_total",
            "Chunks the scrub found not matching their checksum",
        )?;
        let store_bytes = IntGaugeVec::new(
            Opts::new(
                "store_bytes",
                "Bytes on disk per column family and file kind (sst, blob; chunk bytes: column family chunks, kind file)",
            ),
            &["cf", "kind"],
        )
        ?;
        let store_keys = IntGaugeVec::new(
            Opts::new(
                "store_keys",
                "RocksDB's estimate of the keys per column family",
            ),
            &["cf"],
        )?;
        let pending_compaction = IntGaugeVec::new(
            Opts::new(
                "store_pending_compaction_bytes",
                "Bytes compaction still has to rewrite, per column family",
            ),
            &["cf"],
        )?;
        let compactions_running =
            IntGauge::new("store_compactions_running", "Compactions running now")?;
        let hints_pending = IntGauge::new(
            "hints_pending",
            "Hinted records this node holds for other nodes (RocksDB's estimate)",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Always 1; the version of this node"),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(store_bytes.clone()),
            Box::new(store_keys.clone()),
            Box::new(pending_compaction.clone()),
            Box::new(compactions_running.clone()),
            Box::new(hints_pending.clone()),
            Box::new(build_info),
            Box::new(latency.clone()),
            Box::new(bytes_in.clone()),
            Box::new(bytes_out.clone()),
            Box::new(scrub_chunks.clone()),
            Box::new(scrub_bytes.clone()),
            Box::new(corrupt_chunks.clone()),
        ] {
            registry.register(m)?;
        }
        Ok(NodeMetrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            scrub_chunks,
            scrub_bytes,
            corrupt_chunks,
            store_bytes,
            store_keys,
            pending_compaction,
            compactions_running,
            hints_pending,
        })
    }

    /// Counts one request of operation `op` that ended with `status`, and its latency.
    pub fn observe(&self, op: &str, status: http::StatusCode, started: std::time::Instant) {
        self.requests
            .with_label_values(&[op, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
    }

    /// The text exposition format, with the store's figures read now.
    pub fn render_with(&self, store: &Store) -> Vec<u8> {
        let (families, running) = store.stats();
        self.store_bytes
            .with_label_values(&["chunks", "file"])
            .set(store.chunk_file_bytes() as i64);
        for f in families {
            self.store_bytes
                .with_label_values(&[f.name, "sst"])
                .set(f.sst_bytes as i64);
            self.store_bytes
                .with_label_values(&[f.name, "blob"])
                .set(f.blob_bytes as i64);
            self.store_keys
                .with_label_values(&[f.name])
                .set(f.keys as i64);
            self.pending_compaction
                .with_label_values(&[f.name])
                .set(f.pending_compaction_bytes as i64);
            if f.name == "hints" {
                self.hints_pending.set(f.keys as i64);
            }
        }
        self.compactions_running.set(running as i64);
        self.render()
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .unwrap_or_else(|e| tracing::warn!("metrics not rendered: {e}"));
        out
    }
}
