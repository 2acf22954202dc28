//! Fuzz targets for every parser of bytes from the network that this crate holds: the internal
//! messages (MessagePack), the listing skimmer, chunk-stream frames and answers, and the
//! header and id formats. Each feeds arbitrary bytes and mutated valid encodings and asks only
//! that the parser answers (a value or an error) without panicking, and that valid input
//! round-trips. proptest drives them: `cargo test` runs 256 cases of each (CI), and
//! `PROPTEST_CASES=100000 cargo test -p node-api --test fuzz` is the longer local mode. A case
//! that ever fails is kept as a fixed regression test at the end of this file.

use bytes::Bytes;
use node_api::chunk_stream::{Answer, Frame, GetHeader, PutHeader};
use node_api::model::{
    decode, encode, BucketRecord, ChunkId, GetManifest, Hint, Layout, ListEntry, ListManifests,
    Manifest, PartRecord, Prepare, UploadRecord, Version, WriteManifest,
};
use node_api::table::{GetRow, ListRows, PutRow, Row};
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn sample_manifest() -> Manifest {
    let mut m = Manifest::tombstone(
        "bucket",
        "some/key",
        Version {
            hlc: 77 << 16,
            tiebreak: 5,
        },
    );
    m.deleted = false;
    m.size = 3 << 20;
    m.layout = Layout::Chunked {
        chunk_size: 1 << 20,
        count: 3,
        data: None,
    };
    m.user_metadata.insert("colour".into(), "blue".into());
    m
}

/// Valid encodings of the messages nodes decode, as mutation seeds.
fn seeds() -> Vec<Vec<u8>> {
    let m = sample_manifest();
    vec![
        encode(&m),
        encode(&Row {
            family: node_api::table::Family::Manifests,
            record: encode(&m),
        }),
        encode(&GetManifest {
            bucket: "b".into(),
            key: "k".into(),
        }),
    ]
}

/// A mutation of one seed: bytes flipped, cut or inserted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    (
        0..seeds.len(),
        proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(move |(which, edits)| {
            let mut bytes = seeds[which].clone();
            for (at, value, kind) in edits {
                let at = usize::from(at) % (bytes.len() + 1);
                match kind {
                    0 if at < bytes.len() => bytes[at] ^= value | 1,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, value),
                }
            }
            bytes
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), mutated()]
}

/// Decodes `bytes` as every message type a node or gateway reads off the wire.
fn decode_all(bytes: &[u8]) {
    let _ = decode::<Manifest>(bytes);
    let _ = decode::<WriteManifest>(bytes);
    let _ = decode::<GetManifest>(bytes);
    let _ = decode::<ListManifests>(bytes);
    let _ = decode::<Row>(bytes);
    let _ = decode::<PutRow>(bytes);
    let _ = decode::<GetRow>(bytes);
    let _ = decode::<ListRows>(bytes);
    let _ = decode::<BucketRecord>(bytes);
    let _ = decode::<UploadRecord>(bytes);
    let _ = decode::<PartRecord>(bytes);
    let _ = decode::<Prepare>(bytes);
    let _ = decode::<Hint>(bytes);
    let _ = decode::<placement::MapState>(bytes);
    if let Ok(row) = decode::<Row>(bytes) {
        let _ = row.decode::<Manifest>();
        let _ = row.decode::<BucketRecord>();
    }
}

proptest! {
    #[test]
    fn fuzz_internal_messages_decode_or_refuse(bytes in input()) {
        decode_all(&bytes);
    }

    #[test]
    fn fuzz_listing_skim_reads_or_refuses(bytes in input()) {
        let version = Version { hlc: 1, tiebreak: 2 };
        if let Ok(entry) = ListEntry::from_stored("k".into(), version, &bytes) {
            // What the skimmer read agrees with a whole decode, when one succeeds.
            if let Ok(m) = decode::<Manifest>(&bytes) {
                prop_assert_eq!(entry.size, m.size);
            }
        }
    }

    #[test]
    fn fuzz_chunk_stream_frames_read_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let rt = runtime();
        let mut rd: &[u8] = &bytes;
        // Frames until the bytes end or one is refused: no panic, no endless loop.
        for _ in 0..bytes.len() + 1 {
            match rt.block_on(Frame::read(&mut rd)) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let mut rd: &[u8] = &bytes;
        let _ = rt.block_on(Answer::read(&mut rd));
    }

    #[test]
    fn fuzz_chunk_stream_headers_round_trip(
        epoch in proptest::option::of(any::<u64>()),
        v in any::<(u64, u64)>(),
        part in any::<u32>(),
        index in any::<u32>(),
        owner in proptest::option::of("[a-zA-Z0-9._-]{1,128}"),
        len in any::<u32>(),
        verify in any::<bool>(),
        cut in any::<u8>(),
    ) {
        let rt = runtime();
        let id = ChunkId { version: Version { hlc: v.0, tiebreak: v.1 }, part, index };
        let put = PutHeader { epoch, id, owner, len };
        let encoded: Bytes = put.encode();
        let mut rd: &[u8] = &encoded;
        prop_assert_eq!(rt.block_on(Frame::read(&mut rd)).unwrap(), Some(Frame::Put(put)));
        // Cut anywhere inside, a header is an error, never a frame.
        let cut = usize::from(cut) % encoded.len();
        let mut rd: &[u8] = &encoded[..cut];
        let read = rt.block_on(Frame::read(&mut rd));
        prop_assert!(matches!(read, Ok(None) | Err(_)), "{:?}", read);
        let get = GetHeader { epoch, id, verify };
        let encoded = get.encode();
        let mut rd: &[u8] = &encoded;
        prop_assert_eq!(rt.block_on(Frame::read(&mut rd)).unwrap(), Some(Frame::Get(get)));
    }

    #[test]
    fn fuzz_ids_and_headers_parse_or_refuse(text in "\\PC{0,80}", bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Some(id) = ChunkId::from_hex(&text) {
            prop_assert_eq!(id.to_hex(), text.to_ascii_lowercase());
        }
        let _ = ChunkId::from_bytes(&bytes);
        let _ = Version::from_bytes(&bytes);
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_bytes(&bytes) {
            headers.insert(node_api::wire::EPOCH_HEADER, value);
            let _ = node_api::wire::epoch_of(&headers);
        }
        let _ = node_api::wire::valid_node_id(&text);
    }
}

#[test]
fn valid_messages_round_trip() {
    let m = sample_manifest();
    assert_eq!(decode::<Manifest>(&encode(&m)).unwrap(), m);
    for seed in seeds() {
        decode_all(&seed);
    }
}
