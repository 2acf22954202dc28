//! Every operation on a key is linearizable: clients race GET, PUT, DELETE, PUT `If-Match` and
//! PUT `If-None-Match: *` on a few keys through two gateways of a three-node cluster while a
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
        let value = format!("c{id}-{n}");
        let roll = rand::random::<u32>() % 100;
        let call = match roll {
            0..40 => Call::Get,
            40..62 => Call::Put(value.clone()),
            62..68 => Call::Delete,
            68..88 => match last_seen.get(&key) {
                Some(expected) => Call::PutIfMatch {
                    expected: expected.clone(),
                    value: value.clone(),
                },
                None => Call::Get,
            },
            _ => Call::PutIfAbsent(value.clone()),
        };
        let called = history.now();
        let answer = run(&s3, &key, &call).await;
        let returned = (answer != Answer::Unknown).then(|| history.now());
        if let (Call::Get, Answer::Ok(Some(body))) = (&call, &answer) {
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

/// Sends one call and classifies the answer.
async fn run(s3: &aws_sdk_s3::Client, key: &str, call: &Call) -> Answer {
    let put = |body: &str| {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
    };
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
    match call {
        Call::Get => match s3.get_object().bucket(BUCKET).key(key).send().await {
            Ok(out) => match out.body.collect().await {
                Ok(body) => Answer::Ok(Some(String::from_utf8(body.to_vec()).unwrap())),
                Err(_) => Answer::Unknown,
            },
            Err(e) if code(&e) == "NoSuchKey" => Answer::Ok(None),
            Err(e) if (400..500).contains(&status(&e)) => {
                panic!("GET: {} {}", status(&e), code(&e))
            }
            Err(_) => Answer::Unknown,
        },
        Call::Put(v) => classify(put(v).send().await),
        Call::Delete => classify(s3.delete_object().bucket(BUCKET).key(key).send().await),
        Call::PutIfMatch { expected, value } => classify(
            put(value)
                .if_match(format!("\"{}\"", md5_hex(expected.as_bytes())))
                .send()
                .await,
        ),
        Call::PutIfAbsent(v) => classify(put(v).if_none_match("*").send().await),
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
    for op in ops.values().flatten() {
        let kind = match op.answer {
            Answer::Ok(_) => "ok",
            Answer::PreconditionFailed => "precondition failed",
            Answer::NoEffect => "conflict (no effect)",
            Answer::Unknown => "unknown outcome",
        };
        *counts.entry(kind).or_default() += 1;
    }
    println!(
        "linearizability, nemesis {nemesis:?}: {} keys, {} operations {counts:?}",
        ops.len(),
        ops.values().map(Vec::len).sum::<usize>()
    );
    for line in &schedule {
        println!("  nemesis: {line}");
    }
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
