//! The gateway's view of the cluster: which nodes own a key, and the quorum rules for talking to
//! them.
//!
//! * Writes go to the key's `n` owners in parallel and succeed after `w` durable acks; the rest
//!   finish in the background. A manifest write also needs a majority of the owners to take it
//!   as their newest version, and is stamped again when they refuse it as too old
//!   ([`Cluster::put_manifest`]); a failed one is left as an unknown outcome, never undone.
//! * Manifest reads ask the owners, decide after a majority (and `r`) answered, and return a
//!   version only once a majority holds it ([`Cluster::get_manifest`]): linearizable per key.
//!   Once every owner has answered, stale owners are repaired in the background.
//! * Chunk reads try the owners one after the other and put a missing copy back.
//! * Sloppy quorum: a write meant for an owner that is down (see [`crate::health`]) goes to a
//!   stand-in, the next node of the preference list beyond the owners, with a hint naming the
//!   owner; [`crate::handoff`] hands it back later. Reads ask stand-ins in the owners' place.
//!   With `hinted_handoff: false` (strict), writes count only true owners.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::RwLock;

use node_api::auth::ClusterKey;
use node_api::client::{Epochs, NodeClient, RpcError, Timeouts};
use node_api::direct_buffer::DirectBuffer;
use node_api::identity::ClusterIdentity;
use node_api::model::{
    BucketRecord, ChunkId, Layout as ManifestLayout, ListManifests, ListManifestsReply, Manifest,
    Version, WriteMode, WriteReply,
};
use placement::{ClusterMap, MapState, Ring};

/// How many times a plain write is stamped again after owners refused it as too old.
const MAX_RESTAMPS: u32 = 8;
/// How many rounds a read whose write-back met a newer version or a promise takes before it
/// answers 503.
const MAX_READ_ROUNDS: u32 = 12;

/// How one attempt of a plain manifest write ended.
enum Attempt {
    Written,
    /// No owner can ever take it; stamp above this.
    Dead(Version),
    /// Some owners took it, every owner answered, and a conditional writer's promise refused
    /// it: it may yet be decided, so its fate is settled with the owners.
    Contended,
    /// Some owner did not answer: the outcome is unknown (this many owners took it).
    Unknown(usize),
}

/// How a read's write-back ended.
enum WriteBack {
    /// A majority of each owner group holds the version.
    Done,
    /// An owner holds a newer version: read again.
    Newer,
    /// An owner promised a conditional writer a higher ballot: decide with the owners.
    Blocked,
    Failed(ClusterError),
}

use crate::conditional::CasError;
use crate::health::Health;
use crate::hlc::Hlc;
use crate::metrics::GatewayMetrics;

/// An operation that could not reach enough nodes.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{kind}: {ok} of the {needed} required nodes answered ({errors})")]
    Quorum {
        kind: &'static str,
        ok: usize,
        needed: usize,
        errors: String,
    },
    #[error("chunk {0} could not be read from any replica: {1}")]
    ChunkUnavailable(String, String),
}

pub(crate) type Pending<T> = FuturesUnordered<BoxFuture<'static, (usize, Result<T, RpcError>)>>;

/// Answers gathered until a quorum was reached or became impossible.
pub(crate) struct Gathered<T> {
    pub(crate) ok: Vec<(usize, T)>,
    pub(crate) failed: Vec<(usize, RpcError)>,
    pub(crate) rest: Pending<T>,
}

impl<T> Gathered<T> {
    /// The nodes that answered.
    pub(crate) fn answered(&self) -> Vec<usize> {
        self.ok.iter().map(|(i, _)| *i).collect()
    }
}

fn describe(failed: &[(usize, RpcError)]) -> String {
    if failed.is_empty() {
        return "no errors".into();
    }
    failed
        .iter()
        .map(|(_, e)| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// More than half of `count`.
pub fn majority_of(count: usize) -> usize {
    (count / 2).saturating_add(1)
}

/// The first `n` nodes of a preference list (its owners) and the rest (the fallbacks).
fn split_owners(list: &[usize], n: usize) -> (&[usize], &[usize]) {
    list.split_at_checked(n).unwrap_or((list, &[]))
}

pub(crate) async fn gather<T: Send + 'static>(mut pending: Pending<T>, need: usize) -> Gathered<T> {
    let total = pending.len();
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    while ok.len() < need && failed.len().saturating_add(need) <= total {
        match pending.next().await {
            Some((i, Ok(v))) => ok.push((i, v)),
            Some((i, Err(e))) => failed.push((i, e)),
            None => break,
        }
    }
    Gathered {
        ok,
        failed,
        rest: pending,
    }
}

/// Waits for every answer (each call is bounded by its own timeout).
pub(crate) async fn gather_all<T: Send + 'static>(mut pending: Pending<T>) -> Gathered<T> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    while let Some((i, result)) = pending.next().await {
        match result {
            Ok(v) => ok.push((i, v)),
            Err(e) => failed.push((i, e)),
        }
    }
    Gathered {
        ok,
        failed,
        rest: pending,
    }
}

/// Every node of `sets`, once.
pub(crate) fn union(sets: &[Vec<usize>]) -> Vec<usize> {
    let mut out = Vec::new();
    for &i in sets.iter().flatten() {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Whether `answered` holds at least `need` nodes of every set (or all of a smaller set).
pub(crate) fn satisfied(sets: &[Vec<usize>], answered: &[usize], need: usize) -> bool {
    sets.iter()
        .all(|s| s.iter().filter(|i| answered.contains(i)).count() >= need.min(s.len()))
}

/// [`gather`] for reads that need `need` answers in each of several groups of nodes (owners
/// under the current and the previous map while data moves); with one group it is `gather`.
pub(crate) async fn gather_sets<T: Send + 'static>(
    mut pending: Pending<T>,
    sets: &[Vec<usize>],
    need: usize,
) -> Gathered<T> {
    let mut ok: Vec<(usize, T)> = Vec::new();
    let mut failed: Vec<(usize, RpcError)> = Vec::new();
    loop {
        let answered: Vec<usize> = ok.iter().map(|(i, _)| *i).collect();
        if satisfied(sets, &answered, need) {
            break;
        }
        let lost: Vec<usize> = failed.iter().map(|(i, _)| *i).collect();
        let hopeless = sets.iter().any(|s| {
            let lost_here = s.iter().filter(|i| lost.contains(i)).count();
            lost_here.saturating_add(need.min(s.len())) > s.len()
        });
        if hopeless {
            break;
        }
        match pending.next().await {
            Some((i, Ok(v))) => ok.push((i, v)),
            Some((i, Err(e))) => failed.push((i, e)),
            None => break,
        }
    }
    Gathered {
        ok,
        failed,
        rest: pending,
    }
}

/// Targets that write (or read) for themselves.
fn as_owners(nodes: &[usize]) -> Vec<Target> {
    nodes
        .iter()
        .map(|&node| Target {
            node,
            stands_in_for: None,
        })
        .collect()
}

/// One cluster map, its ring, and the node table index of each of its nodes.
pub struct Placed {
    pub map: ClusterMap,
    ring: Ring,
    /// Position in `map.nodes` -> node table index.
    index: Vec<usize>,
}

impl Placed {
    /// Every node of this map in `placement_key`'s order of preference (owners first).
    pub fn preference_list(&self, placement_key: &[u8]) -> Vec<usize> {
        self.ring
            .preference_list(placement_key)
            .into_iter()
            .filter_map(|p| self.index.get(p).copied())
            .collect()
    }

    /// The `n` owners of `placement_key` under this map.
    pub fn owners(&self, placement_key: &[u8]) -> Vec<usize> {
        let mut list = self.preference_list(placement_key);
        list.truncate(self.map.replication.n);
        list
    }

    /// The node table indices of this map's nodes.
    pub fn nodes(&self) -> &[usize] {
        &self.index
    }
}

/// The maps the gateway places by: the current one, and while data still moves after a
/// membership change, the previous one. Writes go by the current map only; reads ask the
/// owners under both and need a quorum in each (see [`Cluster::read_sets`]).
pub struct Layout {
    pub state: MapState,
    pub current: Placed,
    pub previous: Option<Placed>,
}

impl Layout {
    /// Every node of either map (node table indices), current ones first.
    pub fn members(&self) -> Vec<usize> {
        let mut out = self.current.index.clone();
        if let Some(p) = &self.previous {
            for &i in &p.index {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }
}

/// Everything the gateway knows about the storage nodes.
pub struct Cluster {
    /// Every node ever named by a map this gateway held, by id; only ever appended to, so an
    /// index stays valid across map changes.
    table: RwLock<Vec<(String, NodeClient)>>,
    layout: RwLock<Arc<Layout>>,
    key: ClusterKey,
    /// What this gateway shows nodes and trusts in them (mutual TLS).
    identity: ClusterIdentity,
    /// The epoch sent with every internal call, and the highest one nodes answered with.
    pub epochs: Arc<Epochs>,
    pub hlc: Hlc,
    pub metrics: Arc<GatewayMetrics>,
    pub health: Arc<Health>,
    /// Sloppy quorum with hinted handoff (else strict: only true owners count).
    handoff: bool,
    /// Whether the map state is known to be the cluster's (a node answered with its own), not
    /// only read from this gateway's file, which cannot say whether data is still moving.
    pub confirmed: std::sync::atomic::AtomicBool,
}

/// Where one write goes: a node, and the owner it stands in for (`None`: it is an owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub node: usize,
    pub stands_in_for: Option<usize>,
}

impl Cluster {
    /// Clients of every node of `map`.
    pub fn new(
        map: ClusterMap,
        key: ClusterKey,
        identity: &ClusterIdentity,
        handoff: bool,
        metrics: Arc<GatewayMetrics>,
    ) -> anyhow::Result<Cluster> {
        let health = Arc::new(Health::new(Vec::new(), metrics.clone()));
        let epochs = Arc::new(Epochs::default());
        let state = MapState::settled(map);
        let cluster = Cluster {
            table: RwLock::new(Vec::new()),
            layout: RwLock::new(Arc::new(Layout {
                current: Placed {
                    map: state.current.clone(),
                    ring: Ring::new(&state.current),
                    index: Vec::new(),
                },
                previous: None,
                state: state.clone(),
            })),
            key,
            identity: identity.clone(),
            hlc: Hlc::following(epochs.clone()),
            epochs,
            metrics,
            health,
            handoff,
            confirmed: std::sync::atomic::AtomicBool::new(false),
        };
        cluster.install(state)?;
        Ok(cluster)
    }

    /// Places by `state` from now on: clients for nodes not seen before, a new address for a
    /// node that moved, the rings of both maps, and the epoch sent to nodes.
    pub fn install(&self, state: MapState) -> anyhow::Result<()> {
        let mut place = |map: &ClusterMap| -> anyhow::Result<Placed> {
            let mut index = Vec::with_capacity(map.nodes.len());
            let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
            for spec in &map.nodes {
                let client = || {
                    NodeClient::new(
                        &spec.address,
                        Some(&spec.id),
                        &self.identity,
                        Timeouts::default(),
                    )
                    .with_epochs(self.epochs.clone())
                };
                match table.iter().position(|(id, _)| *id == spec.id) {
                    Some(i) => {
                        if let Some((_, node)) = table.get_mut(i) {
                            if node.address() != spec.address {
                                *node = client();
                            }
                        }
                        index.push(i);
                    }
                    None => {
                        let i = table.len();
                        table.push((spec.id.clone(), client()));
                        let health_index = self.health.add(spec.id.clone());
                        debug_assert_eq!(health_index, i);
                        index.push(i);
                    }
                }
            }
            Ok(Placed {
                map: map.clone(),
                ring: Ring::new(map),
                index,
            })
        };
        // The previous map is placed first so that the current map's new nodes get later
        // indices (any order would do; this one reads naturally in status reports).
        let previous = state.previous.as_ref().map(&mut place).transpose()?;
        let current = place(&state.current)?;
        self.epochs.ours.store(state.epoch(), Ordering::SeqCst);
        self.metrics.map_epoch.set(state.epoch() as i64);
        *self.layout.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Layout {
            state,
            current,
            previous,
        });
        Ok(())
    }

    /// The maps placed by now (a snapshot; a change installs a new one).
    pub fn layout(&self) -> Arc<Layout> {
        self.layout
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current map state.
    pub fn map_state(&self) -> MapState {
        self.layout().state.clone()
    }

    pub fn n(&self) -> usize {
        self.layout().current.map.replication.n
    }
    pub fn w(&self) -> usize {
        self.layout().current.map.replication.w
    }
    pub fn r(&self) -> usize {
        self.layout().current.map.replication.r
    }

    /// Every node of the current and (while data moves) the previous map.
    pub fn members(&self) -> Vec<usize> {
        self.layout().members()
    }

    /// The client of node `i` (a node table index).
    #[allow(
        clippy::indexing_slicing,
        reason = "node indices come from the placement of a map whose nodes all entered the \
                  table, which only grows"
    )]
    pub fn node(&self, i: usize) -> NodeClient {
        self.table.read().unwrap_or_else(|p| p.into_inner())[i]
            .1
            .clone()
    }

    /// The canonical user id S3 responses show for an access key (owners, initiators,
    /// grantees): opaque and the same on every gateway of the cluster, so listings and ACLs
    /// never reveal the key id itself.
    pub fn canonical_user_id(&self, access_key: &str) -> String {
        self.key.opaque_id("canonical-user", access_key)
    }

    /// The id of node `i`, as maps and hints name it.
    #[allow(
        clippy::indexing_slicing,
        reason = "node indices come from the placement of a map whose nodes all entered the \
                  table, which only grows"
    )]
    pub fn node_id(&self, i: usize) -> String {
        self.table.read().unwrap_or_else(|p| p.into_inner())[i]
            .0
            .clone()
    }

    /// The node table index of the node with this id, if any map named it.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .position(|(i, _)| i == id)
    }

    /// The `n` owners of a placement key under the current map, in preference order.
    pub fn owners(&self, placement_key: &[u8]) -> Vec<usize> {
        self.layout().current.owners(placement_key)
    }

    /// Every node of the current map, in `placement_key`'s order of preference (owners first).
    pub fn preference_list(&self, placement_key: &[u8]) -> Vec<usize> {
        self.layout().current.preference_list(placement_key)
    }

    /// The owners under the current map and, while data moves, under the previous one too
    /// (without repeats): where a record may sit.
    pub fn all_owners(&self, placement_key: &[u8]) -> Vec<usize> {
        let layout = self.layout();
        let mut out = layout.current.owners(placement_key);
        if let Some(p) = &layout.previous {
            for i in p.owners(placement_key) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// The groups a read of `placement_key` needs a quorum in: the current owners plus
    /// `extra` (stand-ins) and, while data moves, the previous owners. A record acknowledged
    /// before the change is on a quorum of the previous owners until it has reached every
    /// current owner; one written since is on a quorum of the current owners.
    pub fn read_sets(&self, placement_key: &[u8], extra: &[usize]) -> Vec<Vec<usize>> {
        let layout = self.layout();
        let mut current = layout.current.owners(placement_key);
        for &i in extra {
            if !current.contains(&i) {
                current.push(i);
            }
        }
        let mut sets = vec![current];
        if let Some(p) = &layout.previous {
            sets.push(p.owners(placement_key));
        }
        sets
    }

    /// Where a write of `placement_key` goes: every owner that is up, and for each owner that
    /// is down the next node of the preference list beyond the owners that is up and not yet
    /// used (when hinted handoff is on).
    pub fn write_targets(&self, placement_key: &[u8]) -> Vec<Target> {
        self.targets_in(&self.preference_list(placement_key))
    }

    /// [`Cluster::write_targets`] of a preference list already computed.
    fn targets_in(&self, list: &[usize]) -> Vec<Target> {
        let (owners, fallbacks) = split_owners(list, self.n());
        let mut spares = fallbacks.iter().copied().filter(|&i| self.health.is_up(i));
        let mut targets = Vec::with_capacity(owners.len());
        for &owner in owners {
            if self.health.is_up(owner) || !self.handoff {
                targets.push(Target {
                    node: owner,
                    stands_in_for: None,
                });
            } else if let Some(spare) = spares.next() {
                targets.push(Target {
                    node: spare,
                    stands_in_for: Some(owner),
                });
            }
        }
        targets
    }

    /// The next nodes of `placement_key`'s preference list beyond the owners and `used`, that
    /// are up: stand-ins for owners whose write just failed.
    fn spare_targets(&self, placement_key: &[u8], used: &[Target]) -> Vec<usize> {
        let list = self.preference_list(placement_key);
        split_owners(&list, self.n())
            .1
            .iter()
            .copied()
            .filter(|&i| self.health.is_up(i) && !used.iter().any(|t| t.node == i))
            .collect()
    }

    /// Starts `call` on each node in `targets` as its own task, so that calls left unawaited
    /// after a quorum still complete.
    pub(crate) fn fan_out<T, F, Fut>(&self, targets: &[usize], call: F) -> Pending<T>
    where
        T: Send + 'static,
        F: Fn(NodeClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        let targets = as_owners(targets);
        self.fan_out_inner(&targets, false, |node, _| call(node))
    }

    /// [`Cluster::fan_out`] that also calls nodes marked down (their answers are not waited
    /// for when a quorum is reached; one that answers is up again).
    pub(crate) fn fan_out_all<T, F, Fut>(&self, targets: &[usize], call: F) -> Pending<T>
    where
        T: Send + 'static,
        F: Fn(NodeClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        let targets = as_owners(targets);
        self.fan_out_inner(&targets, true, |node, _| call(node))
    }

    /// [`Cluster::fan_out`] to write targets: `call` gets the id of the owner a stand-in
    /// writes for. A node known to be down fails at once; every outcome feeds the health.
    pub(crate) fn fan_out_to<T, F, Fut>(&self, targets: &[Target], call: F) -> Pending<T>
    where
        T: Send + 'static,
        F: Fn(NodeClient, Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        self.fan_out_inner(targets, false, call)
    }

    fn fan_out_inner<T, F, Fut>(&self, targets: &[Target], even_down: bool, call: F) -> Pending<T>
    where
        T: Send + 'static,
        F: Fn(NodeClient, Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        targets
            .iter()
            .map(|t| {
                let i = t.node;
                let health = self.health.clone();
                let fut: BoxFuture<'static, (usize, Result<T, RpcError>)> =
                    if even_down || health.is_up(i) {
                        let owner = t.stands_in_for.map(|o| self.node_id(o));
                        let task = tokio::spawn(call(self.node(i), owner));
                        Box::pin(async move {
                            let result = task.await.unwrap_or_else(|e| {
                                Err(RpcError::Unreachable(format!("node {i}"), e.to_string()))
                            });
                            health.record(i, &result);
                            (i, result)
                        })
                    } else {
                        let address = self.node(i).address().to_string();
                        Box::pin(async move {
                            (
                                i,
                                Err(RpcError::Unreachable(address, "down (backing off)".into())),
                            )
                        })
                    };
                fut
            })
            .collect()
    }

    /// A write of `placement_key` with quorum `w` under the sloppy-quorum rules: to the write
    /// targets, and if some of them fail before `w` acks, to further stand-ins for the owners
    /// they were meant for. Answers what was gathered (`ok` may be short of `w`).
    async fn write_quorum<T, F, Fut>(&self, placement_key: &[u8], call: F) -> Gathered<T>
    where
        T: Send + 'static,
        F: Fn(NodeClient, Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        let mut targets = self.write_targets(placement_key);
        let hinted = targets.iter().filter(|t| t.stands_in_for.is_some()).count();
        self.metrics.hinted_writes.inc_by(hinted as u64);
        let mut g = gather(self.fan_out_to(&targets, &call), self.w()).await;
        if g.ok.len() >= self.w() || !self.handoff || g.failed.is_empty() {
            return g;
        }
        let mut spares = self.spare_targets(placement_key, &targets).into_iter();
        let mut retry = Vec::new();
        for (failed, _) in &g.failed {
            let Some(t) = targets.iter().find(|t| t.node == *failed).copied() else {
                continue;
            };
            if let Some(spare) = spares.next() {
                retry.push(Target {
                    node: spare,
                    stands_in_for: Some(t.stands_in_for.unwrap_or(t.node)),
                });
            }
        }
        if retry.is_empty() {
            return g;
        }
        self.metrics.hinted_writes.inc_by(retry.len() as u64);
        targets.extend(&retry);
        g.rest.extend(self.fan_out_to(&retry, &call));
        while g.ok.len() < self.w() {
            match g.rest.next().await {
                Some((i, Ok(v))) => g.ok.push((i, v)),
                Some((i, Err(e))) => g.failed.push((i, e)),
                None => break,
            }
        }
        g
    }

    pub(crate) fn quorum_error<T>(
        &self,
        kind: &'static str,
        g: &Gathered<T>,
        needed: usize,
    ) -> ClusterError {
        self.metrics
            .quorum_failures
            .with_label_values(&[kind])
            .inc();
        ClusterError::Quorum {
            kind,
            ok: g.ok.len(),
            needed,
            errors: describe(&g.failed),
        }
    }

    /// Writes a chunk to its owners; returns after `w` durable copies.
    pub async fn put_chunk(&self, id: ChunkId, data: Bytes) -> Result<(), ClusterError> {
        let g = self
            .write_quorum(&id.to_bytes(), move |node, owner| {
                let data = data.clone();
                async move { node.put_chunk_for(id, data, owner.as_deref()).await }
            })
            .await;
        if g.ok.len() < self.w() {
            return Err(self.quorum_error("put_chunk", &g, self.w()));
        }
        tokio::spawn(g.rest.for_each(|_| async {}));
        Ok(())
    }

    /// Reads a chunk from the first owner that has it (checked by the node against its
    /// checksum), and puts it back on owners found without it.
    pub async fn get_chunk(&self, id: ChunkId) -> Result<Bytes, ClusterError> {
        self.get_chunk_checked(id, true, |data| Ok(data.into_bytes()))
            .await
    }

    /// Reads a chunk from the first owner whose copy passes `check` (decryption, which may
    /// work in the buffer it is given), and returns what `check` made of it. `node_checks`:
    /// the nodes check their copy against its checksum first (for callers whose `check`
    /// cannot tell bad bytes). Owners found without the chunk, or with a copy that fails
    /// the check (a rotten disk, a tampered file), get the good copy written back. If no
    /// copy passes, the chunk is unavailable: bad bytes are never returned.
    pub async fn get_chunk_checked<T>(
        &self,
        id: ChunkId,
        node_checks: bool,
        check: impl Fn(DirectBuffer) -> Result<T, String>,
    ) -> Result<T, ClusterError> {
        let layout = self.layout();
        let list = layout.current.preference_list(&id.to_bytes());
        let (owners, fallbacks) = split_owners(&list, self.n());
        let mut repair = Vec::new();
        let mut errors = Vec::new();
        // Owners first (up ones before backed-off ones), then the previous map's owners while
        // data moves, then stand-ins that may hold a hinted copy.
        let (up, down): (Vec<usize>, Vec<usize>) =
            owners.iter().partition(|&&i| self.health.is_up(i));
        let previous: Vec<usize> = layout
            .previous
            .as_ref()
            .map(|p| p.owners(&id.to_bytes()))
            .unwrap_or_default()
            .into_iter()
            .filter(|i| !owners.contains(i))
            .collect();
        let order = up
            .into_iter()
            .chain(down)
            .chain(previous)
            .chain(fallbacks.iter().copied());
        let mut tried = Vec::new();
        for i in order {
            if tried.contains(&i) {
                continue;
            }
            tried.push(i);
            let is_owner = owners.contains(&i);
            if !is_owner && !self.health.is_up(i) {
                continue;
            }
            let node = self.node(i);
            let got = node.read_chunk(id, node_checks).await;
            self.health.record(i, &got);
            if !is_owner {
                if let Ok(Some(data)) = got {
                    if let Ok(value) = check(data) {
                        self.metrics.chunk_reads.inc();
                        return Ok(value);
                    }
                }
                continue;
            }
            if matches!(got, Ok(Some(_))) {
                self.metrics.chunk_reads.inc();
            }
            match got {
                Ok(Some(data)) => {
                    // `check` may open the copy in place: keep the stored bytes for owners
                    // found without them.
                    let stored = (!repair.is_empty()).then(|| Bytes::copy_from_slice(&data));
                    match check(data) {
                        Ok(value) => {
                            if let Some(stored) = stored {
                                self.repair_chunk(id, stored, repair);
                            }
                            return Ok(value);
                        }
                        Err(e) => {
                            tracing::warn!("chunk {} on {}: {e}", id.to_hex(), node.address());
                            self.metrics.corrupt_chunks.inc();
                            errors.push(format!("{}: {e}", node.address()));
                            repair.push(i);
                        }
                    }
                }
                Ok(None) => repair.push(i),
                Err(e) => errors.push(e.to_string()),
            }
        }
        self.metrics
            .quorum_failures
            .with_label_values(&["get_chunk"])
            .inc();
        Err(ClusterError::ChunkUnavailable(
            id.to_hex(),
            if errors.is_empty() {
                "no replica holds it".into()
            } else {
                errors.join("; ")
            },
        ))
    }

    fn repair_chunk(&self, id: ChunkId, data: Bytes, targets: Vec<usize>) {
        for i in targets {
            let node = self.node(i);
            let data = data.clone();
            let metrics = self.metrics.clone();
            tokio::spawn(async move {
                if node.put_chunk(id, data).await.is_ok() {
                    metrics.read_repairs.inc();
                }
            });
        }
    }

    /// Deletes chunks on all their owners (under both maps while data moves), in the background
    /// and best effort (a copy that survives is an orphan for the collector, never a correctness
    /// problem).
    pub fn delete_chunks(self: &Arc<Self>, ids: Vec<ChunkId>) {
        if ids.is_empty() {
            return;
        }
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut calls = FuturesUnordered::new();
            for id in ids {
                for i in cluster.all_owners(&id.to_bytes()) {
                    let node = cluster.node(i);
                    calls.push(async move { node.delete_chunk(id).await });
                    if calls.len() >= 16 {
                        calls.next().await;
                    }
                }
            }
            while calls.next().await.is_some() {}
        });
    }

    /// A majority of `n`: how many owners must hold a manifest version for it to count as
    /// written, and how many a read must hear from.
    pub fn majority(&self) -> usize {
        majority_of(self.n())
    }

    /// Writes a new manifest version (an object or a tombstone) and returns it as written. It
    /// is stamped now, at commit, so of two overlapping writes the one that completes last
    /// wins; `m.version` on entry is the version its bytes were stored under (kept as the
    /// data version and as the write's origin). Done when a majority of the owners and `w`
    /// targets in all (stand-ins included) hold it. An owner refuses a version below one it
    /// holds or a ballot it promised. The write is stamped again above what they reported only
    /// when the attempt is provably dead: every owner answered, and either none took it or
    /// every refusal names a newer stored version (those owners will never take it, and no
    /// read or conditional writer ever copies a value to them that they hold a newer one
    /// over). Otherwise the client gets 503: the attempt may still be decided by a reader's
    /// write-back, its outcome is unknown. Nothing is undone; what lost is a superseded version
    /// for the collector.
    pub async fn put_manifest(self: &Arc<Self>, mut m: Manifest) -> Result<Manifest, ClusterError> {
        if let ManifestLayout::Chunked { data, .. } = &mut m.layout {
            data.get_or_insert(m.version);
        }
        let origin = *m.origin.get_or_insert(m.version);
        for _ in 0..MAX_RESTAMPS {
            m.version = self.hlc.version();
            match self.write_manifest_once(&m).await? {
                Attempt::Written => return Ok(m),
                Attempt::Dead(floor) => self.hlc.observe(floor.hlc),
                Attempt::Contended => {
                    // Decide the attempt's fate with the owners, then write if it was not
                    // decided: one agreed write (`Cluster::agree`).
                    let landed = vec![m.clone()];
                    let proposal = m.clone();
                    return match self
                        .agree_after(&m.bucket, &m.key, origin, landed, |_| {
                            Ok(Some(proposal.clone()))
                        })
                        .await
                    {
                        Ok(Some(w)) => Ok(w),
                        Ok(None) => unreachable!("the decision always writes"),
                        Err(CasError::Cluster(e)) => Err(e),
                        Err(other) => Err(ClusterError::Quorum {
                            kind: "put_manifest",
                            ok: 0,
                            needed: self.majority(),
                            errors: other.to_string(),
                        }),
                    };
                }
                Attempt::Unknown(applied) => {
                    if applied > 0 {
                        self.bury_if_undecided(m.clone());
                    }
                    self.metrics
                        .quorum_failures
                        .with_label_values(&["put_manifest"])
                        .inc();
                    return Err(ClusterError::Quorum {
                        kind: "put_manifest",
                        ok: applied,
                        needed: self.majority(),
                        errors: "an owner did not answer after others took it: outcome unknown"
                            .into(),
                    });
                }
            }
        }
        self.metrics
            .quorum_failures
            .with_label_values(&["put_manifest"])
            .inc();
        Err(ClusterError::Quorum {
            kind: "put_manifest",
            ok: 0,
            needed: self.majority(),
            errors: "newer writes kept overtaking this one".into(),
        })
    }

    /// One attempt of [`Cluster::put_manifest`].
    async fn write_manifest_once(&self, m: &Manifest) -> Result<Attempt, ClusterError> {
        let placement_key = Manifest::placement_key(&m.bucket, &m.key);
        let owners = self.owners(&placement_key);
        let need_owners = self.majority().min(owners.len());
        let targets = self.write_targets(&placement_key);
        let sent = Arc::new(m.clone());
        let mut pending = self.fan_out_to(&targets, move |node, owner| {
            let m = sent.clone();
            async move {
                match owner {
                    Some(owner) => node.put_hinted_manifest(&owner, &m).await,
                    None => node.write_manifest(&m, WriteMode::New).await,
                }
            }
        });
        let total = targets.len();
        let owner_targets = targets.iter().filter(|t| owners.contains(&t.node)).count();
        let (mut applied, mut owners_applied, mut answered, mut owners_answered) =
            (0usize, 0usize, 0usize, 0usize);
        let mut floor: Option<Version> = None;
        // Whether an owner refused for a promise rather than a newer version.
        let mut promise_refusal = false;
        let mut failed = Vec::new();
        // Once the write cannot succeed, the other answers are still awaited: whether the
        // attempt is dead depends on every owner.
        let mut lost = false;
        while let Some((i, result)) = pending.next().await {
            answered = answered.saturating_add(1);
            let is_owner = owners.contains(&i);
            owners_answered = owners_answered.saturating_add(usize::from(is_owner));
            match result {
                Ok(reply) if reply.applied => {
                    applied = applied.saturating_add(1);
                    owners_applied = owners_applied.saturating_add(usize::from(is_owner));
                }
                Ok(reply) => {
                    floor = floor.max(reply.floor());
                    promise_refusal |= is_owner && reply.newest.is_none_or(|n| n < m.version);
                }
                Err(e) => failed.push((i, e)),
            }
            if lost {
                continue;
            }
            if owners_applied >= need_owners && applied >= self.w() {
                tokio::spawn(pending.for_each(|_| async {}));
                return Ok(Attempt::Written);
            }
            let owners_left = owner_targets.saturating_sub(owners_answered);
            lost = owners_applied.saturating_add(owners_left) < need_owners
                || applied.saturating_add(total.saturating_sub(answered)) < self.w();
        }
        let owner_failed = failed.iter().any(|(i, _)| owners.contains(i));
        if let Some(floor) = floor {
            if owner_failed {
                return Ok(Attempt::Unknown(owners_applied));
            }
            if owners_applied > 0 && promise_refusal {
                return Ok(Attempt::Contended);
            }
            return Ok(Attempt::Dead(floor));
        }
        let g: Gathered<WriteReply> = Gathered {
            ok: Vec::new(),
            failed,
            rest: FuturesUnordered::new(),
        };
        let mut err = self.quorum_error("put_manifest", &g, self.w().max(need_owners));
        if let ClusterError::Quorum { ok, .. } = &mut err {
            *ok = applied;
        }
        Err(err)
    }

    /// The key's current version (a tombstone included), as a majority of the owners hold it.
    /// When the replicas that answered agree, that is one round trip; when they disagree, the
    /// newest version is first copied to a majority (under its own version; when a conditional
    /// writer's promise stands in the way, the read waits a moment and starts again), so that
    /// no later read can miss what this one returns. Owners found stale are repaired in the background.
    pub async fn get_manifest(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Manifest>, ClusterError> {
        for round in 0..MAX_READ_ROUNDS {
            let (newest, agreed, answers, sets) = self.read_manifest(bucket, key).await?;
            if agreed {
                return Ok(newest);
            }
            // Replicas that disagree hold something; should none, there is nothing to read.
            let Some(newest) = newest else {
                return Ok(None);
            };
            match self.write_back(&newest, &answers, &sets).await {
                WriteBack::Done => return Ok(Some(newest)),
                WriteBack::Newer => {}
                // A conditional writer holds a promise: it decides within a round trip or two.
                WriteBack::Blocked => {
                    let ms =
                        rand::Rng::gen_range(&mut rand::thread_rng(), 1..=2u64 << round.min(5));
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                WriteBack::Failed(e) => return Err(e),
            }
        }
        self.metrics
            .quorum_failures
            .with_label_values(&["get_manifest"])
            .inc();
        Err(ClusterError::Quorum {
            kind: "get_manifest",
            ok: 0,
            needed: self.majority(),
            errors: "replicas kept disagreeing while writes went on".into(),
        })
    }

    /// One read round: the newest version among a majority (and `r`) of the owners, whether
    /// every answer named that version, the answers, and the owner groups.
    #[allow(clippy::type_complexity)]
    async fn read_manifest(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
    ) -> Result<
        (
            Option<Manifest>,
            bool,
            Vec<(usize, Option<Version>)>,
            Vec<Vec<usize>>,
        ),
        ClusterError,
    > {
        let placement_key = Manifest::placement_key(bucket, key);
        let owners = self.owners(&placement_key);
        // Every owner (one marked down may be back: it answers, or fails in the background
        // without holding up the quorum), and the previous owners while data moves.
        let sets = self.read_sets(&placement_key, &[]);
        let readers = union(&sets);
        let need = self.r().max(self.majority());
        let (b, k) = (bucket.to_string(), key.to_string());
        let pending = self.fan_out_all(&readers, move |node| {
            let (b, k) = (b.clone(), k.clone());
            async move { node.get_manifest(&b, &k).await }
        });
        let g = gather_sets(pending, &sets, need).await;
        if !satisfied(&sets, &g.answered(), need) {
            return Err(self.quorum_error("get_manifest", &g, need));
        }
        let newest =
            g.ok.iter()
                .filter_map(|(_, m)| m.as_ref())
                .max_by_key(|m| m.version)
                .cloned();
        if let Some(m) = &newest {
            self.hlc.observe(m.version.hlc);
        }
        let newest_version = newest.as_ref().map(|m| m.version);
        let answers: Vec<(usize, Option<Version>)> =
            g.ok.iter()
                .map(|(i, m)| (*i, m.as_ref().map(|m| m.version)))
                .collect();
        // Decided when a majority of one owner group holds it: every later read, write and
        // agreement needs a majority of each group. (While data moves, the previous owners
        // lose records as they reach the current ones: they need not agree.)
        let holders: Vec<usize> = answers
            .iter()
            .filter(|(_, v)| *v == newest_version)
            .map(|(i, _)| *i)
            .collect();
        let agreed = sets
            .iter()
            .any(|s| satisfied(std::slice::from_ref(s), &holders, self.majority()));
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut answers = g.ok;
            let mut rest = g.rest;
            while let Some((i, result)) = rest.next().await {
                if let Ok(m) = result {
                    answers.push((i, m));
                }
            }
            cluster.repair_manifests(answers, owners).await;
        });
        Ok((newest, agreed, answers, sets))
    }

    /// Copies `newest` to the current owners that did not answer with it, until a majority of
    /// them holds it.
    async fn write_back(
        &self,
        newest: &Manifest,
        answers: &[(usize, Option<Version>)],
        sets: &[Vec<usize>],
    ) -> WriteBack {
        let mut holders: Vec<usize> = answers
            .iter()
            .filter(|(_, v)| *v == Some(newest.version))
            .map(|(i, _)| *i)
            .collect();
        // The current owners: a majority of them is enough (see `read_manifest`), and a copy on
        // a previous owner would only be moved away again.
        let current = sets.get(..1).unwrap_or_default();
        let targets: Vec<usize> = current
            .iter()
            .flatten()
            .copied()
            .filter(|i| !holders.contains(i))
            .collect();
        let sent = Arc::new(newest.clone());
        let mut pending = self.fan_out(&targets, move |node| {
            let m = sent.clone();
            async move { node.put_manifest(&m).await }
        });
        let need = self.majority();
        let (mut newer, mut blocked) = (false, false);
        let mut failed = Vec::new();
        while let Some((i, result)) = pending.next().await {
            match result {
                Ok(reply) if reply.applied => {
                    holders.push(i);
                    self.metrics.read_repairs.inc();
                }
                Ok(reply) if reply.newest > Some(newest.version) => newer = true,
                Ok(_) => blocked = true,
                Err(e) => failed.push((i, e)),
            }
            if satisfied(current, &holders, need) {
                tokio::spawn(pending.for_each(|_| async {}));
                return WriteBack::Done;
            }
        }
        if newer {
            WriteBack::Newer
        } else if blocked {
            WriteBack::Blocked
        } else {
            let g: Gathered<WriteReply> = Gathered {
                ok: Vec::new(),
                failed,
                rest: FuturesUnordered::new(),
            };
            WriteBack::Failed(self.quorum_error("get_manifest", &g, need))
        }
    }

    /// Rewrites the newest version onto owners that answered with an older one or none
    /// (stand-ins are not repaired: what they hold, they hold on an owner's behalf).
    async fn repair_manifests(
        self: &Arc<Self>,
        answers: Vec<(usize, Option<Manifest>)>,
        owners: Vec<usize>,
    ) {
        let Some(newest) = answers
            .iter()
            .filter_map(|(_, m)| m.as_ref())
            .max_by_key(|m| m.version)
            .cloned()
        else {
            return;
        };
        for (i, held) in answers {
            if owners.contains(&i)
                && held.as_ref().map(|m| m.version) != Some(newest.version)
                && self
                    .node(i)
                    .put_manifest(&newest)
                    .await
                    .is_ok_and(|r| r.applied)
            {
                self.metrics.read_repairs.inc();
            }
        }
    }

    /// The newest bucket record among `r` owners, repairing stale owners.
    pub async fn get_bucket(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<Option<BucketRecord>, ClusterError> {
        let placement_key = BucketRecord::placement_key(name);
        self.read_record::<BucketRecord>(&name.to_string(), &placement_key, true)
            .await
    }

    /// How many nodes a scatter over all nodes may lose and still see every key's newest version.
    pub fn scatter_tolerance(&self) -> usize {
        self.n().saturating_sub(self.r())
    }

    /// How many of `count` nodes a scatter over all of them needs answers from.
    pub fn scatter_need(&self, count: usize) -> usize {
        count.saturating_sub(self.scatter_tolerance().min(count.saturating_sub(1)))
    }

    /// Every live bucket, merged from all nodes.
    pub async fn list_buckets(&self) -> Result<Vec<BucketRecord>, ClusterError> {
        let mut live = self.bucket_records().await?;
        live.retain(|b| !b.deleted);
        Ok(live)
    }

    /// The newest record of every bucket name, tombstones included, merged from all nodes.
    pub async fn bucket_records(&self) -> Result<Vec<BucketRecord>, ClusterError> {
        self.read_family(self.scatter_need(self.members().len()), false)
            .await
    }

    /// One page of one node's listing.
    pub async fn list_page(
        &self,
        node: usize,
        q: ListManifests,
    ) -> Result<ListManifestsReply, RpcError> {
        self.node(node).list_manifests(&q).await
    }
}
