//! The at-rest format of object data and user metadata (format 1): what leaves the gateway is
//! sealed with AES-256-GCM (`ring`) under a random per-version data key.
//!
//! An *extent* is the bytes of one object (single PUT) or of one multipart part. It is sealed
//! in [`SEGMENT`]-byte segments, each stored as `ciphertext ‖ 16-byte tag`; a chunk of
//! `chunk_size` plaintext bytes (a multiple of [`SEGMENT`]) is the concatenation of its sealed
//! segments, so a chunk of `n` plaintext bytes is stored in `n + 16·⌈n / SEGMENT⌉` bytes. An
//! empty extent is one empty segment (a bare tag).
//!
//! * The nonce of segment `i` is the extent's random 96-bit `nonce_base` XOR `i` (big-endian in
//!   the low 8 bytes). Each extent has its own random base, so nonces never repeat under a key.
//! * The associated data binds the format byte, bucket, key, the version the data was written
//!   under, the part number, the segment index and whether it is the extent's last segment:
//!   moving a segment to another object, position or version, dropping the tail, or appending
//!   to it fails authentication.
//! * User metadata is sealed as one message with segment index `u64::MAX` and its own tag.
//! * Data keys are wrapped by a master key: `nonce ‖ AES-256-GCM(master, data key)` with the
//!   master key's id as associated data.

use std::ops::Range;

use bytes::Bytes;
use node_api::direct_buffer::DirectBuffer;
use node_api::model::Version;
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The format byte stored with every sealed object (`Sealing::format`).
pub const FORMAT: u8 = 1;
/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 << 10;
/// Bytes AES-GCM adds to each segment.
pub const TAG: usize = 16;
/// Segment index reserved for the sealed user metadata.
const METADATA_SEGMENT: u64 = u64::MAX;
/// Bytes of a wrapped data key: nonce, key, tag.
pub const WRAPPED_LEN: usize = NONCE_LEN + 32 + TAG;

/// A stored segment, chunk or wrapped key that does not authenticate.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stored data failed authentication: {0}")]
pub struct Corrupt(pub String);

/// Fresh random bytes from the operating system.
#[allow(
    clippy::expect_used,
    reason = "without the operating system's random source no key or nonce can be made safely"
)]
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random source failed");
    out
}

/// A 256-bit AES-GCM key: an object's data key or a master key.
pub struct AeadKey(LessSafeKey);

impl AeadKey {
    #[allow(clippy::expect_used, reason = "AES-256 takes any 32-byte key")]
    pub fn new(bytes: &[u8; 32]) -> AeadKey {
        AeadKey(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte key suits AES-256"),
        ))
    }
}

/// What one extent's segments are bound to.
#[derive(Debug, Clone)]
pub struct Extent {
    pub bucket: String,
    pub key: String,
    /// The version the bytes were written under (chunk ids carry it too).
    pub version: Version,
    /// 0 for a single PUT, the part number for a multipart part.
    pub part: u32,
    pub nonce_base: [u8; 12],
}

impl Extent {
    fn nonce(&self, segment: u64) -> Nonce {
        let mut n = self.nonce_base;
        for (b, s) in n[4..].iter_mut().zip(segment.to_be_bytes()) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(n)
    }

    fn aad(&self, segment: u64, last: bool) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            64usize
                .saturating_add(self.bucket.len())
                .saturating_add(self.key.len()),
        );
        aad.push(FORMAT);
        for field in [self.bucket.as_bytes(), self.key.as_bytes()] {
            aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
            aad.extend_from_slice(field);
        }
        aad.extend_from_slice(&self.version.to_bytes());
        aad.extend_from_slice(&self.part.to_be_bytes());
        aad.extend_from_slice(&segment.to_be_bytes());
        aad.push(u8::from(last));
        aad
    }

    /// Seals one chunk's plaintext: chunk `index` of chunks of `chunk_size` bytes. `last_chunk`
    /// marks the extent's final chunk, whose final segment carries the last flag. (The data
    /// path fills an [`UnsealedChunk`] instead; this is its one-call form for tests.)
    #[cfg(test)]
    pub fn seal_chunk(
        &self,
        key: &AeadKey,
        chunk_size: usize,
        index: u32,
        plain: &[u8],
        last_chunk: bool,
    ) -> Vec<u8> {
        let mut out = UnsealedChunk::new(plain.len(), plain.len());
        out.fill(plain);
        out.seal(self, key, chunk_size, index, last_chunk).to_vec()
    }

    /// Seals, in place, a chunk laid out as it is stored: each segment's plaintext followed by
    /// [`TAG`] bytes of room for its tag (`layout.len() == sealed_len(plaintext length)`).
    #[allow(
        clippy::expect_used,
        reason = "AES-GCM refuses only inputs beyond 64 GiB; segments are at most 64 KiB"
    )]
    fn seal_in_place(
        &self,
        key: &AeadKey,
        chunk_size: usize,
        index: u32,
        layout: &mut [u8],
        last_chunk: bool,
    ) {
        debug_assert_eq!(chunk_size % SEGMENT, 0);
        let count = layout.len().div_ceil(SEGMENT + TAG);
        let first = first_segment(chunk_size, index);
        for (s, stored) in layout.chunks_mut(SEGMENT + TAG).enumerate() {
            let segment = first.saturating_add(s as u64);
            let Some((data, room)) = stored.split_last_chunk_mut::<TAG>() else {
                continue; // only a layout shorter than a tag, which `seal` never makes
            };
            let tag = key
                .0
                .seal_in_place_separate_tag(
                    self.nonce(segment),
                    Aad::from(self.aad(segment, last_chunk && s.saturating_add(1) == count)),
                    data,
                )
                .expect("AES-GCM seals any segment of at most 64 KiB");
            room.copy_from_slice(tag.as_ref());
        }
    }

    /// Opens the segments of a stored chunk that plaintext offsets `within` (relative to the
    /// chunk) cover, in the buffer it was read into, and returns exactly those plaintext
    /// bytes. Each segment's plaintext lands where the covered segments' plaintexts lie end to
    /// end from the buffer's start (AES-GCM decrypts while shifting over the tags in between),
    /// so nothing is copied. Where the chunk sits and how long it is come from the manifest,
    /// so a truncated or extended chunk fails too.
    pub fn open_chunk(
        &self,
        key: &AeadKey,
        at: &ChunkAt,
        mut stored: DirectBuffer,
        within: Range<usize>,
    ) -> Result<Bytes, Corrupt> {
        let ChunkAt {
            chunk_size,
            index,
            plain_len,
            last: last_chunk,
        } = *at;
        if stored.len() != sealed_len(plain_len) {
            return Err(Corrupt(format!(
                "chunk {index} is {} bytes, the manifest implies {}",
                stored.len(),
                sealed_len(plain_len)
            )));
        }
        if within.start > within.end || within.end > plain_len {
            return Err(Corrupt(format!(
                "bytes {within:?} asked of chunk {index}, which holds {plain_len}"
            )));
        }
        // Every offset below lies within `stored`, whose length was checked against
        // `plain_len`: the saturating operations never saturate, and `get` never misses.
        let outside = || Corrupt(format!("chunk {index}: a segment outside its bytes"));
        let count = segments_in(plain_len);
        let first = first_segment(chunk_size, index);
        let (from, to) = match within.end.checked_sub(1) {
            Some(last) if !within.is_empty() => (within.start / SEGMENT, last / SEGMENT),
            _ => (0, 0),
        };
        for s in from..=to.min(count.saturating_sub(1)) {
            let plain_start = s.saturating_mul(SEGMENT);
            let len = plain_start
                .saturating_add(SEGMENT)
                .min(plain_len)
                .saturating_sub(plain_start);
            let sealed_at = plain_start.saturating_add(s.saturating_mul(TAG));
            let sealed_end = sealed_at.saturating_add(len);
            let tag = stored
                .get(sealed_end..sealed_end.saturating_add(TAG))
                .and_then(|t| Tag::try_from(t).ok())
                .ok_or_else(outside)?;
            let segment = first.saturating_add(s as u64);
            // Behind the segment's ciphertext: earlier segments' plaintext ends there.
            let to_at = s.saturating_sub(from).saturating_mul(SEGMENT);
            let window = stored.get_mut(to_at..sealed_end).ok_or_else(outside)?;
            key.0
                .open_in_place_separate_tag(
                    self.nonce(segment),
                    Aad::from(self.aad(segment, last_chunk && s.saturating_add(1) == count)),
                    tag,
                    window,
                    sealed_at.saturating_sub(to_at)..,
                )
                .map_err(|_| Corrupt(format!("segment {segment} of chunk {index}")))?;
        }
        if within.is_empty() {
            return Ok(Bytes::new());
        }
        let lo = within.start.saturating_sub(from.saturating_mul(SEGMENT));
        let hi = lo.saturating_add(within.len());
        let opened = stored.into_bytes();
        if hi > opened.len() {
            return Err(outside());
        }
        Ok(opened.slice(lo..hi))
    }

    /// Seals serialized user metadata.
    #[allow(
        clippy::expect_used,
        reason = "AES-GCM refuses only inputs beyond 64 GiB; segments are at most 64 KiB"
    )]
    pub fn seal_metadata(&self, key: &AeadKey, plain: &[u8]) -> Vec<u8> {
        let mut out = plain.to_vec();
        key.0
            .seal_in_place_append_tag(
                self.nonce(METADATA_SEGMENT),
                Aad::from(self.aad(METADATA_SEGMENT, true)),
                &mut out,
            )
            .expect("AES-GCM seals metadata");
        out
    }

    pub fn open_metadata(&self, key: &AeadKey, sealed: &[u8]) -> Result<Vec<u8>, Corrupt> {
        let mut buf = sealed.to_vec();
        let len = key
            .0
            .open_in_place(
                self.nonce(METADATA_SEGMENT),
                Aad::from(self.aad(METADATA_SEGMENT, true)),
                &mut buf,
            )
            .map_err(|_| Corrupt("user metadata".into()))?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// One chunk's plaintext, written as it arrives straight into the layout of its sealed form
/// (each segment followed by room for its tag) in a pooled [`DirectBuffer`]: sealing then
/// encrypts in place, and the sealed chunk leaves for the nodes without another copy or a
/// fresh allocation.
pub struct UnsealedChunk {
    layout: DirectBuffer,
    plain_len: usize,
    room: usize,
}

impl UnsealedChunk {
    /// An empty chunk that takes at most `room` plaintext bytes, with memory for `expected` of
    /// them at first (it grows if more arrive).
    pub fn new(room: usize, expected: usize) -> UnsealedChunk {
        UnsealedChunk {
            layout: DirectBuffer::with_capacity(sealed_len(expected.min(room))),
            plain_len: 0,
            room,
        }
    }

    /// Plaintext bytes held.
    pub fn len(&self) -> usize {
        self.plain_len
    }

    pub fn is_empty(&self) -> bool {
        self.plain_len == 0
    }

    /// Whether the chunk holds all the plaintext it takes.
    pub fn is_full(&self) -> bool {
        self.plain_len == self.room
    }

    /// Appends as much of `data` as the chunk takes; returns how many bytes that was.
    pub fn fill(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        while taken < data.len() && self.plain_len < self.room {
            let in_segment = self.plain_len % SEGMENT;
            if in_segment == 0 && self.plain_len > 0 {
                self.layout.extend_from_slice(&[0; TAG]);
            }
            let n = SEGMENT
                .saturating_sub(in_segment)
                .min(self.room.saturating_sub(self.plain_len))
                .min(data.len().saturating_sub(taken));
            let Some(piece) = data.get(taken..taken.saturating_add(n)) else {
                break;
            };
            self.layout.extend_from_slice(piece);
            self.plain_len = self.plain_len.saturating_add(n);
            taken = taken.saturating_add(n);
        }
        taken
    }

    /// Seals the chunk in place as chunk `index` of `extent`; `last_chunk` marks the extent's
    /// final chunk, whose final segment carries the last flag.
    pub fn seal(
        mut self,
        extent: &Extent,
        key: &AeadKey,
        chunk_size: usize,
        index: u32,
        last_chunk: bool,
    ) -> DirectBuffer {
        self.layout.extend_from_slice(&[0; TAG]);
        extent.seal_in_place(key, chunk_size, index, &mut self.layout, last_chunk);
        self.layout
    }
}

/// Where a stored chunk sits in its extent, as the manifest says.
#[derive(Debug, Clone, Copy)]
pub struct ChunkAt {
    /// Plaintext bytes per chunk of the extent (a multiple of [`SEGMENT`]).
    pub chunk_size: usize,
    pub index: u32,
    /// This chunk's plaintext length.
    pub plain_len: usize,
    /// Whether it is the extent's final chunk.
    pub last: bool,
}

/// Segments of an extent piece of `plain_len` bytes (an empty one still has one).
pub fn segments_in(plain_len: usize) -> usize {
    plain_len.div_ceil(SEGMENT).max(1)
}

/// Stored size of `plain_len` plaintext bytes sealed in segments.
pub fn sealed_len(plain_len: usize) -> usize {
    plain_len.saturating_add(TAG.saturating_mul(segments_in(plain_len)))
}

/// The extent-wide index of the first segment of chunk `index` (chunks of `chunk_size`
/// plaintext bytes).
fn first_segment(chunk_size: usize, index: u32) -> u64 {
    u64::from(index).saturating_mul((chunk_size / SEGMENT) as u64)
}

/// Wraps a data key under a master key identified by `key_id`.
pub fn wrap(master: &AeadKey, key_id: &str, data_key: &[u8; 32]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random();
    wrap_with_nonce(master, key_id, data_key, nonce)
}

#[allow(
    clippy::expect_used,
    reason = "AES-GCM refuses only inputs beyond 64 GiB; a key is 32 bytes"
)]
fn wrap_with_nonce(
    master: &AeadKey,
    key_id: &str,
    data_key: &[u8; 32],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.extend_from_slice(&nonce);
    let mut sealed = *data_key;
    let tag = master
        .0
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wrap_aad(key_id)),
            &mut sealed,
        )
        .expect("AES-GCM seals a key");
    out.extend_from_slice(&sealed);
    out.extend_from_slice(tag.as_ref());
    out
}

/// Unwraps a data key wrapped by [`wrap`] under the same master key and id.
pub fn unwrap(master: &AeadKey, key_id: &str, wrapped: &[u8]) -> Result<[u8; 32], Corrupt> {
    let wrong_length = || Corrupt("wrapped data key has the wrong length".into());
    let wrapped = <&[u8; WRAPPED_LEN]>::try_from(wrapped).map_err(|_| wrong_length())?;
    let (nonce, sealed) = wrapped
        .split_first_chunk::<NONCE_LEN>()
        .ok_or_else(wrong_length)?;
    let (nonce, mut buf) = (*nonce, sealed.to_vec());
    let plain = master
        .0
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wrap_aad(key_id)),
            &mut buf,
        )
        .map_err(|_| {
            Corrupt(format!(
                "data key does not unwrap under master key {key_id}"
            ))
        })?;
    <[u8; 32]>::try_from(&*plain).map_err(|_| wrong_length())
}

pub fn wrap_aad(key_id: &str) -> Vec<u8> {
    let mut aad = b"s3store data key v1\0".to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn extent() -> Extent {
        Extent {
            bucket: "bucket".into(),
            key: "dir/key.bin".into(),
            version: Version {
                hlc: 0x0102_0304_0506_0708,
                tiebreak: 0x1112_1314_1516_1718,
            },
            part: 3,
            nonce_base: [0xA5; 12],
        }
    }

    fn key() -> AeadKey {
        AeadKey::new(&[0x42; 32])
    }

    fn plain(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Fixed vectors: a change to nonce derivation, associated data or layout changes these
    /// bytes, which would make every stored object unreadable. Never edit them to make a
    /// failing test pass; add a new format instead.
    #[test]
    fn format_1_test_vectors() {
        let sealed = extent().seal_chunk(&key(), SEGMENT, 0, b"hello, sealed world", true);
        assert_eq!(
            hex::encode(&sealed),
            "abdbf999b2afa880e0ecd50891454f77f6a6a5150364743a2b7205fc8e73becb5bb6cd"
        );
        let meta = extent().seal_metadata(&key(), b"x-amz-meta-a=b");
        assert_eq!(
            hex::encode(&meta),
            "328935a750580f95e8148b6cf6964a54ab56fc27f9582c2e8d1532252468"
        );
        let wrapped = wrap_with_nonce(&key(), "k1", &[7; 32], [9; 12]);
        assert_eq!(hex::encode(&wrapped), "0909090909090909090909093aceae6d569e404ef880778ad13ea24b682905ee1aa92816040cf246819ba3c98710f9dbc01d8e6942684fcda0357205");
        // Segment 1 of a two-segment chunk: its tag only depends on its own bytes and position.
        let two = extent().seal_chunk(&key(), 2 * SEGMENT, 5, &plain(SEGMENT + 10), false);
        assert_eq!(two.len(), SEGMENT + 10 + 2 * TAG);
        assert_eq!(
            hex::encode(&two[two.len() - 26..]),
            "4ff745fdc37160d4583b9905606c1d38ab474810103bbe68c46f"
        );
    }

    #[test]
    fn tampering_is_detected() {
        let e = extent();
        let k = key();
        let data = plain(3 * SEGMENT + 5);
        let sealed = e.seal_chunk(&k, 4 * SEGMENT, 2, &data, true);
        let open = |stored: &[u8], ext: &Extent, index: u32, last: bool| {
            let at = ChunkAt {
                chunk_size: 4 * SEGMENT,
                index,
                plain_len: data.len(),
                last,
            };
            ext.open_chunk(&k, &at, DirectBuffer::copy_of(stored), 0..data.len())
        };
        assert_eq!(&*open(&sealed, &e, 2, true).unwrap(), &data[..]);
        // One flipped bit anywhere.
        for at in [0, SEGMENT + 3, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(open(&bad, &e, 2, true).is_err(), "flip at {at}");
        }
        // Another position, version, object, or a claim that it is not the last chunk.
        assert!(open(&sealed, &e, 1, true).is_err());
        assert!(open(&sealed, &e, 2, false).is_err());
        let mut other = e.clone();
        other.key.push('x');
        assert!(open(&sealed, &other, 2, true).is_err());
        let mut other = e.clone();
        other.version.tiebreak += 1;
        assert!(open(&sealed, &other, 2, true).is_err());
        let mut other = e.clone();
        other.part += 1;
        assert!(open(&sealed, &other, 2, true).is_err());
        // Truncated to whole segments: the length check and the last flag both refuse it.
        let cut = &sealed[..SEGMENT + TAG];
        let at = ChunkAt {
            chunk_size: 4 * SEGMENT,
            index: 2,
            plain_len: SEGMENT,
            last: true,
        };
        assert!(e
            .open_chunk(&k, &at, DirectBuffer::copy_of(cut), 0..SEGMENT)
            .is_err());
        // Segments swapped.
        let mut swapped = sealed[SEGMENT + TAG..2 * (SEGMENT + TAG)].to_vec();
        swapped.extend_from_slice(&sealed[..SEGMENT + TAG]);
        swapped.extend_from_slice(&sealed[2 * (SEGMENT + TAG)..]);
        assert!(open(&swapped, &e, 2, true).is_err());
    }

    #[test]
    fn keys_wrap_and_unwrap_only_under_their_master_and_id() {
        let dk = random::<32>();
        let w = wrap(&key(), "k1", &dk);
        assert_eq!(unwrap(&key(), "k1", &w).unwrap(), dk);
        assert!(unwrap(&key(), "k2", &w).is_err());
        assert!(unwrap(&AeadKey::new(&[1; 32]), "k1", &w).is_err());
        let m = extent().seal_metadata(&key(), b"meta");
        assert_eq!(extent().open_metadata(&key(), &m).unwrap(), b"meta");
        let mut other = extent();
        other.bucket = "b2".into();
        assert!(other.open_metadata(&key(), &m).is_err());
    }

    #[test]
    fn empty_extent_is_one_tag() {
        let sealed = extent().seal_chunk(&key(), SEGMENT, 0, b"", true);
        assert_eq!(sealed.len(), TAG);
        assert_eq!(
            extent()
                .open_chunk(
                    &key(),
                    &ChunkAt {
                        chunk_size: SEGMENT,
                        index: 0,
                        plain_len: 0,
                        last: true
                    },
                    DirectBuffer::copy_of(&sealed),
                    0..0
                )
                .unwrap()
                .len(),
            0
        );
    }

    /// A range the manifest's chunk does not hold (past its end, reversed, or from a
    /// manifest whose sizes overflow) is refused as corrupt, never a panic.
    #[test]
    fn ranges_outside_the_chunk_are_refused() {
        let data = plain(SEGMENT + 10);
        let sealed = extent().seal_chunk(&key(), 4 * SEGMENT, 0, &data, true);
        let at = ChunkAt {
            chunk_size: 4 * SEGMENT,
            index: 0,
            plain_len: data.len(),
            last: true,
        };
        #[allow(clippy::reversed_empty_ranges)]
        for range in [
            0..data.len() + 1,
            5..3,
            usize::MAX - 1..usize::MAX,
            data.len()..usize::MAX,
        ] {
            let got =
                extent().open_chunk(&key(), &at, DirectBuffer::copy_of(&sealed), range.clone());
            assert!(got.is_err(), "{range:?} opened");
        }
        let huge = ChunkAt {
            chunk_size: 0,
            index: u32::MAX,
            plain_len: usize::MAX,
            last: true,
        };
        assert!(extent()
            .open_chunk(&key(), &huge, DirectBuffer::copy_of(&sealed), 0..1)
            .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any range of any chunk opens to exactly the plaintext of that range.
        #[test]
        fn ranges_open_to_the_plaintext(len in 0usize..(3 * SEGMENT + 100), a in 0usize..(3 * SEGMENT + 100), b in 0usize..(3 * SEGMENT + 100)) {
            let data = plain(len);
            let sealed = extent().seal_chunk(&key(), 4 * SEGMENT, 1, &data, true);
            prop_assert_eq!(sealed.len(), sealed_len(len));
            let (lo, hi) = (a.min(b).min(len), a.max(b).min(len));
            let at = ChunkAt { chunk_size: 4 * SEGMENT, index: 1, plain_len: len, last: true };
            let got = extent().open_chunk(&key(), &at, DirectBuffer::copy_of(&sealed), lo..hi).unwrap();
            prop_assert_eq!(&got[..], &data[lo..hi]);
        }
    }

    proptest! {
        /// Fuzz target of the sealed-segment format: stored bytes from a node, mutated from a
        /// real sealed chunk or arbitrary, either open to exactly the plaintext that was
        /// sealed or are refused as corrupt; never a panic, never other bytes.
        #[test]
        fn fuzz_stored_chunks_open_to_the_plaintext_or_are_refused(
            len in 0usize..(2 * SEGMENT + 100),
            edits in proptest::collection::vec((any::<u32>(), any::<u8>(), 0u8..3), 0..6),
            arbitrary in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            a in any::<usize>(),
            b in any::<usize>(),
        ) {
            let data = plain(len);
            let mut stored = match arbitrary {
                Some(bytes) => bytes,
                None => extent().seal_chunk(&key(), 4 * SEGMENT, 1, &data, true),
            };
            for (at, value, kind) in edits {
                let at = at as usize % (stored.len() + 1);
                match kind {
                    0 if at < stored.len() => stored[at] ^= value | 1,
                    1 => stored.truncate(at),
                    _ => stored.insert(at, value),
                }
            }
            let (lo, hi) = ((a % (len + 1)).min(b % (len + 1)), (a % (len + 1)).max(b % (len + 1)));
            let at = ChunkAt { chunk_size: 4 * SEGMENT, index: 1, plain_len: len, last: true };
            if let Ok(got) = extent().open_chunk(&key(), &at, DirectBuffer::copy_of(&stored), lo..hi) {
                prop_assert_eq!(&got[..], &data[lo..hi]);
            }
            if let Ok(got) = extent().open_metadata(&key(), &stored) {
                // Only real sealed metadata opens; chunks are sealed under other nonces.
                prop_assert!(got.len() + TAG <= stored.len());
            }
        }
    }
}
