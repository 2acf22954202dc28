//! What a verified caller may do: the one access check every S3 request passes (`S3Access`,
//! run by `s3s` once the request is parsed and its signature verified).
//!
//! A request is an IAM action on a resource (`s3:GetObject` on `bucket/key`,
//! [`crate::policy::actions`]), decided in IAM's order:
//!
//! 1. the bucket's policy ([`crate::policy`]): an explicit `Deny` refuses, whoever asks (the
//!    bucket's owner is never refused Get/Put/DeleteBucketPolicy, so a policy cannot lock the
//!    owner out, as on AWS);
//! 2. an `Allow` of the bucket policy allows, anonymous callers included;
//! 3. otherwise the caller's own permissions: keys of the configuration may do everything; a
//!    stored key's role in the bucket is a built-in policy of its own ([`role_policy`]); an
//!    anonymous caller may read a bucket made public (`gateway admin bucket-public`), again a
//!    built-in policy;
//! 4. otherwise AccessDenied. A bucket that does not exist is NoSuchBucket, to everyone.
//!
//! A copy also needs `s3:GetObject` on its source, decided with the source bucket's policy.
//! DeleteObjects and POST uploads name their keys in the body, so their check is made per key
//! by the operation ([`ObjectCheck`], left in the request's extensions).
//! The condition keys of a request are gathered only when its bucket's policy has conditions
//! ([`facts`]); `s3:ExistingObjectTag/<k>` reads the object's tags only when the policy names
//! such a key.

pub mod facts;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use node_api::model::{ObjectOwnership, Role};
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{s3_error, S3Error, S3Result};

use crate::access::{Allowed, Directory};
use crate::acl;
use crate::bucket_cache::{Bucket, BucketCache};
use crate::cluster::Cluster;
use crate::policy::{actions, Caller, Context, Decision, Policy, Request};
use crate::request_log::{MissingObject, Parsed, RequestInfo};
use crate::s3::{no_such_bucket, unavailable, Transport};

/// The actions a bucket's owner may always call, whatever its policy says.
const OWNER_ALWAYS: &[&str] = &[
    "s3:getbucketpolicy",
    "s3:putbucketpolicy",
    "s3:deletebucketpolicy",
];

/// The built-in policy of a stored key's role in a bucket.
pub fn role_policy(role: Role) -> &'static Policy {
    static READ: OnceLock<Policy> = OnceLock::new();
    static WRITE: OnceLock<Policy> = OnceLock::new();
    static OWNER: OnceLock<Policy> = OnceLock::new();
    const READS: &str = r#""s3:Get*", "s3:List*""#;
    const WRITES: &str =
        r#""s3:PutObject*", "s3:DeleteObject*", "s3:AbortMultipartUpload", "s3:RestoreObject""#;
    match role {
        Role::Read => READ.get_or_init(|| built_in(READS)),
        Role::Write => WRITE.get_or_init(|| built_in(&format!("{READS}, {WRITES}"))),
        Role::Owner => OWNER.get_or_init(|| built_in(r#""s3:*""#)),
    }
}

/// What anonymous callers may do in a bucket made public.
fn public_read_policy() -> &'static Policy {
    static PUBLIC: OnceLock<Policy> = OnceLock::new();
    PUBLIC.get_or_init(|| built_in(r#""s3:Get*", "s3:List*""#))
}

/// A policy allowing `actions` on every resource, to everyone it is applied to.
fn built_in(actions: &str) -> Policy {
    let text = format!(
        r#"{{"Statement": [{{"Effect": "Allow", "Principal": "*", "Action": [{actions}], "Resource": "*"}}]}}"#
    );
    #[allow(
        clippy::expect_used,
        reason = "the built-in policies are constants, checked by the unit tests"
    )]
    Policy::parse(&text, "built-in").expect("built-in policies parse")
}

fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The bucket and key of an `x-amz-copy-source` header (`bucket/key[?versionId=…]`, maybe
/// URL-encoded, maybe with a leading slash).
fn copy_source(value: &str) -> Option<(String, String)> {
    let path = value.split('?').next().unwrap_or(value);
    let decoded = urlencoding::decode(path).ok()?;
    let (bucket, key) = decoded.trim_start_matches('/').split_once('/')?;
    Some((bucket.to_string(), key.to_string()))
}

/// The access check of every S3 request.
#[derive(Clone)]
pub struct Authorize {
    directory: Arc<Directory>,
    buckets: Arc<BucketCache>,
    cluster: Arc<Cluster>,
}

/// One request's question: may `caller` do `action` (lower case) on `bucket`/`key`?
struct Asked<'a> {
    caller: Option<&'a str>,
    action: &'a str,
    key: Option<&'a str>,
}

impl Authorize {
    pub fn new(
        directory: Arc<Directory>,
        buckets: Arc<BucketCache>,
        cluster: Arc<Cluster>,
    ) -> Authorize {
        Authorize {
            directory,
            buckets,
            cluster,
        }
    }

    async fn bucket(&self, name: &str) -> S3Result<Arc<Bucket>> {
        self.buckets
            .read(&self.cluster, name)
            .await
            .map_err(unavailable)?
            .ok_or_else(no_such_bucket)
    }

    /// The condition keys of a request on `key` of `bucket` that its policy names (none
    /// without a policy or conditions); `facts` reads them from the request.
    async fn context_for(
        &self,
        bucket: &Bucket,
        key: Option<&str>,
        facts: impl FnOnce(&BTreeSet<String>) -> Context,
    ) -> Arc<Context> {
        let Some(policy) = bucket
            .policy
            .as_ref()
            .filter(|p| !p.condition_keys.is_empty())
        else {
            return empty_context();
        };
        let mut context = facts(&policy.condition_keys);
        if let (true, Some(key)) = (policy.mentions("s3:existingobjecttag/"), key) {
            self.add_existing_tags(&bucket.record.name, key, &mut context)
                .await;
        }
        Arc::new(context)
    }

    /// Decides `asked` in `bucket`, with the request's condition keys `context`.
    async fn decide(&self, bucket: &Bucket, asked: &Asked<'_>, context: &Context) -> S3Result<()> {
        let name = bucket.record.name.as_str();
        let resource = match asked.key {
            Some(k) => format!("{name}/{k}"),
            None => name.to_string(),
        };
        let canonical = asked
            .caller
            .filter(|_| bucket.policy.as_ref().is_some_and(|p| p.names_canonical))
            .map(|id| self.cluster.canonical_user_id(id))
            .unwrap_or_default();
        let caller = match asked.caller {
            Some(id) => Caller::Key {
                id,
                canonical: &canonical,
            },
            None => Caller::Anonymous,
        };
        let request = Request {
            caller,
            action: asked.action,
            resource: &resource,
            context,
        };
        let config = &bucket.record.config;
        let block = config.public_access_block.unwrap_or_default();
        let by_policy = match &bucket.policy {
            // RestrictPublicBuckets: a public policy grants nothing to anonymous callers.
            Some(p) if block.restrict_public_buckets && asked.caller.is_none() && p.is_public() => {
                match p.decide(&request) {
                    Decision::Allow => Decision::Silent,
                    other => other,
                }
            }
            Some(p) => p.decide(&request),
            None => Decision::Silent,
        };
        match by_policy {
            Decision::Deny if !self.owner_exempt(bucket, asked) => return Err(access_denied()),
            Decision::Allow => return Ok(()),
            _ => {}
        }
        let own = match asked.caller {
            None => {
                bucket.record.public_read
                    && !block.ignore_public_acls
                    && public_read_policy().decide(&request) == Decision::Allow
            }
            Some(id) => match self.directory.allowed(id, name) {
                Allowed::Everything => true,
                Allowed::Role(Some(role)) => role_policy(role).decide(&request) == Decision::Allow,
                Allowed::Role(None) => false,
            },
        };
        if own || self.acl_allows(bucket, asked).await {
            Ok(())
        } else {
            Err(access_denied())
        }
    }

    /// Whether the bucket's ACL (or, for reads of an object, the object's) grants the action;
    /// never when ownership controls disable ACLs.
    async fn acl_allows(&self, bucket: &Bucket, asked: &Asked<'_>) -> bool {
        let config = &bucket.record.config;
        if config.ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
            return false;
        }
        let ignore_public = config
            .public_access_block
            .is_some_and(|b| b.ignore_public_acls);
        let caller = asked.caller.map(|id| self.cluster.canonical_user_id(id));
        if let (Some(permission), Some(grants)) = (acl::needed(asked.action, false), &config.acl) {
            return acl::permits(grants, caller.as_deref(), permission, ignore_public);
        }
        if let (Some(permission), Some(key)) = (acl::needed(asked.action, true), asked.key) {
            // Only callers nothing else allowed get here: reading the object's ACL costs a
            // manifest read, which the owner's own requests never pay.
            let name = bucket.record.name.as_str();
            if let Ok(Some(m)) = self.cluster.get_manifest(name, key).await {
                if let (false, true, Some(a)) = (
                    m.deleted,
                    m.incarnation == bucket.record.incarnation,
                    &m.acl,
                ) {
                    return acl::permits(&a.grants, caller.as_deref(), permission, ignore_public);
                }
            }
        }
        false
    }

    /// The bucket's owner (its creator, or a key of the configuration) may always manage
    /// its policy.
    fn owner_exempt(&self, bucket: &Bucket, asked: &Asked<'_>) -> bool {
        OWNER_ALWAYS.contains(&asked.action)
            && asked
                .caller
                .is_some_and(|id| id == bucket.record.owner || self.directory.is_bootstrap(id))
    }

    /// The object's current tags as `s3:ExistingObjectTag/<k>` (none if it does not exist).
    async fn add_existing_tags(&self, bucket: &str, key: &str, context: &mut Context) {
        if let Ok(Some(m)) = self.cluster.get_manifest(bucket, key).await {
            if !m.deleted {
                for (k, v) in &m.tags {
                    context.set(&format!("s3:ExistingObjectTag/{k}"), v.clone());
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Authorize {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let operation = cx.s3_op().name().to_string();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let caller = cx.credentials().map(|c| c.access_key.clone());
        let info = cx.extensions_mut().get::<RequestInfo>().cloned();
        if let Some(info) = &info {
            info.set(Parsed {
                operation: operation.clone(),
                bucket: bucket.clone(),
                access_key: caller.clone(),
            });
        }
        // Listing one's buckets and creating one: any signed caller.
        let Some(bucket) = bucket.filter(|_| operation != "CreateBucket") else {
            return match caller {
                Some(_) => Ok(()),
                None => Err(access_denied()),
            };
        };
        let transport = cx
            .extensions_mut()
            .get::<Transport>()
            .copied()
            .unwrap_or_default();
        let headers = cx.headers();
        let query = cx.uri().query();
        let facts = |wanted: &BTreeSet<String>| {
            facts::context(
                &facts::Facts {
                    peer: transport.peer,
                    tls: transport.tls,
                    headers,
                    query,
                    caller: caller.as_deref(),
                    now: time::OffsetDateTime::now_utc(),
                },
                Some(wanted),
            )
        };
        let action = actions::action_of(&operation).to_ascii_lowercase();
        let target = self.bucket(&bucket).await?;
        if matches!(operation.as_str(), "DeleteObjects" | "PostObject") {
            let context = self.context_for(&target, None, facts).await;
            cx.extensions_mut().insert(ObjectCheck {
                authorize: self.clone(),
                caller,
                action,
                bucket: target,
                context,
            });
            return Ok(());
        }
        let asked = Asked {
            caller: caller.as_deref(),
            action: &action,
            key: key.as_deref(),
        };
        let context = self.context_for(&target, key.as_deref(), facts).await;
        self.decide(&target, &asked, &context).await?;
        let source = headers
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .and_then(copy_source);
        if let Some((source_bucket, source_key)) = source {
            let from = self.bucket(&source_bucket).await?;
            let read = Asked {
                caller: caller.as_deref(),
                action: "s3:getobject",
                key: Some(&source_key),
            };
            let context = self.context_for(&from, Some(&source_key), facts).await;
            self.decide(&from, &read, &context).await?;
        }
        if let (Some(info), true) = (
            &info,
            matches!(operation.as_str(), "GetObject" | "HeadObject"),
        ) {
            info.on_missing(Arc::new(ListCheck {
                authorize: self.clone(),
                caller,
                bucket: target,
                context,
            }));
        }
        Ok(())
    }
}

fn empty_context() -> Arc<Context> {
    static EMPTY: OnceLock<Arc<Context>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(Context::new())).clone()
}

/// Whether the caller of a GET or HEAD may list the bucket, asked only when the object turns
/// out missing: without `s3:ListBucket`, S3 answers AccessDenied rather than NoSuchKey.
struct ListCheck {
    authorize: Authorize,
    caller: Option<String>,
    bucket: Arc<Bucket>,
    context: Arc<Context>,
}

#[async_trait::async_trait]
impl MissingObject for ListCheck {
    async fn may_list(&self) -> bool {
        let asked = Asked {
            caller: self.caller.as_deref(),
            action: "s3:listbucket",
            key: None,
        };
        self.authorize
            .decide(&self.bucket, &asked, &self.context)
            .await
            .is_ok()
    }
}

/// The access check of a request whose keys are in its body (DeleteObjects, POST uploads),
/// made by the operation for each key.
#[derive(Clone)]
pub struct ObjectCheck {
    authorize: Authorize,
    caller: Option<String>,
    action: String,
    bucket: Arc<Bucket>,
    context: Arc<Context>,
}

impl ObjectCheck {
    /// Whether the request's caller may do its action on `key`.
    pub async fn may(&self, key: &str) -> S3Result<()> {
        let asked = Asked {
            caller: self.caller.as_deref(),
            action: &self.action,
            key: Some(key),
        };
        let mut context = self.context.clone();
        if self
            .bucket
            .policy
            .as_ref()
            .is_some_and(|p| p.mentions("s3:existingobjecttag/"))
        {
            let mut with_tags = Context::clone(&context);
            let name = &self.bucket.record.name;
            self.authorize
                .add_existing_tags(name, key, &mut with_tags)
                .await;
            context = Arc::new(with_tags);
        }
        self.authorize.decide(&self.bucket, &asked, &context).await
    }
}

/// The check of `key` for a request whose access check left an [`ObjectCheck`]; refused when
/// there is none (a request that bypassed the access check is not trusted).
pub async fn may_object(extensions: &http::Extensions, key: &str) -> S3Result<()> {
    match extensions.get::<ObjectCheck>() {
        Some(check) => check.may(key).await,
        None => Err(access_denied()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Context;

    fn allows(p: &Policy, action: &str) -> bool {
        let c = Context::new();
        p.decide(&Request {
            caller: Caller::Key {
                id: "K",
                canonical: "",
            },
            action: &action.to_ascii_lowercase(),
            resource: "b/k",
            context: &c,
        }) == Decision::Allow
    }

    #[test]
    fn roles_as_policies() {
        for action in ["s3:GetObject", "s3:ListBucket", "s3:GetObjectTagging"] {
            assert!(allows(role_policy(Role::Read), action));
            assert!(allows(role_policy(Role::Write), action));
        }
        for action in ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] {
            assert!(!allows(role_policy(Role::Read), action));
            assert!(allows(role_policy(Role::Write), action));
        }
        for action in [
            "s3:PutBucketPolicy",
            "s3:DeleteBucket",
            "s3:PutBucketTagging",
        ] {
            assert!(!allows(role_policy(Role::Write), action));
            assert!(allows(role_policy(Role::Owner), action));
        }
        assert!(allows(public_read_policy(), "s3:GetObject"));
        assert!(!allows(public_read_policy(), "s3:PutObject"));
        assert_eq!(
            copy_source("/src%2Dbkt/a/b?versionId=1"),
            Some(("src-bkt".to_string(), "a/b".to_string()))
        );
        assert_eq!(copy_source("src/k"), Some(("src".into(), "k".into())));
        assert_eq!(copy_source("nokey"), None);
    }
}
