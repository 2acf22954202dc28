//! Prometheus metrics of one storage node (its own registry, so several embedded nodes in the
//! dev cluster each expose their own `/metrics`).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

pub struct NodeMetrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    pub scrub_chunks: IntCounter,
    pub scrub_bytes: IntCounter,
    pub corrupt_chunks: IntCounter,
}

impl NodeMetrics {
    pub fn new(node_id: &str) -> NodeMetrics {
        let registry = Registry::new_custom(
            Some("s3store_node".into()),
            Some([("node".to_string(), node_id.to_string())].into()),
        )
        .expect("static registry options");
        let requests = IntCounterVec::new(
            Opts::new(
                "requests_total",
                "Internal API requests by operation and status",
            ),
            &["op", "status"],
        )
        .expect("static metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Internal API latency by operation",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).expect("static buckets")),
            &["op"],
        )
        .expect("static metric");
        let bytes_in = IntCounter::new("received_bytes_total", "Request body bytes received")
            .expect("static metric");
        let bytes_out =
            IntCounter::new("sent_bytes_total", "Response body bytes sent").expect("static metric");
        let scrub_chunks = IntCounter::new("scrub_chunks_total", "Chunks re-verified by the scrub")
            .expect("static metric");
        let scrub_bytes = IntCounter::new(
            "scrub_verified_bytes_total",
            "Chunk bytes re-verified by the scrub",
        )
        .expect("static metric");
        let corrupt_chunks = IntCounter::new(
            "scrub_corrupt_chunks_total",
            "Chunks the scrub found not matching their checksum",
        )
        .expect("static metric");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(bytes_in.clone()),
            Box::new(bytes_out.clone()),
            Box::new(scrub_chunks.clone()),
            Box::new(scrub_bytes.clone()),
            Box::new(corrupt_chunks.clone()),
        ] {
            registry.register(m).expect("unique metric names");
        }
        NodeMetrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            scrub_chunks,
            scrub_bytes,
            corrupt_chunks,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        out
    }
}
