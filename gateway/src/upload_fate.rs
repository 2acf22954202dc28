//! The state machine of one multipart upload, pure: from the upload's agreed state, which step
//! a CompleteMultipartUpload or an AbortMultipartUpload takes. The steps themselves are agreed
//! with the key's owners ([`crate::conditional`]), so of a racing Complete and Abort exactly
//! one takes its step, and every other request sees the state it left.
//!
//! An upload is `Active` until one step ends it: `Completed` (remembering the object's ETag,
//! so a completion repeated with the same parts answers 200 as S3 does) or `Aborted`. An
//! ended upload never becomes active again.

use node_api::model::{UploadRecord, Version};

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Active,
    /// Completed into an object with this ETag.
    Completed(String),
    Aborted,
}

/// The fate an upload record says.
pub fn fate(u: &UploadRecord) -> Fate {
    match (&u.completed, u.ended) {
        (Some(etag), _) => Fate::Completed(etag.clone()),
        (None, true) => Fate::Aborted,
        (None, false) => Fate::Active,
    }
}

/// An operation that would end an upload; `origin` identifies it across its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Complete into an object whose ETag (of the requested parts) is `etag`.
    Complete {
        origin: Version,
        etag: String,
    },
    Abort {
        origin: Version,
    },
}

impl Request {
    pub fn origin(&self) -> Version {
        match self {
            Request::Complete { origin, .. } | Request::Abort { origin } => *origin,
        }
    }
}

/// What a request does, given the upload's agreed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// End the upload in this fate (a completion writes the object with it).
    Take(Fate),
    /// This very request ended the upload already (an earlier attempt of it was decided).
    Done,
    /// A completion with the same parts as the one that completed the upload: answered with
    /// success, nothing written.
    Repeated,
    /// No such upload for this request: never created, aborted, or completed otherwise.
    Gone,
}

/// The step `request` takes from the upload record `state` (`None`: no record) in the bucket
/// incarnation `incarnation`: an upload of another incarnation (an earlier bucket of the name)
/// is not this bucket's.
pub fn step(state: Option<&UploadRecord>, request: &Request, incarnation: Option<Version>) -> Step {
    let Some(u) = state.filter(|u| u.incarnation == incarnation) else {
        return Step::Gone;
    };
    if u.step == Some(request.origin()) {
        return Step::Done;
    }
    match (fate(u), request) {
        (Fate::Active, Request::Complete { etag, .. }) => Step::Take(Fate::Completed(etag.clone())),
        (Fate::Active, Request::Abort { .. }) => Step::Take(Fate::Aborted),
        (Fate::Completed(done), Request::Complete { etag, .. }) if done == *etag => Step::Repeated,
        _ => Step::Gone,
    }
}

/// `u` moved to `fate` by the request with `origin` (the caller stamps the version).
pub fn ended(u: &UploadRecord, fate: &Fate, origin: Version) -> UploadRecord {
    let mut out = u.clone();
    out.ended = *fate != Fate::Active;
    out.completed = match fate {
        Fate::Completed(etag) => Some(etag.clone()),
        _ => None,
    };
    out.step = Some(origin);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use node_api::model::ObjectHeaders;
    use proptest::prelude::*;

    fn v(n: u64) -> Version {
        Version {
            hlc: n,
            tiebreak: 0,
        }
    }

    fn active() -> UploadRecord {
        UploadRecord {
            acl: None,
            bucket: "b".into(),
            key: "k".into(),
            upload_id: v(1),
            version: v(1),
            ended: false,
            owner: "o".into(),
            headers: ObjectHeaders::default(),
            user_metadata: Default::default(),
            checksum_algorithm: None,
            checksum_type: None,
            tags: Default::default(),
            sealing: None,
            completed: None,
            step: None,
            incarnation: None,
        }
    }

    /// A request, from a seed: completions with one of two part lists, or aborts; `origin`
    /// from a small set so that retries of one request occur.
    fn request(kind: u8, origin: u64) -> Request {
        match kind % 3 {
            0 => Request::Abort { origin: v(origin) },
            k => Request::Complete {
                origin: v(origin),
                etag: format!("etag{k}"),
            },
        }
    }

    #[test]
    fn follows_s3() {
        let u = active();
        let complete = request(1, 10);
        let Step::Take(f) = step(Some(&u), &complete, None) else {
            panic!("an active upload completes");
        };
        let done = ended(&u, &f, complete.origin());
        assert_eq!(fate(&done), Fate::Completed("etag1".into()));
        assert_eq!(step(Some(&done), &complete, None), Step::Done);
        assert_eq!(step(Some(&done), &request(1, 11), None), Step::Repeated);
        assert_eq!(step(Some(&done), &request(2, 11), None), Step::Gone);
        assert_eq!(step(Some(&done), &request(0, 11), None), Step::Gone);
        let aborted = ended(&u, &Fate::Aborted, v(12));
        assert_eq!(step(Some(&aborted), &request(1, 13), None), Step::Gone);
        assert_eq!(step(Some(&aborted), &request(0, 12), None), Step::Done);
        assert_eq!(step(None, &request(0, 12), None), Step::Gone);
        // An upload of an earlier incarnation of the bucket is not this one's.
        let later = Some(v(99));
        assert_eq!(step(Some(&u), &complete, later), Step::Gone);
    }

    proptest! {
        /// Requests applied in any order (each an agreed step): at most one takes a step,
        /// an ended upload stays ended, and only the winner's retries say `Done`.
        #[test]
        fn exactly_one_step_ends_an_upload(
            requests in proptest::collection::vec((any::<u8>(), 0u64..6), 1..40)
        ) {
            let mut state = active();
            let mut winner: Option<Request> = None;
            for (kind, origin) in requests {
                let r = request(kind, origin);
                match step(Some(&state), &r, None) {
                    Step::Take(f) => {
                        prop_assert!(winner.is_none());
                        state = ended(&state, &f, r.origin());
                        winner = Some(r);
                    }
                    Step::Done => {
                        prop_assert_eq!(winner.as_ref().map(Request::origin), Some(r.origin()));
                    }
                    Step::Repeated => match (&winner, &r) {
                        (
                            Some(Request::Complete { etag: won, .. }),
                            Request::Complete { etag, .. },
                        ) => prop_assert_eq!(won, etag),
                        _ => prop_assert!(false, "only a completion repeats a completion"),
                    },
                    Step::Gone => prop_assert!(winner.is_some()),
                }
                prop_assert_eq!(state.ended, winner.is_some());
            }
        }
    }
}
