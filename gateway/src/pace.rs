//! Pacing of background copies (rebalancing, anti-entropy), so that they leave the disks and
//! the network to client requests.

use std::time::Duration;

/// A copy rate: after copying `n` bytes, a task sleeps `n / bytes_per_second`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// 0: unlimited.
    pub bytes_per_second: u64,
}

impl Pace {
    /// Waits as long as copying `bytes` takes at this rate.
    pub async fn after(self, bytes: usize) {
        if self.bytes_per_second > 0 {
            let secs = bytes as f64 / self.bytes_per_second as f64;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    }
}
