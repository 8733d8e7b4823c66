//! Writing a WIM file so that it is either complete or absent: build into a temporary file next
//! to the target, sync, rename; remove the temporary file on any failure.

use super::{WimWriter, WriteOptions, WriteSummary};
use crate::{Error, Result};

/// Write a WIM file atomically: `build` fills a writer over `path.tmp-*`; on success the file is
/// finished, synced and renamed to `path`; on any error (or panic) the temporary file is removed,
/// so an output is either complete or not there at all.
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
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    struct RemoveOnDrop(Option<std::path::PathBuf>);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            if let Some(p) = self.0.take() {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} is not a file path", path.display())))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(tmp_name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::Io(format!("creating {}: {e}", tmp.display())))?;
    let mut guard = RemoveOnDrop(Some(tmp.clone()));
    let mut w = WimWriter::new(file, opts)?;
    build(&mut w)?;
    let (summary, file) = w.finish_into_sink()?;
    file.sync_all()
        .map_err(|e| Error::Io(format!("syncing {}: {e}", tmp.display())))?;
    drop(file);
    check(&tmp, &summary)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        Error::Io(format!(
            "renaming {} to {}: {e}",
            tmp.display(),
            path.display()
        ))
    })?;
    guard.0 = None;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename durable; not all platforms can open a directory, so this is best effort.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(summary)
}
