//! Verification of the `x-amz-checksum-*` values a client sends with a body, as headers or as
//! aws-chunked trailers. The `s3s` crate parses them but does not check them: this module
//! hashes the body as it streams and compares once it has ended (trailers only exist then).

use base64::Engine as _;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, CompletedPart};
use s3s::{s3_error, S3Result};
use storage_node::model::{Checksums, PartLayout};

/// Hashes a body with every algorithm the request names and checks the values it announced.
pub struct Verifier {
    hasher: ChecksumHasher,
    expected: Checksum,
}

const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

fn named(headers: &HeaderMap, algorithm: &str) -> bool {
    let trailer = format!("x-amz-checksum-{algorithm}");
    let in_trailer = headers
        .get_all("x-amz-trailer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(&trailer));
    let sdk_algorithm = headers
        .get("x-amz-sdk-checksum-algorithm")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(algorithm));
    in_trailer || sdk_algorithm
}

fn field<'a>(c: &'a Checksum, algorithm: &str) -> &'a Option<String> {
    match algorithm {
        "crc32" => &c.checksum_crc32,
        "crc32c" => &c.checksum_crc32c,
        "crc64nvme" => &c.checksum_crc64nvme,
        "sha1" => &c.checksum_sha1,
        _ => &c.checksum_sha256,
    }
}

impl Verifier {
    /// A verifier with nothing to check that computes CRC64NVME and `algorithm` (a wire name),
    /// for bytes the gateway copies itself.
    pub fn computing(algorithm: Option<&str>) -> Verifier {
        let mut v = Verifier::new(Checksum::default(), &HeaderMap::new());
        match algorithm.map(str::to_ascii_uppercase).as_deref() {
            Some("CRC32") => v.hasher.crc32 = Some(Default::default()),
            Some("CRC32C") => v.hasher.crc32c = Some(Default::default()),
            Some("SHA1") => v.hasher.sha1 = Some(Default::default()),
            Some("SHA256") => v.hasher.sha256 = Some(Default::default()),
            _ => {}
        }
        v
    }

    /// `expected` holds the values sent as headers; `headers` are the request's headers (they
    /// name trailer checksums and the SDK's chosen algorithm).
    pub fn new(expected: Checksum, headers: &HeaderMap) -> Verifier {
        let mut hasher = ChecksumHasher::default();
        let wanted = |alg: &str| field(&expected, alg).is_some() || named(headers, alg);
        if wanted("crc32") {
            hasher.crc32 = Some(Default::default());
        }
        if wanted("crc32c") {
            hasher.crc32c = Some(Default::default());
        }
        // Like AWS, every object gets a CRC64NVME whether or not the client asked.
        hasher.crc64nvme = Some(Default::default());
        if wanted("sha1") {
            hasher.sha1 = Some(Default::default());
        }
        if wanted("sha256") {
            hasher.sha256 = Some(Default::default());
        }
        Verifier { hasher, expected }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Compares the computed checksums with the announced ones (headers, then trailers).
    /// Returns the computed values.
    pub fn finish(self, trailers: Option<HeaderMap>) -> S3Result<Checksum> {
        let computed = self.hasher.finalize();
        for alg in ALGORITHMS {
            let header = format!("x-amz-checksum-{alg}");
            let announced = field(&self.expected, alg).clone().or_else(|| {
                trailers
                    .as_ref()
                    .and_then(|t| t.get(&header))
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().to_string())
            });
            if let (Some(want), Some(got)) = (announced, field(&computed, alg)) {
                if &want != got {
                    return Err(s3_error!(
                        BadDigest,
                        "The {} you specified did not match the calculated checksum.",
                        alg.to_ascii_uppercase()
                    ));
                }
            }
        }
        Ok(computed)
    }
}

/// Checks a `Content-MD5` header against the MD5 of the body received.
pub fn check_content_md5(header: Option<&str>, md5: &[u8; 16]) -> S3Result<()> {
    let Some(header) = header else { return Ok(()) };
    let expected = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()
        .filter(|d| d.len() == 16)
        .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid."))?;
    if expected != md5 {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        ));
    }
    Ok(())
}

/// The wire names of the algorithms, as stored in [`Checksums`] maps.
const WIRE_NAMES: [(&str, &str); 5] = [
    ("crc32", "CRC32"),
    ("crc32c", "CRC32C"),
    ("crc64nvme", "CRC64NVME"),
    ("sha1", "SHA1"),
    ("sha256", "SHA256"),
];

/// The checksums of `c` keyed by wire name (`CRC32` …), for storing.
pub fn checksum_map(c: &Checksum) -> Checksums {
    WIRE_NAMES
        .iter()
        .filter_map(|(alg, name)| field(c, alg).clone().map(|v| (name.to_string(), v)))
        .collect()
}

/// The inverse of [`checksum_map`].
pub fn checksum_struct(m: &Checksums) -> Checksum {
    let get = |name: &str| m.get(name).cloned();
    Checksum {
        checksum_crc32: get("CRC32"),
        checksum_crc32c: get("CRC32C"),
        checksum_crc64nvme: get("CRC64NVME"),
        checksum_sha1: get("SHA1"),
        checksum_sha256: get("SHA256"),
        ..Default::default()
    }
}

/// The whole-object checksums of a multipart object: for the upload's algorithm (other than
/// CRC64NVME, which AWS only defines as a full-object checksum), the composite value AWS
/// defines, `base64(hash(part checksum 1 ‖ … ‖ part checksum N))-N`, when every part has one.
pub fn composite_checksums(algorithm: Option<&str>, parts: &[PartLayout]) -> Checksums {
    let mut out = Checksums::new();
    let Some(name) = algorithm.map(str::to_ascii_uppercase) else {
        return out;
    };
    let Some((alg, _)) = WIRE_NAMES.iter().find(|(_, n)| *n == name) else {
        return out;
    };
    if *alg == "crc64nvme" {
        return out;
    }
    let engine = base64::engine::general_purpose::STANDARD;
    let mut joined = Vec::new();
    for p in parts {
        let Some(raw) = p.checksums.get(&name).and_then(|v| engine.decode(v).ok()) else {
            return out;
        };
        joined.extend_from_slice(&raw);
    }
    let mut v = Verifier::computing(Some(&name));
    v.hasher.crc64nvme = None;
    v.update(&joined);
    let computed = v.hasher.finalize();
    if let Some(value) = field(&computed, alg) {
        out.insert(name, format!("{value}-{}", parts.len()));
    }
    out
}

/// The checksums a client listed for one part of a CompleteMultipartUpload, by wire name.
pub fn checksum_fields(part: &CompletedPart) -> Vec<(&'static str, &str)> {
    [
        ("CRC32", &part.checksum_crc32),
        ("CRC32C", &part.checksum_crc32c),
        ("CRC64NVME", &part.checksum_crc64nvme),
        ("SHA1", &part.checksum_sha1),
        ("SHA256", &part.checksum_sha256),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_header_and_trailer_values() {
        // CRC32 of "hello" is 0x3610a686.
        let good = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            0x3610_a686u32.to_be_bytes(),
        );
        let mut v = Verifier::new(
            Checksum {
                checksum_crc32: Some(good.clone()),
                ..Default::default()
            },
            &HeaderMap::new(),
        );
        v.update(b"hello");
        assert_eq!(v.finish(None).unwrap().checksum_crc32, Some(good.clone()));

        let mut v = Verifier::new(
            Checksum {
                checksum_crc32: Some("AAAAAA==".into()),
                ..Default::default()
            },
            &HeaderMap::new(),
        );
        v.update(b"hello");
        assert_eq!(
            *v.finish(None).unwrap_err().code(),
            s3s::S3ErrorCode::BadDigest
        );

        let mut headers = HeaderMap::new();
        headers.insert("x-amz-trailer", "x-amz-checksum-crc32".parse().unwrap());
        let mut trailers = HeaderMap::new();
        trailers.insert("x-amz-checksum-crc32", "AAAAAA==".parse().unwrap());
        let mut v = Verifier::new(Checksum::default(), &headers);
        v.update(b"hello");
        assert!(v.finish(Some(trailers)).is_err());
    }
}
