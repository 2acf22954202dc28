//! The IAM action of each S3 operation (`HeadObject` is `s3:GetObject`, `UploadPart` is
//! `s3:PutObject`, ...), as AWS's "Actions, resources, and condition keys for Amazon S3"
//! lists them, and whether an action applies to objects or to buckets (a statement whose
//! actions apply to none of its resources is refused, as AWS refuses it).

/// What an action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Applies {
    Object,
    Bucket,
    /// No resource of a bucket (`s3:ListAllMyBuckets`, `s3:CreateBucket` of a new bucket).
    Account,
}

/// The S3 actions this store knows, with what each applies to.
const ACTIONS: &[(&str, Applies)] = &[
    ("s3:AbortMultipartUpload", Applies::Object),
    ("s3:CreateBucket", Applies::Bucket),
    ("s3:DeleteBucket", Applies::Bucket),
    ("s3:DeleteBucketPolicy", Applies::Bucket),
    ("s3:DeleteObject", Applies::Object),
    ("s3:DeleteObjectTagging", Applies::Object),
    ("s3:DeleteObjectVersion", Applies::Object),
    ("s3:DeleteObjectVersionTagging", Applies::Object),
    ("s3:GetBucketAcl", Applies::Bucket),
    ("s3:GetBucketCORS", Applies::Bucket),
    ("s3:GetBucketLocation", Applies::Bucket),
    ("s3:GetBucketObjectLockConfiguration", Applies::Bucket),
    ("s3:GetBucketOwnershipControls", Applies::Bucket),
    ("s3:GetBucketPolicy", Applies::Bucket),
    ("s3:GetBucketPolicyStatus", Applies::Bucket),
    ("s3:GetBucketPublicAccessBlock", Applies::Bucket),
    ("s3:GetBucketTagging", Applies::Bucket),
    ("s3:GetBucketVersioning", Applies::Bucket),
    ("s3:GetBucketWebsite", Applies::Bucket),
    ("s3:GetEncryptionConfiguration", Applies::Bucket),
    ("s3:GetLifecycleConfiguration", Applies::Bucket),
    ("s3:GetObject", Applies::Object),
    ("s3:GetObjectAcl", Applies::Object),
    ("s3:GetObjectAttributes", Applies::Object),
    ("s3:GetObjectLegalHold", Applies::Object),
    ("s3:GetObjectRetention", Applies::Object),
    ("s3:GetObjectTagging", Applies::Object),
    ("s3:GetObjectVersion", Applies::Object),
    ("s3:GetObjectVersionAttributes", Applies::Object),
    ("s3:GetObjectVersionTagging", Applies::Object),
    ("s3:ListAllMyBuckets", Applies::Account),
    ("s3:ListBucket", Applies::Bucket),
    ("s3:ListBucketMultipartUploads", Applies::Bucket),
    ("s3:ListBucketVersions", Applies::Bucket),
    ("s3:ListMultipartUploadParts", Applies::Object),
    ("s3:PutBucketAcl", Applies::Bucket),
    ("s3:PutBucketCORS", Applies::Bucket),
    ("s3:PutBucketObjectLockConfiguration", Applies::Bucket),
    ("s3:PutBucketOwnershipControls", Applies::Bucket),
    ("s3:PutBucketPolicy", Applies::Bucket),
    ("s3:PutBucketPublicAccessBlock", Applies::Bucket),
    ("s3:PutBucketTagging", Applies::Bucket),
    ("s3:PutBucketVersioning", Applies::Bucket),
    ("s3:PutBucketWebsite", Applies::Bucket),
    ("s3:PutEncryptionConfiguration", Applies::Bucket),
    ("s3:PutLifecycleConfiguration", Applies::Bucket),
    ("s3:PutObject", Applies::Object),
    ("s3:PutObjectAcl", Applies::Object),
    ("s3:PutObjectLegalHold", Applies::Object),
    ("s3:PutObjectRetention", Applies::Object),
    ("s3:PutObjectTagging", Applies::Object),
    ("s3:PutObjectVersionAcl", Applies::Object),
    ("s3:PutObjectVersionTagging", Applies::Object),
    ("s3:RestoreObject", Applies::Object),
    ("s3:BypassGovernanceRetention", Applies::Object),
];

/// What a known action (any case) applies to; `None` for an action S3 does not have.
pub fn applies_to(action: &str) -> Option<Applies> {
    ACTIONS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(action))
        .map(|(_, a)| *a)
}

/// Every known action in lower case that a lower-case pattern matches.
pub fn matching(
    pattern: &super::pattern::Pattern,
) -> impl Iterator<Item = (&'static str, Applies)> + '_ {
    ACTIONS
        .iter()
        .filter(move |(name, _)| pattern.matches(&name.to_ascii_lowercase()))
        .map(|(name, a)| (*name, *a))
}

/// The action an S3 operation (by its `s3s` name) needs.
pub fn action_of(operation: &str) -> &'static str {
    match operation {
        "ListBuckets" => "s3:ListAllMyBuckets",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "ListParts" => "s3:ListMultipartUploadParts",
        "GetObject" | "HeadObject" => "s3:GetObject",
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "PostObject" => "s3:PutObject",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObject",
        "DeleteBucketCors" | "PutBucketCors" => "s3:PutBucketCORS",
        "GetBucketCors" => "s3:GetBucketCORS",
        "DeleteBucketTagging" => "s3:PutBucketTagging",
        "DeleteBucketEncryption" | "PutBucketEncryption" => "s3:PutEncryptionConfiguration",
        "GetBucketEncryption" => "s3:GetEncryptionConfiguration",
        "DeleteBucketLifecycle" | "PutBucketLifecycleConfiguration" => {
            "s3:PutLifecycleConfiguration"
        }
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "DeletePublicAccessBlock" | "PutPublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "DeleteBucketOwnershipControls" => "s3:PutBucketOwnershipControls",
        "DeleteBucketWebsite" => "s3:PutBucketWebsite",
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "s3:PutBucketObjectLockConfiguration",
        other => ACTIONS
            .iter()
            .find(|(name, _)| name.strip_prefix("s3:") == Some(other))
            .map_or("s3:Unknown", |(name, _)| name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_actions() {
        assert_eq!(action_of("HeadObject"), "s3:GetObject");
        assert_eq!(action_of("UploadPart"), "s3:PutObject");
        assert_eq!(action_of("ListObjectsV2"), "s3:ListBucket");
        assert_eq!(action_of("GetBucketPolicy"), "s3:GetBucketPolicy");
        assert_eq!(action_of("PutObjectTagging"), "s3:PutObjectTagging");
        assert_eq!(action_of("DeleteBucketCors"), "s3:PutBucketCORS");
        assert_eq!(action_of("AbortMultipartUpload"), "s3:AbortMultipartUpload");
        assert_eq!(action_of("NoSuchOperation"), "s3:Unknown");
        assert_eq!(applies_to("s3:getobject"), Some(Applies::Object));
        assert_eq!(applies_to("s3:ListBucket"), Some(Applies::Bucket));
        assert_eq!(applies_to("s3:Fly"), None);
    }
}
