//! The node's half of master-key rotation: finding the records (manifests and multipart upload
//! records) whose data key is wrapped under a master key that is no longer the active one, and
//! replacing just their envelope in place.
//!
//! A reseal keeps the record's version: a rewrapped object is the same object, so it neither
//! changes its version id nor races with newer writes of the key (superseded versions are
//! resealed too while they are kept; one already reclaimed is gone, and the reseal says so). The node checks that the new envelope differs
//! from the old only in the wrapping, so a reseal can never swap an object's data key.

use rocksdb::{Direction, IteratorMode, ReadOptions};

use crate::keys;
use crate::model::{
    decode, encode, EnvelopeKind, Manifest, Reseal, Sealing, StaleEnvelope, StaleEnvelopes,
    StaleEnvelopesReply, UploadRecord,
};
use crate::store::{synced, Store, StoreError, StoreResult, CF_MANIFESTS, CF_UPLOADS};

/// How many records one `stale_envelopes` call examines at most, so that a call on a large
/// node stays short even when few records need rotating.
const SCAN_BUDGET: usize = 4096;

/// A stored record that carries an envelope.
enum Record {
    Manifest(Manifest),
    Upload(UploadRecord),
}

impl Record {
    fn decode(kind: EnvelopeKind, bytes: &[u8]) -> StoreResult<Record> {
        Ok(match kind {
            EnvelopeKind::Manifest => Record::Manifest(decode(bytes).map_err(StoreError::Corrupt)?),
            EnvelopeKind::Upload => Record::Upload(decode(bytes).map_err(StoreError::Corrupt)?),
        })
    }

    fn names(&self) -> (&str, &str) {
        match self {
            Record::Manifest(m) => (&m.bucket, &m.key),
            Record::Upload(u) => (&u.bucket, &u.key),
        }
    }

    fn sealing_mut(&mut self) -> &mut Option<Sealing> {
        match self {
            Record::Manifest(m) => &mut m.sealing,
            Record::Upload(u) => &mut u.sealing,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Record::Manifest(m) => encode(m),
            Record::Upload(u) => encode(u),
        }
    }
}

fn column(kind: EnvelopeKind) -> &'static str {
    match kind {
        EnvelopeKind::Manifest => CF_MANIFESTS,
        EnvelopeKind::Upload => CF_UPLOADS,
    }
}

/// Whether `s` is wrapped under a key other than `active` and the further `current` ones
/// (each KMS key's active material).
fn is_stale(s: &Sealing, active: &str, current: &[String]) -> bool {
    s.customer.is_none() && s.key_id != active && !current.contains(&s.key_id)
}

/// Whether `new` is `old` rewrapped: the same data key material, nonce and sealed metadata.
fn same_but_wrapping(old: &Sealing, new: &Sealing) -> bool {
    old.format == new.format
        && old.data_version == new.data_version
        && old.nonce_base == new.nonce_base
        && old.metadata == new.metadata
        && old.customer.is_none()
        && new.customer.is_none()
        && old.kms == new.kms
}

impl Store {
    /// Records of `q.kind` after `q.after` that are sealed under another master key than
    /// `q.active_key`; at most `q.limit` of them, examining at most [`SCAN_BUDGET`] records.
    pub fn stale_envelopes(&self, q: &StaleEnvelopes) -> StoreResult<StaleEnvelopesReply> {
        let mut opts = ReadOptions::default();
        opts.fill_cache(false);
        let iter = self.db.iterator_cf_opt(
            self.cf(column(q.kind)),
            opts,
            IteratorMode::From(&q.after, Direction::Forward),
        );
        let mut reply = StaleEnvelopesReply::default();
        let mut examined = 0;
        for item in iter {
            let (raw_key, value) = item?;
            if *raw_key == *q.after {
                continue; // the cursor itself was handled by the previous call
            }
            if examined == SCAN_BUDGET || reply.items.len() == q.limit.max(1) as usize {
                return Ok(reply);
            }
            examined = examined.saturating_add(1);
            reply.next = Some(serde_bytes::ByteBuf::from(raw_key.to_vec()));
            let mut record = Record::decode(q.kind, &value)?;
            let Some(sealing) = record.sealing_mut().take() else {
                continue; // stored before encryption existed
            };
            if is_stale(&sealing, &q.active_key, &q.current) {
                let (bucket, key) = record.names();
                reply.items.push(StaleEnvelope {
                    raw_key: raw_key.to_vec(),
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    sealing,
                });
            }
        }
        reply.next = None;
        Ok(reply)
    }

    /// Replaces the envelope of one record as [`Reseal`] describes.
    pub fn reseal(&self, r: &Reseal) -> StoreResult<bool> {
        let lock_key = match r.kind {
            EnvelopeKind::Manifest => keys::object_prefix(&r.bucket, r.key.as_bytes()),
            EnvelopeKind::Upload => r.raw_key.clone(),
        };
        let _guard = self.stripe(&lock_key);
        let cf = self.cf(column(r.kind));
        let Some(value) = self.db.get_cf(cf, &r.raw_key)? else {
            return Ok(false);
        };
        let mut record = Record::decode(r.kind, &value)?;
        if record.names() != (r.bucket.as_str(), r.key.as_str()) {
            return Ok(false);
        }
        let slot = record.sealing_mut();
        match slot {
            Some(old) if *old == r.sealing => return Ok(true),
            Some(old) if same_but_wrapping(old, &r.sealing) => *old = r.sealing.clone(),
            _ => return Ok(false),
        }
        self.db
            .put_cf_opt(cf, &r.raw_key, record.encode(), &synced())?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Layout, ObjectHeaders, Version};

    fn sealing(key_id: &str) -> Sealing {
        Sealing {
            format: 1,
            key_id: key_id.into(),
            wrapped_key: key_id.as_bytes().to_vec(),
            data_version: Version {
                hlc: 1,
                tiebreak: 1,
            },
            nonce_base: [7; 12],
            metadata: vec![1, 2, 3],
            customer: None,
            kms: None,
        }
    }

    fn manifest(key: &str, hlc: u64, s: Option<Sealing>) -> Manifest {
        Manifest {
            sealing: s,
            layout: Layout::Inline(Vec::new()),
            headers: ObjectHeaders::default(),
            ..Manifest::tombstone("b", key, Version { hlc, tiebreak: 1 })
        }
    }

    fn stale(s: &Store, after: &[u8], limit: u32) -> StaleEnvelopesReply {
        s.stale_envelopes(&StaleEnvelopes {
            kind: EnvelopeKind::Manifest,
            active_key: "k2".into(),
            current: Vec::new(),
            after: after.to_vec(),
            limit,
        })
        .unwrap()
    }

    #[test]
    fn finds_only_records_under_other_master_keys_and_reseals_them_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put_manifest(
            &manifest("a", 5, Some(sealing("k1"))),
            crate::model::WriteMode::New,
        )
        .unwrap();
        s.put_manifest(
            &manifest("b", 5, Some(sealing("k2"))),
            crate::model::WriteMode::New,
        )
        .unwrap();
        s.put_manifest(&manifest("c", 5, None), crate::model::WriteMode::New)
            .unwrap();
        let mut sse_c = sealing("customer");
        sse_c.customer = Some(crate::model::CustomerKeyProof {
            salt: [0; 16],
            hmac: [0; 32],
        });
        s.put_manifest(&manifest("d", 5, Some(sse_c)), crate::model::WriteMode::New)
            .unwrap();
        s.put_manifest(
            &manifest("e", 5, Some(sealing("k0"))),
            crate::model::WriteMode::New,
        )
        .unwrap();

        // Paged one at a time, the walk still finds exactly the two stale records.
        let mut found = Vec::new();
        let mut cursor = Vec::new();
        loop {
            let page = stale(&s, &cursor, 1);
            found.extend(page.items);
            match page.next {
                Some(next) => cursor = next.into_vec(),
                None => break,
            }
        }
        let keys: Vec<_> = found.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "e"]);

        let item = &found[0];
        let mut new = item.sealing.clone();
        new.key_id = "k2".into();
        new.wrapped_key = b"rewrapped".to_vec();
        let reseal = |sealing: Sealing| {
            s.reseal(&Reseal {
                kind: EnvelopeKind::Manifest,
                raw_key: item.raw_key.clone(),
                bucket: item.bucket.clone(),
                key: item.key.clone(),
                sealing,
            })
            .unwrap()
        };
        assert!(reseal(new.clone()));
        assert!(reseal(new.clone()), "a second reseal is a no-op");
        let stored = s.get_manifest("b", "a").unwrap().unwrap();
        assert_eq!(stored.sealing.as_ref(), Some(&new));
        assert_eq!(stored.version.hlc, 5, "the version is kept");

        // An envelope that changes more than the wrapping is refused.
        let mut other = new.clone();
        other.nonce_base = [9; 12];
        assert!(!reseal(other));
        // A version replaced meanwhile is kept until the collector reclaims it (a GET may still
        // read it), so it is still resealed.
        s.put_manifest(
            &manifest("a", 6, Some(sealing("k2"))),
            crate::model::WriteMode::New,
        )
        .unwrap();
        assert!(reseal(new));
        assert_eq!(
            stale(&s, &[], 10)
                .items
                .iter()
                .map(|f| f.key.as_str())
                .collect::<Vec<_>>(),
            ["e"]
        );
    }
}
