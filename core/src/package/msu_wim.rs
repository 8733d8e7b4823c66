//! Packages stored as WIM files: the 24H2+ `.msu` (a WIM, magic `MSWIM`, whose single image holds
//! `SSU-<build>-<arch>.cab`, `Windows11.0-KB…-x64.wim`, its `.psf`, `DesktopDeployment.cab` and
//! `*.AggregatedMetadata.cab`: domain.md "Real Microsoft package anatomy") and the LCU `.wim` inside
//! it (a CBS package: `update.mum`, manifests, `express.psf.cix.xml`).
//!
//! Members are read through [`crate::wim::Wim`] as [`BlobReader`]s: random access over the WIM
//! resource, decoded chunk by chunk (solid LZMS resources included), so an inner CAB is opened in
//! place and the `.msu` is never held in memory.

use std::sync::Arc;

use sha1::{Digest, Sha1};

use crate::io::{ReadAt, SharedReader};
use crate::package::{names, FolderCompression, Member};
use crate::wim::model::{Hash, ZERO_HASH};
use crate::wim::{BlobReader, Wim};
use crate::{Error, Result};

/// Most members listed from one WIM-stored package (real `.msu` files hold five; an LCU `.wim`
/// tens of thousands of manifests).
pub const MAX_MEMBERS: usize = 200_000;

/// True when `src` starts with the WIM magic `MSWIM\0\0\0`.
pub fn is_wim(src: &dyn ReadAt) -> bool {
    let mut magic = [0u8; 8];
    src.size() >= magic.len() as u64
        && src.read_at(0, &mut magic).is_ok()
        && &magic == crate::wim::format::MAGIC
}

/// The files of image 1 of a WIM-stored package, in the order [`WimMembers::open`] listed them.
pub(crate) struct WimMembers {
    wim: Arc<Wim>,
    /// Member name (`\`-separated) and data hash, aligned with the package's `members`.
    entries: Vec<(String, Option<Hash>)>,
}

impl WimMembers {
    /// Open `src` as a WIM and list every file of its image (there must be exactly one; `what`
    /// names the container in errors).
    pub(crate) fn open(src: SharedReader, what: &str) -> Result<(WimMembers, Vec<Member>)> {
        let wim = Wim::open(src).map_err(|e| in_container(what, e))?;
        let count = wim.images().len();
        if count != 1 {
            return Err(Error::invalid(
                "package",
                format!("{what}: the WIM holds {count} images; a package WIM holds exactly one"),
            ));
        }
        let tree = wim.image_tree(1).map_err(|e| in_container(what, e))?;
        let mut entries = Vec::new();
        let mut members = Vec::new();
        for n in tree.walk() {
            let d = &tree.nodes[n];
            if n == 0 || d.is_dir() {
                continue;
            }
            if entries.len() >= MAX_MEMBERS {
                return Err(Error::limit(
                    entries.len() + 1,
                    MAX_MEMBERS,
                    format!("{what}: more than {MAX_MEMBERS} files in the WIM image"),
                ));
            }
            let name = tree
                .path_of(n)
                .trim_start_matches(['/', '\\'])
                .replace('/', "\\");
            names::check_relative_path(&name, &format!("{what} member"))?;
            let hash = d.data.filter(|h| *h != ZERO_HASH);
            let size = match &hash {
                Some(h) => {
                    wim.blob(h)
                        .ok_or_else(|| {
                            Error::invalid(
                                "package",
                                format!(
                                "{what}: member {name:?} names a blob the WIM's blob table lacks"
                            ),
                            )
                        })?
                        .size
                }
                None => 0,
            };
            members.push(Member {
                name: name.clone(),
                size,
                folder: 0,
                compression: FolderCompression::None,
            });
            entries.push((name, hash));
        }
        Ok((
            WimMembers {
                wim: Arc::new(wim),
                entries,
            },
            members,
        ))
    }

    /// Index of a member: exact name first, then a unique case-insensitive match with either
    /// separator (as [`crate::package::CabArchive::find`]).
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        names::find(self.entries.iter().map(|(n, _)| n.as_str()), name)
    }

    /// Random-access reader over member `index`'s bytes.
    pub(crate) fn reader(&self, index: usize) -> Result<BlobReader> {
        let (name, hash) = self
            .entries
            .get(index)
            .ok_or_else(|| Error::not_found("WIM member", format!("WIM member {index}")))?;
        match hash {
            Some(h) => self
                .wim
                .open_blob(h)
                .map_err(|e| in_container(&format!("WIM member {name:?}"), e)),
            None => Ok(BlobReader::empty()),
        }
    }

    /// Member `index` into memory, refusing more than `limit` bytes; the SHA-1 the WIM records is
    /// checked, so a corrupt resource is an error, not wrong bytes.
    pub(crate) fn read(&self, index: usize, limit: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.stream_limited(index, limit, &mut |piece| {
            out.extend_from_slice(piece);
            Ok(())
        })?;
        Ok(out)
    }

    /// Feed member `index` to `sink` in pieces of at most 64 KiB, checking its SHA-1 at the end.
    pub(crate) fn stream(
        &self,
        index: usize,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        self.stream_limited(index, u64::MAX, sink)
    }

    fn stream_limited(
        &self,
        index: usize,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let r = self.reader(index)?;
        let name = &self.entries[index].0;
        if r.size() > limit {
            return Err(Error::limit(
                r.size(),
                limit,
                format!(
                    "WIM member {name:?} is {} bytes; the limit here is {limit}",
                    r.size()
                ),
            ));
        }
        let mut h = Sha1::new();
        let mut buf = vec![0u8; (64 << 10).min(r.size()) as usize];
        let mut at = 0u64;
        while at < r.size() {
            let n = buf.len().min((r.size() - at) as usize);
            r.read_at(at, &mut buf[..n])?;
            h.update(&buf[..n]);
            sink(&buf[..n])?;
            at += n as u64;
        }
        if let Some(want) = self.entries[index].1 {
            let got: Hash = h.finalize().into();
            if got != want {
                return Err(Error::DigestMismatch {
                    what: format!("WIM member {name:?}"),
                    expected: crate::hash::hex(&want),
                    actual: crate::hash::hex(&got),
                });
            }
        }
        Ok(())
    }
}

/// Put the container's name in front of a WIM error, keeping its kind where it has no text field.
fn in_container(what: &str, e: Error) -> Error {
    match e {
        Error::Invalid { reason: m, .. } => Error::invalid("package", format!("{what}: {m}")),
        Error::NotFound { what: w, name } => Error::NotFound {
            what: w,
            name: format!("{what}: {name}"),
        },
        other => other.reword_limit(|m| format!("{what}: {m}")),
    }
}
