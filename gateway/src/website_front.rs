//! The website endpoint of static-website buckets (`website: { listen, domain }` in the
//! gateway's configuration): anonymous GET and HEAD of `http://<bucket>.<domain>/<path>` (or of
//! a host named as the bucket), answered as the bucket's website configuration says: the index
//! document of a folder, redirects and routing rules, the error document (HTML pages when there
//! is none).
//!
//! Every object read is an anonymous S3 GET through the same front as the S3 endpoint, so the
//! bucket's policy, ACLs and public access block decide what the site may serve, and ranges and
//! conditional requests work as there. Where to redirect is pure logic (`crate::website`).

use std::sync::Arc;

use node_api::model::BucketWebsite;
use s3s::Body;

use crate::bucket_cache::BucketCache;
use crate::cluster::Cluster;
use crate::metrics::GatewayMetrics;
use crate::server::Front;
use crate::website::{self, First};

/// The request headers a website read passes on to the object read.
const PASSED_ON: [http::HeaderName; 5] = [
    http::header::RANGE,
    http::header::IF_MATCH,
    http::header::IF_NONE_MATCH,
    http::header::IF_MODIFIED_SINCE,
    http::header::IF_UNMODIFIED_SINCE,
];

/// What the website listener needs besides the S3 front.
pub struct Website {
    pub domain: String,
    pub buckets: Arc<BucketCache>,
    pub cluster: Arc<Cluster>,
}

/// Bytes of a key kept as they are in a path (the rest percent-encoded).
const PATH_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn page(status: http::StatusCode, code: &str, message: &str, head: bool) -> http::Response<Body> {
    let request_id = format!("{:016X}", rand::random::<u64>());
    let html = website::error_page(
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        code,
        message,
        &request_id,
    );
    let mut r = http::Response::new(if head {
        Body::empty()
    } else {
        Body::from(html)
    });
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn redirect(location: &str, status: u16) -> http::Response<Body> {
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::MOVED_PERMANENTLY);
    if let Ok(v) = http::HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// The `<Code>` and `<Message>` of an S3 error document.
fn error_fields(xml: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(xml);
    let field = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        text.split_once(&open)
            .and_then(|(_, rest)| rest.split_once(&close))
            .map(|(v, _)| v.to_string())
            .unwrap_or_default()
    };
    (field("Code"), field("Message"))
}

impl Website {
    /// The answer to a request on the website listener.
    pub async fn answer(
        &self,
        front: &Front,
        metrics: &GatewayMetrics,
        req: http::Request<Body>,
    ) -> http::Response<Body> {
        let head = req.method() == http::Method::HEAD;
        if req.method() != http::Method::GET && !head {
            return page(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                false,
            );
        }
        let host = crate::virtual_host::host_of(&req).to_string();
        let bucket = website::bucket_of(&host, &self.domain).to_string();
        let site = match self.buckets.read(&self.cluster, &bucket).await {
            Err(_) => {
                return page(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "Please reduce your request rate.",
                    head,
                )
            }
            Ok(None) => {
                return page(
                    http::StatusCode::NOT_FOUND,
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                    head,
                )
            }
            Ok(Some(b)) => match &b.record.config.website {
                Some(site) => site.clone(),
                None => {
                    return page(
                        http::StatusCode::NOT_FOUND,
                        "NoSuchWebsiteConfiguration",
                        "The specified bucket does not have a website configuration",
                        head,
                    )
                }
            },
        };
        let path = req.uri().path().trim_start_matches('/');
        let key = percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned();
        let object_key = match website::first(&site, &key, &host, "http") {
            First::Redirect(location, status) => return redirect(&location, status),
            First::Serve(k) => k,
        };
        let read = Read {
            front,
            metrics,
            bucket: &bucket,
            original: &req,
        };
        let response = read.object(&object_key, req.method().clone(), true).await;
        // An object stored with `x-amz-website-redirect-location` redirects, as on S3.
        if response.status().is_success() {
            if let Some(location) = response
                .headers()
                .get("x-amz-website-redirect-location")
                .and_then(|v| v.to_str().ok())
            {
                return redirect(location, 301);
            }
        }
        let status = response.status();
        if !status.is_client_error()
            || status == http::StatusCode::PRECONDITION_FAILED
            || status == http::StatusCode::RANGE_NOT_SATISFIABLE
        {
            return response;
        }
        self.after_error(&site, &read, &key, &host, response, head)
            .await
    }

    /// What a failed read of `key` becomes: a folder's redirect to its trailing slash, a
    /// routing rule's redirect, the error document, or an HTML page.
    async fn after_error(
        &self,
        site: &BucketWebsite,
        read: &Read<'_>,
        key: &str,
        host: &str,
        failed: http::Response<Body>,
        head: bool,
    ) -> http::Response<Body> {
        let status = failed.status();
        if let Some(suffix) = &site.index_suffix {
            if !key.is_empty() && !key.ends_with('/') {
                let folder_index = format!("{key}/{suffix}");
                if read
                    .object(&folder_index, http::Method::HEAD, false)
                    .await
                    .status()
                    .is_success()
                {
                    return redirect(&format!("/{key}/"), 302);
                }
            }
        }
        if let Some((location, code)) =
            website::after_error(site, key, status.as_u16(), host, "http")
        {
            return redirect(&location, code);
        }
        if let Some(error_key) = &site.error_key {
            let mut doc = read.object(error_key, http::Method::GET, false).await;
            if doc.status().is_success() {
                *doc.status_mut() = status;
                if head {
                    *doc.body_mut() = Body::empty();
                }
                return doc;
            }
        }
        let body = http_body_util::BodyExt::collect(failed.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let (code, message) = error_fields(&body);
        page(status, &code, &message, head)
    }
}

/// Anonymous object reads for one website request.
struct Read<'a> {
    front: &'a Front,
    metrics: &'a GatewayMetrics,
    bucket: &'a str,
    original: &'a http::Request<Body>,
}

impl Read<'_> {
    /// An anonymous `method` of `key` through the S3 front, passing on the original request's
    /// range and conditions when `pass_on`.
    async fn object(&self, key: &str, method: http::Method, pass_on: bool) -> http::Response<Body> {
        let path = format!(
            "/{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(key, PATH_KEEP)
        );
        let mut req = http::Request::new(Body::empty());
        *req.method_mut() = method;
        match path.parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                return page(
                    http::StatusCode::BAD_REQUEST,
                    "InvalidURI",
                    "Couldn't parse the specified URI.",
                    false,
                )
            }
        }
        // A host that names no bucket: the path does.
        req.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_static("127.0.0.1"),
        );
        if pass_on {
            for name in &PASSED_ON {
                if let Some(v) = self.original.headers().get(name) {
                    req.headers_mut().insert(name.clone(), v.clone());
                }
            }
        }
        if let Some(t) = self.original.extensions().get::<crate::s3::Transport>() {
            req.extensions_mut().insert(*t);
        }
        // Boxed: the website front calls the front that called it.
        Box::pin(crate::server::handle(self.front, self.metrics, req)).await
    }
}
