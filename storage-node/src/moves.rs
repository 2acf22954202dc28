//! Membership on the node: the cluster map state it keeps (so any gateway, and a node joining,
//! can learn it from here), and the node's half of moving data after a change: listing the
//! records it holds that it no longer owns under the new map, and releasing each one once the
//! gateway has put it on all its new owners.
//!
//! A record held for another node (a hint) is not listed: hinted handoff hands it back, and the
//! owner then moves it on if it no longer owns it. A release names the exact version it moves,
//! so a newer version written meanwhile stays (and is listed by the next pass).

use std::collections::HashSet;

use placement::{ClusterMap, MapState, Ring};
use rocksdb::{Direction, IteratorMode};

use crate::keys;
use crate::model::{decode, encode, ChunkId, Hint};
use crate::store::{synced, Store, StoreError, StoreResult};
use crate::store::{CF_CHUNK_SUMS, CF_HINTS};
use node_api::table::RowVersion;

/// Where the map state lives in the default column family.
const MAP_STATE_KEY: &[u8] = b"cluster-map-state";
/// Entries one listing call looks at at most, so a call stays short on a big node.
const SCAN_BUDGET: usize = 50_000;

pub use node_api::moves::{MoveKind, MoveList, MovePage, Moving, Release, Released};

/// Records held here for other nodes (hints), which moves leave to the hand-back.
#[derive(Default)]
pub(crate) struct Hinted {
    /// Raw manifest keys (one version each).
    pub manifests: HashSet<Vec<u8>>,
    pub rows: HashSet<RowVersion>,
    pub chunks: HashSet<ChunkId>,
}

/// The placement key of a record and whether `me` is among its owners under `ring`.
pub(crate) fn owned(ring: &Ring, n: usize, me: Option<usize>, placement_key: &[u8]) -> bool {
    let Some(me) = me else {
        return false;
    };
    ring.preference_list(placement_key)
        .iter()
        .take(n)
        .any(|&owner| owner == me)
}

impl Store {
    /// The map state this node holds, if any gateway has given it one.
    pub fn map_state(&self) -> StoreResult<Option<MapState>> {
        match self.db.get(MAP_STATE_KEY)? {
            Some(v) => Ok(Some(decode(&v).map_err(StoreError::Corrupt)?)),
            None => Ok(None),
        }
    }

    /// Keeps `state` (durably) as the node's map state.
    pub fn save_map_state(&self, state: &MapState) -> StoreResult<()> {
        self.db.put_opt(MAP_STATE_KEY, encode(state), &synced())?;
        Ok(())
    }

    /// Records held here for other nodes (hints): manifest keys and chunk ids.
    fn hinted(&self) -> StoreResult<Hinted> {
        let mut hinted = Hinted::default();
        for item in self.db.iterator_cf(self.cf(CF_HINTS), IteratorMode::Start) {
            let (_, v) = item?;
            match decode::<Hint>(&v).map_err(StoreError::Corrupt)? {
                Hint::Chunk { id, .. } => {
                    hinted.chunks.insert(id);
                }
                Hint::Manifest {
                    bucket,
                    key,
                    version,
                    ..
                } => {
                    hinted
                        .manifests
                        .insert(keys::manifest_key(&bucket, key.as_bytes(), version));
                }
                Hint::Row { version, .. } => {
                    hinted.rows.insert(version);
                }
            }
        }
        Ok(hinted)
    }

    /// One page of the records of `q.kind` this node holds but does not own under `q.map`.
    pub fn move_list(&self, q: &MoveList) -> StoreResult<MovePage> {
        let ring = Ring::new(&q.map);
        let n = q.map.replication.n.min(q.map.nodes.len());
        let me = q.map.nodes.iter().position(|node| node.id == q.me);
        let hinted = self.hinted()?;
        let limit = q.limit.max(1) as usize;
        if let MoveKind::Rows(family) = q.kind {
            let (rows, next) = self.rows_to_move(
                family,
                &ring,
                n,
                me,
                &hinted,
                q.after.as_deref(),
                limit,
                SCAN_BUDGET,
            )?;
            let records = rows
                .into_iter()
                .map(|r| Moving::Row {
                    placement: r.placement,
                    version: r.version,
                    row: r.row,
                })
                .collect();
            return Ok(MovePage { records, next });
        }
        let mode = match &q.after {
            Some(after) => IteratorMode::From(after, Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut page = MovePage::default();
        for (scanned, item) in self
            .db
            .iterator_cf(self.cf(CF_CHUNK_SUMS), mode)
            .enumerate()
        {
            let (raw, _) = item?;
            if q.after.as_deref() == Some(&raw[..]) {
                continue;
            }
            // `next` is the last key looked at: the next page resumes after it.
            if page.records.len() >= limit || scanned >= SCAN_BUDGET {
                return Ok(page);
            }
            page.next = Some(raw.to_vec());
            match ChunkId::from_bytes(&raw) {
                Some(id) if !hinted.chunks.contains(&id) && !owned(&ring, n, me, &raw) => {
                    page.records.push(Moving::Chunk(id));
                }
                _ => {}
            }
        }
        page.next = None;
        Ok(page)
    }

    /// Drops this node's copy of a moved record (only that exact version).
    pub fn release(&self, record: &Released) -> StoreResult<()> {
        match record {
            Released::Row { version, .. } => self.release_row(version),
            Released::Chunk(id) => self.delete_chunk(*id),
        }
    }
}

/// Whether node `me` owns `placement_key` under `map`, whose ring is `ring`.
pub fn owns(map: &ClusterMap, ring: &Ring, me: &str, placement_key: &[u8]) -> bool {
    let me = map.nodes.iter().position(|node| node.id == me);
    owned(
        ring,
        map.replication.n.min(map.nodes.len()),
        me,
        placement_key,
    )
}

impl Store {
    /// Whether this node holds chunk `id` (without reading it).
    pub fn has_chunk(&self, id: ChunkId) -> StoreResult<bool> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(CF_CHUNK_SUMS), id.to_bytes())?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Layout, Manifest, Version};
    use node_api::table::Record;

    fn map(nodes: &[&str]) -> ClusterMap {
        let mut text = "epoch: 1\nreplication: { n: 2, w: 1, r: 2 }\nnodes:\n".to_string();
        for (i, id) in nodes.iter().enumerate() {
            text.push_str(&format!("  - {{ id: {id}, address: \"x:{i}\" }}\n"));
        }
        ClusterMap::from_yaml(&text).unwrap()
    }

    fn chunk(i: u32) -> ChunkId {
        ChunkId {
            version: Version {
                hlc: 7,
                tiebreak: 7,
            },
            part: 0,
            index: i,
        }
    }

    fn listed(
        store: &Store,
        map: &ClusterMap,
        me: &str,
        kind: MoveKind,
        limit: u32,
    ) -> Vec<Moving> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .move_list(&MoveList {
                    map: map.clone(),
                    me: me.into(),
                    kind,
                    after,
                    limit,
                })
                .unwrap();
            all.extend(page.records);
            match page.next {
                Some(n) => after = Some(n),
                None => return all,
            }
        }
    }

    #[test]
    fn lists_exactly_what_the_node_no_longer_owns_and_releases_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = map(&["a", "b"]);
        let new = map(&["a", "b", "c"]);
        for i in 0..100 {
            store.put_chunk(chunk(i), &b"x".into()).unwrap();
        }
        let mut m = Manifest::tombstone(
            "bkt",
            "k",
            Version {
                hlc: 3,
                tiebreak: 1,
            },
        );
        m.deleted = false;
        m.layout = Layout::Inline(b"abc".to_vec());
        store
            .put_manifest(&m, crate::model::WriteMode::New)
            .unwrap();
        // Under the old map node a owns everything (n = 2 of 2 nodes).
        assert!(listed(&store, &old, "a", MoveKind::Chunks, 7).is_empty());
        // Under the new one, exactly the chunks whose owners leave out a, in pages of 7.
        let moving: Vec<ChunkId> = listed(&store, &new, "a", MoveKind::Chunks, 7)
            .into_iter()
            .map(|r| match r {
                Moving::Chunk(id) => id,
                other => panic!("{other:?}"),
            })
            .collect();
        let expected: Vec<ChunkId> = (0..100)
            .map(chunk)
            .filter(|id| !owns(&new, &Ring::new(&new), "a", &id.to_bytes()))
            .collect();
        assert!(!expected.is_empty() && expected.len() < 100);
        assert_eq!(moving.len(), expected.len());
        // A hinted chunk is the hint's business, not the move's.
        let hinted = expected[0];
        store.put_hinted_chunk("c", hinted, &b"x".into()).unwrap();
        assert_eq!(
            listed(&store, &new, "a", MoveKind::Chunks, 7).len(),
            expected.len() - 1
        );
        for id in &expected[1..] {
            store.release(&Released::Chunk(*id)).unwrap();
        }
        assert!(listed(&store, &new, "a", MoveKind::Chunks, 7).is_empty());
        // A release names one version: a newer one written meanwhile stays.
        let mut newer = m.clone();
        newer.version.hlc = 9;
        store
            .put_manifest(&newer, crate::model::WriteMode::New)
            .unwrap();
        store
            .release(&Released::Row {
                placement: Manifest::placement_key("bkt", "k"),
                version: m.row_version(),
            })
            .unwrap();
        assert_eq!(
            store.get_manifest("bkt", "k").unwrap().unwrap().version.hlc,
            9
        );
    }

    #[test]
    fn the_map_state_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let state = MapState::settled(map(&["a", "b"]));
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.map_state().unwrap(), None);
            store.save_map_state(&state).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.map_state().unwrap(), Some(state));
    }
}
