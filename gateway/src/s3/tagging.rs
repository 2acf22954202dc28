//! Object tags: the `x-amz-tagging` header of PutObject, CreateMultipartUpload and CopyObject
//! (with `x-amz-tagging-directive`), and Put/Get/DeleteObjectTagging. AWS's limits apply: at
//! most 10 tags, keys up to 128 and values up to 256 characters, keys unique.
//!
//! Changing the tags of an object writes a new manifest version over the same bytes, as a
//! read-modify-write agreed with the key's owners, so a concurrent PUT is never undone; Last-Modified
//! stays what it was.

use std::collections::BTreeMap;

use node_api::model::Manifest;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::fields::cas_error;
use super::Gateway;
use crate::conditional::CasError;

pub(super) fn invalid_tag(message: &str) -> s3s::S3Error {
    s3s::S3Error::with_message(s3s::S3ErrorCode::InvalidTag, message.to_string())
}

fn validate(tags: Vec<(String, String)>) -> S3Result<BTreeMap<String, String>> {
    if tags.len() > 10 {
        return Err(invalid_tag("Object tags cannot be greater than 10"));
    }
    validate_pairs(tags)
}

/// A tag set as a map: keys of 1 to 128 characters, values of at most 256, keys unique.
pub(super) fn validate_pairs(tags: Vec<(String, String)>) -> S3Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if out.insert(k, v).is_some() {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(out)
}

/// Parses `x-amz-tagging: k1=v1&k2=v2` (URL-encoded, as in a query string).
pub(super) fn parse_tagging_header(header: Option<&str>) -> S3Result<BTreeMap<String, String>> {
    let Some(h) = header.filter(|h| !h.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let decode = |s: &str| {
        urlencoding::decode(&s.replace('+', " "))
            .map(|c| c.into_owned())
            .map_err(|_| invalid_tag("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."))
    };
    let mut pairs = Vec::new();
    for pair in h.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((decode(k)?, decode(v)?));
    }
    validate(pairs)
}

pub(super) fn tag_set(tags: &BTreeMap<String, String>) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

pub(super) fn check_version(version_id: Option<&str>, m: &Manifest) -> S3Result<()> {
    if version_id.is_some_and(|v| v != m.version.to_hex() && v != "null") {
        return Err(s3_error!(
            NoSuchVersion,
            "The specified version does not exist."
        ));
    }
    Ok(())
}

async fn retag(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    tags: BTreeMap<String, String>,
) -> S3Result<()> {
    rewrite(gw, bucket, key, version_id, |m| m.tags = tags.clone()).await
}

/// Rewrites the current version of `bucket/key` changed by `change` (its tags, its ACL), over
/// the same bytes: one read-modify-write agreed with the key's owners, so racing calls all
/// succeed (each applied to the object as the one before left it) and an object replaced or
/// deleted meanwhile is never brought back.
pub(super) async fn rewrite(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    change: impl Fn(&mut Manifest),
) -> S3Result<()> {
    let incarnation = gw.bucket(bucket).await?.incarnation;
    let mut refused = None;
    let agreed = gw
        .cluster
        .agree(bucket, key, gw.cluster.hlc.version(), |current| {
            let Some(current) = current.filter(|c| c.incarnation == incarnation) else {
                return Err(CasError::NoSuchKey);
            };
            if let Err(e) = check_version(version_id, current) {
                refused = Some(e);
                return Err(CasError::PreconditionFailed);
            }
            let mut next = current.clone();
            change(&mut next);
            next.modified_ms = Some(current.modified_ms.unwrap_or(current.version.millis()));
            // `agree` keeps the chunks' version (`data`) when it stamps the ballot.
            Ok(Some(next))
        })
        .await;
    match agreed {
        Ok(_) => Ok(()),
        Err(CasError::PreconditionFailed) => Err(refused
            .take()
            .unwrap_or_else(|| s3_error!(InternalError, "rewrite refused without a reason"))),
        Err(e) => Err(cas_error(e)),
    }
}

pub(super) async fn put_object_tagging(
    gw: &Gateway,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let input = req.input;
    let tags = validate(
        input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect(),
    )?;
    retag(
        gw,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
        tags,
    )
    .await?;
    Ok(S3Response::new(PutObjectTaggingOutput::default()))
}

pub(super) async fn get_object_tagging(
    gw: &Gateway,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let input = req.input;
    gw.bucket(&input.bucket).await?;
    let m = gw.object(&input.bucket, &input.key).await?;
    check_version(input.version_id.as_deref(), &m)?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: tag_set(&m.tags),
        version_id: None,
    }))
}

pub(super) async fn delete_object_tagging(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let input = req.input;
    retag(
        gw,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
        BTreeMap::new(),
    )
    .await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fuzz target of `x-amz-tagging`: any text is a tag set within S3's limits or an error.
        #[test]
        fn fuzz_tagging_header(text in prop_oneof!["\\PC{0,120}", "[a-z0-9=&%+ ._-]{0,120}"]) {
            if let Ok(tags) = parse_tagging_header(Some(&text)) {
                prop_assert!(tags.len() <= 10);
            }
        }
    }

    #[test]
    fn parses_and_limits_the_tagging_header() {
        let tags = parse_tagging_header(Some("a=1&b%20c=d+e&empty=")).unwrap();
        assert_eq!(tags.get("b c").map(String::as_str), Some("d e"));
        assert_eq!(tags.get("empty").map(String::as_str), Some(""));
        assert!(parse_tagging_header(Some("a=1&a=2")).is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tagging_header(Some(&eleven.join("&"))).is_err());
        assert!(parse_tagging_header(None).unwrap().is_empty());
    }
}
