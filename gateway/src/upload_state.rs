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
use node_api::model::{
    GetUpload, ListParts, ListUploads, Manifest, PartRecord, UploadRecord, Version,
};

use crate::cluster::{gather, gather_all, gather_sets, satisfied, union, Cluster, ClusterError};

/// One page of in-progress uploads.
#[derive(Debug, Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadRecord>,
    /// Where the next page starts (key, upload id), when this one is truncated.
    pub next: Option<(String, Version)>,
}

impl Cluster {
    fn upload_owners(&self, bucket: &str, key: &str) -> Vec<usize> {
        self.owners(&Manifest::placement_key(bucket, key))
    }

    /// Writes an upload record (a new upload, or its ended state) with quorum `w`.
    pub async fn put_upload(&self, record: UploadRecord) -> Result<(), ClusterError> {
        let owners = self.upload_owners(&record.bucket, &record.key);
        let record = Arc::new(record);
        let pending = self.fan_out(&owners, move |node| {
            let record = record.clone();
            async move { node.put_upload(&record).await }
        });
        let g = gather(pending, self.w()).await;
        if g.ok.len() < self.w() {
            return Err(self.quorum_error("put_upload", &g, self.w()));
        }
        tokio::spawn(g.rest.for_each(|_| async {}));
        Ok(())
    }

    /// The newest state of an upload among `r` owners.
    pub async fn get_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: Version,
    ) -> Result<Option<UploadRecord>, ClusterError> {
        let sets = self.read_sets(&Manifest::placement_key(bucket, key), &[]);
        let q = Arc::new(GetUpload {
            bucket: bucket.to_string(),
            key: key.to_string(),
            upload_id,
        });
        let pending = self.fan_out(&union(&sets), move |node| {
            let q = q.clone();
            async move { node.get_upload(&q).await }
        });
        let g = gather_sets(pending, &sets, self.r()).await;
        if !satisfied(&sets, &g.answered(), self.r()) {
            return Err(self.quorum_error("get_upload", &g, self.r()));
        }
        Ok(g.ok
            .into_iter()
            .filter_map(|(_, u)| u)
            .max_by_key(|u| u.version))
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

    /// Writes a part record with quorum `w`. Returns the records the write replaced on the
    /// nodes that answered (their chunks are garbage once this part is durable).
    pub async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        part: PartRecord,
    ) -> Result<Vec<PartRecord>, ClusterError> {
        let owners = self.upload_owners(bucket, key);
        let part = Arc::new(part);
        let sent = part.clone();
        let pending = self.fan_out(&owners, move |node| {
            let part = sent.clone();
            async move { node.put_part(&part).await }
        });
        let g = gather(pending, self.w()).await;
        if g.ok.len() < self.w() {
            return Err(self.quorum_error("put_part", &g, self.w()));
        }
        tokio::spawn(g.rest.for_each(|_| async {}));
        let mut replaced: Vec<PartRecord> =
            g.ok.into_iter()
                .flat_map(|(_, r)| r)
                .filter(|old| old.layout.version < part.layout.version)
                .collect();
        replaced.sort_by_key(|p| p.layout.version);
        replaced.dedup_by_key(|p| p.layout.version);
        Ok(replaced)
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
