//! The node's side of the record table (`node_api::table`): how each family is stored, and the
//! operations every family shares, written once: a row read and written by id under the
//! family's newest-wins rule ([`Store::get_row`], [`Store::put_row`]), the current version of
//! every record with its placement (what anti-entropy digests, [`Store::each_row`]), the
//! records this node holds but no longer owns (what a move copies, [`Store::rows_to_move`]),
//! and the release of one exact version after a move ([`Store::release_row`]).
//!
//! A family's own rules stay in its store module (manifests keep every version and answer
//! promises, `store`/`cas_store`; uploads and parts, `upload_store`); [`Stored`] only names
//! them.

use std::collections::HashMap;

use node_api::model::{
    decode, AccessKeyRecord, BucketRecord, ListParts, Manifest, PartRecord, SettingRecord,
    UploadRecord, Version, WriteMode,
};
use node_api::table::{Family, GetRow, Placement, Record, Row, RowVersion};
use node_api::with_record_type;
use placement::Ring;
use rocksdb::{Direction, IteratorMode};

use crate::keys;
use crate::moves::{owned, Hinted};
use crate::store::{Store, StoreError, StoreResult};
use crate::store::{CF_ACCESS_KEYS, CF_BUCKETS, CF_MANIFESTS, CF_PARTS, CF_SETTINGS, CF_UPLOADS};

/// How the node stores one family.
pub(crate) trait Stored: Record {
    /// The column family that holds it.
    const CF: &'static str;
    /// The newest version held (tombstones included).
    fn get(store: &Store, id: &Self::Id) -> StoreResult<Option<Self>>;
    /// Stores a copy under the family's rule; whether the node now holds this version or a
    /// newer one.
    fn put(store: &Store, record: &Self) -> StoreResult<bool>;
    /// Drops exactly this version, if held.
    fn release(store: &Store, id: &Self::Id, version: Version) -> StoreResult<()>;
}

fn corrupt(e: String) -> StoreError {
    StoreError::Corrupt(e)
}

/// A record kept by name in its column family, one version at a time.
fn get_named<R: Record>(store: &Store, cf: &str, name: &str) -> StoreResult<Option<R>> {
    match store.db.get_cf(store.cf(cf), name.as_bytes())? {
        Some(v) => Ok(Some(decode(&v).map_err(corrupt)?)),
        None => Ok(None),
    }
}

impl Stored for Manifest {
    const CF: &'static str = CF_MANIFESTS;
    fn get(store: &Store, (bucket, key): &Self::Id) -> StoreResult<Option<Self>> {
        store.get_manifest(bucket, key)
    }
    fn put(store: &Store, m: &Self) -> StoreResult<bool> {
        let r = store.put_manifest(m, WriteMode::Copy)?;
        Ok(r.applied || r.newest > Some(m.version))
    }
    fn release(store: &Store, (bucket, key): &Self::Id, version: Version) -> StoreResult<()> {
        store.remove_manifest_version(bucket, key, version)
    }
}

impl Stored for BucketRecord {
    const CF: &'static str = CF_BUCKETS;
    fn get(store: &Store, name: &Self::Id) -> StoreResult<Option<Self>> {
        store.get_bucket(name)
    }
    fn put(store: &Store, b: &Self) -> StoreResult<bool> {
        let r = store.write_bucket(WriteMode::Copy, b)?;
        Ok(r.applied || r.newest > Some(b.version))
    }
    fn release(store: &Store, name: &Self::Id, version: Version) -> StoreResult<()> {
        store.remove_bucket_version(name, version)
    }
}

/// A copy of an upload state is taken by version alone, not under the key's promises (its
/// agreed steps are written under them, `Store::write_upload`): a new upload's first state
/// is written this way, and its id (its version) may sit below a promise made for the key
/// since. Readers never spread upload states (the gateway does not repair them on read).
impl Stored for UploadRecord {
    const CF: &'static str = CF_UPLOADS;
    fn get(store: &Store, (bucket, key, id): &Self::Id) -> StoreResult<Option<Self>> {
        store.get_upload(bucket, key, *id)
    }
    fn put(store: &Store, u: &Self) -> StoreResult<bool> {
        Ok(store.put_upload(u)?
            || Self::get(store, &u.id())?.is_some_and(|held| held.version > u.version))
    }
    /// The record alone: its parts are rows of their own, released one by one (a move
    /// carries them before their upload; a hand-back, each by its own hint).
    fn release(store: &Store, (bucket, key, id): &Self::Id, version: Version) -> StoreResult<()> {
        store.remove_upload_version(bucket, key, *id, version)
    }
}

impl Stored for PartRecord {
    const CF: &'static str = CF_PARTS;
    fn get(store: &Store, (upload_id, number): &Self::Id) -> StoreResult<Option<Self>> {
        let listed = store.list_parts(&ListParts {
            upload_id: *upload_id,
            after: number.saturating_sub(1),
            limit: 1,
        })?;
        Ok(listed.into_iter().find(|p| p.layout.number == *number))
    }
    fn put(store: &Store, p: &Self) -> StoreResult<bool> {
        // What lost is `p` itself only when a newer part of that number is held.
        store.put_part(p)?;
        Ok(true)
    }
    fn release(store: &Store, id: &Self::Id, version: Version) -> StoreResult<()> {
        store.remove_part_version(id.0, id.1, version)
    }
}

impl Stored for AccessKeyRecord {
    const CF: &'static str = CF_ACCESS_KEYS;
    fn get(store: &Store, id: &Self::Id) -> StoreResult<Option<Self>> {
        get_named(store, CF_ACCESS_KEYS, id)
    }
    fn put(store: &Store, k: &Self) -> StoreResult<bool> {
        Ok(store.put_access_key(k)?
            || Self::get(store, &k.id)?.is_some_and(|held| held.version > k.version))
    }
    fn release(_: &Store, _: &Self::Id, _: Version) -> StoreResult<()> {
        Err(StoreError::Corrupt(
            "access keys are kept on every node".into(),
        ))
    }
}

impl Stored for SettingRecord {
    const CF: &'static str = CF_SETTINGS;
    fn get(store: &Store, name: &Self::Id) -> StoreResult<Option<Self>> {
        get_named(store, CF_SETTINGS, name)
    }
    fn put(store: &Store, s: &Self) -> StoreResult<bool> {
        Ok(store.put_setting(s)?
            || Self::get(store, &s.name)?.is_some_and(|held| held.version > s.version))
    }
    fn release(_: &Store, _: &Self::Id, _: Version) -> StoreResult<()> {
        Err(StoreError::Corrupt(
            "settings are kept on every node".into(),
        ))
    }
}

/// Where a record this node holds is placed: its placement key, or `None` (on every node).
/// Parts are placed with their upload, which this node must hold (else they are skipped).
struct Sites {
    /// Placement key of each upload held, and whether it is in progress.
    uploads: HashMap<Version, (Vec<u8>, bool)>,
}

impl Sites {
    fn new(store: &Store, family: Family) -> StoreResult<Sites> {
        let mut uploads = HashMap::new();
        if family == Family::Parts {
            for u in store.all_uploads()? {
                let key = Manifest::placement_key(&u.bucket, &u.key);
                uploads.insert(u.upload_id, (key, !u.ended));
            }
        }
        Ok(Sites { uploads })
    }

    /// `Some(None)`: on every node; `None`: not placed (a part of an upload not held, or, with
    /// `in_progress_only`, of an ended one).
    fn of(&self, placement: Placement, in_progress_only: bool) -> Option<Option<Vec<u8>>> {
        match placement {
            Placement::Key(k) => Some(Some(k)),
            Placement::Everywhere => Some(None),
            Placement::WithUpload(id) => self
                .uploads
                .get(&id)
                .filter(|(_, active)| *active || !in_progress_only)
                .map(|(k, _)| Some(k.clone())),
        }
    }
}

/// What [`Store::put_row_reporting`] did.
pub(crate) struct PutRowReport {
    /// The node holds this version or a newer one.
    pub held: bool,
    /// This version is the newest the node holds of its record.
    pub newest: bool,
    pub version: RowVersion,
}

/// One record a move copies: where it is placed, which version it is and the row itself.
pub struct MovingRow {
    pub placement: Vec<u8>,
    pub version: RowVersion,
    pub row: Row,
}

impl Store {
    /// The newest version this node holds of one record.
    pub fn get_row(&self, q: &GetRow) -> StoreResult<Option<Row>> {
        with_record_type!(q.family, R => {
            let id = decode(&q.id).map_err(corrupt)?;
            Ok(<R as Stored>::get(self, &id)?.map(|r| r.row()))
        })
    }

    /// Stores a copy of a row; whether the node now holds its version or a newer one.
    pub fn put_row(&self, row: &Row) -> StoreResult<bool> {
        Ok(self.put_row_reporting(row)?.held)
    }

    /// [`Store::put_row`], also saying which version the row is and whether it is now the
    /// newest the node holds of its record.
    pub(crate) fn put_row_reporting(&self, row: &Row) -> StoreResult<PutRowReport> {
        with_record_type!(row.family, R => {
            let record: R = row.decode().map_err(corrupt)?;
            let held = <R as Stored>::put(self, &record)?;
            let newest = <R as Stored>::get(self, &record.id())?.map(|r| r.version());
            Ok(PutRowReport {
                held,
                newest: newest == Some(record.version()),
                version: record.row_version(),
            })
        })
    }

    /// Every row of a small family (tombstones included); the others are refused.
    pub fn list_rows(&self, family: Family) -> StoreResult<Vec<Row>> {
        if !family.listed_whole() {
            return Err(corrupt(format!("{family:?} are not listed whole")));
        }
        with_record_type!(family, R => {
            let mut rows = Vec::new();
            for item in self.db.iterator_cf(self.cf(<R as Stored>::CF), IteratorMode::Start) {
                let (_, value) = item?;
                rows.push(Row { family, record: value.to_vec() });
            }
            Ok(rows)
        })
    }

    /// Drops exactly this version of a record, if held (after a move or a hand-back).
    pub fn release_row(&self, v: &RowVersion) -> StoreResult<()> {
        with_record_type!(v.family, R => {
            let id = v.id::<R>().map_err(corrupt)?;
            <R as Stored>::release(self, &id, v.version)
        })
    }

    /// Calls `visit(placement key, version)` for the current version of every record of
    /// `family` this node holds (placement `None`: kept on every node). Manifests: the newest
    /// version of each key, from the keys alone (replicas agree on what is current; which
    /// superseded versions each still keeps is no concern of theirs). Parts: those of uploads
    /// in progress (parts of ended ones are on their way out).
    pub fn each_row(
        &self,
        family: Family,
        mut visit: impl FnMut(Option<&[u8]>, RowVersion),
    ) -> StoreResult<()> {
        if family == Family::Manifests {
            return self.each_current_manifest(|m, v| {
                visit(
                    Some(&Manifest::placement_key(&m.0, &m.1)),
                    RowVersion::of::<Manifest>(&m, v),
                )
            });
        }
        let sites = Sites::new(self, family)?;
        with_record_type!(family, R => self.each_decoded::<R>(|record| {
            if let Some(site) = sites.of(record.placement(), true) {
                visit(site.as_deref(), record.row_version());
            }
        }))
    }

    /// Every record of `R`'s family the node stores (every version), decoded.
    fn each_decoded<R: Stored>(&self, mut visit: impl FnMut(R)) -> StoreResult<()> {
        for item in self.db.iterator_cf(self.cf(R::CF), IteratorMode::Start) {
            let (_, value) = item?;
            visit(decode(&value).map_err(corrupt)?);
        }
        Ok(())
    }

    /// The chunk groups each record of `family` the node stores holds, every version of it
    /// (superseded and hinted ones included: they are still read until collected).
    pub(crate) fn each_chunk_groups(
        &self,
        family: Family,
        mut visit: impl FnMut(Vec<(Version, u32)>),
    ) -> StoreResult<()> {
        with_record_type!(family, R => self.each_decoded::<R>(|record| visit(record.chunk_groups())))
    }

    /// `(bucket, key)` and newest version of every manifest key, in key order.
    fn each_current_manifest(
        &self,
        mut visit: impl FnMut(<Manifest as Record>::Id, Version),
    ) -> StoreResult<()> {
        let mut last: Option<(Vec<u8>, Vec<u8>)> = None;
        let text = |b: Vec<u8>| {
            String::from_utf8(b).map_err(|_| corrupt("manifest key is not UTF-8".into()))
        };
        for item in self
            .db
            .iterator_cf(self.cf(CF_MANIFESTS), IteratorMode::Start)
        {
            let (raw, _) = item?;
            let Some((bucket, key, version)) = keys::parse_manifest_key(&raw) else {
                continue;
            };
            if last
                .as_ref()
                .is_some_and(|(b, k)| *b == bucket && *k == key)
            {
                continue;
            }
            last = Some((bucket.clone(), key.clone()));
            visit((text(bucket)?, text(key)?), version);
        }
        Ok(())
    }

    /// One page of the rows of `family` this node holds but does not own under `ring` (with
    /// `n` owners; `me` its index, if in the map): every version of them (manifests keep
    /// several), except those held for another node (`hinted`). Scans at
    /// most `budget` entries after the raw key `after`; answers the rows and the last raw key
    /// looked at (`None`: the scan reached the end).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rows_to_move(
        &self,
        family: Family,
        ring: &Ring,
        n: usize,
        me: Option<usize>,
        hinted: &Hinted,
        after: Option<&[u8]>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<(Vec<MovingRow>, Option<Vec<u8>>)> {
        let sites = Sites::new(self, family)?;
        with_record_type!(family, R => {
            let mode = match after {
                Some(after) => IteratorMode::From(after, Direction::Forward),
                None => IteratorMode::Start,
            };
            let mut rows = Vec::new();
            let mut next = None;
            for (scanned, item) in self.db.iterator_cf(self.cf(<R as Stored>::CF), mode).enumerate() {
                let (raw, value) = item?;
                if after == Some(&raw[..]) {
                    continue;
                }
                if rows.len() >= limit.max(1) || scanned >= budget {
                    return Ok((rows, next));
                }
                next = Some(raw.to_vec());
                if family == Family::Manifests
                    && (keys::parse_manifest_key(&raw).is_none()
                        || hinted.manifests.contains(&*raw))
                {
                    continue;
                }
                let record: R = decode(&value).map_err(corrupt)?;
                // Records kept everywhere never move; parts go with an upload held here.
                let Some(Some(placement)) = sites.of(record.placement(), false) else {
                    continue;
                };
                let version = record.row_version();
                if !owned(ring, n, me, &placement) && !hinted.rows.contains(&version) {
                    rows.push(MovingRow {
                        placement,
                        version,
                        row: Row { family, record: value.to_vec() },
                    });
                }
            }
            Ok((rows, None))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload_store::tests::{part, upload};
    use node_api::model::Layout;
    use placement::ClusterMap;

    fn v(hlc: u64) -> Version {
        Version { hlc, tiebreak: 1 }
    }

    fn bucket(version: u64) -> BucketRecord {
        BucketRecord {
            name: "b".into(),
            version: v(version),
            deleted: false,
            owner: "o".into(),
            region: "r".into(),
            public_read: false,
            incarnation: Some(v(1)),
            config: Default::default(),
        }
    }

    fn manifest(key: &str, version: u64) -> Manifest {
        let mut m = Manifest::tombstone("b", key, v(version));
        m.deleted = false;
        m.layout = Layout::Inline(b"abc".to_vec());
        m
    }

    fn access_key(version: u64) -> AccessKeyRecord {
        AccessKeyRecord {
            id: "AK".into(),
            version: v(version),
            deleted: false,
            key_id: "k1".into(),
            sealed_secret: vec![1, 2, 3],
            grants: Default::default(),
        }
    }

    fn get<R: Record>(store: &Store, r: &R) -> Option<R> {
        let q = GetRow {
            family: R::FAMILY,
            id: node_api::model::encode(&r.id()),
        };
        store.get_row(&q).unwrap().map(|row| row.decode().unwrap())
    }

    /// Each family: a copy is taken, an older one is answered as held (a newer version is
    /// there), and a release drops only the exact version named.
    fn newest_wins_and_release_names_a_version<R: Record + PartialEq>(
        store: &Store,
        old: R,
        new: R,
        released: bool,
    ) {
        assert!(store.put_row(&new.row()).unwrap());
        assert!(
            store.put_row(&old.row()).unwrap(),
            "a newer version is held"
        );
        assert_eq!(get(store, &new), Some(new.clone()));
        let result = store.release_row(&old.row_version());
        assert_eq!(result.is_ok(), released);
        assert_eq!(get(store, &new), Some(new.clone()), "another version stays");
        if released {
            store.release_row(&new.row_version()).unwrap();
            assert_eq!(get(store, &new), None);
        }
    }

    #[test]
    fn every_family_is_read_written_and_released_through_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        newest_wins_and_release_names_a_version(&store, bucket(2), bucket(3), true);
        let (mut old_u, mut new_u) = (upload("k", 5), upload("k", 5));
        (old_u.version, new_u.version, new_u.ended) = (v(5), v(6), true);
        newest_wins_and_release_names_a_version(&store, old_u, new_u, true);
        newest_wins_and_release_names_a_version(&store, part(5, 1, 7), part(5, 1, 8), true);
        newest_wins_and_release_names_a_version(&store, manifest("x", 3), manifest("x", 4), true);
        // Records kept everywhere never move, so are never released.
        newest_wins_and_release_names_a_version(&store, access_key(1), access_key(2), false);
        let s = |version| SettingRecord {
            name: "job".into(),
            version: v(version),
            value: vec![version as u8],
        };
        newest_wins_and_release_names_a_version(&store, s(1), s(2), false);
        assert_eq!(store.list_rows(Family::AccessKeys).unwrap().len(), 1);
        assert!(
            store.list_rows(Family::Manifests).is_err(),
            "not listed whole"
        );
        // A row of one family is not taken as another's.
        let mut wrong = bucket(9).row();
        wrong.family = Family::Settings;
        assert!(store.put_row(&wrong).is_err());
    }

    #[test]
    fn current_versions_carry_their_placement_and_parts_follow_their_upload() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .put_manifest(&manifest("x", 3), WriteMode::New)
            .unwrap();
        store
            .put_manifest(&manifest("x", 4), WriteMode::New)
            .unwrap();
        store.put_upload(&upload("up", 10)).unwrap();
        let mut ended = upload("done", 11);
        ended.ended = true;
        store.put_upload(&ended).unwrap();
        store.put_part(&part(10, 1, 12)).unwrap();
        store.put_part(&part(11, 1, 13)).unwrap();
        store.put_part(&part(99, 1, 14)).unwrap(); // its upload is not here
        store.put_row(&access_key(1).row()).unwrap();
        let seen = |family| {
            let mut out = Vec::new();
            store
                .each_row(family, |p, rv| out.push((p.map(<[u8]>::to_vec), rv)))
                .unwrap();
            out
        };
        assert_eq!(
            seen(Family::Manifests),
            vec![(
                Some(Manifest::placement_key("b", "x")),
                manifest("x", 4).row_version()
            )],
            "only the current version of a key"
        );
        assert_eq!(
            seen(Family::Parts),
            vec![(
                Some(Manifest::placement_key("b", "up")),
                part(10, 1, 12).row_version()
            )],
            "parts of uploads in progress, placed with them"
        );
        assert_eq!(
            seen(Family::AccessKeys),
            vec![(None, access_key(1).row_version())]
        );
        // Under a map without this node, everything placed moves (every manifest version,
        // parts of any upload held here), nothing kept everywhere does.
        let map = ClusterMap::from_yaml(
            "epoch: 1\nreplication: { n: 1, w: 1, r: 1 }\nnodes:\n  - { id: other, address: \"x:1\" }\n",
        )
        .unwrap();
        let ring = Ring::new(&map);
        let moving = |family| {
            store
                .rows_to_move(family, &ring, 1, None, &Hinted::default(), None, 100, 1000)
                .unwrap()
                .0
                .into_iter()
                .map(|r| r.version)
                .collect::<Vec<_>>()
        };
        assert_eq!(moving(Family::Manifests).len(), 2);
        assert_eq!(moving(Family::Parts).len(), 2);
        assert_eq!(moving(Family::Uploads).len(), 2);
        assert!(moving(Family::AccessKeys).is_empty());
    }
}
