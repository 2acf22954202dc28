//! The gateway's log filter: `RUST_LOG`, else the configuration's `log`, else `info`; and never
//! below `info` for the `s3s` crate, whatever is asked: its debug output prints every request
//! whole, headers included, so SSE-C keys (`x-amz-server-side-encryption-customer-key`) and
//! signatures would land in the log.

use tracing_subscriber::EnvFilter;

/// The level the `s3s` crate logs at, at most.
const S3S_CEILING: &str = "s3s=info";

/// The filter for `requested` (from `RUST_LOG`, if set) or `configured` (the `log` setting).
#[allow(
    clippy::expect_used,
    reason = "a constant directive, parsed in this module's tests"
)]
pub fn filter(requested: Option<&str>, configured: Option<&str>) -> EnvFilter {
    let wanted = requested.or(configured).unwrap_or("info");
    let filter = EnvFilter::try_new(wanted).unwrap_or_else(|e| {
        eprintln!("log filter {wanted:?} is not valid ({e}); logging at info");
        EnvFilter::new("info")
    });
    filter.add_directive(S3S_CEILING.parse().expect("a valid directive"))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Collects the targets of the events that pass the filter.
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0
                .lock()
                .unwrap()
                .push(event.metadata().target().to_string());
        }
    }

    fn passed(requested: &str) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(filter(Some(requested), None))
            .with(Seen(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "s3s::service", "a request with its SSE-C key");
            tracing::info!(target: "s3s::service", "s3s at info");
            tracing::debug!(target: "gateway::cluster", "our own debug line");
        });
        let out = seen.lock().unwrap().clone();
        out
    }

    #[test]
    fn s3s_never_logs_below_info() {
        for requested in ["debug", "trace", "s3s=debug", "debug,s3s=trace"] {
            let seen = passed(requested);
            assert_eq!(
                seen.iter().filter(|t| *t == "s3s::service").count(),
                1,
                "{requested}: only the info line of s3s passes: {seen:?}"
            );
        }
        assert!(passed("debug").contains(&"gateway::cluster".to_string()));
        assert!(!passed("info").contains(&"gateway::cluster".to_string()));
    }
}
