//! Which server-side encryption a new object gets, and what responses say of it. A request
//! names SSE-S3 (`x-amz-server-side-encryption: AES256`), SSE-KMS (`aws:kms`, with
//! `-aws-kms-key-id`, `-context` and `-bucket-key-enabled`) or SSE-C (`crate::s3::sse_c`);
//! one naming none gets the bucket's default encryption (PutBucketEncryption), else SSE-S3.
//! Conflicting or unknown headers are refused with AWS's errors, never ignored.

use node_api::model::{BucketRecord, KmsSealing, Sealing};
use s3s::dto::ServerSideEncryption;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};

use super::fields::error_with_status;
use super::Gateway;
use crate::keyring::{CustomerKey, Protection};
use crate::kms::{context, key_ref, KmsError};

pub(super) use crate::kms::AWS_KMS;

/// The encryption headers of a request that writes a new object.
pub(super) struct Asked<'a> {
    pub sse: Option<&'a ServerSideEncryption>,
    pub kms_key: Option<&'a str>,
    pub context: Option<&'a str>,
    pub bucket_key: Option<bool>,
}

/// The encryption headers of an operation's input (PutObject, CopyObject,
/// CreateMultipartUpload).
macro_rules! sse_asked {
    ($input:expr) => {
        $crate::s3::sse::Asked {
            sse: $input.server_side_encryption.as_ref(),
            kms_key: $input.ssekms_key_id.as_deref(),
            context: $input.ssekms_encryption_context.as_deref(),
            bucket_key: $input.bucket_key_enabled,
        }
    };
}
pub(super) use sse_asked;

/// An `x-amz-server-side-encryption` value: `AES256` or `aws:kms`, anything else refused.
pub(super) fn algorithm(sse: &ServerSideEncryption) -> S3Result<&'static str> {
    match sse.as_str() {
        ServerSideEncryption::AES256 => Ok(ServerSideEncryption::AES256),
        AWS_KMS => Ok(AWS_KMS),
        "aws:kms:dsse" => Err(s3_error!(
            NotImplemented,
            "Dual-layer server-side encryption (aws:kms:dsse) is not supported"
        )),
        _ => Err(s3_error!(
            InvalidArgument,
            "The encryption method specified is not supported"
        )),
    }
}

/// What a KMS key reference names, as AWS answers a bad one.
pub(super) fn kms_key(gw: &Gateway, reference: Option<&str>) -> S3Result<String> {
    gw.keyring.kms.resolve(reference).map_err(|e| match e {
        KmsError::Malformed(_) => s3_error!(
            InvalidArgument,
            "Invalid keyId '{}'",
            reference.unwrap_or_default()
        ),
        KmsError::NotFound(r) => error_with_status(
            "KMS.NotFoundException",
            format!("Invalid keyId '{r}'"),
            http::StatusCode::BAD_REQUEST,
        ),
    })
}

/// How the new object `key` of `bucket` is protected: the request's headers, its customer key
/// (SSE-C, already checked), or the bucket's default.
pub(super) fn protection<'c>(
    gw: &Gateway,
    asked: &Asked<'_>,
    customer: Option<&'c CustomerKey>,
    bucket: &BucketRecord,
    key: &str,
) -> S3Result<Protection<'c>> {
    let named = asked.sse.map(algorithm).transpose()?;
    if customer.is_some() && (named.is_some() || asked.kms_key.is_some() || asked.context.is_some())
    {
        return Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
        ));
    }
    if named != Some(AWS_KMS) && (asked.kms_key.is_some() || asked.context.is_some()) {
        return Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
        ));
    }
    if let Some(c) = customer {
        return Ok(Protection::Customer(c));
    }
    let default = bucket.config.encryption.as_ref();
    let default_bucket_key = default.is_some_and(|d| d.algorithm == AWS_KMS && d.bucket_key);
    let kms_reference = match named {
        Some(AWS_KMS) => asked.kms_key,
        Some(_) => return Ok(Protection::S3),
        None => match default {
            Some(d) if d.algorithm == AWS_KMS => d.kms_key.as_deref(),
            _ => return Ok(Protection::S3),
        },
    };
    let bucket_key = asked.bucket_key.unwrap_or(default_bucket_key);
    let context = context::context(asked.context, &bucket.name, key, bucket_key)
        .map_err(|e| S3Error::with_message(S3ErrorCode::InvalidArgument, e.to_string()))?;
    Ok(Protection::Kms(KmsSealing {
        key: kms_key(gw, kms_reference)?,
        context,
        bucket_key,
    }))
}

/// The encryption fields of a response about an object.
#[derive(Default)]
pub(super) struct Echo {
    pub server_side_encryption: Option<ServerSideEncryption>,
    pub sse_customer_algorithm: Option<String>,
    pub sse_customer_key_md5: Option<String>,
    pub ssekms_key_id: Option<String>,
    pub ssekms_encryption_context: Option<String>,
    pub bucket_key_enabled: Option<bool>,
}

/// The response fields of an object (or upload) sealed as `sealing` says (`None`: stored
/// before encryption), read or written with `customer` (an SSE-C key's MD5 is echoed when the
/// request gave the key).
pub(super) fn echo(
    gw: &Gateway,
    sealing: Option<&Sealing>,
    customer: Option<&CustomerKey>,
) -> Echo {
    let Some(s) = sealing else {
        return Echo::default();
    };
    if s.customer.is_some() {
        return Echo {
            sse_customer_algorithm: Some("AES256".to_string()),
            sse_customer_key_md5: customer.map(|c| c.md5.clone()),
            ..Echo::default()
        };
    }
    match &s.kms {
        Some(kms) => kms_echo(gw, kms),
        None => Echo {
            server_side_encryption: Some(ServerSideEncryption::from_static(
                ServerSideEncryption::AES256,
            )),
            ..Echo::default()
        },
    }
}

fn kms_echo(gw: &Gateway, kms: &KmsSealing) -> Echo {
    Echo {
        server_side_encryption: Some(ServerSideEncryption::from_static(AWS_KMS)),
        ssekms_key_id: Some(key_ref::arn(&gw.region, &kms.key)),
        ssekms_encryption_context: Some(context::header_value(&kms.context)),
        bucket_key_enabled: kms.bucket_key.then_some(true),
        ..Echo::default()
    }
}
