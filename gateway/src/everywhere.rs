//! Records kept whole on every node, not placed by the ring: stored access keys and cluster
//! settings (job controls and reports), families of the record table whose placement is
//! `Everywhere`. They are few and small. A write goes to every member and needs a majority; a
//! read takes the newest version of each record among a majority and writes it back to the
//! members that lacked it, so a node that was down or joined later catches up (anti-entropy
//! compares them too).

use node_api::table::{Placement, Record};

use crate::cluster::{Cluster, ClusterError};

/// Writes `record` to every member; a majority must store it.
pub async fn write<R: Record>(cluster: &Cluster, record: R) -> Result<(), ClusterError> {
    debug_assert_eq!(record.placement(), Placement::Everywhere);
    cluster.write_record(&record).await
}

/// The newest version of every record among a majority of the members (tombstones
/// included), sorted by id, written back to the members that lacked it.
pub async fn read_all<R>(cluster: &Cluster) -> Result<Vec<R>, ClusterError>
where
    R: Record,
    R::Id: Ord,
{
    cluster
        .read_family(crate::cluster::majority_of(cluster.members().len()), true)
        .await
}
