//! The object phases of one size: PUT a set of objects, GET them back verifying every byte,
//! HEAD them, run a warp-style mixed load over them, then DELETE everything written.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::bodies::Bodies;
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
    /// Also GET from a bucket with a 20-statement policy and from one without, request by
    /// request: phase `POLICY`, operations `GET+POLICY` and `GET-POLICY`.
    pub policy: bool,
    /// Also PUT and GET in buckets whose default encryption is SSE-S3, SSE-KMS with a key in
    /// the configuration, and SSE-KMS with a key on a PKCS#11 token, request by request: phase
    /// `KMS` (`crate::kms`).
    pub kms: bool,
    /// PUT bodies go unsigned (`UNSIGNED-PAYLOAD`).
    pub unsigned_payload: bool,
    /// Also PUT the objects again as streaming bodies, as the SDK sends files (aws-chunked,
    /// the default CRC32 checksum in a trailer): phase `STREAM`.
    pub stream: bool,
}

/// One size's phases, run in order; returns their rows.
pub async fn run(s3: &aws_sdk_s3::Client, plan: &Plan, md5: f64) -> Vec<Row> {
    let ctx = Arc::new(Ctx {
        s3: s3.clone(),
        bucket: plan.bucket.clone(),
        prefix: format!("{}/", plan.size),
        bodies: Bodies::new(plan.size, plan.concurrency),
        unsigned_payload: plan.unsigned_payload,
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
        out.extend(report("GET", &get_all(&ctx, plan, &stored).await));
    }
    if !stored.is_empty() && plan.policy {
        match policy_side_by_side(s3, &ctx, plan).await {
            Ok(both) => both.iter().for_each(|o| out.extend(report("POLICY", o))),
            Err(e) => eprintln!("the policy phase failed: {e:#}"),
        }
    }
    if !stored.is_empty() && plan.kms {
        match crate::kms::side_by_side(s3, &ctx, plan).await {
            Ok(both) => both.iter().for_each(|o| out.extend(report("KMS", o))),
            Err(e) => eprintln!("the KMS phase failed: {e:#}"),
        }
    }
    if !stored.is_empty() && plan.stream {
        let (ctx, stored) = (ctx.clone(), stored.clone());
        let streamed = drive(plan.concurrency, stored.len(), plan.limit, move |n| {
            let (ctx, i) = (ctx.clone(), stored[n]);
            async move { ("PUT", ctx.put_streamed(i).await) }
        })
        .await;
        out.extend(report("STREAM", &streamed));
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

/// PUTs, then GETs, of the same objects into and from two buckets, one with the 20-statement
/// policy and one without, alternating request by request (so that whatever else the cluster
/// does weighs on both alike): operations `PUT+POLICY` and `PUT-POLICY`, then `GET+POLICY`
/// and `GET-POLICY`.
async fn policy_side_by_side(
    s3: &aws_sdk_s3::Client,
    ctx: &Arc<Ctx>,
    plan: &Plan,
) -> anyhow::Result<[Outcomes; 2]> {
    let with = format!("{}-p", plan.bucket);
    let without = format!("{}-n", plan.bucket);
    let count = plan.count.min(2000);
    for b in [&with, &without] {
        s3.create_bucket().bucket(b).send().await?;
    }
    s3.put_bucket_policy()
        .bucket(&with)
        .policy(crate::policy::twenty_statements(&with))
        .send()
        .await?;
    let buckets = Arc::new([with.clone(), without.clone()]);
    // Every object of both buckets is written (no time limit): the GETs read them all.
    let puts = {
        let (ctx, buckets) = (ctx.clone(), buckets.clone());
        drive(plan.concurrency, count * 2, Duration::MAX, move |n| {
            let (ctx, buckets) = (ctx.clone(), buckets.clone());
            async move {
                let (op, bucket) = match n % 2 {
                    0 => ("PUT+POLICY", &buckets[0]),
                    _ => ("PUT-POLICY", &buckets[1]),
                };
                (op, ctx.put_into(bucket, n / 2).await)
            }
        })
        .await
    };
    let gets = {
        let (ctx, buckets) = (ctx.clone(), buckets.clone());
        drive(
            plan.concurrency,
            plan.requests * 2,
            plan.limit * 2,
            move |n| {
                let (ctx, buckets) = (ctx.clone(), buckets.clone());
                async move {
                    let (op, bucket) = match n % 2 {
                        0 => ("GET+POLICY", &buckets[0]),
                        _ => ("GET-POLICY", &buckets[1]),
                    };
                    (op, ctx.get_from(bucket, (n / 2) % count).await)
                }
            },
        )
        .await
    };
    for b in [&with, &without] {
        for i in 0..count {
            ctx.delete_from(b, i).await?;
        }
        s3.delete_bucket_policy().bucket(b).send().await?;
        s3.delete_bucket().bucket(b).send().await?;
    }
    Ok([puts, gets])
}

/// One GET phase over the stored objects.
async fn get_all(ctx: &Arc<Ctx>, plan: &Plan, stored: &Arc<Vec<usize>>) -> Outcomes {
    let (ctx, stored) = (ctx.clone(), stored.clone());
    drive(plan.concurrency, plan.requests, plan.limit, move |n| {
        let (ctx, i) = (ctx.clone(), stored[n % stored.len()]);
        async move { ("GET", ctx.get(i).await) }
    })
    .await
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
pub(crate) struct Ctx {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    bodies: Bodies,
    unsigned_payload: bool,
}

impl Ctx {
    fn key(&self, i: usize) -> String {
        format!("{}{i:08}", self.prefix)
    }

    async fn put(&self, i: usize) -> anyhow::Result<()> {
        self.put_into(&self.bucket, i).await
    }

    pub(crate) async fn put_into(&self, bucket: &str, i: usize) -> anyhow::Result<()> {
        let put = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(self.key(i))
            .body(ByteStream::from(self.bodies.body(i)));
        if self.unsigned_payload {
            put.customize().disable_payload_signing().send().await?;
        } else {
            put.send().await?;
        }
        Ok(())
    }

    /// PUTs object `i` again as a streaming body of known length, as the SDK sends a file:
    /// aws-chunked with the default checksum (CRC32) in a trailer, which the answer echoes.
    async fn put_streamed(&self, i: usize) -> anyhow::Result<()> {
        use aws_smithy_types::body::SdkBody;
        let bytes = self.bodies.body(i);
        let len = bytes.len() as i64;
        let body = SdkBody::retryable(move || {
            SdkBody::from_body_1_x(http_body_util::Full::new(bytes.clone()))
        });
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(i))
            .content_length(len)
            .body(ByteStream::new(body))
            .send()
            .await?;
        anyhow::ensure!(
            put.checksum_crc32().is_some(),
            "a streamed PUT's answer carries no CRC32: the body went without a checksum"
        );
        Ok(())
    }

    async fn get(&self, i: usize) -> anyhow::Result<()> {
        self.get_from(&self.bucket, i).await
    }

    pub(crate) async fn get_from(&self, bucket: &str, i: usize) -> anyhow::Result<()> {
        let key = self.key(i);
        let mut got = self.s3.get_object().bucket(bucket).key(&key).send().await?;
        let mut check = self.bodies.check(i);
        while let Some(piece) = got.body.try_next().await? {
            check.piece(&piece);
        }
        anyhow::ensure!(check.matched(), "{key}: the bytes read back differ");
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
            got.content_length() == Some(self.bodies.len() as i64),
            "{key}: HEAD says {:?} bytes, {} were written",
            got.content_length(),
            self.bodies.len()
        );
        Ok(())
    }

    async fn delete(&self, i: usize) -> anyhow::Result<()> {
        self.delete_from(&self.bucket, i).await
    }

    pub(crate) async fn delete_from(&self, bucket: &str, i: usize) -> anyhow::Result<()> {
        self.s3
            .delete_object()
            .bucket(bucket)
            .key(self.key(i))
            .send()
            .await?;
        Ok(())
    }
}
