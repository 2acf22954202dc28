//! Changing a bucket's S3 configuration (the parts in `BucketConfig`: policy, tags, ...), and
//! the simplest part, bucket tagging (Put/Get/DeleteBucketTagging: at most 50 tags, keys
//! unique, `aws:` keys reserved, as on S3).

use node_api::model::BucketConfig;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::tagging::{invalid_tag, tag_set, validate_pairs};
use super::Gateway;

/// Changes the configuration of the live bucket `name` (agreed with the record's owners, so
/// concurrent changes of different parts are all kept), and forgets the cached record here;
/// NoSuchBucket when there is no such bucket.
pub(super) async fn change_config(
    gw: &Gateway,
    name: &str,
    change: impl Fn(&mut BucketConfig),
) -> S3Result<()> {
    gw.buckets.forget(name);
    gw.cluster
        .agree_bucket(name, |current| match current {
            Some(b) if !b.deleted => {
                let mut next = b.clone();
                change(&mut next.config);
                Ok(Some(next))
            }
            _ => Err(super::no_such_bucket()),
        })
        .await?;
    gw.buckets.forget(name);
    Ok(())
}

pub(super) async fn put_bucket_tagging(
    gw: &Gateway,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let input = req.input;
    gw.bucket(&input.bucket).await?;
    let pairs: Vec<(String, String)> = input
        .tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    if pairs.len() > 50 {
        return Err(invalid_tag("Bucket tag count cannot be greater than 50"));
    }
    if pairs.iter().any(|(k, _)| k.starts_with("aws:")) {
        return Err(invalid_tag(
            "System tags cannot be added/updated by requester",
        ));
    }
    let tags = validate_pairs(pairs)?;
    change_config(gw, &input.bucket, |c| c.tags = Some(tags.clone())).await?;
    Ok(S3Response::new(PutBucketTaggingOutput {}))
}

pub(super) async fn get_bucket_tagging(
    gw: &Gateway,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    match &record.config.tags {
        Some(tags) => Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: tag_set(tags),
        })),
        None => Err(s3_error!(NoSuchTagSet, "The TagSet does not exist")),
    }
}

pub(super) async fn delete_bucket_tagging(
    gw: &Gateway,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    change_config(gw, &req.input.bucket, |c| c.tags = None).await?;
    Ok(S3Response::new(DeleteBucketTaggingOutput {}))
}
