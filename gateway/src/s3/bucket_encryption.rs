//! A bucket's default encryption (Put/Get/DeleteBucketEncryption): SSE-S3 (`AES256`) or
//! SSE-KMS (`aws:kms`, with a KMS key or the default one, and the bucket-key flag), applied to
//! every new object whose request names no encryption itself (`super::sse::protection`).

use node_api::model::BucketEncryption;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::bucket_config::change_config;
use super::fields::error_with_status;
use super::sse::{self, AWS_KMS};
use super::Gateway;

pub(super) async fn put_bucket_encryption(
    gw: &Gateway,
    req: S3Request<PutBucketEncryptionInput>,
) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
    let input = req.input;
    let mut rules = input.server_side_encryption_configuration.rules.into_iter();
    let (Some(rule), None) = (rules.next(), rules.next()) else {
        return Err(s3_error!(
            MalformedXML,
            "The encryption configuration must have exactly one rule"
        ));
    };
    let Some(default) = rule.apply_server_side_encryption_by_default else {
        return Err(s3_error!(
            MalformedXML,
            "The rule must have ApplyServerSideEncryptionByDefault"
        ));
    };
    let algorithm = sse::algorithm(&default.sse_algorithm)?;
    let kms_key = default.kms_master_key_id.filter(|k| !k.is_empty());
    if let Some(key) = &kms_key {
        if algorithm != AWS_KMS {
            return Err(s3_error!(
                InvalidArgument,
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
            ));
        }
        sse::kms_key(gw, Some(key))?;
    }
    let encryption = BucketEncryption {
        algorithm: algorithm.to_string(),
        kms_key,
        bucket_key: rule.bucket_key_enabled.unwrap_or(false),
    };
    change_config(gw, &input.bucket, |c| {
        c.encryption = Some(encryption.clone())
    })
    .await?;
    Ok(S3Response::new(PutBucketEncryptionOutput {}))
}

pub(super) async fn get_bucket_encryption(
    gw: &Gateway,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let Some(e) = &record.config.encryption else {
        // 404, as AWS answers it (s3s would make it 400).
        return Err(error_with_status(
            "ServerSideEncryptionConfigurationNotFoundError",
            "The server side encryption configuration was not found",
            http::StatusCode::NOT_FOUND,
        ));
    };
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            kms_master_key_id: e.kms_key.clone(),
            sse_algorithm: ServerSideEncryption::from(e.algorithm.clone()),
        }),
        bucket_key_enabled: Some(e.bucket_key),
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
            rules: vec![rule],
        }),
    }))
}

pub(super) async fn delete_bucket_encryption(
    gw: &Gateway,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
    change_config(gw, &req.input.bucket, |c| c.encryption = None).await?;
    Ok(S3Response::new(DeleteBucketEncryptionOutput {}))
}
