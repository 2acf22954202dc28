//! Bucket operations: CreateBucket, DeleteBucket (only when empty), HeadBucket, ListBuckets and
//! GetBucketLocation. Bucket records live on the storage nodes like everything else.

use node_api::model::{BucketConfig, BucketRecord, ObjectOwnership};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::bucket_access::acl_asked;
use super::fields::{owner, requester, timestamp_secs, unavailable};
use super::list_ops::{continuation_token, read_text_token};
use super::Gateway;
use crate::access::Allowed;
use crate::listing::ListQuery;
use node_api::model::Role;

/// A new bucket's ownership controls (`x-amz-object-ownership`, BucketOwnerEnforced when
/// absent, as on AWS) and ACL (a canned ACL or grant headers; refused where ACLs are disabled).
fn initial_config(gw: &Gateway, who: &str, input: &CreateBucketInput) -> S3Result<BucketConfig> {
    let ownership = match &input.object_ownership {
        Some(o) => super::bucket_access::ownership(o.as_str())?,
        None => ObjectOwnership::BucketOwnerEnforced,
    };
    let owner_id = gw.cluster.canonical_user_id(who);
    let acl = acl_asked!(input).grants(&owner_id, &owner_id)?;
    let config = BucketConfig {
        ownership: Some(ownership),
        ..Default::default()
    };
    if let Some(grants) = &acl {
        super::bucket_access::admit(&config, grants, &owner_id).map_err(|e| {
            if *e.code() == s3s::S3ErrorCode::AccessControlListNotSupported {
                s3_error!(
                    InvalidBucketAclWithObjectOwnership,
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
                )
            } else {
                e
            }
        })?;
    }
    Ok(BucketConfig { acl, ..config })
}

pub(super) async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let who = requester(&req);
    let input = req.input;
    if let Some(c) = input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
    {
        let wanted = c.as_str();
        if !wanted.is_empty() && wanted != gw.region {
            return Err(s3_error!(
                IllegalLocationConstraintException,
                "The {} location constraint is incompatible for the region specific endpoint this request was sent to.",
                wanted
            ));
        }
    }
    let config = initial_config(gw, &who, &input)?;
    let incarnation = gw.cluster.hlc.version();
    let record = BucketRecord {
        name: input.bucket.clone(),
        version: incarnation,
        deleted: false,
        owner: who.clone(),
        region: gw.region.clone(),
        public_read: false,
        incarnation: Some(incarnation),
        config,
    };
    gw.buckets.forget(&input.bucket);
    // Agreed with the record's owners: of racing creations exactly one finds the name free.
    // In us-east-1 S3 answers its owner's repeated creation with 200 and changes nothing;
    // every other region answers BucketAlreadyOwnedByYou.
    let created = gw
        .cluster
        .agree_bucket(&input.bucket, |current| match current {
            Some(existing) if !existing.deleted => {
                if existing.owner != who {
                    Err(s3_error!(
                        BucketAlreadyExists,
                        "The requested bucket name is not available."
                    ))
                } else if gw.region == "us-east-1" {
                    Ok(None)
                } else {
                    Err(s3_error!(BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it."))
                }
            }
            _ => Ok(Some(record.clone())),
        })
        .await?;
    let location = Some(format!("/{}", input.bucket));
    if created.is_none() {
        return Ok(S3Response::new(CreateBucketOutput { location }));
    }
    gw.buckets.forget(&input.bucket);
    // A new bucket starts with its creator's grant only: grants an earlier bucket of this name
    // left behind (a deletion that could not drop them) go now.
    gw.directory
        .forget_bucket_except(&input.bucket, &who)
        .await
        .map_err(|e| s3_error!(ServiceUnavailable, "{e}"))?;
    if !gw.directory.is_bootstrap(&who) {
        // A stored key owns the bucket it creates.
        gw.directory
            .grant(&who, &input.bucket, Some(Role::Owner))
            .await
            .map_err(|e| s3_error!(ServiceUnavailable, "{e}"))?;
    }
    Ok(S3Response::new(CreateBucketOutput { location }))
}

pub(super) async fn delete_bucket(
    gw: &Gateway,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let page = gw
        .list(ListQuery {
            bucket: record.name.clone(),
            max: 1,
            ..Default::default()
        })
        .await?;
    if !page.items.is_empty() {
        return Err(s3_error!(
            BucketNotEmpty,
            "The bucket you tried to delete is not empty"
        ));
    }
    let name = record.name.clone();
    gw.buckets.forget(&name);
    // Only the incarnation found empty is deleted: one made again meanwhile is left alone.
    gw.cluster
        .agree_bucket(&name, |current| match current {
            Some(c) if !c.deleted && c.incarnation == record.incarnation => Ok(Some(BucketRecord {
                deleted: true,
                ..c.clone()
            })),
            Some(c) if !c.deleted => Err(s3_error!(
                OperationAborted,
                "A conflicting conditional operation is currently in progress against this resource. Please try again."
            )),
            _ => Err(super::no_such_bucket()),
        })
        .await?;
    gw.buckets.forget(&name);
    if let Err(e) = gw.directory.forget_bucket(&name).await {
        tracing::warn!("grants in deleted bucket {name} not dropped: {e}");
    }
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub(super) async fn head_bucket(
    gw: &Gateway,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(record.region),
        ..Default::default()
    }))
}

pub(super) async fn list_buckets(
    gw: &Gateway,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let who = requester(&req);
    let input = req.input;
    // Without max-buckets every bucket comes in one answer, as on S3; with it, pages of that
    // many follow one another by continuation token.
    let max = match input.max_buckets {
        None => usize::MAX,
        Some(n @ 1..=10_000) => n as usize,
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "Argument max-buckets must be an integer between 1 and 10000."
            ))
        }
    };
    let after = match &input.continuation_token {
        Some(token) => read_text_token(token)?,
        None => String::new(),
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let mut listed = gw.cluster.list_buckets().await.map_err(unavailable)?;
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    let mut matching = listed
        .into_iter()
        .filter(|b| b.name.starts_with(&prefix) && b.name > after)
        .filter(|b| input.bucket_region.as_ref().is_none_or(|r| *r == b.region))
        // A stored key sees the buckets it has a role in.
        .filter(|b| gw.directory.allowed(&who, &b.name) != Allowed::Role(None))
        .peekable();
    let mut buckets = Vec::new();
    while buckets.len() < max {
        let Some(b) = matching.next() else { break };
        buckets.push(b);
    }
    let continuation_token = matching
        .peek()
        .and(buckets.last())
        .map(|last| continuation_token(last.name.as_bytes()));
    let buckets = buckets
        .into_iter()
        .map(|b| Bucket {
            name: Some(b.name),
            creation_date: Some(timestamp_secs(b.version.millis())),
            bucket_region: Some(b.region),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner(gw, &who)),
        prefix: input.prefix,
        continuation_token,
    }))
}

pub(super) async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let location =
        (record.region != "us-east-1").then(|| BucketLocationConstraint::from(record.region));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: location,
    }))
}
