//! Put/Get/DeleteBucketCors: a bucket's CORS rules, checked ([`crate::cors::check`]) and kept
//! in its configuration. Preflights and the headers of actual requests are the HTTP layer's
//! (`server.rs`, with [`crate::cors`]).

use node_api::model::CorsRule;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::bucket_config::change_config;
use super::Gateway;
use crate::cors::{self, Refused};

fn stored(rule: CORSRule) -> CorsRule {
    CorsRule {
        id: rule.id,
        allowed_origins: rule.allowed_origins,
        allowed_methods: rule.allowed_methods,
        allowed_headers: rule.allowed_headers.unwrap_or_default(),
        expose_headers: rule.expose_headers.unwrap_or_default(),
        max_age_seconds: rule.max_age_seconds,
    }
}

fn given(rule: &CorsRule) -> CORSRule {
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    CORSRule {
        id: rule.id.clone(),
        allowed_origins: rule.allowed_origins.clone(),
        allowed_methods: rule.allowed_methods.clone(),
        allowed_headers: some(&rule.allowed_headers),
        expose_headers: some(&rule.expose_headers),
        max_age_seconds: rule.max_age_seconds,
    }
}

pub(super) async fn put_bucket_cors(
    gw: &Gateway,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let input = req.input;
    gw.bucket(&input.bucket).await?;
    let rules: Vec<CorsRule> = input
        .cors_configuration
        .cors_rules
        .into_iter()
        .map(stored)
        .collect();
    cors::check(&rules).map_err(|e| match e {
        Refused::NoRules => S3Error::with_message(S3ErrorCode::MalformedXML, e.to_string()),
        Refused::Invalid(m) => S3Error::with_message(S3ErrorCode::InvalidRequest, m),
    })?;
    change_config(gw, &input.bucket, |c| c.cors = Some(rules.clone())).await?;
    Ok(S3Response::new(PutBucketCorsOutput {}))
}

pub(super) async fn get_bucket_cors(
    gw: &Gateway,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    match &record.config.cors {
        Some(rules) => Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(rules.iter().map(given).collect()),
        })),
        None => Err(s3_error!(
            NoSuchCORSConfiguration,
            "The CORS configuration does not exist"
        )),
    }
}

pub(super) async fn delete_bucket_cors(
    gw: &Gateway,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    change_config(gw, &req.input.bucket, |c| c.cors = None).await?;
    Ok(S3Response::new(DeleteBucketCorsOutput {}))
}
