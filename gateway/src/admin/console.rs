//! The web console's files: one HTML shell per page (cluster, buckets, keys, jobs), one
//! script and one style sheet, compiled into the binary (no external assets: the console works
//! with no internet). The pages hold no data; the script asks the admin API for it with the
//! token the operator types. Served with a Content-Security-Policy that allows only these
//! files, and never framed.

use s3s::Body;

const SHELL: &str = include_str!("console/page.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// The console's pages: path below `/console`, page name, title.
pub const PAGES: &[(&str, &str, &str)] = &[
    ("/", "cluster", "Cluster health"),
    ("/buckets", "buckets", "Buckets"),
    ("/keys", "keys", "Access keys and grants"),
    ("/jobs", "jobs", "Background jobs"),
];

const SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; \
     base-uri 'none'";

fn file(content_type: &'static str, body: String) -> http::Response<Body> {
    let mut r = http::Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(SECURITY_POLICY),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        http::HeaderValue::from_static("DENY"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        http::HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    r
}

fn status(status: http::StatusCode, location: Option<&'static str>) -> http::Response<Body> {
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = status;
    if let Some(l) = location {
        r.headers_mut()
            .insert(http::header::LOCATION, http::HeaderValue::from_static(l));
    }
    r
}

/// The answer to a GET of `path` outside the API: a console page or file, a redirect of `/`
/// to the console, or 404.
pub fn page(path: &str) -> http::Response<Body> {
    if path == "/" || path == "/console" {
        return status(http::StatusCode::FOUND, Some("/console/"));
    }
    let Some(rest) = path.strip_prefix("/console") else {
        return status(http::StatusCode::NOT_FOUND, None);
    };
    match rest {
        "/console.js" => file("text/javascript; charset=utf-8", SCRIPT.to_string()),
        "/console.css" => file("text/css; charset=utf-8", STYLE.to_string()),
        _ => match PAGES.iter().find(|(p, _, _)| *p == rest) {
            Some((_, name, title)) => file(
                "text/html; charset=utf-8",
                SHELL.replace("{{page}}", name).replace("{{title}}", title),
            ),
            None => status(http::StatusCode::NOT_FOUND, None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_files_and_redirects() {
        for (path, name, _) in PAGES {
            let r = page(&format!("/console{path}"));
            assert_eq!(r.status(), 200);
            let body = r.body().bytes().unwrap();
            let text = std::str::from_utf8(&body).unwrap();
            assert!(text.contains(&format!("data-page=\"{name}\"")), "{text}");
            assert!(!text.contains("{{"), "{text}");
            assert!(r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"));
        }
        assert_eq!(page("/console/console.js").status(), 200);
        assert_eq!(page("/").headers()["location"], "/console/");
        assert_eq!(page("/console/nope").status(), 404);
        assert_eq!(page("/elsewhere").status(), 404);
    }

    #[test]
    fn the_console_loads_nothing_from_elsewhere() {
        for text in [SHELL, SCRIPT, STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(
                !text.contains("innerHTML"),
                "data is put in as text, never as HTML"
            );
        }
    }
}
