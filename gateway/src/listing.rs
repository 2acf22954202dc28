//! Object listing: a k-way merge of the nodes' sorted listings.
//!
//! Each node returns, in key order, the newest version it holds of each key after a marker. The
//! gateway asks all members but `n - r` (see [`list`]), keeps one cursor per node, repeatedly
//! takes the smallest key at the cursors' heads, keeps the newest version among the nodes that
//! have it, drops tombstones, folds keys into CommonPrefixes for a delimiter (and then jumps
//! every cursor past the prefix, so a folder of a million keys costs one round trip, not a
//! million entries), and stops after `max` items. Memory is O(nodes x page), never O(bucket).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use node_api::client::RpcError;
use node_api::model::{ListEntry, ListManifests, ListManifestsReply, Version};

use crate::cluster::{Cluster, ClusterError};

/// At most this many entries a node returns per request (a page of 1,000 and one more, to know
/// whether the page is truncated).
const PAGE: usize = 1001;
/// At least this many per request, so a page finishing behind a run of tombstones or folded
/// keys does not crawl through them a few at a time.
const MIN_FETCH: usize = 100;

/// What one listing call asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Raw bytes to start after (exclusive). May end with 0xFF to skip a whole prefix.
    pub start_after: Vec<u8>,
    pub max: usize,
    /// The bucket's incarnation: versions written in another one are not listed.
    pub incarnation: Option<Version>,
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

impl Cursor {
    fn new(node: usize, after: Vec<u8>) -> Cursor {
        Cursor {
            node,
            buffer: VecDeque::new(),
            after,
            exhausted: false,
            failed: false,
        }
    }
}

/// Skips a whole prefix: no valid UTF-8 key continues a prefix with the byte 0xFF.
pub fn past_prefix(prefix: &str) -> Vec<u8> {
    let mut v = prefix.as_bytes().to_vec();
    v.push(0xFF);
    v
}

/// Spreads listings over the members: each listing skips different nodes.
static ROTATION: AtomicUsize = AtomicUsize::new(0);

/// Lists one page.
///
/// A listing reads from all members but `n - r` of them (which ones it skips rotates): every
/// key lives on `n` nodes and was written to `w` of them, and `r + w > n`, so the nodes asked
/// hold at least one written copy of every key. A node that fails is replaced by a skipped one,
/// which starts right after the last key the merge consumed (listed, dropped as deleted or
/// folded into a prefix), so nothing is listed twice and no tombstone is missed.
pub async fn list(cluster: &Arc<Cluster>, q: &ListQuery) -> Result<Page, ClusterError> {
    let mut members = cluster.members();
    let asked = cluster.scatter_need(members.len());
    if let Some(turn) = ROTATION
        .fetch_add(1, Ordering::Relaxed)
        .checked_rem(members.len())
    {
        members.rotate_left(turn);
    }
    let spares = members.split_off(asked.min(members.len()));
    let fetch = |node: usize, request: ListManifests| {
        let cluster = cluster.clone();
        async move { cluster.list_page(node, request).await }
    };
    let merged = merge(members, spares, q, fetch).await;
    if merged.is_err() {
        cluster
            .metrics
            .quorum_failures
            .with_label_values(&["list"])
            .inc();
    }
    merged
}

/// The merge of [`list`], over the listings of the `asked` nodes that `fetch` gets page by
/// page (a node that fails is replaced by one of the `spares`). Pure but for `fetch`.
pub async fn merge<F, Fut>(
    asked: Vec<usize>,
    mut spares: Vec<usize>,
    q: &ListQuery,
    fetch: F,
) -> Result<Page, ClusterError>
where
    F: Fn(usize, ListManifests) -> Fut,
    Fut: Future<Output = Result<ListManifestsReply, RpcError>>,
{
    let needed = asked.len();
    let mut cursors: Vec<Cursor> = asked
        .into_iter()
        .map(|node| Cursor::new(node, q.start_after.clone()))
        .collect();
    let mut page = Page::default();
    let mut last_prefix: Option<String> = None;
    // Everything up to here (raw key bytes) has been taken from the cursors' heads.
    let mut merged = q.start_after.clone();
    loop {
        // One more than the page holds, to know whether it is truncated.
        let wanted = q
            .max
            .saturating_sub(page.items.len())
            .saturating_add(1)
            .clamp(MIN_FETCH, PAGE);
        refill(&fetch, q, &mut cursors, wanted).await;
        if cursors.iter().any(|c| c.failed) {
            for c in cursors.iter_mut().filter(|c| c.failed) {
                let Some(spare) = spares.pop() else {
                    return Err(ClusterError::Quorum {
                        kind: "list",
                        ok: needed.saturating_sub(1),
                        needed,
                        errors: "listing could not reach enough nodes".into(),
                    });
                };
                *c = Cursor::new(spare, merged.clone());
            }
            continue;
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
            if let Some(e) = c.buffer.pop_front_if(|e| e.key == key) {
                if newest.as_ref().is_none_or(|n| e.version > n.version) {
                    newest = Some(e);
                }
            }
        }
        // The key came from a cursor's head, so some cursor had it.
        let Some(entry) = newest else {
            return Ok(page);
        };
        merged = key.into_bytes();
        if entry.deleted || entry.incarnation != q.incarnation {
            continue;
        }
        let folded = q
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                entry.key[q.prefix.len()..].find(d).map(|pos| {
                    let end = q.prefix.len().saturating_add(pos).saturating_add(d.len());
                    entry.key[..end].to_string()
                })
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
                merged = skip;
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

/// Fetches the next `wanted` entries of every cursor whose buffer ran dry, in parallel.
async fn refill<F, Fut>(fetch: &F, q: &ListQuery, cursors: &mut [Cursor], wanted: usize)
where
    F: Fn(usize, ListManifests) -> Fut,
    Fut: Future<Output = Result<ListManifestsReply, RpcError>>,
{
    let fetches: Vec<_> = cursors
        .iter()
        .enumerate()
        .filter(|(_, c)| c.buffer.is_empty() && !c.exhausted && !c.failed)
        .map(|(position, c)| {
            let request = ListManifests {
                bucket: q.bucket.clone(),
                prefix: q.prefix.clone(),
                start_after: c.after.clone(),
                limit: wanted as u32,
            };
            let page = fetch(c.node, request);
            async move { (position, page.await) }
        })
        .collect();
    for (position, result) in futures::future::join_all(fetches).await {
        let Some(c) = cursors.get_mut(position) else {
            continue;
        };
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

/// The objects and bytes of the current incarnation of `bucket`, listed page by page.
pub async fn usage(
    cluster: &Arc<Cluster>,
    bucket: &node_api::model::BucketRecord,
) -> Result<(u64, u64), ClusterError> {
    let (mut objects, mut bytes) = (0u64, 0u64);
    let mut after = Vec::new();
    loop {
        let page = list(
            cluster,
            &ListQuery {
                bucket: bucket.name.clone(),
                start_after: after.clone(),
                max: 1000,
                incarnation: bucket.incarnation,
                ..Default::default()
            },
        )
        .await?;
        for item in &page.items {
            if let Item::Object(entry) = item {
                objects = objects.saturating_add(1);
                bytes = bytes.saturating_add(entry.size);
            }
        }
        if !page.truncated {
            return Ok((objects, bytes));
        }
        after = page.resume_after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A node's listing view: the newest version it holds of each key, tombstones included.
    type NodeStore = BTreeMap<String, ListEntry>;

    /// The bucket incarnation listed; entries of another one are not the bucket's.
    const LISTED: Option<Version> = Some(Version {
        hlc: 1,
        tiebreak: 0,
    });
    const EARLIER: Option<Version> = Some(Version {
        hlc: 0,
        tiebreak: 0,
    });

    fn entry(key: &str, version: u64, deleted: bool, foreign: bool) -> ListEntry {
        ListEntry {
            key: key.to_string(),
            version: Version {
                hlc: version,
                tiebreak: 0,
            },
            deleted,
            size: version,
            etag: String::new(),
            modified_ms: None,
            incarnation: if foreign { EARLIER } else { LISTED },
        }
    }

    /// What a node answers (as `Store::list_manifests` does): its keys under the prefix after
    /// the raw `start_after`, at most `limit`, and whether more follow.
    fn node_page(store: &NodeStore, q: &ListManifests) -> ListManifestsReply {
        let mut reply = ListManifestsReply::default();
        for (k, e) in store {
            if !k.starts_with(&q.prefix) || k.as_bytes() <= q.start_after.as_slice() {
                continue;
            }
            if reply.entries.len() == q.limit as usize {
                reply.truncated = true;
                break;
            }
            reply.entries.push(e.clone());
        }
        reply
    }

    /// The listing S3 gives, from the decided (newest) version of each key.
    fn model(
        truth: &BTreeMap<String, ListEntry>,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::new();
        let live = truth
            .iter()
            .filter(|(k, e)| k.starts_with(prefix) && !e.deleted && e.incarnation == LISTED);
        for (k, e) in live {
            let folded = delimiter.and_then(|d| {
                k[prefix.len()..]
                    .find(d)
                    .map(|i| k[..prefix.len() + i + d.len()].to_string())
            });
            match folded {
                Some(cp) => {
                    if out.last() != Some(&Item::CommonPrefix(cp.clone())) {
                        out.push(Item::CommonPrefix(cp));
                    }
                }
                None => out.push(Item::Object(e.clone())),
            }
        }
        out
    }

    /// Writes of one key, oldest first: (a tombstone?, written in an earlier incarnation of
    /// the bucket?, the node that missed it if it is the newest, the nodes that hold it if it
    /// is older).
    type Writes = Vec<(bool, bool, usize, [bool; 3])>;

    fn key_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop_oneof!["a", "b", "/"], 1..5).prop_map(|p| p.concat())
    }

    proptest! {
        /// The merge of three replicas' listings (the newest version on two of them, as a
        /// write quorum leaves it; older versions anywhere; some written in an earlier
        /// incarnation of the bucket), read from two nodes of which one may fail midway, paged
        /// in small pages, equals the listing of a `BTreeMap` of the decided versions.
        #[test]
        fn merged_pages_equal_the_model(
            keys in proptest::collection::btree_map(
                key_name(),
                proptest::collection::vec(
                    (any::<bool>(), any::<bool>(), 0usize..3, any::<[bool; 3]>()),
                    1..4,
                ),
                0..25,
            ),
            prefix in prop_oneof!["", "a", "a/", "b/a"],
            delimiter in prop_oneof![Just(None), Just(Some("/"))],
            max in 1usize..6,
            asked_first in 0usize..3,
            fail_after in proptest::option::of(0usize..6),
        ) {
            let keys: BTreeMap<String, Writes> = keys;
            let mut nodes: Vec<NodeStore> = vec![BTreeMap::new(); 3];
            let mut truth = BTreeMap::new();
            let mut version = 0u64;
            for (key, writes) in &keys {
                for (i, (deleted, foreign, missed, held)) in writes.iter().enumerate() {
                    version += 1;
                    let e = entry(key, version, *deleted, *foreign);
                    let newest = i == writes.len() - 1;
                    for (n, store) in nodes.iter_mut().enumerate() {
                        let holds = if newest { n != *missed } else { held[n] };
                        if holds {
                            store.insert(key.clone(), e.clone());
                        }
                    }
                    if newest {
                        truth.insert(key.clone(), e);
                    }
                }
            }
            let asked = vec![asked_first, (asked_first + 1) % 3];
            let spare = (asked_first + 2) % 3;
            let calls = AtomicUsize::new(0);
            let fetch = |node: usize, q: ListManifests| {
                let failed = node == asked_first
                    && fail_after.is_some_and(|f| calls.fetch_add(1, Ordering::Relaxed) >= f);
                let reply = node_page(&nodes[node], &q);
                async move {
                    if failed {
                        Err(RpcError::Unreachable("node".into(), "down".into()))
                    } else {
                        Ok(reply)
                    }
                }
            };
            let mut listed = Vec::new();
            let mut start_after = Vec::new();
            for _ in 0..100 {
                let q = ListQuery {
                    bucket: "b".into(),
                    prefix: prefix.to_string(),
                    delimiter: delimiter.map(str::to_string),
                    start_after: start_after.clone(),
                    max,
                    incarnation: LISTED,
                };
                let merged = merge(asked.clone(), vec![spare], &q, &fetch);
                let page = futures::executor::block_on(merged).expect("two of three answer");
                prop_assert!(page.items.len() <= max);
                listed.extend(page.items);
                if !page.truncated {
                    break;
                }
                start_after = page.resume_after;
            }
            prop_assert_eq!(listed, model(&truth, &prefix, delimiter));
        }
    }
}
