//! A bucket's static-website configuration (Put/Get/DeleteBucketWebsite): an index document
//! and an error document, or a redirect of every request, and routing rules; checked as S3
//! checks them. The website endpoint that serves it is `crate::website_front`.

use node_api::model::{BucketWebsite, RedirectAll, WebsiteRedirect, WebsiteRule};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::bucket_config::change_config;
use super::fields::error_with_status;
use super::Gateway;

/// Routing rules a configuration may have, as on S3.
const MAX_RULES: usize = 50;

fn protocol(p: Option<&Protocol>) -> S3Result<Option<String>> {
    match p.map(Protocol::as_str) {
        None => Ok(None),
        Some(p @ ("http" | "https")) => Ok(Some(p.to_string())),
        Some(p) => Err(s3_error!(
            InvalidArgument,
            "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically. Given: {p}"
        )),
    }
}

fn code_in(value: &str, range: std::ops::RangeInclusive<u16>, what: &str) -> S3Result<u16> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|c| range.contains(c))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The provided {what} ({value}) is not valid."
            )
        })
}

fn rule(r: RoutingRule) -> S3Result<WebsiteRule> {
    let (prefix, error_code) = match r.condition {
        Some(c) => (
            c.key_prefix_equals,
            c.http_error_code_returned_equals
                .map(|e| code_in(&e, 400..=599, "HTTP error code"))
                .transpose()?,
        ),
        None => (None, None),
    };
    let d = r.redirect;
    if d.replace_key_with.is_some() && d.replace_key_prefix_with.is_some() {
        return Err(s3_error!(
            InvalidArgument,
            "You can only define ReplaceKeyPrefix or ReplaceKey but not both."
        ));
    }
    let http_redirect_code = d
        .http_redirect_code
        .map(|c| code_in(&c, 301..=399, "HTTP redirect code"))
        .transpose()?;
    Ok(WebsiteRule {
        prefix,
        error_code,
        redirect: WebsiteRedirect {
            host_name: d.host_name.filter(|h| !h.is_empty()),
            protocol: protocol(d.protocol.as_ref())?,
            replace_key_prefix_with: d.replace_key_prefix_with,
            replace_key_with: d.replace_key_with,
            http_redirect_code,
        },
    })
}

/// The stored form of a configuration, or S3's error for it.
fn checked(c: WebsiteConfiguration) -> S3Result<BucketWebsite> {
    let rules = c.routing_rules.unwrap_or_default();
    if let Some(all) = c.redirect_all_requests_to {
        if c.index_document.is_some() || c.error_document.is_some() || !rules.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing/Redirect configurations."
            ));
        }
        if all.host_name.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "RedirectAllRequestsTo needs a HostName"
            ));
        }
        return Ok(BucketWebsite {
            redirect_all: Some(RedirectAll {
                protocol: protocol(all.protocol.as_ref())?,
                host_name: all.host_name,
            }),
            ..Default::default()
        });
    }
    let Some(index) = c.index_document else {
        return Err(s3_error!(
            InvalidArgument,
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"
        ));
    };
    if index.suffix.is_empty() || index.suffix.contains('/') {
        return Err(s3_error!(
            InvalidArgument,
            "The IndexDocument Suffix is not well formed"
        ));
    }
    if rules.len() > MAX_RULES {
        return Err(s3_error!(
            InvalidArgument,
            "The number of routing rules must not exceed {MAX_RULES}"
        ));
    }
    Ok(BucketWebsite {
        index_suffix: Some(index.suffix),
        error_key: c.error_document.map(|e| e.key).filter(|k| !k.is_empty()),
        redirect_all: None,
        rules: rules.into_iter().map(rule).collect::<S3Result<_>>()?,
    })
}

pub(super) async fn put_bucket_website(
    gw: &Gateway,
    req: S3Request<PutBucketWebsiteInput>,
) -> S3Result<S3Response<PutBucketWebsiteOutput>> {
    let input = req.input;
    let site = checked(input.website_configuration)?;
    change_config(gw, &input.bucket, |c| c.website = Some(site.clone())).await?;
    Ok(S3Response::new(PutBucketWebsiteOutput {}))
}

pub(super) async fn get_bucket_website(
    gw: &Gateway,
    req: S3Request<GetBucketWebsiteInput>,
) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
    let record = gw.bucket(&req.input.bucket).await?;
    let Some(site) = &record.config.website else {
        return Err(error_with_status(
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
            http::StatusCode::NOT_FOUND,
        ));
    };
    let rules: Vec<RoutingRule> = site
        .rules
        .iter()
        .map(|r| RoutingRule {
            condition: (r.prefix.is_some() || r.error_code.is_some()).then(|| Condition {
                key_prefix_equals: r.prefix.clone(),
                http_error_code_returned_equals: r.error_code.map(|c| c.to_string()),
            }),
            redirect: Redirect {
                host_name: r.redirect.host_name.clone(),
                http_redirect_code: r.redirect.http_redirect_code.map(|c| c.to_string()),
                protocol: r.redirect.protocol.clone().map(Protocol::from),
                replace_key_prefix_with: r.redirect.replace_key_prefix_with.clone(),
                replace_key_with: r.redirect.replace_key_with.clone(),
            },
        })
        .collect();
    Ok(S3Response::new(GetBucketWebsiteOutput {
        index_document: site
            .index_suffix
            .clone()
            .map(|suffix| IndexDocument { suffix }),
        error_document: site.error_key.clone().map(|key| ErrorDocument { key }),
        redirect_all_requests_to: site.redirect_all.as_ref().map(|a| RedirectAllRequestsTo {
            host_name: a.host_name.clone(),
            protocol: a.protocol.clone().map(Protocol::from),
        }),
        routing_rules: (!rules.is_empty()).then_some(rules),
    }))
}

pub(super) async fn delete_bucket_website(
    gw: &Gateway,
    req: S3Request<DeleteBucketWebsiteInput>,
) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
    change_config(gw, &req.input.bucket, |c| c.website = None).await?;
    Ok(S3Response::new(DeleteBucketWebsiteOutput {}))
}
