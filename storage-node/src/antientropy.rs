//! The node's half of anti-entropy: digests of what it holds, arranged so that two replicas can
//! compare exactly the records both should hold, and the record lists of one cell.
//!
//! The gateway sends the cluster map with each request. For the current version of every row
//! of one family of the record table (`Store::each_row`: object versions, buckets, uploads,
//! parts of uploads in progress, access keys, settings) and for every chunk, the node computes
//! the record's owners (on the ring from its placement key; every node for records kept
//! everywhere); for every *other* owner `p` it folds the record into cell `(p, c)`, where `c`
//! is the top [`CELL_BITS`] bits of the record's placement hash (for records kept everywhere,
//! of their identity). A cell's digest is the XOR of a hash of each record's identity (row:
//! family, id, version; chunk: id) and a count. Node A's cell `(B, c)` and node B's cell
//! `(A, c)` cover the same records when both are in sync, so the gateway compares them and
//! lists only the cells that differ: the network cost follows the differences, not the data.
//! The scan itself is local (manifests and chunk checksums only; chunk values are never read).

use std::collections::HashMap;

use placement::Ring;
use rocksdb::IteratorMode;

use crate::model::ChunkId;
use crate::store::{Store, StoreResult, CF_CHUNK_SUMS};

pub use node_api::antientropy::*;

impl Store {
    /// Calls `visit(placement key, kept everywhere, record)` for every record of `kind` this
    /// node holds; a record kept on every node is placed by its own identity.
    fn each_record(
        &self,
        kind: RecordKind,
        mut visit: impl FnMut(&[u8], bool, Record),
    ) -> StoreResult<()> {
        match kind {
            RecordKind::Rows(family) => self.each_row(family, |placement, v| match placement {
                Some(p) => visit(p, false, Record::Row(v)),
                None => visit(&row_identity(&v, false), true, Record::Row(v)),
            }),
            RecordKind::Chunks => {
                for item in self
                    .db
                    .iterator_cf(self.cf(CF_CHUNK_SUMS), IteratorMode::Start)
                {
                    let (raw, _) = item?;
                    if let Some(id) = ChunkId::from_bytes(&raw) {
                        visit(&raw, false, Record::Chunk(id));
                    }
                }
                Ok(())
            }
        }
    }

    /// This node's digests of `kind`, per peer and cell (see the module documentation).
    pub fn digest(&self, q: &DigestRequest) -> StoreResult<Digests> {
        let ring = Ring::new(&q.map);
        let me = q.map.nodes.iter().position(|n| n.id == q.me);
        let n = q.map.replication.n;
        let mut out: Digests = HashMap::new();
        let everyone: Vec<usize> = (0..q.map.nodes.len()).collect();
        self.each_record(q.kind, |placement, everywhere, record| {
            let owners = owners_of(&ring, n, &everyone, placement, everywhere);
            if me.is_none_or(|me| !owners.contains(&me)) {
                return; // held for another node (a hint): not this node's to compare
            }
            let cell = cell_of(placement);
            let fp = record.fingerprint();
            for o in owners {
                if Some(o) == me {
                    continue;
                }
                let Some(node) = q.map.nodes.get(o) else {
                    continue;
                };
                let cells = out
                    .entry(node.id.clone())
                    .or_insert_with(|| vec![(0, 0); CELLS]);
                if let Some((sum, count)) = cells.get_mut(cell) {
                    *sum ^= fp;
                    *count = count.saturating_add(1);
                }
            }
        })?;
        Ok(out)
    }

    /// The records of the cells `q.cells` this node shares with `q.peer`, by cell.
    pub fn cells(&self, q: &CellRequest) -> StoreResult<HashMap<u32, Vec<Record>>> {
        let ring = Ring::new(&q.map);
        let me = q.map.nodes.iter().position(|n| n.id == q.me);
        let peer = q.map.nodes.iter().position(|n| n.id == q.peer);
        let n = q.map.replication.n;
        let mut out: HashMap<u32, Vec<Record>> = HashMap::new();
        let everyone: Vec<usize> = (0..q.map.nodes.len()).collect();
        self.each_record(q.kind, |placement, everywhere, record| {
            let cell = cell_of(placement) as u32;
            if !q.cells.contains(&cell) {
                return;
            }
            let owners = owners_of(&ring, n, &everyone, placement, everywhere);
            if me.is_some_and(|m| owners.contains(&m)) && peer.is_some_and(|p| owners.contains(&p))
            {
                out.entry(cell).or_default().push(record);
            }
        })?;
        Ok(out)
    }
}

/// The owners of a record: every node for one kept everywhere, else the first `n` of its
/// placement key's preference list.
fn owners_of(
    ring: &Ring,
    n: usize,
    everyone: &[usize],
    placement: &[u8],
    everywhere: bool,
) -> Vec<usize> {
    if everywhere {
        return everyone.to_vec();
    }
    let mut owners = ring.preference_list(placement);
    owners.truncate(n);
    owners
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Version;
    use placement::ClusterMap;

    fn map() -> ClusterMap {
        ClusterMap::from_yaml(
            "epoch: 1\nreplication: { n: 2, w: 1, r: 2 }\nnodes:\n  - { id: a, address: \"x:1\" }\n  - { id: b, address: \"x:2\" }\n  - { id: c, address: \"x:3\" }\n",
        )
        .unwrap()
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

    #[test]
    fn replicas_in_sync_have_equal_cells_and_a_difference_shows_in_one_cell() {
        let map = map();
        let ring = Ring::new(&map);
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let stores: Vec<Store> = dirs
            .iter()
            .map(|d| Store::open(d.path()).unwrap())
            .collect();
        // Every chunk on each of its two owners.
        for i in 0..200 {
            let mut owners = ring.preference_list(&chunk(i).to_bytes());
            owners.truncate(2);
            for o in owners {
                stores[o].put_chunk(chunk(i), &b"x".into()).unwrap();
            }
        }
        let digest = |i: usize| {
            stores[i]
                .digest(&DigestRequest {
                    map: map.clone(),
                    me: map.nodes[i].id.clone(),
                    kind: RecordKind::Chunks,
                })
                .unwrap()
        };
        let cells = |i: usize, peer: usize| digest(i).get(&map.nodes[peer].id).cloned().unwrap();
        assert_eq!(cells(0, 1), cells(1, 0));
        assert_eq!(cells(0, 2), cells(2, 0));
        // Node 0 loses one chunk it shares with some peer: exactly one cell differs.
        let lost = (0..200)
            .find(|&i| ring.preference_list(&chunk(i).to_bytes())[..2].contains(&0))
            .unwrap();
        let mut owners = ring.preference_list(&chunk(lost).to_bytes());
        owners.truncate(2);
        let peer = owners.into_iter().find(|&o| o != 0).unwrap();
        stores[0].delete_chunk(chunk(lost)).unwrap();
        let (x, y) = (cells(0, peer), cells(peer, 0));
        let differing: Vec<usize> = (0..CELLS).filter(|&c| x[c] != y[c]).collect();
        assert_eq!(differing.len(), 1);
        let records = stores[peer]
            .cells(&CellRequest {
                map: map.clone(),
                me: map.nodes[peer].id.clone(),
                peer: map.nodes[0].id.clone(),
                kind: RecordKind::Chunks,
                cells: vec![differing[0] as u32],
            })
            .unwrap();
        assert!(records[&(differing[0] as u32)].contains(&Record::Chunk(chunk(lost))));
    }

    #[test]
    fn records_kept_everywhere_are_compared_between_every_pair() {
        let map = map();
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let stores: Vec<Store> = dirs
            .iter()
            .map(|d| Store::open(d.path()).unwrap())
            .collect();
        let key = crate::model::AccessKeyRecord {
            id: "AK".into(),
            version: Version {
                hlc: 4,
                tiebreak: 4,
            },
            deleted: false,
            key_id: "k1".into(),
            sealed_secret: vec![1],
            grants: Default::default(),
        };
        // Nodes 0 and 1 hold the key, node 2 missed it.
        for s in &stores[..2] {
            assert!(s.put_row(&node_api::table::Record::row(&key)).unwrap());
        }
        let kind = RecordKind::Rows(node_api::table::Family::AccessKeys);
        let cells = |i: usize, peer: usize| {
            stores[i]
                .digest(&DigestRequest {
                    map: map.clone(),
                    me: map.nodes[i].id.clone(),
                    kind,
                })
                .unwrap()
                .get(&map.nodes[peer].id)
                .cloned()
                .unwrap_or_else(|| vec![(0, 0); CELLS])
        };
        assert_eq!(cells(0, 1), cells(1, 0));
        assert_ne!(cells(0, 2), cells(2, 0), "n = 2, yet every node holds it");
        let differing: Vec<u32> = (0..CELLS as u32)
            .filter(|&c| cells(0, 2)[c as usize] != cells(2, 0)[c as usize])
            .collect();
        let listed = stores[0]
            .cells(&CellRequest {
                map: map.clone(),
                me: map.nodes[0].id.clone(),
                peer: map.nodes[2].id.clone(),
                kind,
                cells: differing,
            })
            .unwrap();
        let records: Vec<Record> = listed.into_values().flatten().collect();
        assert_eq!(
            records,
            vec![Record::Row(node_api::table::Record::row_version(&key))]
        );
    }
}
