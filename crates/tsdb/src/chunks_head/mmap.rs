//! The one place in this module that turns mapped file memory into Rust
//! slices. Everything else goes through [`MappedFile::published`], so the
//! soundness argument lives here once.

// The workspace denies `unsafe`; this file is the exception the architecture
// page allows for mmap, and each block says why it holds.
#![allow(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};

/// A head chunk file mapped read-only, with how much of it is written and
/// known good (the "published" prefix).
///
/// Invariant: the bytes below `published` never change while the mapping
/// lives. The writer only ever appends above it, and raises it (release)
/// only after the `write` that put those bytes in the file returned; readers
/// load it (acquire) and only ever look below it.
pub(super) struct MappedFile {
    seq: u32,
    path: PathBuf,
    map: MmapRaw,
    published: AtomicUsize,
    /// Largest maxt of the file's chunks; `i64::MIN` while it has none.
    maxt: AtomicI64,
}

impl MappedFile {
    /// Maps `len` bytes of `file` read-only, `published` of which are
    /// already written and final. `len` may exceed the file's size (the file
    /// being written is mapped at its maximum size up front, so that readers
    /// never need a remap); pages beyond the end of the file are never
    /// touched because nothing reads past `published`.
    pub(super) fn map(seq: u32, path: &Path, file: &File, len: usize, published: usize, maxt: i64) -> std::io::Result<MappedFile> {
        debug_assert!(published <= len);
        let map = MmapOptions::new().len(len).map_raw_read_only(file)?;
        Ok(MappedFile { seq, path: path.to_path_buf(), map, published: AtomicUsize::new(published), maxt: AtomicI64::new(maxt) })
    }

    pub(super) fn seq(&self) -> u32 {
        self.seq
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The written, immutable prefix of the file.
    pub(super) fn published(&self) -> &[u8] {
        let len = self.published.load(Ordering::Acquire).min(self.map.len());
        // SAFETY: `self.map` is a live read-only shared mapping of at least
        // `len` bytes (clamped above), owned by `self`, so the pointer is
        // valid for `len` bytes for as long as the returned borrow of `self`.
        // The bytes are initialised and immutable for that long:
        // - `published` is only raised after the `write(2)` of those bytes
        //   returned, so they are in the page cache and visible through this
        //   MAP_SHARED mapping, and the acquire load pairs with the release
        //   store that raised it;
        // - the files are only ever appended to while mapped: the writer
        //   writes above `published` only, and the sole truncations (repair
        //   of a torn tail at start-up, roll-back of a failed write) happen
        //   before the file is mapped or cut above `published`, so no page
        //   below it is ever removed or rewritten by this process;
        // - deleting a file (`truncate`) unlinks it, which on Linux leaves
        //   existing mappings of it valid until they are unmapped, which
        //   happens only when the last `Arc<MappedFile>` is dropped.
        // What this cannot rule out is another process truncating or
        // rewriting the file under us (SIGBUS or changed bytes), as with any
        // mmap; Prometheus has the same exposure, and the data directory is
        // locked to one server.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), len) }
    }

    pub(super) fn published_len(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Makes bytes up to `len` visible to readers. Only the writer calls
    /// this, after the bytes are written.
    pub(super) fn publish(&self, len: usize) {
        debug_assert!(len <= self.map.len());
        self.published.store(len.min(self.map.len()), Ordering::Release);
    }

    pub(super) fn maxt(&self) -> i64 {
        self.maxt.load(Ordering::Relaxed)
    }

    pub(super) fn raise_maxt(&self, t: i64) {
        self.maxt.fetch_max(t, Ordering::Relaxed);
    }
}

impl fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("mapped", &self.map.len())
            .field("published", &self.published_len())
            .field("maxt", &self.maxt())
            .finish()
    }
}
