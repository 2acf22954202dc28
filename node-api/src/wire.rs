//! What both ends of the internal API agree on besides the messages: the headers that carry
//! map epochs and node clocks, size limits, and what a node id may be.

/// The header that carries a map epoch, on requests (the sender's) and answers (the node's).
pub const EPOCH_HEADER: &str = "x-s3store-epoch";

/// Largest chunk a node accepts.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;

/// The largest HTTP/2 DATA frame nodes and their clients accept (the stream window's size): a
/// default chunk crosses in one frame. Fewer, larger frames cost a node less CPU per byte
/// received than 1 MiB ones (PERFORMANCE.md).
pub const H2_MAX_FRAME: u32 = 8 << 20;

/// The node's wall clock (milliseconds since the epoch) when it answered, on every answer:
/// gateways never stamp a write below a clock a node showed them.
pub const CLOCK_HEADER: &str = "x-s3store-clock";

/// The map epoch in a request's or answer's [`EPOCH_HEADER`], if it carries one.
pub fn epoch_of(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(EPOCH_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Whether `id` can be a node's id (the owner of a hinted write): 1 to 128 letters, digits,
/// `-`, `_` or `.`.
pub fn valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}
