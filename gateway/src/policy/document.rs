//! A bucket policy read from its JSON: checked as S3 checks it (a policy S3 refuses is
//! refused here with MalformedPolicy and S3's reason) and compiled once into statements whose
//! patterns and conditions are ready to evaluate.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::actions::{self, Applies};
use super::condition::Condition;
use super::pattern::Pattern;

/// The largest bucket policy S3 accepts, in bytes.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// The prefix of every S3 resource ARN.
pub const ARN_PREFIX: &str = "arn:aws:s3:::";

/// Condition keys whose fixed values keep a grant to everyone from being public (AWS's
/// "The meaning of public").
const RESTRICTING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Whom a statement names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    pub everyone: bool,
    /// An account (`"123456789012"`, `arn:aws:iam::…:root`): every signed caller.
    pub any_key: bool,
    /// Access key ids, bare or as `arn:aws:iam::…:user/<id>`.
    pub keys: BTreeSet<String>,
    /// `{"CanonicalUser": …}` ids.
    pub canonical: BTreeSet<String>,
}

/// One statement, compiled.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principals: Principals,
    /// `NotPrincipal`: applies to everyone but `principals`.
    pub not_principal: bool,
    /// Lower-case action patterns.
    pub actions: Vec<Pattern>,
    pub not_action: bool,
    /// Resource patterns without the `arn:aws:s3:::` prefix (`bucket`, `bucket/key*`, `*`).
    pub resources: Vec<Pattern>,
    pub not_resource: bool,
    pub conditions: Vec<Condition>,
}

/// A bucket policy: the JSON as given (returned by GetBucketPolicy) and its statements.
#[derive(Debug, Clone)]
pub struct Policy {
    pub text: String,
    pub statements: Vec<Statement>,
    /// Every condition key the statements name (in conditions and as resource variables), in
    /// lower case: a request's context needs these and no others.
    pub condition_keys: BTreeSet<String>,
    /// Whether a statement names a canonical user id (so a caller's is worth computing).
    pub names_canonical: bool,
}

/// Why a policy was refused: the message of S3's MalformedPolicy error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(reason: impl Into<String>) -> Malformed {
    Malformed(reason.into())
}

impl Policy {
    /// Reads and checks `text` as the policy of `bucket`.
    pub fn parse(text: &str, bucket: &str) -> Result<Policy, Malformed> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(malformed("Policies must be no larger than 20 KB"));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|_| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
        let Value::Object(doc) = doc else {
            return Err(malformed(
                "Policies must be valid JSON and the first byte must be '{'",
            ));
        };
        for field in doc.keys() {
            if !matches!(field.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("Unknown field {field}")));
            }
        }
        // Policy variables exist from version 2012-10-17 on; before, `${…}` is literal text.
        let variables = match doc.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(_) => return Err(malformed("Document is invalid: Invalid Version")),
        };
        let statements = match doc.get("Statement") {
            None => return Err(malformed("Missing required field Statement")),
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return Err(malformed("Statement must be an object or a list")),
        };
        if statements.is_empty() {
            return Err(malformed("Could not parse the policy: Statement is empty!"));
        }
        let mut sids = BTreeSet::new();
        let mut compiled = Vec::with_capacity(statements.len());
        for s in statements {
            let Value::Object(s) = s else {
                return Err(malformed("Statement must be an object"));
            };
            let statement = statement(s, bucket, variables)?;
            if let Some(sid) = &statement.sid {
                if !sids.insert(sid.clone()) {
                    return Err(malformed(
                        "Statement IDs (SID) in a single policy must be unique",
                    ));
                }
            }
            compiled.push(statement);
        }
        // The keys a request's context needs: those of conditions and of resource variables.
        let condition_keys = compiled
            .iter()
            .flat_map(|s| {
                s.conditions
                    .iter()
                    .map(|c| c.key().to_string())
                    .chain(s.resources.iter().flat_map(Pattern::variable_keys))
            })
            .collect();
        let names_canonical = compiled.iter().any(|s| !s.principals.canonical.is_empty());
        Ok(Policy {
            text: text.to_string(),
            statements: compiled,
            condition_keys,
            names_canonical,
        })
    }

    /// Whether the policy grants anything to everyone without a condition that narrows who
    /// (GetBucketPolicyStatus's `IsPublic`, BlockPublicPolicy, RestrictPublicBuckets).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principals.everyone != s.not_principal
                && !s
                    .conditions
                    .iter()
                    .any(|c| RESTRICTING_KEYS.contains(&c.key()))
        })
    }
}

/// One statement of the policy of `bucket`.
fn statement(
    s: &Map<String, Value>,
    bucket: &str,
    variables: bool,
) -> Result<Statement, Malformed> {
    for field in s.keys() {
        if !matches!(
            field.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!("Unknown field {field}")));
        }
    }
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => return Err(malformed("Sid must be a string")),
    };
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(e) => return Err(malformed(format!("Invalid effect: {}", plain(e)))),
        None => return Err(malformed("Missing required field Effect")),
    };
    let (principal, not_principal) = either(s, "Principal", "NotPrincipal")?;
    let principals = principals(principal)?;
    let (action, not_action) = either(s, "Action", "NotAction")?;
    let actions = strings(action)
        .ok_or_else(|| malformed("Policy has invalid action"))?
        .iter()
        .map(|a| action_pattern(a))
        .collect::<Result<Vec<_>, _>>()?;
    let (resource, not_resource) = either(s, "Resource", "NotResource")?;
    let resources = strings(resource)
        .ok_or_else(|| malformed("Policy has invalid resource"))?
        .iter()
        .map(|r| resource_pattern(r, bucket, variables))
        .collect::<Result<Vec<_>, _>>()?;
    if !not_action && !not_resource && !actions_meet_resources(&actions, &resources) {
        return Err(malformed(
            "Action does not apply to any resource(s) in statement",
        ));
    }
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(ops)) => conditions(ops)?,
        Some(_) => return Err(malformed("Condition must be an object")),
    };
    Ok(Statement {
        sid,
        effect,
        principals,
        not_principal,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
    })
}

/// The value of `field` or of `not_field` (exactly one must be there), and whether it was
/// the negated one.
fn either<'a>(
    s: &'a Map<String, Value>,
    field: &str,
    not_field: &str,
) -> Result<(&'a Value, bool), Malformed> {
    match (s.get(field), s.get(not_field)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (None, None) => Err(malformed(format!("Missing required field {field}"))),
        (Some(_), Some(_)) => Err(malformed(format!(
            "Statement has both {field} and {not_field}"
        ))),
    }
}

/// A string or a non-empty list of strings.
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn principals(v: &Value) -> Result<Principals, Malformed> {
    let invalid = || malformed("Invalid principal in policy");
    let mut p = Principals::default();
    match v {
        Value::String(s) if s == "*" => p.everyone = true,
        Value::Object(kinds) if !kinds.is_empty() => {
            for (kind, ids) in kinds {
                let ids = strings(ids).ok_or_else(invalid)?;
                for id in ids {
                    match kind.as_str() {
                        "AWS" => aws_principal(&id, &mut p).ok_or_else(invalid)?,
                        "CanonicalUser" if !id.is_empty() => {
                            p.canonical.insert(id);
                        }
                        // Services and identity providers never sign requests here: valid,
                        // and they match no caller.
                        "Service" | "Federated" if !id.is_empty() => {}
                        _ => return Err(invalid()),
                    }
                }
            }
        }
        _ => return Err(invalid()),
    }
    Ok(p)
}

/// One `{"AWS": …}` principal: `*`, an account, a user ARN or a bare access key id.
fn aws_principal(id: &str, p: &mut Principals) -> Option<()> {
    if id == "*" {
        p.everyone = true;
    } else if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        p.any_key = true;
    } else if let Some(rest) = id.strip_prefix("arn:aws:iam::") {
        let (_account, resource) = rest.split_once(':')?;
        if resource == "root" {
            p.any_key = true;
        } else {
            let user = resource.strip_prefix("user/")?;
            let key = user.rsplit('/').next()?;
            if !is_key_id(key) {
                return None;
            }
            p.keys.insert(key.to_string());
        }
    } else if is_key_id(id) {
        p.keys.insert(id.to_string());
    } else {
        return None;
    }
    Some(())
}

fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// An action or action pattern: `*`, or `s3:` and a known action (wildcards must match one).
fn action_pattern(action: &str) -> Result<Pattern, Malformed> {
    let invalid = || malformed("Policy has invalid action");
    let lower = action.to_ascii_lowercase();
    if lower == "*" {
        return Ok(Pattern::new("*"));
    }
    if !lower.starts_with("s3:") {
        return Err(invalid());
    }
    let pattern = Pattern::new(&lower);
    if pattern.is_wild() {
        if actions::matching(&pattern).next().is_none() {
            return Err(invalid());
        }
    } else if actions::applies_to(&lower).is_none() {
        return Err(invalid());
    }
    Ok(pattern)
}

/// A resource of this bucket's policy: `*`, or `arn:aws:s3:::` and a bucket pattern that
/// matches `bucket`, maybe followed by `/` and a key pattern.
fn resource_pattern(resource: &str, bucket: &str, variables: bool) -> Result<Pattern, Malformed> {
    if resource == "*" {
        return Ok(Pattern::new("*"));
    }
    let invalid = || malformed("Policy has invalid resource");
    let rest = resource.strip_prefix(ARN_PREFIX).ok_or_else(invalid)?;
    let bucket_part = rest.split('/').next().unwrap_or(rest);
    // A bucket pattern ending in `*` may also cover the objects (`arn:aws:s3:::*`).
    let covers = Pattern::new(bucket_part).matches(bucket)
        || (bucket_part.ends_with('*') && Pattern::new(rest).matches(&format!("{bucket}/")));
    if rest.is_empty() || !covers {
        return Err(invalid());
    }
    Ok(if variables {
        Pattern::with_variables(rest)
    } else {
        Pattern::new(rest)
    })
}

/// Whether some action of the statement applies to some kind of its resources.
fn actions_meet_resources(actions: &[Pattern], resources: &[Pattern]) -> bool {
    let mut kinds = BTreeSet::new();
    for r in resources {
        let text = r.as_str();
        if text == "*" || text.ends_with('*') && !text.contains('/') {
            kinds.extend([Applies::Bucket, Applies::Object]);
        } else if text.contains('/') {
            kinds.insert(Applies::Object);
        } else {
            kinds.insert(Applies::Bucket);
        }
    }
    kinds.insert(Applies::Account);
    actions.iter().any(|a| {
        a.as_str() == "*" || actions::matching(a).any(|(_, applies)| kinds.contains(&applies))
    })
}

fn conditions(ops: &Map<String, Value>) -> Result<Vec<Condition>, Malformed> {
    let mut out = Vec::new();
    for (operator, keys) in ops {
        let Value::Object(keys) = keys else {
            return Err(malformed(format!("Invalid Condition block for {operator}")));
        };
        for (key, values) in keys {
            let lower = key.to_ascii_lowercase();
            if !(lower.starts_with("aws:") || lower.starts_with("s3:")) || lower.ends_with(':') {
                return Err(malformed("Policy has an invalid condition key"));
            }
            out.push(Condition::parse(operator, key, values).map_err(Malformed)?);
        }
    }
    Ok(out)
}
