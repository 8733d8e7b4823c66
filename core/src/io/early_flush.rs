//! Start writing a large output to the disk while it is still being produced.
//!
//! The output store syncs a file before it re-reads and renames it; for a 200 MB extract that
//! final sync alone waited ~0.14 s for the disk. Asking for the data written so far to be synced
//! in a background thread as the output grows lets the disk work while we decode, so the store's
//! final sync finds little left. The guarantee is unchanged: the store still syncs everything.

use crate::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::thread::JoinHandle;

/// Bytes written between two background syncs.
const EVERY: u64 = 32 << 20;

/// A [`Write`] into a file that syncs the written data in the background every [`EVERY`] bytes.
/// Call [`EarlyFlush::finish`]: a background sync's error must not be lost (Linux reports a
/// failed writeback to one sync only).
pub struct EarlyFlush<'a> {
    file: &'a mut File,
    every: u64,
    since: u64,
    pending: Option<JoinHandle<std::io::Result<()>>>,
}

impl<'a> EarlyFlush<'a> {
    /// Writes go to `file`.
    pub fn new(file: &'a mut File) -> Self {
        EarlyFlush {
            file,
            every: EVERY,
            since: 0,
            pending: None,
        }
    }

    /// Wait for the background sync, if one runs, and report its error.
    pub fn finish(mut self) -> Result<()> {
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.pending.take() {
            Some(h) => h
                .join()
                .map_err(|_| {
                    Error::io(
                        "syncing the output in the background",
                        std::io::Error::other("the sync thread panicked"),
                    )
                })?
                .map_err(|e| Error::io("syncing the output in the background", e)),
            None => Ok(()),
        }
    }

    fn start_sync(&mut self) -> std::io::Result<()> {
        if self.pending.as_ref().is_some_and(|h| !h.is_finished()) {
            // The disk is still busy with the last request: ask again later.
            return Ok(());
        }
        self.join().map_err(std::io::Error::other)?;
        let f = self.file.try_clone()?;
        self.pending = Some(std::thread::spawn(move || f.sync_data()));
        self.since = 0;
        Ok(())
    }
}

impl Write for EarlyFlush<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n as u64;
        if self.since >= self.every {
            self.start_sync()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for EarlyFlush<'_> {
    fn drop(&mut self) {
        // On an error path the output is discarded; still, do not leave the thread detached.
        let _ = self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_arrives_across_several_background_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut f = File::create(&path).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = EarlyFlush::new(&mut f);
        w.every = 64 << 10;
        for piece in data.chunks(10_000) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap();
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }
}
