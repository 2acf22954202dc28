//! The records the cluster stores and the messages of the internal API.
//!
//! Shared by the gateway (which builds them) and the storage node (which stores them). Everything
//! here is serialized with MessagePack with named fields, so records can gain fields over time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Orders the versions of one key identically on every replica: a hybrid-logical-clock
/// timestamp (milliseconds << 16 | logical counter), then a random tie-breaker for writes
/// stamped in the same tick by different gateways. Larger is newer; last writer wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub hlc: u64,
    pub tiebreak: u64,
}

impl Version {
    pub const BYTES: usize = 16;

    /// Big-endian bytes: byte order equals version order.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.hlc.to_be_bytes());
        out[8..].copy_from_slice(&self.tiebreak.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Version> {
        let (hlc, tiebreak) = <&[u8; 16]>::try_from(bytes)
            .ok()?
            .split_first_chunk::<8>()?;
        Some(Version {
            hlc: u64::from_be_bytes(*hlc),
            tiebreak: u64::from_be_bytes(tiebreak.try_into().ok()?),
        })
    }

    /// Milliseconds since the Unix epoch of the physical part of the timestamp.
    pub fn millis(self) -> u64 {
        self.hlc >> 16
    }

    /// The version id shown to clients (32 hex digits).
    pub fn to_hex(self) -> String {
        hex::encode(self.to_bytes())
    }
}

/// The address of one chunk: the object version it belongs to, the part (0 for a plain PUT) and
/// its index within the part. Chunks are placed by the hash of these bytes, so one object's
/// chunks spread over the whole cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkId {
    pub version: Version,
    pub part: u32,
    pub index: u32,
}

impl ChunkId {
    pub const BYTES: usize = 24;

    pub fn to_bytes(self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..16].copy_from_slice(&self.version.to_bytes());
        out[16..20].copy_from_slice(&self.part.to_be_bytes());
        out[20..].copy_from_slice(&self.index.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<ChunkId> {
        let bytes = <&[u8; 24]>::try_from(bytes).ok()?;
        let (version, rest) = bytes.split_first_chunk::<16>()?;
        let (part, index) = rest.split_first_chunk::<4>()?;
        Some(ChunkId {
            version: Version::from_bytes(version)?,
            part: u32::from_be_bytes(*part),
            index: u32::from_be_bytes(index.try_into().ok()?),
        })
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.to_bytes())
    }

    pub fn from_hex(s: &str) -> Option<ChunkId> {
        ChunkId::from_bytes(&hex::decode(s).ok()?)
    }
}

/// Standard HTTP headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// The `Expires` header as an HTTP date.
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`: where the website endpoint redirects this object.
    #[serde(default)]
    pub website_redirect: Option<String>,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Small objects live inside the manifest.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// `count` chunks of `chunk_size` bytes (the last one shorter), ids `(data, 0, 0..count)`
    /// where `data` is the version the bytes were written under: the manifest's own version,
    /// unless a conditional write gave the manifest a later one (its agreement ballot).
    Chunked {
        chunk_size: u64,
        count: u32,
        #[serde(default)]
        data: Option<Version>,
    },
    /// A completed multipart upload: its parts in order, each with its own chunks. Completing an
    /// upload writes this list; it never copies part data.
    Parts(Vec<PartLayout>),
}

/// How an object's data and user metadata are sealed (see the gateway's `sealing` module); the
/// storage nodes only ever see ciphertext and this envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealing {
    /// Format of the sealed bytes (1: AES-256-GCM in 64 KiB segments).
    pub format: u8,
    /// Id of the master key that wrapped `wrapped_key`.
    pub key_id: String,
    /// The data key, wrapped by the master key.
    #[serde(with = "serde_bytes")]
    pub wrapped_key: Vec<u8>,
    /// The version the data (single PUT) and the metadata were sealed under; a later manifest
    /// version over the same bytes (a tagging change, a conditional write's ballot) keeps it.
    pub data_version: Version,
    /// Nonce base of the object's data (single PUT) and of its sealed metadata.
    pub nonce_base: [u8; 12],
    /// The user metadata (`x-amz-meta-*`), sealed; the manifest's own map stays empty.
    #[serde(with = "serde_bytes")]
    pub metadata: Vec<u8>,
    /// For SSE-C: the data key is wrapped by the customer's key (never stored), and this proof
    /// lets a later request's key be checked before anything is decrypted.
    #[serde(default)]
    pub customer: Option<CustomerKeyProof>,
    /// For SSE-KMS: the KMS key that wrapped the data key (`key_id` then names the key's
    /// material, a version of it), and what the client asked for with it.
    #[serde(default)]
    pub kms: Option<KmsSealing>,
}

/// What an SSE-KMS object was stored with (`x-amz-server-side-encryption: aws:kms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsSealing {
    /// The KMS key's id (as the gateway's configuration names it).
    pub key: String,
    /// The encryption context, as canonical JSON: bound to the wrapped data key.
    pub context: String,
    /// `x-amz-server-side-encryption-bucket-key-enabled`, as asked (or by the bucket's default).
    pub bucket_key: bool,
}

/// A salted HMAC-SHA256 of an SSE-C customer key: it verifies a key without revealing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerKeyProof {
    pub salt: [u8; 16],
    pub hmac: [u8; 32],
}

/// A record a node holds for another (hinted handoff): the intended owner (a node id) was
/// down when it was written, and gets it handed back when it answers again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hint {
    Chunk {
        owner: String,
        id: ChunkId,
    },
    Manifest {
        owner: String,
        bucket: String,
        key: String,
        version: Version,
    },
    /// One version of a row of the record table (a family other than manifests).
    Row {
        owner: String,
        version: crate::table::RowVersion,
    },
}

impl Hint {
    pub fn owner(&self) -> &str {
        match self {
            Hint::Chunk { owner, .. } | Hint::Manifest { owner, .. } | Hint::Row { owner, .. } => {
                owner
            }
        }
    }
}

/// `POST /v1/manifest/put_hinted`: a manifest stored for `owner`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutHintedManifest {
    pub owner: String,
    pub manifest: Manifest,
}

/// `POST /v1/hint/list`: hints after the cursor `after`, at most `limit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListHints {
    #[serde(with = "serde_bytes")]
    pub after: Vec<u8>,
    pub limit: u32,
}

/// One stored hint and its key (the cursor, and what `/v1/hint/done` names).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredHint {
    #[serde(with = "serde_bytes")]
    pub raw_key: Vec<u8>,
    pub hint: Hint,
}

/// `POST /v1/hint/done`: the owner has the record; drop the hint and this node's copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HintDone {
    #[serde(with = "serde_bytes")]
    pub raw_key: Vec<u8>,
}

/// Which records an envelope walk (`rotate`) covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvelopeKind {
    Manifest,
    Upload,
}

/// `POST /v1/envelope/stale`: the node's records of `kind` whose data key is wrapped under a
/// master key other than `active_key` (SSE-C records are not: no master key wraps them), after
/// the cursor `after`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaleEnvelopes {
    pub kind: EnvelopeKind,
    pub active_key: String,
    /// Further key ids that are current (each KMS key's active material).
    #[serde(default)]
    pub current: Vec<String>,
    #[serde(with = "serde_bytes")]
    pub after: Vec<u8>,
    pub limit: u32,
}

/// One record found by [`StaleEnvelopes`]: `raw_key` is the node's own key for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaleEnvelope {
    #[serde(with = "serde_bytes")]
    pub raw_key: Vec<u8>,
    pub bucket: String,
    pub key: String,
    pub sealing: Sealing,
}

/// `POST /v1/envelope/stale` answer: `next` is the cursor to continue from, `None` at the end.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StaleEnvelopesReply {
    pub items: Vec<StaleEnvelope>,
    #[serde(default)]
    pub next: Option<serde_bytes::ByteBuf>,
}

/// `POST /v1/envelope/reseal`: replace the envelope of the record at `raw_key` with `sealing`,
/// which must wrap the same data key (only `key_id` and `wrapped_key` may differ). Answers
/// whether the record now carries it (`false`: the record is gone or was rewritten meanwhile).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reseal {
    pub kind: EnvelopeKind,
    #[serde(with = "serde_bytes")]
    pub raw_key: Vec<u8>,
    pub bucket: String,
    pub key: String,
    pub sealing: Sealing,
}

/// One part of a completed multipart object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartLayout {
    pub number: u32,
    /// The version of the UploadPart that wrote it: its chunks are `(version, number, 0..count)`.
    pub version: Version,
    pub size: u64,
    /// Hex MD5 of the part.
    pub etag: String,
    pub chunk_size: u64,
    pub count: u32,
    /// The part's checksums as received (by wire name).
    #[serde(default)]
    pub checksums: Checksums,
    /// Nonce base of the part's sealed segments (the data key is the upload's).
    #[serde(default)]
    pub nonce_base: Option<[u8; 12]>,
}

impl PartLayout {
    pub fn chunk_ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        (0..self.count).map(|index| ChunkId {
            version: self.version,
            part: self.number,
            index,
        })
    }
}

/// Object checksums (`x-amz-checksum-*`), base64 as on the wire, by algorithm name
/// (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`).
pub type Checksums = BTreeMap<String, String>;

/// A multipart upload, placed with its object's manifests. `version` orders the states of one
/// upload: created at `upload_id`, then ended (completed or aborted) at a later version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub upload_id: Version,
    pub version: Version,
    /// Completed or aborted: the upload takes no more parts and is not listed.
    pub ended: bool,
    /// Access key that created the upload.
    pub owner: String,
    pub headers: ObjectHeaders,
    pub user_metadata: BTreeMap<String, String>,
    /// The checksum algorithm named at CreateMultipartUpload, if any.
    pub checksum_algorithm: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE`: how the object's checksum derives from the parts'.
    #[serde(default)]
    pub checksum_type: Option<String>,
    /// Tags for the completed object (`x-amz-tagging` at CreateMultipartUpload).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The completed object's envelope: every part is sealed under its data key.
    #[serde(default)]
    pub sealing: Option<Sealing>,
    /// The ETag of the object a completion made (`ended` and this unset: aborted).
    #[serde(default)]
    pub completed: Option<String>,
    /// The operation (its origin stamp) that put the upload in this state, so a writer can
    /// tell its own decided attempt from another's.
    #[serde(default)]
    pub step: Option<Version>,
    /// The incarnation of the bucket the upload was started in (see [`BucketRecord`]).
    #[serde(default)]
    pub incarnation: Option<Version>,
    /// The completed object's owner and ACL, if CreateMultipartUpload set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<ObjectAcl>,
}

/// One uploaded part of an upload in progress; a re-upload of the same number replaces it
/// (newest `version` wins, like manifests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub upload_id: Version,
    pub layout: PartLayout,
}

/// `POST /v1/upload/list`: the uploads of `bucket` whose key starts with `prefix`, after the
/// marker, in (key, upload id) order, ended ones included (the gateway merges replicas).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListUploads {
    pub bucket: String,
    pub prefix: String,
    pub key_marker: String,
    pub upload_id_marker: Option<Version>,
    pub limit: u32,
}

/// `POST /v1/part/list`: parts of an upload numbered above `after`, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListParts {
    pub upload_id: Version,
    pub after: u32,
    pub limit: u32,
}

/// `POST /v1/part/drop`: forget every part record of an ended upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DropParts {
    pub upload_id: Version,
}

/// One version of one object, or a tombstone left by a delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub bucket: String,
    pub key: String,
    pub version: Version,
    /// A tombstone: the key was deleted at `version`.
    pub deleted: bool,
    pub size: u64,
    /// Hex MD5 of the object (without quotes).
    pub etag: String,
    /// The incarnation of the bucket the object was written in ([`BucketRecord`]): in any
    /// other incarnation of the bucket the object does not exist. (Placed early: listings
    /// read it without decoding the rest.)
    #[serde(default)]
    pub incarnation: Option<Version>,
    pub headers: ObjectHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub layout: Layout,
    /// For a conditional write: the version its writer stamped first. Its manifest version is
    /// the agreement ballot and changes between attempts; this identifies the write across
    /// them, so a writer recognises its own half-finished attempt.
    #[serde(default)]
    pub origin: Option<Version>,
    /// Whole-object checksums by wire name (`CRC64NVME` always, plus any the client sent); for
    /// a multipart object, composite values (`<base64>-N`) of the upload's algorithm.
    #[serde(default)]
    pub checksums: Checksums,
    /// Object tags (`x-amz-tagging`, PutObjectTagging).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Last-Modified in milliseconds when it differs from the version's time: a tagging change
    /// writes a new version but, as on AWS, leaves Last-Modified alone.
    #[serde(default)]
    pub modified_ms: Option<u64>,
    /// The encryption envelope; `None` only for objects stored before encryption existed.
    #[serde(default)]
    pub sealing: Option<Sealing>,
    /// The object's owner and ACL, when a request set one (canned ACL, grant headers,
    /// PutObjectAcl); `None`: owned by the bucket's owner, who alone has access by ACL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<ObjectAcl>,
}

impl Manifest {
    /// A tombstone for `bucket/key` at `version`.
    pub fn tombstone(bucket: &str, key: &str, version: Version) -> Manifest {
        Manifest {
            acl: None,
            bucket: bucket.to_string(),
            key: key.to_string(),
            version,
            deleted: true,
            size: 0,
            etag: String::new(),
            incarnation: None,
            headers: ObjectHeaders::default(),
            user_metadata: BTreeMap::new(),
            layout: Layout::Inline(Vec::new()),
            origin: None,
            checksums: Checksums::new(),
            tags: BTreeMap::new(),
            modified_ms: None,
            sealing: None,
        }
    }

    /// Ids of the chunks this version owns.
    pub fn chunk_ids(&self) -> Vec<ChunkId> {
        match &self.layout {
            Layout::Inline(_) => Vec::new(),
            Layout::Chunked { count, data, .. } => (0..*count)
                .map(|index| ChunkId {
                    version: data.unwrap_or(self.version),
                    part: 0,
                    index,
                })
                .collect(),
            Layout::Parts(parts) => parts.iter().flat_map(PartLayout::chunk_ids).collect(),
        }
    }

    /// How many parts a multipart object has (`None` for a single PUT).
    pub fn parts_count(&self) -> Option<usize> {
        match &self.layout {
            Layout::Parts(parts) => Some(parts.len()),
            _ => None,
        }
    }

    /// The listing view of this manifest.
    pub fn entry(&self) -> ListEntry {
        ListEntry {
            key: self.key.clone(),
            version: self.version,
            deleted: self.deleted,
            size: self.size,
            etag: self.etag.clone(),
            modified_ms: self.modified_ms,
            incarnation: self.incarnation,
        }
    }

    /// The placement key of `bucket/key`'s manifests.
    pub fn placement_key(bucket: &str, key: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(bucket.len().saturating_add(key.len()).saturating_add(2));
        out.extend_from_slice(b"m\0");
        out.extend_from_slice(bucket.as_bytes());
        out.push(0);
        out.extend_from_slice(key.as_bytes());
        out
    }
}

/// What a listing returns per key: the newest version a node holds, tombstones included (the
/// gateway needs them to merge replicas that disagree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub key: String,
    pub version: Version,
    pub deleted: bool,
    pub size: u64,
    pub etag: String,
    #[serde(default)]
    pub modified_ms: Option<u64>,
    /// The bucket incarnation the version was written in.
    #[serde(default)]
    pub incarnation: Option<Version>,
}

impl ListEntry {
    /// The listing view of a stored manifest, decoding only the fields a listing shows (the
    /// key and version come from the record's RocksDB key). Metadata, layout and the sealed
    /// envelope are skipped unparsed, which makes a listing scan several times cheaper than
    /// decoding whole manifests.
    pub fn from_stored(key: String, version: Version, bytes: &[u8]) -> Result<ListEntry, String> {
        use crate::msgpack_skim::{
            for_fields, read_bool, read_opt_u64, read_opt_version, read_str, read_u64, Field,
        };
        let (mut deleted, mut size, mut etag, mut modified_ms) = (None, None, None, None);
        let mut incarnation = None;
        for_fields(bytes, |name, rd| {
            match name {
                b"deleted" => deleted = Some(read_bool(rd)?),
                b"size" => size = Some(read_u64(rd)?),
                b"etag" => {
                    let text = std::str::from_utf8(read_str(rd)?).map_err(|e| e.to_string())?;
                    etag = Some(text.to_string());
                }
                b"incarnation" => {
                    incarnation =
                        Some(read_opt_version(rd)?.map(|(hlc, tiebreak)| Version { hlc, tiebreak }))
                }
                b"modified_ms" => modified_ms = Some(read_opt_u64(rd)?),
                _ => return Ok(Field::Skip),
            }
            let all = deleted.is_some()
                && size.is_some()
                && etag.is_some()
                && modified_ms.is_some()
                && incarnation.is_some();
            Ok(if all { Field::Enough } else { Field::Taken })
        })?;
        let missing = |field: &str| format!("stored manifest without `{field}`");
        Ok(ListEntry {
            key,
            version,
            deleted: deleted.ok_or_else(|| missing("deleted"))?,
            size: size.ok_or_else(|| missing("size"))?,
            etag: etag.ok_or_else(|| missing("etag"))?,
            modified_ms: modified_ms.flatten(),
            incarnation: incarnation.flatten(),
        })
    }
}

/// A bucket, or the tombstone of a deleted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    pub version: Version,
    pub deleted: bool,
    /// Access key that created the bucket.
    pub owner: String,
    pub region: String,
    /// Anyone may read (GET, HEAD, list) without signing (`gateway admin bucket-public`).
    #[serde(default)]
    pub public_read: bool,
    /// Which creation of the name this is (the CreateBucket's stamp; `None` for buckets made
    /// before incarnations): uploads belong to one incarnation, so a bucket deleted and made
    /// again starts without the old one's.
    #[serde(default)]
    pub incarnation: Option<Version>,
    /// The bucket's S3 configuration (policy, ...), changed by the Put/DeleteBucket* calls.
    #[serde(default)]
    pub config: BucketConfig,
}

/// What a bucket's owner configures through S3 beyond the bucket itself. Each part is kept as
/// the client sent it, checked, so a GET returns it unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketConfig {
    /// The bucket policy's JSON (PutBucketPolicy).
    #[serde(default)]
    pub policy: Option<String>,
    /// The bucket's tags (PutBucketTagging); `None` when it has no tag set.
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// The bucket's CORS rules (PutBucketCors); `None` when it has none.
    #[serde(default)]
    pub cors: Option<Vec<CorsRule>>,
    /// PutPublicAccessBlock; `None` when none is set.
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// PutBucketOwnershipControls (or CreateBucket's `x-amz-object-ownership`); `None` when
    /// none is set (ACLs apply, as with ObjectWriter).
    #[serde(default)]
    pub ownership: Option<ObjectOwnership>,
    /// The bucket's ACL grants (PutBucketAcl, canned ACLs); `None`: the owner alone.
    #[serde(default)]
    pub acl: Option<Vec<AclGrant>>,
    /// The bucket's default encryption (PutBucketEncryption); `None` when none is set.
    #[serde(default)]
    pub encryption: Option<BucketEncryption>,
    /// The bucket's static-website configuration (PutBucketWebsite); `None` when none is set.
    #[serde(default)]
    pub website: Option<BucketWebsite>,
    /// The bucket's quota (`gateway admin bucket-quota`); `None`: no limit.
    #[serde(default)]
    pub quota: Option<BucketQuota>,
}

/// The most a bucket may hold; `None` in a field: no limit on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketQuota {
    #[serde(default)]
    pub max_bytes: Option<u64>,
    #[serde(default)]
    pub max_objects: Option<u64>,
}

/// A website bucket: an index document (and error document) with routing rules, or a
/// redirect of every request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketWebsite {
    /// The index document's name under every folder (`index.html`).
    #[serde(default)]
    pub index_suffix: Option<String>,
    /// The object served (with the error's status) when a request fails.
    #[serde(default)]
    pub error_key: Option<String>,
    #[serde(default)]
    pub redirect_all: Option<RedirectAll>,
    #[serde(default)]
    pub rules: Vec<WebsiteRule>,
}

/// Every request redirected to another host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectAll {
    pub host_name: String,
    /// `http` or `https`; `None`: the request's.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// A routing rule: requests whose key starts with `prefix` (and that failed with
/// `error_code`, when set) are redirected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteRule {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub error_code: Option<u16>,
    pub redirect: WebsiteRedirect,
}

/// Where a routing rule sends a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteRedirect {
    #[serde(default)]
    pub host_name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub replace_key_prefix_with: Option<String>,
    #[serde(default)]
    pub replace_key_with: Option<String>,
    /// 3xx; `None`: 301.
    #[serde(default)]
    pub http_redirect_code: Option<u16>,
}

/// A bucket's default encryption, applied to new objects whose request names none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    /// For `aws:kms`: the KMS key as the client named it (`None`: the default KMS key).
    #[serde(default)]
    pub kms_key: Option<String>,
    pub bucket_key: bool,
}

/// A bucket's public access block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// Who owns the objects written into a bucket, and whether ACLs apply at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner owns every object (AWS's default since 2023).
    BucketOwnerEnforced,
    /// The bucket owner owns objects written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The writer owns what it writes.
    ObjectWriter,
}

/// An object's owner (an access key id) and ACL grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAcl {
    pub owner: String,
    pub grants: Vec<AclGrant>,
}

/// One ACL grant: a permission given to a grantee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclGrant {
    pub grantee: Grantee,
    pub permission: AclPermission,
}

/// Whom an ACL grant names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grantee {
    /// A canonical user id.
    User(String),
    /// `http://acs.amazonaws.com/groups/global/AllUsers`: anyone, unsigned requests included.
    AllUsers,
    /// `http://acs.amazonaws.com/groups/global/AuthenticatedUsers`: any signed request.
    AuthenticatedUsers,
    /// `http://acs.amazonaws.com/groups/s3/LogDelivery`.
    LogDelivery,
}

/// An ACL permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AclPermission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

/// One CORS rule of a bucket, as PutBucketCors gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default)]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<i32>,
}

/// `POST /v1/stats`: how much this node stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Bytes of SST and blob files over every column family, and of chunk files.
    pub bytes: u64,
    /// RocksDB's estimate of the object versions (manifests, tombstones included) held.
    pub manifests: u64,
}

/// What an access key may do in one bucket; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// GET, HEAD and listings.
    Read,
    /// Also PUT, DELETE, copies into the bucket and multipart uploads.
    Write,
    /// Also deleting the bucket and its settings.
    Owner,
}

/// An S3 access key made with the admin CLI (keys in the configuration are not stored), kept on
/// every node: its secret sealed under a master key (nodes never see it), its grants per bucket.
/// Last writer wins by `version`; a deleted key is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub id: String,
    pub version: Version,
    pub deleted: bool,
    /// Master key id the secret is wrapped under.
    pub key_id: String,
    #[serde(with = "serde_bytes")]
    pub sealed_secret: Vec<u8>,
    pub grants: BTreeMap<String, Role>,
}

/// A small cluster-wide record kept on every node, such as the control and progress reports
/// of background jobs (the gateway's `jobs` module gives them meaning). Last writer wins by
/// `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingRecord {
    pub name: String,
    pub version: Version,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

impl BucketRecord {
    /// The placement key of a bucket record.
    pub fn placement_key(name: &str) -> Vec<u8> {
        let mut out = b"b\0".to_vec();
        out.extend_from_slice(name.as_bytes());
        out
    }
}

/// `POST /v1/manifest/get`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetManifest {
    pub bucket: String,
    pub key: String,
}

/// How a node decides whether to store a manifest version it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteMode {
    /// A new write (PUT, DELETE, the accept of a conditional write): stored only if it is
    /// newer than every version the node holds and than every ballot it has promised. A
    /// refused writer restamps above what the node reports and tries again, so every write
    /// acknowledged by a majority is ordered after every write acknowledged before it began.
    New,
    /// A copy of a version that exists elsewhere (read repair, anti-entropy, hand-off, moves):
    /// stored unless the node holds a newer version or has promised a higher ballot.
    Copy,
    /// A copy written back by the conditional writer that holds the promise of this ballot
    /// (it makes the value its decision rests on durable first): stored unless the node holds
    /// a newer version or has promised a higher ballot than this one.
    CopyUnder(Version),
}

impl WriteMode {
    /// The highest promise under which a version `v` written in this mode is still taken.
    pub fn bound(self, v: Version) -> Version {
        match self {
            WriteMode::New | WriteMode::Copy => v,
            WriteMode::CopyUnder(ballot) => ballot,
        }
    }
}

/// `POST /v1/manifest/write` (and `put`, `put_hinted`, `/v1/cas/accept`) answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteReply {
    /// The node holds the version now (stored by this call or before; maybe superseded since).
    pub applied: bool,
    /// The newest version of the key on the node after the call.
    pub newest: Option<Version>,
    /// The highest ballot the node has promised for the key.
    pub promised: Option<Version>,
}

impl WriteReply {
    /// The highest stamp the node reported (what a refused writer must stamp above).
    pub fn floor(&self) -> Option<Version> {
        self.newest.max(self.promised)
    }
}

/// `POST /v1/manifest/write`: a manifest version and how to store it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteManifest {
    pub mode: WriteMode,
    pub manifest: Manifest,
}

/// `POST /v1/manifest/list`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListManifests {
    pub bucket: String,
    pub prefix: String,
    /// Return only keys greater than these raw bytes (need not be UTF-8, so a caller can skip a
    /// whole common prefix with `prefix + [0xFF]`).
    #[serde(with = "serde_bytes")]
    pub start_after: Vec<u8>,
    pub limit: u32,
}

/// `POST /v1/manifest/list` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListManifestsReply {
    pub entries: Vec<ListEntry>,
    /// More keys may follow the last entry.
    pub truncated: bool,
}

/// `POST /v1/cas/prepare`: phase one of a conditional write on one key. The node promises to
/// accept no write of that key with a lower ballot, and reports the key's newest version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prepare {
    pub bucket: String,
    pub key: String,
    pub ballot: Version,
    /// Versions (this writer's earlier attempts) the node should say whether it holds.
    #[serde(default)]
    pub check: Vec<Version>,
    /// An upload of the key whose state the node should report: its records share the key's
    /// promises, so a step of the upload (completion, abort) is agreed like a write of the key.
    #[serde(default)]
    pub upload: Option<Version>,
}

/// `POST /v1/cas/prepare` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepareReply {
    /// Whether the promise was given (no higher ballot was promised before).
    pub promised: bool,
    /// The highest ballot this node has promised, after this call.
    pub highest: Version,
    /// The newest version of the key on this node (a tombstone included).
    pub current: Option<Manifest>,
    /// Those of the checked versions the node holds.
    #[serde(default)]
    pub holds: Vec<Version>,
    /// The node's record of the upload asked about, if any.
    #[serde(default)]
    pub upload: Option<UploadRecord>,
}

/// `POST /v1/cas/accept`: phase two. The manifest's version is the ballot; the node stores it
/// as a new write ([`WriteMode::New`]): unless it has promised a higher ballot since or holds a
/// newer version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accept {
    pub manifest: Manifest,
}

/// `POST /v1/upload/write`: a new state of an upload and, for a completion, the object's
/// manifest, stored together or not at all, under the key's promises like a manifest write
/// (`mode`): `New` for an agreed step (both versions are the ballot), `CopyUnder(ballot)` for
/// the state a step's decision rests on, made durable first (its version kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteUpload {
    pub mode: WriteMode,
    pub upload: UploadRecord,
    pub manifest: Option<Manifest>,
}

/// `POST /v1/bucket/prepare`: phase one of an agreed change of a bucket record (create,
/// delete, settings): the node promises no write of the record below `ballot`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepareBucket {
    pub name: String,
    pub ballot: Version,
}

/// `POST /v1/bucket/prepare` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketPromise {
    pub promised: bool,
    /// The highest ballot promised for the record, after this call.
    pub highest: Version,
    /// The node's record (a tombstone included).
    pub current: Option<BucketRecord>,
}

/// `POST /v1/bucket/write`: a bucket record version and how to store it ([`WriteMode`]: `New`
/// for an agreed change, whose version is its ballot; `CopyUnder(ballot)` for the record a
/// change rests on, made durable first).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteBucket {
    pub mode: WriteMode,
    pub record: BucketRecord,
}

/// Encodes a message for the internal API.
#[allow(
    clippy::expect_used,
    reason = "the model's types have string map keys and no custom serializers: encoding them \
              into a Vec cannot fail"
)]
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("model types always serialize")
}

/// Decodes a message of the internal API.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn version_bytes_order_equals_version_order(a in any::<(u64, u64)>(), b in any::<(u64, u64)>()) {
            let va = Version { hlc: a.0, tiebreak: a.1 };
            let vb = Version { hlc: b.0, tiebreak: b.1 };
            prop_assert_eq!(va.cmp(&vb), va.to_bytes().cmp(&vb.to_bytes()));
            prop_assert_eq!(Version::from_bytes(&va.to_bytes()), Some(va));
        }

        #[test]
        fn chunk_id_round_trips(v in any::<(u64, u64)>(), part in any::<u32>(), index in any::<u32>()) {
            let id = ChunkId { version: Version { hlc: v.0, tiebreak: v.1 }, part, index };
            prop_assert_eq!(ChunkId::from_hex(&id.to_hex()), Some(id));
        }
    }

    #[test]
    fn manifest_round_trips() {
        let mut m = Manifest::tombstone(
            "b",
            "k",
            Version {
                hlc: 5,
                tiebreak: 7,
            },
        );
        m.deleted = false;
        m.layout = Layout::Chunked {
            chunk_size: 1 << 20,
            count: 3,
            data: None,
        };
        m.user_metadata.insert("a".into(), "b".into());
        let back: Manifest = decode(&encode(&m)).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.chunk_ids().len(), 3);
    }

    #[test]
    fn listing_view_decodes_from_a_stored_manifest() {
        let version = Version {
            hlc: 9 << 16,
            tiebreak: 1,
        };
        let mut m = Manifest::tombstone("b", "dir/k", version);
        m.deleted = false;
        m.size = 12345;
        m.etag = "0123456789abcdef0123456789abcdef".into();
        m.modified_ms = Some(42);
        m.user_metadata.insert("colour".into(), "blue".into());
        m.tags.insert("t".into(), "v".into());
        m.layout = Layout::Inline(vec![7; 100]);
        let listed = ListEntry::from_stored("dir/k".into(), version, &encode(&m)).unwrap();
        assert_eq!(listed, m.entry());
        m.incarnation = Some(Version {
            hlc: u64::MAX,
            tiebreak: 3,
        });
        let listed = ListEntry::from_stored("dir/k".into(), version, &encode(&m)).unwrap();
        assert_eq!(listed, m.entry());
        let tombstone = Manifest::tombstone("b", "dir/k", version);
        let listed = ListEntry::from_stored("dir/k".into(), version, &encode(&tombstone)).unwrap();
        assert!(listed.deleted);
        assert!(ListEntry::from_stored("k".into(), version, b"\x01").is_err());
    }
}
