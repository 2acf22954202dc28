//! The machine's own yardsticks, measured in the same run as the load: single-core MD5 and
//! AES-256-GCM (64 KiB segments, as the store seals them) throughput in MiB/s.

use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

const BUFFER: usize = 16 << 20;
const MEASURE: Duration = Duration::from_millis(1500);

/// Repeats `pass` over a 16 MiB buffer for about 1.5 s; returns MiB/s.
fn measure(mut pass: impl FnMut(&mut [u8])) -> f64 {
    let mut buf: Vec<u8> = (0..BUFFER).map(|i| (i * 31 % 251) as u8).collect();
    pass(&mut buf); // warm up
    let started = Instant::now();
    let mut bytes = 0usize;
    while started.elapsed() < MEASURE {
        pass(&mut buf);
        bytes += BUFFER;
    }
    bytes as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64()
}

/// Single-core MD5 throughput.
pub fn md5_mib_per_s() -> f64 {
    measure(|buf| {
        std::hint::black_box(Md5::digest(&*buf));
    })
}

/// Single-core AES-256-GCM sealing throughput, in 64 KiB segments with their tags.
pub fn aes_gcm_mib_per_s() -> f64 {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("32-byte key"));
    let mut counter = 0u64;
    measure(|buf| {
        for segment in buf.chunks_mut(64 << 10) {
            counter += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&counter.to_be_bytes());
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    segment,
                )
                .expect("sealing cannot fail for in-range lengths");
            let _ = std::hint::black_box(tag);
        }
    })
}
