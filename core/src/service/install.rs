//! Patched install.wim (issue #5, output 4b): every selected edition's
//! `Windows\System32\Recovery\Winre.wim` points to a new WinRE blob; everything else is carried over.
//! Editions that carried different WinREs ([`winre_groups`]) each get their own group's new WinRE
//! ([`WinreReplacement::grouped`]), in the same single pass over install.wim.
//!
//! How: each image's tree is decoded one at a time (memory stays at one tree), the WinRE dentry of a
//! selected edition gets the new blob's SHA-1, and the tree's blobs are copied from the source with
//! [`WimWriter::copy_tree_blobs_from_wim`], which copies a resource byte for byte (chunk table
//! included) when its compression and chunk size match the output and recompresses it otherwise
//! (an ESD's solid LZMS blobs become LZX). Blobs reach the output only when a written tree references
//! them, so the old WinRE blob is left out once no edition points to it any more.
//!
//! Policies (the issue leaves them to us):
//! - The WinRE dentry keeps its name, short name, attributes, security descriptor, creation time,
//!   named streams and hard-link group (every name of the group gets the new data). Its last-write
//!   and last-access times become [`InstallOptions::modification_time`] when one is given (the
//!   file's content did change then), and stay as they were otherwise.
//! - Unselected images keep their tree as decoded (re-serialized by our writer, so their metadata
//!   resource holds the same dentries, not necessarily the same bytes) and their XML element.
//! - The GUID is derived from the source GUID, the new WinREs' SHA-1s and which image got which, so
//!   the output is a new WIM (not a second file claiming the source's identity) and the same inputs
//!   give the same bytes. The boot index, RP_FIX flag and integrity table presence are kept.
//!
//! No file system here: the output goes to any [`WriteAt`] (a file in the CLI, OPFS in the browser).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::io::{Progress, ReadAt, WriteAt};
use crate::wim::format::ResHdr;
use crate::wim::model::{Hash, ImageTree};
use crate::wim::read::{VerifyReport, Wim};
use crate::wim::write::{WimWriter, WriteOptions, WriteSummary};
use crate::wim::xml_write::{image_elements, ImageXml};
use crate::{Error, Result};

/// Where Windows keeps the recovery image inside an installed (or install.wim) system.
pub const WINRE_PATH: &str = "Windows/System32/Recovery/Winre.wim";

/// Selected editions of install.wim that carry the same WinRE blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinreGroup {
    /// The WinRE blob's SHA-1.
    pub winre: Hash,
    /// The editions (1-based) carrying it, in the order they were given.
    pub editions: Vec<u32>,
}

/// The selected editions `indices` (1-based) of install.wim grouped by the WinRE blob each
/// carries, groups in the order of their first edition. Each group's WinRE is serviced once and
/// its editions then point to the result, so editions built from several releases (or one whose
/// WinRE was refreshed already) are patched in one run.
pub fn winre_groups(install: &Wim, indices: &[u32]) -> Result<Vec<WinreGroup>> {
    let n = install.images().len() as u32;
    let mut groups: Vec<WinreGroup> = Vec::new();
    for (k, &i) in indices.iter().enumerate() {
        if i == 0 || i > n {
            return Err(Error::invalid(
                "patch request",
                format!("edition {i}: install.wim has editions 1..={n}"),
            ));
        }
        if indices[..k].contains(&i) {
            return Err(Error::invalid(
                "patch request",
                format!("edition {i} given twice"),
            ));
        }
        let tree = install.image_tree(i)?;
        let at = tree
            .lookup(WINRE_PATH)
            .map_err(|_| Error::not_found("WinRE", format!("edition {i} has no {WINRE_PATH}")))?;
        let h = tree.nodes[at].data.unwrap_or_default();
        match groups.iter_mut().find(|g| g.winre == h) {
            Some(g) => g.editions.push(i),
            None => groups.push(WinreGroup {
                winre: h,
                editions: vec![i],
            }),
        }
    }
    if groups.is_empty() {
        return Err(Error::invalid("patch request", "no edition selected"));
    }
    Ok(groups)
}

/// The replacement WinRE: a reader over its bytes (e.g. a WinRE.wim just written) and its identity.
#[derive(Clone, Copy)]
pub struct NewWinre<'a> {
    /// The WinRE.wim bytes.
    pub src: &'a dyn ReadAt,
    /// Its size in bytes (checked against `src`).
    pub size: u64,
    /// Its SHA-1 (checked while it is written).
    pub sha1: Hash,
}

/// What to replace and how the output looks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// 1-based indices of the editions to update; empty means every image.
    pub indices: Vec<u32>,
    /// FILETIME written as LASTMODIFICATIONTIME of each updated image and as the WinRE dentry's
    /// last-write/last-access time; `None` keeps the source's values.
    pub modification_time: Option<u64>,
    /// Output layout; `None` reproduces the source's (LZX, 32 KiB chunks for an ESD).
    pub write: Option<WriteOptions>,
    /// Compress the new WinRE blob with the output's compression. Off by default: a WinRE.wim's
    /// resources are already LZX-compressed, so compressing the file again saves about 1 % of its
    /// size and costs most of the run time; the blob is then stored as is (a valid uncompressed
    /// resource in a compressed WIM, as WIMGAPI writes for data that does not shrink).
    pub recompress_winre: bool,
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageOutcome {
    /// 1-based image index (the same in source and output).
    pub index: u32,
    /// True when this image's WinRE was replaced.
    pub updated: bool,
    /// Hex SHA-1 of the WinRE the source image had (None when the image has none).
    pub old_winre: Option<String>,
    /// Hex SHA-1 of the WinRE the output image has.
    pub winre: Option<String>,
}

/// The result of a replacement.
#[derive(Debug, Clone)]
pub struct InstallSummary {
    /// What the writer produced.
    pub write: WriteSummary,
    /// Per image, in order.
    pub images: Vec<ImageOutcome>,
    /// Hex SHA-1s of replaced WinRE blobs that no output image references (absent from the output).
    pub dropped: Vec<String>,
    /// The read-back check of the output, when it was done here.
    pub verify: Option<VerifyReport>,
}

/// A planned replacement: validated indices, image XML and output options, before anything is
/// written. [`WinreReplacement::build`] fills a writer; [`WinreReplacement::verify`] checks a result.
pub struct WinreReplacement<'a> {
    src: &'a Wim,
    /// The new WinRE of each group.
    news: Vec<NewWinre<'a>>,
    /// Per image: the group whose new WinRE it gets, `None` when it is not updated.
    selected: Vec<Option<usize>>,
    xml: Vec<String>,
    write: WriteOptions,
    modification_time: Option<u64>,
    recompress_winre: bool,
}

impl<'a> WinreReplacement<'a> {
    /// Check the request against the source: indices in range and unique, the XML listing every
    /// image, the new WinRE the size it claims and starting like a WIM.
    pub fn new(src: &'a Wim, new: NewWinre<'a>, opts: &InstallOptions) -> Result<Self> {
        let indices = if opts.indices.is_empty() {
            (1..=src.images().len() as u32).collect()
        } else {
            opts.indices.clone()
        };
        Self::grouped(src, vec![(new, indices)], opts)
    }

    /// [`WinreReplacement::new`] for editions that get different new WinREs: each group's
    /// editions (1-based) point to that group's WinRE. `opts.indices` is not read (the groups
    /// name the editions); an edition in two groups is refused.
    pub fn grouped(
        src: &'a Wim,
        groups: Vec<(NewWinre<'a>, Vec<u32>)>,
        opts: &InstallOptions,
    ) -> Result<Self> {
        let n = src.images().len();
        let xml = image_elements(src.xml_text())?;
        if xml.len() != n || n == 0 {
            return Err(Error::invalid(
                "patch request",
                format!("the WIM XML lists {} images but the WIM has {n}", xml.len()),
            ));
        }
        let mut selected = vec![None; n];
        let mut news = Vec::with_capacity(groups.len());
        for (g, (new, indices)) in groups.into_iter().enumerate() {
            for &i in &indices {
                let slot = i
                    .checked_sub(1)
                    .and_then(|k| selected.get_mut(k as usize))
                    .ok_or_else(|| {
                        Error::invalid(
                            "patch request",
                            format!("image index {i}: the WIM has images 1..={n}"),
                        )
                    })?;
                if slot.is_some() {
                    return Err(Error::invalid(
                        "patch request",
                        format!("image index {i} given twice"),
                    ));
                }
                *slot = Some(g);
            }
            check_new_winre(&new)?;
            news.push(new);
        }
        let mut write = match &opts.write {
            Some(w) => w.clone(),
            None => WriteOptions::like_source(src.header())?,
        };
        if opts.write.is_none() {
            write.guid = derive_guid(src.header().guid, &news, &selected);
            write.integrity = src.header().integrity != ResHdr::default();
        }
        Ok(WinreReplacement {
            src,
            news,
            selected,
            xml,
            write,
            modification_time: opts.modification_time,
            recompress_winre: opts.recompress_winre,
        })
    }

    /// Compress the output's chunks through `backend` (in the browser: the worker pool) instead
    /// of threads; the bytes written are the same.
    pub fn with_backend(mut self, backend: Option<crate::codec::parallel::Backend>) -> Self {
        self.write.backend = backend;
        self
    }

    /// The options the output must be written with (give them to [`WimWriter::new`]).
    pub fn write_options(&self) -> &WriteOptions {
        &self.write
    }

    /// True when image `index` (1-based) is to be updated.
    pub fn is_selected(&self, index: u32) -> bool {
        self.group_of(index).is_some()
    }

    /// The group whose new WinRE image `index` (1-based) gets; `None` when it is not updated.
    fn group_of(&self, index: u32) -> Option<usize> {
        index
            .checked_sub(1)
            .and_then(|k| self.selected.get(k as usize).copied().flatten())
    }

    /// Add every image to `w` (created with [`WinreReplacement::write_options`]); returns what
    /// happened per image. Checks `progress` for cancellation before every blob and chunk.
    pub fn build<W: WriteAt>(
        &self,
        w: &mut WimWriter<W>,
        progress: &dyn Progress,
    ) -> Result<Vec<ImageOutcome>> {
        let n = self.selected.len() as u64;
        let mut out = Vec::with_capacity(self.selected.len());
        for (k, img_xml) in self.xml.iter().enumerate() {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let index = k as u32 + 1;
            progress.update("image", k as u64, n);
            let mut tree = self.src.image_tree(index)?;
            let old = winre_hash(&tree, index)?;
            let mut xml = ImageXml::from_source(img_xml)?;
            let group = self.selected[k].map(|g| &self.news[g]);
            let updated = group.is_some();
            if let Some(new) = group {
                let node = old.map(|(i, _)| i).ok_or_else(|| {
                    Error::not_found(
                        "WinRE",
                        format!(
                            "image {index} has no {} to replace",
                            WINRE_PATH.replace('/', "\\")
                        ),
                    )
                })?;
                self.add_new_blob(w, new, progress)?;
                set_data(&mut tree, node, new.sha1, self.modification_time);
                if let Some(t) = self.modification_time {
                    xml.set_last_modification_time(t);
                }
            }
            w.copy_tree_blobs_from_wim(self.src, &tree, progress)?;
            w.add_image(&tree, xml)?;
            let now = winre_hash(&tree, index)?;
            out.push(ImageOutcome {
                index,
                updated,
                old_winre: old.and_then(|(_, h)| h).map(|h| crate::hash::hex(&h)),
                winre: now.and_then(|(_, h)| h).map(|h| crate::hash::hex(&h)),
            });
        }
        progress.update("image", n, n);
        Ok(out)
    }

    fn add_new_blob<W: WriteAt>(
        &self,
        w: &mut WimWriter<W>,
        new: &NewWinre<'_>,
        progress: &dyn Progress,
    ) -> Result<()> {
        if w.has_blob(&new.sha1) {
            return Ok(());
        }
        if self.src.blob(&new.sha1).is_some() {
            // The "new" WinRE is already in the source: its resource can be copied as stored.
            return w.copy_blob_from_wim(self.src, &new.sha1, progress);
        }
        if self.recompress_winre {
            return w
                .add_blob_from(new.src, Some(new.sha1), progress)
                .map(|_| ());
        }
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        // Stored: copied in 1 MiB pieces with its SHA-1 checked (a mismatch is an error).
        let stored = ResHdr {
            size_in_wim: new.size,
            flags: 0,
            offset: 0,
            uncompressed_size: new.size,
        };
        w.add_raw_resource(
            new.sha1,
            new.src,
            stored,
            crate::codec::Compression::None,
            0,
        )
        .map(|_| ())
    }

    /// Write the whole output to `sink` and finish it (no read-back check: see
    /// [`WinreReplacement::verify`] or [`replace_winre`]).
    pub fn write<W: WriteAt>(
        &self,
        sink: W,
        progress: &dyn Progress,
    ) -> Result<(InstallSummary, W)> {
        let mut w = WimWriter::new(sink, self.write.clone())?;
        let images = self.build(&mut w, progress)?;
        let dropped = self.dropped(&w, &images);
        let (write, sink) = w.finish_into_sink()?;
        Ok((
            InstallSummary {
                write,
                images,
                dropped,
                verify: None,
            },
            sink,
        ))
    }

    /// Hex SHA-1s of replaced WinRE blobs that did not reach the output.
    pub fn dropped<W: WriteAt>(&self, w: &WimWriter<W>, images: &[ImageOutcome]) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for o in images.iter().filter(|o| o.updated) {
            let Some(old) = &o.old_winre else { continue };
            let gone = crate::hash::unhex(old)
                .and_then(|v| Hash::try_from(v).ok())
                .is_some_and(|h| !w.has_blob(&h));
            if gone && seen.insert(old.clone()) {
                out.push(old.clone());
            }
        }
        out
    }

    /// Check a written output: every blob's SHA-1 (read back through `out`), the image count, the
    /// boot index, and each image's WinRE (the new one where updated, the old one elsewhere).
    pub fn verify(
        &self,
        out: &Wim,
        images: &[ImageOutcome],
        progress: &dyn Progress,
    ) -> Result<VerifyReport> {
        self.verify_copied(out, images, &Default::default(), progress)
    }

    /// [`WinreReplacement::verify`], with the resources the writer raw-copied (`copied`, from
    /// [`WriteSummary::copied`]) checked by their stored bytes instead of decoded
    /// (docs/decisions.md 22).
    pub fn verify_copied(
        &self,
        out: &Wim,
        images: &[ImageOutcome],
        copied: &std::collections::HashMap<Hash, crate::wim::CopiedResource>,
        progress: &dyn Progress,
    ) -> Result<VerifyReport> {
        let rep =
            out.verify_blobs_copied(crate::codec::parallel::default_threads(), copied, progress)?;
        if let Some((h, e)) = rep.failures.first() {
            return Err(Error::invalid(
                "patch request",
                format!(
                    "the written install.wim failed its check: blob {h}: {e} ({} failures)",
                    rep.failures.len()
                ),
            ));
        }
        if out.images().len() != images.len() {
            return Err(Error::invalid(
                "patch request",
                format!(
                    "the written install.wim has {} images, {} were written",
                    out.images().len(),
                    images.len()
                ),
            ));
        }
        if out.boot_index() != self.write.boot_index {
            return Err(Error::invalid(
                "patch request",
                format!(
                    "the written install.wim has boot index {}, expected {}",
                    out.boot_index(),
                    self.write.boot_index
                ),
            ));
        }
        for o in images {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let tree = out.image_tree(o.index)?;
            let got = winre_hash(&tree, o.index)?
                .and_then(|(_, h)| h)
                .map(|h| crate::hash::hex(&h));
            let want = if let Some(g) = self.group_of(o.index) {
                Some(crate::hash::hex(&self.news[g].sha1))
            } else {
                o.old_winre.clone()
            };
            if got != want {
                return Err(Error::invalid(
                    "patch request",
                    format!(
                        "image {} of the written install.wim has WinRE {:?}, expected {:?}",
                        o.index, got, want
                    ),
                ));
            }
        }
        Ok(rep)
    }
}

/// Replace the WinRE of the selected editions of `src`, writing the new install.wim to `sink`, then
/// read the output back through the sink and verify it. Returns the summary (with `verify` set)
/// and the sink. On error the sink holds an incomplete WIM (header marked WRITE_IN_PROGRESS) that
/// the caller must discard.
pub fn replace_winre<W: WriteAt + Send + 'static>(
    src: &Wim,
    new: NewWinre<'_>,
    opts: &InstallOptions,
    sink: W,
    progress: &dyn Progress,
) -> Result<(InstallSummary, W)> {
    let job = WinreReplacement::new(src, new, opts)?;
    let (mut summary, sink) = job.write(sink, progress)?;
    let back = std::sync::Arc::new(ReadBack {
        sink: Mutex::new(sink),
        size: summary.write.file_size,
    });
    let rep = {
        let out = Wim::open(back.clone())?;
        job.verify(&out, &summary.images, progress)?
    };
    summary.verify = Some(rep);
    let back = std::sync::Arc::try_unwrap(back).map_err(|_| {
        Error::invalid(
            "patch request",
            "output reader still in use after verification",
        )
    })?;
    let sink = back
        .sink
        .into_inner()
        .map_err(|_| Error::invalid("patch request", "output lock poisoned"))?;
    Ok((summary, sink))
}

/// A finished sink read back through [`WriteAt::read_back`], as a [`ReadAt`].
struct ReadBack<W> {
    sink: Mutex<W>,
    size: u64,
}

impl<W: WriteAt + Send> ReadAt for ReadBack<W> {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        crate::io::check_range("written WIM", offset, buf.len() as u64, self.size)?;
        let mut s = self
            .sink
            .lock()
            .map_err(|_| Error::invalid("patch request", "output lock poisoned"))?;
        s.read_back(offset, buf)
    }
}

/// The WinRE dentry of an image and its data hash (`Some(None)`-like: found but empty is `None`
/// hash). Errors when the path exists but is not a plain file.
fn winre_hash(tree: &ImageTree, index: u32) -> Result<Option<(usize, Option<Hash>)>> {
    let i = match tree.lookup(WINRE_PATH) {
        Ok(i) => i,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let d = &tree.nodes[i];
    if d.is_dir() || d.is_reparse() {
        return Err(Error::unsupported(
            "servicing",
            format!(
                "image {index}: {} is a {}, not a file",
                WINRE_PATH.replace('/', "\\"),
                if d.is_dir() {
                    "directory"
                } else {
                    "reparse point"
                }
            ),
        ));
    }
    Ok(Some((
        i,
        d.data.filter(|h| *h != crate::wim::model::ZERO_HASH),
    )))
}

/// Point `node` (and every other name of its hard-link group) at `hash`.
fn set_data(tree: &mut ImageTree, node: usize, hash: Hash, time: Option<u64>) {
    let group = tree.nodes[node].hard_link_group;
    for (i, d) in tree.nodes.iter_mut().enumerate() {
        let linked = group != 0 && d.hard_link_group == group && !d.is_dir() && !d.is_reparse();
        if i == node || linked {
            d.data = Some(hash);
            if let Some(t) = time {
                d.last_write_time = t;
                d.last_access_time = t;
            }
        }
    }
}

/// A GUID that names this output: SHA-1 over the source GUID, the new WinREs and which image got
/// which (for one new WinRE: the same bytes as a per-image "selected" flag).
fn derive_guid(src_guid: [u8; 16], news: &[NewWinre<'_>], selected: &[Option<usize>]) -> [u8; 16] {
    let hashes: Vec<Hash> = news.iter().map(|n| n.sha1).collect();
    guid_of(src_guid, &hashes, selected)
}

fn guid_of(src_guid: [u8; 16], winres: &[Hash], selected: &[Option<usize>]) -> [u8; 16] {
    let mut m = Vec::with_capacity(64 + 20 * winres.len() + selected.len());
    m.extend_from_slice(b"mediaprep install.wim WinRE replacement\0");
    m.extend_from_slice(&src_guid);
    for h in winres {
        m.extend_from_slice(h);
    }
    // Group numbers from 1, 0 for an image left as it was (a group number past 254 cannot be
    // told from a smaller one here, which only costs GUID uniqueness, never correctness).
    m.extend(
        selected
            .iter()
            .map(|s| s.map_or(0, |g| g.saturating_add(1).min(255) as u8)),
    );
    let h = crate::hash::sha1(&m);
    let mut g = [0u8; 16];
    g.copy_from_slice(&h[..16]);
    g
}

/// A new WinRE must be the size it claims and start like a WIM.
fn check_new_winre(new: &NewWinre<'_>) -> Result<()> {
    if new.src.size() != new.size {
        return Err(Error::invalid(
            "patch request",
            format!(
                "the new WinRE is {} bytes, {} were announced",
                new.src.size(),
                new.size
            ),
        ));
    }
    let mut magic = [0u8; 8];
    if new.size < 208 || new.src.read_at(0, &mut magic).is_err() || &magic != b"MSWIM\0\0\0" {
        return Err(Error::invalid(
            "patch request",
            "the new WinRE is not a WIM file (no MSWIM header)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_depends_on_every_input() {
        let one = [Some(0), None];
        let a = guid_of([1; 16], &[[2; 20]], &one);
        assert_eq!(a, guid_of([1; 16], &[[2; 20]], &one));
        assert_ne!(a, guid_of([0; 16], &[[2; 20]], &one));
        assert_ne!(a, guid_of([1; 16], &[[3; 20]], &one));
        assert_ne!(a, guid_of([1; 16], &[[2; 20]], &[Some(0), Some(0)]));
        // Two new WinREs: which image got which one counts too.
        let two = guid_of([1; 16], &[[2; 20], [3; 20]], &[Some(0), Some(1)]);
        assert_ne!(
            two,
            guid_of([1; 16], &[[2; 20], [3; 20]], &[Some(1), Some(0)])
        );
        assert_ne!(two, a);
    }
}
