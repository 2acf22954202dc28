//! Requests that overlap on one key, against three real storage nodes, looped long enough to
//! hit the windows: overwrites while GETs stream slowly (every GET that started returns a whole
//! object, the old or the new), overwrites racing tagging calls and GETs (no 5xx, the object
//! reads back), `If-Match` racers mixed with plain PUTs (never two winners on one ETag), and
//! two overlapping PUTs (the one that completes last wins).

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};
use common::{code, pattern, status, Shape, TestCluster};
use futures::StreamExt;

const BUCKET: &str = "races";

async fn setup(shape: Shape) -> (TestCluster, aws_sdk_s3::Client) {
    let cluster = TestCluster::start_with(shape);
    let s3 = cluster.client();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    (cluster, s3)
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) -> String {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string()
}

/// Which of `seeds` (patterns of `len` bytes) `body` is.
fn which(body: &[u8], len: usize, seeds: &[u64]) -> Option<u64> {
    (body.len() == len)
        .then(|| seeds.iter().copied().find(|&s| pattern(len, s) == body))
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overwrites_never_cut_off_a_running_get() {
    let (_cluster, s3) = setup(Shape {
        chunk_size: 1 << 20,
        ..Default::default()
    })
    .await;
    let len = 8 << 20;
    let seeds: Vec<u64> = (0..6).collect();
    put(&s3, "big", pattern(len, 0)).await;
    let stop = Instant::now() + Duration::from_secs(10);
    let writer = {
        let s3 = s3.clone();
        tokio::spawn(async move {
            let mut seed = 1;
            while Instant::now() < stop {
                put(&s3, "big", pattern(len, seed % 6)).await;
                seed += 1;
            }
            seed
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let s3 = s3.clone();
            let seeds = seeds.clone();
            tokio::spawn(async move {
                let mut complete = 0;
                while Instant::now() < stop {
                    let got = s3
                        .get_object()
                        .bucket(BUCKET)
                        .key("big")
                        .send()
                        .await
                        .unwrap();
                    // Read slowly: the key is overwritten several times while this GET runs.
                    let mut body = got.body;
                    let mut data = Vec::with_capacity(len);
                    while let Some(piece) = body.next().await {
                        let piece = piece.unwrap_or_else(|e| panic!("reader {r}: body broke: {e}"));
                        data.extend_from_slice(&piece);
                        tokio::time::sleep(Duration::from_millis(3)).await;
                    }
                    assert!(
                        which(&data, len, &seeds).is_some(),
                        "reader {r}: {} bytes that are no whole version",
                        data.len()
                    );
                    complete += 1;
                }
                complete
            })
        })
        .collect();
    let writes = writer.await.unwrap();
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    assert!(writes > 3 && reads > 3, "{writes} writes, {reads} reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tagging_overwrites_and_gets_race_without_errors() {
    let (_cluster, s3) = setup(Shape::default()).await;
    let len = 1 << 20;
    let seeds: Vec<u64> = (10..14).collect();
    put(&s3, "hot", pattern(len, 10)).await;
    let stop = Instant::now() + Duration::from_secs(8);
    let mut tasks = Vec::new();
    for w in 0..2u64 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop {
                put(&s3, "hot", pattern(len, 10 + (n + w) % 4)).await;
                n += 1;
            }
            ("put", n)
        }));
    }
    for t in 0..2u64 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop {
                let tagging = Tagging::builder()
                    .tag_set(
                        Tag::builder()
                            .key(format!("t{t}"))
                            .value(n.to_string())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap();
                s3.put_object_tagging()
                    .bucket(BUCKET)
                    .key("hot")
                    .tagging(tagging)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("tagging: {} {}", status(&e), code(&e)));
                n += 1;
            }
            ("tagging", n)
        }));
    }
    for _ in 0..2 {
        let s3 = s3.clone();
        let seeds = seeds.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop {
                let got = s3
                    .get_object()
                    .bucket(BUCKET)
                    .key("hot")
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("GET: {} {}", status(&e), code(&e)));
                let data = got.body.collect().await.unwrap().into_bytes();
                assert!(which(&data, len, &seeds).is_some(), "a GET read no version");
                n += 1;
            }
            ("get", n)
        }));
    }
    for t in tasks {
        let (what, n) = t.await.unwrap();
        assert!(n > 2, "only {n} {what} calls");
    }
    let data = s3
        .get_object()
        .bucket(BUCKET)
        .key("hot")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(which(&data, len, &seeds).is_some());
}

/// Rounds of 20 `If-Match` writers on the current ETag, with plain PUTs mixed in: of the
/// conditional writers at most one wins per round (exactly one when no plain PUT came
/// first), and the key then holds the last acknowledged write.
async fn if_match_rounds(s3: &aws_sdk_s3::Client, key: &str, rounds: usize) {
    let mut etag = put(s3, key, b"start".to_vec()).await;
    for round in 0..rounds {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (s3, key, etag) = (s3.clone(), key.to_string(), etag.clone());
            tasks.push(tokio::spawn(async move {
                let body = format!("round {round} writer {i}");
                let r = s3
                    .put_object()
                    .bucket(BUCKET)
                    .key(key)
                    .if_match(etag)
                    .body(ByteStream::from(body.clone().into_bytes()))
                    .send()
                    .await;
                (body, r.map(|o| o.e_tag().unwrap().to_string()))
            }));
        }
        let plain = (round % 2 == 1).then(|| {
            let (s3, key) = (s3.clone(), key.to_string());
            tokio::spawn(async move {
                let body = format!("round {round} plain");
                let e = put(&s3, &key, body.clone().into_bytes()).await;
                (body, e)
            })
        });
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (body, Ok(e)) => winners.push((body, e)),
                (_, Err(e)) => assert!(
                    matches!(
                        code(&e).as_str(),
                        "PreconditionFailed" | "ConditionalRequestConflict"
                    ),
                    "unexpected {} {}",
                    status(&e),
                    code(&e)
                ),
            }
        }
        assert!(winners.len() <= 1, "round {round}: {winners:?}");
        let plain = match plain {
            Some(p) => Some(p.await.unwrap()),
            None => {
                assert_eq!(winners.len(), 1, "round {round}: no winner");
                None
            }
        };
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        etag = got.e_tag().unwrap().to_string();
        let body = String::from_utf8(got.body.collect().await.unwrap().to_vec()).unwrap();
        let acknowledged: Vec<&String> = winners
            .iter()
            .map(|(b, _)| b)
            .chain(plain.as_ref().map(|(b, _)| b))
            .collect();
        assert!(
            acknowledged.contains(&&body),
            "round {round}: the key holds {body:?}, no acknowledged write of this round"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_racers_with_plain_puts_never_both_win() {
    let (mut cluster, s3) = setup(Shape::default()).await;
    if_match_rounds(&s3, "cas", 6).await;
    cluster.kill_node(2);
    if_match_rounds(&s3, "cas-degraded", 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_overlapping_puts_the_last_to_complete_wins() {
    let (_cluster, s3) = setup(Shape {
        chunk_size: 256 << 10,
        ..Default::default()
    })
    .await;
    for round in 0..3u64 {
        let key = format!("overlap-{round}");
        // The slow PUT starts first and sends its body over about a second.
        let len = 1 << 20;
        let slow_body = pattern(len, 100 + round);
        let pieces: Vec<Result<http_body::Frame<bytes::Bytes>, std::io::Error>> = slow_body
            .chunks(64 << 10)
            .map(|c| Ok(http_body::Frame::data(bytes::Bytes::copy_from_slice(c))))
            .collect();
        let stream = futures::stream::iter(pieces).then(|p| async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            p
        });
        let body =
            aws_smithy_types::body::SdkBody::from_body_1_x(http_body_util::StreamBody::new(stream));
        let slow = {
            let (s3, key) = (s3.clone(), key.clone());
            tokio::spawn(async move {
                s3.put_object()
                    .bucket(BUCKET)
                    .key(key)
                    .content_length(len as i64)
                    .body(ByteStream::new(body))
                    .send()
                    .await
                    .unwrap();
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        put(&s3, &key, pattern(1000, 200 + round)).await;
        let fast_done = Instant::now();
        let slow_done = slow.await.unwrap();
        assert!(slow_done > fast_done, "the slow PUT was not slow");
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert!(
            got.as_ref() == slow_body.as_slice(),
            "round {round}: the PUT that completed first won"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_write_loses_no_version_and_resurrects_nothing() {
    let (mut cluster, s3) = setup(Shape::default()).await;
    put(&s3, "kept", b"old value".to_vec()).await;
    put(&s3, "deleted", b"deleted value".to_vec()).await;
    s3.delete_object()
        .bucket(BUCKET)
        .key("deleted")
        .send()
        .await
        .unwrap();
    cluster.kill_node(1);
    cluster.kill_node(2);
    for key in ["kept", "deleted"] {
        let failed = s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"failed write"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&failed), 503, "{key}: {}", code(&failed));
    }
    cluster.restart_node(1);
    cluster.restart_node(2);
    // The failed writes may or may not have happened (their outcome is unknown), but the older
    // state is never lost to anything but the failed write itself, and the deleted object
    // never comes back.
    for key in ["kept", "deleted"] {
        let mut seen: Option<Option<Vec<u8>>> = None;
        for _ in 0..10 {
            let got = match s3.get_object().bucket(BUCKET).key(key).send().await {
                Ok(out) => Some(out.body.collect().await.unwrap().to_vec()),
                Err(e) => {
                    assert_eq!(code(&e), "NoSuchKey", "{key}");
                    None
                }
            };
            match key {
                "kept" => assert!(
                    matches!(got.as_deref(), Some(b"old value" | b"failed write")),
                    "{key}: {got:?}"
                ),
                _ => assert!(
                    matches!(got.as_deref(), None | Some(b"failed write")),
                    "the deleted object came back: {got:?}"
                ),
            }
            // The failed write may take effect late (its outcome is unknown), but once a read
            // has seen it, no later read goes back.
            if let Some(Some(before)) = &seen {
                if before.as_slice() == b"failed write" {
                    assert_eq!(Some(before), got.as_ref(), "{key}: a later read went back");
                }
            }
            seen = Some(got);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completion_racing_abort_or_a_part_reupload_never_breaks_the_object() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let (_cluster, s3) = setup(Shape {
        chunk_size: 1 << 20,
        ..Default::default()
    })
    .await;
    let part_len = 5 << 20;
    for round in 0..16u64 {
        let key = format!("mp-{round}");
        let id = s3
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        let mut parts = Vec::new();
        for n in 1..=2 {
            let e = s3
                .upload_part()
                .bucket(BUCKET)
                .key(&key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(pattern(part_len, round * 10 + n as u64)))
                .send()
                .await
                .unwrap();
            parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(e.e_tag().unwrap())
                    .build(),
            );
        }
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        let complete_once = {
            let (s3, key, id, done) = (s3.clone(), key.clone(), id.clone(), done.clone());
            move || {
                let (s3, key, id, done) = (s3.clone(), key.clone(), id.clone(), done.clone());
                async move {
                    s3.complete_multipart_upload()
                        .bucket(BUCKET)
                        .key(key)
                        .upload_id(id)
                        .multipart_upload(done)
                        .send()
                        .await
                        .map(|o| o.e_tag().unwrap_or_default().to_string())
                        .map_err(|e| e.into_service_error().meta().code().map(str::to_string))
                }
            }
        };
        // Either may start first, by up to a few milliseconds (about what a completion takes).
        let (lead, lag) = (rand::random::<u64>() % 4000, rand::random::<u64>() % 4000);
        let complete = {
            let complete_once = complete_once.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(lead)).await;
                complete_once().await
            })
        };
        // Every other round an Abort races the completion, else a re-upload of part 1.
        let mut aborted = None;
        if round % 2 == 0 {
            tokio::time::sleep(Duration::from_micros(lag)).await;
            aborted = Some(
                s3.abort_multipart_upload()
                    .bucket(BUCKET)
                    .key(&key)
                    .upload_id(&id)
                    .send()
                    .await
                    .map_err(|e| e.into_service_error().meta().code().map(str::to_string)),
            );
        } else {
            let _ = s3
                .upload_part()
                .bucket(BUCKET)
                .key(&key)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from(pattern(part_len, 999)))
                .send()
                .await;
        }
        let completion = complete.await.unwrap();
        if let Some(aborted) = aborted {
            // Exactly one of the two wins; the loser hears NoSuchUpload.
            eprintln!(
                "round {round}: {} won",
                if completion.is_ok() {
                    "completion"
                } else {
                    "abort"
                }
            );
            match (&completion, &aborted) {
                (Ok(_), Err(code)) | (Err(code), Ok(_)) => {
                    assert_eq!(code.as_deref(), Some("NoSuchUpload"), "round {round}")
                }
                other => panic!("round {round}: completion and abort both {other:?}"),
            }
            // What the winner left stands: a repeated completion answers as the first did.
            let again = complete_once().await;
            match &completion {
                Ok(etag) => assert_eq!(again.as_ref(), Ok(etag), "round {round}"),
                Err(_) => assert_eq!(again, Err(Some("NoSuchUpload".into())), "round {round}"),
            }
            let uploads = s3
                .list_multipart_uploads()
                .bucket(BUCKET)
                .prefix(&key)
                .send()
                .await
                .unwrap();
            assert!(uploads.uploads().is_empty(), "round {round}: still listed");
        }
        let completed = completion.is_ok();
        let got = s3.get_object().bucket(BUCKET).key(&key).send().await;
        if !completed {
            assert!(
                got.is_err(),
                "round {round}: an object without a completion"
            );
            continue;
        }
        let data = got.unwrap().body.collect().await.unwrap().into_bytes();
        let mut whole = pattern(part_len, round * 10 + 1);
        whole.extend(pattern(part_len, round * 10 + 2));
        // A completion lists the parts it was given (their ETags); a re-upload that landed
        // first makes the completion fail (InvalidPart), never mixes bytes.
        assert!(
            data.as_ref() == whole.as_slice(),
            "round {round}: the completed object does not read back whole"
        );
    }
}

/// A client of a new stored access key (`gateway admin key-create`).
fn stored_key(cluster: &TestCluster) -> aws_sdk_s3::Client {
    let made = cluster.admin(&["key-create"]);
    let field = |name: &str| {
        made.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no `{name}` in {made}"))
            .trim()
            .to_string()
    };
    common::client_for(
        &cluster.endpoint(),
        &field("access key:"),
        &field("secret key:"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_racing_create_bucket_calls_exactly_one_creates_and_owns() {
    let (cluster, _) = setup(Shape::default()).await;
    let keys: Vec<aws_sdk_s3::Client> = (0..3).map(|_| stored_key(&cluster)).collect();
    const PER_KEY: usize = 4;
    for round in 0..8 {
        let name = format!("made-{round}");
        let racers = (0..keys.len() * PER_KEY).map(|i| {
            let (s3, name) = (keys[i / PER_KEY].clone(), name.clone());
            async move { s3.create_bucket().bucket(name).send().await }
        });
        let results = futures::future::join_all(racers).await;
        // In us-east-1 the owner's repeated creations answer 200 (changing nothing): every
        // success belongs to one key, every other key gets BucketAlreadyExists.
        let winners: Vec<usize> = (0..results.len()).filter(|&i| results[i].is_ok()).collect();
        assert!(!winners.is_empty(), "round {round}: no creator");
        let owner = winners[0] / PER_KEY;
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(_) => assert_eq!(i / PER_KEY, owner, "round {round}: two creating keys"),
                Err(e) => {
                    assert_ne!(i / PER_KEY, owner, "round {round}: the owner refused");
                    assert_eq!(code(e), "BucketAlreadyExists", "round {round}, racer {i}");
                }
            }
        }
        // The winner's key owns it; the others have no role in it.
        for (k, s3) in keys.iter().enumerate() {
            let put = s3
                .put_object()
                .bucket(&name)
                .key("k")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await;
            if k == owner {
                put.unwrap();
            } else {
                assert_eq!(code(&put.unwrap_err()), "AccessDenied", "round {round}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_deleted_and_made_again_by_another_key_starts_empty() {
    let (cluster, _) = setup(Shape::default()).await;
    let (first, second) = (stored_key(&cluster), stored_key(&cluster));
    let name = "again";
    first.create_bucket().bucket(name).send().await.unwrap();
    let id = first
        .create_multipart_upload()
        .bucket(name)
        .key("upload")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let part = first
        .upload_part()
        .bucket(name)
        .key("upload")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(pattern(1000, 1)))
        .send()
        .await
        .unwrap();
    let etag = part.e_tag().unwrap().to_string();
    first.delete_bucket().bucket(name).send().await.unwrap();
    second.create_bucket().bucket(name).send().await.unwrap();

    // The first owner's upload belongs to the bucket that was deleted.
    let listed = second
        .list_multipart_uploads()
        .bucket(name)
        .send()
        .await
        .unwrap();
    assert!(listed.uploads().is_empty(), "{:?}", listed.uploads());
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(&etag)
                .build(),
        )
        .build();
    let completed = second
        .complete_multipart_upload()
        .bucket(name)
        .key("upload")
        .upload_id(&id)
        .multipart_upload(done)
        .send()
        .await;
    assert_eq!(code(&completed.unwrap_err()), "NoSuchUpload");
    let more = second
        .upload_part()
        .bucket(name)
        .key("upload")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(code(&more.unwrap_err()), "NoSuchUpload");
    let aborted = second
        .abort_multipart_upload()
        .bucket(name)
        .key("upload")
        .upload_id(&id)
        .send()
        .await;
    assert_eq!(code(&aborted.unwrap_err()), "NoSuchUpload");
    assert!(second
        .get_object()
        .bucket(name)
        .key("upload")
        .send()
        .await
        .is_err());
    // The first owner has no role in the new bucket.
    let denied = first.list_objects_v2().bucket(name).send().await;
    assert_eq!(code(&denied.unwrap_err()), "AccessDenied");
}

/// libfaketime (Debian's `faketime`, installed by scripts/setup.sh).
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_whose_clock_is_behind_stamps_on_the_nodes_time() {
    if !std::path::Path::new(FAKETIME).exists() {
        eprintln!("skipped: {FAKETIME} is missing (scripts/setup.sh installs faketime)");
        return;
    }
    let (mut cluster, fast) = setup(Shape::default()).await;
    // A minute and a half behind: older than a promise lives, so every ballot it stamped on
    // its own clock would be refused as expired.
    let endpoint = cluster.start_another_gateway_with(&[
        ("LD_PRELOAD", FAKETIME),
        ("FAKETIME", "-90s"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    let slow = cluster.client_of(&endpoint);
    for round in 0..5 {
        let key = format!("clock-{round}");
        // Conditional writes through the slow gateway are decided, not refused as stale.
        let created = slow
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .if_none_match("*")
            .body(ByteStream::from_static(b"first"))
            .send()
            .await
            .unwrap();
        let again = slow
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .if_none_match("*")
            .body(ByteStream::from_static(b"second"))
            .send()
            .await;
        assert_eq!(status(&again.unwrap_err()), 412, "round {round}");
        // A write through the slow gateway after one acknowledged elsewhere wins.
        put(&fast, &key, b"fast".to_vec()).await;
        slow.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from_static(b"slow"))
            .send()
            .await
            .unwrap();
        let got = fast
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        let modified = got.last_modified().unwrap().secs();
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(&body[..], b"slow", "round {round}");
        // Its Last-Modified is the nodes' time, not the slow clock's.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            (now - modified).abs() < 30,
            "round {round}: {}s off",
            now - modified
        );
        let swapped = slow
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .if_match(created.e_tag().unwrap())
            .body(ByteStream::from_static(b"stale"))
            .send()
            .await;
        assert_eq!(status(&swapped.unwrap_err()), 412, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_put_that_outlives_its_bucket_is_not_in_the_bucket_made_next() {
    let (cluster, _) = setup(Shape::default()).await;
    let (first, second) = (stored_key(&cluster), stored_key(&cluster));
    let name = "outlived";
    first.create_bucket().bucket(name).send().await.unwrap();
    // A PUT whose body takes about two seconds: the bucket is deleted (it is still empty)
    // and made again by another key before the PUT commits.
    let len = 1 << 20;
    let pieces: Vec<Result<http_body::Frame<bytes::Bytes>, std::io::Error>> = pattern(len, 7)
        .chunks(64 << 10)
        .map(|c| Ok(http_body::Frame::data(bytes::Bytes::copy_from_slice(c))))
        .collect();
    let stream = futures::stream::iter(pieces).then(|p| async move {
        tokio::time::sleep(Duration::from_millis(120)).await;
        p
    });
    let body =
        aws_smithy_types::body::SdkBody::from_body_1_x(http_body_util::StreamBody::new(stream));
    let slow = {
        let s3 = first.clone();
        tokio::spawn(async move {
            s3.put_object()
                .bucket(name)
                .key("stray")
                .content_length(len as i64)
                .body(ByteStream::new(body))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.delete_bucket().bucket(name).send().await.unwrap();
    second.create_bucket().bucket(name).send().await.unwrap();
    let _ = slow.await.unwrap();
    // Whatever the late PUT was told, its object belongs to the bucket that was deleted.
    let listed = second.list_objects_v2().bucket(name).send().await.unwrap();
    assert!(listed.contents().is_empty(), "{:?}", listed.contents());
    let got = second.get_object().bucket(name).key("stray").send().await;
    assert_eq!(code(&got.unwrap_err()), "NoSuchKey");
    let tags = second
        .get_object_tagging()
        .bucket(name)
        .key("stray")
        .send()
        .await;
    assert_eq!(code(&tags.unwrap_err()), "NoSuchKey");
    // The new owner's own object of that name is there, and its bucket can be deleted once
    // it is gone again.
    second
        .put_object()
        .bucket(name)
        .key("stray")
        .if_none_match("*")
        .body(ByteStream::from_static(b"mine"))
        .send()
        .await
        .unwrap();
    let got = second
        .get_object()
        .bucket(name)
        .key("stray")
        .send()
        .await
        .unwrap();
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"mine");
    second
        .delete_object()
        .bucket(name)
        .key("stray")
        .send()
        .await
        .unwrap();
    second.delete_bucket().bucket(name).send().await.unwrap();
}

/// A 64 MiB GET read slowly (about six seconds) while the key is overwritten twice with other
/// 64 MiB bodies and then deleted: the GET that started gets the whole version it started on,
/// never a broken body or another version's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_64_mib_get_outlives_overwrites_and_a_delete() {
    let (_cluster, s3) = setup(Shape::default()).await;
    let len = 64 << 20;
    put(&s3, "huge", pattern(len, 0)).await;
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("huge")
        .send()
        .await
        .unwrap();
    let mut body = got.body;
    let mut data = Vec::with_capacity(len);
    // The first piece is in: the GET has started on version 0.
    data.extend_from_slice(&body.next().await.unwrap().unwrap());
    let writer = {
        let s3 = s3.clone();
        tokio::spawn(async move {
            for seed in 1..=2 {
                put(&s3, "huge", pattern(len, seed)).await;
            }
            s3.delete_object()
                .bucket(BUCKET)
                .key("huge")
                .send()
                .await
                .unwrap();
        })
    };
    let mut next_pause = 4 << 20;
    while let Some(piece) = body.next().await {
        let piece = piece.unwrap_or_else(|e| panic!("the body broke: {e}"));
        data.extend_from_slice(&piece);
        if data.len() >= next_pause {
            next_pause += 4 << 20;
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
    }
    assert!(
        writer.is_finished(),
        "the overwrites and the delete ended before the GET did"
    );
    writer.await.unwrap();
    assert_eq!(data.len(), len, "a cut-off body");
    assert!(data == pattern(len, 0), "bytes of another version");
    let gone = s3.get_object().bucket(BUCKET).key("huge").send().await;
    assert!(gone.is_err(), "the delete is visible after the slow GET");
}
