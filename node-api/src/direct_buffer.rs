//! Block-aligned byte buffers for chunk bytes, reused across requests.
//!
//! A chunk PUT is read from the network straight into a [`DirectBuffer`], checksummed there and
//! written from there with O_DIRECT (which wants block-aligned memory); a chunk GET reads its
//! file into one and hands it to the response as [`Bytes`]. Gateways use them too, for the
//! chunks they seal and open (`gateway::sealing`). When a buffer is dropped it goes back to a
//! small process-wide pool instead of to the allocator: fresh multi-MiB allocations cost a page
//! fault and the kernel's zeroing of every page, each time (measured in PERFORMANCE.md), while
//! a pooled buffer's pages stay mapped. Buffers under 256 KiB are left to the allocator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

/// Alignment of O_DIRECT buffers, lengths and offsets (the largest logical block size in use).
pub const DIRECT_ALIGN: usize = 4096;

/// Bytes of buffers the pool keeps at most; beyond that, dropped buffers are freed. A process
/// with less memory to spare lowers it with [`limit_pool`].
static POOL_BYTES: AtomicUsize = AtomicUsize::new(48 << 20);

/// Smaller buffers are not kept: the allocator serves them well, and many of them would crowd
/// the chunk-sized ones out of the pool.
const POOLED_AT_LEAST: usize = 256 << 10;

/// Keeps at most `bytes` of idle buffers for reuse from now on (48 MiB unless set).
pub fn limit_pool(bytes: usize) {
    POOL_BYTES.store(bytes, Ordering::Relaxed);
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    while pool.bytes > bytes {
        let Some(block) = pool.spare.pop() else { break };
        pool.bytes = pool.bytes.saturating_sub(block.capacity);
    }
}

/// Buffers kept for reuse (their total capacity stays within [`POOL_BYTES`]).
static POOL: Mutex<Pool> = Mutex::new(Pool {
    spare: Vec::new(),
    bytes: 0,
});

struct Pool {
    spare: Vec<Block>,
    bytes: usize,
}

/// Zeroed-once, block-aligned memory.
struct Block {
    ptr: std::ptr::NonNull<u8>,
    capacity: usize,
}

// SAFETY: a block is plain owned memory, handed between threads whole.
unsafe impl Send for Block {}

impl Block {
    #[allow(
        clippy::expect_used,
        reason = "as for a Vec, a capacity beyond isize::MAX cannot be met; chunk lengths are \
                  capped (wire::MAX_CHUNK_BYTES) before any buffer is made for them"
    )]
    fn layout(capacity: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(capacity, DIRECT_ALIGN)
            .expect("a chunk's length is far below isize::MAX")
    }

    fn new(capacity: usize) -> Block {
        let layout = Block::layout(capacity);
        // SAFETY: the layout has a non-zero size (capacities are whole, non-zero blocks).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Block { ptr, capacity }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: allocated in `Block::new` with this very layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Block::layout(self.capacity)) }
    }
}

/// A growable byte buffer whose memory is aligned to [`DIRECT_ALIGN`] and whose capacity is a
/// whole number of blocks, so that its bytes padded to whole blocks can be written with
/// O_DIRECT.
pub struct DirectBuffer {
    block: Option<Block>,
    len: usize,
}

impl DirectBuffer {
    /// An empty buffer with room for at least `capacity` bytes (taken from the pool when a
    /// spare one fits without wasting more than half of it).
    pub fn with_capacity(capacity: usize) -> DirectBuffer {
        let capacity = capacity
            .max(1)
            .checked_next_multiple_of(DIRECT_ALIGN)
            .unwrap_or(usize::MAX);
        let reused = (capacity >= POOLED_AT_LEAST).then(|| {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            let fit = pool
                .spare
                .iter()
                .position(|b| b.capacity >= capacity && b.capacity / 2 <= capacity);
            fit.map(|at| {
                let block = pool.spare.swap_remove(at);
                pool.bytes = pool.bytes.saturating_sub(block.capacity);
                block
            })
        });
        DirectBuffer {
            block: Some(reused.flatten().unwrap_or_else(|| Block::new(capacity))),
            len: 0,
        }
    }

    /// A buffer holding a copy of `data`.
    pub fn copy_of(data: &[u8]) -> DirectBuffer {
        let mut buffer = DirectBuffer::with_capacity(data.len());
        buffer.extend_from_slice(data);
        buffer
    }

    /// Bytes the buffer can hold without growing.
    pub fn capacity(&self) -> usize {
        self.block.as_ref().map_or(0, |block| block.capacity)
    }

    /// Appends `data`, growing (by copying into a larger buffer) when needed.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let len = self.len;
        let need = len.saturating_add(data.len());
        if need > self.capacity() {
            let mut larger =
                DirectBuffer::with_capacity(need.max(self.capacity().saturating_mul(2)));
            larger.extend_from_slice(self);
            std::mem::swap(self, &mut larger);
        }
        // In bounds: the buffer holds at least `need` bytes now.
        if let Some(room) = self.whole_blocks_mut().get_mut(len..need) {
            room.copy_from_slice(data);
            self.len = need;
        }
    }

    /// Sets the length to `len` (at most the capacity); the bytes up to it are whatever the
    /// buffer held, for a read to overwrite.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "beyond the buffer's capacity");
        self.len = len;
    }

    /// The bytes padded to whole blocks: what an O_DIRECT write of them takes. The padding is
    /// whatever the buffer held before (a file written from it is cut to its length).
    pub fn padded(&self) -> &[u8] {
        // Within the capacity, itself a whole number of blocks.
        let whole = self.whole_blocks();
        let padded = self.len.checked_next_multiple_of(DIRECT_ALIGN);
        padded.and_then(|p| whole.get(..p)).unwrap_or(whole)
    }

    /// The whole buffer, length aside.
    pub fn whole_blocks_mut(&mut self) -> &mut [u8] {
        match self.block.as_mut() {
            // SAFETY: the block owns `capacity` initialised (zeroed at allocation) bytes.
            Some(block) => unsafe {
                std::slice::from_raw_parts_mut(block.ptr.as_ptr(), block.capacity)
            },
            None => &mut [],
        }
    }

    fn whole_blocks(&self) -> &[u8] {
        match self.block.as_ref() {
            // SAFETY: as in `whole_blocks_mut`.
            Some(block) => unsafe {
                std::slice::from_raw_parts(block.ptr.as_ptr(), block.capacity)
            },
            None => &[],
        }
    }

    /// The buffer as `Bytes` without a copy; it returns to the pool once the last clone is
    /// dropped.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl std::ops::Deref for DirectBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // The length never passes the capacity (`set_len`, `extend_from_slice`).
        let whole = self.whole_blocks();
        whole.get(..self.len.min(whole.len())).unwrap_or_default()
    }
}

impl std::ops::DerefMut for DirectBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        // The length never passes the capacity (`set_len`, `extend_from_slice`).
        let len = self.len;
        let whole = self.whole_blocks_mut();
        let len = len.min(whole.len());
        whole.get_mut(..len).unwrap_or_default()
    }
}

impl AsRef<[u8]> for DirectBuffer {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for DirectBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DirectBuffer({} bytes)", self.len)
    }
}

impl From<&[u8]> for DirectBuffer {
    fn from(data: &[u8]) -> DirectBuffer {
        DirectBuffer::copy_of(data)
    }
}

impl<const N: usize> From<&[u8; N]> for DirectBuffer {
    fn from(data: &[u8; N]) -> DirectBuffer {
        DirectBuffer::copy_of(data)
    }
}

impl Drop for DirectBuffer {
    fn drop(&mut self) {
        let Some(block) = self.block.take() else {
            return;
        };
        if block.capacity < POOLED_AT_LEAST {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pooled = pool.bytes.saturating_add(block.capacity);
        if pooled <= POOL_BYTES.load(Ordering::Relaxed) {
            pool.bytes = pooled;
            pool.spare.push(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_keeps_alignment_and_pads_to_blocks() {
        let mut b = DirectBuffer::with_capacity(10);
        // Other tests share the pool: a spare of up to twice the size may come back.
        assert!([DIRECT_ALIGN, 2 * DIRECT_ALIGN].contains(&b.capacity()));
        b.extend_from_slice(&[1u8; 5000]);
        b.extend_from_slice(&[2u8; 5000]);
        assert_eq!(b.len(), 10_000);
        assert_eq!(&b[..5000], &[1u8; 5000][..]);
        assert_eq!(&b[5000..], &[2u8; 5000][..]);
        assert_eq!(b.padded().len(), 3 * DIRECT_ALIGN);
        assert_eq!(b.as_ptr() as usize % DIRECT_ALIGN, 0);
        assert_eq!(&*DirectBuffer::from(&[]), &[] as &[u8]);
    }

    #[test]
    fn dropped_buffers_are_reused_and_bytes_outlive_their_buffer_handle() {
        let capacity = 3 * 1024 * 1024 + 12_345;
        let first = DirectBuffer::copy_of(&vec![5u8; capacity]);
        let at = first.as_ptr();
        let bytes = first.into_bytes();
        assert_eq!(bytes.len(), capacity);
        assert!(bytes.iter().all(|&b| b == 5));
        drop(bytes);
        // Other tests share the pool: look for the block among a few fresh buffers.
        let again: Vec<DirectBuffer> = (0..8)
            .map(|_| DirectBuffer::with_capacity(capacity))
            .collect();
        assert!(
            again.iter().any(|b| b.as_ptr() == at),
            "the block came back"
        );
        assert!(again.iter().all(|b| b.is_empty()));
    }
}
