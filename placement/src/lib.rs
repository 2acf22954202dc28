//! Placement: the cluster map and the ring that turns a key into its preference list.
//!
//! This crate is pure (no I/O besides parsing a YAML string) and is shared by every process, so a
//! gateway and a storage node always agree on where a key lives:
//!
//! * [`ClusterMap`] is the versioned document that names the nodes (id, address, zone, weight),
//!   the replication factor `n`, the write and read quorums `w` and `r`, and an `epoch`.
//! * [`Ring`] is built from a map. [`Ring::preference_list`] walks it from the key's hash and
//!   returns every physical node once, the first `n` of them in distinct zones whenever the
//!   cluster has that many zones; the ones after the first `n` are the fallbacks that take a
//!   write when an owner is down.
//! * [`MapState`] is the current map plus, while data moves after a change, the previous one;
//!   [`MapState::offer`] is the rule by which a newer state replaces an older one everywhere.
//!
//! Why not the `hashring` crate: measured on hashring 0.3.6, it has no weights or virtual nodes,
//! its `get_with_replicas` returns repeated physical nodes (73% of keys got fewer than 3 distinct
//! nodes with 3 nodes x 64 virtual nodes) and clones the whole ring on every call (~33 µs). The
//! walk below is a `BTreeMap` range scan that skips nodes already seen: O(log V) to find the start
//! and a handful of steps per key, with weights expressed as virtual-node counts.

// Outside bytes never panic the process: library code has no unwrap/expect/panic and no
// unchecked arithmetic or indexing (tests may). An exception says why where it stands.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

mod map;
mod ring;
mod state;

pub use map::{ClusterMap, MapError, NodeSpec, Replication};
pub use ring::{stable_hash, NodeIndex, Ring};
pub use state::{MapState, Offer};
