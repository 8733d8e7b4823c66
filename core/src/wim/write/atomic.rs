//! Writing one WIM file so that it is either complete or absent, through the one output protocol
//! ([`crate::io::FsStore`]: temporary file, sync, check, rename; removed on any failure).

use super::{WimWriter, WriteOptions, WriteSummary};
use crate::io::{FsStore, OutputStore, Part};
use crate::{Error, Result};

/// Write a WIM file atomically: `build` fills a writer over a temporary file next to `path`; on
/// success the file is finished, synced and renamed to `path`; on any error (or panic) the
/// temporary file is removed, so an output is either complete or not there at all.
pub fn write_wim_file(
    path: &std::path::Path,
    opts: WriteOptions,
    build: impl FnOnce(&mut WimWriter<std::fs::File>) -> Result<()>,
) -> Result<WriteSummary> {
    write_wim_file_checked(path, opts, build, |_, _| Ok(()))
}

/// Like [`write_wim_file`], and `check` runs on the finished, synced temporary file (e.g. the
/// reader's blob verification) before the rename; its error also removes the file.
pub fn write_wim_file_checked(
    path: &std::path::Path,
    opts: WriteOptions,
    build: impl FnOnce(&mut WimWriter<std::fs::File>) -> Result<()>,
    check: impl FnOnce(&std::path::Path, &WriteSummary) -> Result<()>,
) -> Result<WriteSummary> {
    let mut store = FsStore::new(path);
    let file = store.create(Part::Output)?;
    let mut w = WimWriter::new(file, opts)?;
    build(&mut w)?;
    let (summary, file) = w.finish_into_sink()?;
    drop(store.reopen(Part::Output, file)?);
    let tmp = store
        .temp_path(Part::Output)
        .ok_or_else(|| Error::invalid("WIM writer", "the temporary output is gone"))?
        .to_path_buf();
    check(&tmp, &summary)?;
    store.commit(Part::Output)?;
    Ok(summary)
}
