//! The one replicated record table, as its schemas: every kind of record the cluster keeps
//! (object versions, buckets, multipart uploads and their parts, access keys, settings) is a
//! [`Family`] of one table, described once by [`Record`]: its identity within the family, its
//! version (the newer one of two wins on every replica), and where it is placed.
//!
//! The background machinery that copies records between nodes (anti-entropy, moves after a map
//! change) works on families and rows, never on one kind of record: a [`Row`] is a record in
//! its family, encoded; a [`RowVersion`] names one version of one record (what replicas
//! compare, and what a move releases). A node reads and writes any row through the same two
//! calls ([`GetRow`], [`PutRow`]), under its family's newest-wins rule.

use std::fmt::Debug;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{
    decode, encode, AccessKeyRecord, BucketRecord, Manifest, PartRecord, SettingRecord,
    UploadRecord, Version,
};

/// The families of the record table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// Object versions and tombstones ([`Manifest`]).
    Manifests,
    /// Buckets and their tombstones ([`BucketRecord`]).
    Buckets,
    /// Multipart uploads, ended ones included ([`UploadRecord`]).
    Uploads,
    /// Parts of multipart uploads ([`PartRecord`]).
    Parts,
    /// Stored access keys and their tombstones ([`AccessKeyRecord`]).
    AccessKeys,
    /// Cluster-wide settings ([`SettingRecord`]).
    Settings,
}

impl Family {
    /// The order the collector gathers what records hold: parts before object versions
    /// (a completion writes its object before it drops its parts, so a scan meets a completed
    /// part either way).
    pub const REFERENCE_SCAN: [Family; 6] = [
        Family::Parts,
        Family::Uploads,
        Family::Buckets,
        Family::AccessKeys,
        Family::Settings,
        Family::Manifests,
    ];

    pub const ALL: [Family; 6] = [
        Family::Manifests,
        Family::Buckets,
        Family::Uploads,
        Family::Parts,
        Family::AccessKeys,
        Family::Settings,
    ];
}

/// Where the records of a family are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On the owners of this placement key on the ring.
    Key(Vec<u8>),
    /// With the multipart upload of this id (on the owners of its object's key).
    WithUpload(Version),
    /// On every node.
    Everywhere,
}

/// A kind of record of the table.
pub trait Record: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static {
    const FAMILY: Family;
    /// What names one record of the family (all its versions).
    type Id: Serialize + DeserializeOwned + Clone + Eq + Hash + Debug + Send + Sync;

    fn id(&self) -> Self::Id;
    /// Of two versions of one record, the newer wins on every replica.
    fn version(&self) -> Version;
    fn placement(&self) -> Placement;

    /// The chunk groups (data version, part number) this version holds: what it releases
    /// once it is superseded and collected (the collector frees chunks no record holds).
    fn chunk_groups(&self) -> Vec<(Version, u32)> {
        Vec::new()
    }

    /// This record as a row of the table.
    fn row(&self) -> Row {
        Row {
            family: Self::FAMILY,
            record: encode(self),
        }
    }

    /// Which version of which record this is.
    fn row_version(&self) -> RowVersion {
        RowVersion::of::<Self>(&self.id(), self.version())
    }
}

/// One record of the table, encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub family: Family,
    #[serde(with = "serde_bytes")]
    pub record: Vec<u8>,
}

impl Row {
    /// The record, if the row is of `R`'s family.
    pub fn decode<R: Record>(&self) -> Result<R, String> {
        if self.family != R::FAMILY {
            return Err(format!("a row of {:?}, not {:?}", self.family, R::FAMILY));
        }
        decode(&self.record)
    }
}

/// One version of one record: its family, its encoded id and the version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowVersion {
    pub family: Family,
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    pub version: Version,
}

impl RowVersion {
    pub fn of<R: Record>(id: &R::Id, version: Version) -> RowVersion {
        RowVersion {
            family: R::FAMILY,
            id: encode(id),
            version,
        }
    }

    /// The record's id, if the row version is of `R`'s family.
    pub fn id<R: Record>(&self) -> Result<R::Id, String> {
        if self.family != R::FAMILY {
            return Err(format!("an id of {:?}, not {:?}", self.family, R::FAMILY));
        }
        decode(&self.id)
    }

    /// The record this is a version of (family and id, without the version).
    pub fn record(&self) -> (Family, &[u8]) {
        (self.family, &self.id)
    }
}

/// `POST /v1/row/get`: the newest version a node holds of one record (tombstones included).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetRow {
    pub family: Family,
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
}

/// `POST /v1/row/put`: store a row under its family's newest-wins rule (a copy, keeping its
/// version; a conditional writer's promise still refuses it). Answers whether the node now
/// holds this version or a newer one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutRow(pub Row);

/// `POST /v1/row/put_hinted`: store a row for `owner` (down), with a hint naming it, as
/// [`PutRow`] would; the hint is kept only while this version is the newest held. Answers as
/// [`PutRow`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutHintedRow {
    pub owner: String,
    pub row: Row,
}

/// `POST /v1/row/list`: every row a node holds of a small family (buckets, access keys,
/// settings; nodes refuse the others), tombstones included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListRows {
    pub family: Family,
}

impl Family {
    /// Whether a node lists the family whole ([`ListRows`]): only the small ones.
    pub fn listed_whole(self) -> bool {
        matches!(
            self,
            Family::Buckets | Family::AccessKeys | Family::Settings
        )
    }
}

/// Evaluates `$body` with `$R` standing for the record type of `$family`: the one place a
/// family becomes a type.
#[macro_export]
macro_rules! with_record_type {
    ($family:expr, $R:ident => $body:expr) => {
        match $family {
            $crate::table::Family::Manifests => {
                type $R = $crate::model::Manifest;
                $body
            }
            $crate::table::Family::Buckets => {
                type $R = $crate::model::BucketRecord;
                $body
            }
            $crate::table::Family::Uploads => {
                type $R = $crate::model::UploadRecord;
                $body
            }
            $crate::table::Family::Parts => {
                type $R = $crate::model::PartRecord;
                $body
            }
            $crate::table::Family::AccessKeys => {
                type $R = $crate::model::AccessKeyRecord;
                $body
            }
            $crate::table::Family::Settings => {
                type $R = $crate::model::SettingRecord;
                $body
            }
        }
    };
}

impl Record for Manifest {
    const FAMILY: Family = Family::Manifests;
    /// Bucket and key.
    type Id = (String, String);

    fn id(&self) -> Self::Id {
        (self.bucket.clone(), self.key.clone())
    }
    fn version(&self) -> Version {
        self.version
    }
    fn placement(&self) -> Placement {
        Placement::Key(Manifest::placement_key(&self.bucket, &self.key))
    }
    fn chunk_groups(&self) -> Vec<(Version, u32)> {
        let mut groups: Vec<(Version, u32)> = self
            .chunk_ids()
            .iter()
            .map(|id| (id.version, id.part))
            .collect();
        groups.dedup();
        groups
    }
}

impl Record for BucketRecord {
    const FAMILY: Family = Family::Buckets;
    /// The bucket's name.
    type Id = String;

    fn id(&self) -> Self::Id {
        self.name.clone()
    }
    fn version(&self) -> Version {
        self.version
    }
    fn placement(&self) -> Placement {
        Placement::Key(BucketRecord::placement_key(&self.name))
    }
}

impl Record for UploadRecord {
    const FAMILY: Family = Family::Uploads;
    /// Bucket, key and upload id.
    type Id = (String, String, Version);

    fn id(&self) -> Self::Id {
        (self.bucket.clone(), self.key.clone(), self.upload_id)
    }
    fn version(&self) -> Version {
        self.version
    }
    fn placement(&self) -> Placement {
        Placement::Key(Manifest::placement_key(&self.bucket, &self.key))
    }
}

impl Record for PartRecord {
    const FAMILY: Family = Family::Parts;
    /// Upload id and part number.
    type Id = (Version, u32);

    fn id(&self) -> Self::Id {
        (self.upload_id, self.layout.number)
    }
    fn version(&self) -> Version {
        self.layout.version
    }
    fn placement(&self) -> Placement {
        Placement::WithUpload(self.upload_id)
    }
    fn chunk_groups(&self) -> Vec<(Version, u32)> {
        vec![(self.layout.version, self.layout.number)]
    }
}

impl Record for AccessKeyRecord {
    const FAMILY: Family = Family::AccessKeys;
    /// The access key id.
    type Id = String;

    fn id(&self) -> Self::Id {
        self.id.clone()
    }
    fn version(&self) -> Version {
        self.version
    }
    fn placement(&self) -> Placement {
        Placement::Everywhere
    }
}

impl Record for SettingRecord {
    const FAMILY: Family = Family::Settings;
    /// The setting's name.
    type Id = String;

    fn id(&self) -> Self::Id {
        self.name.clone()
    }
    fn version(&self) -> Version {
        self.version
    }
    fn placement(&self) -> Placement {
        Placement::Everywhere
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(hlc: u64) -> Version {
        Version { hlc, tiebreak: 1 }
    }

    #[test]
    fn rows_and_ids_round_trip_and_keep_to_their_family() {
        let b = BucketRecord {
            name: "photos".into(),
            version: v(5),
            deleted: false,
            owner: "AK".into(),
            region: "us-east-1".into(),
            public_read: false,
            incarnation: Some(v(5)),
            config: Default::default(),
        };
        let row = b.row();
        assert_eq!(row.decode::<BucketRecord>().unwrap(), b);
        assert!(row.decode::<SettingRecord>().is_err());
        let rv = b.row_version();
        assert_eq!(rv.id::<BucketRecord>().unwrap(), "photos");
        assert!(rv.id::<AccessKeyRecord>().is_err());
        assert_eq!(rv.version, v(5));
        // Same name in another family is another record.
        let s = RowVersion::of::<SettingRecord>(&"photos".to_string(), v(5));
        assert_ne!(s.record(), rv.record());
    }

    #[test]
    fn every_family_has_one_record_type() {
        for f in Family::ALL {
            assert_eq!(with_record_type!(f, R => R::FAMILY), f);
        }
    }
}
