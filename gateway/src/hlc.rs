//! The hybrid logical clock that stamps every write.
//!
//! A stamp is `wall-clock milliseconds << 16 | counter`. It never goes backwards within a process
//! and moves past every stamp the gateway has observed from the cluster, so versions written by
//! one gateway after it read another's are ordered after them even with clock skew.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use storage_node::model::Version;

#[derive(Debug, Default)]
pub struct Hlc {
    last: AtomicU64,
}

fn wall_clock() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ms << 16
}

impl Hlc {
    /// A new stamp, greater than every stamp returned or observed before.
    pub fn now(&self) -> u64 {
        let wall = wall_clock();
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(prev + 1);
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
}
