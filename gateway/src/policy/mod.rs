//! Bucket policies: the IAM policy language as S3 evaluates it for a bucket. Pure: parsing and
//! checking a document ([`document`]), its conditions ([`condition`]), wildcards
//! ([`pattern`]), the actions of S3 operations ([`actions`]) and the decision on one request
//! ([`evaluate`]). Where a request's facts come from and how the decision combines with keys'
//! grants lives in [`crate::authorize`].
//!
//! Why not the `iam-rs` crate (0.8): it calls itself unverified and liable to break, treats a
//! wildcard request principal as matching every statement's principal, and re-parses each
//! resource ARN and re-interpolates it on every evaluation; a bucket policy here is compiled
//! once, when its bucket record is read.

pub mod actions;
pub mod condition;
pub mod document;
pub mod evaluate;
pub mod pattern;

pub use condition::Context;
pub use document::{Malformed, Policy};
pub use evaluate::{Caller, Decision, Request};
