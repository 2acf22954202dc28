//! How clients name a KMS key, and how the gateway names it back. A request may give the key's
//! id, `alias/<id>`, or either inside an ARN (`arn:aws:kms:<region>:<account>:key/<id>`,
//! `…:alias/<id>`); the built-in key answers to `aws/s3` and `alias/aws/s3`. Responses carry
//! the key's ARN, as AWS's do. Pure.

use config::BUILT_IN_KMS_KEY;

/// The account in the ARNs this store returns (it has one account).
pub const ACCOUNT: &str = "000000000000";

/// Why a key reference names no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("`{0}` is not a KMS key id, alias or ARN")]
    Malformed(String),
}

/// The key id a reference names (not yet checked against the configured keys).
pub fn key_id(reference: &str) -> Result<String, RefError> {
    let malformed = || RefError::Malformed(reference.to_string());
    let rest = match reference.strip_prefix("arn:") {
        Some(arn) => {
            // arn:<partition>:kms:<region>:<account>:<resource>
            let mut parts = arn.splitn(5, ':');
            let (_partition, service, _region, _account, resource) = (
                parts.next().ok_or_else(malformed)?,
                parts.next().ok_or_else(malformed)?,
                parts.next().ok_or_else(malformed)?,
                parts.next().ok_or_else(malformed)?,
                parts.next().ok_or_else(malformed)?,
            );
            if service != "kms" {
                return Err(malformed());
            }
            match resource.strip_prefix("key/") {
                Some(id) => id,
                None if resource.starts_with("alias/") => resource,
                None => return Err(malformed()),
            }
        }
        None => reference,
    };
    let id = rest.strip_prefix("alias/").unwrap_or(rest);
    if id.is_empty() || id.contains(':') || (id.contains('/') && id != BUILT_IN_KMS_KEY) {
        return Err(malformed());
    }
    Ok(id.to_string())
}

/// The ARN of key `id`, as responses name it.
pub fn arn(region: &str, id: &str) -> String {
    if id == BUILT_IN_KMS_KEY {
        format!("arn:aws:kms:{region}:{ACCOUNT}:alias/{id}")
    } else {
        format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_form_names_the_same_key() {
        for r in [
            "app",
            "alias/app",
            "arn:aws:kms:us-east-1:123456789012:key/app",
            "arn:aws:kms:eu-west-1:000000000000:alias/app",
        ] {
            assert_eq!(key_id(r).unwrap(), "app", "{r}");
        }
        assert_eq!(key_id("alias/aws/s3").unwrap(), "aws/s3");
        assert_eq!(key_id("aws/s3").unwrap(), "aws/s3");
    }

    #[test]
    fn malformed_references_are_refused() {
        for r in [
            "",
            "alias/",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:1:role/x",
            "arn:aws:kms",
            "a/b",
            "a:b",
        ] {
            assert!(key_id(r).is_err(), "{r}");
        }
    }

    proptest! {
        #[test]
        fn an_arn_round_trips_to_its_id(id in "[A-Za-z0-9_-]{1,64}", region in "[a-z0-9-]{1,20}") {
            prop_assert_eq!(key_id(&arn(&region, &id)).unwrap(), id);
        }
    }
}
