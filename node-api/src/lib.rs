//! What gateways and storage nodes share, and nothing that stores: the records and messages of
//! the internal API, the table that names each request's path and answer, and the client that
//! sends them. The gateway links this crate, not the storage node's (and so not RocksDB).
//!
//! * [`model`]: records (manifests, buckets, uploads, parts, access keys, settings) and the
//!   messages that carry them; [`msgpack_skim`]: reading a few fields of a stored record
//!   without decoding the rest.
//! * [`table`]: the one replicated record table: each kind of record a family of it, with
//!   its identity, version and placement.
//! * [`antientropy`], [`gc`], [`moves`]: the messages of the background jobs.
//! * [`rpc`]: the internal API in one table; [`wire`]: the headers and limits both ends share.
//! * [`client`]: a typed client of one node; [`chunk_stream`]: the protocol of the long-lived
//!   connections chunk PUTs and GETs travel on, and its client end; [`direct_buffer`]: the
//!   aligned, pooled buffers chunk bytes travel in; [`read_lane`]: plain connections that carry
//!   sealed chunks to readers, authenticated by a key handed out over TLS.
//! * [`identity`]: the mutual-TLS identities of the internal links, derived from the cluster
//!   secret; [`auth`]: opaque ids keyed by it; [`tls`]: the S3 endpoint's TLS configuration.
//! * [`log_output`]: text or JSON log lines, for both binaries.

// Outside bytes never panic the process: library code has no unwrap/expect/panic and no
// unchecked arithmetic or indexing (tests may). An exception says why where it stands.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

pub mod antientropy;
pub mod auth;
pub mod chunk_stream;
pub mod client;
pub mod direct_buffer;
pub mod gc;
pub mod identity;
pub mod log_output;
pub mod model;
pub mod moves;
pub mod msgpack_skim;
pub mod read_lane;
pub mod rpc;
pub mod table;
pub mod tls;
pub mod wire;
