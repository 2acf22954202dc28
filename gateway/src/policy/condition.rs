//! The `Condition` block of a policy statement: its operators (String*, Numeric*, Date*, Bool,
//! BinaryEquals, IpAddress/NotIpAddress, Arn*, Null, each but Null also `...IfExists`, and the
//! `ForAllValues:`/`ForAnyValue:` set prefixes), parsed once, and their evaluation over a
//! request's [`Context`].
//!
//! As IAM evaluates them: the values listed for one key are alternatives (any may match); a
//! negated operator (`StringNotEquals`, `NotIpAddress`, ...) holds when none matches; a key the
//! request does not have fails a condition unless the operator is negated or `...IfExists`;
//! `Null: true` holds when the key is absent. Keys compare case-insensitively.

use std::collections::HashMap;
use std::net::IpAddr;

use super::pattern::Pattern;

/// The facts of one request, by condition key in lower case (`aws:sourceip`, `s3:prefix`):
/// each key may have several values (`s3:RequestObjectTagKeys`).
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets `key` (any case) to one value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
    }

    /// Adds a value to `key` (any case).
    pub fn add(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.into());
    }

    /// The values of `key`, given in lower case.
    pub fn get(&self, lower_key: &str) -> Option<&[String]> {
        self.values.get(lower_key).map(Vec::as_slice)
    }
}

/// How a numeric or date value compares with the policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

impl Compare {
    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Compare::Equals => ordering == Equal,
            Compare::LessThan => ordering == Less,
            Compare::LessThanEquals => ordering != Greater,
            Compare::GreaterThan => ordering == Greater,
            Compare::GreaterThanEquals => ordering != Less,
        }
    }
}

/// The policy's values of one condition, parsed for its operator.
#[derive(Debug, Clone)]
enum Values {
    Strings(Vec<String>),
    /// Compared in lower case.
    StringsIgnoreCase(Vec<String>),
    Like(Vec<Pattern>),
    Numbers(Compare, Vec<f64>),
    /// Milliseconds since the epoch.
    Dates(Compare, Vec<i128>),
    Bool(Vec<bool>),
    Networks(Vec<ipnet::IpNet>),
    /// `Null`: whether the key must be absent.
    Null(bool),
}

/// How a condition treats a key with several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Single,
    ForAllValues,
    ForAnyValue,
}

/// One operator applied to one key.
#[derive(Debug, Clone)]
pub struct Condition {
    key: String,
    values: Values,
    negated: bool,
    if_exists: bool,
    set: Set,
}

/// Why a condition does not parse; the message is the reason given in MalformedPolicy.
pub type ConditionError = String;

impl Condition {
    /// Parses `operator: { key: values }` for one key.
    pub fn parse(
        operator: &str,
        key: &str,
        values: &serde_json::Value,
    ) -> Result<Condition, ConditionError> {
        let (set, rest) = if let Some(r) = operator.strip_prefix("ForAllValues:") {
            (Set::ForAllValues, r)
        } else if let Some(r) = operator.strip_prefix("ForAnyValue:") {
            (Set::ForAnyValue, r)
        } else {
            (Set::Single, operator)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) if b != "Null" => (b, true),
            _ => (rest, false),
        };
        let texts = value_texts(values)
            .ok_or_else(|| format!("Invalid Condition value for {operator}: {key}"))?;
        let bad = |what: &str| format!("Invalid Condition value for {operator}: {what}");
        let numbers = |cmp| -> Result<Values, ConditionError> {
            let parsed: Result<Vec<f64>, _> = texts.iter().map(|t| t.parse::<f64>()).collect();
            Ok(Values::Numbers(cmp, parsed.map_err(|_| bad(key))?))
        };
        let dates = |cmp| -> Result<Values, ConditionError> {
            let parsed: Option<Vec<i128>> = texts.iter().map(|t| parse_date(t)).collect();
            Ok(Values::Dates(cmp, parsed.ok_or_else(|| bad(key))?))
        };
        let (values, negated) = match base {
            "StringEquals" | "ArnEquals" => (Values::Strings(texts), false),
            "StringNotEquals" | "ArnNotEquals" => (Values::Strings(texts), true),
            "StringEqualsIgnoreCase" => (Values::StringsIgnoreCase(lower(texts)), false),
            "StringNotEqualsIgnoreCase" => (Values::StringsIgnoreCase(lower(texts)), true),
            "StringLike" | "ArnLike" => (Values::Like(patterns(&texts)), false),
            "StringNotLike" | "ArnNotLike" => (Values::Like(patterns(&texts)), true),
            "NumericEquals" => (numbers(Compare::Equals)?, false),
            "NumericNotEquals" => (numbers(Compare::Equals)?, true),
            "NumericLessThan" => (numbers(Compare::LessThan)?, false),
            "NumericLessThanEquals" => (numbers(Compare::LessThanEquals)?, false),
            "NumericGreaterThan" => (numbers(Compare::GreaterThan)?, false),
            "NumericGreaterThanEquals" => (numbers(Compare::GreaterThanEquals)?, false),
            "DateEquals" => (dates(Compare::Equals)?, false),
            "DateNotEquals" => (dates(Compare::Equals)?, true),
            "DateLessThan" => (dates(Compare::LessThan)?, false),
            "DateLessThanEquals" => (dates(Compare::LessThanEquals)?, false),
            "DateGreaterThan" => (dates(Compare::GreaterThan)?, false),
            "DateGreaterThanEquals" => (dates(Compare::GreaterThanEquals)?, false),
            "Bool" => {
                let parsed: Option<Vec<bool>> = texts.iter().map(|t| parse_bool(t)).collect();
                (Values::Bool(parsed.ok_or_else(|| bad(key))?), false)
            }
            // Base64 compared as written: the request's values are given in base64 too.
            "BinaryEquals" => (Values::Strings(texts), false),
            "IpAddress" | "NotIpAddress" => {
                let parsed: Option<Vec<ipnet::IpNet>> =
                    texts.iter().map(|t| parse_network(t)).collect();
                (
                    Values::Networks(parsed.ok_or_else(|| bad(key))?),
                    base == "NotIpAddress",
                )
            }
            "Null" if set == Set::Single => {
                let [one] = texts.as_slice() else {
                    return Err(bad(key));
                };
                (
                    Values::Null(parse_bool(one).ok_or_else(|| bad(key))?),
                    false,
                )
            }
            _ => return Err(format!("Invalid Condition type : {operator}")),
        };
        Ok(Condition {
            key: key.to_ascii_lowercase(),
            values,
            negated,
            if_exists,
            set,
        })
    }

    /// The key, in lower case.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the condition holds for a request with `context`.
    pub fn holds(&self, context: &Context) -> bool {
        let present = context.get(&self.key).filter(|v| !v.is_empty());
        if let Values::Null(absent) = self.values {
            return present.is_none() == absent;
        }
        let Some(given) = present else {
            return match self.set {
                Set::ForAllValues => true,
                Set::ForAnyValue => false,
                Set::Single => self.if_exists || self.negated,
            };
        };
        let matches = |v: &String| self.matches_one(v);
        match (self.set, self.negated) {
            (Set::Single, false) => given.iter().any(matches),
            (Set::Single, true) => !given.iter().any(matches),
            (Set::ForAnyValue, false) => given.iter().any(matches),
            (Set::ForAnyValue, true) => given.iter().any(|v| !matches(v)),
            (Set::ForAllValues, false) => given.iter().all(matches),
            (Set::ForAllValues, true) => given.iter().all(|v| !matches(v)),
        }
    }

    /// Whether one of the request's values matches one of the policy's (before negation).
    fn matches_one(&self, given: &str) -> bool {
        match &self.values {
            Values::Strings(want) => want.iter().any(|w| w == given),
            Values::StringsIgnoreCase(want) => want.contains(&given.to_lowercase()),
            Values::Like(want) => want.iter().any(|p| p.matches(given)),
            Values::Numbers(cmp, want) => match given.parse::<f64>() {
                Ok(g) => want
                    .iter()
                    .any(|w| g.partial_cmp(w).is_some_and(|o| cmp.holds(o))),
                Err(_) => false,
            },
            Values::Dates(cmp, want) => match parse_date(given) {
                Some(g) => want.iter().any(|w| cmp.holds(g.cmp(w))),
                None => false,
            },
            Values::Bool(want) => parse_bool(given).is_some_and(|g| want.contains(&g)),
            Values::Networks(want) => match given.parse::<IpAddr>() {
                Ok(ip) => want.iter().any(|n| n.contains(&ip)),
                Err(_) => false,
            },
            Values::Null(_) => false,
        }
    }
}

/// A condition's values as text: one string, number or boolean, or a list of them.
fn value_texts(values: &serde_json::Value) -> Option<Vec<String>> {
    use serde_json::Value;
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match values {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        v => one(v).map(|s| vec![s]),
    }
}

fn lower(texts: Vec<String>) -> Vec<String> {
    texts.into_iter().map(|t| t.to_lowercase()).collect()
}

fn patterns(texts: &[String]) -> Vec<Pattern> {
    texts.iter().map(|t| Pattern::new(t)).collect()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// An address or a CIDR block (an address alone is a /32 or /128).
fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Milliseconds since the epoch of an ISO 8601 date (`2026-01-01`, `2026-01-01T00:00:00Z`,
/// with fractions or an offset) or of epoch seconds, as IAM accepts them.
pub fn parse_date(text: &str) -> Option<i128> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(i128::from(secs).saturating_mul(1000));
    }
    let at = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .ok()
        .or_else(|| {
            let date = time::Date::parse(
                text,
                &time::macros::format_description!("[year]-[month]-[day]"),
            )
            .ok()?;
            Some(date.midnight().assume_utc())
        })?;
    Some(at.unix_timestamp_nanos() / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn cond(op: &str, key: &str, v: serde_json::Value) -> Condition {
        Condition::parse(op, key, &v).unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.add(k, *v);
        }
        c
    }

    #[test]
    fn strings_and_absence() {
        let c = cond(
            "StringEquals",
            "s3:x-amz-acl",
            json!(["private", "public-read"]),
        );
        assert!(c.holds(&ctx(&[("s3:x-amz-acl", "public-read")])));
        assert!(!c.holds(&ctx(&[("s3:x-amz-acl", "authenticated-read")])));
        assert!(!c.holds(&ctx(&[])));
        // The documented "deny unencrypted uploads" statement: absent header = not equal.
        let n = cond(
            "StringNotEquals",
            "s3:x-amz-server-side-encryption",
            json!("AES256"),
        );
        assert!(n.holds(&ctx(&[])));
        assert!(!n.holds(&ctx(&[("s3:x-amz-server-side-encryption", "AES256")])));
        assert!(n.holds(&ctx(&[("s3:x-amz-server-side-encryption", "aws:kms")])));
        let e = cond("StringEqualsIfExists", "aws:Referer", json!("x"));
        assert!(e.holds(&ctx(&[])));
        assert!(!e.holds(&ctx(&[("aws:referer", "y")])));
        let i = cond("StringEqualsIgnoreCase", "aws:UserAgent", json!("Boto3"));
        assert!(i.holds(&ctx(&[("aws:useragent", "BOTO3")])));
    }

    #[test]
    fn null_bool_numbers_dates_networks() {
        let null = cond("Null", "s3:x-amz-server-side-encryption", json!("true"));
        assert!(null.holds(&ctx(&[])));
        assert!(!null.holds(&ctx(&[("s3:x-amz-server-side-encryption", "AES256")])));
        let tls = cond("Bool", "aws:SecureTransport", json!("false"));
        assert!(tls.holds(&ctx(&[("aws:securetransport", "false")])));
        assert!(!tls.holds(&ctx(&[("aws:securetransport", "true")])));
        let n = cond("NumericLessThanEquals", "s3:max-keys", json!("10"));
        assert!(n.holds(&ctx(&[("s3:max-keys", "10")])));
        assert!(!n.holds(&ctx(&[("s3:max-keys", "11")])));
        assert!(!n.holds(&ctx(&[("s3:max-keys", "ten")])));
        let d = cond(
            "DateLessThan",
            "aws:CurrentTime",
            json!("2030-01-01T00:00:00Z"),
        );
        assert!(d.holds(&ctx(&[("aws:currenttime", "2026-12-07T10:00:00Z")])));
        assert!(!d.holds(&ctx(&[("aws:currenttime", "2031-01-01T00:00:00Z")])));
        let day = cond("DateGreaterThan", "aws:CurrentTime", json!("2026-12-01"));
        assert!(day.holds(&ctx(&[("aws:currenttime", "2026-12-07T10:00:00Z")])));
        let ip = cond("IpAddress", "aws:SourceIp", json!(["10.0.0.0/8", "::1"]));
        assert!(ip.holds(&ctx(&[("aws:sourceip", "10.1.2.3")])));
        assert!(ip.holds(&ctx(&[("aws:sourceip", "::1")])));
        assert!(!ip.holds(&ctx(&[("aws:sourceip", "127.0.0.1")])));
        let not_ip = cond("NotIpAddress", "aws:SourceIp", json!("127.0.0.0/8"));
        assert!(!not_ip.holds(&ctx(&[("aws:sourceip", "127.0.0.1")])));
        assert!(not_ip.holds(&ctx(&[("aws:sourceip", "192.0.2.1")])));
    }

    #[test]
    fn sets() {
        let all = cond(
            "ForAllValues:StringEquals",
            "s3:RequestObjectTagKeys",
            json!(["a", "b"]),
        );
        assert!(all.holds(&ctx(&[("s3:requestobjecttagkeys", "a")])));
        assert!(!all.holds(&ctx(&[
            ("s3:requestobjecttagkeys", "a"),
            ("s3:requestobjecttagkeys", "c")
        ])));
        assert!(all.holds(&ctx(&[])));
        let any = cond(
            "ForAnyValue:StringLike",
            "s3:RequestObjectTagKeys",
            json!("x*"),
        );
        assert!(any.holds(&ctx(&[
            ("s3:requestobjecttagkeys", "a"),
            ("s3:requestobjecttagkeys", "xy")
        ])));
        assert!(!any.holds(&ctx(&[])));
    }

    #[test]
    fn malformed() {
        assert!(Condition::parse("StringEqualz", "k", &json!("v")).is_err());
        assert!(Condition::parse("NumericEquals", "k", &json!("ten")).is_err());
        assert!(Condition::parse("IpAddress", "k", &json!("300.0.0.1")).is_err());
        assert!(Condition::parse("DateEquals", "k", &json!("yesterday")).is_err());
        assert!(Condition::parse("Bool", "k", &json!("maybe")).is_err());
        assert!(Condition::parse("StringEquals", "k", &json!([])).is_err());
        assert!(Condition::parse("StringEquals", "k", &json!({"a": 1})).is_err());
        assert!(Condition::parse("NullIfExists", "k", &json!("true")).is_err());
    }

    proptest! {
        /// A negated operator holds exactly when its positive form does not, for a key present.
        #[test]
        fn negation_is_complement(given in "[a-c]{0,3}", wanted in proptest::collection::vec("[a-c*]{0,3}", 1..4)) {
            let c = ctx(&[("k", &given)]);
            let pairs = [("StringEquals", "StringNotEquals"), ("StringLike", "StringNotLike"),
                         ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase")];
            for (pos, neg) in pairs {
                let p = cond(pos, "k", json!(wanted));
                let n = cond(neg, "k", json!(wanted));
                prop_assert_eq!(p.holds(&c), !n.holds(&c));
            }
        }

        /// IfExists changes only what an absent key gives.
        #[test]
        fn if_exists_only_for_absent_keys(given in proptest::option::of("[0-9]{1,3}"), wanted in "[0-9]{1,3}") {
            let c = match &given { Some(g) => ctx(&[("k", g)]), None => ctx(&[]) };
            let plain = cond("NumericLessThan", "k", json!(wanted));
            let maybe = cond("NumericLessThanIfExists", "k", json!(wanted));
            match given {
                Some(_) => prop_assert_eq!(plain.holds(&c), maybe.holds(&c)),
                None => { prop_assert!(!plain.holds(&c)); prop_assert!(maybe.holds(&c)); }
            }
        }
    }
}
