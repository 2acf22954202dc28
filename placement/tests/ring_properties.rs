//! Property tests of the ring: determinism, distinct owners, zone spread, balance and minimal
//! movement when a node joins or leaves.

use placement::{ClusterMap, NodeSpec, Replication, Ring};
use proptest::prelude::*;

fn map_of(nodes: &[(String, String, f64)], n: usize) -> ClusterMap {
    ClusterMap {
        epoch: 1,
        replication: Replication {
            n,
            w: n / 2 + 1,
            r: n / 2 + 1,
            allow_weak_consistency: false,
        },
        vnodes_per_weight: 1024,
        nodes: nodes
            .iter()
            .enumerate()
            .map(|(i, (id, zone, weight))| NodeSpec {
                id: id.clone(),
                address: format!("127.0.0.1:{}", 10_000 + i),
                zone: zone.clone(),
                weight: *weight,
            })
            .collect(),
    }
}

fn simple_map(count: usize) -> ClusterMap {
    let nodes: Vec<_> = (0..count)
        .map(|i| (format!("node-{i}"), format!("zone-{i}"), 1.0))
        .collect();
    map_of(&nodes, 3.min(count))
}

fn key(i: u64) -> Vec<u8> {
    format!("bucket\0object-{i}").into_bytes()
}

fn node_strategy() -> impl Strategy<Value = Vec<(String, String, f64)>> {
    prop::collection::vec(("[a-z]{1,8}", 0usize..4, 1u32..4), 3..8).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (name, zone, w))| (format!("{name}-{i}"), format!("z{zone}"), f64::from(w)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn deterministic_across_builds(nodes in node_strategy(), keys in prop::collection::vec(any::<Vec<u8>>(), 1..50)) {
        let map = map_of(&nodes, 3);
        let (a, b) = (Ring::new(&map), Ring::new(&map.clone()));
        for k in &keys {
            prop_assert_eq!(a.preference_list(k), b.preference_list(k));
        }
    }

    #[test]
    fn every_node_once_and_owners_distinct(nodes in node_strategy(), keys in prop::collection::vec(any::<Vec<u8>>(), 1..50)) {
        let map = map_of(&nodes, 3);
        let ring = Ring::new(&map);
        for k in &keys {
            let list = ring.preference_list(k);
            let mut sorted = list.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), map.nodes.len());
            prop_assert_eq!(list.len(), map.nodes.len());
            prop_assert_eq!(list[0], ring.primary(k).unwrap());
        }
    }

    #[test]
    fn owners_span_as_many_zones_as_possible(nodes in node_strategy(), keys in prop::collection::vec(any::<Vec<u8>>(), 1..50)) {
        let map = map_of(&nodes, 3);
        let ring = Ring::new(&map);
        let mut all_zones: Vec<&str> = map.nodes.iter().map(|n| n.zone.as_str()).collect();
        all_zones.sort_unstable();
        all_zones.dedup();
        let want = all_zones.len().min(3);
        for k in &keys {
            let mut owner_zones: Vec<&str> = ring.preference_list(k)[..3]
                .iter()
                .map(|&i| map.nodes[i].zone.as_str())
                .collect();
            owner_zones.sort_unstable();
            owner_zones.dedup();
            prop_assert_eq!(owner_zones.len(), want);
        }
    }
}

/// Every node's share of primary ownership over 100k keys is within 10% of its weighted share.
#[test]
fn balanced_by_weight() {
    for weights in [
        vec![1.0, 1.0, 1.0],
        vec![1.0, 2.0, 1.0, 3.0, 1.0],
        vec![1.0; 7],
    ] {
        let nodes: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("node-{i}"), format!("zone-{i}"), *w))
            .collect();
        let map = map_of(&nodes, 3);
        let ring = Ring::new(&map);
        let mut counts = vec![0u64; nodes.len()];
        let total_keys = 100_000u64;
        for i in 0..total_keys {
            counts[ring.primary(&key(i)).unwrap()] += 1;
        }
        let total_weight: f64 = weights.iter().sum();
        for (i, count) in counts.iter().enumerate() {
            let expected = total_keys as f64 * weights[i] / total_weight;
            let deviation = (*count as f64 - expected).abs() / expected;
            assert!(
                deviation <= 0.10,
                "node {i} (weight {}) got {count} keys, expected {expected:.0} ({:.1}% off)",
                weights[i],
                deviation * 100.0
            );
        }
    }
}

/// Adding a sixth node moves at most 1.25x the ideal 1/6 of the keys, all of them to the new node.
#[test]
fn adding_a_node_moves_little() {
    let before = Ring::new(&simple_map(5));
    let after = Ring::new(&simple_map(6));
    let total_keys = 100_000u64;
    let mut moved = 0u64;
    for i in 0..total_keys {
        let (a, b) = (
            before.primary(&key(i)).unwrap(),
            after.primary(&key(i)).unwrap(),
        );
        if a != b {
            assert_eq!(b, 5, "a key moved between two old nodes");
            moved += 1;
        }
    }
    let ideal = total_keys as f64 / 6.0;
    assert!(
        moved as f64 <= 1.25 * ideal,
        "moved {moved}, ideal {ideal:.0}"
    );
}

/// Removing a node moves only the keys it owned.
#[test]
fn removing_a_node_moves_only_its_keys() {
    let full = simple_map(5);
    let mut reduced = full.clone();
    reduced.nodes.remove(2);
    let (before, after) = (Ring::new(&full), Ring::new(&reduced));
    for i in 0..100_000u64 {
        let a = &full.nodes[before.primary(&key(i)).unwrap()].id;
        let b = &reduced.nodes[after.primary(&key(i)).unwrap()].id;
        if a != "node-2" {
            assert_eq!(a, b, "key {i} moved off a node that stayed");
        }
    }
}

/// Replica sets (not only primaries) also move minimally: a surviving node keeps every key it
/// owned unless the new node took its place.
#[test]
fn replica_sets_move_minimally_on_join() {
    let (before, after) = (Ring::new(&simple_map(5)), Ring::new(&simple_map(6)));
    let total_keys = 20_000u64;
    let mut changed_slots = 0usize;
    for i in 0..total_keys {
        let a: Vec<_> = before.preference_list(&key(i))[..3].to_vec();
        let b: Vec<_> = after.preference_list(&key(i))[..3].to_vec();
        for node in &a {
            if !b.contains(node) {
                assert!(
                    b.contains(&5),
                    "key {i} lost an owner without the new node joining it"
                );
                changed_slots += 1;
            }
        }
    }
    // Ideal: the new node takes 3/6 of all replica slots per key on average, i.e. 1/6 of slots.
    let ideal = total_keys as f64 * 3.0 / 6.0;
    assert!(
        changed_slots as f64 <= 1.25 * ideal,
        "changed {changed_slots}, ideal {ideal:.0}"
    );
}
