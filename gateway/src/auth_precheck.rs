//! The answers AWS gives to requests whose authentication is malformed before any signature is
//! checked: an empty `Authorization` header, a signed request without a usable date, a clock
//! too far from ours, a presigned URL whose `X-Amz-Expires` is not a number, negative or beyond
//! a week. `s3s` refuses most of these too, but with its own codes (400 InvalidRequest "missing
//! header: x-amz-date", ...); S3 clients and their tests expect AWS's. Pure: the server asks
//! [`refusal`] before handing a request to the S3 layer.

use http::{HeaderMap, StatusCode};
use time::OffsetDateTime;

/// The longest validity AWS accepts for a presigned URL: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// How far a signed request's time may be from ours (AWS: 15 minutes).
const MAX_SKEW_SECS: u64 = 15 * 60;

/// An S3 error answered before the request reaches the S3 layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

const NO_VALID_DATE: Refusal = Refusal {
    status: StatusCode::FORBIDDEN,
    code: "AccessDenied",
    message: "AWS authentication requires a valid Date or x-amz-date header",
};

const SKEWED: Refusal = Refusal {
    status: StatusCode::FORBIDDEN,
    code: "RequestTimeTooSkewed",
    message: "The difference between the request time and the current time is too large.",
};

fn query_error(message: &'static str) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "AuthorizationQueryParametersError",
        message,
    }
}

/// What AWS answers this request before checking its signature, `None` to go on.
pub fn refusal(headers: &HeaderMap, query: Option<&str>, now: OffsetDateTime) -> Option<Refusal> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION) {
        let auth = auth.to_str().unwrap_or("").trim();
        if auth.is_empty() {
            return Some(Refusal {
                status: StatusCode::FORBIDDEN,
                code: "AccessDenied",
                message: "Access Denied",
            });
        }
        let sigv4 = auth.starts_with("AWS4-HMAC-SHA256");
        if sigv4 || auth.starts_with("AWS ") {
            let signed_at = request_time(headers, sigv4)?;
            let Some(at) = signed_at else {
                return Some(NO_VALID_DATE);
            };
            let skew = now.unix_timestamp().saturating_sub(at.unix_timestamp());
            if skew.unsigned_abs() > MAX_SKEW_SECS {
                return Some(SKEWED);
            }
        }
        return None;
    }
    let query = query?;
    // Presigned SigV4: the expiry is checked before the signature, as on AWS.
    param(query, "X-Amz-Algorithm")?;
    let expires = param(query, "X-Amz-Expires")?;
    if let Some(digits) = expires.strip_prefix('-') {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Some(query_error("X-Amz-Expires must be non-negative"));
        }
    }
    if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Some(query_error("X-Amz-Expires should be a number"));
    }
    match expires.parse::<u64>() {
        Ok(secs) if secs <= MAX_PRESIGNED_EXPIRES_SECS => None,
        _ => Some(query_error(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        )),
    }
}

/// The time a header-signed request claims: `Some(None)` when it has no usable one, `None`
/// when the question does not arise (SigV4 with a `Date` header only: left to the S3 layer).
fn request_time(headers: &HeaderMap, sigv4: bool) -> Option<Option<OffsetDateTime>> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    match (text("x-amz-date"), text("date")) {
        (Some(amz), _) if sigv4 => Some(parse_iso_basic(amz)),
        (Some(amz), _) => Some(parse_http_date(amz)),
        (None, Some(_)) if sigv4 => None,
        (None, Some(date)) => Some(parse_http_date(date)),
        (None, None) => Some(None),
    }
}

/// `20261207T050658Z`, the SigV4 form.
fn parse_iso_basic(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text.trim(), format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// `Mon, 07 Dec 2026 05:06:58 GMT`, the HTTP form (SigV2's `Date` and `x-amz-date`).
fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let t = s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, text.trim()).ok()?;
    Some(OffsetDateTime::from(t))
}

/// The raw value of query parameter `name` (case-insensitive name), if present.
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// The XML body of a refusal (its request id is added by the server, as for every error).
pub fn body(refusal: &Refusal) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
        refusal.code, refusal.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const V4: &str = "AWS4-HMAC-SHA256 Credential=AK/20261207/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

    fn iso(t: OffsetDateTime) -> String {
        let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        t.format(f).unwrap()
    }

    #[test]
    fn header_signed_requests_need_a_close_valid_date() {
        let code = |h: &[(&'static str, &str)]| refusal(&headers(h), None, now()).map(|r| r.code);
        assert_eq!(code(&[("authorization", "")]), Some("AccessDenied"));
        assert_eq!(code(&[("authorization", V4)]), Some("AccessDenied"));
        assert_eq!(
            code(&[("authorization", V4), ("x-amz-date", "yesterday")]),
            Some("AccessDenied")
        );
        let fine = iso(now() - time::Duration::minutes(14));
        assert_eq!(code(&[("authorization", V4), ("x-amz-date", &fine)]), None);
        let skewed = iso(now() + time::Duration::minutes(16));
        assert_eq!(
            code(&[("authorization", V4), ("x-amz-date", &skewed)]),
            Some("RequestTimeTooSkewed")
        );
        // SigV4 with only a Date header is the S3 layer's to judge.
        assert_eq!(code(&[("authorization", V4), ("date", "whenever")]), None);
        let v2 = "AWS AK:c2lnbmF0dXJl";
        assert_eq!(code(&[("authorization", v2)]), Some("AccessDenied"));
        assert_eq!(
            code(&[
                ("authorization", v2),
                ("date", "Mon, 07 Dec 2026 05:06:58 GMT")
            ]),
            Some("RequestTimeTooSkewed")
        );
        let date = "Mon, 30 Nov 2026 00:53:20 GMT"; // now()
        assert_eq!(code(&[("authorization", v2), ("date", date)]), None);
        assert_eq!(code(&[]), None);
    }

    #[test]
    fn presigned_expiry_is_a_number_up_to_a_week() {
        let message = |q: &str| refusal(&HeaderMap::new(), Some(q), now()).map(|r| r.message);
        let q = |e: &str| {
            format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={e}&X-Amz-Signature=0")
        };
        assert_eq!(message(&q("604800")), None);
        assert_eq!(message(&q("0")), None);
        assert_eq!(
            message(&q("604801")),
            Some("X-Amz-Expires must be less than a week (in seconds) that is 604800")
        );
        assert_eq!(
            message(&q("99999999999999999999999")),
            Some("X-Amz-Expires must be less than a week (in seconds) that is 604800")
        );
        assert_eq!(message(&q("abc")), Some("X-Amz-Expires should be a number"));
        assert_eq!(message(&q("")), Some("X-Amz-Expires should be a number"));
        assert_eq!(
            message(&q("-5")),
            Some("X-Amz-Expires must be non-negative")
        );
        assert_eq!(message("X-Amz-Expires=abc"), None, "not a presigned v4 URL");
        assert_eq!(message("list-type=2"), None);
    }

    proptest! {
        /// Fuzz target of the pre-check: any header values and query text give an answer or
        /// none, never a panic.
        #[test]
        fn fuzz_auth_precheck(auth in "\\PC{0,80}", date in "\\PC{0,40}", query in "\\PC{0,120}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = auth.parse() { h.insert("authorization", v); }
            if let Ok(v) = date.parse() { h.insert("x-amz-date", v); }
            if let Ok(v) = date.parse() { h.insert("date", v); }
            let _ = refusal(&h, Some(&query), now());
        }
    }
}
