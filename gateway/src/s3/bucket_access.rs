//! A bucket's access settings beyond its policy: ACLs (Put/GetBucketAcl, and the ACL a request
//! asks for with a canned ACL, `x-amz-grant-*` headers or an AccessControlPolicy body), the
//! public access block (Put/Get/DeletePublicAccessBlock) and ownership controls
//! (Put/Get/DeleteBucketOwnershipControls). [`crate::authorize`] applies them.
//!
//! As on AWS: a bucket made without `x-amz-object-ownership` has BucketOwnerEnforced, which
//! disables ACLs: a request setting any ACL but the bucket owner's full control (what
//! `private` and `bucket-owner-full-control` amount to there) is refused with
//! AccessControlListNotSupported; reading ACLs still works. With BlockPublicAcls, an ACL
//! granting anything to everyone or to any signed caller is refused (AccessDenied).

use node_api::model::{
    AclGrant, AclPermission, BucketConfig, BucketRecord, Grantee as StoredGrantee, ObjectAcl,
    ObjectOwnership, PublicAccessBlock,
};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::bucket_config::change_config;
use super::fields::error_with_status;
use super::fields::owner;
use super::Gateway;
use crate::acl::{self, AclError};

/// The ACL fields of a request.
#[derive(Default)]
pub(super) struct AclAsked<'a> {
    pub canned: Option<&'a str>,
    pub full_control: Option<&'a str>,
    pub read: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write: Option<&'a str>,
    pub write_acp: Option<&'a str>,
    pub body: Option<&'a AccessControlPolicy>,
}

/// The ACL fields of an operation's input: `acl_asked!(input)` for a bucket's (CreateBucket,
/// PutBucketAcl, which may grant WRITE), `acl_asked!(object input)` for an object's
/// (PutObject, CopyObject, CreateMultipartUpload, PutObjectAcl). The AccessControlPolicy body
/// is left to the caller.
macro_rules! acl_asked {
    ($input:expr) => {
        $crate::s3::bucket_access::AclAsked {
            write: $input.grant_write.as_deref(),
            ..acl_asked!(object $input)
        }
    };
    (object $input:expr) => {
        $crate::s3::bucket_access::AclAsked {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            full_control: $input.grant_full_control.as_deref(),
            read: $input.grant_read.as_deref(),
            read_acp: $input.grant_read_acp.as_deref(),
            write: None,
            write_acp: $input.grant_write_acp.as_deref(),
            body: None,
        }
    };
}
pub(super) use acl_asked;

/// The owner and ACL of an object `writer` writes into the bucket of `record` with the ACL
/// fields `asked`: `None` when the request names no ACL. Who owns the object follows the
/// bucket's ownership controls.
pub(super) fn object_acl(
    gw: &Gateway,
    record: &BucketRecord,
    writer: &str,
    asked: &AclAsked<'_>,
) -> S3Result<Option<ObjectAcl>> {
    let bucket_owner = gw.cluster.canonical_user_id(&record.owner);
    let owner = match record.config.ownership {
        Some(ObjectOwnership::BucketOwnerEnforced) => record.owner.clone(),
        Some(ObjectOwnership::BucketOwnerPreferred)
            if asked.canned == Some("bucket-owner-full-control") =>
        {
            record.owner.clone()
        }
        _ if writer.is_empty() => record.owner.clone(),
        _ => writer.to_string(),
    };
    let owner_id = gw.cluster.canonical_user_id(&owner);
    let Some(grants) = asked.grants(&owner_id, &bucket_owner)? else {
        return Ok(None);
    };
    admit(&record.config, &grants, &bucket_owner)?;
    Ok(Some(ObjectAcl { owner, grants }))
}

fn acl_error(e: AclError) -> S3Error {
    match e {
        AclError::Email => {
            S3Error::with_message(S3ErrorCode::UnresolvableGrantByEmailAddress, e.to_string())
        }
        AclError::UnknownCanned(_) | AclError::BadGrantee(_) => {
            S3Error::with_message(S3ErrorCode::InvalidArgument, e.to_string())
        }
    }
}

fn malformed_acl() -> S3Error {
    s3_error!(
        MalformedACLError,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

impl AclAsked<'_> {
    /// The grants asked for, `None` when the request names no ACL. `owner` is the canonical
    /// id of the resource's owner, `bucket_owner` that of its bucket's.
    pub fn grants(&self, owner: &str, bucket_owner: &str) -> S3Result<Option<Vec<AclGrant>>> {
        use AclPermission::*;
        let headers = [
            (self.full_control, FullControl),
            (self.read, Read),
            (self.read_acp, ReadAcp),
            (self.write, Write),
            (self.write_acp, WriteAcp),
        ];
        let any_header = headers.iter().any(|(h, _)| h.is_some());
        let given = [self.canned.is_some(), any_header, self.body.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(s3_error!(
                InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed"
            ));
        }
        if let Some(name) = self.canned {
            return acl::canned(name, owner, bucket_owner)
                .map(Some)
                .map_err(acl_error);
        }
        if any_header {
            let mut grants = Vec::new();
            for (value, permission) in headers {
                if let Some(v) = value {
                    grants.extend(acl::header_grants(v, permission).map_err(acl_error)?);
                }
            }
            return Ok(Some(grants));
        }
        match self.body {
            Some(policy) => body_grants(policy).map(Some),
            None => Ok(None),
        }
    }
}

/// The grants of an AccessControlPolicy document.
fn body_grants(policy: &AccessControlPolicy) -> S3Result<Vec<AclGrant>> {
    let mut out = Vec::new();
    for g in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&g.grantee, &g.permission) else {
            return Err(malformed_acl());
        };
        let permission = match permission.as_str() {
            "FULL_CONTROL" => AclPermission::FullControl,
            "READ" => AclPermission::Read,
            "WRITE" => AclPermission::Write,
            "READ_ACP" => AclPermission::ReadAcp,
            "WRITE_ACP" => AclPermission::WriteAcp,
            _ => return Err(malformed_acl()),
        };
        let who = match grantee.type_.as_str() {
            Type::CANONICAL_USER => StoredGrantee::User(
                grantee
                    .id
                    .clone()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(malformed_acl)?,
            ),
            Type::GROUP => grantee
                .uri
                .as_deref()
                .and_then(acl::group)
                .ok_or_else(malformed_acl)?,
            Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(acl_error(AclError::Email)),
            _ => return Err(malformed_acl()),
        };
        out.push(AclGrant {
            grantee: who,
            permission,
        });
    }
    Ok(out)
}

/// Whether `config` lets a request set `grants` (ownership controls, public access block).
pub(super) fn admit(
    config: &BucketConfig,
    grants: &[AclGrant],
    bucket_owner: &str,
) -> S3Result<()> {
    if config.ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
        let owner_only = grants.iter().all(|g| {
            g.permission == AclPermission::FullControl
                && g.grantee == StoredGrantee::User(bucket_owner.to_string())
        });
        if !owner_only {
            return Err(s3_error!(
                AccessControlListNotSupported,
                "The bucket does not allow ACLs"
            ));
        }
    }
    if config
        .public_access_block
        .is_some_and(|p| p.block_public_acls)
        && grants.iter().any(acl::is_public)
    {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    Ok(())
}

/// The grants as S3 returns them.
pub(super) fn grants_dto(grants: &[AclGrant]) -> Grants {
    grants
        .iter()
        .map(|g| {
            let grantee = match &g.grantee {
                StoredGrantee::User(id) => Grantee {
                    display_name: None,
                    email_address: None,
                    id: Some(id.clone()),
                    type_: Type::from_static(Type::CANONICAL_USER),
                    uri: None,
                },
                group => Grantee {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: Type::from_static(Type::GROUP),
                    uri: acl::group_uri(group).map(str::to_string),
                },
            };
            let permission = match g.permission {
                AclPermission::FullControl => Permission::FULL_CONTROL,
                AclPermission::Read => Permission::READ,
                AclPermission::Write => Permission::WRITE,
                AclPermission::ReadAcp => Permission::READ_ACP,
                AclPermission::WriteAcp => Permission::WRITE_ACP,
            };
            Grant {
                grantee: Some(grantee),
                permission: Some(Permission::from_static(permission)),
            }
        })
        .collect()
}

/// The grants a resource owned by `owner` (canonical id) has when none were set.
pub(super) fn owner_only(owner: &str) -> Vec<AclGrant> {
    vec![AclGrant {
        grantee: StoredGrantee::User(owner.to_string()),
        permission: AclPermission::FullControl,
    }]
}

pub(super) async fn get_bucket_acl(
    gw: &Gateway,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let owner = owner(gw, &record.owner);
    let id = owner.id.clone().unwrap_or_default();
    let grants = record.config.acl.unwrap_or_else(|| owner_only(&id));
    Ok(S3Response::new(GetBucketAclOutput {
        owner: Some(owner),
        grants: Some(grants_dto(&grants)),
    }))
}

pub(super) async fn put_bucket_acl(
    gw: &Gateway,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let input = req.input;
    let record = gw.bucket(&input.bucket).await?;
    let owner_id = gw.cluster.canonical_user_id(&record.owner);
    let asked = AclAsked {
        body: input.access_control_policy.as_ref(),
        ..acl_asked!(input)
    };
    let Some(grants) = asked.grants(&owner_id, &owner_id)? else {
        return Err(s3_error!(
            MissingSecurityHeader,
            "Your request was missing a required header"
        ));
    };
    admit(&record.config, &grants, &owner_id)?;
    change_config(gw, &input.bucket, |c| c.acl = Some(grants.clone())).await?;
    Ok(S3Response::new(PutBucketAclOutput {}))
}

fn setting(v: Option<bool>) -> bool {
    v.unwrap_or(false)
}

pub(super) async fn put_public_access_block(
    gw: &Gateway,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let input = req.input;
    let c = input.public_access_block_configuration;
    let block = PublicAccessBlock {
        block_public_acls: setting(c.block_public_acls),
        ignore_public_acls: setting(c.ignore_public_acls),
        block_public_policy: setting(c.block_public_policy),
        restrict_public_buckets: setting(c.restrict_public_buckets),
    };
    change_config(gw, &input.bucket, |c| c.public_access_block = Some(block)).await?;
    Ok(S3Response::new(PutPublicAccessBlockOutput {}))
}

pub(super) async fn get_public_access_block(
    gw: &Gateway,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let Some(b) = record.config.public_access_block else {
        return Err(error_with_status(
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
            http::StatusCode::NOT_FOUND,
        ));
    };
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(b.block_public_acls),
            ignore_public_acls: Some(b.ignore_public_acls),
            block_public_policy: Some(b.block_public_policy),
            restrict_public_buckets: Some(b.restrict_public_buckets),
        }),
    }))
}

pub(super) async fn delete_public_access_block(
    gw: &Gateway,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    change_config(gw, &req.input.bucket, |c| c.public_access_block = None).await?;
    Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
}

/// The ownership settings by their S3 names.
const OWNERSHIPS: [(&str, ObjectOwnership); 3] = [
    ("BucketOwnerEnforced", ObjectOwnership::BucketOwnerEnforced),
    (
        "BucketOwnerPreferred",
        ObjectOwnership::BucketOwnerPreferred,
    ),
    ("ObjectWriter", ObjectOwnership::ObjectWriter),
];

/// The ownership setting S3 names `name`.
pub(super) fn ownership(name: &str) -> S3Result<ObjectOwnership> {
    OWNERSHIPS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, o)| *o)
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Invalid x-amz-object-ownership header: {}",
                name
            )
        })
}

pub(super) async fn put_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let input = req.input;
    let record = gw.bucket(&input.bucket).await?;
    let [rule] = input.ownership_controls.rules.as_slice() else {
        return Err(s3_error!(
            MalformedXML,
            "Ownership controls need exactly one rule"
        ));
    };
    let chosen = ownership(rule.object_ownership.as_str())?;
    // Enforcing ownership drops the ACLs a bucket had; AWS requires them to be the owner's
    // alone first.
    if chosen == ObjectOwnership::BucketOwnerEnforced {
        let owner_id = gw.cluster.canonical_user_id(&record.owner);
        let grants = record.config.acl.clone().unwrap_or_default();
        if grants
            .iter()
            .any(|g| g.grantee != StoredGrantee::User(owner_id.clone()))
        {
            return Err(s3_error!(
                InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            ));
        }
    }
    change_config(gw, &input.bucket, |c| c.ownership = Some(chosen)).await?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
}

pub(super) async fn get_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let Some(o) = record.config.ownership else {
        return Err(s3_error!(
            OwnershipControlsNotFoundError,
            "The bucket ownership controls were not found"
        ));
    };
    let name = OWNERSHIPS
        .iter()
        .find(|(_, known)| *known == o)
        .map_or("BucketOwnerEnforced", |(n, _)| n);
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: s3s::dto::ObjectOwnership::from(name.to_string()),
            }],
        }),
    }))
}

pub(super) async fn delete_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    change_config(gw, &req.input.bucket, |c| c.ownership = None).await?;
    Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
}

pub(super) async fn get_object_acl(
    gw: &Gateway,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let input = req.input;
    let record = gw.bucket(&input.bucket).await?;
    let m = gw.object(&input.bucket, &input.key).await?;
    super::tagging::check_version(input.version_id.as_deref(), &m)?;
    let (owner_key, grants) = match &m.acl {
        Some(a) => (a.owner.clone(), a.grants.clone()),
        None => (
            record.owner.clone(),
            owner_only(&gw.cluster.canonical_user_id(&record.owner)),
        ),
    };
    Ok(S3Response::new(GetObjectAclOutput {
        owner: Some(owner(gw, &owner_key)),
        grants: Some(grants_dto(&grants)),
        ..Default::default()
    }))
}

pub(super) async fn put_object_acl(
    gw: &Gateway,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let input = req.input;
    let record = gw.bucket(&input.bucket).await?;
    let m = gw.object(&input.bucket, &input.key).await?;
    let owner_key = m
        .acl
        .as_ref()
        .map_or(record.owner.clone(), |a| a.owner.clone());
    let owner_id = gw.cluster.canonical_user_id(&owner_key);
    let bucket_owner = gw.cluster.canonical_user_id(&record.owner);
    let asked = AclAsked {
        body: input.access_control_policy.as_ref(),
        ..acl_asked!(object input)
    };
    let Some(grants) = asked.grants(&owner_id, &bucket_owner)? else {
        return Err(s3_error!(
            MissingSecurityHeader,
            "Your request was missing a required header"
        ));
    };
    admit(&record.config, &grants, &bucket_owner)?;
    let acl = ObjectAcl {
        owner: owner_key,
        grants,
    };
    super::tagging::rewrite(
        gw,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
        |m| m.acl = Some(acl.clone()),
    )
    .await?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}
