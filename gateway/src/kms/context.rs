//! The SSE-KMS encryption context (`x-amz-server-side-encryption-context`): base64 of a JSON
//! object of string pairs. S3 adds `aws:s3:arn`, the object's ARN (the bucket's, with a bucket
//! key), and the context is bound to the wrapped data key, so an envelope moved to another
//! object does not open. Kept as canonical JSON (keys sorted). Pure.

use std::collections::BTreeMap;

use base64::Engine as _;

/// The context key S3 fills in itself.
const ARN_KEY: &str = "aws:s3:arn";

/// Why a context header is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map")]
    Malformed,
    #[error("The encryption context key aws:s3:arn must be the ARN of the resource it encrypts")]
    WrongArn,
}

/// The context of an object `bucket/key`: the client's pairs (`header`, if any) and
/// `aws:s3:arn` (the object's ARN, or with `bucket_key` the bucket's), as canonical JSON.
pub fn context(
    header: Option<&str>,
    bucket: &str,
    key: &str,
    bucket_key: bool,
) -> Result<String, ContextError> {
    let mut pairs: BTreeMap<String, String> = match header {
        Some(h) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.trim())
                .map_err(|_| ContextError::Malformed)?;
            serde_json::from_slice(&bytes).map_err(|_| ContextError::Malformed)?
        }
        None => BTreeMap::new(),
    };
    let arn = if bucket_key {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!("arn:aws:s3:::{bucket}/{key}")
    };
    match pairs.get(ARN_KEY) {
        Some(given) if *given != arn => return Err(ContextError::WrongArn),
        _ => {}
    }
    pairs.insert(ARN_KEY.to_string(), arn);
    serde_json::to_string(&pairs).map_err(|_| ContextError::Malformed)
}

/// The context as a response header carries it (base64 of the JSON).
pub fn header_value(canonical: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn the_object_arn_is_added_and_keys_sorted() {
        let c = context(Some(&b64(r#"{"z":"1","a":"2"}"#)), "b", "k/1", false).unwrap();
        assert_eq!(c, r#"{"a":"2","aws:s3:arn":"arn:aws:s3:::b/k/1","z":"1"}"#);
        assert_eq!(
            context(None, "b", "k", true).unwrap(),
            r#"{"aws:s3:arn":"arn:aws:s3:::b"}"#
        );
    }

    #[test]
    fn bad_headers_are_refused() {
        assert_eq!(
            context(Some("%%%"), "b", "k", false),
            Err(ContextError::Malformed)
        );
        for json in [r#"["a"]"#, r#"{"a":1}"#, "nope", r#"{"a":{"b":"c"}}"#] {
            assert_eq!(
                context(Some(&b64(json)), "b", "k", false),
                Err(ContextError::Malformed),
                "{json}"
            );
        }
        let other = b64(r#"{"aws:s3:arn":"arn:aws:s3:::b/other"}"#);
        assert_eq!(
            context(Some(&other), "b", "k", false),
            Err(ContextError::WrongArn)
        );
        let same = b64(r#"{"aws:s3:arn":"arn:aws:s3:::b/k"}"#);
        assert!(context(Some(&same), "b", "k", false).is_ok());
    }

    proptest! {
        #[test]
        fn a_context_reads_back_as_the_same_context(
            pairs in proptest::collection::btree_map("[a-z:]{1,8}", "\\PC{0,8}", 0..5),
            key in "[a-z/]{1,10}",
        ) {
            let pairs: BTreeMap<String, String> =
                pairs.into_iter().filter(|(k, _)| k != ARN_KEY).collect();
            let header = b64(&serde_json::to_string(&pairs).unwrap());
            let first = context(Some(&header), "b", &key, false).unwrap();
            let again = context(Some(&header_value(&first)), "b", &key, false).unwrap();
            prop_assert_eq!(first, again);
        }
    }
}
