//! Object listing: a k-way merge of every node's sorted listing.
//!
//! Each node returns, in key order, the newest version it holds of each key after a marker. The
//! gateway keeps one cursor per node, repeatedly takes the smallest key at the cursors' heads,
//! keeps the newest version among the nodes that have it, drops tombstones, folds keys into
//! CommonPrefixes for a delimiter (and then jumps every cursor past the prefix, so a folder of a
//! million keys costs one round trip, not a million entries), and stops after `max` items. Memory
//! is O(nodes x page), never O(bucket).

use std::collections::VecDeque;
use std::sync::Arc;

use storage_node::model::{ListEntry, ListManifests};

use crate::cluster::{Cluster, ClusterError};

/// Entries a node returns per page.
const PAGE: u32 = 1000;

/// What one listing call asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Raw bytes to start after (exclusive). May end with 0xFF to skip a whole prefix.
    pub start_after: Vec<u8>,
    pub max: usize,
}

/// One item of a listing page.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Object(ListEntry),
    CommonPrefix(String),
}

/// One page of results.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// More items follow; resume after `resume_after`.
    pub truncated: bool,
    /// The marker to continue from (raw bytes; a common prefix ends with 0xFF).
    pub resume_after: Vec<u8>,
    /// The last item's key or prefix, for ListObjects v1's NextMarker.
    pub last: Option<String>,
}

struct Cursor {
    node: usize,
    buffer: VecDeque<ListEntry>,
    after: Vec<u8>,
    exhausted: bool,
    failed: bool,
}

/// Skips a whole prefix: no valid UTF-8 key continues a prefix with the byte 0xFF.
pub fn past_prefix(prefix: &str) -> Vec<u8> {
    let mut v = prefix.as_bytes().to_vec();
    v.push(0xFF);
    v
}

/// Lists one page.
pub async fn list(cluster: &Arc<Cluster>, q: &ListQuery) -> Result<Page, ClusterError> {
    let mut cursors: Vec<Cursor> = cluster
        .members()
        .into_iter()
        .map(|node| Cursor {
            node,
            buffer: VecDeque::new(),
            after: q.start_after.clone(),
            exhausted: false,
            failed: false,
        })
        .collect();
    let tolerance = cluster.scatter_tolerance();
    let mut page = Page::default();
    let mut last_prefix: Option<String> = None;
    loop {
        refill(cluster, q, &mut cursors).await;
        let failed = cursors.iter().filter(|c| c.failed).count();
        if failed > tolerance {
            cluster
                .metrics
                .quorum_failures
                .with_label_values(&["list"])
                .inc();
            return Err(ClusterError::Quorum {
                kind: "list",
                ok: cursors.len() - failed,
                needed: cursors.len() - tolerance,
                errors: "listing could not reach enough nodes".into(),
            });
        }
        let Some(key) = cursors
            .iter()
            .filter_map(|c| c.buffer.front().map(|e| e.key.clone()))
            .min()
        else {
            return Ok(page);
        };
        let mut newest: Option<ListEntry> = None;
        for c in cursors.iter_mut() {
            if c.buffer.front().is_some_and(|e| e.key == key) {
                let e = c.buffer.pop_front().expect("front checked");
                if newest.as_ref().is_none_or(|n| e.version > n.version) {
                    newest = Some(e);
                }
            }
        }
        let entry = newest.expect("at least one cursor had the key");
        if entry.deleted {
            continue;
        }
        let folded = q
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                entry.key[q.prefix.len()..]
                    .find(d)
                    .map(|pos| entry.key[..q.prefix.len() + pos + d.len()].to_string())
            });
        let item = match folded {
            Some(cp) => {
                let skip = past_prefix(&cp);
                for c in cursors.iter_mut() {
                    while c
                        .buffer
                        .front()
                        .is_some_and(|e| e.key.starts_with(cp.as_str()))
                    {
                        c.buffer.pop_front();
                    }
                    if c.buffer.is_empty() && c.after < skip {
                        c.after = skip.clone();
                    }
                }
                // A marker inside or equal to this prefix means the prefix was already returned.
                if cp.as_bytes() <= q.start_after.as_slice() || last_prefix.as_deref() == Some(&cp)
                {
                    continue;
                }
                last_prefix = Some(cp.clone());
                Item::CommonPrefix(cp)
            }
            None => Item::Object(entry),
        };
        if page.items.len() == q.max {
            page.truncated = true;
            return Ok(page);
        }
        let (resume, last) = match &item {
            Item::Object(e) => (e.key.as_bytes().to_vec(), e.key.clone()),
            Item::CommonPrefix(cp) => (past_prefix(cp), cp.clone()),
        };
        page.resume_after = resume;
        page.last = Some(last);
        page.items.push(item);
    }
}

/// Fetches the next page of every cursor whose buffer ran dry, in parallel.
async fn refill(cluster: &Arc<Cluster>, q: &ListQuery, cursors: &mut [Cursor]) {
    let fetches: Vec<_> = cursors
        .iter()
        .enumerate()
        .filter(|(_, c)| c.buffer.is_empty() && !c.exhausted && !c.failed)
        .map(|(position, c)| {
            let request = ListManifests {
                bucket: q.bucket.clone(),
                prefix: q.prefix.clone(),
                start_after: c.after.clone(),
                limit: PAGE,
            };
            let node = c.node;
            let cluster = cluster.clone();
            async move { (position, cluster.list_page(node, request).await) }
        })
        .collect();
    for (position, result) in futures::future::join_all(fetches).await {
        let c = &mut cursors[position];
        match result {
            Ok(reply) => {
                if let Some(last) = reply.entries.last() {
                    c.after = last.key.as_bytes().to_vec();
                }
                c.exhausted = !reply.truncated;
                c.buffer.extend(reply.entries);
            }
            Err(e) => {
                tracing::warn!("listing: {e}");
                c.failed = true;
            }
        }
    }
}
