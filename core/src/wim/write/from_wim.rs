//! Rebuilding from a source WIM: each blob is raw-copied when the source resource's layout matches
//! the output's (formats.md §2.3), otherwise decoded by the reader and re-added (its SHA-1 checked
//! while it is written).
//!
//! Many blobs are small files stored one after another in the source. Copied one by one they cost
//! a read each (a system call natively, a `File.slice` + `FileReaderSync` round trip in the
//! browser), so [`WimWriter::copy_blobs_from_wim`] reads runs of neighbouring resources at once.

use std::sync::Arc;

use super::WimWriter;
use crate::io::{check_range, Progress, ReadAt, SharedReader, WriteAt};
use crate::wim::meta_write::for_each_stream_ref;
use crate::wim::model::{Hash, ImageTree};
use crate::wim::read::{RawResource, Wim};
use crate::{Error, Result};

/// Most source bytes one coalesced read takes (a run of resources ends before it would exceed it).
const RUN_BYTES: u64 = 8 << 20;
/// Most bytes between two resources of a run that are read and thrown away (other blobs, old
/// metadata) rather than ending the run.
const RUN_GAP: u64 = 64 << 10;

/// A run of source bytes held in memory, read as one (`bytes` starts at `start` of `inner`).
struct RunSource<'a> {
    inner: &'a dyn ReadAt,
    start: u64,
    bytes: &'a [u8],
}

impl ReadAt for RunSource<'_> {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = check_range("source run", offset, buf.len() as u64, self.size())?;
        match offset.checked_sub(self.start) {
            Some(rel) if end - self.start <= self.bytes.len() as u64 => {
                buf.copy_from_slice(&self.bytes[rel as usize..(end - self.start) as usize]);
                Ok(())
            }
            // Outside the run (not expected: the run was planned from these resources).
            _ => self.inner.read_at(offset, buf),
        }
    }
}

/// The source resource of blob `hash` when it is a candidate for a coalesced raw copy.
fn run_member(src: &Wim, hash: &Hash) -> Option<RawResource> {
    src.raw_resource(hash)
        .filter(|r| !r.solid && r.reshdr.size_in_wim < RUN_BYTES)
}

impl<W: WriteAt> WimWriter<W> {
    /// Put blob `hash` of `src` into the output (nothing to do when it is already there).
    pub fn copy_blob_from_wim(
        &mut self,
        src: &Wim,
        hash: &Hash,
        progress: &dyn Progress,
    ) -> Result<()> {
        if self.has_blob(hash) {
            return Ok(());
        }
        let raw = src.raw_resource(hash).ok_or_else(|| {
            Error::not_found(
                "blob",
                format!("blob {} in the source WIM", crate::hash::hex(hash)),
            )
        })?;
        if !raw.solid
            && self.add_raw_resource(
                *hash,
                &*raw.reader,
                raw.reshdr,
                raw.compression,
                raw.chunk_size,
            )?
        {
            return Ok(());
        }
        let reader = src.open_blob(hash)?;
        self.add_blob_from(&reader, Some(*hash), progress)?;
        Ok(())
    }

    /// Put the blobs `hashes` of `src` into the output in this order, like
    /// [`WimWriter::copy_blob_from_wim`] for each (the same bytes), but resources that lie next to
    /// each other in the source are read with one read of up to 8 MiB. `done(k)` is called after
    /// `hashes[k]` is in.
    pub fn copy_blobs_from_wim(
        &mut self,
        src: &Wim,
        hashes: &[Hash],
        progress: &dyn Progress,
        done: &mut dyn FnMut(usize),
    ) -> Result<()> {
        let mut run: Vec<u8> = Vec::new();
        let mut k = 0;
        while k < hashes.len() {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let first = match run_member(src, &hashes[k]).filter(|_| !self.has_blob(&hashes[k])) {
                Some(r) => r,
                None => {
                    self.copy_blob_from_wim(src, &hashes[k], progress)?;
                    done(k);
                    k += 1;
                    continue;
                }
            };
            // Extend the run while the next resource follows closely in the same part.
            let start = first.reshdr.offset;
            let mut end = start.saturating_add(first.reshdr.size_in_wim);
            let mut members = vec![(k, first)];
            let mut j = k + 1;
            while j < hashes.len() {
                let Some(r) = run_member(src, &hashes[j]) else {
                    break;
                };
                let (off, len) = (r.reshdr.offset, r.reshdr.size_in_wim);
                let close = off >= end && off - end <= RUN_GAP;
                let fits = off.saturating_add(len).saturating_sub(start) <= RUN_BYTES;
                if !close || !fits || !Arc::ptr_eq(&r.reader, &members[0].1.reader) {
                    break;
                }
                end = off + len;
                members.push((j, r));
                j += 1;
            }
            if members.len() == 1 {
                self.copy_blob_from_wim(src, &hashes[k], progress)?;
                done(k);
                k += 1;
                continue;
            }
            let reader: SharedReader = members[0].1.reader.clone();
            check_range("WIM resource run", start, end - start, reader.size())?;
            run.resize((end - start) as usize, 0);
            reader.read_at(start, &mut run)?;
            let from = RunSource {
                inner: &*reader,
                start,
                bytes: &run,
            };
            for (i, r) in members {
                // Checked once per blob, as when copying them one by one (the head was above).
                if i > k && progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let h = hashes[i];
                let copied =
                    self.add_raw_resource(h, &from, r.reshdr, r.compression, r.chunk_size)?;
                if !copied {
                    // Layout differs from the output's: decoded and re-added, as one by one.
                    self.copy_blob_from_wim(src, &h, progress)?;
                }
                done(i);
            }
            k = j;
        }
        Ok(())
    }

    /// Copy every blob `tree` references from `src` (in first-reference order).
    pub fn copy_tree_blobs_from_wim(
        &mut self,
        src: &Wim,
        tree: &ImageTree,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut hashes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for_each_stream_ref(tree, |h| {
            if seen.insert(*h) {
                hashes.push(*h);
            }
        });
        self.copy_blobs_from_wim(src, &hashes, progress, &mut |_| {})
    }
}
