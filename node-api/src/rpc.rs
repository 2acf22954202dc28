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
    Accept, AccessKeyRecord, BucketPromise, BucketRecord, ChunkId, DropParts, GetBucket,
    GetManifest, GetUpload, Hint, HintDone, ListHints, ListManifests, ListManifestsReply,
    ListParts, ListUploads, Manifest, NodeStats, PartRecord, Prepare, PrepareBucket, PrepareReply,
    PutHintedManifest, Reseal, SettingRecord, StaleEnvelopes, StaleEnvelopesReply, StoredHint,
    UploadRecord, WriteBucket, WriteManifest, WriteReply, WriteUpload,
};
use crate::moves::{MoveList, MovePage, Release};

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
    /// `POST /v1/bucket/list`: every bucket record (tombstones included).
    ListBuckets;
    /// `POST /v1/key/list`: every stored access key record.
    ListAccessKeys;
    /// `POST /v1/setting/list`: every setting record.
    ListSettings;
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
    BucketRecord => "/v1/bucket/put", "put_bucket", false, bool;
    PrepareBucket => "/v1/bucket/prepare", "bucket_prepare", false, BucketPromise;
    WriteBucket => "/v1/bucket/write", "bucket_write", false, WriteReply;
    GetBucket => "/v1/bucket/get", "get_bucket", false, Option<BucketRecord>;
    ListBuckets => "/v1/bucket/list", "list_buckets", false, Vec<BucketRecord>;
    AccessKeyRecord => "/v1/key/put", "put_access_key", false, bool;
    ListAccessKeys => "/v1/key/list", "list_access_keys", false, Vec<AccessKeyRecord>;
    SettingRecord => "/v1/setting/put", "put_setting", false, bool;
    ListSettings => "/v1/setting/list", "list_settings", false, Vec<SettingRecord>;
    Stats => "/v1/stats", "stats", false, NodeStats;
    Prepare => "/v1/cas/prepare", "cas_prepare", false, PrepareReply;
    Accept => "/v1/cas/accept", "cas_accept", false, WriteReply;
    UploadRecord => "/v1/upload/put", "put_upload", false, bool;
    WriteUpload => "/v1/upload/write", "write_upload", false, WriteReply;
    GetUpload => "/v1/upload/get", "get_upload", false, Option<UploadRecord>;
    ListUploads => "/v1/upload/list", "list_uploads", false, Vec<UploadRecord>;
    PartRecord => "/v1/part/put", "put_part", false, Vec<PartRecord>;
    ListParts => "/v1/part/list", "list_parts", false, Vec<PartRecord>;
    DropParts => "/v1/part/drop", "drop_parts", false, ();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_free_requests_keep_the_unit_encoding() {
        // Nodes of the previous release read `()` for these; both encode as nil.
        let unit = crate::model::encode(&());
        assert_eq!(crate::model::encode(&ListBuckets), unit);
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
