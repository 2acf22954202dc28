//! The S3 API: the `s3s::S3` trait implemented over the cluster.
//!
//! Each operation validates the request, checks the bucket, and delegates to [`Cluster`]
//! (metadata with quorums) and [`crate::objects`] (object bytes). Errors are S3 errors with AWS's
//! codes. The trait impl here only dispatches: [`buckets`], [`object_ops`], [`multipart`] and
//! [`list_ops`] hold the operations, [`conditions`] the preconditions, [`fields`] the conversions they share.

mod attributes;
mod bucket_access;
mod bucket_config;
mod bucket_cors;
mod bucket_encryption;
pub mod bucket_name;
mod bucket_policy;
mod bucket_website;
mod buckets;
mod conditions;
mod fields;
mod list_ops;
mod multipart;
mod object_ops;
mod post_object;
mod sse;
mod sse_c;
mod sub_resources;
mod tagging;

use std::collections::BTreeMap;
use std::sync::Arc;

use node_api::model::{BucketRecord, Manifest};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use crate::cluster::Cluster;
use crate::conditional::CasError;
use crate::keyring::{self, CustomerKey, Keyring};
use crate::listing::{self, ListQuery};
use crate::objects::DataConfig;
use crate::sealing::AeadKey;
use fields::sealed_error;
pub(crate) use fields::{no_such_bucket, unavailable};
pub use sse_c::Transport;

/// The S3 front end of the cluster.
pub struct Gateway {
    pub cluster: Arc<Cluster>,
    /// The access keys and their grants.
    pub directory: Arc<crate::access::Directory>,
    /// The controls of the background jobs.
    pub jobs: Arc<crate::jobs::Jobs>,
    /// Records of live buckets read in the last second.
    pub buckets: Arc<crate::bucket_cache::BucketCache>,
    pub data: DataConfig,
    pub region: String,
    pub keyring: Arc<Keyring>,
    /// The usage of buckets with a quota, as this gateway knows it.
    pub usage: Arc<crate::quota::Usage>,
    /// Accept SSE-C headers over plain HTTP (local testing only).
    pub allow_sse_c_over_http: bool,
}

/// A stored object's data key (`None` for objects from before encryption) and user metadata.
struct Opened {
    key: Option<Arc<AeadKey>>,
    metadata: BTreeMap<String, String>,
}

impl Gateway {
    /// The SSE-C key of a request's headers `h` (checked as AWS checks them), if it has one.
    fn customer_key(
        &self,
        extensions: &http::Extensions,
        h: sse_c::Headers<'_>,
    ) -> S3Result<Option<CustomerKey>> {
        let policy = sse_c::Policy {
            transport: extensions.get::<Transport>().copied().unwrap_or_default(),
            allow_over_http: self.allow_sse_c_over_http,
        };
        sse_c::customer_key(h, policy)
    }

    /// The data key of a stored envelope, given the request's customer key (SSE-C).
    fn open_envelope(
        &self,
        s: &node_api::model::Sealing,
        customer: Option<&CustomerKey>,
    ) -> S3Result<Arc<AeadKey>> {
        self.keyring.open(s, customer).map_err(sealed_error)
    }

    /// Opens a stored object with the request's customer key: refused (as AWS refuses) when
    /// the object needs a customer key and the request has none or another, or the reverse.
    fn open_object(&self, m: &Manifest, customer: Option<&CustomerKey>) -> S3Result<Opened> {
        let Some(s) = &m.sealing else {
            if customer.is_some() {
                return Err(sealed_error(keyring::KeyError::CustomerKeyNotApplicable));
            }
            return Ok(Opened {
                key: None,
                metadata: m.user_metadata.clone(),
            });
        };
        let key = self.open_envelope(s, customer)?;
        let metadata = keyring::open_metadata(&key, &m.bucket, &m.key, s).map_err(sealed_error)?;
        Ok(Opened {
            key: Some(key),
            metadata,
        })
    }

    async fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
        Ok(self.bucket_shared(name).await?.record.clone())
    }

    /// The live bucket `name` with its compiled policy, from the cache when recent.
    async fn bucket_shared(&self, name: &str) -> S3Result<Arc<crate::bucket_cache::Bucket>> {
        self.buckets
            .read(&self.cluster, name)
            .await
            .map_err(unavailable)?
            .ok_or_else(no_such_bucket)
    }

    /// The current object of `bucket/key` in the bucket's current incarnation, `None` when
    /// there is none (NoSuchBucket first; the bucket record and the object are read at once).
    async fn current(&self, bucket: &str, key: &str) -> S3Result<Option<Manifest>> {
        let (record, current) =
            tokio::join!(self.bucket(bucket), self.cluster.get_manifest(bucket, key));
        let incarnation = record?.incarnation;
        Ok(current
            .map_err(unavailable)?
            .filter(|m| !m.deleted && m.incarnation == incarnation))
    }

    /// [`Gateway::current`], NoSuchKey when there is none.
    async fn object(&self, bucket: &str, key: &str) -> S3Result<Manifest> {
        self.current(bucket, key)
            .await?
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }

    /// Writes a tombstone unless the key is already absent (in the bucket's incarnation).
    async fn delete_key(
        &self,
        bucket: &str,
        key: &str,
        condition: Option<&conditions::DeleteCondition>,
    ) -> S3Result<()> {
        if let Some(condition) = condition {
            return self.delete_key_if(bucket, key, condition).await;
        }
        if self.current(bucket, key).await?.is_none() {
            return Ok(());
        }
        let version = self.cluster.hlc.version();
        self.cluster
            .put_manifest(Manifest::tombstone(bucket, key, version))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// A delete of `bucket/key` only while `condition` holds for its current object, agreed
    /// with the key's owners (as a conditional write is), so that no write landing between the
    /// check and the tombstone is deleted unseen.
    async fn delete_key_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &conditions::DeleteCondition,
    ) -> S3Result<()> {
        let incarnation = self.bucket(bucket).await?.incarnation;
        let origin = self.cluster.hlc.version();
        self.cluster
            .agree(bucket, key, origin, |current| {
                match current.filter(|c| c.incarnation == incarnation) {
                    None => Ok(None),
                    Some(m) if !condition.holds(m) => Err(CasError::PreconditionFailed),
                    // A tombstone as a plain delete writes it (`agree` stamps the ballot).
                    Some(_) => Ok(Some(Manifest::tombstone(bucket, key, origin))),
                }
            })
            .await
            .map(|_| ())
            .map_err(fields::cas_error)
    }

    /// A listing of the bucket's current incarnation.
    async fn list(&self, mut q: ListQuery) -> S3Result<listing::Page> {
        q.incarnation = self.bucket(&q.bucket).await?.incarnation;
        if q.max == 0 {
            return Ok(listing::Page::default());
        }
        listing::list(&self.cluster, &q).await.map_err(unavailable)
    }
}

/// A request refused before its body was read gets the body drained (`objects::drain`), so
/// a client still sending sees the answer; except when the client asked to wait for `100
/// Continue` (`waits`): it sends nothing until told to, and reading the body would tell it
/// to. The error then goes out unread, as on S3.
async fn drain_if_failed<T>(result: &S3Result<T>, body: Option<StreamingBlob>, waits: bool) {
    if let (Err(_), Some(mut body), false) = (result, body, waits) {
        crate::objects::drain(&mut body).await;
    }
}

/// Whether the request carries `Expect: 100-continue`.
pub(crate) fn waits_for_continue(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        buckets::create_bucket(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        buckets::delete_bucket(self, req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        buckets::head_bucket(self, req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        buckets::list_buckets(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        buckets::get_bucket_location(self, req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let mut req = req;
        let mut body = req.input.body.take();
        let waits = waits_for_continue(&req.headers);
        let result = object_ops::put_object(self, req, &mut body).await;
        drain_if_failed(&result, body, waits).await;
        result
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        object_ops::get_object(self, req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        object_ops::head_object(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        object_ops::delete_object(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        object_ops::delete_objects(self, req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        object_ops::copy_object(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list_ops::list_objects_v2(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list_ops::list_objects(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let mut req = req;
        let mut body = req.input.body.take();
        let waits = waits_for_continue(&req.headers);
        let result = multipart::upload_part(self, req, &mut body).await;
        drain_if_failed(&result, body, waits).await;
        result
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete_multipart_upload(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_multipart_uploads(self, req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        attributes::get_object_attributes(self, req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        sub_resources::get_bucket_versioning(self, req).await
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        bucket_encryption::put_bucket_encryption(self, req).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        bucket_encryption::get_bucket_encryption(self, req).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        bucket_encryption::delete_bucket_encryption(self, req).await
    }

    async fn put_bucket_website(
        &self,
        req: S3Request<PutBucketWebsiteInput>,
    ) -> S3Result<S3Response<PutBucketWebsiteOutput>> {
        bucket_website::put_bucket_website(self, req).await
    }

    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        bucket_website::get_bucket_website(self, req).await
    }

    async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
        bucket_website::delete_bucket_website(self, req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        bucket_config::put_bucket_tagging(self, req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        bucket_config::get_bucket_tagging(self, req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        bucket_config::delete_bucket_tagging(self, req).await
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        bucket_cors::put_bucket_cors(self, req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        bucket_cors::get_bucket_cors(self, req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        bucket_cors::delete_bucket_cors(self, req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        bucket_access::put_public_access_block(self, req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        bucket_access::get_public_access_block(self, req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        bucket_access::delete_public_access_block(self, req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        bucket_access::put_bucket_ownership_controls(self, req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        bucket_access::get_bucket_ownership_controls(self, req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        bucket_access::delete_bucket_ownership_controls(self, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        bucket_access::put_bucket_acl(self, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        bucket_access::put_object_acl(self, req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        bucket_policy::put_bucket_policy(self, req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        bucket_policy::get_bucket_policy(self, req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        bucket_policy::delete_bucket_policy(self, req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        bucket_policy::get_bucket_policy_status(self, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        bucket_access::get_bucket_acl(self, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        bucket_access::get_object_acl(self, req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        sub_resources::list_object_versions(self, req).await
    }

    async fn post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        post_object::post_object(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        tagging::put_object_tagging(self, req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        tagging::get_object_tagging(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        tagging::delete_object_tagging(self, req).await
    }
}
