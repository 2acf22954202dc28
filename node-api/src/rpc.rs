//! The internal API in one table: each request message names its path, its operation name (the
//! label of the node's request metrics), whether it scans the whole store (answered within the
//! scan timeout), and the type of its answer, once. The node's routes
//! (`storage_node::server`) check at compile time that each handler answers that type, and the
//! client ([`crate::client::NodeClient::call`]) takes the path, timeout and answer type from it.
//!
//! Chunk bytes travel outside this table (`/v1/chunk/<id>` and chunk streams).

use std::collections::HashMap;

use placement::MapState;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::antientropy::{CellRequest, DigestRequest, Digests, Record};
use crate::gc::{CollectRequest, References, RefsRequest, Removed, SweepRequest};
use crate::model::{
    Accept, BucketPromise, ChunkId, DropParts, GetManifest, Hint, HintDone, ListHints,
    ListManifests, ListManifestsReply, ListParts, ListUploads, Manifest, NodeStats, Prepare,
    PrepareBucket, PrepareReply, PutHintedManifest, Reseal, StaleEnvelopes, StaleEnvelopesReply,
    StoredHint, WriteBucket, WriteManifest, WriteReply, WriteUpload,
};
use crate::model::{PartRecord, UploadRecord};
use crate::moves::{MoveList, MovePage, Release};
use crate::table::{GetRow, ListRows, PutHintedRow, PutRow, Row};

/// A request of the internal API.
pub trait Call: Serialize + DeserializeOwned + Send + Sync + 'static {
    const PATH: &'static str;
    /// The operation's name in the node's metrics.
    const NAME: &'static str;
    /// Whether it scans the whole store (and so gets the scan timeout).
    const SCAN: bool;
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// Requests without arguments, encoded as nil (as `()` was before they had types).
macro_rules! argument_free {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Serialize, Deserialize)]
            #[serde(from = "()", into = "()")]
            pub struct $name;

            impl From<()> for $name {
                fn from(_: ()) -> Self {
                    $name
                }
            }

            impl From<$name> for () {
                fn from(_: $name) {}
            }
        )*
    };
}

argument_free! {
    /// `POST /v1/map/get`: the node's map state (none before its first map).
    GetMap;
    /// `POST /v1/chunk_bad/list`: chunks the node found corrupt or missing.
    ListBadChunks;
    /// `POST /v1/stats`: how much the node stores.
    Stats;
}

macro_rules! calls {
    ($($request:ty => $path:literal, $name:literal, $scan:literal, $reply:ty;)*) => {
        $(
            impl Call for $request {
                const PATH: &'static str = $path;
                const NAME: &'static str = $name;
                const SCAN: bool = $scan;
                type Reply = $reply;
            }
        )*

        /// The operation name of a request path of the table.
        pub fn name_of(path: &str) -> Option<&'static str> {
            match path {
                $($path => Some($name),)*
                _ => None,
            }
        }
    };
}

calls! {
    GetMap => "/v1/map/get", "get_map", false, Option<MapState>;
    MapState => "/v1/map/put", "put_map", false, MapState;
    MoveList => "/v1/move/list", "move_list", false, MovePage;
    Release => "/v1/move/release", "move_release", false, ();
    Manifest => "/v1/manifest/put", "put_manifest", false, WriteReply;
    WriteManifest => "/v1/manifest/write", "write_manifest", false, WriteReply;
    GetManifest => "/v1/manifest/get", "get_manifest", false, Option<Manifest>;
    ListManifests => "/v1/manifest/list", "list_manifests", false, ListManifestsReply;
    PutHintedManifest => "/v1/manifest/put_hinted", "put_hinted_manifest", false, WriteReply;
    DigestRequest => "/v1/ae/digest", "ae_digest", true, Digests;
    CellRequest => "/v1/ae/cell", "ae_cell", true, HashMap<u32, Vec<Record>>;
    RefsRequest => "/v1/gc/refs", "gc_refs", true, References;
    SweepRequest => "/v1/gc/sweep", "gc_sweep", true, Removed;
    CollectRequest => "/v1/gc/collect", "gc_collect", true, Removed;
    ListBadChunks => "/v1/chunk_bad/list", "list_bad_chunks", false, Vec<ChunkId>;
    ListHints => "/v1/hint/list", "list_hints", false, Vec<StoredHint>;
    Hint => "/v1/hint/manifest", "hinted_manifest", false, Option<Manifest>;
    HintDone => "/v1/hint/done", "hint_done", false, ();
    StaleEnvelopes => "/v1/envelope/stale", "stale_envelopes", false, StaleEnvelopesReply;
    Reseal => "/v1/envelope/reseal", "reseal", false, bool;
    PrepareBucket => "/v1/bucket/prepare", "bucket_prepare", false, BucketPromise;
    WriteBucket => "/v1/bucket/write", "bucket_write", false, WriteReply;
    Stats => "/v1/stats", "stats", false, NodeStats;
    Prepare => "/v1/cas/prepare", "cas_prepare", false, PrepareReply;
    Accept => "/v1/cas/accept", "cas_accept", false, WriteReply;
    WriteUpload => "/v1/upload/write", "write_upload", false, WriteReply;
    ListUploads => "/v1/upload/list", "list_uploads", false, Vec<UploadRecord>;
    ListParts => "/v1/part/list", "list_parts", false, Vec<PartRecord>;
    DropParts => "/v1/part/drop", "drop_parts", false, ();
    GetRow => "/v1/row/get", "get_row", false, Option<Row>;
    PutRow => "/v1/row/put", "put_row", false, bool;
    PutHintedRow => "/v1/row/put_hinted", "put_hinted_row", false, bool;
    ListRows => "/v1/row/list", "list_rows", false, Vec<Row>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_free_requests_keep_the_unit_encoding() {
        // Nodes of the previous release read `()` for these; both encode as nil.
        let unit = crate::model::encode(&());
        assert_eq!(crate::model::encode(&ListBadChunks), unit);
        assert_eq!(crate::model::encode(&Stats), unit);
        assert!(crate::model::decode::<GetMap>(&unit).is_ok());
    }

    #[test]
    fn every_path_has_one_name() {
        assert_eq!(name_of(WriteManifest::PATH), Some("write_manifest"));
        assert_eq!(name_of(DropParts::PATH), Some(DropParts::NAME));
        assert_eq!(name_of("/v1/nothing"), None);
    }
}
