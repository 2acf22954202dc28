//! A policy's decision on one request, in IAM's order: an explicit `Deny` of any statement
//! wins; otherwise an `Allow` of any statement allows; otherwise the policy says nothing and
//! the caller's other permissions decide.

use super::condition::Context;
use super::document::{Effect, Policy, Principals, Statement};
use super::pattern::Pattern;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    Anonymous,
    /// A signed request: the access key id and its canonical user id.
    Key {
        id: &'a str,
        canonical: &'a str,
    },
}

/// One request as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub caller: Caller<'a>,
    /// The action, in lower case (`s3:getobject`).
    pub action: &'a str,
    /// `bucket` or `bucket/key` (the ARN without `arn:aws:s3:::`).
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// No statement applies.
    Silent,
}

impl Policy {
    /// The policy's decision on `request`.
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if !applies(s, request) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Silent
        }
    }

    /// Whether a condition key the statements name starts with `lower_prefix`.
    pub fn mentions(&self, lower_prefix: &str) -> bool {
        self.condition_keys
            .iter()
            .any(|k| k.starts_with(lower_prefix))
    }
}

fn applies(s: &Statement, r: &Request<'_>) -> bool {
    names(&s.principals, r.caller) != s.not_principal
        && s.actions.iter().any(|a| a.matches(r.action)) != s.not_action
        && s.resources.iter().any(|p| resource_matches(p, r)) != s.not_resource
        && s.conditions.iter().all(|c| c.holds(r.context))
}

/// Whether resource pattern `p`, its variables filled in from the request's context, matches
/// the request's resource (a variable the request has no value for matches nothing).
fn resource_matches(p: &Pattern, r: &Request<'_>) -> bool {
    if !p.has_variables() {
        return p.matches(r.resource);
    }
    let value = |key: &str| match r.context.get(key) {
        Some([one]) => Some(one.clone()),
        _ => None,
    };
    p.filled(value).is_some_and(|f| f.matches(r.resource))
}

/// Whether `p` names `caller`.
fn names(p: &Principals, caller: Caller<'_>) -> bool {
    if p.everyone {
        return true;
    }
    match caller {
        Caller::Anonymous => false,
        Caller::Key { id, canonical } => {
            p.any_key || p.keys.contains(id) || p.canonical.contains(canonical)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::document::Malformed;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const BUCKET: &str = "photos";

    fn policy(statements: serde_json::Value) -> Policy {
        Policy::parse(
            &json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
            BUCKET,
        )
        .unwrap()
    }

    fn refused(doc: serde_json::Value) -> String {
        Policy::parse(&doc.to_string(), BUCKET).unwrap_err().0
    }

    fn ask(p: &Policy, caller: Caller<'_>, action: &str, resource: &str, c: &Context) -> Decision {
        p.decide(&Request {
            caller,
            action: &action.to_ascii_lowercase(),
            resource,
            context: c,
        })
    }

    const ALICE: Caller<'static> = Caller::Key {
        id: "ALICE",
        canonical: "c-alice",
    };
    const BOB: Caller<'static> = Caller::Key {
        id: "BOB",
        canonical: "c-bob",
    };

    #[test]
    fn anonymous_read_of_a_prefix() {
        let p = policy(json!([{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::photos/public/*"
        }]));
        let c = Context::new();
        use Caller::Anonymous;
        assert_eq!(
            ask(&p, Anonymous, "s3:GetObject", "photos/public/a.jpg", &c),
            Decision::Allow
        );
        assert_eq!(
            ask(&p, Anonymous, "s3:GetObject", "photos/private/a.jpg", &c),
            Decision::Silent
        );
        assert_eq!(
            ask(&p, Anonymous, "s3:PutObject", "photos/public/a.jpg", &c),
            Decision::Silent
        );
        assert_eq!(
            ask(&p, ALICE, "s3:GetObject", "photos/public/a.jpg", &c),
            Decision::Allow
        );
        assert!(p.is_public());
    }

    #[test]
    fn explicit_deny_wins() {
        let p = policy(json!([
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:*",
             "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::photos/*",
             "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]));
        let mut c = Context::new();
        c.set("aws:SecureTransport", "true");
        assert_eq!(
            ask(&p, ALICE, "s3:PutObject", "photos/k", &c),
            Decision::Deny
        );
        c.set("s3:x-amz-server-side-encryption", "AES256");
        assert_eq!(
            ask(&p, ALICE, "s3:PutObject", "photos/k", &c),
            Decision::Allow
        );
        c.set("aws:SecureTransport", "false");
        assert_eq!(
            ask(&p, ALICE, "s3:GetObject", "photos/k", &c),
            Decision::Deny
        );
        assert_eq!(
            ask(&p, ALICE, "s3:ListBucket", "photos", &c),
            Decision::Allow
        );
    }

    #[test]
    fn principals_by_key_arn_account_and_not_principal() {
        let p = policy(json!([
            {"Effect": "Allow", "Principal": {"AWS": ["ALICE", "arn:aws:iam::123456789012:user/team/BOB"]},
             "Action": "s3:PutObject", "Resource": "arn:aws:s3:::photos/*"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "ALICE"}, "Action": "s3:DeleteObject",
             "Resource": "arn:aws:s3:::photos/*"},
            {"Effect": "Allow", "Principal": {"CanonicalUser": "c-bob"}, "Action": "s3:ListBucket",
             "Resource": "arn:aws:s3:::photos"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::photos"}
        ]));
        let c = Context::new();
        assert_eq!(
            ask(&p, ALICE, "s3:PutObject", "photos/x", &c),
            Decision::Allow
        );
        assert_eq!(
            ask(&p, BOB, "s3:PutObject", "photos/x", &c),
            Decision::Allow
        );
        assert_eq!(
            ask(&p, Caller::Anonymous, "s3:PutObject", "photos/x", &c),
            Decision::Silent
        );
        assert_eq!(
            ask(&p, BOB, "s3:DeleteObject", "photos/x", &c),
            Decision::Deny
        );
        assert_eq!(
            ask(&p, Caller::Anonymous, "s3:DeleteObject", "photos/x", &c),
            Decision::Deny
        );
        assert_eq!(
            ask(&p, ALICE, "s3:DeleteObject", "photos/x", &c),
            Decision::Silent
        );
        assert_eq!(ask(&p, BOB, "s3:ListBucket", "photos", &c), Decision::Allow);
        assert_eq!(
            ask(&p, ALICE, "s3:ListBucket", "photos", &c),
            Decision::Silent
        );
        assert_eq!(
            ask(&p, ALICE, "s3:GetBucketLocation", "photos", &c),
            Decision::Allow
        );
        assert_eq!(
            ask(&p, Caller::Anonymous, "s3:GetBucketLocation", "photos", &c),
            Decision::Silent
        );
        assert!(!p.is_public());
    }

    #[test]
    fn not_action_not_resource_and_wildcards() {
        let p = policy(json!([
            {"Effect": "Allow", "Principal": "*", "NotAction": "s3:Delete*",
             "NotResource": "arn:aws:s3:::photos/secret/*"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:get?bject",
             "Resource": "arn:aws:s3:::photos/secret/ok-*"}
        ]));
        let c = Context::new();
        let anon = Caller::Anonymous;
        assert_eq!(
            ask(&p, anon, "s3:GetObject", "photos/a", &c),
            Decision::Allow
        );
        assert_eq!(
            ask(&p, anon, "s3:DeleteObject", "photos/a", &c),
            Decision::Silent
        );
        assert_eq!(
            ask(&p, anon, "s3:GetObject", "photos/secret/x", &c),
            Decision::Silent
        );
        assert_eq!(
            ask(&p, anon, "s3:GetObject", "photos/secret/ok-1", &c),
            Decision::Allow
        );
    }

    #[test]
    fn resource_variables() {
        let p = policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": ["ALICE", "BOB"]},
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::photos/home/${aws:username}/*"}]),
        );
        assert!(p.condition_keys.contains("aws:username"));
        let mut c = Context::new();
        c.set("aws:username", "ALICE");
        assert_eq!(
            ask(&p, ALICE, "s3:PutObject", "photos/home/ALICE/a", &c),
            Decision::Allow
        );
        assert_eq!(
            ask(&p, ALICE, "s3:PutObject", "photos/home/BOB/a", &c),
            Decision::Silent
        );
        assert_eq!(
            ask(
                &p,
                ALICE,
                "s3:PutObject",
                "photos/home/ALICE/a",
                &Context::new()
            ),
            Decision::Silent
        );
        // Version 2008-10-17 has no variables: the text is literal.
        let old = Policy::parse(
            &json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow",
            "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::photos/${aws:username}"}]})
            .to_string(),
            BUCKET,
        )
        .unwrap();
        assert_eq!(
            ask(&old, ALICE, "s3:GetObject", "photos/${aws:username}", &c),
            Decision::Allow
        );
        assert_eq!(
            ask(&old, ALICE, "s3:GetObject", "photos/ALICE", &c),
            Decision::Silent
        );
    }

    #[test]
    fn restricted_grants_are_not_public() {
        let p = policy(
            json!([{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::photos/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]),
        );
        assert!(!p.is_public());
        let mut c = Context::new();
        c.set("aws:SourceIp", "10.0.0.7");
        assert_eq!(
            ask(&p, Caller::Anonymous, "s3:GetObject", "photos/a", &c),
            Decision::Allow
        );
        c.set("aws:SourceIp", "127.0.0.1");
        assert_eq!(
            ask(&p, Caller::Anonymous, "s3:GetObject", "photos/a", &c),
            Decision::Silent
        );
    }

    #[test]
    fn malformed_policies_name_the_reason() {
        let ok = |s: serde_json::Value| json!({"Version": "2012-10-17", "Statement": [s]});
        assert_eq!(
            Policy::parse("not json", BUCKET).unwrap_err(),
            Malformed("Policies must be valid JSON and the first byte must be '{'".into())
        );
        assert_eq!(
            refused(json!({"Version": "2012-10-17"})),
            "Missing required field Statement"
        );
        assert_eq!(
            refused(json!({"Version": "2012-10-17", "Statement": []})),
            "Could not parse the policy: Statement is empty!"
        );
        assert_eq!(
            refused(json!({"Version": "2099-01-01", "Statement": []})),
            "Document is invalid: Invalid Version"
        );
        let base = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::photos/*"});
        let with = |k: &str, v: serde_json::Value| {
            let mut s = base.clone();
            s[k] = v;
            ok(s)
        };
        let without = |k: &str| {
            let mut s = base.clone();
            s.as_object_mut().unwrap().remove(k);
            ok(s)
        };
        assert_eq!(refused(without("Effect")), "Missing required field Effect");
        assert_eq!(
            refused(without("Principal")),
            "Missing required field Principal"
        );
        assert_eq!(refused(without("Action")), "Missing required field Action");
        assert_eq!(
            refused(without("Resource")),
            "Missing required field Resource"
        );
        assert_eq!(
            refused(with("Effect", json!("Maybe"))),
            "Invalid effect: Maybe"
        );
        assert_eq!(
            refused(with("Action", json!("iam:CreateUser"))),
            "Policy has invalid action"
        );
        assert_eq!(
            refused(with("Action", json!("s3:Fly"))),
            "Policy has invalid action"
        );
        assert_eq!(
            refused(with("Resource", json!("arn:aws:s3:::other/*"))),
            "Policy has invalid resource"
        );
        assert_eq!(
            refused(with("Resource", json!("photos/*"))),
            "Policy has invalid resource"
        );
        assert_eq!(
            refused(with("Principal", json!({"AWS": "not a key!"}))),
            "Invalid principal in policy"
        );
        assert_eq!(
            refused(with("Resource", json!("arn:aws:s3:::photos"))),
            "Action does not apply to any resource(s) in statement"
        );
        assert_eq!(
            refused(with("Condition", json!({"StringEquals": {"color": "red"}}))),
            "Policy has an invalid condition key"
        );
        assert_eq!(
            refused(with(
                "Condition",
                json!({"StringEqualz": {"s3:prefix": "a"}})
            )),
            "Invalid Condition type : StringEqualz"
        );
        assert_eq!(
            refused(with("Surprise", json!(1))),
            "Unknown field Surprise"
        );
        let mut same = base.clone();
        same["Sid"] = json!("same");
        assert_eq!(
            refused(json!({"Statement": [same.clone(), same]})),
            "Statement IDs (SID) in a single policy must be unique"
        );
        let big = "x".repeat(21 * 1024);
        assert_eq!(
            Policy::parse(&big, BUCKET).unwrap_err().0,
            "Policies must be no larger than 20 KB"
        );
        // Accepted: one statement given as an object, wildcard buckets, `*` resources.
        assert!(Policy::parse(&json!({"Statement": base}).to_string(), BUCKET).is_ok());
        assert!(Policy::parse(
            &with("Resource", json!("arn:aws:s3:::*")).to_string(),
            BUCKET
        )
        .is_ok());
        assert!(Policy::parse(&with("Resource", json!("*")).to_string(), BUCKET).is_ok());
    }

    fn arb_statement() -> impl Strategy<Value = serde_json::Value> {
        (
            prop_oneof![Just("Allow"), Just("Deny")],
            prop_oneof![
                Just(json!("*")),
                Just(json!({"AWS": "ALICE"})),
                Just(json!({"AWS": ["BOB", "ALICE"]}))
            ],
            any::<bool>(),
            prop_oneof![
                Just("s3:GetObject"),
                Just("s3:Get*"),
                Just("s3:*"),
                Just("s3:PutObject")
            ],
            prop_oneof![
                Just("arn:aws:s3:::photos/*"),
                Just("arn:aws:s3:::photos/a*"),
                Just("*")
            ],
        )
            .prop_map(|(effect, principal, not_principal, action, resource)| {
                let p = if not_principal {
                    "NotPrincipal"
                } else {
                    "Principal"
                };
                json!({"Effect": effect, p: principal, "Action": action, "Resource": resource})
            })
    }

    proptest! {
        /// Explicit deny wins, whatever the order of statements: a policy's decision does not
        /// depend on it, and adding a matching Deny statement always gives Deny.
        #[test]
        fn order_does_not_matter_and_deny_wins(
            mut statements in proptest::collection::vec(arb_statement(), 1..6),
            caller in prop_oneof![Just(ALICE), Just(BOB), Just(Caller::Anonymous)],
            action in prop_oneof![Just("s3:GetObject"), Just("s3:PutObject"), Just("s3:GetObjectTagging")],
            key in "(a|b)[a-z]{0,3}",
        ) {
            let c = Context::new();
            let resource = format!("photos/{key}");
            let forward = policy(json!(statements.clone()));
            statements.reverse();
            let backward = policy(json!(statements.clone()));
            let before = ask(&forward, caller, action, &resource, &c);
            prop_assert_eq!(before, ask(&backward, caller, action, &resource, &c));
            let arn = format!("arn:aws:s3:::{}", resource);
            statements.push(json!({"Effect": "Deny", "Principal": "*", "Action": action,
                "Resource": arn}));
            prop_assert_eq!(ask(&policy(json!(statements)), caller, action, &resource, &c), Decision::Deny);
            if before == Decision::Allow {
                // An allow means some Allow statement applies and no Deny does.
                prop_assert!(forward.statements.iter().any(|s| s.effect == Effect::Allow));
            }
        }
    }
}
