//! The one place in this module that maps files. Block files are
//! immutable once their folder is renamed into place, which is what makes
//! handing out slices of the mapping sound.

// The workspace denies `unsafe`; mmap is the exception the architecture page
// allows, kept to this one function.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use super::BlockError;

/// Maps the whole of `path` read-only.
pub(super) fn map_file(path: &Path) -> Result<Mmap, BlockError> {
    let f = File::open(path).map_err(|e| BlockError::io(path, e))?;
    // SAFETY: the mapping is read-only and private to this process's view;
    // block files are written completely and fsynced before the block's
    // folder gets its final name, and nothing writes to a complete block
    // again (compaction and deletion write new files or remove whole
    // folders, and an unlinked file stays mapped intact). A truncation by
    // another program would be data corruption outside our control, the
    // same contract Prometheus's mmap readers rely on.
    unsafe { Mmap::map(&f) }.map_err(|e| BlockError::io(path, e))
}
