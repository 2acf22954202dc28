//! `bench`: a warp-style load generator for any S3 endpoint, through the Rust `aws-sdk-s3`.
//!
//! For each object size (at its own concurrency) it PUTs objects, GETs them back verifying
//! every byte, HEADs them, runs warp's mixed load (45% GET, 30% HEAD, 15% PUT, 10% DELETE) and
//! DELETEs them; then it fills a prefix with 100k keys and lists it through ListObjectsV2
//! pagination. Every phase is bounded by time and by a request cap. It prints ops/s, MiB/s and
//! p50/p99/max latency per operation, next to two yardsticks measured on this machine in the
//! same run (single-core MD5, the inherent cost of an S3 ETag, and AES-256-GCM), with every
//! throughput also as a ratio to MD5 so that runs on different or busy machines compare; then
//! the targets, met or missed. It works in a bucket of its own and removes it.

mod bodies;
mod drive;
mod kms;
mod listing;
mod objects;
mod policy;
mod report;
mod yardstick;

use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use clap::Parser;

use report::{parse_size, Report};

#[derive(Parser, Clone)]
#[command(about = "Warp-style throughput of an S3 endpoint, with MD5 and AES-GCM yardsticks")]
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
    /// Object sizes, each with an optional concurrency: `4KiB:32,1MiB:8,64MiB:4,1MiB:16`. A
    /// size without one runs at `--concurrency`; a size may come twice, at two concurrencies.
    /// (1 MiB x16 runs last: before the 64 MiB PUTs, its garbage was collected during them.)
    #[arg(
        long,
        default_value = "4KiB:32,1MiB:8,64MiB:4,1MiB:16",
        value_delimiter = ','
    )]
    sizes: Vec<String>,
    /// Requests in flight at once, for sizes that do not name theirs.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Phases besides PUT and DELETE (which always run): get, head, mixed, list, policy (GETs
    /// of the first size from a bucket with a 20-statement policy and one without, request
    /// by request), kms (PUTs and GETs of 1 MiB under SSE-S3, a configured KMS key and a
    /// PKCS#11 key, request by request), stream (the first 1 MiB size's objects PUT again as
    /// streaming bodies: aws-chunked with the SDK's default checksum in a trailer); or none.
    #[arg(
        long,
        default_value = "get,head,mixed,list,policy,kms,stream",
        value_delimiter = ','
    )]
    phases: Vec<String>,
    /// Time limit of each phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// At most this many objects per size, and this many requests per phase.
    #[arg(long, default_value_t = 20000)]
    max_requests: usize,
    /// At most this many bytes written per size (keeps runs small on shared disks; the store
    /// keeps n copies of each).
    #[arg(long, default_value = "1GiB")]
    max_bytes: String,
    /// Keys the LIST phase fills and lists.
    #[arg(long, default_value_t = 100_000)]
    list_keys: usize,
    /// The gateway's process id, to report its peak resident memory (same machine only).
    #[arg(long, env = "S3STORE_GATEWAY_PID")]
    gateway_pid: Option<u32>,
    /// Send object PUT bodies as UNSIGNED-PAYLOAD (as aws-cli and the AWS transfer managers
    /// do over HTTPS) instead of signing their SHA-256 (this SDK's default, which the gateway
    /// must then verify).
    #[arg(long)]
    unsigned_payload: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
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

/// `4KiB:32` → (4096, 32); `1MiB` → (1 MiB, `default`).
fn parse_size_at(s: &str, default: usize) -> anyhow::Result<(u64, usize)> {
    match s.split_once(':') {
        Some((size, conc)) => Ok((parse_size(size)?, conc.trim().parse()?)),
        None => Ok((parse_size(s)?, default)),
    }
}

/// mimalloc, as the gateway and nodes use (built without transparent huge pages): the client
/// shares the machine with them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = args
        .sizes
        .iter()
        .map(|s| parse_size_at(s, args.concurrency))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for phase in &args.phases {
        anyhow::ensure!(
            ["get", "head", "mixed", "list", "policy", "kms", "stream", "none", ""]
                .contains(&phase.as_str()),
            "unknown phase `{phase}` (get, head, mixed, list, policy, kms, stream, or none)"
        );
    }
    let phase = |name: &str| args.phases.iter().any(|p| p == name);
    let max_bytes = parse_size(&args.max_bytes)?;
    let limit = Duration::from_secs_f64(args.duration);
    let md5 = yardstick::md5_mib_per_s();
    let aes = yardstick::aes_gcm_mib_per_s();
    let s3 = client(&args);
    let bucket = format!("bench-{:016x}", rand::random::<u64>());
    s3.create_bucket().bucket(&bucket).send().await?;
    let mut rows = Vec::new();
    // The KMS and STREAM phases run with the first 1 MiB size only.
    let kms_at = sizes.iter().position(|&(size, _)| size == 1 << 20);
    for (n, &(size, concurrency)) in sizes.iter().enumerate() {
        let plan = objects::Plan {
            bucket: bucket.clone(),
            size,
            concurrency,
            count: args
                .max_requests
                .min((max_bytes / size.max(1)).max(1) as usize),
            requests: args.max_requests,
            limit,
            get: phase("get"),
            head: phase("head"),
            mixed: phase("mixed"),
            policy: n == 0 && phase("policy"),
            kms: kms_at == Some(n) && phase("kms"),
            stream: kms_at == Some(n) && phase("stream"),
            unsigned_payload: args.unsigned_payload,
        };
        rows.extend(objects::run(&s3, &plan, md5).await);
    }
    if phase("list") && args.list_keys > 0 {
        rows.extend(listing::run(&s3, &bucket, args.list_keys, 32, limit, md5).await);
    }
    let removed = s3.delete_bucket().bucket(&bucket).send().await;
    let gateway_peak_rss_mib = match args.gateway_pid {
        Some(pid) => Some(report::peak_rss_mib(pid)?),
        None => None,
    };
    let report = Report {
        endpoint: args.endpoint.clone(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        md5_mib_per_s: md5,
        aes_256_gcm_mib_per_s: aes,
        targets: report::targets(&rows, gateway_peak_rss_mib),
        rows,
        gateway_peak_rss_mib,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report::print_table(&report);
    }
    if let Err(e) = removed {
        anyhow::bail!("removing the bench bucket {bucket} failed: {e}");
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
    fn sizes_carry_their_concurrency() {
        assert_eq!(parse_size_at("4KiB:32", 8).unwrap(), (4096, 32));
        assert_eq!(parse_size_at("1MiB", 8).unwrap(), (1 << 20, 8));
        assert!(parse_size_at("1MiB:x", 8).is_err());
    }
}
