//! The node's half of anti-entropy: digests of what it holds, arranged so that two replicas can
//! compare exactly the records both should hold, and the record lists of one cell.
//!
//! The gateway sends the cluster map with each request. For every manifest (by its placement
//! key), every chunk (by its id), every bucket record (by its name), every upload record and
//! every part of an upload in progress (by their object's key), the node computes the
//! record's owners on the ring; for every *other* owner `p` it folds the record into cell
//! `(p, c)`, where `c` is the top [`CELL_BITS`] bits of the record's placement hash. A cell's
//! digest is the XOR of a hash of each record's identity (manifest: bucket, key, version;
//! chunk: id; bucket: name, version) and a count. Node A's cell `(B, c)` and node B's cell
//! `(A, c)` cover the same records when both are in sync, so the gateway compares them and
//! lists only the cells that differ: the network cost follows the differences, not the data.
//! The scan itself is local (manifests and chunk checksums only; chunk values are never read).

use std::collections::HashMap;

use placement::Ring;
use rocksdb::IteratorMode;

use crate::keys;
use crate::model::{decode, BucketRecord, ChunkId, Manifest, PartRecord, Version};
use crate::store::{Store, StoreError, StoreResult, CF_CHUNK_SUMS, CF_MANIFESTS, CF_PARTS};

pub use node_api::antientropy::*;

impl Store {
    /// Calls `visit(placement key, record)` for every record of `kind` this node holds.
    fn each_record(
        &self,
        kind: RecordKind,
        mut visit: impl FnMut(&[u8], Record),
    ) -> StoreResult<()> {
        match kind {
            RecordKind::Manifests => {
                // Only the newest version of each key: replicas agree on what is current,
                // while which superseded versions each still keeps is no concern of theirs.
                let mut last: Option<(Vec<u8>, Vec<u8>)> = None;
                let text = |b: Vec<u8>| {
                    String::from_utf8(b)
                        .map_err(|_| StoreError::Corrupt("manifest key is not UTF-8".into()))
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
                    let (bucket_name, key_name) = (text(bucket)?, text(key)?);
                    let placement = Manifest::placement_key(&bucket_name, &key_name);
                    visit(
                        &placement,
                        Record::Manifest {
                            bucket: bucket_name,
                            key: key_name,
                            version,
                        },
                    );
                }
            }
            RecordKind::Chunks => {
                for item in self
                    .db
                    .iterator_cf(self.cf(CF_CHUNK_SUMS), IteratorMode::Start)
                {
                    let (raw, _) = item?;
                    if let Some(id) = ChunkId::from_bytes(&raw) {
                        visit(&raw, Record::Chunk(id));
                    }
                }
            }
            RecordKind::Uploads => {
                for u in self.all_uploads()? {
                    visit(
                        &Manifest::placement_key(&u.bucket, &u.key),
                        Record::Upload {
                            bucket: u.bucket,
                            key: u.key,
                            upload_id: u.upload_id,
                            version: u.version,
                        },
                    );
                }
            }
            RecordKind::Parts => {
                // Placed with their upload; parts of ended uploads are on their way out (the
                // ended upload's drop, or the collector), never copied.
                let active: HashMap<Version, Vec<u8>> = self
                    .all_uploads()?
                    .into_iter()
                    .filter(|u| !u.ended)
                    .map(|u| (u.upload_id, Manifest::placement_key(&u.bucket, &u.key)))
                    .collect();
                for item in self.db.iterator_cf(self.cf(CF_PARTS), IteratorMode::Start) {
                    let (_, value) = item?;
                    let p: PartRecord = decode(&value).map_err(StoreError::Corrupt)?;
                    if let Some(placement) = active.get(&p.upload_id) {
                        visit(
                            placement,
                            Record::Part {
                                upload_id: p.upload_id,
                                number: p.layout.number,
                                version: p.layout.version,
                            },
                        );
                    }
                }
            }
            RecordKind::Buckets => {
                for b in self.list_buckets()? {
                    visit(
                        &BucketRecord::placement_key(&b.name),
                        Record::Bucket {
                            name: b.name,
                            version: b.version,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// This node's digests of `kind`, per peer and cell (see the module documentation).
    pub fn digest(&self, q: &DigestRequest) -> StoreResult<Digests> {
        let ring = Ring::new(&q.map);
        let me = q.map.nodes.iter().position(|n| n.id == q.me);
        let n = q.map.replication.n;
        let mut out: Digests = HashMap::new();
        self.each_record(q.kind, |placement, record| {
            let mut owners = ring.preference_list(placement);
            owners.truncate(n);
            if me.is_none_or(|me| !owners.contains(&me)) {
                return; // held for another node (a hint): not this node's to compare
            }
            let cell = cell_of(placement);
            let fp = record.fingerprint();
            for o in owners {
                if Some(o) == me {
                    continue;
                }
                let cells = out
                    .entry(q.map.nodes[o].id.clone())
                    .or_insert_with(|| vec![(0, 0); CELLS]);
                cells[cell].0 ^= fp;
                cells[cell].1 += 1;
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
        self.each_record(q.kind, |placement, record| {
            let cell = cell_of(placement) as u32;
            if !q.cells.contains(&cell) {
                return;
            }
            let mut owners = ring.preference_list(placement);
            owners.truncate(n);
            if me.is_some_and(|m| owners.contains(&m)) && peer.is_some_and(|p| owners.contains(&p))
            {
                out.entry(cell).or_default().push(record);
            }
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
