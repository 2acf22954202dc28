//! Chunk bytes as files: one file per chunk, `<data_dir>/chunk-files/<first 2 hex>/<id hex>`.
//!
//! A chunk is written to a temporary name, synced, renamed into place and its folder synced,
//! so a chunk file is whole or absent. RocksDB keeps the index: the chunk's CRC32C in
//! `chunk_sums`, written (synced) only after the file is durable and deleted before the file
//! is. The index is the truth: a file without an index entry is not served (a write under way,
//! or a removal cut short by a crash) and is swept once old; an index entry without its file is
//! a lost chunk, reported bad so that gateways rewrite it from a replica.
//!
//! Removed chunk files are kept as **spares** (up to [`SPARE_FILES`] files and [`SPARE_BYTES`]
//! bytes, in `<data_dir>/chunk-files/spare/`) and a new chunk is written over one, then renamed
//! into place, as RocksDB recycles its logs: creating a file costs an inode allocation, which on
//! ext4 without a journal scans past every inode freed in the last minutes (PERFORMANCE.md), and
//! writing over allocated blocks of the same size needs no block allocation.
//!
//! Why not RocksDB blob files: a value goes through the write-ahead log and then again into a
//! blob file at flush, so every chunk byte is written twice (and checksummed twice) per node;
//! a file is written once, and concurrent syncs of different files overlap. Deleting is an
//! unlink, with no blob garbage collection to rewrite live data.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::direct_buffer::{DirectBuffer, DIRECT_ALIGN};
use crate::model::ChunkId;

/// The chunk files of one node.
pub struct ChunkFiles {
    root: PathBuf,
    /// Bytes of chunk files, counted at open and kept up to date.
    bytes: AtomicU64,
    spares: Mutex<Spares>,
}

const TEMPORARY: &str = ".tmp.";
/// The folder of spare files, beside the chunk folders (whose names are two hex digits).
const SPARE_DIR: &str = "spare";
/// Most spare files kept.
pub const SPARE_FILES: usize = 256;
/// Most bytes of spare files kept.
pub const SPARE_BYTES: u64 = 256 << 20;

/// Removed chunk files kept for new chunks to be written over.
#[derive(Default)]
struct Spares {
    files: Vec<(PathBuf, u64)>,
    bytes: u64,
}

impl Spares {
    fn has_room_for(&self, len: u64) -> bool {
        len > 0 && self.files.len() < SPARE_FILES && self.bytes.saturating_add(len) <= SPARE_BYTES
    }

    /// A spare of exactly `len` bytes if there is one (its blocks fit as they are), else any.
    fn take(&mut self, len: u64) -> Option<PathBuf> {
        let at = (self.files.iter().rposition(|(_, l)| *l == len))
            .or_else(|| self.files.len().checked_sub(1))?;
        let (path, l) = self.files.swap_remove(at);
        self.bytes = self.bytes.saturating_sub(l);
        Some(path)
    }
}

impl ChunkFiles {
    /// Opens (or creates) the folder and counts the bytes it holds.
    pub fn open(root: &Path) -> std::io::Result<ChunkFiles> {
        std::fs::create_dir_all(root.join(SPARE_DIR))?;
        let files = ChunkFiles {
            root: root.to_path_buf(),
            bytes: AtomicU64::new(0),
            spares: Mutex::default(),
        };
        let mut total: u64 = 0;
        files.each_file(|_, meta| total = total.saturating_add(meta.len()))?;
        files.bytes.store(total, Ordering::Relaxed);
        let mut spares = files.spares.lock().unwrap_or_else(|e| e.into_inner());
        for entry in std::fs::read_dir(root.join(SPARE_DIR))? {
            let entry = entry?;
            let len = entry.metadata()?.len();
            if spares.has_room_for(len) {
                spares.files.push((entry.path(), len));
                spares.bytes = spares.bytes.saturating_add(len);
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
        drop(spares);
        Ok(files)
    }

    fn spares(&self) -> std::sync::MutexGuard<'_, Spares> {
        self.spares.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where chunk `id` lives.
    pub fn path(&self, id: ChunkId) -> PathBuf {
        let hex = id.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    /// Bytes of all chunk files.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Writes chunk `id` durably (replacing any earlier file of it): over a spare file when
    /// there is one, else into a new temporary file; then renamed into place.
    pub fn write(&self, id: ChunkId, data: &DirectBuffer) -> std::io::Result<()> {
        let path = self.path(id);
        let dir = path
            .parent()
            .ok_or_else(|| std::io::Error::other("a chunk path without a folder"))?;
        let spare = self.spares().take(data.len() as u64);
        let staged = match spare {
            Some(spare) => match write_file(&spare, data, false) {
                Ok(()) => Some(spare),
                Err(e) => {
                    tracing::warn!("spare chunk file {} not reused: {e}", spare.display());
                    let _ = std::fs::remove_file(&spare);
                    None
                }
            },
            None => None,
        };
        let staged = match staged {
            Some(spare) => spare,
            None => {
                let temporary = dir.join(format!(
                    "{}{TEMPORARY}{:016x}",
                    id.to_hex(),
                    rand::random::<u64>()
                ));
                match self.in_chunk_folder(dir, || write_file(&temporary, data, true)) {
                    Ok(()) => temporary,
                    Err(e) => {
                        let _ = std::fs::remove_file(&temporary);
                        return Err(e);
                    }
                }
            }
        };
        let replaced = std::fs::metadata(&path).map_or(0, |m| m.len());
        if let Err(e) = self.in_chunk_folder(dir, || std::fs::rename(&staged, &path)) {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
        sync_dir(dir)?;
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.forget(replaced);
        Ok(())
    }

    /// Runs `f`, which puts a file into chunk folder `dir`; when the folder does not exist
    /// yet, makes it (durably) and runs `f` again.
    fn in_chunk_folder(
        &self,
        dir: &Path,
        f: impl Fn() -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match f() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                sync_dir(&self.root)?;
                f()
            }
            other => other,
        }
    }

    /// Chunk `id`'s file opened for reading, with its length, if it exists.
    pub fn open_chunk(&self, id: ChunkId) -> std::io::Result<Option<(std::fs::File, u64)>> {
        match std::fs::File::open(self.path(id)) {
            Ok(file) => {
                let len = file.metadata()?.len();
                Ok(Some((file, len)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The bytes of chunk `id`, if its file exists.
    pub fn read(&self, id: ChunkId) -> std::io::Result<Option<Bytes>> {
        let mut file = match std::fs::File::open(self.path(id)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("chunk file too large"))?;
        let mut buffer = DirectBuffer::with_capacity(len);
        buffer.set_len(len);
        file.read_exact(&mut buffer)?;
        // A file that grew since its length was taken is not a whole chunk.
        if file.read(&mut [0u8; 1])? != 0 {
            return Err(std::io::Error::other("chunk file changed while read"));
        }
        Ok(Some(buffer.into_bytes()))
    }

    /// Removes chunk `id`'s file (no error if absent): kept as a spare while there is room,
    /// else deleted.
    pub fn remove(&self, id: ChunkId) -> std::io::Result<()> {
        let path = self.path(id);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut spares = self.spares();
        let removed = if spares.has_room_for(len) {
            let spare = self
                .root
                .join(SPARE_DIR)
                .join(format!("{:016x}", rand::random::<u64>()));
            let renamed = std::fs::rename(&path, &spare);
            if renamed.is_ok() {
                spares.files.push((spare, len));
                spares.bytes = spares.bytes.saturating_add(len);
            }
            renamed
        } else {
            drop(spares);
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => {
                self.forget(len);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes files older than `min_age` that are not chunks `indexed` says the node holds:
    /// temporary files of writes cut short, and files whose removal a crash interrupted.
    /// Returns how many were removed.
    pub fn sweep(
        &self,
        min_age: Duration,
        indexed: impl Fn(ChunkId) -> bool,
    ) -> std::io::Result<u64> {
        let now = SystemTime::now();
        let mut doomed = Vec::new();
        self.each_file(|path, meta| {
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= min_age);
            if !old {
                return;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let keep = !name.contains(TEMPORARY) && ChunkId::from_hex(name).is_some_and(&indexed);
            if !keep {
                doomed.push((path.to_path_buf(), meta.len()));
            }
        })?;
        let mut removed: u64 = 0;
        for (path, len) in doomed {
            if std::fs::remove_file(&path).is_ok() {
                self.forget(len);
                removed = removed.saturating_add(1);
            }
        }
        Ok(removed)
    }

    /// Takes `len` removed bytes off the count (never below zero: files put there by others
    /// were not counted).
    fn forget(&self, len: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(len))
            });
    }

    /// Calls `f` for every file in the chunk folders (spares are not chunk files).
    fn each_file(&self, mut f: impl FnMut(&Path, &std::fs::Metadata)) -> std::io::Result<()> {
        for dir in std::fs::read_dir(&self.root)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() || dir.file_name() == SPARE_DIR {
                continue;
            }
            for file in std::fs::read_dir(dir.path())? {
                let file = file?;
                if let Ok(meta) = file.metadata() {
                    if meta.is_file() {
                        f(&file.path(), &meta);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Writes `data` durably as the whole of the file at `path`: a new file when `fresh`, else over
/// the existing one's bytes. With O_DIRECT where the file system allows it, else through the
/// page cache.
fn write_file(path: &Path, data: &DirectBuffer, fresh: bool) -> std::io::Result<()> {
    match write_direct(path, data, fresh) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            if fresh {
                // The failed attempt created the file.
                std::fs::remove_file(path)?;
            }
            write_buffered(path, data, fresh)
        }
        other => other,
    }
}

/// Writes `data` into the file at `path` with O_DIRECT, straight from its aligned buffer
/// padded to whole blocks, then cuts the file to its length and syncs it. The bytes go to the
/// device without the page cache: no kernel copy, no cache filled with write-once data
/// (measured in PERFORMANCE.md). Fails with EINVAL where the file system refuses O_DIRECT.
fn write_direct(path: &Path, data: &DirectBuffer, fresh: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(fresh)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    debug_assert_eq!(data.padded().len() % DIRECT_ALIGN, 0);
    file.write_all(data.padded())?;
    file.set_len(data.len() as u64)?;
    file.sync_data()
}

/// Writes `data` into the file at `path` through the page cache, and syncs it.
fn write_buffered(path: &Path, data: &[u8], fresh: bool) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(fresh)
        .open(path)?;
    file.write_all(data)?;
    file.set_len(data.len() as u64)?;
    file.sync_data()
}

/// Makes a folder's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Version;

    fn id(index: u32) -> ChunkId {
        ChunkId {
            version: Version {
                hlc: 5 << 16,
                tiebreak: 9,
            },
            part: 1,
            index,
        }
    }

    #[test]
    fn write_read_remove_and_count_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path()).unwrap();
        files.write(id(0), &(&[1u8; 1000]).into()).unwrap();
        files.write(id(1), &(&[2u8; 500]).into()).unwrap();
        files.write(id(1), &(&[3u8; 700]).into()).unwrap();
        assert_eq!(files.read(id(0)).unwrap().unwrap(), vec![1u8; 1000]);
        assert_eq!(files.read(id(1)).unwrap().unwrap(), vec![3u8; 700]);
        assert_eq!(files.bytes(), 1700);
        files.remove(id(0)).unwrap();
        files.remove(id(0)).unwrap();
        assert!(files.read(id(0)).unwrap().is_none());
        assert_eq!(files.bytes(), 700);
        assert_eq!(ChunkFiles::open(dir.path()).unwrap().bytes(), 700);
    }

    #[test]
    fn odd_lengths_round_trip_through_direct_and_buffered_writes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4095, 4096, 4097, 1 << 20, (1 << 20) + 28] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let direct = dir.path().join(format!("d{len}"));
            match write_direct(&direct, &DirectBuffer::copy_of(&data), true) {
                Ok(()) => assert_eq!(std::fs::read(&direct).unwrap(), data, "direct {len}"),
                Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}"),
            }
            let buffered = dir.path().join(format!("b{len}"));
            write_buffered(&buffered, &data, true).unwrap();
            assert_eq!(std::fs::read(&buffered).unwrap(), data, "buffered {len}");
            // Over an existing file, longer or shorter.
            write_buffered(&buffered, &data[..len / 2], false).unwrap();
            assert_eq!(
                std::fs::read(&buffered).unwrap(),
                data[..len / 2],
                "shorter {len}"
            );
        }
    }

    #[test]
    fn sweep_removes_only_old_unindexed_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path()).unwrap();
        files.write(id(0), &b"kept".into()).unwrap();
        files.write(id(1), &b"orphan".into()).unwrap();
        let stray = files.path(id(2)).with_extension("tmp.0123");
        std::fs::write(&stray, b"half").unwrap();
        // Young files stay whatever the index says.
        assert_eq!(
            files.sweep(Duration::from_secs(3600), |_| false).unwrap(),
            0
        );
        assert_eq!(files.sweep(Duration::ZERO, |c| c == id(0)).unwrap(), 2);
        assert!(files.read(id(0)).unwrap().is_some());
        assert!(files.read(id(1)).unwrap().is_none());
        assert!(!stray.exists());
        assert_eq!(ChunkFiles::open(dir.path()).unwrap().bytes(), 4);
    }

    fn spares(dir: &Path) -> usize {
        std::fs::read_dir(dir.join(SPARE_DIR)).unwrap().count()
    }

    #[test]
    fn removed_files_are_written_over_and_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path()).unwrap();
        for (i, len) in [(0, 5000), (1, 300), (2, 9000)] {
            files
                .write(id(i), &(&vec![i as u8; len][..]).into())
                .unwrap();
        }
        files.remove(id(0)).unwrap();
        files.remove(id(1)).unwrap();
        assert_eq!(spares(dir.path()), 2);
        assert_eq!(files.bytes(), 9000);
        // Spares are not chunks: not counted at open, not swept.
        assert_eq!(ChunkFiles::open(dir.path()).unwrap().bytes(), 9000);
        assert_eq!(files.sweep(Duration::ZERO, |_| true).unwrap(), 0);
        assert_eq!(spares(dir.path()), 2);
        // New chunks go over the spares, the one of the same length first, then any.
        files.write(id(3), &(&[3u8; 300][..]).into()).unwrap();
        assert_eq!(spares(dir.path()), 1);
        files.write(id(4), &(&[4u8; 7000][..]).into()).unwrap();
        assert_eq!(spares(dir.path()), 0);
        files.write(id(5), &(&[5u8; 10][..]).into()).unwrap();
        assert_eq!(files.read(id(3)).unwrap().unwrap(), vec![3u8; 300]);
        assert_eq!(files.read(id(4)).unwrap().unwrap(), vec![4u8; 7000]);
        assert_eq!(files.read(id(5)).unwrap().unwrap(), vec![5u8; 10]);
        assert!(files.read(id(0)).unwrap().is_none());
        assert_eq!(files.bytes(), 9000 + 300 + 7000 + 10);
        // A reopened store finds its spares again.
        files.remove(id(5)).unwrap();
        let reopened = ChunkFiles::open(dir.path()).unwrap();
        reopened.write(id(6), &(&[6u8; 10][..]).into()).unwrap();
        assert_eq!(spares(dir.path()), 0);
        assert_eq!(reopened.read(id(6)).unwrap().unwrap(), vec![6u8; 10]);
    }

    #[test]
    fn spares_are_bounded() {
        let mut spares = Spares::default();
        assert!(!spares.has_room_for(0));
        assert!(spares.has_room_for(SPARE_BYTES));
        assert!(!spares.has_room_for(SPARE_BYTES + 1));
        for i in 0..SPARE_FILES {
            assert!(spares.has_room_for(1));
            spares.files.push((PathBuf::from(format!("s{i}")), 1));
            spares.bytes += 1;
        }
        assert!(!spares.has_room_for(1));
        assert_eq!(
            spares.take(1),
            Some(PathBuf::from(format!("s{}", SPARE_FILES - 1)))
        );
        assert!(spares.has_room_for(1));
    }
}
