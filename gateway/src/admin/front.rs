//! The admin listener: the admin API under `/admin/v1/` (every request carries
//! `Authorization: Bearer <token>`, compared in constant time) and the web console under
//! `/console/` (static pages that need no token to load; their scripts send the token the
//! operator types, kept in the tab's session storage, so the console works with no cookie and
//! cannot be driven by another site). Every API request is logged (method, path, status),
//! never its token.

use std::sync::Arc;

use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use s3s::Body;
use subtle::ConstantTimeEq as _;

use super::routes::{self, Answer, Router, PREFIX};
use super::service::{Admin, AdminError};
use crate::server::Handler;

/// The largest request body the admin API reads (a cluster map of thousands of nodes fits).
const MAX_BODY: usize = 4 << 20;

/// Serves the admin API and the console.
#[derive(Clone)]
pub struct AdminFront {
    admin: Admin,
    router: Arc<Router>,
    /// SHA-256 of the token: compared in constant time, at a fixed length.
    token_digest: Arc<[u8; 32]>,
}

fn digest(text: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, text);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl AdminFront {
    pub fn new(admin: Admin, token: &str) -> AdminFront {
        AdminFront {
            admin,
            router: Arc::new(Router::new()),
            token_digest: Arc::new(digest(token.as_bytes())),
        }
    }

    /// Whether `req` carries the admin token.
    fn authorized<B>(&self, req: &http::Request<B>) -> bool {
        let Some(given) = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        bool::from(digest(given.trim().as_bytes()).ct_eq(&*self.token_digest))
    }

    async fn api(&self, req: http::Request<Body>, path: &str) -> http::Response<Body> {
        if !self.authorized(&req) {
            let mut r = to_response(Answer::error(&AdminError::Unauthorized(
                "give the admin token as `Authorization: Bearer <token>`".to_string(),
            )));
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"s3store-admin\""),
            );
            return r;
        }
        let method = req.method().clone();
        let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return to_response(Answer::error(&AdminError::BadRequest(format!(
                    "the request body: {e}"
                ))))
            }
        };
        to_response(routes::dispatch(&self.admin, &self.router, &method, path, &body).await)
    }
}

impl Handler for AdminFront {
    async fn answer(&self, req: http::Request<Body>) -> http::Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let response = if let Some(rest) = path.strip_prefix(PREFIX) {
            self.api(req, rest).await
        } else if method == Method::GET || method == Method::HEAD {
            super::console::page(&path)
        } else {
            to_response(Answer::error(&AdminError::NotFound(format!(
                "no route {path}"
            ))))
        };
        if path.starts_with(PREFIX) {
            tracing::info!(
                target: "s3store::admin",
                method = %method,
                path,
                status = response.status().as_u16(),
            );
        }
        response
    }
}

/// The HTTP response of an answer.
fn to_response(answer: Answer) -> http::Response<Body> {
    let mut r = http::Response::new(match answer.body {
        Some(b) => Body::from(bytes::Bytes::from(b)),
        None => Body::empty(),
    });
    *r.status_mut() = answer.status;
    let headers = r.headers_mut();
    if answer.status != StatusCode::NO_CONTENT {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    if let Some(allow) = answer
        .allow
        .and_then(|a| http::HeaderValue::from_str(&a).ok())
    {
        headers.insert(http::header::ALLOW, allow);
    }
    r
}
