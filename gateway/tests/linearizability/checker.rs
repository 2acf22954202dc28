//! A linearizability checker for one S3 key seen as a register with compare-and-set: the
//! search of Wing and Gong with Lowe's memoisation (as Knossos and Porcupine do it).
//!
//! Each operation has a call time and, if its outcome is known, a return time and a result.
//! The search repeatedly picks an operation that may come first (its call precedes every
//! return still to be explained), applies it to the model, and backtracks when the model
//! contradicts the recorded result. States already explored (the set of operations placed and
//! the register's value) are remembered, so each is visited once. An operation of unknown
//! outcome (a timeout, a 5xx on a write) may take effect at any point after its call, or never.
//! Reads of unknown outcome say nothing and are dropped before the search.

use std::collections::HashSet;

/// A register's value: the object's body, or `None` when the key has no object.
pub type Value = Option<String>;

/// What a client asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Get,
    /// HEAD: answered with the body its ETag names.
    Head,
    /// A write of a body: PUT, CopyObject onto the key, or CompleteMultipartUpload (the value
    /// names which).
    Put(String),
    Delete,
    /// DELETE with `If-Match` on the ETag of a body (`expected`): deletes that body only; 412
    /// when the key holds another; succeeds, deleting nothing, when the key has no object.
    DeleteIfMatch {
        expected: String,
    },
    /// PUT with `If-Match` on the ETag of a body (`expected`).
    PutIfMatch {
        expected: String,
        value: String,
    },
    /// PUT (or CompleteMultipartUpload) with `If-None-Match: *`.
    PutIfAbsent(String),
    /// PutObjectTagging: succeeds when the key has an object (404 NoSuchKey, classified as
    /// [`Answer::PreconditionFailed`], when not), and never changes the body.
    Tag,
}

impl Call {
    /// Reads the value (changes nothing).
    fn reads(&self) -> bool {
        matches!(self, Call::Get | Call::Head | Call::Tag)
    }
}

/// What the client was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Success; a GET's body (`None`: 404 NoSuchKey).
    Ok(Value),
    /// 412 PreconditionFailed, or 404 NoSuchKey for `If-Match` on a missing key.
    PreconditionFailed,
    /// A definite failure with no effect (409 ConditionalRequestConflict).
    NoEffect,
    /// No answer, or a 5xx: the write may or may not have happened.
    Unknown,
}

/// One operation of the history.
#[derive(Debug, Clone)]
pub struct Op {
    /// Who called (shown when a history fails).
    #[allow(dead_code)]
    pub client: usize,
    pub call: Call,
    pub answer: Answer,
    /// Nanoseconds since the history began.
    pub called: u64,
    /// `None` when the outcome is unknown.
    pub returned: Option<u64>,
}

/// Applies `op` to `state`: the next state, or `None` if the answer contradicts the model.
fn step(state: &Value, op: &Op) -> Option<Value> {
    let unknown = op.answer == Answer::Unknown;
    match (&op.call, &op.answer) {
        (Call::Get | Call::Head, Answer::Ok(v)) => (v == state).then(|| state.clone()),
        (Call::Get | Call::Head, _) => Some(state.clone()),
        (Call::Tag, Answer::Ok(_)) => state.is_some().then(|| state.clone()),
        (Call::Tag, Answer::PreconditionFailed) => state.is_none().then(|| state.clone()),
        (Call::Tag, _) => Some(state.clone()),
        (_, Answer::NoEffect) => Some(state.clone()),
        (Call::Put(v), Answer::Ok(_) | Answer::Unknown) => Some(Some(v.clone())),
        (Call::Delete, Answer::Ok(_) | Answer::Unknown) => Some(None),
        (Call::PutIfMatch { expected, value }, answer) => {
            let holds = state.as_deref() == Some(expected.as_str());
            match answer {
                Answer::Ok(_) => holds.then(|| Some(value.clone())),
                Answer::PreconditionFailed => (!holds).then(|| state.clone()),
                _ if unknown => holds.then(|| Some(value.clone())),
                _ => None,
            }
        }
        (Call::DeleteIfMatch { expected }, answer) => {
            let holds = state.as_deref() == Some(expected.as_str());
            match answer {
                Answer::Ok(_) => (holds || state.is_none()).then_some(None),
                Answer::PreconditionFailed => (state.is_some() && !holds).then(|| state.clone()),
                _ if unknown => Some(if holds { None } else { state.clone() }),
                _ => None,
            }
        }
        (Call::PutIfAbsent(value), answer) => {
            let holds = state.is_none();
            match answer {
                Answer::Ok(_) => holds.then(|| Some(value.clone())),
                Answer::PreconditionFailed => (!holds).then(|| state.clone()),
                _ if unknown => holds.then(|| Some(value.clone())),
                _ => None,
            }
        }
        (Call::Put(_) | Call::Delete, Answer::PreconditionFailed) => None,
    }
}

/// Why no order exists: the operations of the longest explained prefix and the ones that
/// could not be placed after it.
#[derive(Debug)]
pub struct Failure {
    /// The search gave up after [`STATE_BUDGET`] states without an answer.
    pub undecided: bool,
    /// Operations placed, in order, in the deepest attempt.
    pub placed: Vec<Op>,
    /// Completed operations still to place at that point (the first returns first).
    pub stuck: Vec<Op>,
    /// The register's value after `placed`.
    pub state: Value,
}

/// States the search may visit before it gives up (undecided).
pub const STATE_BUDGET: usize = 4_000_000;

/// The value an operation writes, if it writes one.
fn written(call: &Call) -> Option<&str> {
    match call {
        Call::Put(v) | Call::PutIfAbsent(v) | Call::PutIfMatch { value: v, .. } => Some(v),
        Call::Get | Call::Head | Call::Tag | Call::Delete | Call::DeleteIfMatch { .. } => None,
    }
}

/// Whether an order of `ops` explains every answer, starting from `initial`.
///
/// Writes of unknown outcome whose value no read ever returned are first assumed not to
/// have happened (each one that did happen multiplies the orders to search); only if no
/// order exists then is the whole history searched.
pub fn check(initial: Value, ops: &[Op]) -> Result<(), Box<Failure>> {
    // Reads of unknown outcome constrain nothing.
    let ops: Vec<Op> = ops
        .iter()
        .filter(|o| !(o.call.reads() && o.answer == Answer::Unknown))
        .cloned()
        .collect();
    let read: HashSet<&str> = ops
        .iter()
        .filter_map(|o| match &o.answer {
            Answer::Ok(Some(v)) if matches!(o.call, Call::Get | Call::Head) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    let unobserved =
        |o: &Op| o.answer == Answer::Unknown && written(&o.call).is_some_and(|v| !read.contains(v));
    if ops.iter().any(unobserved) {
        let pruned: Vec<Op> = ops.iter().filter(|o| !unobserved(o)).cloned().collect();
        if search(initial.clone(), &pruned).is_ok() {
            return Ok(());
        }
    }
    search(initial, &ops)
}

/// The search itself, over every operation given.
fn search(initial: Value, ops: &[Op]) -> Result<(), Box<Failure>> {
    let n = ops.len();
    let words = n.div_ceil(64).max(1);
    let mut seen: HashSet<(Vec<u64>, Value)> = HashSet::new();
    let mut placed = vec![0u64; words];
    let mut order: Vec<usize> = Vec::new();
    let mut deepest: (Vec<usize>, Value) = (Vec::new(), initial.clone());
    // Depth-first search with an explicit stack of (state before, candidates left).
    struct Frame {
        state: Value,
        candidates: Vec<usize>,
    }
    let is_placed = |placed: &[u64], i: usize| placed[i / 64] >> (i % 64) & 1 == 1;
    let candidates_of = |placed: &[u64]| -> Vec<usize> {
        let horizon = (0..n)
            .filter(|&i| !is_placed(placed, i))
            .filter_map(|i| ops[i].returned)
            .min()
            .unwrap_or(u64::MAX);
        (0..n)
            .filter(|&i| !is_placed(placed, i) && ops[i].called <= horizon)
            .collect()
    };
    let done = |placed: &[u64]| (0..n).all(|i| is_placed(placed, i) || ops[i].returned.is_none());
    if done(&placed) {
        return Ok(());
    }
    let mut stack = vec![Frame {
        state: initial,
        candidates: candidates_of(&placed),
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(i) = frame.candidates.pop() else {
            stack.pop();
            if let Some(i) = order.pop() {
                placed[i / 64] &= !(1 << (i % 64));
            }
            continue;
        };
        let Some(next) = step(&frame.state, &ops[i]) else {
            continue;
        };
        placed[i / 64] |= 1 << (i % 64);
        if seen.len() >= STATE_BUDGET {
            return Err(Box::new(Failure {
                undecided: true,
                placed: order.iter().map(|&i| ops[i].clone()).collect(),
                stuck: Vec::new(),
                state: frame.state.clone(),
            }));
        }
        if !seen.insert((placed.clone(), next.clone())) {
            placed[i / 64] &= !(1 << (i % 64));
            continue;
        }
        order.push(i);
        if order.len() > deepest.0.len() {
            deepest = (order.clone(), next.clone());
        }
        if done(&placed) {
            return Ok(());
        }
        let candidates = candidates_of(&placed);
        stack.push(Frame {
            state: next,
            candidates,
        });
    }
    let (placed_order, state) = deepest;
    let mut stuck: Vec<Op> = (0..n)
        .filter(|i| !placed_order.contains(i) && ops[*i].returned.is_some())
        .map(|i| ops[i].clone())
        .collect();
    stuck.sort_by_key(|o| o.returned);
    Err(Box::new(Failure {
        undecided: false,
        placed: placed_order.into_iter().map(|i| ops[i].clone()).collect(),
        stuck,
        state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, answer: Answer, called: u64, returned: Option<u64>) -> Op {
        Op {
            client: 0,
            call,
            answer,
            called,
            returned,
        }
    }
    fn s(v: &str) -> String {
        v.to_string()
    }
    fn ok(v: Option<&str>) -> Answer {
        Answer::Ok(v.map(s))
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Get, ok(Some("a")), 2, Some(3)),
            op(Call::Delete, ok(None), 4, Some(5)),
            op(Call::Get, ok(None), 6, Some(7)),
        ];
        assert!(check(None, &h).is_ok());
    }

    #[test]
    fn stale_read_is_not() {
        // B was acknowledged before the read began, yet the read returned A.
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Put(s("b")), ok(None), 2, Some(3)),
            op(Call::Get, ok(Some("a")), 4, Some(5)),
        ];
        assert!(check(None, &h).is_err());
    }

    #[test]
    fn reads_of_an_overlapping_write_may_see_either_but_not_flip_back() {
        // A write in flight: one read sees it, a later one must too.
        let write = op(Call::Put(s("b")), ok(None), 2, Some(20));
        let seen = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            write.clone(),
            op(Call::Get, ok(Some("b")), 3, Some(4)),
            op(Call::Get, ok(Some("a")), 5, Some(6)),
        ];
        assert!(check(None, &seen).is_err());
        let fine = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            write,
            op(Call::Get, ok(Some("a")), 3, Some(4)),
            op(Call::Get, ok(Some("b")), 5, Some(6)),
        ];
        assert!(check(None, &fine).is_ok());
    }

    #[test]
    fn a_conditional_delete_removes_only_the_body_it_names() {
        let delete_a = |answer, t| {
            op(
                Call::DeleteIfMatch { expected: s("a") },
                answer,
                t,
                Some(t + 1),
            )
        };
        // b replaced a before the delete began: deleting it anyway is not linearizable...
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Put(s("b")), ok(None), 2, Some(3)),
            delete_a(ok(None), 4),
            op(Call::Get, ok(None), 6, Some(7)),
        ];
        assert!(check(None, &h).is_err());
        // ...refusing it is, and so is deleting a while it is current.
        let refused = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Put(s("b")), ok(None), 2, Some(3)),
            delete_a(Answer::PreconditionFailed, 4),
            op(Call::Get, ok(Some("b")), 6, Some(7)),
        ];
        assert!(check(None, &refused).is_ok());
        let deleted = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            delete_a(ok(None), 2),
            op(Call::Get, ok(None), 4, Some(5)),
        ];
        assert!(check(None, &deleted).is_ok());
        // On a key without an object it succeeds and changes nothing; it never fails there.
        assert!(check(None, &[delete_a(ok(None), 0)]).is_ok());
        assert!(check(None, &[delete_a(Answer::PreconditionFailed, 0)]).is_err());
    }

    #[test]
    fn lost_update_is_not() {
        // A plain PUT of c was acknowledged, then an If-Match on a's ETag (older) succeeded.
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Put(s("c")), ok(None), 2, Some(3)),
            op(
                Call::PutIfMatch {
                    expected: s("a"),
                    value: s("b"),
                },
                ok(None),
                4,
                Some(5),
            ),
        ];
        assert!(check(None, &h).is_err());
    }

    #[test]
    fn two_cas_winners_on_one_value_are_not() {
        let cas = |v: &str, t| {
            op(
                Call::PutIfMatch {
                    expected: s("a"),
                    value: s(v),
                },
                ok(None),
                t,
                Some(t + 10),
            )
        };
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            cas("b", 2),
            cas("c", 3),
        ];
        assert!(check(None, &h).is_err());
        // One winner, one 412: fine.
        let mut lost = cas("c", 3);
        lost.answer = Answer::PreconditionFailed;
        assert!(check(None, &[h[0].clone(), h[1].clone(), lost]).is_ok());
        // Two If-None-Match winners: never.
        let absent = |v: &str, t| op(Call::PutIfAbsent(s(v)), ok(None), t, Some(t + 10));
        assert!(check(None, &[absent("x", 0), absent("y", 1)]).is_err());
    }

    #[test]
    fn unknown_writes_may_or_may_not_have_happened() {
        let unknown = op(Call::Put(s("b")), Answer::Unknown, 2, None);
        let happened = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            unknown.clone(),
            op(Call::Get, ok(Some("b")), 10, Some(11)),
        ];
        assert!(check(None, &happened).is_ok());
        let did_not = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            unknown.clone(),
            op(Call::Get, ok(Some("a")), 10, Some(11)),
        ];
        assert!(check(None, &did_not).is_ok());
        // But not both: once seen, it stays (nothing else was written).
        let flip = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            unknown,
            op(Call::Get, ok(Some("b")), 10, Some(11)),
            op(Call::Get, ok(Some("a")), 12, Some(13)),
        ];
        assert!(check(None, &flip).is_err());
        // A write cannot take effect before it was called.
        let early = [
            op(Call::Get, ok(Some("z")), 0, Some(1)),
            op(Call::Put(s("z")), Answer::Unknown, 2, None),
        ];
        assert!(check(None, &early).is_err());
    }

    #[test]
    fn an_unread_unknown_write_is_still_searched_when_a_412_needs_it() {
        // Nobody read "b", but only its having happened explains the 412.
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Put(s("b")), Answer::Unknown, 2, None),
            op(
                Call::PutIfMatch {
                    expected: s("a"),
                    value: s("c"),
                },
                Answer::PreconditionFailed,
                10,
                Some(11),
            ),
        ];
        assert!(check(None, &h).is_ok());
    }

    #[test]
    fn a_412_needs_another_value_and_409_changes_nothing() {
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(
                Call::PutIfMatch {
                    expected: s("a"),
                    value: s("b"),
                },
                Answer::PreconditionFailed,
                2,
                Some(3),
            ),
        ];
        assert!(check(None, &h).is_err(), "the ETag matched, yet 412");
        let conflict = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(
                Call::PutIfMatch {
                    expected: s("a"),
                    value: s("b"),
                },
                Answer::NoEffect,
                2,
                Some(3),
            ),
            op(Call::Get, ok(Some("a")), 4, Some(5)),
        ];
        assert!(check(None, &conflict).is_ok());
    }

    #[test]
    fn tagging_sees_the_object_and_changes_nothing() {
        let h = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Tag, ok(None), 2, Some(3)),
            op(Call::Head, ok(Some("a")), 4, Some(5)),
            op(Call::Delete, ok(None), 6, Some(7)),
            op(Call::Tag, Answer::PreconditionFailed, 8, Some(9)),
        ];
        assert!(check(None, &h).is_ok());
        // Tagging answered 200 after an acknowledged delete: no order explains it.
        let resurrected = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Delete, ok(None), 2, Some(3)),
            op(Call::Tag, ok(None), 4, Some(5)),
        ];
        assert!(check(None, &resurrected).is_err());
        // A HEAD that names an overwritten body after the overwrite returned: stale.
        let stale = [
            op(Call::Put(s("a")), ok(None), 0, Some(1)),
            op(Call::Put(s("b")), ok(None), 2, Some(3)),
            op(Call::Head, ok(Some("a")), 4, Some(5)),
        ];
        assert!(check(None, &stale).is_err());
    }

    #[test]
    fn wide_concurrency_is_searched_quickly() {
        // 14 overlapping writes of distinct values (more than the clients of a scenario) and
        // reads of one of them: 14! orders, a few hundred thousand memoised states.
        let mut h: Vec<Op> = (0..14)
            .map(|i| op(Call::Put(format!("v{i}")), ok(None), i, Some(100 + i)))
            .collect();
        h.push(op(Call::Get, ok(Some("v7")), 200, Some(201)));
        h.push(op(Call::Get, ok(Some("v7")), 202, Some(203)));
        let started = std::time::Instant::now();
        assert!(check(None, &h).is_ok());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
