//! UDF volume reader (ECMA-167 / OSTA UDF 1.02–2.60): volume structures down to the directory tree.
//!
//! Microsoft media keep their real tree only in UDF, so this is the main path for Windows ISOs. The
//! walk is AVDP → Volume Descriptor Sequence (Partition + Logical Volume descriptors) → File Set
//! Descriptor → root ICB, then File Entries and File Identifier Descriptors. Type 1 partition maps
//! and the UDF 2.50+ metadata partition are read; virtual and sparable maps (CD-R/RW media) are not.

use super::extents::{Extent, ExtentBuilder, FileData, Run};
use super::names::{decode_cs0, decode_dstring, names_equal};
use super::udf_desc::{
    ad_size, expect_tag, parse_ad, parse_file_entry, parse_tag, tag_id, AdKind, FileEntry,
};
use super::{Node, NodeData, Tree, MAX_DIR_BYTES, MAX_DIR_ENTRIES};
use crate::io::{read_vec, Le, SharedReader};
use crate::{Error, Result};
use std::sync::Arc;

/// Most descriptors a Volume Descriptor Sequence may hold (the standard's extent is 16+ blocks).
const MAX_VDS_DESCRIPTORS: usize = 4096;
/// Most Allocation Extent Descriptors chained behind one File Entry.
const MAX_AED_CHAIN: usize = 65_536;

/// How a partition reference maps logical blocks to the image.
#[derive(Clone, Debug)]
enum PartMap {
    /// Type 1 map: blocks from `start` (absolute block) for `len` blocks.
    Physical { start: u64, len: u64 },
    /// UDF 2.50 metadata partition: blocks are offsets into the metadata file, whose extents are
    /// absolute byte runs of the image.
    Metadata { extents: Arc<[Extent]>, size: u64 },
}

/// An opened UDF volume.
pub(crate) struct UdfVolume {
    src: SharedReader,
    block: u64,
    maps: Vec<PartMap>,
    root: (u16, u32),
    /// Logical volume identifier.
    pub label: Option<String>,
    /// UDF revision from the domain identifier, e.g. 0x0102.
    pub revision: u16,
}

/// A Partition Descriptor's useful fields.
#[derive(Clone, Copy, Debug)]
struct Partition {
    number: u16,
    start: u64,
    len: u64,
    vdsn: u32,
}

impl UdfVolume {
    /// Open the volume; the caller has seen an NSR02/NSR03 record in the recognition sequence.
    pub fn open(src: SharedReader) -> Result<UdfVolume> {
        let (block, avdp) = find_avdp(&src)?;
        let a = Le::new(&avdp, "UDF Anchor Volume Descriptor Pointer");
        let main = (a.u32(16)?, a.u32(20)?);
        let reserve = (a.u32(24)?, a.u32(28)?);
        let (parts, lvd) = match read_vds(&src, block, main) {
            Ok(v) => v,
            Err(first) => read_vds(&src, block, reserve).map_err(|_| first)?,
        };
        let l = Le::new(&lvd, "UDF Logical Volume Descriptor");
        let lvd_off = l.u32(12)? as u64 * block;
        let lb_size = l.u32(212)? as u64;
        if lb_size != block {
            return Err(Error::unsupported(
                "UDF",
                format!("UDF logical block size {lb_size} differs from the sector size {block}"),
            ));
        }
        let label = decode_dstring(&lvd[84..212]);
        let revision = l.u16(216 + 24)?;
        let mut vol = UdfVolume {
            src: src.clone(),
            block,
            maps: Vec::new(),
            root: (0, 0),
            label,
            revision,
        };
        vol.maps = vol.read_partition_maps(&lvd, lvd_off, &parts)?;
        // FSD location: long_ad in the logical volume contents use.
        let fsd_lbn = l.u32(248 + 4)?;
        let fsd_part = l.u16(248 + 8)?;
        let fsd = vol.read_desc(fsd_part, fsd_lbn, &[tag_id::FSD], "UDF File Set Descriptor")?;
        let f = Le::new(&fsd, "UDF File Set Descriptor");
        let root_lbn = f.u32(400 + 4)?;
        let root_part = f.u16(400 + 8)?;
        if f.u32(400)? & 0x3FFF_FFFF == 0 {
            return Err(Error::malformed(
                "UDF File Set Descriptor",
                fsd_lbn as u64,
                "no root directory ICB",
            ));
        }
        vol.root = (root_part, root_lbn);
        Ok(vol)
    }

    fn read_partition_maps(
        &self,
        lvd: &[u8],
        lvd_off: u64,
        parts: &[Partition],
    ) -> Result<Vec<PartMap>> {
        let s = "UDF Logical Volume Descriptor";
        let l = Le::at(lvd, s, lvd_off);
        let table_len = l.u32(264)? as usize;
        let n_maps = l.u32(268)? as usize;
        let table = 440usize
            .checked_add(table_len)
            .and_then(|end| lvd.get(440..end))
            .ok_or_else(|| {
                Error::malformed(s, lvd_off, "partition map table overruns the block")
            })?;
        if n_maps == 0 || n_maps > 64 {
            return Err(Error::malformed(
                s,
                lvd_off,
                format!("{n_maps} partition maps"),
            ));
        }
        let find_part = |num: u16| {
            parts
                .iter()
                .find(|p| p.number == num)
                .copied()
                .ok_or_else(|| {
                    Error::malformed(
                        s,
                        lvd_off,
                        format!("no Partition Descriptor for partition {num}"),
                    )
                })
        };
        let mut maps = Vec::new();
        let mut pos = 0usize;
        for _ in 0..n_maps {
            let ty = *table.get(pos).unwrap_or(&0);
            let len = usize::from(*table.get(pos + 1).unwrap_or(&0));
            let m = table
                .get(pos..pos + len)
                .filter(|_| len >= 6)
                .ok_or_else(|| Error::malformed(s, lvd_off, "truncated partition map"))?;
            match ty {
                1 => {
                    let p = find_part(Le::at(m, s, lvd_off).u16(4)?)?;
                    maps.push(PartMap::Physical {
                        start: p.start,
                        len: p.len,
                    });
                }
                2 if m.len() >= 64 && m.get(5..28) == Some(&b"*UDF Metadata Partition"[..]) => {
                    let m = Le::at(m, s, lvd_off);
                    let p = find_part(m.u16(38)?)?;
                    let meta_lbn = m.u32(40)?;
                    maps.push(self.metadata_map(p, meta_lbn)?);
                }
                2 => {
                    let id: String = m
                        .get(5..28)
                        .unwrap_or(&[])
                        .iter()
                        .take_while(|&&b| b != 0)
                        .map(|&b| char::from(b))
                        .collect();
                    return Err(Error::unsupported("UDF", format!(
                        "UDF partition map {id:?} (virtual/sparable partitions are for CD-R/RW media)"
                    )));
                }
                other => {
                    return Err(Error::malformed(
                        s,
                        lvd_off,
                        format!("partition map type {other}"),
                    ))
                }
            }
            pos += len;
        }
        Ok(maps)
    }

    /// Resolve the metadata file of a UDF 2.50 metadata partition (its FE lives in the physical
    /// partition; its content is the metadata partition's block space).
    fn metadata_map(&self, p: Partition, meta_lbn: u32) -> Result<PartMap> {
        let phys = UdfVolume {
            src: self.src.clone(),
            block: self.block,
            maps: vec![PartMap::Physical {
                start: p.start,
                len: p.len,
            }],
            root: (0, 0),
            label: None,
            revision: self.revision,
        };
        let node = phys.read_icb(0, meta_lbn, String::new())?;
        match phys.file_data(&node)? {
            FileData::Extents(extents) => Ok(PartMap::Metadata {
                extents,
                size: node.size,
            }),
            FileData::Inline(_) => Err(Error::unsupported(
                "UDF",
                "UDF metadata file with embedded data",
            )),
        }
    }

    /// Absolute byte offset of `len` bytes at block `lbn` of partition `part`, as runs.
    fn map_extent(&self, part: u16, lbn: u32, len: u64, out: &mut ExtentBuilder) -> Result<()> {
        let map = self.maps.get(usize::from(part)).ok_or_else(|| {
            Error::malformed(
                "UDF allocation descriptor",
                0,
                format!("partition reference {part}"),
            )
        })?;
        let lbn = u64::from(lbn);
        match map {
            PartMap::Physical { start, len: plen } => {
                let blocks = len.div_ceil(self.block);
                if lbn.saturating_add(blocks) > *plen {
                    return Err(Error::malformed(
                        "UDF allocation descriptor",
                        (start + lbn) * self.block,
                        format!("extent at block {lbn} (+{blocks}) runs past its partition of {plen} blocks"),
                    ));
                }
                out.push(len, Run::Recorded((start + lbn) * self.block))
            }
            PartMap::Metadata { extents, size } => {
                let mut off = lbn * self.block;
                let end = off.saturating_add(len);
                if end > *size {
                    return Err(Error::malformed(
                        "UDF metadata partition",
                        off,
                        "extent runs past the metadata file",
                    ));
                }
                while off < end {
                    let e = extents
                        .iter()
                        .find(|e| off >= e.file_off && off - e.file_off < e.len)
                        .ok_or_else(|| {
                            Error::malformed("UDF metadata partition", off, "offset not mapped")
                        })?;
                    let n = (e.len - (off - e.file_off)).min(end - off);
                    let run = match e.run {
                        Run::Recorded(abs) => Run::Recorded(abs + (off - e.file_off)),
                        Run::Zero => Run::Zero,
                    };
                    out.push(n, run)?;
                    off += n;
                }
                Ok(())
            }
        }
    }

    /// Read one block at (`part`, `lbn`) and verify its tag; returns the block.
    fn read_desc(
        &self,
        part: u16,
        lbn: u32,
        ids: &[u16],
        structure: &'static str,
    ) -> Result<Vec<u8>> {
        let mut b = ExtentBuilder::new(self.block);
        self.map_extent(part, lbn, self.block, &mut b)?;
        let data = b.finish(structure, u64::from(lbn))?;
        let FileData::Extents(ext) = &data else {
            return Err(Error::malformed(structure, 0, "unmapped block"));
        };
        let off = match ext.first().map(|e| e.run) {
            Some(Run::Recorded(off)) => off,
            _ => {
                return Err(Error::malformed(
                    structure,
                    u64::from(lbn),
                    "block not recorded",
                ))
            }
        };
        let buf = read_vec(&*self.src, structure, off, self.block, self.block)?;
        let tag = parse_tag(&buf, structure, off)?;
        expect_tag(&tag, ids, lbn, structure, off)?;
        Ok(buf)
    }

    /// Read and verify the File Entry (or Extended File Entry) at an ICB.
    fn read_fe(&self, part: u16, lbn: u32) -> Result<(Vec<u8>, FileEntry)> {
        let s = "UDF File Entry";
        let buf = self.read_desc(part, lbn, &[tag_id::FE, tag_id::EFE], s)?;
        let tag = parse_tag(&buf, s, 0)?;
        let fe = parse_file_entry(&buf, &tag, u64::from(lbn))?;
        Ok((buf, fe))
    }

    /// Read the File Entry at an ICB and turn it into a node named `name`.
    fn read_icb(&self, part: u16, lbn: u32, name: String) -> Result<Node> {
        let (buf, fe) = self.read_fe(part, lbn)?;
        let data = if fe.ad_type == 3 {
            NodeData::Ready(embedded(&buf, &fe, lbn)?)
        } else {
            NodeData::UdfEntry(part, lbn)
        };
        Ok(Node {
            name,
            is_dir: fe.file_type == 4,
            size: fe.info_len,
            mtime: fe.mtime,
            data,
            id: (u64::from(part) << 32) | u64::from(lbn),
        })
    }

    /// Follow the allocation descriptors (and AED continuations) of an entry.
    fn collect_ads(
        &self,
        first: &[u8],
        ad_type: u16,
        icb_part: u16,
        size: u64,
        fe_lbn: u32,
    ) -> Result<FileData> {
        let s = "UDF allocation descriptors";
        let step = ad_size(ad_type)
            .ok_or_else(|| Error::malformed(s, u64::from(fe_lbn), "bad descriptor type"))?;
        let mut out = ExtentBuilder::new(size);
        let mut area: Vec<u8> = first.to_vec();
        let mut chain = 0usize;
        'areas: loop {
            let mut pos = 0usize;
            while pos + step <= area.len() && !out.full() {
                let Some(ad) = parse_ad(&area[pos..pos + step], ad_type) else {
                    break 'areas;
                };
                let part = ad.part.unwrap_or(icb_part);
                match ad.kind {
                    AdKind::Recorded => {
                        self.map_extent(part, ad.lbn, u64::from(ad.len), &mut out)?
                    }
                    AdKind::Zero => out.push(u64::from(ad.len), Run::Zero)?,
                    AdKind::Continue => {
                        chain += 1;
                        if chain > MAX_AED_CHAIN {
                            return Err(Error::limit(
                                chain,
                                MAX_AED_CHAIN,
                                format!("more than {MAX_AED_CHAIN} allocation extent descriptors"),
                            ));
                        }
                        let aed = self.read_desc(
                            part,
                            ad.lbn,
                            &[tag_id::AED],
                            "UDF Allocation Extent Descriptor",
                        )?;
                        let l_ad =
                            Le::new(&aed, "UDF Allocation Extent Descriptor").u32(20)? as usize;
                        let max = (ad.len as usize).min(aed.len());
                        area = 24usize
                            .checked_add(l_ad)
                            .filter(|&e| e <= max)
                            .and_then(|e| aed.get(24..e))
                            .ok_or_else(|| {
                                Error::malformed(
                                    "UDF Allocation Extent Descriptor",
                                    u64::from(ad.lbn),
                                    format!("descriptor length {l_ad} overruns its extent"),
                                )
                            })?
                            .to_vec();
                        continue 'areas;
                    }
                }
                pos += step;
            }
            break;
        }
        out.finish("UDF File Entry", u64::from(fe_lbn))
    }
}

/// The data stored inside an entry (AD type 3).
fn embedded(buf: &[u8], fe: &FileEntry, lbn: u32) -> Result<FileData> {
    let area = &buf[fe.ad_start..fe.ad_start + fe.ad_len];
    let n = usize::try_from(fe.info_len)
        .ok()
        .filter(|&n| n <= area.len())
        .ok_or_else(|| {
            Error::malformed(
                "UDF File Entry",
                u64::from(lbn),
                format!(
                    "embedded data of {} bytes but only {} are stored",
                    fe.info_len,
                    area.len()
                ),
            )
        })?;
    Ok(FileData::Inline(area[..n].to_vec().into()))
}

impl Tree for UdfVolume {
    fn file_data(&self, node: &Node) -> Result<FileData> {
        match &node.data {
            NodeData::Ready(d) => Ok(d.clone()),
            NodeData::UdfEntry(part, lbn) => {
                let (buf, fe) = self.read_fe(*part, *lbn)?;
                if fe.ad_type == 3 {
                    return embedded(&buf, &fe, *lbn);
                }
                let area = &buf[fe.ad_start..fe.ad_start + fe.ad_len];
                self.collect_ads(area, fe.ad_type, *part, fe.info_len, *lbn)
            }
        }
    }

    fn root(&self) -> Result<Node> {
        let n = self.read_icb(self.root.0, self.root.1, String::new())?;
        if !n.is_dir {
            return Err(Error::malformed(
                "UDF File Set Descriptor",
                u64::from(self.root.1),
                "root ICB is not a directory",
            ));
        }
        Ok(n)
    }

    fn children(&self, dir: &Node) -> Result<Vec<Node>> {
        self.fids(dir)?
            .into_iter()
            .map(|f| self.node_of(f))
            .collect()
    }

    fn child(&self, dir: &Node, name: &str) -> Result<Option<Node>> {
        // Match on the FIDs first so a lookup reads one File Entry, not the whole directory's.
        let fids = self.fids(dir)?;
        let idx = fids
            .iter()
            .position(|f| f.name == name)
            .or_else(|| fids.iter().position(|f| names_equal(&f.name, name)));
        match idx.and_then(|i| fids.into_iter().nth(i)) {
            Some(f) => Ok(Some(self.node_of(f)?)),
            None => Ok(None),
        }
    }
}

/// A live (not deleted, not parent) File Identifier Descriptor.
struct Fid {
    name: String,
    is_dir: bool,
    part: u16,
    lbn: u32,
    /// Offset in the directory stream, for messages.
    pos: usize,
}

impl UdfVolume {
    /// The live entries of a directory stream.
    fn fids(&self, dir: &Node) -> Result<Vec<Fid>> {
        let s = "UDF File Identifier Descriptor";
        let data = self
            .file_data(dir)?
            .read_all(&self.src, dir.size, MAX_DIR_BYTES)?;
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            // Trailing zero padding after the last FID ends the stream.
            if data[pos..].iter().take(16).all(|&b| b == 0) {
                break;
            }
            let rest = &data[pos..];
            let tag = parse_tag(rest, s, pos as u64)?;
            if tag.id != tag_id::FID || rest.len() < 38 {
                return Err(Error::malformed(
                    s,
                    pos as u64,
                    format!(
                        "expected a FID in directory at block {}, found tag {}",
                        dir.id as u32, tag.id
                    ),
                ));
            }
            let chars = rest[18];
            let l_fi = usize::from(rest[19]);
            let fid = Le::at(rest, s, pos as u64);
            let l_iu = usize::from(fid.u16(36)?);
            let len = 38 + l_iu + l_fi;
            let name_raw = rest
                .get(38 + l_iu..len)
                .ok_or_else(|| Error::malformed(s, pos as u64, "name runs past the directory"))?;
            if chars & 0x0C == 0 {
                if out.len() >= MAX_DIR_ENTRIES {
                    return Err(Error::limit(
                        out.len() + 1,
                        MAX_DIR_ENTRIES,
                        format!("directory holds more than {MAX_DIR_ENTRIES} entries"),
                    ));
                }
                let name = decode_cs0(name_raw)?;
                if name.is_empty() || name.contains(['/', '\\', '\0']) {
                    return Err(Error::malformed(
                        s,
                        pos as u64,
                        format!("unusable name {name:?}"),
                    ));
                }
                out.push(Fid {
                    name,
                    is_dir: chars & 0x02 != 0,
                    part: fid.u16(20 + 8)?,
                    lbn: fid.u32(20 + 4)?,
                    pos,
                });
            }
            pos += (len + 3) & !3;
        }
        Ok(out)
    }

    /// The node a FID points at; its File Entry must agree on being a directory.
    fn node_of(&self, f: Fid) -> Result<Node> {
        let node = self.read_icb(f.part, f.lbn, f.name)?;
        if f.is_dir != node.is_dir {
            return Err(Error::malformed(
                "UDF File Identifier Descriptor",
                f.pos as u64,
                format!(
                    "{:?}: directory flag disagrees with its File Entry",
                    node.name
                ),
            ));
        }
        Ok(node)
    }
}

/// Find the Anchor Volume Descriptor Pointer: block 256, then N−1, then N−257, for the usual block
/// sizes (2048 on optical media; 512/4096 on disk images written by mkudffs).
fn find_avdp(src: &SharedReader) -> Result<(u64, Vec<u8>)> {
    let mut first_err = None;
    for block in [2048u64, 512, 4096, 1024] {
        let n = src.size() / block;
        let mut cands = vec![256u64];
        if n > 257 {
            cands.push(n - 1);
            cands.push(n - 257);
        }
        for lbn in cands {
            let off = lbn * block;
            let attempt = read_vec(
                &**src,
                "UDF Anchor Volume Descriptor Pointer",
                off,
                512,
                512,
            )
            .and_then(|b| {
                let t = parse_tag(&b, "UDF Anchor Volume Descriptor Pointer", off)?;
                expect_tag(
                    &t,
                    &[tag_id::AVDP],
                    lbn as u32,
                    "UDF Anchor Volume Descriptor Pointer",
                    off,
                )?;
                Ok(b)
            });
            match attempt {
                Ok(b) => return Ok((block, b)),
                Err(e) => {
                    if block == 2048 && first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        Error::malformed(
            "UDF Anchor Volume Descriptor Pointer",
            256 * 2048,
            "not found",
        )
    }))
}

/// Walk a Volume Descriptor Sequence extent; returns the prevailing partitions and LVD.
fn read_vds(
    src: &SharedReader,
    block: u64,
    (len, loc): (u32, u32),
) -> Result<(Vec<Partition>, Vec<u8>)> {
    let s = "UDF Volume Descriptor Sequence";
    let mut parts: Vec<Partition> = Vec::new();
    let mut lvd: Option<(u32, Vec<u8>)> = None;
    let mut ext = (u64::from(loc), u64::from(len) / block);
    let mut seen = 0usize;
    let mut hops = 0usize;
    let mut i = 0u64;
    while i < ext.1 {
        seen += 1;
        if seen > MAX_VDS_DESCRIPTORS {
            return Err(Error::limit(
                seen,
                MAX_VDS_DESCRIPTORS,
                format!("{s} longer than {MAX_VDS_DESCRIPTORS} descriptors"),
            ));
        }
        let lbn = ext.0 + i;
        let off = lbn * block;
        let buf = read_vec(&**src, s, off, block, block)?;
        let tag = parse_tag(&buf, s, off)?;
        let d = Le::at(&buf, s, off);
        if u64::from(tag.location) != lbn {
            return Err(Error::malformed(
                s,
                off,
                format!(
                    "descriptor says it is at block {} but was read from block {lbn}",
                    tag.location
                ),
            ));
        }
        match tag.id {
            tag_id::TD => break,
            tag_id::VDP => {
                hops += 1;
                if hops > 16 {
                    return Err(Error::limit(
                        hops,
                        16,
                        format!("{s}: more than 16 continuation pointers"),
                    ));
                }
                ext = (u64::from(d.u32(24)?), u64::from(d.u32(20)?) / block);
                i = 0;
                continue;
            }
            tag_id::PD => {
                let p = Partition {
                    vdsn: d.u32(16)?,
                    number: d.u16(22)?,
                    start: u64::from(d.u32(188)?),
                    len: u64::from(d.u32(192)?),
                };
                match parts.iter_mut().find(|q| q.number == p.number) {
                    Some(q) if q.vdsn <= p.vdsn => *q = p,
                    Some(_) => {}
                    None => parts.push(p),
                }
            }
            tag_id::LVD => {
                let vdsn = d.u32(16)?;
                if lvd.as_ref().is_none_or(|(v, _)| *v <= vdsn) {
                    lvd = Some((vdsn, buf));
                }
            }
            tag_id::PVD | 4 | 7 | 9 => {}
            0 => break,
            other => {
                return Err(Error::malformed(
                    s,
                    off,
                    format!("unexpected descriptor tag {other}"),
                ))
            }
        }
        i += 1;
    }
    let (_, lvd) = lvd.ok_or_else(|| {
        Error::malformed(s, u64::from(loc) * block, "no Logical Volume Descriptor")
    })?;
    if parts.is_empty() {
        return Err(Error::malformed(
            s,
            u64::from(loc) * block,
            "no Partition Descriptor",
        ));
    }
    Ok((parts, lvd))
}

#[cfg(test)]
#[path = "udf_tests.rs"]
mod tests;
