//! The object phases of one size: PUT a set of objects, GET them back verifying every byte,
//! HEAD them, run a warp-style mixed load over them, then DELETE everything written.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::drive::{drive, Outcomes};
use crate::report::{rows, Row};

/// What one size's phases are run with.
#[derive(Clone)]
pub struct Plan {
    pub bucket: String,
    pub size: u64,
    pub concurrency: usize,
    /// Objects written (and GETs, HEADs, mixed requests made) at most.
    pub count: usize,
    pub requests: usize,
    pub limit: Duration,
    pub get: bool,
    pub head: bool,
    pub mixed: bool,
}

/// The body of object `i`: a random base with `i` in its first bytes, so that a GET that
/// returned another object's bytes is caught.
pub fn body_of(base: &Bytes, i: usize) -> Bytes {
    if base.len() < 8 {
        return base.clone();
    }
    let mut v = base.to_vec();
    v[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Bytes::from(v)
}

/// Whether `got` is exactly object `i`'s body, without building the expected bytes.
pub fn is_body_of(got: &[u8], base: &Bytes, i: usize) -> bool {
    if base.len() < 8 {
        return got == &base[..];
    }
    got.len() == base.len() && got[..8] == (i as u64).to_le_bytes() && got[8..] == base[8..]
}

/// One size's phases, run in order; returns their rows.
pub async fn run(s3: &aws_sdk_s3::Client, plan: &Plan, md5: f64) -> Vec<Row> {
    let base = Bytes::from(
        (0..plan.size)
            .map(|_| rand::random::<u8>())
            .collect::<Vec<u8>>(),
    );
    let ctx = Arc::new(Ctx {
        s3: s3.clone(),
        bucket: plan.bucket.clone(),
        prefix: format!("{}/", plan.size),
        base,
    });
    let report = |phase, o: &Outcomes| rows(phase, plan.size, plan.concurrency, md5, o);

    let written = Arc::new(Mutex::new(Vec::new()));
    let put = {
        let (ctx, written) = (ctx.clone(), written.clone());
        drive(plan.concurrency, plan.count, plan.limit, move |i| {
            let (ctx, written) = (ctx.clone(), written.clone());
            async move {
                let result = ctx.put(i).await;
                if result.is_ok() {
                    written.lock().unwrap().push(i);
                }
                ("PUT", result)
            }
        })
        .await
    };
    let mut out = report("PUT", &put);
    let mut stored = std::mem::take(&mut *written.lock().unwrap());
    stored.sort_unstable();
    let stored = Arc::new(stored);

    if !stored.is_empty() && plan.get {
        let (ctx, stored) = (ctx.clone(), stored.clone());
        let get = drive(plan.concurrency, plan.requests, plan.limit, move |n| {
            let (ctx, i) = (ctx.clone(), stored[n % stored.len()]);
            async move { ("GET", ctx.get(i).await) }
        })
        .await;
        out.extend(report("GET", &get));
    }
    if !stored.is_empty() && plan.head {
        let (ctx, stored) = (ctx.clone(), stored.clone());
        let head = drive(plan.concurrency, plan.requests, plan.limit, move |n| {
            let (ctx, i) = (ctx.clone(), stored[n % stored.len()]);
            async move { ("HEAD", ctx.head(i).await) }
        })
        .await;
        out.extend(report("HEAD", &head));
    }
    // Objects the mixed phase wrote and has not deleted again.
    let fresh = Arc::new(Mutex::new(VecDeque::new()));
    if !stored.is_empty() && plan.mixed {
        let mixed = mixed(&ctx, plan, stored.clone(), fresh.clone()).await;
        out.extend(report("MIXED", &mixed));
    }

    // Deletes are not time-limited: a run leaves nothing behind.
    let delete = {
        let (ctx, stored) = (ctx.clone(), stored.clone());
        drive(plan.concurrency, stored.len(), Duration::MAX, move |n| {
            let (ctx, i) = (ctx.clone(), stored[n]);
            async move { ("DELETE", ctx.delete(i).await) }
        })
        .await
    };
    out.extend(report("DELETE", &delete));
    let leftover: Vec<usize> = fresh.lock().unwrap().drain(..).collect();
    for i in leftover {
        if let Err(e) = ctx.delete(i).await {
            eprintln!("cleanup of mixed object {i} failed: {e:#}");
        }
    }
    out
}

/// warp's default mix: 45% GET, 30% HEAD, 15% PUT, 10% DELETE. GETs and HEADs read the PUT
/// phase's objects (never deleted here); PUTs write new objects, which DELETEs remove again,
/// so that no request races another on the same key. PUTs write at most `count` objects.
async fn mixed(
    ctx: &Arc<Ctx>,
    plan: &Plan,
    stored: Arc<Vec<usize>>,
    fresh: Arc<Mutex<VecDeque<usize>>>,
) -> Outcomes {
    let (ctx, puts, first_new, budget) = (
        ctx.clone(),
        Arc::new(AtomicUsize::new(0)),
        plan.count,
        plan.count,
    );
    drive(plan.concurrency, plan.requests, plan.limit, move |n| {
        let (ctx, stored, fresh, puts) = (ctx.clone(), stored.clone(), fresh.clone(), puts.clone());
        async move {
            let existing = stored[n.wrapping_mul(7919) % stored.len()];
            match n % 20 {
                0..=8 => ("GET", ctx.get(existing).await),
                15..=17 if puts.load(Ordering::Relaxed) < budget => {
                    let i = first_new + puts.fetch_add(1, Ordering::Relaxed);
                    let result = ctx.put(i).await;
                    if result.is_ok() {
                        fresh.lock().unwrap().push_back(i);
                    }
                    ("PUT", result)
                }
                18 | 19 => {
                    let victim = fresh.lock().unwrap().pop_front();
                    match victim {
                        Some(i) => ("DELETE", ctx.delete(i).await),
                        None => ("HEAD", ctx.head(existing).await),
                    }
                }
                _ => ("HEAD", ctx.head(existing).await),
            }
        }
    })
    .await
}

/// The client, where objects go, and the bytes they are made of.
struct Ctx {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    base: Bytes,
}

impl Ctx {
    fn key(&self, i: usize) -> String {
        format!("{}{i:08}", self.prefix)
    }

    async fn put(&self, i: usize) -> anyhow::Result<()> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(i))
            .body(ByteStream::from(body_of(&self.base, i)))
            .send()
            .await?;
        Ok(())
    }

    async fn get(&self, i: usize) -> anyhow::Result<()> {
        let key = self.key(i);
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await?;
        let bytes = got.body.collect().await?.into_bytes();
        anyhow::ensure!(
            is_body_of(&bytes, &self.base, i),
            "{key}: the bytes read back differ"
        );
        Ok(())
    }

    async fn head(&self, i: usize) -> anyhow::Result<()> {
        let key = self.key(i);
        let got = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await?;
        anyhow::ensure!(
            got.content_length() == Some(self.base.len() as i64),
            "{key}: HEAD says {:?} bytes, {} were written",
            got.content_length(),
            self.base.len()
        );
        Ok(())
    }

    async fn delete(&self, i: usize) -> anyhow::Result<()> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(i))
            .send()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_differ_per_object_and_verify() {
        let base = Bytes::from(vec![0u8; 100]);
        assert_ne!(body_of(&base, 1), body_of(&base, 2));
        assert_eq!(body_of(&base, 3).len(), 100);
        assert!(is_body_of(&body_of(&base, 3), &base, 3));
        assert!(!is_body_of(&body_of(&base, 3), &base, 4));
        assert!(!is_body_of(&body_of(&base, 3)[..99], &base, 3));
        let tiny = Bytes::from_static(b"abc");
        assert!(is_body_of(&body_of(&tiny, 9), &tiny, 9));
    }
}
