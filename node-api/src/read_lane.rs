//! Read lanes: plain TCP connections that carry sealed chunks from a node to a gateway without
//! a second, TLS, layer of encryption.
//!
//! A sealed chunk is AES-GCM under its object's data key, which nodes never hold, and each of
//! its segments' tags binds bucket, key, version, part and position: the reader already knows
//! whether the bytes it got are the ones written, and no one on the wire can read them.
//! Encrypting them again for the internal link (node) and decrypting them (gateway) was the
//! largest single cost of a GET of mid-sized objects (PERFORMANCE.md, "1 MiB GET at 16 in
//! flight"). What the bytes do not protect is the exchange around them, and that is what a
//! lane authenticates:
//!
//! 1. The gateway asks for a lane over its mutual-TLS chunk stream ([`crate::chunk_stream`]'s
//!    `L` frame); the node answers a [`LaneSecret`]: a random single-use ticket and a random
//!    256-bit lane key, kept for [`TICKET_LIFETIME`].
//! 2. The gateway connects to the node's internal port in plain TCP and sends [`MAGIC`] and
//!    the ticket. The node takes the ticket (a second use finds nothing) and answers
//!    [`TAKEN`], or closes the connection unless the ticket was issued and is unexpired.
//! 3. Each request is a chunk GET header ([`GetHeader`], unchecked reads only) followed by an
//!    HMAC-SHA256 tag under the lane key over `'Q' ‖ sequence number ‖ header`; the node
//!    closes the lane on a tag that does not verify. Its answer is a length-prefixed head (the
//!    [`Answer`] and, after a 200, the chunk's length) and a tag over `'A' ‖ sequence number
//!    ‖ head`, then the chunk's bytes as stored (`sendfile` on the node). Both ends count
//!    requests, so a replayed, reordered, altered or forged request or answer fails its tag,
//!    and an answer cannot be moved to another request.
//! 4. Altered chunk bytes fail the reader's tag check, which treats the copy as bad, reads
//!    another replica and rewrites this one (as for a rotten disk).
//!
//! What an observer of the wire learns: which chunk ids a gateway reads, and their lengths.
//! Checked reads (unsealed chunks), PUTs and every other call stay inside mutual TLS.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::chunk_stream::{invalid, Answer, Frame, GetHeader, GET_LEN};
use crate::direct_buffer::DirectBuffer;
use crate::wire::MAX_CHUNK_BYTES;

/// What a lane connection starts with. Its first byte is not a TLS record's (0x16), so a node
/// tells lanes from TLS connections on one port by the first byte.
pub const MAGIC: &[u8; 8] = b"s3lane/1";
pub const TICKET_BYTES: usize = 16;
pub const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 32;
/// What a node sends when it has taken a lane's ticket.
pub const TAKEN: u8 = b'+';
/// How long an issued ticket may wait for its connection.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(10);
/// Tickets a node keeps outstanding at most; it refuses more (a client that asks and never
/// connects cannot grow the table).
const MAX_OUTSTANDING: usize = 4096;
/// The longest answer head: an [`Answer`] with its longest message, and a length.
const MAX_HEAD: usize = 2 + 8 + 2 + 1024 + 4;

/// A lane's ticket and key, as the node issues them (over TLS).
#[derive(Clone, PartialEq, Eq)]
pub struct LaneSecret {
    pub ticket: [u8; TICKET_BYTES],
    pub key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for LaneSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LaneSecret(..)")
    }
}

impl LaneSecret {
    pub const BYTES: usize = TICKET_BYTES + KEY_BYTES;

    pub fn generate(rng: &SystemRandom) -> Option<LaneSecret> {
        let mut secret = LaneSecret {
            ticket: [0; TICKET_BYTES],
            key: [0; KEY_BYTES],
        };
        rng.fill(&mut secret.ticket).ok()?;
        rng.fill(&mut secret.key).ok()?;
        Some(secret)
    }

    pub fn encode(&self) -> [u8; LaneSecret::BYTES] {
        let mut out = [0u8; LaneSecret::BYTES];
        let (ticket, key) = out.split_at_mut(TICKET_BYTES);
        ticket.copy_from_slice(&self.ticket);
        key.copy_from_slice(&self.key);
        out
    }

    pub fn decode(bytes: &[u8; LaneSecret::BYTES]) -> LaneSecret {
        let (ticket, key) = bytes.split_at(TICKET_BYTES);
        let mut secret = LaneSecret {
            ticket: [0; TICKET_BYTES],
            key: [0; KEY_BYTES],
        };
        secret.ticket.copy_from_slice(ticket);
        secret.key.copy_from_slice(key);
        secret
    }
}

/// The tickets a node has issued and not yet seen used.
pub struct Tickets {
    issued: Mutex<Vec<(Instant, LaneSecret)>>,
    rng: SystemRandom,
}

impl Default for Tickets {
    fn default() -> Self {
        Tickets {
            issued: Mutex::new(Vec::new()),
            rng: SystemRandom::new(),
        }
    }
}

impl Tickets {
    /// A new ticket and key; `None` when too many are outstanding or randomness failed.
    pub fn issue(&self) -> Option<LaneSecret> {
        let secret = LaneSecret::generate(&self.rng)?;
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|(at, _)| at.elapsed() < TICKET_LIFETIME);
        if issued.len() >= MAX_OUTSTANDING {
            return None;
        }
        issued.push((Instant::now(), secret.clone()));
        Some(secret)
    }

    /// The key of `ticket` if it was issued and has not expired; the ticket is spent either
    /// way.
    pub fn redeem(&self, ticket: &[u8; TICKET_BYTES]) -> Option<[u8; KEY_BYTES]> {
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        // Compared in constant time: a ticket is a secret until it is used.
        let at = issued
            .iter()
            .position(|(_, s)| bool::from(s.ticket.as_slice().ct_eq(ticket.as_slice())))?;
        let (issued_at, secret) = issued.swap_remove(at);
        (issued_at.elapsed() < TICKET_LIFETIME).then_some(secret.key)
    }
}

/// One end's tags on one lane: the lane key and the number of the current request.
pub struct LaneMac {
    key: hmac::Key,
    seq: u64,
}

impl LaneMac {
    pub fn new(key: &[u8; KEY_BYTES]) -> LaneMac {
        LaneMac {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            seq: 0,
        }
    }

    fn tag(&self, side: u8, bytes: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&[side]);
        ctx.update(&self.seq.to_be_bytes());
        ctx.update(bytes);
        ctx.sign()
    }

    fn verify(&self, side: u8, bytes: &[u8], tag: &[u8]) -> std::io::Result<()> {
        // Compared in constant time, as `hmac::verify` would, without copying the message.
        match bool::from(self.tag(side, bytes).as_ref().ct_eq(tag)) {
            true => Ok(()),
            false => Err(invalid("lane tag does not verify")),
        }
    }

    /// The request is answered: the next one has the next number.
    fn next(&mut self) {
        self.seq = self.seq.wrapping_add(1);
    }

    /// A request as it travels: the GET header and its tag.
    pub fn request(&self, header: &GetHeader) -> Vec<u8> {
        let head = header.encode();
        let mut out = Vec::with_capacity(GET_LEN.saturating_add(TAG_BYTES));
        out.extend_from_slice(&head);
        out.extend_from_slice(self.tag(b'Q', &head).as_ref());
        out
    }

    /// Reads one request and checks its tag; `None` when the lane ends cleanly before one.
    pub async fn read_request<R: AsyncRead + Unpin>(
        &self,
        from: &mut R,
    ) -> std::io::Result<Option<GetHeader>> {
        let mut frame = [0u8; GET_LEN + TAG_BYTES];
        match from.read_exact(&mut frame).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let (head, tag) = frame.split_at(GET_LEN);
        self.verify(b'Q', head, tag)?;
        match Frame::read(&mut &head[..]).await? {
            Some(Frame::Get(header)) => Ok(Some(header)),
            _ => Err(invalid("a lane carries chunk GETs only")),
        }
    }

    /// An answer's head as it travels: its length, the answer (and after a 200 the chunk's
    /// length), and their tag. Ends the request.
    pub fn answer(&mut self, answer: &Answer, chunk_len: Option<u32>) -> BytesMut {
        let mut head = BytesMut::from(&answer.encode()[..]);
        if let Some(len) = chunk_len {
            head.put_u32(len);
        }
        let tag = self.tag(b'A', &head);
        let mut out = BytesMut::with_capacity(head.len().saturating_add(4 + TAG_BYTES));
        out.put_u32(head.len() as u32);
        out.put_slice(&head);
        out.put_slice(tag.as_ref());
        self.next();
        out
    }

    /// Reads an answer's head, checks its tag and, after a 200, reads the chunk into an
    /// aligned buffer. Ends the request.
    pub async fn read_answer<R: AsyncRead + Unpin>(
        &mut self,
        from: &mut R,
    ) -> std::io::Result<(Answer, Option<DirectBuffer>)> {
        let len = from.read_u32().await? as usize;
        if len > MAX_HEAD {
            return Err(invalid("lane answer head too long"));
        }
        let mut head = vec![0u8; len];
        from.read_exact(&mut head).await?;
        let mut tag = [0u8; TAG_BYTES];
        from.read_exact(&mut tag).await?;
        self.verify(b'A', &head, &tag)?;
        self.next();
        let mut rest = &head[..];
        let answer = Answer::read(&mut rest).await?;
        if answer.status != http::StatusCode::OK.as_u16() {
            return Ok((answer, None));
        }
        let len = rest.read_u32().await? as usize;
        if len > MAX_CHUNK_BYTES {
            return Err(invalid("chunk longer than any chunk"));
        }
        let mut data = DirectBuffer::with_capacity(len);
        data.set_len(len);
        from.read_exact(&mut data).await?;
        Ok((answer, Some(data)))
    }
}

/// The client's end of one lane.
pub struct Lane<S> {
    io: S,
    mac: LaneMac,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Lane<S> {
    /// Opens a lane on `io` (a fresh connection to the node) with a ticket the node issued,
    /// and waits up to `within` for the node to take it (a refused ticket closes the
    /// connection; something in the way that passes TLS only may hold it silently).
    pub async fn open(
        mut io: S,
        secret: &LaneSecret,
        within: Duration,
    ) -> std::io::Result<Lane<S>> {
        let mut hello = [0u8; MAGIC.len() + TICKET_BYTES];
        let (magic, ticket) = hello.split_at_mut(MAGIC.len());
        magic.copy_from_slice(MAGIC);
        ticket.copy_from_slice(&secret.ticket);
        io.write_all(&hello).await?;
        io.flush().await?;
        match tokio::time::timeout(within, io.read_u8()).await {
            Ok(Ok(TAKEN)) => Ok(Lane {
                io,
                mac: LaneMac::new(&secret.key),
            }),
            Ok(Ok(_)) => Err(invalid("not a lane's answer")),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the node did not take the lane's ticket",
            )),
        }
    }

    /// Reads one chunk (unchecked: the caller authenticates it; a node answers a checked
    /// read 400).
    pub async fn get(
        &mut self,
        header: &GetHeader,
    ) -> std::io::Result<(Answer, Option<DirectBuffer>)> {
        self.io.write_all(&self.mac.request(header)).await?;
        self.io.flush().await?;
        self.mac.read_answer(&mut self.io).await
    }
}

/// The node's end: reads the hello of a connection whose first byte said lane, and answers
/// the lane key of its ticket; `None` for anything else.
pub async fn accept<R: AsyncRead + Unpin>(
    from: &mut R,
    tickets: &Tickets,
) -> std::io::Result<Option<[u8; KEY_BYTES]>> {
    let mut hello = [0u8; MAGIC.len() + TICKET_BYTES];
    from.read_exact(&mut hello).await?;
    let (magic, ticket) = hello.split_at(MAGIC.len());
    if magic != MAGIC {
        return Ok(None);
    }
    let mut t = [0u8; TICKET_BYTES];
    t.copy_from_slice(ticket);
    Ok(tickets.redeem(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChunkId, Version};

    fn header(index: u32) -> GetHeader {
        GetHeader {
            epoch: Some(4),
            id: ChunkId {
                version: Version::from_bytes(&[3u8; 16]).unwrap(),
                part: 1,
                index,
            },
            verify: false,
        }
    }

    fn ok() -> Answer {
        Answer {
            status: 200,
            epoch: 4,
            message: String::new(),
        }
    }

    #[test]
    fn tickets_are_single_use() {
        let tickets = Tickets::default();
        let secret = tickets.issue().unwrap();
        let other = tickets.issue().unwrap();
        assert_ne!(secret.ticket, other.ticket);
        assert_ne!(secret.key, other.key);
        assert_eq!(tickets.redeem(&secret.ticket), Some(secret.key));
        assert_eq!(tickets.redeem(&secret.ticket), None);
        assert_eq!(tickets.redeem(&[0u8; TICKET_BYTES]), None);
        assert_eq!(tickets.redeem(&other.ticket), Some(other.key));
        let round = LaneSecret::decode(&secret.encode());
        assert_eq!(round, secret);
    }

    #[test]
    fn outstanding_tickets_are_bounded() {
        let tickets = Tickets::default();
        for _ in 0..MAX_OUTSTANDING {
            assert!(tickets.issue().is_some());
        }
        assert!(tickets.issue().is_none());
    }

    #[tokio::test]
    async fn requests_and_answers_round_trip_in_order() {
        let key = [9u8; KEY_BYTES];
        let (client, node) = (LaneMac::new(&key), LaneMac::new(&key));
        let (mut client, mut node) = (client, node);
        for i in 0..3 {
            let wire = client.request(&header(i));
            assert_eq!(
                node.read_request(&mut &wire[..]).await.unwrap(),
                Some(header(i))
            );
            let mut answer = node.answer(&ok(), Some(5)).to_vec();
            answer.extend_from_slice(b"hello");
            let (a, data) = client.read_answer(&mut &answer[..]).await.unwrap();
            assert_eq!(a, ok());
            assert_eq!(&data.unwrap()[..], b"hello");
        }
    }

    #[tokio::test]
    async fn replayed_altered_or_foreign_frames_are_refused() {
        let key = [9u8; KEY_BYTES];
        let (mut client, mut node) = (LaneMac::new(&key), LaneMac::new(&key));
        let first = client.request(&header(0));
        node.read_request(&mut &first[..]).await.unwrap();
        let answer = node.answer(&ok(), Some(0)).to_vec();
        client.read_answer(&mut &answer[..]).await.unwrap();
        // The same request again: the node expects the next number.
        assert!(node.read_request(&mut &first[..]).await.is_err());
        // The same answer again: the client expects the next number.
        assert!(client.read_answer(&mut &answer[..]).await.is_err());
        // An altered request (another chunk index).
        let mut altered = client.request(&header(1));
        altered[GET_LEN - 2] ^= 1;
        assert!(node.read_request(&mut &altered[..]).await.is_err());
        // A request tagged under another key.
        let stranger = LaneMac {
            key: hmac::Key::new(hmac::HMAC_SHA256, &[1u8; KEY_BYTES]),
            seq: node.seq,
        };
        assert!(node
            .read_request(&mut &stranger.request(&header(1))[..])
            .await
            .is_err());
        // An answer whose status was changed on the way.
        let mut changed = LaneMac {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            seq: client.seq,
        }
        .answer(&ok(), Some(0))
        .to_vec();
        // 200 -> 404: the status follows the head's length.
        changed[4..6].copy_from_slice(&404u16.to_be_bytes());
        assert!(client.read_answer(&mut &changed[..]).await.is_err());
    }
}
