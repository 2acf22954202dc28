//! The gateway's side of the record table (`node_api::table`): the quorum operations every
//! family shares, written once over [`Record`]. A write of a copy goes to the record's owners
//! (stand-ins with hints for owners that are down) and needs a majority of the owners and `w`
//! targets in all, or, for records kept everywhere, to every member, needing a majority; a
//! read of one record asks `r` owners, takes the newest version and writes it back to the
//! owners that answered something older; a read of a whole small family merges the newest
//! version of each record from enough members to see every acknowledged write.
//!
//! Object versions have their own ordered read and write (`cluster`), and agreed changes their
//! Paxos rounds (`conditional`, `bucket_agreement`); what those copy, repair and move travels
//! through the same rows.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use node_api::client::{NodeClient, RpcError};
use node_api::table::{Placement, Record, Row};

use crate::cluster::{gather_all, gather_sets, satisfied, union, Cluster, ClusterError, Gathered};

impl Cluster {
    /// Writes a copy of `record` (its version kept) under its family's newest-wins rule: for
    /// its owners ([`Cluster::write_row_at`]), or to every member, needing a majority. A record
    /// placed with an upload is written with [`Cluster::write_row_at`] and the upload's key.
    pub async fn write_record<R: Record>(&self, record: &R) -> Result<(), ClusterError> {
        match record.placement() {
            Placement::Key(k) => self.write_row_at(&k, record.row()).await,
            Placement::Everywhere => {
                let all = self.members();
                let row = Arc::new(record.row());
                let pending = self.fan_out_all(&all, move |node| taken(node, None, row.clone()));
                let g = gather_all(pending).await;
                let need = crate::cluster::majority_of(all.len());
                if g.ok.len() < need {
                    return Err(self.quorum_error("write_row", &g, need));
                }
                Ok(())
            }
            Placement::WithUpload(_) => Err(ClusterError::Quorum {
                kind: "write_row",
                ok: 0,
                needed: 0,
                errors: "a record placed with its upload is written with write_row_at".into(),
            }),
        }
    }

    /// Writes a copy of `row` for the owners of `placement_key` under the sloppy-quorum rules
    /// (`Cluster::write_targets`: a stand-in, with a hint, for each owner that is down). Done
    /// once a majority of the owners and `w` targets in all hold it: stand-ins count toward
    /// `w` only, so every read of `r` owners still meets a copy.
    pub async fn write_row_at(&self, placement_key: &[u8], row: Row) -> Result<(), ClusterError> {
        let owners = self.owners(placement_key);
        let need_owners = self.majority().min(owners.len());
        let targets = self.write_targets(placement_key);
        let hinted = targets.iter().filter(|t| t.stands_in_for.is_some()).count();
        self.metrics.hinted_writes.inc_by(hinted as u64);
        let row = Arc::new(row);
        let mut pending =
            self.fan_out_to(&targets, move |node, owner| taken(node, owner, row.clone()));
        let (mut held, mut owners_held) = (0usize, 0usize);
        let mut failed = Vec::new();
        while let Some((i, result)) = pending.next().await {
            match result {
                Ok(()) => {
                    held = held.saturating_add(1);
                    owners_held = owners_held.saturating_add(usize::from(owners.contains(&i)));
                }
                Err(e) => failed.push((i, e)),
            }
            if owners_held >= need_owners && held >= self.w() {
                tokio::spawn(pending.for_each(|_| async {}));
                return Ok(());
            }
        }
        let g: Gathered<()> = Gathered {
            ok: Vec::new(),
            failed,
            rest: FuturesUnordered::new(),
        };
        let mut err = self.quorum_error("write_row", &g, self.w().max(need_owners));
        if let ClusterError::Quorum { ok, .. } = &mut err {
            *ok = held;
        }
        Err(err)
    }

    /// The newest version of one record among `r` of the owners of `placement_key`. With
    /// `repair`, once every owner asked has answered, those that hold an older version (or
    /// none) get the newest written back, in the background.
    pub async fn read_record<R: Record>(
        self: &Arc<Self>,
        id: &R::Id,
        placement_key: &[u8],
        repair: bool,
    ) -> Result<Option<R>, ClusterError> {
        let owners = self.owners(placement_key);
        let sets = self.read_sets(placement_key, &[]);
        let id = Arc::new(id.clone());
        let pending = self.fan_out(&union(&sets), move |node| {
            let id = id.clone();
            async move { node.get_record::<R>(&id).await }
        });
        let g = gather_sets(pending, &sets, self.r()).await;
        if !satisfied(&sets, &g.answered(), self.r()) {
            return Err(self.quorum_error("read_row", &g, self.r()));
        }
        let newest = newest_of(g.ok.iter().filter_map(|(_, r)| r.as_ref())).cloned();
        if !repair {
            tokio::spawn(g.rest.for_each(|_| async {}));
            return Ok(newest);
        }
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut answers = g.ok;
            let mut rest = g.rest;
            while let Some((i, result)) = rest.next().await {
                if let Ok(r) = result {
                    answers.push((i, r));
                }
            }
            let Some(best) = newest_of(answers.iter().filter_map(|(_, r)| r.as_ref())).cloned()
            else {
                return;
            };
            let row = best.row();
            for (i, held) in answers {
                if owners.contains(&i)
                    && held.map(|r| r.version()) != Some(best.version())
                    && cluster.node(i).put_row(&row).await.is_ok()
                {
                    cluster.metrics.read_repairs.inc();
                }
            }
        });
        Ok(newest)
    }

    /// The newest version of every record of a small family (buckets, access keys,
    /// settings), tombstones included, sorted by id, merged from at least `need` members.
    /// With `write_back`, members that answered an older version (or none) get the newest.
    pub async fn read_family<R>(
        &self,
        need: usize,
        write_back: bool,
    ) -> Result<Vec<R>, ClusterError>
    where
        R: Record,
        R::Id: Ord,
    {
        let all = self.members();
        let pending = self.fan_out(&all, |node| async move { node.list_records::<R>().await });
        let g = gather_all(pending).await;
        if g.ok.len() < need {
            return Err(self.quorum_error("list_rows", &g, need));
        }
        let mut newest: HashMap<R::Id, R> = HashMap::new();
        for (_, records) in &g.ok {
            for r in records {
                if newest
                    .get(&r.id())
                    .is_none_or(|cur| cur.version() < r.version())
                {
                    newest.insert(r.id(), r.clone());
                }
            }
        }
        if write_back {
            let mut repairs = Vec::new();
            for (i, records) in &g.ok {
                for best in newest.values() {
                    if !records
                        .iter()
                        .any(|r| r.id() == best.id() && r.version() == best.version())
                    {
                        let (node, row) = (self.node(*i), best.row());
                        repairs.push(async move { node.put_row(&row).await });
                    }
                }
            }
            futures::stream::iter(repairs)
                .buffer_unordered(8)
                .for_each(|_| async {})
                .await;
        }
        let mut out: Vec<(R::Id, R)> = newest.into_iter().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }
}

/// The newest of some versions of one record.
fn newest_of<'a, R: Record>(records: impl Iterator<Item = &'a R>) -> Option<&'a R> {
    records.max_by_key(|r| r.version())
}

/// Puts `row` on `node` (a stand-in for `owner`, with a hint, when given); a node that
/// neither took it nor holds a newer version (a promise refused it) counts as a failed call.
async fn taken(node: NodeClient, owner: Option<String>, row: Arc<Row>) -> Result<(), RpcError> {
    let held = match owner {
        Some(owner) => node.put_hinted_row(&owner, &row).await?,
        None => node.put_row(&row).await?,
    };
    if held {
        Ok(())
    } else {
        Err(RpcError::Status(
            node.address().to_string(),
            409,
            "refused by a promise".into(),
        ))
    }
}
