//! Every operation on a key is linearizable: clients race GET, HEAD, PUT, CopyObject onto the
//! key, CompleteMultipartUpload (plain and with `If-None-Match: *`), DELETE (plain and with
//! `If-Match`), PutObjectTagging,
//! PUT `If-Match` and PUT `If-None-Match: *` on a few keys through two gateways of a
//! three-node cluster while a
//! nemesis kills, pauses or cuts off nodes (network namespaces; needs root); each client records every call, its return and its answer
//! (unknown for timeouts and 5xx on writes), and the checker (`linearizability/checker.rs`,
//! Wing–Gong–Lowe search) looks for an order of each key's operations that explains every
//! answer. Each scenario prints keys checked, operations by outcome and the nemesis schedule;
//! a failure prints the operations around the point where no order exists.
//!
//! `S3STORE_LINEARIZABILITY_SECONDS` (default 8) sets how long each scenario's clients run:
//! CI runs the short version, a longer run (e.g. 120) searches harder.

#[path = "linearizability/checker.rs"]
mod checker;
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use checker::{check, Answer, Call, Op};
use common::netns::Namespaces;
use common::{client_without_retries, code, md5_hex, status, Shape, TestCluster};

const BUCKET: &str = "history";
const KEYS: usize = 4;
const CLIENTS: usize = 10;

/// What the nemesis does while the clients run.
#[derive(Debug, Clone, Copy)]
enum Nemesis {
    None,
    /// SIGKILL a node, restart it a moment later, the next one after a while.
    Kill,
    /// SIGSTOP a node, SIGCONT it a moment later.
    Pause,
    /// Cut a node's network link (it runs in its own namespace), heal it a moment later.
    Partition,
}

fn seconds() -> u64 {
    std::env::var("S3STORE_LINEARIZABILITY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

struct History {
    started: Instant,
    ops: Mutex<BTreeMap<String, Vec<Op>>>,
    /// The ETag of every value written (values are unique; how a value was written decides
    /// its ETag: a multipart one for completions), and back.
    etags: Mutex<(BTreeMap<String, String>, BTreeMap<String, String>)>,
}

impl History {
    fn name(&self, value: &str, etag: String) {
        let mut e = self.etags.lock().unwrap();
        e.0.insert(value.to_string(), etag.clone());
        e.1.insert(etag, value.to_string());
    }
    fn etag_of(&self, value: &str) -> String {
        self.etags.lock().unwrap().0[value].clone()
    }
    fn value_of(&self, etag: &str) -> String {
        let e = self.etags.lock().unwrap();
        e.1.get(etag)
            .unwrap_or_else(|| panic!("ETag {etag} of no value written"))
            .clone()
    }
}

/// How a write reaches the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Put,
    /// CopyObject from a source object written first (outside the history).
    Copy,
    /// CompleteMultipartUpload of an upload whose one part is the value.
    Complete,
}

/// The ETag of a one-part multipart object whose part is `body`.
fn multipart_etag(body: &[u8]) -> String {
    let part = hex::decode(md5_hex(body)).unwrap();
    format!("{}-1", md5_hex(&part))
}

impl History {
    fn now(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }
}

/// One client: random operations on random keys until `until`.
async fn client(id: usize, s3: aws_sdk_s3::Client, history: Arc<History>, until: Instant) {
    let mut n = 0u64;
    // The last body this client saw per key: what its If-Match writes expect.
    let mut last_seen: BTreeMap<String, String> = BTreeMap::new();
    while Instant::now() < until {
        n += 1;
        let key = format!("k{}", rand::random::<u64>() as usize % KEYS);
        let roll = rand::random::<u32>() % 100;
        // Copies only unconditionally (S3 has no conditional CopyObject onto a key);
        // completions plain, with `If-Match` and with `If-None-Match: *`.
        let form = match roll {
            44..49 => Form::Copy,
            49..54 | 75..80 | 90..95 => Form::Complete,
            _ => Form::Put,
        };
        // The value says how it was written, so a failure report shows it.
        let value = format!("c{id}-{n}-{form:?}");
        let call = match roll {
            0..30 => Call::Get,
            30..38 => Call::Head,
            38..54 => Call::Put(value.clone()),
            54..57 => Call::Delete,
            57..60 => match last_seen.get(&key) {
                Some(expected) => Call::DeleteIfMatch {
                    expected: expected.clone(),
                },
                None => Call::Delete,
            },
            60..66 => Call::Tag,
            66..80 => match last_seen.get(&key) {
                Some(expected) => Call::PutIfMatch {
                    expected: expected.clone(),
                    value: value.clone(),
                },
                None => Call::Get,
            },
            _ => Call::PutIfAbsent(value.clone()),
        };
        let called = history.now();
        let Some(answer) = run(&s3, &history, &key, &call, form).await else {
            continue; // its preparation failed: the key was not touched
        };
        let returned = (answer != Answer::Unknown).then(|| history.now());
        if let (Call::Get | Call::Head, Answer::Ok(Some(body))) = (&call, &answer) {
            last_seen.insert(key.clone(), body.clone());
        }
        history
            .ops
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(Op {
                client: id,
                call,
                answer,
                called,
                returned,
            });
    }
}

/// Sends one call (a write in `form`) and classifies the answer; `None` when preparing it
/// (a copy's source, an upload and its part) failed, so the key was never touched.
async fn run(
    s3: &aws_sdk_s3::Client,
    history: &History,
    key: &str,
    call: &Call,
    form: Form,
) -> Option<Answer> {
    // Definite answers by S3 code; anything else (5xx, timeouts, dropped connections) unknown.
    fn classify<T, E>(
        r: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
    ) -> Answer
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    {
        match r {
            Ok(_) => Answer::Ok(None),
            Err(e) => match (status(&e), code(&e).as_str()) {
                (412, _) | (404, "NoSuchKey") => Answer::PreconditionFailed,
                (409, "ConditionalRequestConflict") => Answer::NoEffect,
                (s, c) if (400..500).contains(&s) => panic!("unexpected answer {s} {c}"),
                _ => Answer::Unknown,
            },
        }
    }
    let (value, condition) = match call {
        Call::Put(v) => (v, None),
        Call::PutIfAbsent(v) => (v, Some(("If-None-Match", "*".to_string()))),
        Call::PutIfMatch { expected, value } => (
            value,
            Some(("If-Match", format!("\"{}\"", history.etag_of(expected)))),
        ),
        Call::Get => {
            return Some(match s3.get_object().bucket(BUCKET).key(key).send().await {
                Ok(out) => match out.body.collect().await {
                    Ok(body) => Answer::Ok(Some(String::from_utf8(body.to_vec()).unwrap())),
                    Err(_) => Answer::Unknown,
                },
                Err(e) if code(&e) == "NoSuchKey" => Answer::Ok(None),
                Err(e) if (400..500).contains(&status(&e)) => {
                    panic!("GET: {} {}", status(&e), code(&e))
                }
                Err(_) => Answer::Unknown,
            })
        }
        Call::Head => {
            return Some(
                match s3.head_object().bucket(BUCKET).key(key).send().await {
                    Ok(out) => {
                        let etag = out.e_tag().unwrap().trim_matches('"').to_string();
                        Answer::Ok(Some(history.value_of(&etag)))
                    }
                    Err(e) if status(&e) == 404 => Answer::Ok(None),
                    Err(e) if (400..500).contains(&status(&e)) => panic!("HEAD: {}", status(&e)),
                    Err(_) => Answer::Unknown,
                },
            )
        }
        Call::Tag => {
            let tagging = aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("seen")
                        .value("yes")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            return Some(classify(
                s3.put_object_tagging()
                    .bucket(BUCKET)
                    .key(key)
                    .tagging(tagging)
                    .send()
                    .await,
            ));
        }
        Call::Delete => {
            return Some(classify(
                s3.delete_object().bucket(BUCKET).key(key).send().await,
            ))
        }
        Call::DeleteIfMatch { expected } => {
            let etag = format!("\"{}\"", history.etag_of(expected));
            return Some(classify(
                s3.delete_object()
                    .bucket(BUCKET)
                    .key(key)
                    .if_match(etag)
                    .send()
                    .await,
            ));
        }
    };
    let body = value.as_bytes().to_vec();
    Some(match form {
        Form::Put => {
            history.name(value, md5_hex(&body));
            let put = s3
                .put_object()
                .bucket(BUCKET)
                .key(key)
                .body(ByteStream::from(body));
            classify(match condition {
                Some(("If-Match", etag)) => put.if_match(etag).send().await,
                Some((_, star)) => put.if_none_match(star).send().await,
                None => put.send().await,
            })
        }
        Form::Copy => {
            assert!(condition.is_none(), "copies are sent unconditionally");
            let source = format!("source/{value}");
            let put = s3
                .put_object()
                .bucket(BUCKET)
                .key(&source)
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            put.ok()?;
            history.name(value, md5_hex(&body));
            classify(
                s3.copy_object()
                    .bucket(BUCKET)
                    .key(key)
                    .copy_source(format!("{BUCKET}/{source}"))
                    .send()
                    .await,
            )
        }
        Form::Complete => {
            let made = s3
                .create_multipart_upload()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .ok()?;
            let id = made.upload_id()?.to_string();
            let part = s3
                .upload_part()
                .bucket(BUCKET)
                .key(key)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .ok()?;
            history.name(value, multipart_etag(&body));
            let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag()?)
                        .build(),
                )
                .build();
            let complete = s3
                .complete_multipart_upload()
                .bucket(BUCKET)
                .key(key)
                .upload_id(&id)
                .multipart_upload(parts);
            classify(match condition {
                Some(("If-Match", etag)) => complete.if_match(etag).send().await,
                Some((_, star)) => complete.if_none_match(star).send().await,
                None => complete.send().await,
            })
        }
    })
}

/// An operation's name for the summary (a write's with how it was written).
fn label(call: &Call) -> String {
    let form = |v: &str| v.rsplit('-').next().unwrap_or("").to_string();
    match call {
        Call::Put(v) => format!("PUT ({})", form(v)),
        Call::PutIfMatch { value, .. } => format!("If-Match ({})", form(value)),
        Call::PutIfAbsent(v) => format!("If-None-Match ({})", form(v)),
        Call::DeleteIfMatch { .. } => "Delete If-Match".to_string(),
        other => format!("{other:?}"),
    }
}

async fn scenario(nemesis: Nemesis) {
    let mut namespaces = None;
    let mut cluster = match nemesis {
        Nemesis::Partition => {
            let (ns, addresses) = match Namespaces::create(3) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!(
                        "SKIPPED: network namespaces are unavailable here ({e}); run as root"
                    );
                    return;
                }
            };
            let hosts = ns.names.iter().cloned().map(Some).zip(addresses).collect();
            namespaces = Some(ns);
            TestCluster::start_on(Shape::default(), hosts)
        }
        _ => TestCluster::start_with(Shape::default()),
    };
    let first = cluster.endpoint();
    let second = cluster.start_another_gateway();
    cluster
        .client()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let history = Arc::new(History {
        started: Instant::now(),
        ops: Mutex::new(BTreeMap::new()),
        etags: Mutex::new(Default::default()),
    });
    let until = Instant::now() + Duration::from_secs(seconds());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let endpoint = if id % 2 == 0 { &first } else { &second };
            let s3 = client_without_retries(endpoint, Duration::from_secs(10));
            tokio::spawn(client(id, s3, history.clone(), until))
        })
        .collect();

    // The nemesis, on this task: one node at a time.
    let mut schedule = Vec::new();
    let mut victim = 0;
    while Instant::now() + Duration::from_secs(2) < until {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let at = history.started.elapsed().as_millis();
        match nemesis {
            Nemesis::None => break,
            Nemesis::Kill => {
                cluster.kill_node(victim);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                cluster.restart_node(victim);
                schedule.push(format!(
                    "{at} ms: node{victim} killed, restarted 1.5 s later"
                ));
            }
            Nemesis::Pause => {
                cluster.pause_node(victim, true);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                cluster.pause_node(victim, false);
                schedule.push(format!("{at} ms: node{victim} paused for 1.5 s"));
            }
            Nemesis::Partition => {
                let ns = namespaces.as_ref().expect("namespaces made above");
                ns.cut(victim);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                ns.heal(victim);
                schedule.push(format!("{at} ms: node{victim} cut off for 1.5 s"));
            }
        }
        victim = (victim + 1) % 3;
    }
    for c in clients {
        c.await.unwrap();
    }

    let ops = std::mem::take(&mut *history.ops.lock().unwrap());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut succeeded: BTreeMap<String, usize> = BTreeMap::new();
    for op in ops.values().flatten() {
        let kind = match op.answer {
            Answer::Ok(_) => "ok",
            Answer::PreconditionFailed => "precondition failed",
            Answer::NoEffect => "conflict (no effect)",
            Answer::Unknown => "unknown outcome",
        };
        *counts.entry(kind).or_default() += 1;
        if matches!(op.answer, Answer::Ok(_)) {
            *succeeded.entry(label(&op.call)).or_default() += 1;
        }
    }
    println!(
        "linearizability, nemesis {nemesis:?}: {} keys, {} operations {counts:?}",
        ops.len(),
        ops.values().map(Vec::len).sum::<usize>()
    );
    println!("  succeeded, by operation: {succeeded:?}");
    for line in &schedule {
        println!("  nemesis: {line}");
    }
    for form in ["Put", "Copy", "Complete"] {
        assert!(
            succeeded.keys().any(|k| k.ends_with(&format!("({form})"))),
            "no write by {form} succeeded: {succeeded:?}"
        );
    }
    assert!(
        succeeded.contains_key("Delete If-Match"),
        "no conditional delete succeeded: {succeeded:?}"
    );
    assert!(
        counts.get("ok").copied().unwrap_or(0) > 100,
        "too few operations completed: {counts:?}"
    );
    let mut failures = Vec::new();
    for (key, ops) in &ops {
        let started = Instant::now();
        match check(None, ops) {
            Ok(()) => println!(
                "  {key}: {} operations linearizable (checked in {:?})",
                ops.len(),
                started.elapsed()
            ),
            Err(failure) => {
                let verdict = if failure.undecided {
                    "the search gave up (too many states) without an order"
                } else {
                    "no order explains the history"
                };
                let mut report = format!(
                    "{key}: {verdict}; after {} operations the value is {:?}\n  last placed:\n",
                    failure.placed.len(),
                    failure.state
                );
                for op in failure.placed.iter().rev().take(8).rev() {
                    report.push_str(&format!("    {op:?}\n"));
                }
                report.push_str("  could not place next (earliest return first):\n");
                for op in failure.stuck.iter().take(8) {
                    report.push_str(&format!("    {op:?}\n"));
                }
                failures.push(report);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The nodes stop before their namespaces go.
    drop(cluster);
    drop(namespaces);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linearizable_without_faults() {
    scenario(Nemesis::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linearizable_while_nodes_are_killed() {
    scenario(Nemesis::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linearizable_while_nodes_are_paused() {
    scenario(Nemesis::Pause).await;
}

/// Needs root and `ip netns`; says SKIPPED and passes where they are unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linearizable_while_nodes_are_partitioned() {
    scenario(Nemesis::Partition).await;
}
