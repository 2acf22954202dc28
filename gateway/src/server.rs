//! The gateway's HTTP front: the `s3s` service with authentication and addressing, wrapped with
//! a request id (`x-amz-request-id`), metrics, and the unauthenticated operational routes
//! under [`OPS_PREFIX`] (`/_s3store/health`, `/_s3store/ready`, `/_s3store/metrics`): no
//! bucket name can start with `_`, so they never shadow a bucket or, path-style, an object.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use crate::virtual_host::VirtualHostDomain;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::Body;
use tokio::net::TcpListener;

use crate::auth::AccessKeys;
use crate::authorize::Authorize;
use crate::metrics::GatewayMetrics;
use crate::request_log::RequestInfo;
use crate::s3::{Gateway, Transport};

/// Where the operational routes live: a path no bucket can have (bucket names never start
/// with `_`).
pub const OPS_PREFIX: &str = "/_s3store/";

/// `health`, `ready` and `metrics` under [`OPS_PREFIX`], answered without a signature before
/// the S3 layer sees the request (which would refuse the path as a bucket name); a
/// virtual-hosted request (whose path is an object key) is never one of them.
struct OpsRoutes {
    metrics: Arc<GatewayMetrics>,
    virtual_hosts: Option<VirtualHostDomain>,
}

impl OpsRoutes {
    /// The answer to `req`, if it is an operational route.
    fn answer<B>(&self, req: &http::Request<B>) -> Option<http::Response<Body>> {
        let route = req
            .uri()
            .path()
            .strip_prefix(OPS_PREFIX)
            .filter(|r| matches!(*r, "health" | "ready" | "metrics"))?;
        if req.method() != http::Method::GET {
            return None;
        }
        let host = crate::virtual_host::host_of(req);
        if let Some(v) = &self.virtual_hosts {
            if v.bucket_of(host).is_some() {
                return None;
            }
        }
        Some(http::Response::new(match route {
            "metrics" => Body::from(self.metrics.render()),
            _ => Body::from("ok\n".to_string()),
        }))
    }
}

/// The S3 service and the operational routes in front of it; on a website listener, the
/// website endpoint in front of those.
#[derive(Clone)]
pub struct Front {
    service: S3Service,
    ops: Arc<OpsRoutes>,
    cors: Arc<crate::cors_front::CorsFront>,
    website: Option<Arc<crate::website_front::Website>>,
}

impl Front {
    /// This front behind the website endpoint `website`: what the website listener serves.
    pub fn for_website(&self, website: crate::website_front::Website) -> Front {
        Front {
            website: Some(Arc::new(website)),
            ..self.clone()
        }
    }
}

/// Access keys and their secrets.
pub type Credentials = Vec<(String, String)>;

/// Builds the S3 service and the routes in front of it.
pub fn build_service(gateway: Gateway, virtual_host_domain: Option<&str>) -> anyhow::Result<Front> {
    let metrics = gateway.cluster.metrics.clone();
    let directory = gateway.directory.clone();
    let mut cors = crate::cors_front::CorsFront {
        buckets: gateway.buckets.clone(),
        cluster: gateway.cluster.clone(),
        virtual_hosts: None,
    };
    let authorize = Authorize::new(
        directory.clone(),
        gateway.buckets.clone(),
        gateway.cluster.clone(),
    );
    let mut builder = S3ServiceBuilder::new(gateway);
    builder.set_auth(AccessKeys::new(directory));
    builder.set_access(authorize);
    builder.set_validation(crate::s3::bucket_name::BucketNames);
    let virtual_hosts = virtual_host_domain
        .map(VirtualHostDomain::new)
        .transpose()?;
    let ops = Arc::new(OpsRoutes {
        metrics,
        virtual_hosts: virtual_hosts.clone(),
    });
    cors.virtual_hosts = virtual_hosts.clone();
    if let Some(v) = virtual_hosts {
        builder.set_host(v);
    }
    Ok(Front {
        service: builder.build(),
        ops,
        cors: Arc::new(cors),
        website: None,
    })
}

/// What a listener serves: an answer to each request.
pub trait Handler: Clone + Send + Sync + 'static {
    fn answer(
        &self,
        req: http::Request<Body>,
    ) -> impl std::future::Future<Output = http::Response<Body>> + Send;
}

/// The S3 endpoint's (or the website endpoint's) handler: a front and the metrics it counts in.
#[derive(Clone)]
pub struct S3Handler {
    pub front: Front,
    pub metrics: Arc<GatewayMetrics>,
}

impl Handler for S3Handler {
    fn answer(
        &self,
        req: http::Request<Body>,
    ) -> impl std::future::Future<Output = http::Response<Body>> + Send {
        handle(&self.front, &self.metrics, req)
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends a pod it stops).
pub async fn termination_requested() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = terminate.recv() => Ok(()),
    }
}

/// Serves `handler` on `listener` until `shutdown` completes; then stops accepting (new
/// connections are refused), closes idle connections, lets the requests in flight finish for at
/// most `grace`, and returns.
pub async fn serve(
    listener: TcpListener,
    handler: impl Handler,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut shutdown = std::pin::pin!(shutdown);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let acceptor = acceptor.clone();
        // Held from the accept on: a connection still in its TLS handshake counts as in flight.
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let transport = Transport {
                        tls: false,
                        peer: Some(peer.ip()),
                    };
                    serve_connection(stream, transport, handler, watcher).await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let transport = Transport {
                            tls: true,
                            peer: Some(peer.ip()),
                        };
                        serve_connection(tls, transport, handler, watcher).await
                    }
                    Err(e) => Err(e.into()),
                },
            };
            if let Err(e) = result {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; requests in flight get {grace:?}");
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("shutting down: every request finished"),
        Err(_) => tracing::warn!("shutting down: requests still in flight after {grace:?}"),
    }
}

/// Serves one connection; every request carries how it arrived (`Transport`) in its extensions.
async fn serve_connection<IO>(
    io: IO,
    transport: Transport,
    handler: impl Handler,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let handler = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let handler = handler.clone();
        req.extensions_mut().insert(transport);
        async move { Ok::<_, Infallible>(handler.answer(req.map(Body::from)).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection = builder
        .serve_connection(TokioIo::new(io), handler)
        .into_owned();
    watcher.watch(connection).await
}

/// Answers one request: a website request, an operational route, or an S3 request.
pub(crate) async fn handle(
    front: &Front,
    metrics: &GatewayMetrics,
    mut req: http::Request<Body>,
) -> http::Response<Body> {
    if let Some(website) = &front.website {
        let s3 = Front {
            website: None,
            ..front.clone()
        };
        return website.answer(&s3, metrics, req).await;
    }
    if let Some(answer) = front.ops.answer(&req) {
        return answer;
    }
    let service = &front.service;
    let started = Instant::now();
    let method = req.method().clone();
    let request_id = format!("{:016X}", rand::random::<u64>());
    let info = RequestInfo::default();
    req.extensions_mut().insert(info.clone());
    let bytes_in = content_length(req.headers());
    let cross_origin = front.cors.cross_origin(&req);
    let refused = crate::auth_precheck::refusal(
        req.headers(),
        req.uri().query(),
        time::OffsetDateTime::now_utc(),
    );
    let answered = match refused {
        _ if method == http::Method::OPTIONS => {
            info.set(crate::request_log::Parsed {
                operation: "PreflightCors".to_string(),
                bucket: cross_origin.as_ref().map(|c| c.bucket().to_string()),
                access_key: None,
            });
            Ok(front.cors.preflight(&req).await)
        }
        Some(refusal) => {
            if !crate::s3::waits_for_continue(req.headers()) {
                let mut body = http_body_util::BodyDataStream::new(req.into_body());
                crate::objects::drain(&mut body).await;
            }
            Ok(refusal_response(&refusal))
        }
        // Boxed, as s3s's own hyper service boxes it: the S3 call's future is large, and the
        // connection's future stays small.
        None => Box::pin(service.call(req)).await,
    };
    let mut response = match answered {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(request_id, "request failed outside the S3 layer: {e:?}");
            let mut r = http::Response::new(Body::from("internal error".to_string()));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    };
    if let Some(c) = &cross_origin {
        front.cors.decorate(c, &mut response).await;
    }
    if response.status() == http::StatusCode::NOT_FOUND && info.hides_missing().await {
        response = missing_as_access_denied(&method);
    }
    if response.status().as_u16() >= 400 {
        policy_failure_as_access_denied(&mut response);
        add_request_id_to_error(&mut response, &request_id);
    }
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amz-request-id", v.clone());
        response.headers_mut().insert("x-amz-id-2", v);
    }
    let operation = info.operation();
    let status = response.status();
    let elapsed = started.elapsed();
    metrics
        .requests
        .with_label_values(&[operation, status.as_str()])
        .inc();
    metrics
        .latency
        .with_label_values(&[operation])
        .observe(elapsed.as_secs_f64());
    // One line per request (the body may still be streaming: bytes out is its length).
    tracing::info!(
        target: "s3store::access",
        request_id,
        operation,
        method = %method,
        bucket = info.bucket(),
        access_key = info.access_key(),
        status = status.as_u16(),
        bytes_in,
        bytes_out = content_length(response.headers()),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
    );
    response
}

/// The 403 S3 answers a caller that may read objects but not list the bucket, for an object
/// that does not exist (a HEAD answer has no body).
fn missing_as_access_denied(method: &http::Method) -> http::Response<Body> {
    let mut r = error_response(http::StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
    if method == http::Method::HEAD {
        *r.body_mut() = Body::empty();
    }
    r
}

/// An S3 error document answered by the HTTP layer itself (its code and message are fixed
/// texts, which need no XML escaping; the request id is added later).
pub(crate) fn error_response(
    status: http::StatusCode,
    code: &str,
    message: &str,
) -> http::Response<Body> {
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"#
    );
    let mut r = http::Response::new(Body::from(doc));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    r
}

/// The `Content-Length` of a request or response, 0 when absent.
fn content_length(headers: &http::HeaderMap) -> u64 {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The S3 error response of a request refused before the S3 layer (its body unread).
fn refusal_response(refusal: &crate::auth_precheck::Refusal) -> http::Response<Body> {
    let doc = crate::auth_precheck::body(refusal);
    let mut r = http::Response::new(Body::from(doc));
    *r.status_mut() = refusal.status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    r
}

/// A POST form whose fields break a condition of its (validly signed) policy is refused by AWS
/// with 403 AccessDenied, "Invalid according to Policy: Policy Condition failed"; `s3s` answers
/// 400 InvalidPolicyDocument, which AWS keeps for policies it cannot read.
fn policy_failure_as_access_denied(response: &mut http::Response<Body>) {
    const FROM: &[u8] = b"<Code>InvalidPolicyDocument</Code><Message>Policy condition";
    let Some(bytes) = response.body().bytes() else {
        return;
    };
    let Some(at) = bytes.windows(FROM.len()).position(|w| w == FROM) else {
        return;
    };
    let (Some(before), Some(after)) = (bytes.get(..at), bytes.get(at.saturating_add(FROM.len())..))
    else {
        return;
    };
    let mut doc = Vec::with_capacity(bytes.len().saturating_add(64));
    doc.extend_from_slice(before);
    doc.extend_from_slice(
        b"<Code>AccessDenied</Code><Message>Invalid according to Policy: Policy Condition failed:",
    );
    doc.extend_from_slice(after);
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, doc.len().into());
    *response.body_mut() = Body::from(bytes::Bytes::from(doc));
    *response.status_mut() = http::StatusCode::FORBIDDEN;
}

/// Puts `<RequestId>` and `<HostId>` into an S3 error document, as AWS does, so that a client
/// logging only the body still has the id to quote. Bodies that are not an error document are
/// left alone.
fn add_request_id_to_error(response: &mut http::Response<Body>, request_id: &str) {
    let Some(bytes) = response.body().bytes() else {
        return;
    };
    let Some(head) = bytes.strip_suffix(b"</Error>") else {
        return;
    };
    if head.windows(11).any(|w| w == b"<RequestId>") {
        return;
    }
    let mut doc = Vec::with_capacity(bytes.len().saturating_add(64));
    doc.extend_from_slice(head);
    // The id is hex that this function's caller made, so it needs no XML escaping.
    doc.extend_from_slice(
        format!("<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
            .as_bytes(),
    );
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, doc.len().into());
    *response.body_mut() = Body::from(bytes::Bytes::from(doc));
}
