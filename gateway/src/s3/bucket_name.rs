//! Which bucket names exist at all: AWS's naming rules for general purpose buckets, checked on
//! every request's path (so CreateBucket refuses a bad name with InvalidBucketName, and no
//! request reaches a name no bucket can have).

/// Bucket names as AWS allows them: 3 to 63 characters of lowercase letters, digits, `.` and
/// `-`, starting and ending with a letter or digit; no `..`, and no `.` beside a `-` (each
/// dot-separated label must begin and end with a letter or digit, as a DNS name's); not an IP
/// address; none of the prefixes and suffixes AWS reserves.
pub fn is_valid(name: &str) -> bool {
    const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    s3s::path::check_bucket_name(name)
        && !name.contains(".-")
        && !name.contains("-.")
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// [`is_valid`] as the S3 service's name check.
#[derive(Debug, Clone, Copy, Default)]
pub struct BucketNames;

impl s3s::validation::NameValidation for BucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        is_valid(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aws_examples() {
        for good in [
            "docexamplebucket1",
            "log-delivery-march-2020",
            "my-hosted-content",
            "a.b-c",
            "abc",
            "1.2.3",
        ] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "doc_example_bucket",
            "DocExampleBucket",
            "doc-example-bucket-",
            "ab",
            "a.-b",
            "a-.b",
            "a..b",
            ".ab",
            "ab.",
            "192.168.5.4",
            "xn--abc",
            "sthree-x",
            "amzn-s3-demo-x",
            "x-s3alias",
            "x--ol-s3",
            "x.mrap",
            "x--x-s3",
            "x--table-s3",
            &"a".repeat(64),
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    proptest! {
        /// Every valid name is DNS-safe: labels of letters, digits and inner hyphens.
        #[test]
        fn valid_names_are_dns_labels(name in "[a-z0-9.-]{1,70}") {
            if is_valid(&name) {
                for label in name.split('.') {
                    prop_assert!(!label.is_empty());
                    prop_assert!(!label.starts_with('-') && !label.ends_with('-'));
                }
            }
        }
    }
}
