//! The results: one row per operation and object size, the yardsticks, the gateway's memory,
//! the targets with whether this run met them, printed as a table or as JSON.

use std::time::Duration;

use serde::Serialize;

use crate::drive::Outcomes;

/// One measured operation of one phase.
#[derive(Serialize, Clone)]
pub struct Row {
    /// The phase: PUT, GET, HEAD, DELETE, MIXED or LIST.
    pub phase: &'static str,
    /// The S3 operation (in MIXED, each one gets a row; `all` sums them).
    pub op: &'static str,
    pub size: u64,
    pub concurrency: usize,
    pub ops: usize,
    pub errors: usize,
    pub seconds: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub ratio_to_md5: f64,
    /// LIST only: keys listed per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_per_s: Option<f64>,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A whole run.
#[derive(Serialize)]
pub struct Report {
    pub endpoint: String,
    pub cores: usize,
    pub md5_mib_per_s: f64,
    pub aes_256_gcm_mib_per_s: f64,
    pub rows: Vec<Row>,
    /// Peak resident memory of the gateway process (`--gateway-pid`), from /proc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_peak_rss_mib: Option<f64>,
    pub targets: Vec<Target>,
}

/// Whether an operation moves object bytes (DELETE and HEAD do not).
fn moves_bytes(op: &str) -> bool {
    op.starts_with("PUT") || op.starts_with("GET")
}

/// Rows of one phase from what it measured: one per operation, plus an `all` row when the
/// phase mixed several.
pub fn rows(
    phase: &'static str,
    size: u64,
    concurrency: usize,
    md5: f64,
    outcomes: &Outcomes,
) -> Vec<Row> {
    let seconds = outcomes.elapsed.as_secs_f64().max(1e-9);
    let make = |op: &'static str, mut latencies: Vec<Duration>, errors: usize, bytes: f64| {
        latencies.sort_unstable();
        let pct = |p: f64| {
            let at = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
            latencies.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let mib_per_s = bytes / (1 << 20) as f64 / seconds;
        Row {
            phase,
            op,
            size,
            concurrency,
            ops: latencies.len(),
            errors,
            seconds,
            ops_per_s: latencies.len() as f64 / seconds,
            mib_per_s,
            ratio_to_md5: mib_per_s / md5,
            keys_per_s: None,
            mean_ms: if latencies.is_empty() {
                0.0
            } else {
                latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3
                    / latencies.len() as f64
            },
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        }
    };
    let mut out = Vec::new();
    let (mut all, mut all_errors, mut all_bytes) = (Vec::new(), 0, 0.0);
    for op in outcomes.operations() {
        let latencies = outcomes.latencies.get(op).cloned().unwrap_or_default();
        let errors = outcomes.errors.get(op).copied().unwrap_or(0);
        let bytes = if moves_bytes(op) {
            latencies.len() as f64 * size as f64
        } else {
            0.0
        };
        all.extend_from_slice(&latencies);
        all_errors += errors;
        all_bytes += bytes;
        out.push(make(op, latencies, errors, bytes));
    }
    if out.len() > 1 {
        out.push(make("all", all, all_errors, all_bytes));
    }
    out
}

/// One of the performance targets and what this run measured for it.
#[derive(Serialize)]
pub struct Target {
    pub what: &'static str,
    pub goal: f64,
    pub measured: f64,
    pub unit: &'static str,
    pub met: bool,
}

/// The targets this run has rows for. Sizes and concurrencies must match the target's.
pub fn targets(rows: &[Row], gateway_peak_rss_mib: Option<f64>) -> Vec<Target> {
    let find = |phase: &str, size: u64, concurrency: usize| {
        rows.iter()
            .find(|r| r.phase == phase && r.size == size && r.concurrency == concurrency)
    };
    let mut out = Vec::new();
    let mut at_least = |what, goal: f64, measured: Option<f64>, unit| {
        if let Some(measured) = measured {
            out.push(Target {
                what,
                goal,
                measured,
                unit,
                met: measured >= goal,
            });
        }
    };
    let mib64 = 64 << 20;
    at_least(
        "PUT 64MiB x4",
        0.5,
        find("PUT", mib64, 4).map(|r| r.ratio_to_md5),
        "x MD5",
    );
    at_least(
        "GET 64MiB x4",
        2.0,
        find("GET", mib64, 4).map(|r| r.ratio_to_md5),
        "x MD5",
    );
    let mib1 = 1 << 20;
    at_least(
        "PUT 1MiB x16",
        0.25,
        find("PUT", mib1, 16).map(|r| r.ratio_to_md5),
        "x MD5",
    );
    // Issue 26's target, with sealed chunks read on read lanes (PERFORMANCE.md).
    at_least(
        "GET 1MiB x16",
        2.5,
        find("GET", mib1, 16).map(|r| r.ratio_to_md5),
        "x MD5",
    );
    // The same objects PUT as the SDK sends files (aws-chunked, signed trailer checksum),
    // against the plain signed PUTs before them.
    let stream = rows
        .iter()
        .find(|r| r.phase == "STREAM" && r.size == mib1)
        .and_then(|s| {
            find("PUT", mib1, s.concurrency)
                .filter(|p| p.mib_per_s > 0.0)
                .map(|p| s.mib_per_s / p.mib_per_s)
        });
    at_least("PUT 1MiB streamed/signed", 0.9, stream, "x");
    at_least(
        "PUT 4KiB x32",
        1500.0,
        find("PUT", 4096, 32).map(|r| r.ops_per_s),
        "ops/s",
    );
    at_least(
        "GET 4KiB x32",
        3000.0,
        find("GET", 4096, 32).map(|r| r.ops_per_s),
        "ops/s",
    );
    // The two kinds of request alternate request by request, so their counts are equal by
    // construction; what each would sustain alone is its mean latency's inverse (at the same
    // concurrency), and the ratio of those is the ratio of their ops/s.
    let policy_mean = |op: &str| {
        rows.iter()
            .find(|r| r.phase == "POLICY" && r.op == op && r.size == 4096 && r.concurrency == 32)
            .map(|r| r.mean_ms)
    };
    for (target, without, with) in [
        ("GET 4KiB x32 policy/none", "GET-POLICY", "GET+POLICY"),
        ("PUT 4KiB x32 policy/none", "PUT-POLICY", "PUT+POLICY"),
    ] {
        at_least(
            target,
            0.95,
            policy_mean(without)
                .zip(policy_mean(with))
                .filter(|(_, with)| *with > 0.0)
                .map(|(without, with)| without / with),
            "x",
        );
    }
    // The KMS row alternates SSE-S3, a configured KMS key and a PKCS#11 key request by request;
    // as with the policy row, the ratio of mean latencies is the ratio of what each sustains.
    let kms_mean = |op: &str| {
        rows.iter()
            .find(|r| r.phase == "KMS" && r.op == op && r.size == 1 << 20)
            .map(|r| r.mean_ms)
    };
    for (target, keyring, pkcs11) in [
        (
            "PUT 1MiB pkcs11/keyring",
            "PUT KMS-KEYRING",
            "PUT KMS-PKCS11",
        ),
        (
            "GET 1MiB pkcs11/keyring",
            "GET KMS-KEYRING",
            "GET KMS-PKCS11",
        ),
    ] {
        at_least(
            target,
            0.9,
            kms_mean(keyring)
                .zip(kms_mean(pkcs11))
                .filter(|(_, with)| *with > 0.0)
                .map(|(without, with)| without / with),
            "x",
        );
    }
    at_least(
        "LIST (100k keys)",
        100_000.0,
        rows.iter()
            .find(|r| r.phase == "LIST" && r.op == "LIST" && r.size >= 100_000)
            .and_then(|r| r.keys_per_s),
        "keys/s",
    );
    at_least(
        "LIST / (1k folders)",
        250_000.0,
        rows.iter()
            .find(|r| r.phase == "LIST" && r.op == "LIST /" && r.size >= 100_000)
            .and_then(|r| r.keys_per_s),
        "keys/s",
    );
    if let Some(rss) = gateway_peak_rss_mib {
        out.push(Target {
            what: "gateway peak RSS",
            goal: 256.0,
            measured: rss,
            unit: "MiB",
            met: rss < 256.0,
        });
    }
    out
}

/// Peak and current resident memory of process `pid` in MiB (`VmHWM`, `VmRSS`).
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

pub fn print_table(report: &Report) {
    println!(
        "endpoint {}; machine: {} cores; MD5 {:.0} MiB/s (one core); AES-256-GCM {:.0} MiB/s (one core, {:.2}x MD5)",
        report.endpoint,
        report.cores,
        report.md5_mib_per_s,
        report.aes_256_gcm_mib_per_s,
        report.aes_256_gcm_mib_per_s / report.md5_mib_per_s
    );
    println!(
        "{:<6} {:<15} {:>8} {:>5} {:>7} {:>6} {:>9} {:>8} {:>7} {:>9} {:>8} {:>8} {:>8}",
        "phase",
        "op",
        "size",
        "conc",
        "ops",
        "errors",
        "ops/s",
        "MiB/s",
        "xMD5",
        "keys/s",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    for r in &report.rows {
        let size = if r.phase == "LIST" {
            format!("{}k", r.size / 1000)
        } else {
            human(r.size)
        };
        println!(
            "{:<6} {:<15} {:>8} {:>5} {:>7} {:>6} {:>9.1} {:>8.1} {:>7.3} {:>9} {:>8.2} {:>8.2} {:>8.2}",
            r.phase,
            r.op,
            size,
            r.concurrency,
            r.ops,
            r.errors,
            r.ops_per_s,
            r.mib_per_s,
            r.ratio_to_md5,
            r.keys_per_s.map_or("-".to_string(), |k| format!("{k:.0}")),
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        );
    }
    if let Some(rss) = report.gateway_peak_rss_mib {
        println!("gateway peak resident memory: {rss:.1} MiB");
    }
    if !report.targets.is_empty() {
        println!("targets:");
        for t in &report.targets {
            let relation = if t.unit == "MiB" { "<" } else { ">=" };
            println!(
                "  {:<18} {relation} {:>9} {:<7} measured {:>11.3}  {}",
                t.what,
                t.goal,
                t.unit,
                t.measured,
                if t.met { "met" } else { "MISSED" }
            );
        }
    }
}

/// A size in bytes from `4096`, `4KiB`, `64MiB`, `1GiB`.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
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

pub fn human(size: u64) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
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
    fn mixed_phases_get_a_row_per_operation_and_a_sum() {
        let mut o = Outcomes {
            elapsed: Duration::from_secs(2),
            ..Default::default()
        };
        o.latencies
            .insert("GET", vec![Duration::from_millis(10); 4]);
        o.latencies
            .insert("HEAD", vec![Duration::from_millis(1); 2]);
        o.errors.insert("PUT", 1);
        let rows = rows("MIXED", 1 << 20, 8, 500.0, &o);
        let ops: Vec<_> = rows.iter().map(|r| r.op).collect();
        assert_eq!(ops, ["GET", "HEAD", "PUT", "all"]);
        assert_eq!(rows[0].ops_per_s, 2.0);
        assert_eq!(rows[0].mib_per_s, 2.0);
        assert_eq!(rows[1].mib_per_s, 0.0);
        assert_eq!(rows[2].errors, 1);
        assert_eq!(rows[3].ops, 6);
        assert_eq!(rows[3].errors, 1);
        assert_eq!(rows[3].mib_per_s, 2.0);
    }

    #[test]
    fn targets_only_for_matching_rows() {
        let o = Outcomes {
            elapsed: Duration::from_secs(1),
            latencies: [("PUT", vec![Duration::from_millis(1); 2000])].into(),
            ..Default::default()
        };
        let put = rows("PUT", 4096, 32, 500.0, &o);
        let t = targets(&put, Some(100.0));
        assert_eq!(t.len(), 2);
        assert!(t[0].met && t[0].what == "PUT 4KiB x32");
        assert!(t[1].met);
        let other = rows("PUT", 4096, 8, 500.0, &o);
        assert_eq!(targets(&other, None).len(), 0);
    }
}
