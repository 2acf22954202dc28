//! Verification of the `x-amz-checksum-*` values a client sends with a body, as headers or as
//! aws-chunked trailers. The `s3s` crate parses them but does not check them: this module
//! hashes the body as it streams and compares once it has ended (trailers only exist then).

use base64::Engine as _;
use http::HeaderMap;
use node_api::model::{Checksums, PartLayout};
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, CompletedPart};
use s3s::{s3_error, S3Result};

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
        if let Some(algorithm) = algorithm {
            v.compute(algorithm);
        }
        v
    }

    /// Also computes `algorithm` (a wire name, any case), whether or not a value was announced.
    pub fn compute(&mut self, algorithm: &str) {
        match algorithm.to_ascii_uppercase().as_str() {
            "CRC32" => drop(self.hasher.crc32.get_or_insert_with(Default::default)),
            "CRC32C" => drop(self.hasher.crc32c.get_or_insert_with(Default::default)),
            "SHA1" => drop(self.hasher.sha1.get_or_insert_with(Default::default)),
            "SHA256" => drop(self.hasher.sha256.get_or_insert_with(Default::default)),
            _ => {}
        }
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

/// `x-amz-checksum-type` values.
pub const FULL_OBJECT: &str = "FULL_OBJECT";
pub const COMPOSITE: &str = "COMPOSITE";

/// Checks the algorithm and checksum type a CreateMultipartUpload names, as AWS does, and
/// returns the type the upload uses: CRC64NVME is full-object only, SHA1 and SHA256 composite
/// only, CRC32 and CRC32C either (composite unless asked). No algorithm, no type: the object
/// gets a full-object CRC64NVME, as on AWS.
pub fn upload_checksum_type(
    algorithm: Option<&str>,
    requested: Option<&str>,
) -> S3Result<Option<String>> {
    let requested = requested.map(str::to_ascii_uppercase);
    let Some(algorithm) = algorithm.map(str::to_ascii_uppercase) else {
        return match requested {
            None => Ok(None),
            Some(_) => Err(s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            )),
        };
    };
    let allowed: &[&str] = match algorithm.as_str() {
        "CRC64NVME" => &[FULL_OBJECT],
        "CRC32" | "CRC32C" => &[COMPOSITE, FULL_OBJECT],
        "SHA1" | "SHA256" => &[COMPOSITE],
        _ => {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum algorithm {algorithm} is not supported."
            ))
        }
    };
    let chosen =
        requested.unwrap_or_else(|| allowed.first().copied().unwrap_or(FULL_OBJECT).to_string());
    if !allowed.contains(&chosen.as_str()) {
        return Err(s3_error!(
            InvalidRequest,
            "The {chosen} checksum type cannot be used with the {} checksum algorithm.",
            algorithm.to_ascii_lowercase()
        ));
    }
    Ok(Some(chosen))
}

/// The `x-amz-checksum-type` of stored checksums: composite values end in `-N`.
pub fn checksum_type_of(checksums: &Checksums) -> Option<&'static str> {
    if checksums.is_empty() {
        None
    } else if checksums.values().any(|v| v.contains('-')) {
        Some(COMPOSITE)
    } else {
        Some(FULL_OBJECT)
    }
}

/// The whole-object checksums of a multipart object, as AWS defines them for the upload's
/// algorithm and type:
/// - composite: `base64(hash(part checksum 1 ‖ … ‖ part checksum N))-N`;
/// - full object (CRC32, CRC32C, CRC64NVME): the CRC of the whole object, combined from the
///   parts' CRCs and sizes without reading any data. CRC64NVME is always computed this way.
///
/// Parts uploaded without a value of the upload's algorithm make it InvalidRequest.
pub fn multipart_checksums(
    algorithm: Option<&str>,
    checksum_type: Option<&str>,
    parts: &[PartLayout],
) -> S3Result<Checksums> {
    let mut out = Checksums::new();
    let algorithm = algorithm.map(str::to_ascii_uppercase);
    if let Some(name) = &algorithm {
        if let Some(p) = parts.iter().find(|p| !p.checksums.contains_key(name)) {
            return Err(s3_error!(
                InvalidRequest,
                "The upload was created using a {} checksum. The complete request referenced part {}, which was created without a checksum.",
                name.to_ascii_lowercase(),
                p.number
            ));
        }
        if checksum_type == Some(COMPOSITE) {
            if let Some(value) = composite(name, parts) {
                out.insert(name.clone(), value);
            }
            return Ok(out);
        }
        if let Some(value) = combined_crc(name, parts) {
            out.insert(name.clone(), value);
        }
    }
    if let Some(value) = combined_crc("CRC64NVME", parts) {
        out.insert("CRC64NVME".into(), value);
    }
    Ok(out)
}

fn composite(name: &str, parts: &[PartLayout]) -> Option<String> {
    let (alg, _) = WIRE_NAMES.iter().find(|(_, n)| *n == name)?;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut joined = Vec::new();
    for p in parts {
        joined.extend_from_slice(&engine.decode(p.checksums.get(name)?).ok()?);
    }
    let mut v = Verifier::computing(Some(name));
    v.hasher.crc64nvme = None;
    v.update(&joined);
    let computed = v.hasher.finalize();
    field(&computed, alg)
        .as_ref()
        .map(|value| format!("{value}-{}", parts.len()))
}

/// Combines the parts' CRCs (`crc(A‖B)` from `crc(A)`, `crc(B)` and `len(B)`).
fn combined_crc(name: &str, parts: &[PartLayout]) -> Option<String> {
    use crc_fast::CrcAlgorithm;
    let (algorithm, width) = match name {
        "CRC32" => (CrcAlgorithm::Crc32IsoHdlc, 4),
        "CRC32C" => (CrcAlgorithm::Crc32Iscsi, 4),
        "CRC64NVME" => (CrcAlgorithm::Crc64Nvme, 8),
        _ => return None,
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let mut whole: Option<u64> = None;
    for p in parts {
        let raw = engine.decode(p.checksums.get(name)?).ok()?;
        if raw.len() != width {
            return None;
        }
        let crc = raw.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        whole = Some(match whole {
            None => crc,
            Some(prefix) => crc_fast::checksum_combine(algorithm, prefix, crc, p.size),
        });
    }
    Some(engine.encode(whole?.to_be_bytes().get(8usize.saturating_sub(width)..)?))
}

/// Checks the whole-object checksums a CompleteMultipartUpload announced against the ones
/// computed from the parts: a different value is BadDigest, an algorithm the upload did not
/// use InvalidRequest. A composite value may be given with or without its `-N`.
pub fn check_announced(announced: &Checksum, computed: &Checksums) -> S3Result<()> {
    for (alg, name) in WIRE_NAMES {
        let Some(want) = field(announced, alg) else {
            continue;
        };
        let Some(have) = computed.get(name) else {
            return Err(s3_error!(
                InvalidRequest,
                "The upload was not created with the {alg} checksum algorithm."
            ));
        };
        let bare = have.split('-').next().unwrap_or(have);
        if want != have && want != bare {
            return Err(s3_error!(
                BadDigest,
                "The {name} you specified did not match the calculated checksum."
            ));
        }
    }
    Ok(())
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
