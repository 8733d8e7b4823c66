//! Rebuilding from a source WIM: each blob is raw-copied when the source resource's layout matches
//! the output's (formats.md §2.3), otherwise decoded by the reader and re-added (its SHA-1 checked
//! while it is written).

use super::WimWriter;
use crate::io::{Progress, WriteAt};
use crate::wim::meta_write::for_each_stream_ref;
use crate::wim::model::{Hash, ImageTree};
use crate::wim::read::Wim;
use crate::{Error, Result};

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
        for h in &hashes {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            self.copy_blob_from_wim(src, h, progress)?;
        }
        Ok(())
    }
}
