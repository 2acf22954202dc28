//! Static-website buckets, the pure part: which bucket a website request's `Host` names, the
//! key a path serves (the index document under a folder), and where the bucket's redirects and
//! routing rules send a request, before the object is read and after it failed. The I/O lives
//! in `website_front`.

use node_api::model::{BucketWebsite, WebsiteRedirect};

/// What a request gets before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum First {
    /// A redirect: `Location` and status.
    Redirect(String, u16),
    /// Read this object key.
    Serve(String),
}

/// The bucket of a website request to `host` (its port dropped): `<bucket>.<domain>`, or the
/// whole host name when it is not under `domain` (a CNAME named as the bucket, as on S3).
pub fn bucket_of<'a>(host: &'a str, domain: &str) -> &'a str {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    match host
        .strip_suffix(domain)
        .and_then(|rest| rest.strip_suffix('.'))
    {
        Some(bucket) if !bucket.is_empty() => bucket,
        _ => host,
    }
}

/// The object key a request path's key names: the index document under a folder (the root
/// included).
pub fn with_index(site: &BucketWebsite, key: &str) -> String {
    match &site.index_suffix {
        Some(suffix) if key.is_empty() || key.ends_with('/') => format!("{key}{suffix}"),
        _ => key.to_string(),
    }
}

/// Where `redirect` sends a request for `key` (a rule's condition matched `prefix`), made to
/// `host` over `scheme`.
pub fn location(
    redirect: &WebsiteRedirect,
    key: &str,
    prefix: &str,
    host: &str,
    scheme: &str,
) -> String {
    let scheme = redirect.protocol.as_deref().unwrap_or(scheme);
    let host = redirect.host_name.as_deref().unwrap_or(host);
    let key = match (
        &redirect.replace_key_with,
        &redirect.replace_key_prefix_with,
    ) {
        (Some(whole), _) => whole.clone(),
        (None, Some(new_prefix)) => {
            format!("{new_prefix}{}", key.strip_prefix(prefix).unwrap_or(key))
        }
        (None, None) => key.to_string(),
    };
    format!("{scheme}://{host}/{key}")
}

fn status_of(redirect: &WebsiteRedirect) -> u16 {
    redirect.http_redirect_code.unwrap_or(301)
}

/// What a request for `key` (the path's, before the index document) gets first: a redirect
/// of every request, one of a rule that needs no error, or the object to read.
pub fn first(site: &BucketWebsite, key: &str, host: &str, scheme: &str) -> First {
    if let Some(all) = &site.redirect_all {
        let scheme = all.protocol.as_deref().unwrap_or(scheme);
        return First::Redirect(format!("{scheme}://{}/{key}", all.host_name), 301);
    }
    for rule in &site.rules {
        if rule.error_code.is_none() && key.starts_with(rule.prefix.as_deref().unwrap_or("")) {
            let prefix = rule.prefix.as_deref().unwrap_or("");
            return First::Redirect(
                location(&rule.redirect, key, prefix, host, scheme),
                status_of(&rule.redirect),
            );
        }
    }
    First::Serve(with_index(site, key))
}

/// Where a rule sends a request for `key` that failed with `status`, if one does.
pub fn after_error(
    site: &BucketWebsite,
    key: &str,
    status: u16,
    host: &str,
    scheme: &str,
) -> Option<(String, u16)> {
    site.rules.iter().find_map(|rule| {
        let prefix = rule.prefix.as_deref().unwrap_or("");
        (rule.error_code == Some(status) && key.starts_with(prefix)).then(|| {
            (
                location(&rule.redirect, key, prefix, host, scheme),
                status_of(&rule.redirect),
            )
        })
    })
}

/// The HTML page of a failed website request, as S3's website endpoints write it.
pub fn error_page(
    status: u16,
    reason: &str,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<html>\n<head><title>{status} {reason}</title></head>\n<body>\n<h1>{status} {reason}</h1>\n<ul>\n<li>Code: {}</li>\n<li>Message: {}</li>\n<li>RequestId: {}</li>\n</ul>\n<hr/>\n</body>\n</html>\n",
        escape(code),
        escape(message),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use node_api::model::{RedirectAll, WebsiteRule};
    use proptest::prelude::*;

    fn site() -> BucketWebsite {
        BucketWebsite {
            index_suffix: Some("index.html".into()),
            error_key: Some("error.html".into()),
            redirect_all: None,
            rules: vec![
                WebsiteRule {
                    prefix: Some("docs/".into()),
                    error_code: None,
                    redirect: WebsiteRedirect {
                        replace_key_prefix_with: Some("documents/".into()),
                        ..Default::default()
                    },
                },
                WebsiteRule {
                    prefix: None,
                    error_code: Some(404),
                    redirect: WebsiteRedirect {
                        host_name: Some("elsewhere.example".into()),
                        protocol: Some("https".into()),
                        replace_key_prefix_with: Some("missing/".into()),
                        http_redirect_code: Some(302),
                        ..Default::default()
                    },
                },
            ],
        }
    }

    #[test]
    fn hosts_name_buckets() {
        assert_eq!(
            bucket_of("site.web.localhost:9080", "web.localhost"),
            "site"
        );
        assert_eq!(bucket_of("a.b.web.localhost", "web.localhost"), "a.b");
        assert_eq!(
            bucket_of("www.example.com", "web.localhost"),
            "www.example.com"
        );
        assert_eq!(bucket_of("web.localhost", "web.localhost"), "web.localhost");
    }

    #[test]
    fn folders_get_their_index_and_rules_redirect() {
        let s = site();
        assert_eq!(
            first(&s, "", "h", "http"),
            First::Serve("index.html".into())
        );
        assert_eq!(
            first(&s, "a/", "h", "http"),
            First::Serve("a/index.html".into())
        );
        assert_eq!(
            first(&s, "a/b.css", "h", "http"),
            First::Serve("a/b.css".into())
        );
        assert_eq!(
            first(&s, "docs/x/y.html", "h:1", "http"),
            First::Redirect("http://h:1/documents/x/y.html".into(), 301)
        );
        assert_eq!(
            after_error(&s, "old/page", 404, "h", "http"),
            Some(("https://elsewhere.example/missing/old/page".into(), 302))
        );
        assert_eq!(after_error(&s, "old/page", 403, "h", "http"), None);
    }

    #[test]
    fn redirect_all_sends_everything() {
        let s = BucketWebsite {
            redirect_all: Some(RedirectAll {
                host_name: "new.example".into(),
                protocol: None,
            }),
            ..site()
        };
        assert_eq!(
            first(&s, "a/b", "h", "https"),
            First::Redirect("https://new.example/a/b".into(), 301)
        );
    }

    #[test]
    fn the_error_page_escapes_what_it_shows() {
        let page = error_page(404, "Not Found", "NoSuchKey", "<script>", "R1");
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }

    proptest! {
        #[test]
        fn a_prefix_rule_keeps_the_rest_of_the_key(rest in "[a-z0-9/._-]{0,30}") {
            let key = format!("docs/{rest}");
            prop_assert_eq!(
                first(&site(), &key, "h", "http"),
                First::Redirect(format!("http://h/documents/{rest}"), 301)
            );
        }

        #[test]
        fn served_keys_never_end_in_a_slash(key in "[a-z/]{0,20}") {
            match first(&site(), &key, "h", "http") {
                First::Serve(k) => prop_assert!(!k.ends_with('/') && !k.is_empty()),
                First::Redirect(..) => prop_assert!(key.starts_with("docs/")),
            }
        }
    }
}
