//! Access control lists as S3 defines them (pure): canned ACLs and `x-amz-grant-*` headers
//! turned into grants, which grants are public, and what permission an action needs of a
//! bucket's or an object's ACL.
//!
//! Grants by e-mail address are refused (UnresolvableGrantByEmailAddress): access keys here
//! have no e-mail address, and AWS itself ended e-mail grantees in October 2025.

use node_api::model::{AclGrant, AclPermission, Grantee};

pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// Why an ACL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("The canned ACL {0} is not valid")]
    UnknownCanned(String),
    #[error("Invalid id or uri in grant header: {0}")]
    BadGrantee(String),
    #[error("The e-mail address you provided does not match any account on record.")]
    Email,
}

fn grant(grantee: Grantee, permission: AclPermission) -> AclGrant {
    AclGrant {
        grantee,
        permission,
    }
}

/// The grants of a canned ACL for a resource owned by `owner` in a bucket owned by
/// `bucket_owner` (canonical ids).
pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> Result<Vec<AclGrant>, AclError> {
    use AclPermission::*;
    let mut grants = vec![grant(Grantee::User(owner.to_string()), FullControl)];
    match name {
        "private" => {}
        "public-read" => grants.push(grant(Grantee::AllUsers, Read)),
        "public-read-write" => {
            grants.push(grant(Grantee::AllUsers, Read));
            grants.push(grant(Grantee::AllUsers, Write));
        }
        "authenticated-read" => grants.push(grant(Grantee::AuthenticatedUsers, Read)),
        "bucket-owner-read" if owner != bucket_owner => {
            grants.push(grant(Grantee::User(bucket_owner.to_string()), Read))
        }
        "bucket-owner-full-control" if owner != bucket_owner => {
            grants.push(grant(Grantee::User(bucket_owner.to_string()), FullControl))
        }
        "bucket-owner-read" | "bucket-owner-full-control" | "aws-exec-read" => {}
        "log-delivery-write" => {
            grants.push(grant(Grantee::LogDelivery, Write));
            grants.push(grant(Grantee::LogDelivery, ReadAcp));
        }
        other => return Err(AclError::UnknownCanned(other.to_string())),
    }
    Ok(grants)
}

/// The grantees of one `x-amz-grant-*` header: `id="…"`, `uri="…"`, comma-separated.
pub fn header_grants(value: &str, permission: AclPermission) -> Result<Vec<AclGrant>, AclError> {
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, quoted) = part
            .split_once('=')
            .ok_or_else(|| AclError::BadGrantee(part.to_string()))?;
        let v = quoted.trim().trim_matches('"');
        let grantee = match kind.trim().to_ascii_lowercase().as_str() {
            "id" if !v.is_empty() => Grantee::User(v.to_string()),
            "uri" => group(v).ok_or_else(|| AclError::BadGrantee(part.to_string()))?,
            "emailaddress" => return Err(AclError::Email),
            _ => return Err(AclError::BadGrantee(part.to_string())),
        };
        out.push(grant(grantee, permission));
    }
    Ok(out)
}

/// The group a grantee URI names.
pub fn group(uri: &str) -> Option<Grantee> {
    match uri {
        ALL_USERS => Some(Grantee::AllUsers),
        AUTHENTICATED_USERS => Some(Grantee::AuthenticatedUsers),
        LOG_DELIVERY => Some(Grantee::LogDelivery),
        _ => None,
    }
}

/// The URI of a group grantee.
pub fn group_uri(g: &Grantee) -> Option<&'static str> {
    match g {
        Grantee::AllUsers => Some(ALL_USERS),
        Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS),
        Grantee::LogDelivery => Some(LOG_DELIVERY),
        Grantee::User(_) => None,
    }
}

/// Whether a grant makes its resource public (to everyone, or to any signed caller).
pub fn is_public(g: &AclGrant) -> bool {
    matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers)
}

/// The ACL permission an action (lower case) needs, on a bucket's ACL (`object` false) or an
/// object's; `None` when ACLs never grant it.
pub fn needed(action: &str, object: bool) -> Option<AclPermission> {
    use AclPermission::*;
    Some(match (action, object) {
        ("s3:listbucket" | "s3:listbucketversions" | "s3:listbucketmultipartuploads", false) => {
            Read
        }
        ("s3:putobject" | "s3:deleteobject" | "s3:abortmultipartupload", false) => Write,
        ("s3:getbucketacl", false) => ReadAcp,
        ("s3:putbucketacl", false) => WriteAcp,
        ("s3:getobject" | "s3:getobjectversion" | "s3:listmultipartuploadparts", true) => Read,
        ("s3:getobjectacl" | "s3:getobjectversionacl", true) => ReadAcp,
        ("s3:putobjectacl" | "s3:putobjectversionacl", true) => WriteAcp,
        _ => return None,
    })
}

/// Whether `grants` give `permission` to a caller (`None`: anonymous; else its canonical id).
/// With `ignore_public`, grants to everyone or to any signed caller count for nothing.
pub fn permits(
    grants: &[AclGrant],
    caller: Option<&str>,
    permission: AclPermission,
    ignore_public: bool,
) -> bool {
    grants.iter().any(|g| {
        (g.permission == permission || g.permission == AclPermission::FullControl)
            && !(ignore_public && is_public(g))
            && match &g.grantee {
                Grantee::AllUsers => true,
                Grantee::AuthenticatedUsers => caller.is_some(),
                Grantee::User(id) => caller == Some(id.as_str()),
                Grantee::LogDelivery => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use AclPermission::*;

    #[test]
    fn canned_acls() {
        let private = canned("private", "o", "b").unwrap();
        assert_eq!(private, vec![grant(Grantee::User("o".into()), FullControl)]);
        assert!(permits(
            &canned("public-read", "o", "b").unwrap(),
            None,
            Read,
            false
        ));
        assert!(!permits(
            &canned("public-read", "o", "b").unwrap(),
            None,
            Write,
            false
        ));
        assert!(!permits(
            &canned("public-read", "o", "b").unwrap(),
            None,
            Read,
            true
        ));
        assert!(permits(
            &canned("public-read-write", "o", "b").unwrap(),
            None,
            Write,
            false
        ));
        let auth = canned("authenticated-read", "o", "b").unwrap();
        assert!(!permits(&auth, None, Read, false));
        assert!(permits(&auth, Some("anyone"), Read, false));
        assert!(permits(
            &canned("bucket-owner-read", "o", "b").unwrap(),
            Some("b"),
            Read,
            false
        ));
        assert!(!permits(
            &canned("bucket-owner-read", "o", "b").unwrap(),
            Some("b"),
            WriteAcp,
            false
        ));
        assert!(permits(
            &canned("bucket-owner-full-control", "o", "b").unwrap(),
            Some("b"),
            WriteAcp,
            false
        ));
        assert_eq!(
            canned("bucket-owner-full-control", "o", "o").unwrap(),
            private
        );
        assert!(canned("world-writable", "o", "b").is_err());
    }

    #[test]
    fn grant_headers() {
        let g = header_grants(
            &format!(r#"id="abc", uri="{ALL_USERS}",uri="{AUTHENTICATED_USERS}""#),
            Read,
        )
        .unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].grantee, Grantee::User("abc".into()));
        assert!(is_public(&g[1]) && is_public(&g[2]));
        assert_eq!(
            header_grants(r#"emailAddress="a@b.c""#, Read),
            Err(AclError::Email)
        );
        assert!(header_grants(r#"uri="http://example.com/x""#, Read).is_err());
        assert!(header_grants("nonsense", Read).is_err());
        assert_eq!(needed("s3:getobject", true), Some(Read));
        assert_eq!(needed("s3:putobject", false), Some(Write));
        assert_eq!(needed("s3:putbucketpolicy", false), None);
    }

    proptest! {
        /// FULL_CONTROL includes every permission; ignoring public grants never adds rights;
        /// an anonymous caller is never granted more than a signed one.
        #[test]
        fn permission_laws(
            grants in proptest::collection::vec((
                prop_oneof![Just(Grantee::AllUsers), Just(Grantee::AuthenticatedUsers), Just(Grantee::User("u".into())), Just(Grantee::User("v".into()))],
                prop_oneof![Just(FullControl), Just(Read), Just(Write), Just(ReadAcp), Just(WriteAcp)],
            ), 0..5),
            want in prop_oneof![Just(Read), Just(Write), Just(ReadAcp), Just(WriteAcp)],
            caller in proptest::option::of(prop_oneof![Just("u"), Just("w")]),
        ) {
            let grants: Vec<AclGrant> = grants.into_iter().map(|(g, p)| grant(g, p)).collect();
            let full: Vec<AclGrant> = grants.iter().map(|g| grant(g.grantee.clone(), FullControl)).collect();
            prop_assert!(!permits(&grants, caller, want, false) || permits(&full, caller, want, false));
            prop_assert!(!permits(&grants, caller, want, true) || permits(&grants, caller, want, false));
            prop_assert!(!permits(&grants, None, want, false) || permits(&grants, Some("w"), want, false));
        }
    }
}
