//! The bytes objects are made of, cheap to produce and to check: object `i` is one random base
//! with `i` in its first 8 bytes. A PUT's body is a reused buffer with those 8 bytes rewritten
//! (no fresh 64 MiB copy, no page faults per request), and a GET is checked piece by piece as it
//! streams in, never collected. The client shares the machine with the store: what it spends
//! is taken from the store's measurement.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// The bodies of one object size.
pub struct Bodies {
    base: Bytes,
    /// Buffers of finished PUTs, holding the base (and some object's first 8 bytes).
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Bytes where a body's object number goes.
const HEAD: usize = 8;

impl Bodies {
    /// Bodies of `size` random bytes, with `ready` buffers made before any request: the
    /// first requests of a row measure the store, not the client faulting in fresh memory.
    pub fn new(size: u64, ready: usize) -> Bodies {
        let mut base = vec![0u8; size as usize];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut base);
        let bodies = Bodies::from_base(Bytes::from(base));
        if bodies.base.len() >= HEAD {
            let made = (0..ready).map(|_| bodies.base.to_vec()).collect();
            *bodies.spare.lock().unwrap() = made;
        }
        bodies
    }

    fn from_base(base: Bytes) -> Bodies {
        Bodies {
            base,
            spare: Arc::default(),
        }
    }

    /// Bytes of every body.
    pub fn len(&self) -> usize {
        self.base.len()
    }

    /// The body of object `i`.
    pub fn body(&self, i: usize) -> Bytes {
        if self.base.len() < HEAD {
            return self.base.clone();
        }
        let reused = self.spare.lock().unwrap().pop();
        let mut buffer = reused.unwrap_or_else(|| self.base.to_vec());
        buffer[..HEAD].copy_from_slice(&head_of(i));
        Bytes::from_owner(Pooled {
            buffer,
            home: self.spare.clone(),
        })
    }

    /// A check of object `i`'s body arriving in pieces.
    pub fn check(&self, i: usize) -> Check<'_> {
        Check {
            bodies: self,
            head: head_of(i),
            at: 0,
            same: true,
        }
    }
}

fn head_of(i: usize) -> [u8; HEAD] {
    (i as u64).to_le_bytes()
}

/// Whether the pieces seen so far are the start of one object's body.
pub struct Check<'a> {
    bodies: &'a Bodies,
    head: [u8; HEAD],
    at: usize,
    same: bool,
}

impl Check<'_> {
    /// Takes the next piece of the body.
    pub fn piece(&mut self, piece: &[u8]) {
        let base = &self.bodies.base[..];
        let end = self.at + piece.len();
        if !self.same || end > base.len() {
            self.same = false;
            return;
        }
        let mut piece = piece;
        let mut at = self.at;
        if base.len() >= HEAD && at < HEAD {
            let n = (HEAD - at).min(piece.len());
            self.same &= piece[..n] == self.head[at..at + n];
            piece = &piece[n..];
            at += n;
        }
        self.same &= *piece == base[at..end];
        self.at = end;
    }

    /// Whether the whole body, and nothing more, was seen.
    pub fn matched(&self) -> bool {
        self.same && self.at == self.bodies.base.len()
    }
}

/// A body buffer that goes back to its pool once the request is done with it.
struct Pooled {
    buffer: Vec<u8>,
    home: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        self.home.lock().unwrap().push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(bodies: &Bodies, i: usize, got: &[u8], cut: usize) -> bool {
        let mut check = bodies.check(i);
        for piece in got.chunks(cut.max(1)) {
            check.piece(piece);
        }
        check.matched()
    }

    #[test]
    fn bodies_differ_per_object_and_verify_in_any_pieces() {
        let bodies = Bodies::from_base(Bytes::from((0..100u8).collect::<Vec<u8>>()));
        assert_ne!(bodies.body(1), bodies.body(2));
        let three = bodies.body(3);
        assert_eq!(three.len(), 100);
        for cut in [1, 3, 8, 9, 100] {
            assert!(checks(&bodies, 3, &three, cut), "cut {cut}");
            assert!(!checks(&bodies, 4, &three, cut), "cut {cut}");
            assert!(!checks(&bodies, 3, &three[..99], cut), "cut {cut}");
            let mut longer = three.to_vec();
            longer.push(0);
            assert!(!checks(&bodies, 3, &longer, cut), "cut {cut}");
            let mut flipped = three.to_vec();
            flipped[57] ^= 1;
            assert!(!checks(&bodies, 3, &flipped, cut), "cut {cut}");
        }
    }

    #[test]
    fn finished_bodies_are_reused_with_their_own_number() {
        let bodies = Bodies::new(64, 1);
        let ready = bodies.spare.lock().unwrap()[0].as_ptr();
        let first = bodies.body(7);
        assert_eq!(first.as_ptr(), ready, "a ready buffer was used");
        let at = first.as_ptr();
        drop(first);
        let second = bodies.body(8);
        assert_eq!(second.as_ptr(), at, "the buffer was reused");
        assert!(checks(&bodies, 8, &second, 64));
        assert!(!checks(&bodies, 7, &second, 64));
    }

    #[test]
    fn tiny_bodies_are_the_base() {
        let bodies = Bodies::from_base(Bytes::from_static(b"abc"));
        assert!(checks(&bodies, 9, &bodies.body(9), 1));
        assert!(!checks(&bodies, 9, b"abd", 1));
    }
}
