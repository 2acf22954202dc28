//! The HTTP side of CORS: answers preflight `OPTIONS` requests from the bucket's rules
//! ([`crate::cors`]) before the S3 layer (which has no such operation), and adds the CORS
//! headers to the response of any request that carries an `Origin` its bucket's rules allow
//! (errors included, so a browser can read them). Preflights need no signature, as on S3.

use std::sync::Arc;

use http::{HeaderValue, Method, StatusCode};
use s3s::Body;

use crate::bucket_cache::BucketCache;
use crate::cluster::Cluster;
use crate::cors;
use crate::server::error_response;
use crate::virtual_host::VirtualHostDomain;

/// What answering CORS needs: the bucket records and how requests name buckets.
pub struct CorsFront {
    pub buckets: Arc<BucketCache>,
    pub cluster: Arc<Cluster>,
    pub virtual_hosts: Option<VirtualHostDomain>,
}

/// A request from a browser origin: its bucket, origin and method.
pub struct CrossOrigin {
    bucket: String,
    origin: String,
    method: String,
}

const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

impl CrossOrigin {
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

impl CorsFront {
    /// The bucket a request addresses: `<bucket>.<domain>`, else the path's first segment.
    fn bucket_of<B>(&self, req: &http::Request<B>) -> Option<String> {
        let host = crate::virtual_host::host_of(req);
        if let Some(b) = self.virtual_hosts.as_ref().and_then(|v| v.bucket_of(host)) {
            return Some(b.into_owned());
        }
        let first = req.uri().path().trim_start_matches('/').split('/').next()?;
        (!first.is_empty()).then(|| first.to_string())
    }

    /// The cross-origin facts of a request with an `Origin` header.
    pub fn cross_origin<B>(&self, req: &http::Request<B>) -> Option<CrossOrigin> {
        let origin = req.headers().get(http::header::ORIGIN)?.to_str().ok()?;
        Some(CrossOrigin {
            bucket: self.bucket_of(req)?,
            origin: origin.to_string(),
            method: req.method().as_str().to_string(),
        })
    }

    async fn rules(&self, bucket: &str) -> Option<Vec<node_api::model::CorsRule>> {
        let found = self.buckets.read(&self.cluster, bucket).await.ok()??;
        found.record.config.cors.clone()
    }

    /// The answer to a preflight `OPTIONS` request.
    pub async fn preflight<B>(&self, req: &http::Request<B>) -> http::Response<Body> {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let Some(origin) = header("origin") else {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            );
        };
        let Some(method) = header("access-control-request-method") else {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid Access-Control-Request-Method: null",
            );
        };
        let Some(bucket) = self.bucket_of(req) else {
            return error_response(StatusCode::FORBIDDEN, "AccessForbidden", NOT_ALLOWED);
        };
        let Some(rules) = self.rules(&bucket).await else {
            return error_response(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
            );
        };
        match cors::preflight(
            &rules,
            origin,
            method,
            header("access-control-request-headers"),
        ) {
            Some(headers) => {
                let mut r = http::Response::new(Body::empty());
                add(&mut r, headers);
                r
            }
            None => error_response(StatusCode::FORBIDDEN, "AccessForbidden", NOT_ALLOWED),
        }
    }

    /// Adds the CORS headers its bucket's rules give to the response of `request`.
    pub async fn decorate(&self, request: &CrossOrigin, response: &mut http::Response<Body>) {
        if request.method == Method::OPTIONS.as_str() {
            return;
        }
        let Some(rules) = self.rules(&request.bucket).await else {
            return;
        };
        if let Some(headers) = cors::actual(&rules, &request.origin, &request.method) {
            add(response, headers);
        }
    }
}

fn add(response: &mut http::Response<Body>, headers: cors::Headers) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
}
