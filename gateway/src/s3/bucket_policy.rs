//! PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy and GetBucketPolicyStatus. The policy
//! is checked ([`crate::policy::Policy::parse`], MalformedPolicy with S3's reason) and kept as
//! sent in the bucket's record; [`crate::authorize`] evaluates it.

use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::bucket_config::change_config;
use super::Gateway;
use crate::policy::Policy;

fn no_policy() -> S3Error {
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
}

pub(super) async fn put_bucket_policy(
    gw: &Gateway,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let input = req.input;
    let record = gw.bucket(&input.bucket).await?;
    let policy = Policy::parse(&input.policy, &input.bucket)
        .map_err(|e| S3Error::with_message(S3ErrorCode::MalformedPolicy, e.0))?;
    // BlockPublicPolicy refuses a policy that would make the bucket public.
    if record
        .config
        .public_access_block
        .is_some_and(|b| b.block_public_policy)
        && policy.is_public()
    {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    change_config(gw, &input.bucket, |c| c.policy = Some(input.policy.clone())).await?;
    Ok(S3Response::new(PutBucketPolicyOutput {}))
}

pub(super) async fn get_bucket_policy(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let policy = record.config.policy.ok_or_else(no_policy)?;
    Ok(S3Response::new(GetBucketPolicyOutput {
        policy: Some(policy),
    }))
}

pub(super) async fn delete_bucket_policy(
    gw: &Gateway,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    change_config(gw, &req.input.bucket, |c| c.policy = None).await?;
    Ok(S3Response::new(DeleteBucketPolicyOutput {}))
}

pub(super) async fn get_bucket_policy_status(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let bucket = gw.bucket_shared(&req.input.bucket).await?;
    let policy = bucket.policy.as_ref().ok_or_else(no_policy)?;
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(policy.is_public()),
        }),
    }))
}
