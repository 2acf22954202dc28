//! The condition keys of one request (`aws:SourceIp`, `aws:SecureTransport`,
//! `aws:CurrentTime`, `s3:prefix`, `s3:x-amz-server-side-encryption`, `s3:RequestObjectTag/<k>`,
//! ...), read from its connection, headers and query. Pure: everything comes in as arguments.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::policy::Context;

/// What a request's condition keys are read from.
pub struct Facts<'a> {
    pub peer: Option<IpAddr>,
    pub tls: bool,
    pub headers: &'a http::HeaderMap,
    pub query: Option<&'a str>,
    /// The access key, `None` for anonymous requests.
    pub caller: Option<&'a str>,
    pub now: time::OffsetDateTime,
}

/// The query parameters whose values are condition keys of listings.
const LISTING_KEYS: &[(&str, &str)] = &[
    ("prefix", "s3:prefix"),
    ("delimiter", "s3:delimiter"),
    ("max-keys", "s3:max-keys"),
];

/// The request's condition keys among `wanted` (lower case; `None`: all of them). A policy
/// names few keys, and only those are worth reading.
pub fn context(f: &Facts<'_>, wanted: Option<&BTreeSet<String>>) -> Context {
    let wants = |key: &str| wanted.is_none_or(|w| w.contains(key));
    let wants_prefix =
        |prefix: &str| wanted.is_none_or(|w| w.iter().any(|k| k.starts_with(prefix)));
    let mut c = Context::new();
    if let (Some(ip), true) = (f.peer, wants("aws:sourceip")) {
        c.set("aws:SourceIp", ip.to_canonical().to_string());
    }
    if wants("aws:securetransport") {
        c.set("aws:SecureTransport", f.tls.to_string());
    }
    if wants("aws:currenttime") {
        if let Ok(now) = f.now.format(&time::format_description::well_known::Rfc3339) {
            c.set("aws:CurrentTime", now);
        }
    }
    if wants("aws:epochtime") {
        c.set("aws:EpochTime", f.now.unix_timestamp().to_string());
    }
    if wants("aws:principaltype") {
        c.set(
            "aws:PrincipalType",
            if f.caller.is_some() {
                "User"
            } else {
                "Anonymous"
            },
        );
    }
    if let Some(id) = f.caller {
        for key in ["aws:username", "aws:userid"] {
            if wants(key) {
                c.set(key, id);
            }
        }
    }
    let header = |name: &str| f.headers.get(name).and_then(|v| v.to_str().ok());
    if let (Some(v), true) = (header("referer"), wants("aws:referer")) {
        c.set("aws:Referer", v);
    }
    if let (Some(v), true) = (header("user-agent"), wants("aws:useragent")) {
        c.set("aws:UserAgent", v);
    }
    // Every x-amz- header is a condition key of its own name (s3:x-amz-acl,
    // s3:x-amz-server-side-encryption, s3:x-amz-copy-source, s3:x-amz-metadata-directive, ...).
    if wants_prefix("s3:x-amz-") {
        for (name, value) in f.headers {
            let name = name.as_str();
            if name.starts_with("x-amz-") {
                if let Ok(v) = value.to_str() {
                    c.add(&format!("s3:{name}"), v);
                }
            }
        }
    }
    let mut presigned = false;
    if wants_prefix("s3:") {
        for (name, value) in query_pairs(f.query) {
            if let Some((_, key)) = LISTING_KEYS.iter().find(|(q, _)| *q == name) {
                c.set(key, value);
            }
            presigned |= name == "X-Amz-Signature" || name == "Signature";
        }
    }
    if f.caller.is_some() && wants("s3:authtype") {
        let auth_type = if presigned {
            "REST-QUERY-STRING"
        } else if f.headers.contains_key(http::header::AUTHORIZATION) {
            "REST-HEADER"
        } else {
            "POST"
        };
        c.set("s3:authType", auth_type);
    }
    if f.caller.is_some() && wants("s3:signatureversion") {
        let v4 = header("authorization").is_some_and(|a| a.starts_with("AWS4-"))
            || f.query.is_some_and(|q| q.contains("X-Amz-Algorithm=AWS4"));
        c.set(
            "s3:signatureversion",
            if v4 { "AWS4-HMAC-SHA256" } else { "AWS" },
        );
    }
    if let (Some(tagging), true) = (header("x-amz-tagging"), wants_prefix("s3:requestobjecttag")) {
        for (k, v) in query_pairs(Some(tagging)) {
            c.add("s3:RequestObjectTagKeys", k.clone());
            c.set(&format!("s3:RequestObjectTag/{k}"), v);
        }
    }
    c
}

/// The decoded `name=value` pairs of a query string.
fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                urlencoding::decode(&s.replace('+', " "))
                    .map_or_else(|_| s.to_string(), |d| d.into_owned())
            };
            (decode(n), decode(v))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(c: &Context, key: &str) -> Vec<String> {
        c.get(&key.to_ascii_lowercase())
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    #[test]
    fn keys_from_connection_headers_and_query() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-server-side-encryption", "AES256".parse().unwrap());
        headers.insert("x-amz-tagging", "team=red&tier%201=gold".parse().unwrap());
        headers.insert("user-agent", "aws-cli/2".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=x".parse().unwrap(),
        );
        let now = time::macros::datetime!(2026-12-07 10:00:00 UTC);
        let facts = Facts {
            peer: Some("::ffff:10.1.2.3".parse().unwrap()),
            tls: false,
            headers: &headers,
            query: Some("list-type=2&prefix=photos%2F2026&delimiter=%2F&max-keys=10"),
            caller: Some("ALICE"),
            now,
        };
        let c = context(&facts, None);
        assert_eq!(values(&c, "aws:SourceIp"), ["10.1.2.3"]);
        assert_eq!(values(&c, "aws:SecureTransport"), ["false"]);
        assert_eq!(values(&c, "aws:CurrentTime"), ["2026-12-07T10:00:00Z"]);
        assert_eq!(values(&c, "s3:prefix"), ["photos/2026"]);
        assert_eq!(values(&c, "s3:delimiter"), ["/"]);
        assert_eq!(values(&c, "s3:max-keys"), ["10"]);
        assert_eq!(values(&c, "s3:x-amz-server-side-encryption"), ["AES256"]);
        assert_eq!(values(&c, "s3:RequestObjectTag/team"), ["red"]);
        assert_eq!(values(&c, "s3:RequestObjectTag/tier 1"), ["gold"]);
        assert_eq!(values(&c, "s3:RequestObjectTagKeys"), ["team", "tier 1"]);
        assert_eq!(values(&c, "aws:UserAgent"), ["aws-cli/2"]);
        assert_eq!(values(&c, "s3:authType"), ["REST-HEADER"]);
        assert_eq!(values(&c, "s3:signatureversion"), ["AWS4-HMAC-SHA256"]);
        assert_eq!(values(&c, "aws:username"), ["ALICE"]);
        let empty = http::HeaderMap::new();
        let anonymous = context(
            &Facts {
                peer: None,
                tls: true,
                headers: &empty,
                query: None,
                caller: None,
                now,
            },
            None,
        );
        // Only the keys a policy names are read.
        let wanted: BTreeSet<String> = ["aws:sourceip".to_string()].into();
        let few = context(&facts, Some(&wanted));
        assert_eq!(values(&few, "aws:SourceIp"), ["10.1.2.3"]);
        assert!(values(&few, "s3:prefix").is_empty() && values(&few, "aws:CurrentTime").is_empty());
        assert_eq!(values(&anonymous, "aws:PrincipalType"), ["Anonymous"]);
        assert!(values(&anonymous, "s3:authType").is_empty());
        assert_eq!(values(&anonymous, "aws:SecureTransport"), ["true"]);
    }
}
