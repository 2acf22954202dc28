//! The admin API's routes: one table ([`ROUTES`]) of method, path and operation, which the
//! router is built from and `openapi/admin-v1.yaml` is checked against (a test), and the
//! dispatch of a request to its [`Admin`] operation with its JSON answer.

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::api;
use super::service::{Admin, AdminError};

/// Where the admin API lives.
pub const PREFIX: &str = "/admin/v1";

/// An admin operation (its `operationId` in the OpenAPI file is [`Op::id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    GetCluster,
    GetMap,
    ApplyMap,
    ListNodes,
    ListBuckets,
    GetBucket,
    SetQuota,
    DeleteQuota,
    SetPublic,
    ListKeys,
    CreateKey,
    GetKey,
    DeleteKey,
    Grant,
    Revoke,
    ListKmsKeys,
    ListJobs,
    StopJob,
    StartJob,
    Repair,
    GetRotation,
    Rotate,
}

/// One route: `path` is below [`PREFIX`], with `{name}` for a path segment.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub op: Op,
}

const fn route(method: Method, path: &'static str, op: Op) -> Route {
    Route { method, path, op }
}

/// Every route of the admin API.
pub const ROUTES: &[Route] = &[
    route(Method::GET, "/cluster", Op::GetCluster),
    route(Method::GET, "/cluster/map", Op::GetMap),
    route(Method::PUT, "/cluster/map", Op::ApplyMap),
    route(Method::GET, "/nodes", Op::ListNodes),
    route(Method::GET, "/buckets", Op::ListBuckets),
    route(Method::GET, "/buckets/{bucket}", Op::GetBucket),
    route(Method::PUT, "/buckets/{bucket}/quota", Op::SetQuota),
    route(Method::DELETE, "/buckets/{bucket}/quota", Op::DeleteQuota),
    route(Method::PUT, "/buckets/{bucket}/public", Op::SetPublic),
    route(Method::GET, "/keys", Op::ListKeys),
    route(Method::POST, "/keys", Op::CreateKey),
    route(Method::GET, "/keys/{id}", Op::GetKey),
    route(Method::DELETE, "/keys/{id}", Op::DeleteKey),
    route(Method::PUT, "/keys/{id}/grants/{bucket}", Op::Grant),
    route(Method::DELETE, "/keys/{id}/grants/{bucket}", Op::Revoke),
    route(Method::GET, "/kms-keys", Op::ListKmsKeys),
    route(Method::GET, "/jobs", Op::ListJobs),
    route(Method::POST, "/jobs/{job}/stop", Op::StopJob),
    route(Method::POST, "/jobs/{job}/start", Op::StartJob),
    route(Method::POST, "/repair", Op::Repair),
    route(Method::GET, "/rotate", Op::GetRotation),
    route(Method::POST, "/rotate", Op::Rotate),
];

impl Op {
    /// The operation's `operationId`.
    pub fn id(self) -> &'static str {
        match self {
            Op::GetCluster => "getCluster",
            Op::GetMap => "getClusterMap",
            Op::ApplyMap => "applyClusterMap",
            Op::ListNodes => "listNodes",
            Op::ListBuckets => "listBuckets",
            Op::GetBucket => "getBucket",
            Op::SetQuota => "setBucketQuota",
            Op::DeleteQuota => "deleteBucketQuota",
            Op::SetPublic => "setBucketPublic",
            Op::ListKeys => "listKeys",
            Op::CreateKey => "createKey",
            Op::GetKey => "getKey",
            Op::DeleteKey => "deleteKey",
            Op::Grant => "grant",
            Op::Revoke => "revoke",
            Op::ListKmsKeys => "listKmsKeys",
            Op::ListJobs => "listJobs",
            Op::StopJob => "stopJob",
            Op::StartJob => "startJob",
            Op::Repair => "repair",
            Op::GetRotation => "getRotation",
            Op::Rotate => "rotate",
        }
    }
}

/// The paths of [`ROUTES`], matched by `matchit`.
pub struct Router {
    paths: matchit::Router<&'static str>,
}

impl Router {
    pub fn new() -> Router {
        let mut paths = matchit::Router::new();
        for r in ROUTES {
            // Several methods share a path; the first insert of a path is enough.
            let _ = paths.insert(r.path, r.path);
        }
        Router { paths }
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

/// An answer: a status and its JSON body (none for 204).
pub struct Answer {
    pub status: StatusCode,
    pub body: Option<Vec<u8>>,
    /// For 405: the methods the path has.
    pub allow: Option<String>,
}

impl Answer {
    fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Answer {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Answer {
                status,
                body: Some(body),
                allow: None,
            },
            Err(e) => Answer::error(&AdminError::Unavailable(format!("encoding: {e}"))),
        }
    }

    fn ok<T: serde::Serialize>(value: &T) -> Answer {
        Answer::json(StatusCode::OK, value)
    }

    pub fn error(e: &AdminError) -> Answer {
        Answer::json(
            e.status(),
            &api::ApiError {
                code: e.code().to_string(),
                message: e.to_string(),
            },
        )
    }

    fn no_content() -> Answer {
        Answer {
            status: StatusCode::NO_CONTENT,
            body: None,
            allow: None,
        }
    }
}

/// The request body as `T`.
fn body_as<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body)
        .map_err(|e| AdminError::BadRequest(format!("the request body: {e}")))
}

/// Answers `method path` (the path below [`PREFIX`]) with `body`.
pub async fn dispatch(
    admin: &Admin,
    router: &Router,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Answer {
    let Ok(found) = router.paths.at(path) else {
        return Answer::error(&AdminError::NotFound(format!(
            "no admin route {PREFIX}{path}"
        )));
    };
    let pattern = *found.value;
    let Some(route) = ROUTES
        .iter()
        .find(|r| r.path == pattern && r.method == method)
    else {
        let allow: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == pattern)
            .map(|r| r.method.as_str())
            .collect();
        let mut answer = Answer::json(
            StatusCode::METHOD_NOT_ALLOWED,
            &api::ApiError {
                code: "MethodNotAllowed".to_string(),
                message: format!("{PREFIX}{path} takes {}", allow.join(", ")),
            },
        );
        answer.allow = Some(allow.join(", "));
        return answer;
    };
    let param = |name: &str| found.params.get(name).unwrap_or_default().to_string();
    match run(admin, route.op, param, body).await {
        Ok(answer) => answer,
        Err(e) => Answer::error(&e),
    }
}

/// Runs operation `op` with the path's parameters (`param`) and the request body.
async fn run(
    admin: &Admin,
    op: Op,
    param: impl Fn(&str) -> String,
    body: &[u8],
) -> Result<Answer, AdminError> {
    Ok(match op {
        Op::GetCluster => Answer::ok(&admin.cluster_status().await),
        Op::GetMap => Answer::ok(&admin.map()),
        Op::ApplyMap => Answer::ok(&admin.apply_map(body_as(body)?).await?),
        Op::ListNodes => Answer::ok(&admin.nodes().await),
        Op::ListBuckets => Answer::ok(&admin.buckets().await?),
        Op::GetBucket => Answer::ok(&admin.bucket(&param("bucket")).await?),
        Op::SetQuota => Answer::ok(&admin.set_quota(&param("bucket"), body_as(body)?).await?),
        Op::DeleteQuota => Answer::ok(
            &admin
                .set_quota(&param("bucket"), api::Quota::default())
                .await?,
        ),
        Op::SetPublic => Answer::ok(&admin.set_public(&param("bucket"), body_as(body)?).await?),
        Op::ListKeys => Answer::ok(&admin.keys().await?),
        Op::CreateKey => {
            // No body: a key with a generated id.
            let new = match body.iter().all(u8::is_ascii_whitespace) {
                true => api::NewKey::default(),
                false => body_as(body)?,
            };
            Answer::json(StatusCode::CREATED, &admin.create_key(new).await?)
        }
        Op::GetKey => Answer::ok(&admin.key(&param("id")).await?),
        Op::DeleteKey => {
            admin.delete_key(&param("id")).await?;
            Answer::no_content()
        }
        Op::Grant => Answer::ok(
            &admin
                .grant(&param("id"), &param("bucket"), body_as(body)?)
                .await?,
        ),
        Op::Revoke => Answer::ok(&admin.revoke(&param("id"), &param("bucket")).await?),
        Op::ListKmsKeys => Answer::ok(&admin.kms_keys().await?),
        Op::ListJobs => Answer::ok(&admin.jobs().await?),
        Op::StopJob => Answer::ok(&admin.set_job(&param("job"), false).await?),
        Op::StartJob => Answer::ok(&admin.set_job(&param("job"), true).await?),
        Op::Repair => Answer::ok(&admin.repair().await),
        Op::GetRotation => Answer::ok(&admin.rotate_status().await?),
        Op::Rotate => Answer::ok(&admin.rotate().await),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_found_and_operation_ids_are_unique() {
        let router = Router::new();
        let mut ids = std::collections::BTreeSet::new();
        for r in ROUTES {
            let concrete = r
                .path
                .replace("{bucket}", "b")
                .replace("{id}", "K")
                .replace("{job}", "repair");
            let found = router.paths.at(&concrete).unwrap();
            assert_eq!(*found.value, r.path);
            assert!(ids.insert(r.op.id()), "{} twice", r.op.id());
        }
        assert!(router.paths.at("/nope").is_err());
        assert!(router.paths.at("/keys/K/grants").is_err());
    }

    /// The OpenAPI file documents exactly the routes served: every (method, path,
    /// operationId) of one is in the other.
    #[test]
    fn the_openapi_file_matches_the_routes() {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../openapi/admin-v1.yaml")).unwrap();
        assert_eq!(doc["servers"][0]["url"].as_str(), Some(PREFIX));
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_mapping().unwrap() {
            for (method, op) in item.as_mapping().unwrap() {
                let method = method.as_str().unwrap();
                if method == "parameters" {
                    continue;
                }
                documented.insert((
                    method.to_uppercase(),
                    path.as_str().unwrap().to_string(),
                    op["operationId"].as_str().unwrap().to_string(),
                ));
            }
        }
        let served: std::collections::BTreeSet<_> = ROUTES
            .iter()
            .map(|r| {
                (
                    r.method.to_string(),
                    r.path.to_string(),
                    r.op.id().to_string(),
                )
            })
            .collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(missing.is_empty(), "served, not documented: {missing:?}");
        assert!(extra.is_empty(), "documented, not served: {extra:?}");
    }
}
