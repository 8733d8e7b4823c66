//! Rebuilding an ISO: the source image's tree with some files replaced or added, written as
//! ISO 9660 + Joliet + UDF 1.02 bridge (or, when the source is Microsoft's UDF-only layout, its
//! small ISO 9660 tree + UDF), with the source's volume label and El Torito boot catalog.
//!
//! The layout is computed first from sizes alone ([`IsoPlan::new`]); [`IsoPlan::write`] then makes
//! one forward pass over the output, copying unchanged files straight from the source image. The
//! output depends only on the source and the replacements (no clock, no randomness).
//! [`IsoPlan::verify`] re-reads the written image with our reader: tree, sizes, every replaced
//! file's SHA-256, and the boot catalog. Facts and their sources: docs/formats/iso-write.md.

mod ecma119;
mod tree;
mod udf;

use crate::hash::hex;
use crate::io::{OutputStore, Part, Progress, SharedReader, WriteAt};
use crate::iso::eltorito::{BootCatalog, EL_TORITO_ID};
use crate::iso::{FsKind, IsoImage};
use crate::{Error, Result};
use ecma119::{Names, Placed, SECTOR};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tree::{Content, WTree, MAX_ENTRIES};

/// First sector of the UDF partition (after the anchor at 256).
const PART_START: u64 = 257;
/// Main and reserve UDF volume descriptor sequences and the integrity sequence.
const VDS_MAIN: u64 = 32;
const VDS_RESERVE: u64 = 48;
const LVID_SECTOR: u64 = 64;
const ANCHOR: u64 = 256;
/// Bytes copied per step.
const COPY_PIECE: usize = 4 << 20;

/// A file to put into the rebuilt image.
pub struct Replacement {
    /// Path inside the image (`/sources/install.wim`; `\` works too; case-insensitive match).
    pub path: String,
    /// The new content.
    pub data: SharedReader,
    /// A source file this one takes the place of, in the same directory: that entry is renamed
    /// to `path`'s name (e.g. `/sources/install.esd` → `install.wim` when the serviced ESD is
    /// written as a WIM; docs/decisions.md). A missing entry is not an error.
    pub replaces: Option<String>,
}

/// Which file systems the rebuilt image carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum IsoLayout {
    /// ISO 9660 + Joliet + UDF, all three describing the whole tree.
    Bridge,
    /// Microsoft's layout: the source's own (small) ISO 9660 tree, the whole tree in UDF only.
    UdfOnly,
}

/// A boot image and where it goes.
struct BootImage {
    /// Index into the catalog's entries.
    entry: usize,
    /// Node of the main tree holding it, or hidden bytes copied from the source.
    node: Option<usize>,
    hidden: Option<(u64, u64)>,
}

/// One copy of the data pass: (sector, (node, tree) or None for hidden bytes, source offset, length).
type CopyItem = (u64, Option<(usize, u8)>, u64, u64);

/// A computed layout, ready to write.
pub struct IsoPlan {
    layout: IsoLayout,
    main: WTree,
    /// The primary tree when it differs from `main` (UDF-only layout).
    primary: Option<WTree>,
    replacements: Vec<String>,
    label: String,
    primary_label: String,
    time: i64,
    catalog: Option<BootCatalog>,
    boot: Vec<BootImage>,
    catalog_sector: u64,
    total_sectors: u64,
    /// Sorted (sector, bytes) of every structure before the file data.
    meta: Vec<(u64, Vec<u8>)>,
    /// (sector, node, tree 0 = main / 1 = primary) of every file with content, in sector order.
    data: Vec<(u64, usize, u8)>,
    hidden: Vec<(u64, u64, u64)>,
    source: SharedReader,
}

/// What [`IsoPlan::write`] measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IsoWritten {
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of every replaced or added file as written, by path.
    pub replaced: Vec<(String, String)>,
}

/// Files and directories of a tree, as (path, is_dir, size), sorted.
fn listing(t: &WTree) -> Vec<(String, bool, u64)> {
    let mut v: Vec<_> = (1..t.nodes.len())
        .map(|i| (t.path(i), t.nodes[i].is_dir, t.nodes[i].size))
        .collect();
    v.sort();
    v
}

struct Alloc {
    next: u64,
}

impl Alloc {
    fn take(&mut self, bytes: u64) -> u64 {
        let at = self.next;
        self.next += bytes.div_ceil(SECTOR).max(1);
        at
    }
}

/// Per-tree ISO 9660 placement.
struct IsoPlaced {
    names: Names,
    dir: Vec<(u64, u64)>,
    l_table: u64,
    m_table: u64,
    pt_size: u64,
}

fn place_iso(t: &WTree, joliet: bool, a: &mut Alloc) -> Result<IsoPlaced> {
    let names = ecma119::names(t, joliet)?;
    let pt_size = ecma119::path_table_size(&names);
    let l_table = a.take(pt_size);
    let m_table = a.take(pt_size);
    let mut dir = vec![(0, 0); t.nodes.len()];
    for &d in &names.dirs {
        let size = ecma119::dir_size(t, &names, d);
        dir[d] = (a.take(size), size);
    }
    Ok(IsoPlaced {
        names,
        dir,
        l_table,
        m_table,
        pt_size,
    })
}

fn iso_meta(t: &WTree, p: &IsoPlaced, file: &[u64], meta: &mut Vec<(u64, Vec<u8>)>) -> Result<()> {
    meta.push((p.l_table, ecma119::path_table(&p.names, t, &p.dir, false)?));
    meta.push((p.m_table, ecma119::path_table(&p.names, t, &p.dir, true)?));
    let at = Placed { dir: &p.dir, file };
    for &d in &p.names.dirs {
        meta.push((p.dir[d].0, ecma119::render_dir(t, &p.names, d, &at)?));
    }
    Ok(())
}

fn max_mtime(t: &WTree) -> i64 {
    t.nodes.iter().map(|n| n.mtime).max().unwrap_or(0)
}

impl IsoPlan {
    /// Lay out `src`'s tree with `replacements` over it.
    pub fn new(src: &IsoImage, replacements: Vec<Replacement>) -> Result<IsoPlan> {
        let fs = src.filesystems();
        let has = |k: FsKind| fs.iter().any(|f| f.kind == k);
        let label_of = |k: FsKind| {
            fs.iter()
                .find(|f| f.kind == k)
                .and_then(|f| f.label.clone())
        };
        let label = src.volume_label().unwrap_or_else(|| "CDROM".into());
        let (mut main, starts) = tree::tree_of(src, 0)?;
        // Files without a recorded time get the newest time in the tree, so output never depends
        // on the clock.
        let time = max_mtime(&main);
        main.nodes[0].mtime = time;
        let mut primary = None;
        let mut layout = IsoLayout::Bridge;
        if has(FsKind::Udf) && !has(FsKind::Joliet) && has(FsKind::Iso9660) {
            let mut iso = IsoImage::open(src.source())?;
            iso.use_filesystem(FsKind::Iso9660)?;
            let (t, _) = tree::tree_of(&iso, time)?;
            if t.nodes.len() < main.nodes.len() {
                layout = IsoLayout::UdfOnly;
                primary = Some(t);
            }
        }
        let primary_label = label_of(FsKind::Iso9660).unwrap_or_else(|| label.clone());
        let mut names = Vec::with_capacity(replacements.len());
        for (i, r) in replacements.into_iter().enumerate() {
            if let Some(old) = &r.replaces {
                main.rename(old, &r.path)?;
            }
            let k = main.replace(&r.path, r.data, i)?;
            names.push(main.path(k));
        }
        // El Torito: boot images that are files stay files; others are copied as hidden bytes.
        let catalog = src.boot_catalog()?;
        let mut boot = Vec::new();
        if let Some(c) = &catalog {
            let cat_at = u64::from(c.sector) * SECTOR;
            if let Some(&k) = starts.get(&cat_at) {
                if main.nodes[k].replaced.is_none() {
                    main.nodes[k].content = Content::Catalog;
                    main.nodes[k].size = SECTOR;
                }
            }
            for (e, entry) in c.entries.iter().enumerate() {
                let at = u64::from(entry.load_rba) * SECTOR;
                match starts.get(&at) {
                    Some(&k) => boot.push(BootImage {
                        entry: e,
                        node: Some(k),
                        hidden: None,
                    }),
                    None => {
                        let len = entry.image_len().ok_or_else(|| {
                            Error::unsupported("ISO rebuild", format!(
                                "boot entry {e} (media type {}, {} sectors) is not a file in the tree and its size is unknown",
                                entry.media_type, entry.sector_count
                            ))
                        })?;
                        crate::io::check_range(
                            "El Torito boot image",
                            at,
                            len,
                            src.source().size(),
                        )?;
                        boot.push(BootImage {
                            entry: e,
                            node: None,
                            hidden: Some((at, len)),
                        });
                    }
                }
            }
        }
        let mut plan = IsoPlan {
            layout,
            main,
            primary,
            replacements: names,
            label,
            primary_label,
            time,
            catalog,
            boot,
            catalog_sector: 0,
            total_sectors: 0,
            meta: Vec::new(),
            data: Vec::new(),
            hidden: Vec::new(),
            source: src.source(),
        };
        plan.lay_out()?;
        Ok(plan)
    }

    fn lay_out(&mut self) -> Result<()> {
        let t = &self.main;
        let mut a = Alloc {
            next: PART_START + 2,
        };
        let joliet = self.layout == IsoLayout::Bridge;
        let prim_tree = self.primary.as_ref().unwrap_or(t);
        let prim = place_iso(prim_tree, false, &mut a)?;
        let jol = if joliet {
            Some(place_iso(t, true, &mut a)?)
        } else {
            None
        };
        // UDF: one File Entry block per node, then each directory's FID stream.
        let n = t.nodes.len();
        let mut fe = vec![0u64; n];
        for f in fe.iter_mut() {
            *f = a.take(SECTOR);
        }
        let mut stream = vec![(0u64, 0u64); n];
        for (i, node) in t.nodes.iter().enumerate() {
            if node.is_dir {
                let len = udf::dir_stream_len(t, i)?;
                stream[i] = (a.take(len), len);
            }
        }
        self.catalog_sector = match &self.catalog {
            Some(_) => a.take(SECTOR),
            None => 0,
        };
        // Hidden boot images and the primary-only files (README.TXT) come before the tree's data:
        // UDF readers take the end of the last UDF extent for the end of the volume.
        for b in &self.boot {
            if let Some((from, len)) = b.hidden {
                let at = a.take(len);
                self.hidden.push((at, from, len));
            }
        }
        let mut prim_file = Vec::new();
        if let Some(p) = &self.primary {
            prim_file = vec![0u64; p.nodes.len()];
            for i in p.depth_first() {
                if let Content::Bytes(_) = p.nodes[i].content {
                    prim_file[i] = a.take(p.nodes[i].size);
                    self.data.push((prim_file[i], i, 1));
                }
            }
        }
        // File data in depth-first order, each file sector-aligned.
        let mut file = vec![0u64; n];
        for i in t.depth_first() {
            let node = &t.nodes[i];
            match node.content {
                Content::Bytes(_) => {
                    file[i] = a.take(node.size);
                    self.data.push((file[i], i, 0));
                }
                Content::Catalog => file[i] = self.catalog_sector,
                Content::Nothing => {}
            }
        }
        if self.primary.is_none() {
            prim_file = file.clone();
        }
        let last = a.take(SECTOR);
        self.total_sectors = last + 1;
        let to32 = |s: u64| {
            u32::try_from(s)
                .map_err(|_| Error::limit(s, u32::MAX, "image larger than 2^32 sectors"))
        };
        let lbn = |s: u64| to32(s - PART_START);

        // Structures before the data, by sector.
        let mut meta: Vec<(u64, Vec<u8>)> = Vec::new();
        let pvd = ecma119::volume_descriptor(
            false,
            &ecma119::VolumeFields {
                label: &self.primary_label,
                total_sectors: self.total_sectors,
                path_table_size: prim.pt_size,
                l_table: prim.l_table,
                m_table: prim.m_table,
                root: prim.dir[0],
                time: self.time,
            },
        )?;
        let mut vd = 16u64;
        meta.push((vd, pvd));
        vd += 1;
        if self.catalog.is_some() {
            let mut b = vec![0u8; SECTOR as usize];
            b[1..6].copy_from_slice(b"CD001");
            b[6] = 1;
            b[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
            b[0x47..0x4B].copy_from_slice(&to32(self.catalog_sector)?.to_le_bytes());
            meta.push((vd, b));
            vd += 1;
        }
        if let Some(j) = &jol {
            let svd = ecma119::volume_descriptor(
                true,
                &ecma119::VolumeFields {
                    label: &self.label,
                    total_sectors: self.total_sectors,
                    path_table_size: j.pt_size,
                    l_table: j.l_table,
                    m_table: j.m_table,
                    root: j.dir[0],
                    time: self.time,
                },
            )?;
            meta.push((vd, svd));
            vd += 1;
        }
        for id in [&b"CD001"[..], b"BEA01", b"NSR02", b"TEA01"] {
            let mut b = vec![0u8; SECTOR as usize];
            b[0] = if id == b"CD001" { 255 } else { 0 };
            b[1..6].copy_from_slice(id);
            b[6] = 1;
            meta.push((vd, b));
            vd += 1;
        }
        let files = t.nodes.iter().filter(|x| !x.is_dir).count();
        let vol = udf::Volume {
            label: &self.label,
            time: self.time,
            part_start: to32(PART_START)?,
            part_len: to32(last - PART_START)?,
            lvid_sector: to32(LVID_SECTOR)?,
            files: files as u32,
            dirs: (n - files) as u32,
            next_unique: udf::unique_id(n),
        };
        meta.push((VDS_MAIN, udf::vds(&vol, VDS_MAIN as u32)));
        meta.push((VDS_RESERVE, udf::vds(&vol, VDS_RESERVE as u32)));
        meta.push((LVID_SECTOR, udf::lvid(&vol)));
        meta.push((
            ANCHOR,
            udf::avdp(ANCHOR as u32, VDS_MAIN as u32, VDS_RESERVE as u32),
        ));
        meta.push((PART_START, udf::fsd(&vol, lbn(fe[0])?)));
        iso_meta(prim_tree, &prim, &prim_file, &mut meta)?;
        if let Some(j) = &jol {
            iso_meta(t, j, &file, &mut meta)?;
        }
        let fe_lbn = fe.iter().map(|&s| lbn(s)).collect::<Result<Vec<_>>>()?;
        for (i, node) in t.nodes.iter().enumerate() {
            let (data_lbn, len) = if node.is_dir {
                (lbn(stream[i].0)?, stream[i].1)
            } else if node.size == 0 {
                (0, 0)
            } else {
                (lbn(file[i])?, node.size)
            };
            meta.push((fe[i], udf::file_entry(t, i, fe_lbn[i], data_lbn, len)?));
            if node.is_dir {
                meta.push((
                    stream[i].0,
                    udf::dir_stream(t, i, &fe_lbn, lbn(stream[i].0)?),
                ));
            }
        }
        if let Some(c) = &self.catalog {
            meta.push((self.catalog_sector, self.render_catalog(c, &file)?));
        }
        meta.sort_by_key(|(s, _)| *s);
        for w in meta.windows(2) {
            if w[0].0 * SECTOR + w[0].1.len() as u64 > w[1].0 * SECTOR {
                return Err(Error::invalid(
                    "ISO writer",
                    format!("ISO layout overlap at sector {} (a bug)", w[1].0),
                ));
            }
        }
        self.meta = meta;
        // The second anchor, in the last sector, is written after the data.
        self.data.sort_unstable();
        Ok(())
    }

    fn render_catalog(&self, c: &BootCatalog, file: &[u64]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; SECTOR as usize];
        for (i, r) in c.records.iter().enumerate() {
            out[i * 32..i * 32 + 32].copy_from_slice(r);
        }
        let mut hidden = self.hidden.iter();
        for b in &self.boot {
            let sector = match b.node {
                Some(k) => file[k],
                None => hidden.next().map(|h| h.0).unwrap_or(0),
            };
            let rec = c.entries[b.entry].record;
            let rba = u32::try_from(sector)
                .map_err(|_| Error::limit(sector, u32::MAX, "boot image beyond sector 2^32"))?;
            out[rec * 32 + 8..rec * 32 + 12].copy_from_slice(&rba.to_le_bytes());
        }
        Ok(out)
    }

    /// Bytes the image will have.
    pub fn size(&self) -> u64 {
        self.total_sectors * SECTOR
    }

    /// Which file systems the image carries.
    pub fn layout(&self) -> IsoLayout {
        self.layout
    }

    /// The volume label written.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Write the image in one forward pass.
    pub fn write(&self, sink: &mut dyn WriteAt, progress: &dyn Progress) -> Result<IsoWritten> {
        let total = self.size();
        let mut pos = 0u64;
        let zeros_to = |sink: &mut dyn WriteAt, pos: &mut u64, to: u64| -> Result<()> {
            static Z: [u8; 65536] = [0u8; 65536];
            if *pos > to {
                return Err(Error::invalid(
                    "ISO writer",
                    format!("ISO writer asked to go back from {pos} to {to} (a bug)"),
                ));
            }
            while *pos < to {
                let n = (to - *pos).min(Z.len() as u64) as usize;
                sink.write_at(*pos, &Z[..n])?;
                *pos += n as u64;
            }
            Ok(())
        };
        for (s, b) in &self.meta {
            zeros_to(sink, &mut pos, s * SECTOR)?;
            sink.write_at(pos, b)?;
            pos += b.len() as u64;
        }
        let mut buf = vec![0u8; COPY_PIECE];
        let mut replaced = Vec::new();
        let mut copy = |sink: &mut dyn WriteAt,
                        pos: &mut u64,
                        r: &dyn crate::io::ReadAt,
                        from: u64,
                        len: u64,
                        mut hash: Option<&mut Sha256>|
         -> Result<()> {
            let mut done = 0u64;
            while done < len {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let n = (len - done).min(COPY_PIECE as u64) as usize;
                r.read_at(from + done, &mut buf[..n])?;
                if let Some(h) = hash.as_deref_mut() {
                    h.update(&buf[..n]);
                }
                sink.write_at(*pos, &buf[..n])?;
                *pos += n as u64;
                done += n as u64;
                progress.update("write ISO", *pos, total);
            }
            Ok(())
        };
        // Tree files and hidden boot images, in sector order (one forward pass).
        let mut items: Vec<CopyItem> = self
            .data
            .iter()
            .map(|&(s, i, which)| (s, Some((i, which)), 0, 0))
            .chain(
                self.hidden
                    .iter()
                    .map(|&(s, from, len)| (s, None, from, len)),
            )
            .collect();
        items.sort_unstable_by_key(|x| x.0);
        for (s, item, from, len) in items {
            let Some((i, which)) = item else {
                zeros_to(sink, &mut pos, s * SECTOR)?;
                copy(sink, &mut pos, &*self.source, from, len, None)?;
                continue;
            };
            let t = if which == 0 {
                &self.main
            } else {
                self.primary.as_ref().unwrap_or(&self.main)
            };
            let node = &t.nodes[i];
            let Content::Bytes(r) = &node.content else {
                continue;
            };
            if r.size() != node.size {
                return Err(Error::invalid(
                    "ISO writer",
                    format!(
                        "{}: the file is now {} bytes, {} when the layout was made",
                        t.path(i),
                        r.size(),
                        node.size
                    ),
                ));
            }
            zeros_to(sink, &mut pos, s * SECTOR)?;
            let mut h = Sha256::new();
            let want_hash = which == 0 && node.replaced.is_some();
            copy(
                sink,
                &mut pos,
                &**r,
                0,
                node.size,
                want_hash.then_some(&mut h),
            )?;
            if want_hash {
                replaced.push((t.path(i), hex(&h.finalize())));
            }
        }
        let anchor = self.total_sectors - 1;
        zeros_to(sink, &mut pos, anchor * SECTOR)?;
        let a = udf::avdp(
            u32::try_from(anchor).map_err(|_| Error::limit(anchor, u32::MAX, "image too large"))?,
            VDS_MAIN as u32,
            VDS_RESERVE as u32,
        );
        sink.write_at(pos, &a)?;
        pos += a.len() as u64;
        sink.flush()?;
        if pos != total {
            return Err(Error::invalid(
                "ISO writer",
                format!("ISO writer wrote {pos} bytes, planned {total}"),
            ));
        }
        replaced.sort();
        Ok(IsoWritten {
            size: pos,
            replaced,
        })
    }

    /// Re-read the written image with our reader: every tree lists the planned entries and sizes,
    /// every replaced file hashes as written, and the boot catalog holds the source's entries.
    pub fn verify(
        &self,
        written: &IsoWritten,
        out: SharedReader,
        progress: &dyn Progress,
    ) -> Result<()> {
        if out.size() != self.size() {
            return Err(Error::invalid(
                "ISO writer",
                format!(
                    "written image is {} bytes, planned {}",
                    out.size(),
                    self.size()
                ),
            ));
        }
        let mut img = IsoImage::open(out.clone())?;
        let want = listing(&self.main);
        let check = |img: &IsoImage, want: &[(String, bool, u64)], what: &str| -> Result<()> {
            let got = {
                let mut v: Vec<_> = img
                    .walk(MAX_ENTRIES)?
                    .into_iter()
                    .map(|e| (e.path, e.is_dir, if e.is_dir { 0 } else { e.size }))
                    .collect();
                v.sort();
                v
            };
            if got != want {
                let diff = want
                    .iter()
                    .find(|w| !got.contains(w))
                    .map(|w| format!("missing {w:?}"))
                    .or_else(|| {
                        got.iter()
                            .find(|g| !want.contains(g))
                            .map(|g| format!("unexpected {g:?}"))
                    })
                    .unwrap_or_default();
                return Err(Error::invalid(
                    "ISO writer",
                    format!("the written {what} tree differs from the plan: {diff}"),
                ));
            }
            Ok(())
        };
        img.use_filesystem(FsKind::Udf)?;
        check(&img, &want, "UDF")?;
        if self.layout == IsoLayout::Bridge {
            img.use_filesystem(FsKind::Joliet)?;
            check(&img, &want, "Joliet")?;
            img.use_filesystem(FsKind::Udf)?;
        }
        for (path, sum) in &written.replaced {
            let r = img.open_file(path)?;
            let d = crate::hash::hash_reader(&*r, 8 << 20, progress)?;
            if hex(&d.sha256) != *sum {
                return Err(Error::DigestMismatch {
                    what: format!("{path} in the written ISO"),
                    expected: sum.clone(),
                    actual: hex(&d.sha256),
                });
            }
        }
        if let Some(c) = &self.catalog {
            let got = img.boot_catalog()?.ok_or_else(|| {
                Error::invalid("ISO writer", "the written ISO has no boot catalog")
            })?;
            let strip = |c: &BootCatalog| {
                c.entries
                    .iter()
                    .map(|e| (e.platform, e.media_type, e.load_segment, e.sector_count))
                    .collect::<Vec<_>>()
            };
            if strip(&got) != strip(c) {
                return Err(Error::invalid(
                    "ISO writer",
                    "the written boot catalog's entries differ from the source's",
                ));
            }
        }
        Ok(())
    }

    /// The replaced or added paths as they appear in the image.
    pub fn replaced_paths(&self) -> &[String] {
        &self.replacements
    }
}

/// Plan, write through `store` (its [`Part::Output`]), re-read, verify and commit; also returns
/// the digests of the file as read back.
pub fn write_iso<S: OutputStore>(
    src: &IsoImage,
    replacements: Vec<Replacement>,
    store: &mut S,
    progress: &dyn Progress,
) -> Result<(IsoPlan, IsoWritten, crate::hash::Digests)> {
    let plan = IsoPlan::new(src, replacements)?;
    store.reserve(plan.size())?;
    let mut sink = store.create(Part::Output)?;
    let res = plan.write(&mut sink, progress);
    let written = match res {
        Ok(w) => w,
        Err(e) => {
            drop(sink);
            store.discard(Part::Output);
            return Err(e);
        }
    };
    let reader = match store.reopen(Part::Output, sink) {
        Ok(r) => r,
        Err(e) => {
            store.discard(Part::Output);
            return Err(e);
        }
    };
    let checked = plan
        .verify(&written, reader.clone(), progress)
        .and_then(|_| crate::hash::hash_reader(&*reader, 8 << 20, progress));
    drop(reader);
    let digests = match checked {
        Ok(d) => d,
        Err(e) => {
            store.discard(Part::Output);
            return Err(e);
        }
    };
    store.commit(Part::Output)?;
    Ok((plan, written, digests))
}

/// Sizes by path of the plan's main tree (for tests and reports).
pub fn planned_files(plan: &IsoPlan) -> HashMap<String, u64> {
    (1..plan.main.nodes.len())
        .filter(|&i| !plan.main.nodes[i].is_dir)
        .map(|i| (plan.main.path(i), plan.main.nodes[i].size))
        .collect()
}

/// One entry of [`merged_tree`].
pub struct TreeItem {
    /// Path in the image (`/sources/install.wim`).
    pub path: String,
    /// True for directories.
    pub is_dir: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// The content (None for directories and empty files).
    pub data: Option<SharedReader>,
    /// True when the file is a replacement or an addition.
    pub replaced: bool,
}

/// `src`'s tree with `replacements` laid over it, parents before children, children by name:
/// what the folder target copies.
pub fn merged_tree(src: &IsoImage, replacements: Vec<Replacement>) -> Result<Vec<TreeItem>> {
    let (mut t, _) = tree::tree_of(src, 0)?;
    for (i, r) in replacements.into_iter().enumerate() {
        if let Some(old) = &r.replaces {
            t.rename(old, &r.path)?;
        }
        t.replace(&r.path, r.data, i)?;
    }
    Ok(t.depth_first()
        .into_iter()
        .filter(|&i| i != 0)
        .map(|i| {
            let n = &t.nodes[i];
            TreeItem {
                path: t.path(i),
                is_dir: n.is_dir,
                size: n.size,
                data: match &n.content {
                    Content::Bytes(r) => Some(r.clone()),
                    _ => None,
                },
                replaced: n.replaced.is_some(),
            }
        })
        .collect())
}
