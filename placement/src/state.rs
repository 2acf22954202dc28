//! The cluster's map *state*: the current map and, while data still moves after a change, the
//! map it replaced. Every storage node keeps one, every gateway holds one, and the rule of which
//! state wins when two meet ([`MapState::offer`]) is the same everywhere, so a change spreads
//! from any process to all of them.

use serde::{Deserialize, Serialize};

use crate::map::{ClusterMap, MapError};

/// The current map, and the previous one while the data it placed is still being moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapState {
    pub current: ClusterMap,
    /// Set from the moment `current` is adopted until every record sits on its `current`
    /// owners; reads consult the owners under both maps meanwhile.
    pub previous: Option<ClusterMap>,
}

/// What [`MapState::offer`] decides about an offered state.
#[derive(Debug, Clone, PartialEq)]
pub enum Offer {
    /// The offered state replaces the held one.
    Adopt,
    /// Nothing new.
    Same,
    /// The offered state is older than the held one, or conflicts with it.
    Refuse(String),
}

impl MapState {
    /// A state with no move under way.
    pub fn settled(map: ClusterMap) -> MapState {
        MapState {
            current: map,
            previous: None,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.current.epoch
    }

    /// Whether data placed by an earlier map is still moving.
    pub fn is_moving(&self) -> bool {
        self.previous.is_some()
    }

    /// The state after an operator's change to `next`, which must have a higher epoch. One change
    /// at a time: while the data of the last change still moves, a new map is refused (the reads
    /// of a move consult exactly two maps).
    pub fn change_to(&self, next: ClusterMap) -> Result<MapState, String> {
        next.validate().map_err(|e| e.to_string())?;
        if next.epoch <= self.epoch() {
            return Err(format!(
                "the new map's epoch {} must be higher than the current {}",
                next.epoch,
                self.epoch()
            ));
        }
        if self.is_moving() {
            return Err(format!(
                "data is still moving to the map of epoch {}; apply the next change when it is done",
                self.epoch()
            ));
        }
        Ok(MapState {
            current: next,
            previous: Some(self.current.clone()),
        })
    }

    /// The same state with its move finished.
    pub fn done_moving(&self) -> MapState {
        MapState::settled(self.current.clone())
    }

    /// Checks both maps.
    pub fn validate(&self) -> Result<(), MapError> {
        self.current.validate()?;
        if let Some(p) = &self.previous {
            p.validate()?;
            if p.epoch >= self.current.epoch {
                return Err(MapError::Invalid {
                    field: "previous.epoch".into(),
                    message: "must be lower than the current epoch".into(),
                });
            }
        }
        Ok(())
    }

    /// Whether a process holding `held` (or nothing) takes `offered`: a higher epoch wins; at the
    /// same epoch, the state whose move is done wins; two different maps with one epoch are a
    /// conflict (two operators applied different changes) and are refused.
    pub fn offer(held: Option<&MapState>, offered: &MapState) -> Offer {
        if let Err(e) = offered.validate() {
            return Offer::Refuse(e.to_string());
        }
        let Some(held) = held else {
            return Offer::Adopt;
        };
        match offered.epoch().cmp(&held.epoch()) {
            std::cmp::Ordering::Greater => Offer::Adopt,
            std::cmp::Ordering::Less => Offer::Refuse(format!(
                "epoch {} is older than the held epoch {}",
                offered.epoch(),
                held.epoch()
            )),
            std::cmp::Ordering::Equal if offered.current != held.current => Offer::Refuse(format!(
                "a different map with the same epoch {} is already in place",
                held.epoch()
            )),
            std::cmp::Ordering::Equal if held.is_moving() && !offered.is_moving() => Offer::Adopt,
            std::cmp::Ordering::Equal => Offer::Same,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(epoch: u64, nodes: usize) -> ClusterMap {
        let mut text = format!("epoch: {epoch}\nnodes:\n");
        for i in 0..nodes {
            text.push_str(&format!(
                "  - {{ id: n{i}, address: '127.0.0.1:{}' }}\n",
                i + 1
            ));
        }
        ClusterMap::from_yaml(&text).unwrap()
    }

    #[test]
    fn higher_epochs_and_finished_moves_win() {
        let one = MapState::settled(map(1, 3));
        let two = one.change_to(map(2, 4)).unwrap();
        assert_eq!(two.previous.as_ref().unwrap().epoch, 1);
        assert_eq!(MapState::offer(None, &one), Offer::Adopt);
        assert_eq!(MapState::offer(Some(&one), &two), Offer::Adopt);
        assert!(matches!(
            MapState::offer(Some(&two), &one),
            Offer::Refuse(_)
        ));
        assert_eq!(MapState::offer(Some(&two), &two), Offer::Same);
        let done = two.done_moving();
        assert_eq!(MapState::offer(Some(&two), &done), Offer::Adopt);
        assert_eq!(MapState::offer(Some(&done), &two), Offer::Same);
    }

    #[test]
    fn one_change_at_a_time_and_no_two_maps_per_epoch() {
        let two = MapState::settled(map(1, 3)).change_to(map(2, 4)).unwrap();
        assert!(two
            .change_to(map(3, 3))
            .unwrap_err()
            .contains("still moving"));
        assert!(two
            .done_moving()
            .change_to(map(2, 5))
            .unwrap_err()
            .contains("higher"));
        let rival = MapState::settled(map(2, 5));
        assert!(matches!(
            MapState::offer(Some(&two), &rival),
            Offer::Refuse(_)
        ));
    }
}
