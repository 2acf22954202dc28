//! The hybrid logical clock that stamps every write.
//!
//! A stamp is `wall-clock milliseconds << 16 | counter`. It never goes backwards within a process
//! and moves past every stamp the gateway has observed from the cluster, so versions written by
//! one gateway after it read another's are ordered after them even with clock skew. Its wall
//! clock is never behind the latest clock a node showed on an answer (`Epochs::clock_ms`): a
//! gateway whose own clock is slow stamps as if it were on the nodes' time (so its ballots are
//! not taken for expired ones, and its writes are not stamped below ones already acknowledged).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use node_api::client::Epochs;
use node_api::model::Version;

#[derive(Debug, Default)]
pub struct Hlc {
    last: AtomicU64,
    /// What the node clients learn from answers (the nodes' clocks among it).
    nodes: Option<Arc<Epochs>>,
}

fn wall_clock() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ms << 16
}

impl Hlc {
    /// A clock that follows the node clocks the clients in `nodes` see.
    pub fn following(nodes: Arc<Epochs>) -> Hlc {
        Hlc {
            last: AtomicU64::new(0),
            nodes: Some(nodes),
        }
    }

    /// A new stamp, greater than every stamp returned or observed before.
    pub fn now(&self) -> u64 {
        let nodes = self
            .nodes
            .as_ref()
            .map_or(0, |n| n.clock_ms.load(Ordering::Relaxed) << 16);
        let wall = wall_clock().max(nodes);
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(prev.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => prev = actual,
            }
        }
    }

    /// Moves the clock past a stamp seen elsewhere.
    pub fn observe(&self, stamp: u64) {
        self.last.fetch_max(stamp, Ordering::AcqRel);
    }

    /// A fresh version: a new stamp and a random tie-breaker.
    pub fn version(&self) -> Version {
        Version {
            hlc: self.now(),
            tiebreak: rand::random(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_past_observed() {
        let clock = Hlc::default();
        let a = clock.now();
        let b = clock.now();
        assert!(b > a);
        let future = b + (10_000 << 16);
        clock.observe(future);
        assert!(clock.now() > future);
        assert!((clock.version().millis() as i64 - (wall_clock() >> 16) as i64).abs() < 60_000);
    }

    #[test]
    fn never_behind_a_clock_a_node_showed() {
        let nodes = Arc::new(Epochs::default());
        let clock = Hlc::following(nodes.clone());
        let ahead_ms = (wall_clock() >> 16) + 45_000;
        nodes.clock_ms.store(ahead_ms, Ordering::Relaxed);
        assert!(clock.version().millis() >= ahead_ms);
        assert!(clock.now() > ahead_ms << 16);
    }
}
