//! ISO 9660 (+ Joliet) and UDF readers over [`ReadAt`].
//!
//! Windows installation media are UDF 1.02 bridge discs whose ISO 9660 tree often holds only a
//! README.TXT; the real tree, including an install.wim above 4 GiB, exists only in UDF. So UDF is
//! preferred whenever the volume recognition sequence announces it, then Joliet, then plain ISO 9660.
//!
//! Written here rather than taken from a crate (see formats.md §3): the available crates either pull
//! in native-only dependencies or read whole files into memory, while a file inside the image must be
//! a random-access [`ReadAt`] with `u64` offsets that never buffers more than the caller asks for.
//!
//! Every structure is validated before use (UDF tag checksums, CRCs and recorded locations; extents
//! inside the image), directory streams are bounded, and tree walks track visited directories and
//! depth so a corrupt image ends in an [`Error`], never a loop.

pub mod eltorito;
mod extents;
mod iso9660;
mod names;
mod udf;
mod udf_desc;
pub mod write;

/// The CRC of UDF descriptor tags (ECMA-167 7.2.6), for tools and tests that patch a descriptor.
pub use udf_desc::crc_itu as udf_tag_crc;

use crate::io::{Le, ReadAt, SharedReader};
use crate::{Error, Result};
use extents::{FileData, Run};
use std::collections::HashSet;

/// Deepest directory nesting followed (real media nest < 20 levels).
pub const MAX_DEPTH: usize = 64;
/// Largest directory stream read into memory.
pub const MAX_DIR_BYTES: u64 = 64 << 20;
/// Most entries accepted in one directory.
pub const MAX_DIR_ENTRIES: usize = 200_000;
/// Most extents accepted for one file.
pub const MAX_EXTENTS: usize = 1 << 20;

/// Which directory tree of the image lookups use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FsKind {
    /// ECMA-119 primary tree (8-bit names, `;1` suffixes stripped).
    Iso9660,
    /// Joliet supplementary tree (UCS-2 names).
    Joliet,
    /// UDF (ECMA-167 / OSTA UDF) tree.
    Udf,
}

/// One file system found on the image.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FsInfo {
    /// Which tree.
    pub kind: FsKind,
    /// Human-readable revision, e.g. `"UDF 1.02"`, `"ECMA-119"`, `"Joliet level 3"`.
    pub version: String,
    /// The volume label this tree records.
    pub label: Option<String>,
}

/// A file or directory inside the image.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IsoEntry {
    /// Full path with `/` separators, starting with `/` (the root is `/`).
    pub path: String,
    /// Last path component as recorded (empty for the root).
    pub name: String,
    /// True for directories.
    pub is_dir: bool,
    /// Size in bytes (directories: size of the directory stream).
    pub size: u64,
    /// Modification time, Unix seconds UTC, when recorded.
    pub mtime: Option<i64>,
}

/// A node of any tree, with what is needed to read it.
pub(crate) struct Node {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub mtime: Option<i64>,
    pub data: NodeData,
    /// Identity of the node's on-disc record, for cycle detection.
    pub id: u64,
}

/// Where a node's content is described.
#[derive(Clone, Debug)]
pub(crate) enum NodeData {
    /// Already known (ISO 9660 records, UDF embedded data).
    Ready(FileData),
    /// Behind the allocation descriptors of the UDF File Entry at (partition, block); resolved
    /// only when the content is needed, so one file with a broken allocation chain does not
    /// make its whole directory unlistable.
    UdfEntry(u16, u32),
}

/// What every file system tree offers the lookups.
pub(crate) trait Tree: Send + Sync {
    fn root(&self) -> Result<Node>;
    fn children(&self, dir: &Node) -> Result<Vec<Node>>;
    /// The child of `dir` called `name`: exact match first, then case-insensitive.
    fn child(&self, dir: &Node, name: &str) -> Result<Option<Node>> {
        let kids = self.children(dir)?;
        let idx = kids
            .iter()
            .position(|k| k.name == name)
            .or_else(|| kids.iter().position(|k| names::names_equal(&k.name, name)));
        Ok(idx.and_then(|i| kids.into_iter().nth(i)))
    }
    /// The extents (or bytes) of a node's content.
    fn file_data(&self, node: &Node) -> Result<FileData> {
        match &node.data {
            NodeData::Ready(d) => Ok(d.clone()),
            NodeData::UdfEntry(..) => Err(Error::invalid("ISO", "UDF entry outside a UDF volume")),
        }
    }
}

/// Stand-in that is never reached; keeps `tree()` total without a panic path.
struct NoTree;

impl Tree for NoTree {
    fn root(&self) -> Result<Node> {
        Err(Error::not_found("file system", "none selected"))
    }
    fn children(&self, _dir: &Node) -> Result<Vec<Node>> {
        Ok(Vec::new())
    }
}

/// One entry of [`IsoImage::walk_files`]: where a file starts and a reader of its content.
pub struct LocatedEntry {
    /// The entry as [`IsoImage::walk`] lists it.
    pub entry: IsoEntry,
    /// Byte offset in the image of the file's first recorded byte (None: empty, inline or sparse).
    pub start: Option<u64>,
    /// A reader of the file's content (None for directories).
    pub reader: Option<SharedReader>,
}

/// An opened ISO / UDF image.
pub struct IsoImage {
    src: SharedReader,
    fs: Vec<FsInfo>,
    active: FsKind,
    trees: Vec<(FsKind, Box<dyn Tree>)>,
}

/// Quick check for the media layer: does the volume recognition area look like ISO 9660 or UDF?
pub fn looks_like_iso(src: &dyn ReadAt) -> bool {
    let mut id = [0u8; 6];
    (16..24u64).any(|s| {
        src.read_at(s * 2048, &mut id).is_ok()
            && matches!(&id[1..6], b"CD001" | b"BEA01" | b"NSR02" | b"NSR03")
    })
}

impl std::fmt::Debug for IsoImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsoImage")
            .field("size", &self.src.size())
            .field("filesystems", &self.fs)
            .field("active", &self.active)
            .finish()
    }
}

/// A truncated download is the most common broken ISO: its descriptors are intact but the files
/// are cut off. The PVD's volume space size (blocks × logical block size) says how long the image
/// is; the file may be a little shorter (trailing padding sectors are sometimes dropped), not more.
const TRUNCATION_SLACK: u64 = 1 << 20;

fn check_volume_fits(pvd: &[u8], file_size: u64) -> Result<()> {
    if pvd.len() < 132 {
        return Ok(());
    }
    let p = Le::new(pvd, "ISO 9660 primary volume descriptor");
    let blocks = u64::from(p.u32(80)?);
    let block = u64::from(p.u16(128)?);
    let claimed = blocks.saturating_mul(block);
    if claimed > file_size.saturating_add(TRUNCATION_SLACK) {
        return Err(Error::Truncated {
            structure: "ISO volume (the file looks cut off, e.g. an incomplete download)",
            offset: 0,
            end: claimed,
            size: file_size,
        });
    }
    Ok(())
}

impl IsoImage {
    /// Open an image; UDF is used when present (its errors are reported, not hidden behind the
    /// ISO 9660 tree, which on Microsoft media would show only README.TXT), then Joliet, then ISO 9660.
    pub fn open(src: SharedReader) -> Result<IsoImage> {
        let d = iso9660::scan(&src)?;
        if let Some(pvd) = &d.pvd {
            check_volume_fits(pvd, src.size())?;
        }
        let mut fs = Vec::new();
        let mut trees: Vec<(FsKind, Box<dyn Tree>)> = Vec::new();
        if let Some(pvd) = &d.pvd {
            trees.push((
                FsKind::Iso9660,
                Box::new(iso9660::IsoTree::new(src.clone(), pvd, false)?),
            ));
            fs.push(FsInfo {
                kind: FsKind::Iso9660,
                version: "ECMA-119".into(),
                label: iso9660::volume_id(pvd, false),
            });
        }
        if let Some(svd) = &d.joliet {
            trees.push((
                FsKind::Joliet,
                Box::new(iso9660::IsoTree::new(src.clone(), svd, true)?),
            ));
            let level = match &svd[88..91] {
                b"%/@" => 1,
                b"%/C" => 2,
                _ => 3,
            };
            fs.push(FsInfo {
                kind: FsKind::Joliet,
                version: format!("Joliet level {level}"),
                label: iso9660::volume_id(svd, true),
            });
        }
        if let Some(nsr) = d.nsr {
            let vol = udf::UdfVolume::open(src.clone())?;
            fs.push(FsInfo {
                kind: FsKind::Udf,
                version: format!(
                    "UDF {:x}.{:02x} (NSR0{nsr})",
                    vol.revision >> 8,
                    vol.revision & 0xFF
                ),
                label: vol.label.clone(),
            });
            trees.push((FsKind::Udf, Box::new(vol)));
        }
        let active = trees
            .iter()
            .map(|(k, _)| *k)
            .max_by_key(|k| match k {
                FsKind::Udf => 3,
                FsKind::Joliet => 2,
                FsKind::Iso9660 => 1,
            })
            .ok_or_else(|| {
                Error::malformed(
                    "ISO volume recognition sequence",
                    16 * 2048,
                    "no ISO 9660 primary volume descriptor and no UDF NSR descriptor",
                )
            })?;
        let img = IsoImage {
            src,
            fs,
            active,
            trees,
        };
        // Fail now rather than on first use if the active root cannot be read.
        img.tree().root()?;
        Ok(img)
    }

    fn tree(&self) -> &dyn Tree {
        // `active` is always one of the kinds in `trees` (set in `open`/`use_filesystem`).
        self.trees
            .iter()
            .find(|(k, _)| *k == self.active)
            .map(|(_, t)| &**t)
            .unwrap_or(&NoTree)
    }

    /// Switch lookups to another tree found on the image (e.g. to inspect the ISO 9660 tree of a
    /// UDF bridge disc); fails with [`Error::NotFound`] if the image has no such tree.
    pub fn use_filesystem(&mut self, kind: FsKind) -> Result<()> {
        let (_, t) = self.trees.iter().find(|(k, _)| *k == kind).ok_or_else(|| {
            Error::not_found(
                "file system",
                format!("no {kind:?} file system on this image"),
            )
        })?;
        t.root()?;
        self.active = kind;
        Ok(())
    }

    /// The volume label of the active tree (UDF logical volume id, Joliet or PVD volume id).
    pub fn volume_label(&self) -> Option<String> {
        self.fs
            .iter()
            .find(|f| f.kind == self.active)
            .and_then(|f| f.label.clone())
            .or_else(|| self.fs.iter().find_map(|f| f.label.clone()))
    }

    /// Every file system found, in on-disc order (ISO 9660, Joliet, UDF).
    pub fn filesystems(&self) -> Vec<FsInfo> {
        self.fs.clone()
    }

    /// Which tree lookups use.
    pub fn active_filesystem(&self) -> FsKind {
        self.active
    }

    fn resolve(&self, path: &str) -> Result<(String, Node)> {
        let parts = names::split_path(path)?;
        let mut node = self.tree().root()?;
        let mut full = String::from("/");
        for part in parts {
            if !node.is_dir {
                return Err(Error::not_found(
                    "directory",
                    format!("{path}: {full} is not a directory"),
                ));
            }
            let kid = self.tree().child(&node, part)?.ok_or_else(|| {
                Error::not_found("ISO path", format!("{path} (no {part:?} in {full})"))
            })?;
            full = names::join(&full, &kid.name);
            node = kid;
        }
        Ok((full, node))
    }

    fn entry(path: String, n: &Node) -> IsoEntry {
        IsoEntry {
            path,
            name: n.name.clone(),
            is_dir: n.is_dir,
            size: n.size,
            mtime: n.mtime,
        }
    }

    /// List a directory (`/` or `\` separators, case-insensitive).
    pub fn list(&self, path: &str) -> Result<Vec<IsoEntry>> {
        let (full, node) = self.resolve(path)?;
        if !node.is_dir {
            return Err(Error::invalid(
                "ISO",
                format!("{full} is a file, not a directory"),
            ));
        }
        Ok(self
            .tree()
            .children(&node)?
            .iter()
            .map(|k| Self::entry(names::join(&full, &k.name), k))
            .collect())
    }

    /// Describe one path.
    pub fn stat(&self, path: &str) -> Result<IsoEntry> {
        let (full, node) = self.resolve(path)?;
        Ok(Self::entry(full, &node))
    }

    /// Open a file as a reader of its own; reads go straight to the image through the extents.
    pub fn open_file(&self, path: &str) -> Result<SharedReader> {
        let (full, node) = self.resolve(path)?;
        if node.is_dir {
            return Err(Error::invalid("ISO", format!("{full} is a directory")));
        }
        self.tree().file_data(&node)?.reader(&self.src, node.size)
    }

    /// Read a small file whole (e.g. `sources/idwbinfo.txt`), refusing files above `limit` bytes.
    pub fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let r = self.open_file(path)?;
        crate::io::read_vec(&*r, "file inside the ISO", 0, r.size(), limit)
    }

    /// The whole tree, depth-first, parents before children, root excluded.
    ///
    /// Fails with [`Error::Limit`] past `limit` entries or [`MAX_DEPTH`] levels, and with
    /// [`Error::Malformed`] when a directory is reached twice (a cycle or a shared directory).
    pub fn walk(&self, limit: usize) -> Result<Vec<IsoEntry>> {
        Ok(self
            .walk_inner(limit, false)?
            .into_iter()
            .map(|l| l.entry)
            .collect())
    }

    /// [`IsoImage::walk`] with each file's first byte offset in the image and a reader of it
    /// (what a rebuild needs: the boot catalog names boot images by sector).
    pub fn walk_files(&self, limit: usize) -> Result<Vec<LocatedEntry>> {
        self.walk_inner(limit, true)
    }

    /// The El Torito boot catalog, if the image has one.
    pub fn boot_catalog(&self) -> Result<Option<eltorito::BootCatalog>> {
        eltorito::read_boot_catalog(&*self.src)
    }

    /// The reader the image was opened over.
    pub fn source(&self) -> SharedReader {
        self.src.clone()
    }

    fn walk_inner(&self, limit: usize, locate: bool) -> Result<Vec<LocatedEntry>> {
        let root = self.tree().root()?;
        let mut visited = HashSet::from([root.id]);
        let mut out = Vec::new();
        let mut stack = vec![(String::from("/"), root, 0usize)];
        while let Some((path, dir, depth)) = stack.pop() {
            let kids = self.tree().children(&dir)?;
            let mut subdirs = Vec::new();
            for k in kids {
                if out.len() >= limit {
                    return Err(Error::limit(
                        out.len() + 1,
                        limit,
                        format!("image holds more than {limit} entries"),
                    ));
                }
                let p = names::join(&path, &k.name);
                let (start, reader) = if locate && !k.is_dir {
                    let data = self.tree().file_data(&k)?;
                    let start = match &data {
                        FileData::Extents(x) => x.iter().find_map(|e| match e.run {
                            Run::Recorded(off) => Some(off),
                            Run::Zero => None,
                        }),
                        FileData::Inline(_) => None,
                    };
                    (start, Some(data.reader(&self.src, k.size)?))
                } else {
                    (None, None)
                };
                out.push(LocatedEntry {
                    entry: Self::entry(p.clone(), &k),
                    start,
                    reader,
                });
                if k.is_dir {
                    if depth + 1 >= MAX_DEPTH {
                        return Err(Error::limit(
                            depth + 1,
                            MAX_DEPTH,
                            format!("{p}: nested deeper than {MAX_DEPTH}"),
                        ));
                    }
                    if !visited.insert(k.id) {
                        return Err(Error::malformed(
                            "directory tree",
                            k.id & 0xFFFF_FFFF,
                            format!("{p} points at a directory already visited (cycle)"),
                        ));
                    }
                    subdirs.push((p, k, depth + 1));
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(out)
    }
}
