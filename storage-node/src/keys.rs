//! Byte encoding of RocksDB keys in the `manifests` column family.
//!
//! A manifest key is `esc(bucket) 00 01 esc(key) 00 01 !version`, where `esc` doubles every zero
//! byte as `00 FF` and `!version` is the bitwise complement of the version's big-endian bytes.
//! Consequences the listing relies on (and the property tests check):
//! * encoded keys sort exactly like `(bucket, key)` byte strings, then newest version first;
//! * `esc` preserves prefixes, so "every key of bucket B starting with P" is one range;
//! * every version of key K lies in `[esc(K) 00 01, esc(K) 00 02)`, so a scan can jump past K.

use crate::model::Version;

const TERMINATOR: [u8; 2] = [0x00, 0x01];

/// Appends `bytes` with every zero byte escaped as `00 FF`.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

/// Inverse of [`escape_into`] up to the first terminator; returns the raw bytes and the rest.
pub fn unescape(encoded: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some((&b, after)) = rest.split_first() {
        rest = after;
        if b != 0 {
            out.push(b);
            continue;
        }
        let (&escaped, after) = rest.split_first()?;
        rest = after;
        match escaped {
            0xFF => out.push(0),
            0x01 => return Some((out, rest)),
            _ => return None,
        }
    }
    None
}

/// The prefix shared by every manifest of `bucket`.
pub fn bucket_prefix(bucket: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bucket.len().saturating_add(2));
    escape_into(&mut out, bucket.as_bytes());
    out.extend_from_slice(&TERMINATOR);
    out
}

/// The prefix shared by every manifest of `bucket` whose key starts with `prefix`.
pub fn key_prefix(bucket: &str, prefix: &[u8]) -> Vec<u8> {
    let mut out = bucket_prefix(bucket);
    escape_into(&mut out, prefix);
    out
}

/// The prefix shared by every version of exactly `bucket/key`.
pub fn object_prefix(bucket: &str, key: &[u8]) -> Vec<u8> {
    let mut out = key_prefix(bucket, key);
    out.extend_from_slice(&TERMINATOR);
    out
}

/// The first position after every version of `bucket/key` (and before any longer key).
pub fn after_object(bucket: &str, key: &[u8]) -> Vec<u8> {
    let mut out = key_prefix(bucket, key);
    out.extend_from_slice(&[0x00, 0x02]);
    out
}

/// The full key of one manifest version.
pub fn manifest_key(bucket: &str, key: &[u8], version: Version) -> Vec<u8> {
    let mut out = object_prefix(bucket, key);
    out.extend(version.to_bytes().iter().map(|b| !b));
    out
}

/// Splits a manifest key into `(bucket, key, version)`.
pub fn parse_manifest_key(encoded: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Version)> {
    let (bucket, rest) = unescape(encoded)?;
    let (key, rest) = unescape(rest)?;
    let inverted: Vec<u8> = rest.iter().map(|b| !b).collect();
    Some((bucket, key, Version::from_bytes(&inverted)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_version() -> impl Strategy<Value = Version> {
        any::<(u64, u64)>().prop_map(|(hlc, tiebreak)| Version { hlc, tiebreak })
    }

    fn key_bytes() -> impl Strategy<Value = Vec<u8>> {
        // Zero bytes and 0xFF are the interesting ones for the escaping.
        prop::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), any::<u8>()],
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trips(key in key_bytes(), v in any_version()) {
            let enc = manifest_key("bucket", &key, v);
            let (b, k, back) = parse_manifest_key(&enc).unwrap();
            prop_assert_eq!(b, b"bucket".to_vec());
            prop_assert_eq!(k, key);
            prop_assert_eq!(back, v);
        }

        #[test]
        fn order_is_key_then_newest_first(a in key_bytes(), b in key_bytes(), va in any_version(), vb in any_version()) {
            let ea = manifest_key("bkt", &a, va);
            let eb = manifest_key("bkt", &b, vb);
            let expected = a.cmp(&b).then(vb.cmp(&va));
            prop_assert_eq!(ea.cmp(&eb), expected);
        }

        #[test]
        fn prefixes_select_exactly_their_keys(p in key_bytes(), k in key_bytes(), v in any_version()) {
            let enc = manifest_key("bkt", &k, v);
            prop_assert_eq!(enc.starts_with(&key_prefix("bkt", &p)), k.starts_with(&p));
            prop_assert_eq!(enc.starts_with(&object_prefix("bkt", &p)), k == p);
        }

        #[test]
        fn after_object_skips_exactly_the_object(k in key_bytes(), other in key_bytes(), v in any_version()) {
            let bound = after_object("bkt", &k);
            let enc = manifest_key("bkt", &other, v);
            // `other` sorts after the bound exactly when it is greater than `k` as raw bytes.
            prop_assert_eq!(enc > bound, other > k);
        }

        #[test]
        fn buckets_never_interleave(k in key_bytes(), v in any_version()) {
            let enc = manifest_key("ab", &k, v);
            prop_assert!(!enc.starts_with(&bucket_prefix("a")));
            prop_assert!(enc.starts_with(&bucket_prefix("ab")));
        }
    }
}
