//! Multipart upload state on the storage nodes, through quorums: upload records and part
//! records live on the owners of the object's manifest, so any gateway can take the next part
//! of an upload another gateway started.
//!
//! Writes need `w` acks like manifests. Reads of an upload take the newest state among `r`
//! owners. A part listing merges `r` owners' lists, newest upload of each part number winning,
//! so a part acknowledged by a quorum is always seen.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use node_api::model::{ListParts, ListUploads, Manifest, PartRecord, UploadRecord, Version};

use node_api::table::Record;

use crate::cluster::{gather_all, gather_sets, satisfied, union, Cluster, ClusterError};

/// One page of in-progress uploads.
#[derive(Debug, Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadRecord>,
    /// Where the next page starts (key, upload id), when this one is truncated.
    pub next: Option<(String, Version)>,
}

impl Cluster {
    /// Writes an upload record (a new upload, or its ended state) with quorum `w`.
    pub async fn put_upload(&self, record: UploadRecord) -> Result<(), ClusterError> {
        self.write_record(&record).await
    }

    /// The newest state of an upload among `r` owners. Not repaired on read: a copy of an
    /// upload state is not ordered by the key's promises (`storage_node::table`), so a state
    /// one agreed step wrote to a minority is never spread by readers while that step may
    /// still lose (anti-entropy copies the newest state it finds; a step still undecided then is
    /// settled by the next agreed step, whose version is higher).
    pub async fn get_upload(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        upload_id: Version,
    ) -> Result<Option<UploadRecord>, ClusterError> {
        let id = (bucket.to_string(), key.to_string(), upload_id);
        self.read_record::<UploadRecord>(&id, &Manifest::placement_key(bucket, key), false)
            .await
    }

    /// Uploads of a bucket after the marker, merged from every node (newest state of each
    /// upload), in (key, upload id) order; ended uploads are left out. At most `q.limit`.
    pub async fn list_uploads(&self, q: ListUploads) -> Result<UploadsPage, ClusterError> {
        let all = self.members();
        let limit = q.limit as usize;
        let q = Arc::new(q);
        let pending = self.fan_out(&all, move |node| {
            let q = q.clone();
            async move { node.list_uploads(&q).await }
        });
        let need = self.scatter_need(all.len());
        let g = gather_all(pending).await;
        if g.ok.len() < need {
            return Err(self.quorum_error("list_uploads", &g, need));
        }
        // Each node answered its first `limit` records after the marker; past the smallest
        // last key of a full answer, a node may hold records it did not send.
        let mut horizon: Option<(String, Version)> = None;
        let mut merged: BTreeMap<(String, Version), UploadRecord> = BTreeMap::new();
        for (_, records) in g.ok {
            if records.len() >= limit {
                if let Some(last) = records.last() {
                    let k = (last.key.clone(), last.upload_id);
                    if horizon.as_ref().is_none_or(|h| k < *h) {
                        horizon = Some(k);
                    }
                }
            }
            for r in records {
                let k = (r.key.clone(), r.upload_id);
                match merged.get(&k) {
                    Some(cur) if cur.version >= r.version => {}
                    _ => {
                        merged.insert(k, r);
                    }
                }
            }
        }
        let mut page = UploadsPage::default();
        let mut considered: Option<(String, Version)> = None;
        for (k, r) in merged {
            if horizon.as_ref().is_some_and(|h| k > *h) || page.uploads.len() == limit {
                page.next = considered;
                break;
            }
            considered = Some(k);
            if !r.ended {
                page.uploads.push(r);
            }
        }
        Ok(page)
    }

    /// Writes a part record with quorum `w`, placed with its upload (on its object's owners).
    /// A part it replaces is left to the collector, as are its chunks.
    pub async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        part: PartRecord,
    ) -> Result<(), ClusterError> {
        self.write_row_at(&Manifest::placement_key(bucket, key), part.row())
            .await
    }

    /// Every part of an upload (newest upload of each number), merged from `r` owners.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: Version,
    ) -> Result<Vec<PartRecord>, ClusterError> {
        let sets = self.read_sets(&Manifest::placement_key(bucket, key), &[]);
        let pending = self.fan_out(&union(&sets), move |node| async move {
            let mut all = Vec::new();
            let mut after = 0;
            loop {
                let page = node
                    .list_parts(&ListParts {
                        upload_id,
                        after,
                        limit: 1000,
                    })
                    .await?;
                let done = page.len() < 1000;
                after = page.last().map_or(after, |p| p.layout.number);
                all.extend(page);
                if done {
                    return Ok(all);
                }
            }
        });
        let g = gather_sets(pending, &sets, self.r()).await;
        if !satisfied(&sets, &g.answered(), self.r()) {
            return Err(self.quorum_error("list_parts", &g, self.r()));
        }
        let mut newest: BTreeMap<u32, PartRecord> = BTreeMap::new();
        for (_, parts) in g.ok {
            for p in parts {
                match newest.get(&p.layout.number) {
                    Some(cur) if cur.layout.version >= p.layout.version => {}
                    _ => {
                        newest.insert(p.layout.number, p);
                    }
                }
            }
        }
        Ok(newest.into_values().collect())
    }

    /// Forgets the part records of an ended upload on all its owners (under both maps while
    /// data moves), best effort.
    pub fn drop_parts(self: &Arc<Self>, bucket: &str, key: &str, upload_id: Version) {
        let owners = self.all_owners(&Manifest::placement_key(bucket, key));
        let pending = self.fan_out(&owners, move |node| async move {
            node.drop_parts(upload_id).await
        });
        tokio::spawn(pending.for_each(|_| async {}));
    }
}
