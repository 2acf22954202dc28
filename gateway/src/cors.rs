//! CORS as S3 applies a bucket's rules (pure): checking rules when they are put, answering a
//! preflight `OPTIONS`, and the headers of an actual request from a browser origin.
//!
//! A rule matches when one of its `AllowedOrigin`s matches the request's `Origin` (at most one
//! `*` wildcard each), its `AllowedMethod`s include the method, and, for a preflight, every
//! header named in `Access-Control-Request-Headers` matches one of its `AllowedHeader`s
//! (case-insensitive, one `*` each). The first matching rule answers.

use node_api::model::CorsRule;

use crate::policy::pattern::glob;

/// The methods a rule may allow.
const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];
/// Rules a bucket may have.
const MAX_RULES: usize = 100;

/// Why a CORS configuration is refused (InvalidRequest, or MalformedXML for no rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    NoRules,
}

/// Checks rules as S3 checks them.
pub fn check(rules: &[CorsRule]) -> Result<(), Refused> {
    if rules.is_empty() {
        return Err(Refused::NoRules);
    }
    if rules.len() > MAX_RULES {
        return Err(Refused::Invalid(format!(
            "The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules."
        )));
    }
    for rule in rules {
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(Refused::NoRules);
        }
        if let Some(m) = rule
            .allowed_methods
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(Refused::Invalid(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if let Some(o) = rule
            .allowed_origins
            .iter()
            .find(|o| o.matches('*').count() > 1)
        {
            return Err(Refused::Invalid(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            )));
        }
        if let Some(h) = rule
            .allowed_headers
            .iter()
            .find(|h| h.matches('*').count() > 1)
        {
            return Err(Refused::Invalid(format!(
                "AllowedHeader \"{h}\" can not have more than one wildcard."
            )));
        }
        if rule.id.as_ref().is_some_and(|id| id.len() > 255) {
            return Err(Refused::Invalid(
                "The ID of a CORS rule is at most 255 characters".to_string(),
            ));
        }
    }
    Ok(())
}

/// The CORS headers of a response, by name.
pub type Headers = Vec<(&'static str, String)>;

fn origin_matches(rule: &CorsRule, origin: &str) -> bool {
    rule.allowed_origins
        .iter()
        .any(|o| glob(o.as_bytes(), origin.as_bytes()))
}

fn header_allowed(rule: &CorsRule, header: &str) -> bool {
    let header = header.to_ascii_lowercase();
    rule.allowed_headers
        .iter()
        .any(|h| glob(h.to_ascii_lowercase().as_bytes(), header.as_bytes()))
}

/// The headers every matching answer carries.
fn common(rule: &CorsRule, origin: &str) -> Headers {
    let mut out = Vec::new();
    if rule.allowed_origins.iter().any(|o| o == "*") {
        out.push(("access-control-allow-origin", "*".to_string()));
    } else {
        out.push(("access-control-allow-origin", origin.to_string()));
        out.push(("access-control-allow-credentials", "true".to_string()));
    }
    out.push((
        "access-control-allow-methods",
        rule.allowed_methods.join(", "),
    ));
    if !rule.expose_headers.is_empty() {
        out.push((
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(age) = rule.max_age_seconds {
        out.push(("access-control-max-age", age.to_string()));
    }
    out
}

/// The answer to a preflight: `None` when no rule allows it (S3 answers 403).
pub fn preflight(
    rules: &[CorsRule],
    origin: &str,
    method: &str,
    request_headers: Option<&str>,
) -> Option<Headers> {
    let asked: Vec<&str> = request_headers
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let rule = rules.iter().find(|r| {
        origin_matches(r, origin)
            && r.allowed_methods.iter().any(|m| m == method)
            && asked.iter().all(|h| header_allowed(r, h))
    })?;
    let mut out = common(rule, origin);
    if !asked.is_empty() {
        out.push(("access-control-allow-headers", asked.join(", ")));
    }
    out.push((
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string(),
    ));
    Some(out)
}

/// The headers of an actual request from `origin` with `method`; `None` when no rule matches
/// (the response goes out without CORS headers and the browser withholds it).
pub fn actual(rules: &[CorsRule], origin: &str, method: &str) -> Option<Headers> {
    let rule = rules
        .iter()
        .find(|r| origin_matches(r, origin) && r.allowed_methods.iter().any(|m| m == method))?;
    let mut out = common(rule, origin);
    out.push((
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string(),
    ));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(600),
            id: None,
        }
    }

    fn get<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn checks() {
        assert_eq!(check(&[]), Err(Refused::NoRules));
        assert!(check(&[rule(&["*"], &["GET"], &[])]).is_ok());
        assert!(
            matches!(check(&[rule(&["*"], &["PATCH"], &[])]), Err(Refused::Invalid(m)) if m.contains("PATCH"))
        );
        assert!(check(&[rule(&["https://*.*.example"], &["GET"], &[])]).is_err());
        assert!(check(&[rule(&["*"], &["GET"], &["x-*-*"])]).is_err());
        let many: Vec<CorsRule> = (0..101).map(|_| rule(&["*"], &["GET"], &[])).collect();
        assert!(check(&many).is_err());
    }

    #[test]
    fn preflight_and_actual() {
        let rules = [
            rule(
                &["https://app.example"],
                &["PUT", "POST"],
                &["content-type", "x-amz-*"],
            ),
            rule(&["https://*.example"], &["GET"], &[]),
            rule(&["*"], &["HEAD"], &["*"]),
        ];
        let p = preflight(
            &rules,
            "https://app.example",
            "PUT",
            Some("Content-Type, X-Amz-Date"),
        )
        .unwrap();
        assert_eq!(
            get(&p, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(get(&p, "access-control-allow-methods"), Some("PUT, POST"));
        assert_eq!(
            get(&p, "access-control-allow-headers"),
            Some("Content-Type, X-Amz-Date")
        );
        assert_eq!(get(&p, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(&p, "access-control-max-age"), Some("600"));
        assert!(preflight(&rules, "https://app.example", "PUT", Some("authorization")).is_none());
        assert!(preflight(&rules, "https://evil.test", "PUT", None).is_none());
        assert!(preflight(&rules, "https://app.example", "DELETE", None).is_none());
        let g = preflight(&rules, "https://www.example", "GET", None).unwrap();
        assert_eq!(
            get(&g, "access-control-allow-origin"),
            Some("https://www.example")
        );
        let h = preflight(&rules, "https://anything", "HEAD", Some("x-custom")).unwrap();
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
        let a = actual(&rules, "https://app.example", "PUT").unwrap();
        assert_eq!(get(&a, "access-control-expose-headers"), Some("ETag"));
        assert!(actual(&rules, "https://app.example", "DELETE").is_none());
    }

    proptest! {
        /// A preflight is allowed exactly when some rule allows its origin, method and
        /// every requested header; an actual request whenever its origin and method are.
        #[test]
        fn answers_follow_the_rules(
            origin in "https://(a|b|c)\\.(x|y)",
            method in prop_oneof![Just("GET"), Just("PUT"), Just("DELETE")],
            header in proptest::option::of("(x-a|x-b|content-type)"),
            allow in proptest::collection::vec(("https://(a|\\*)\\.(x|\\*)", prop_oneof![Just("GET"), Just("PUT")], "(x-\\*|content-type)"), 0..4),
        ) {
            let rules: Vec<CorsRule> = allow.iter().map(|(o, m, h)| rule(&[o], &[m], &[h])).collect();
            let expected = rules.iter().any(|r| {
                glob(r.allowed_origins[0].as_bytes(), origin.as_bytes())
                    && r.allowed_methods[0] == method
                    && header.as_ref().is_none_or(|h| glob(r.allowed_headers[0].as_bytes(), h.as_bytes()))
            });
            prop_assert_eq!(preflight(&rules, &origin, method, header.as_deref()).is_some(), expected);
            if expected {
                prop_assert!(actual(&rules, &origin, method).is_some());
            }
        }
    }
}
