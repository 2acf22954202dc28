//! `bench`: a warp-style load generator for any S3 endpoint, through the Rust `aws-sdk-s3`.
//!
//! For each object size it PUTs objects at a chosen concurrency (bounded by time and by a
//! request cap), GETs them back verifying every byte, then DELETEs them, and prints ops/s, MiB/s
//! and latency percentiles per phase. Before that it measures two yardsticks on this machine,
//! single-core MD5 (the inherent cost of an S3 ETag) and AES-256-GCM (the cost of sealing), and
//! prints every throughput also as a ratio to MD5, so that runs on different or busy machines
//! compare. It works in a bucket of its own and removes it, leaving nothing behind.

mod yardstick;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use clap::Parser;
use serde::Serialize;

#[derive(Parser, Clone)]
#[command(about = "PUT/GET/DELETE throughput of an S3 endpoint, with MD5 and AES-GCM yardsticks")]
struct Args {
    /// The S3 endpoint, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "S3_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_key: String,
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    region: String,
    /// Object sizes: a number with an optional KiB/MiB suffix, comma-separated.
    #[arg(long, default_value = "4KiB,1MiB,64MiB", value_delimiter = ',')]
    sizes: Vec<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Time limit of each phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// At most this many objects per size (and this many GETs).
    #[arg(long, default_value_t = 2000)]
    max_requests: usize,
    /// At most this many bytes written per size (keeps runs small on shared disks; the store
    /// keeps n copies of each).
    #[arg(long, default_value = "512MiB")]
    max_bytes: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One measured phase.
#[derive(Serialize)]
struct Row {
    op: &'static str,
    size: u64,
    concurrency: usize,
    ops: usize,
    errors: usize,
    seconds: f64,
    ops_per_s: f64,
    mib_per_s: f64,
    ratio_to_md5: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Serialize)]
struct Report {
    cores: usize,
    md5_mib_per_s: f64,
    aes_256_gcm_mib_per_s: f64,
    rows: Vec<Row>,
}

fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse()?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        other => anyhow::bail!("unknown size unit `{other}` in `{s}`"),
    };
    Ok(n * mult)
}

fn client(args: &Args) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(args.region.clone()))
        .endpoint_url(&args.endpoint)
        .credentials_provider(Credentials::new(
            &args.access_key,
            &args.secret_key,
            None,
            None,
            "bench",
        ))
        .force_path_style(true)
        .http_client(http)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The body of object `i`: a random base with `i` in its first bytes, so that a GET that
/// returned another object's bytes is caught.
fn body_of(base: &Bytes, i: usize) -> Bytes {
    if base.len() < 8 {
        return base.clone();
    }
    let mut v = base.to_vec();
    v[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Bytes::from(v)
}

/// Runs `op(i)` for i = 0.. from `concurrency` workers until `count` calls or `limit` time.
/// Returns the latencies of successful calls, the error count and the elapsed time.
async fn drive<F, Fut>(
    concurrency: usize,
    count: usize,
    limit: Duration,
    op: F,
) -> (Vec<Duration>, usize, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (op, next, errors, latencies) =
            (op.clone(), next.clone(), errors.clone(), latencies.clone());
        workers.push(tokio::spawn(async move {
            loop {
                if started.elapsed() >= limit {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let t = Instant::now();
                match op(i).await {
                    Ok(()) => latencies.lock().unwrap().push(t.elapsed()),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("request {i} failed: {e:#}");
                        }
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    (latencies, errors.load(Ordering::Relaxed), elapsed)
}

fn row(
    op: &'static str,
    size: u64,
    concurrency: usize,
    md5: f64,
    (mut latencies, errors, elapsed): (Vec<Duration>, usize, Duration),
) -> Row {
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let ops = latencies.len();
    // A DELETE moves no object bytes.
    let moved = if op == "DELETE" { 0 } else { size };
    let mib_per_s = ops as f64 * moved as f64 / (1 << 20) as f64 / seconds;
    Row {
        op,
        size,
        concurrency,
        ops,
        errors,
        seconds,
        ops_per_s: ops as f64 / seconds,
        mib_per_s,
        ratio_to_md5: mib_per_s / md5,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    }
}

async fn run_size(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    args: &Args,
    size: u64,
    md5: f64,
) -> anyhow::Result<Vec<Row>> {
    let limit = Duration::from_secs_f64(args.duration);
    let max_bytes = parse_size(&args.max_bytes)?;
    let count = args
        .max_requests
        .min((max_bytes / size.max(1)).max(1) as usize);
    let base = Bytes::from((0..size).map(|_| rand::random::<u8>()).collect::<Vec<u8>>());
    let prefix = format!("{size}/");
    let key = {
        let prefix = prefix.clone();
        move |i: usize| format!("{prefix}{i:08}")
    };
    let written = Arc::new(Mutex::new(Vec::new()));

    let put = {
        let (s3, bucket, base, key, written) = (
            s3.clone(),
            bucket.to_string(),
            base.clone(),
            key.clone(),
            written.clone(),
        );
        drive(args.concurrency, count, limit, move |i| {
            let (s3, bucket, body, key, written) = (
                s3.clone(),
                bucket.clone(),
                body_of(&base, i),
                key(i),
                written.clone(),
            );
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(ByteStream::from(body))
                    .send()
                    .await?;
                written.lock().unwrap().push(i);
                Ok(())
            }
        })
        .await
    };
    let mut rows = vec![row("PUT", size, args.concurrency, md5, put)];
    let mut stored = std::mem::take(&mut *written.lock().unwrap());
    stored.sort_unstable();
    let stored = Arc::new(stored);

    if !stored.is_empty() {
        let get = {
            let (s3, bucket, base, key, stored) = (
                s3.clone(),
                bucket.to_string(),
                base.clone(),
                key.clone(),
                stored.clone(),
            );
            drive(args.concurrency, args.max_requests, limit, move |n| {
                let i = stored[n % stored.len()];
                let (s3, bucket, expected, key) =
                    (s3.clone(), bucket.clone(), body_of(&base, i), key(i));
                async move {
                    let got = s3.get_object().bucket(bucket).key(&key).send().await?;
                    let bytes = got.body.collect().await?.into_bytes();
                    anyhow::ensure!(bytes == expected, "{key}: the bytes read back differ");
                    Ok(())
                }
            })
            .await
        };
        rows.push(row("GET", size, args.concurrency, md5, get));
    }

    let delete = {
        let (s3, bucket, key, stored) =
            (s3.clone(), bucket.to_string(), key.clone(), stored.clone());
        // Deletes are not time-limited: a run leaves nothing behind.
        drive(args.concurrency, stored.len(), Duration::MAX, move |n| {
            let (s3, bucket, key) = (s3.clone(), bucket.clone(), key(stored[n]));
            async move {
                s3.delete_object().bucket(bucket).key(key).send().await?;
                Ok(())
            }
        })
        .await
    };
    rows.push(row("DELETE", size, args.concurrency, md5, delete));
    Ok(rows)
}

fn print_table(report: &Report) {
    println!(
        "machine: {} cores; MD5 {:.0} MiB/s (one core); AES-256-GCM {:.0} MiB/s (one core, {:.2}x MD5)",
        report.cores,
        report.md5_mib_per_s,
        report.aes_256_gcm_mib_per_s,
        report.aes_256_gcm_mib_per_s / report.md5_mib_per_s
    );
    println!(
        "{:<7} {:>9} {:>5} {:>7} {:>6} {:>10} {:>9} {:>7} {:>9} {:>9} {:>9}",
        "op",
        "size",
        "conc",
        "ops",
        "errors",
        "ops/s",
        "MiB/s",
        "xMD5",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    for r in &report.rows {
        println!(
            "{:<7} {:>9} {:>5} {:>7} {:>6} {:>10.1} {:>9.1} {:>7.3} {:>9.2} {:>9.2} {:>9.2}",
            r.op,
            human(r.size),
            r.concurrency,
            r.ops,
            r.errors,
            r.ops_per_s,
            r.mib_per_s,
            r.ratio_to_md5,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        );
    }
}

fn human(size: u64) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = args
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let md5 = yardstick::md5_mib_per_s();
    let aes = yardstick::aes_gcm_mib_per_s();
    let s3 = client(&args);
    let bucket = format!("bench-{:016x}", rand::random::<u64>());
    s3.create_bucket().bucket(&bucket).send().await?;
    let mut rows = Vec::new();
    let mut failure = None;
    for &size in &sizes {
        match run_size(&s3, &bucket, &args, size, md5).await {
            Ok(r) => rows.extend(r),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    s3.delete_bucket().bucket(&bucket).send().await?;
    let report = Report {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        md5_mib_per_s: md5,
        aes_256_gcm_mib_per_s: aes,
        rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if report.rows.iter().any(|r| r.errors > 0) {
        anyhow::bail!("some requests failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert!(parse_size("3 parsecs").is_err());
        assert_eq!(human(4096), "4KiB");
        assert_eq!(human(64 << 20), "64MiB");
    }

    #[test]
    fn bodies_differ_per_object() {
        let base = Bytes::from(vec![0u8; 100]);
        assert_ne!(body_of(&base, 1), body_of(&base, 2));
        assert_eq!(body_of(&base, 3).len(), 100);
    }
}
