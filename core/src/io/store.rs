//! The one output protocol: every output is written under a temporary name, re-read for
//! verification, and only then committed under its final name (or discarded). A job never sees a
//! file system: the CLI gives it an [`FsStore`] (a sibling temporary file, synced and renamed), the
//! browser worker an OPFS store (`web/src/save.rs`, a `.partial` file moved when verified).

use super::{Result, SharedReader, WriteAt};
use crate::Error;

/// Which output of a job a temporary file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The job's output: committed under the final name when verified.
    Output,
    /// An intermediate (a serviced WinRE that goes into install.wim): always discarded. The
    /// number tells the WinRE images of one install.wim apart (editions carrying different WinRE
    /// blobs are grouped, and each group's WinRE is serviced into its own stage, from 0).
    WinreStage(u16),
    /// An intermediate (the patched install.wim that goes into an ISO or folder): always discarded.
    InstallStage,
}

/// Where a job's outputs go: temporary name, write, re-read for verification, commit or discard.
///
/// A job calls [`OutputStore::create`], writes the sink, hands it back through
/// [`OutputStore::reopen`] (flushed, released) for a reader over what landed on the medium, checks
/// that, and then [`OutputStore::commit`]s or [`OutputStore::discard`]s the part. A store also
/// discards whatever was created and not committed when it is dropped.
pub trait OutputStore {
    /// What the job writes into.
    type Sink: WriteAt + Send + 'static;
    /// Fail early when the medium cannot take about `bytes` more (the browser's storage quota).
    fn reserve(&mut self, bytes: u64) -> Result<()> {
        let _ = bytes;
        Ok(())
    }
    /// A fresh, empty temporary file for `part`.
    fn create(&mut self, part: Part) -> Result<Self::Sink>;
    /// Flush and release `sink` (written for `part`) and read back what landed on the medium.
    fn reopen(&mut self, part: Part, sink: Self::Sink) -> Result<SharedReader>;
    /// Give the verified `part` its final name (drop every reader of it first).
    fn commit(&mut self, part: Part) -> Result<()>;
    /// Remove `part`'s temporary file; a missing file is not an error.
    fn discard(&mut self, part: Part);
}

/// `Read + Write + Seek` over a [`WriteAt`] that can read back (the ZIP writer seeks back to patch
/// local headers, and its check re-reads what it wrote).
pub struct SinkCursor<W: WriteAt> {
    sink: W,
    pos: u64,
    len: u64,
}

impl<W: WriteAt> SinkCursor<W> {
    /// A cursor at offset 0 of an empty `sink`.
    pub fn new(sink: W) -> Self {
        SinkCursor {
            sink,
            pos: 0,
            len: 0,
        }
    }
    /// The sink back.
    pub fn into_inner(self) -> W {
        self.sink
    }
}

fn io_err(e: Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl<W: WriteAt> std::io::Write for SinkCursor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sink.write_at(self.pos, buf).map_err(io_err)?;
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush().map_err(io_err)
    }
}

impl<W: WriteAt> std::io::Read for SinkCursor<W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.len.saturating_sub(self.pos).min(buf.len() as u64) as usize;
        if n > 0 {
            self.sink
                .read_back(self.pos, &mut buf[..n])
                .map_err(io_err)?;
            self.pos += n as u64;
        }
        Ok(n)
    }
}

impl<W: WriteAt> std::io::Seek for SinkCursor<W> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let at = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = at.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use fs::FsStore;

#[cfg(not(target_arch = "wasm32"))]
mod fs {
    use super::{OutputStore, Part};
    use crate::io::{FileSource, SharedReader};
    use crate::{Error, Result};
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Outputs next to `path`: `NAME.tmp-PID-N` (`NAME.winre-PID-N.tmp` for the WinRE stage),
    /// synced, re-read, renamed to `path` on commit; removed on discard, on error and on drop, so
    /// an output is either complete or not there at all.
    ///
    /// The sync runs on a thread of its own while the job re-reads and verifies the file (the
    /// re-read is served by the page cache whether or not the sync has finished, so it proves the
    /// same); commit waits for it and fails when it failed.
    pub struct FsStore {
        path: PathBuf,
        temps: HashMap<Part, PathBuf>,
        syncs: HashMap<Part, Syncing>,
    }

    /// A temporary file being synced: the thread's outcome.
    type Syncing = std::thread::JoinHandle<std::io::Result<()>>;

    /// Wait for a sync started by `reopen`; its error (or a panic of its thread) as an `Error`.
    fn wait_sync(sync: Syncing, tmp: &Path) -> Result<()> {
        let what = || format!("syncing {}", tmp.display());
        match sync.join() {
            Ok(r) => r.map_err(|e| io(what(), e)),
            Err(_) => Err(io(
                what(),
                std::io::Error::other("the sync thread panicked"),
            )),
        }
    }

    fn io(what: String, e: std::io::Error) -> Error {
        Error::io(what, e)
    }

    impl FsStore {
        /// A store whose [`Part::Output`] ends up at `path`.
        pub fn new(path: impl Into<PathBuf>) -> Self {
            FsStore {
                path: path.into(),
                temps: HashMap::new(),
                syncs: HashMap::new(),
            }
        }

        /// The temporary file of `part`, while it exists.
        pub fn temp_path(&self, part: Part) -> Option<&Path> {
            self.temps.get(&part).map(PathBuf::as_path)
        }
    }

    impl OutputStore for FsStore {
        type Sink = std::fs::File;

        fn create(&mut self, part: Part) -> Result<std::fs::File> {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let file_name = self.path.file_name().ok_or_else(|| {
                Error::invalid(
                    "output path",
                    format!("{} is not a file path", self.path.display()),
                )
            })?;
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut tmp_name = file_name.to_os_string();
            tmp_name.push(match part {
                Part::Output => format!(".tmp-{}-{n}", std::process::id()),
                Part::WinreStage(k) => format!(".winre{k}-{}-{n}.tmp", std::process::id()),
                Part::InstallStage => format!(".install-{}-{n}.tmp", std::process::id()),
            });
            self.discard(part);
            let tmp = self.path.with_file_name(tmp_name);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| io(format!("creating {}", tmp.display()), e))?;
            self.temps.insert(part, tmp);
            Ok(file)
        }

        fn reopen(&mut self, part: Part, sink: std::fs::File) -> Result<SharedReader> {
            let tmp = self.temps.get(&part).ok_or_else(|| {
                Error::invalid("output path", format!("{part:?} was not created"))
            })?;
            let reader = FileSource::open(tmp)?;
            if let Some(old) = self.syncs.remove(&part) {
                // A part reopened twice: the earlier sync still has to succeed.
                wait_sync(old, tmp)?;
            }
            self.syncs
                .insert(part, std::thread::spawn(move || sink.sync_all()));
            Ok(Arc::new(reader))
        }

        fn commit(&mut self, part: Part) -> Result<()> {
            let tmp = self.temps.remove(&part).ok_or_else(|| {
                Error::invalid("output path", format!("{part:?} was not created"))
            })?;
            if let Some(sync) = self.syncs.remove(&part) {
                if let Err(e) = wait_sync(sync, &tmp) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            }
            if let Err(e) = std::fs::rename(&tmp, &self.path) {
                let _ = std::fs::remove_file(&tmp);
                return Err(io(
                    format!("renaming {} to {}", tmp.display(), self.path.display()),
                    e,
                ));
            }
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // Make the rename durable; not every platform opens a directory: best effort.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        }

        fn discard(&mut self, part: Part) {
            if let Some(sync) = self.syncs.remove(&part) {
                // Its outcome no longer matters, but the file is closed before it is removed.
                let _ = sync.join();
            }
            if let Some(tmp) = self.temps.remove(&part) {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }

    impl Drop for FsStore {
        fn drop(&mut self) {
            for (_, sync) in self.syncs.drain() {
                let _ = sync.join();
            }
            for (_, tmp) in self.temps.drain() {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::{FsStore, OutputStore, Part};
    use crate::io::{ReadAt, WriteAt};

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn fs_store_reads_back_before_the_sync_ends_and_commits_after_it() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out.bin");
        let mut store = FsStore::new(&out);
        let mut sink = store.create(Part::Output).unwrap();
        sink.write_at(0, b"hello ").unwrap();
        sink.write_at(6, b"world").unwrap();
        let back = store.reopen(Part::Output, sink).unwrap();
        let mut buf = [0u8; 11];
        back.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"hello world");
        assert!(!out.exists(), "committed before commit");
        drop(back);
        store.commit(Part::Output).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"hello world");
        assert_eq!(names(t.path()), ["out.bin"]);

        // Discarded after reopen (its sync still running or done): nothing left, output untouched.
        let mut sink = store.create(Part::WinreStage(0)).unwrap();
        sink.write_at(0, b"stage").unwrap();
        drop(store.reopen(Part::WinreStage(0), sink).unwrap());
        store.discard(Part::WinreStage(0));
        let mut sink = store.create(Part::Output).unwrap();
        sink.write_at(0, b"second").unwrap();
        drop(store.reopen(Part::Output, sink).unwrap());
        drop(store);
        assert_eq!(names(t.path()), ["out.bin"]);
        assert_eq!(std::fs::read(&out).unwrap(), b"hello world");
    }
}
