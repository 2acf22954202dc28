//! The LIST phase: fill a prefix with `keys` empty objects spread over [`FOLDERS`] folders,
//! list it whole through ListObjectsV2 pagination (1,000 keys a page) as many times as the time
//! limit allows, checking that every pass returns every key once and in order; then list it
//! with the delimiter `/` (one common prefix per folder, every key skipped over) the same way;
//! then remove them with DeleteObjects.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::drive::{drive, Outcomes};
use crate::report::{rows, Row};

const PREFIX: &str = "list/";
const PAGE: usize = 1000;
/// Folders the keys are spread over (`list/<folder>/<key>`).
const FOLDERS: usize = 1000;

fn key(i: usize) -> String {
    format!("{PREFIX}{:03}/{i:08}", i % FOLDERS)
}

/// Runs the phase; its rows are LIST/PUT (the fill), LIST/LIST (one op per page, with keys/s),
/// LIST/DELETE (one op per batch of 1,000).
pub async fn run(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: usize,
    concurrency: usize,
    limit: Duration,
    md5: f64,
) -> Vec<Row> {
    let fill = {
        let (s3, bucket) = (s3.clone(), bucket.to_string());
        drive(concurrency, keys, Duration::MAX, move |i| {
            let (s3, bucket) = (s3.clone(), bucket.clone());
            async move {
                let result = s3
                    .put_object()
                    .bucket(bucket)
                    .key(key(i))
                    .body(ByteStream::from_static(b""))
                    .send()
                    .await;
                ("PUT", result.map(|_| ()).map_err(Into::into))
            }
        })
        .await
    };
    let mut out = rows("LIST", keys as u64, concurrency, md5, &fill);
    let filled = fill.latencies.get("PUT").map_or(0, Vec::len);

    let mut listed = Outcomes::default();
    let mut passes = 0usize;
    let started = Instant::now();
    while passes == 0 || started.elapsed() < limit {
        if let Err(e) = list_pass(s3, bucket, filled, &mut listed).await {
            *listed.errors.entry("LIST").or_default() += 1;
            eprintln!("listing pass {passes} failed: {e:#}");
            break;
        }
        passes += 1;
    }
    listed.elapsed = started.elapsed();
    for mut row in rows("LIST", keys as u64, 1, md5, &listed) {
        row.keys_per_s = Some((passes * filled) as f64 / listed.elapsed.as_secs_f64());
        out.push(row);
    }

    // With the delimiter: every key is passed over, and each folder comes back once.
    let folders = FOLDERS.min(filled);
    let mut folded = Outcomes::default();
    let mut passes = 0usize;
    let started = Instant::now();
    while passes == 0 || started.elapsed() < limit {
        if let Err(e) = delimited_pass(s3, bucket, folders, &mut folded).await {
            *folded.errors.entry("LIST /").or_default() += 1;
            eprintln!("delimited listing pass {passes} failed: {e:#}");
            break;
        }
        passes += 1;
    }
    folded.elapsed = started.elapsed();
    for mut row in rows("LIST", keys as u64, 1, md5, &folded) {
        // Keys covered per second: each pass folds all of them into the folders.
        row.keys_per_s = Some((passes * filled) as f64 / folded.elapsed.as_secs_f64());
        out.push(row);
    }

    let batches: Vec<Vec<usize>> = (0..keys)
        .collect::<Vec<_>>()
        .chunks(PAGE)
        .map(<[usize]>::to_vec)
        .collect();
    let batches = Arc::new(Mutex::new(batches));
    let count = batches.lock().unwrap().len();
    let delete = {
        let (s3, bucket) = (s3.clone(), bucket.to_string());
        drive(4, count, Duration::MAX, move |n| {
            let (s3, bucket) = (s3.clone(), bucket.clone());
            let batch = std::mem::take(&mut batches.lock().unwrap()[n]);
            async move { ("DELETE", delete_batch(&s3, &bucket, &batch).await) }
        })
        .await
    };
    out.extend(rows("LIST", keys as u64, 4, md5, &delete));
    // `size` holds the key count here: these rows move no object bytes.
    for row in &mut out {
        row.mib_per_s = 0.0;
        row.ratio_to_md5 = 0.0;
    }
    out
}

/// Lists the prefix once, page by page; fails unless it saw `expected` keys, each once and in
/// ascending order.
async fn list_pass(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    expected: usize,
    outcomes: &mut Outcomes,
) -> anyhow::Result<()> {
    let mut token: Option<String> = None;
    let mut seen = 0usize;
    let mut last = String::new();
    loop {
        let t = Instant::now();
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(PREFIX)
            .max_keys(PAGE as i32)
            .set_continuation_token(token.take())
            .send()
            .await?;
        outcomes
            .latencies
            .entry("LIST")
            .or_default()
            .push(t.elapsed());
        for object in page.contents() {
            let name = object.key().unwrap_or_default();
            anyhow::ensure!(
                name.starts_with(PREFIX) && name > last.as_str(),
                "listing returned {name:?} after {last:?}"
            );
            last = name.to_string();
            seen += 1;
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => break,
        }
    }
    anyhow::ensure!(seen == expected, "listed {seen} keys of {expected}");
    Ok(())
}

/// Lists the prefix once with the delimiter `/`; fails unless it saw `expected` common
/// prefixes (the folders), each once and in order, and no object.
async fn delimited_pass(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    expected: usize,
    outcomes: &mut Outcomes,
) -> anyhow::Result<()> {
    let mut token: Option<String> = None;
    let mut seen = 0usize;
    let mut last = String::new();
    loop {
        let t = Instant::now();
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(PREFIX)
            .delimiter("/")
            .max_keys(PAGE as i32)
            .set_continuation_token(token.take())
            .send()
            .await?;
        outcomes
            .latencies
            .entry("LIST /")
            .or_default()
            .push(t.elapsed());
        anyhow::ensure!(page.contents().is_empty(), "objects beside the folders");
        for folder in page.common_prefixes() {
            let name = folder.prefix().unwrap_or_default();
            anyhow::ensure!(
                name.starts_with(PREFIX) && name.ends_with('/') && name > last.as_str(),
                "listing returned the folder {name:?} after {last:?}"
            );
            last = name.to_string();
            seen += 1;
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => break,
        }
    }
    anyhow::ensure!(seen == expected, "listed {seen} folders of {expected}");
    Ok(())
}

async fn delete_batch(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    batch: &[usize],
) -> anyhow::Result<()> {
    let objects = batch
        .iter()
        .map(|&i| ObjectIdentifier::builder().key(key(i)).build())
        .collect::<Result<Vec<_>, _>>()?;
    let done = s3
        .delete_objects()
        .bucket(bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()?,
        )
        .send()
        .await?;
    anyhow::ensure!(
        done.errors().is_empty(),
        "DeleteObjects: {} keys failed",
        done.errors().len()
    );
    Ok(())
}
