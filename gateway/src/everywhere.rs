//! Records kept whole on every node, not placed by the ring: stored access keys and cluster
//! settings (job controls and reports). They are few and small. A write goes to every member
//! and needs a majority; a read takes the newest version of each record among a majority and
//! writes it back to the members that lacked it, so a node that was down or joined later
//! catches up.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::StreamExt;
use node_api::client::{NodeClient, RpcError};
use node_api::model::{AccessKeyRecord, SettingRecord, Version};

use crate::cluster::{gather_all, Cluster, ClusterError};

/// A kind of record kept on every node, last writer wins by version.
pub trait Everywhere: Clone + Send + Sync + 'static {
    /// The list call's name, for quorum errors and metrics.
    const LIST: &'static str;
    const PUT: &'static str;
    fn name(&self) -> &str;
    fn version(&self) -> Version;
    fn list(node: NodeClient) -> BoxFuture<'static, Result<Vec<Self>, RpcError>>;
    fn put(node: NodeClient, record: Arc<Self>) -> BoxFuture<'static, Result<bool, RpcError>>;
}

impl Everywhere for AccessKeyRecord {
    const LIST: &'static str = "list_access_keys";
    const PUT: &'static str = "put_access_key";
    fn name(&self) -> &str {
        &self.id
    }
    fn version(&self) -> Version {
        self.version
    }
    fn list(node: NodeClient) -> BoxFuture<'static, Result<Vec<Self>, RpcError>> {
        Box::pin(async move { node.list_access_keys().await })
    }
    fn put(node: NodeClient, record: Arc<Self>) -> BoxFuture<'static, Result<bool, RpcError>> {
        Box::pin(async move { node.put_access_key(&record).await })
    }
}

impl Everywhere for SettingRecord {
    const LIST: &'static str = "list_settings";
    const PUT: &'static str = "put_setting";
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> Version {
        self.version
    }
    fn list(node: NodeClient) -> BoxFuture<'static, Result<Vec<Self>, RpcError>> {
        Box::pin(async move { node.list_settings().await })
    }
    fn put(node: NodeClient, record: Arc<Self>) -> BoxFuture<'static, Result<bool, RpcError>> {
        Box::pin(async move { node.put_setting(&record).await })
    }
}

/// Writes `record` to every member; a majority must store it.
pub async fn write<R: Everywhere>(cluster: &Cluster, record: R) -> Result<(), ClusterError> {
    let all = cluster.members();
    let record = Arc::new(record);
    let pending = cluster.fan_out_all(&all, move |node| R::put(node, record.clone()));
    let g = gather_all(pending).await;
    let need = all.len() / 2 + 1;
    if g.ok.len() < need {
        return Err(cluster.quorum_error(R::PUT, &g, need));
    }
    Ok(())
}

/// The newest version of every record among a majority of the members (tombstones
/// included), sorted by name, written back to the members that lacked it.
pub async fn read_all<R: Everywhere>(cluster: &Cluster) -> Result<Vec<R>, ClusterError> {
    let all = cluster.members();
    let pending = cluster.fan_out(&all, R::list);
    let g = gather_all(pending).await;
    let need = all.len() / 2 + 1;
    if g.ok.len() < need {
        return Err(cluster.quorum_error(R::LIST, &g, need));
    }
    let mut newest: HashMap<String, R> = HashMap::new();
    for (_, records) in &g.ok {
        for r in records {
            if newest
                .get(r.name())
                .is_none_or(|cur| cur.version() < r.version())
            {
                newest.insert(r.name().to_string(), r.clone());
            }
        }
    }
    let mut repairs = Vec::new();
    for (i, records) in &g.ok {
        for best in newest.values() {
            if !records
                .iter()
                .any(|r| r.name() == best.name() && r.version() == best.version())
            {
                repairs.push(R::put(cluster.node(*i), Arc::new(best.clone())));
            }
        }
    }
    futures::stream::iter(repairs)
        .buffer_unordered(8)
        .for_each(|_| async {})
        .await;
    let mut out: Vec<R> = newest.into_values().collect();
    out.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(out)
}
