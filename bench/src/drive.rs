//! Running requests: `concurrency` workers call an operation for i = 0.. until a request cap or
//! a time limit, and every outcome is recorded under the name of the S3 operation it was.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one phase measured: latencies of successful requests and error counts, by operation.
#[derive(Default)]
pub struct Outcomes {
    pub latencies: BTreeMap<&'static str, Vec<Duration>>,
    pub errors: BTreeMap<&'static str, usize>,
    pub elapsed: Duration,
}

impl Outcomes {
    /// Every operation seen, successful or not.
    pub fn operations(&self) -> Vec<&'static str> {
        let mut ops: Vec<_> = self
            .latencies
            .keys()
            .chain(self.errors.keys())
            .copied()
            .collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }
}

/// Calls `op(i)` for i = 0.. from `concurrency` workers until `count` calls or `limit` time.
/// `op` returns the operation's name and whether it succeeded; the first few errors are
/// printed to stderr.
pub async fn drive<F, Fut>(concurrency: usize, count: usize, limit: Duration, op: F) -> Outcomes
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (&'static str, anyhow::Result<()>)> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (op, next, outcomes) = (op.clone(), next.clone(), outcomes.clone());
        workers.push(tokio::spawn(async move {
            while started.elapsed() < limit {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let t = Instant::now();
                let (name, result) = op(i).await;
                let took = t.elapsed();
                let mut o = outcomes.lock().unwrap();
                match result {
                    Ok(()) => o.latencies.entry(name).or_default().push(took),
                    Err(e) => {
                        let errors = o.errors.entry(name).or_default();
                        *errors += 1;
                        if *errors <= 3 {
                            eprintln!("{name} request {i} failed: {e:#}");
                        }
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let mut outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    outcomes.elapsed = started.elapsed();
    outcomes
}
