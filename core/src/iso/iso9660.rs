//! ISO 9660 (ECMA-119) and Joliet reader: volume descriptors and directory records.
//!
//! Both trees share the record layout; Joliet only changes the name encoding (UCS-2BE). Multi-extent
//! files (flag 0x80, used for files ≥ 4 GiB at interchange level 3) are joined into one extent list.

use super::extents::{ExtentBuilder, FileData, Run};
use super::names::{clean_iso_name, decode_utf16be, unix_time};
use super::{Node, NodeData, Tree, MAX_DIR_BYTES, MAX_DIR_ENTRIES};
use crate::io::le::u32_at;
use crate::io::{Le, SharedReader};
use crate::{Error, Result};

/// Sector size of the volume recognition area; ECMA-119 fixes it at 2048 on every real image.
pub(crate) const SECTOR: u64 = 2048;
/// Most volume descriptors scanned before giving up on a terminator.
const MAX_DESCRIPTORS: u64 = 64;

/// What the volume descriptor set says.
#[derive(Default)]
pub(crate) struct Descriptors {
    /// Primary Volume Descriptor (2048 bytes).
    pub pvd: Option<Vec<u8>>,
    /// Joliet Supplementary Volume Descriptor.
    pub joliet: Option<Vec<u8>>,
    /// NSR02/NSR03 seen in the recognition sequence: a UDF volume is present.
    pub nsr: Option<u8>,
}

/// Scan the volume recognition area from sector 16 (ISO descriptors, then BEA01 … TEA01).
pub(crate) fn scan(src: &SharedReader) -> Result<Descriptors> {
    let mut d = Descriptors::default();
    let mut buf = vec![0u8; SECTOR as usize];
    for i in 0..MAX_DESCRIPTORS {
        let off = (16 + i) * SECTOR;
        if off + SECTOR > src.size() {
            break;
        }
        src.read_at(off, &mut buf)?;
        match &buf[1..6] {
            b"CD001" => match buf[0] {
                1 if d.pvd.is_none() => d.pvd = Some(buf.clone()),
                2 if is_joliet(&buf) && d.joliet.is_none() => d.joliet = Some(buf.clone()),
                _ => {}
            },
            b"NSR02" => d.nsr = Some(2),
            b"NSR03" => d.nsr = Some(3),
            b"BEA01" | b"TEA01" | b"BOOT2" | b"CDW02" => {}
            _ => break,
        }
    }
    Ok(d)
}

fn is_joliet(svd: &[u8]) -> bool {
    matches!(&svd[88..91], b"%/@" | b"%/C" | b"%/E")
}

/// The volume identifier of a PVD (a-characters) or Joliet SVD (UCS-2BE).
pub(crate) fn volume_id(desc: &[u8], joliet: bool) -> Option<String> {
    let raw = &desc[40..72];
    let s = if joliet {
        decode_utf16be(raw)
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let s = s.trim_end_matches([' ', '\0']).to_string();
    (!s.is_empty()).then_some(s)
}

/// A directory tree of a PVD or Joliet SVD.
pub(crate) struct IsoTree {
    src: SharedReader,
    block: u64,
    joliet: bool,
    root: Vec<u8>,
}

impl IsoTree {
    /// Tree of a PVD or SVD; `joliet` selects UCS-2BE names.
    pub fn new(src: SharedReader, desc: &[u8], joliet: bool) -> Result<IsoTree> {
        let s = "ISO 9660 volume descriptor";
        let block = u64::from(Le::at(desc, s, 16 * SECTOR).u16(128)?);
        if !matches!(block, 512 | 1024 | 2048) {
            return Err(Error::malformed(
                s,
                16 * SECTOR,
                format!("logical block size {block}"),
            ));
        }
        let root = desc[156..190].to_vec();
        if root[0] < 34 {
            return Err(Error::malformed(
                s,
                16 * SECTOR,
                "root directory record too short",
            ));
        }
        Ok(IsoTree {
            src,
            block,
            joliet,
            root,
        })
    }

    fn record_extent(&self, r: &[u8]) -> (u64, u64) {
        // Both-endian fields: the little-endian half comes first. A short record reads as 0.
        let lba = u64::from(u32_at(r, 2).unwrap_or(0)) + u64::from(r[1]);
        (lba * self.block, u64::from(u32_at(r, 10).unwrap_or(0)))
    }

    fn record_name(&self, r: &[u8], is_dir: bool) -> String {
        let len = usize::from(r[32]);
        let raw = r.get(33..33 + len).unwrap_or(&[]);
        let name = if self.joliet {
            decode_utf16be(raw)
        } else {
            raw.iter().map(|&b| char::from(b)).collect()
        };
        clean_iso_name(&name, is_dir)
    }
}

fn record_time(r: &[u8]) -> Option<i64> {
    let d = r.get(18..25)?;
    let t = unix_time(
        1900 + i64::from(d[0]),
        u32::from(d[1]),
        u32::from(d[2]),
        u32::from(d[3]),
        u32::from(d[4]),
        u32::from(d[5]),
    )?;
    // Offset from GMT in 15-minute steps.
    Some(t - i64::from(d[6] as i8) * 15 * 60)
}

impl Tree for IsoTree {
    fn root(&self) -> Result<Node> {
        let (off, size) = self.record_extent(&self.root);
        let mut b = ExtentBuilder::new(size);
        b.push(size, Run::Recorded(off))?;
        Ok(Node {
            name: String::new(),
            is_dir: true,
            size,
            mtime: record_time(&self.root),
            data: NodeData::Ready(b.finish("ISO 9660 root directory", 16 * SECTOR)?),
            id: off,
        })
    }

    fn children(&self, dir: &Node) -> Result<Vec<Node>> {
        let s = "ISO 9660 directory record";
        let dir_data = self.file_data(dir)?;
        let data = dir_data.read_all(&self.src, dir.size, MAX_DIR_BYTES)?;
        let base = match &dir_data {
            FileData::Extents(e) => match e.first().map(|e| e.run) {
                Some(Run::Recorded(o)) => o,
                _ => 0,
            },
            FileData::Inline(_) => 0,
        };
        // Records never straddle a 2048-byte logical sector, whatever the logical block size.
        let bs = SECTOR as usize;
        let mut out: Vec<Node> = Vec::new();
        // Pieces of a multi-extent file collected so far: (name, (offset, length) runs).
        let mut pending: Option<(String, Vec<(u64, u64)>)> = None;
        let mut pos = 0usize;
        while pos < data.len() {
            let len = usize::from(data[pos]);
            let sector_end = (pos / bs + 1) * bs;
            if len == 0 {
                // Records never straddle a sector; zero fill up to the next one.
                pos = sector_end;
                continue;
            }
            let at = base + pos as u64;
            let r = data
                .get(pos..pos + len)
                .filter(|_| len >= 34 && pos + len <= sector_end)
                .ok_or_else(|| {
                    Error::malformed(s, at, format!("record length {len} is invalid"))
                })?;
            if 33 + usize::from(r[32]) > len {
                return Err(Error::malformed(s, at, "name runs past the record"));
            }
            pos += len;
            let flags = r[25];
            let name_raw = &r[33..33 + usize::from(r[32])];
            if name_raw == [0] || name_raw == [1] || flags & 0x04 != 0 {
                continue; // self, parent, associated file
            }
            if r[26] != 0 || r[27] != 0 {
                return Err(Error::unsupported(
                    "ISO 9660",
                    format!("interleaved ISO 9660 file at offset {at}"),
                ));
            }
            let is_dir = flags & 0x02 != 0;
            let name = self.record_name(r, is_dir);
            if name.is_empty() || name.contains(['/', '\\', '\0']) {
                return Err(Error::malformed(s, at, format!("unusable name {name:?}")));
            }
            let ext = self.record_extent(r);
            let mtime = record_time(r);
            let mut parts = match pending.take() {
                Some((pn, parts)) if pn == name => parts,
                Some((pn, _)) => {
                    return Err(Error::malformed(
                        s,
                        at,
                        format!("multi-extent file {pn:?} is not continued"),
                    ))
                }
                None => Vec::new(),
            };
            if parts.len() >= super::MAX_EXTENTS {
                return Err(Error::limit(
                    parts.len() + 1,
                    super::MAX_EXTENTS,
                    format!("{name:?} has too many extents"),
                ));
            }
            parts.push(ext);
            if flags & 0x80 != 0 && !is_dir {
                pending = Some((name, parts));
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(Error::limit(
                    out.len() + 1,
                    MAX_DIR_ENTRIES,
                    format!("directory holds more than {MAX_DIR_ENTRIES} entries"),
                ));
            }
            let size = parts
                .iter()
                .try_fold(0u64, |a, &(_, l)| a.checked_add(l))
                .ok_or_else(|| Error::malformed(s, at, "file size overflows"))?;
            let mut b = ExtentBuilder::new(size);
            for &(off, l) in &parts {
                b.push(l, Run::Recorded(off))?;
            }
            out.push(Node {
                name,
                is_dir,
                size,
                mtime,
                data: NodeData::Ready(b.finish(s, at)?),
                id: parts[0].0,
            });
        }
        if let Some((pn, _)) = pending {
            return Err(Error::malformed(
                s,
                base,
                format!("multi-extent file {pn:?} has no final record"),
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! A hand-built ISO 9660 image with a three-record multi-extent file (what genisoimage writes
    //! for files ≥ 4 GiB), small enough to run on every test pass.

    use super::super::{FsKind, IsoImage};
    use crate::io::{ReadAt, SliceSource};
    use std::sync::Arc;

    const BS: usize = 2048;

    fn both32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
    }

    fn record(name: &[u8], lba: u32, size: u32, flags: u8) -> Vec<u8> {
        let len = (33 + name.len() + 1) & !1;
        let mut r = vec![0u8; len];
        r[0] = len as u8;
        both32(&mut r, 2, lba);
        both32(&mut r, 10, size);
        r[18..25].copy_from_slice(&[121, 6, 1, 12, 0, 0, 4]); // 2021-06-01 12:00 at UTC+1
        r[25] = flags;
        r[28] = 1;
        r[31] = 1;
        r[32] = name.len() as u8;
        r[33..33 + name.len()].copy_from_slice(name);
        r
    }

    fn build() -> (Vec<u8>, Vec<u8>) {
        let mut img = vec![0u8; 60 * BS];
        let p = 16 * BS;
        img[p] = 1;
        img[p + 1..p + 6].copy_from_slice(b"CD001");
        img[p + 6] = 1;
        img[p + 40..p + 72].fill(b' ');
        img[p + 40..p + 44].copy_from_slice(b"HAND");
        both32(&mut img, p + 80, 60);
        img[p + 128..p + 130].copy_from_slice(&2048u16.to_le_bytes());
        let root = record(&[0], 20, BS as u32, 2);
        img[p + 156..p + 156 + 34].copy_from_slice(&root[..34]);
        img[17 * BS] = 255;
        img[17 * BS + 1..17 * BS + 6].copy_from_slice(b"CD001");
        let mut dir = Vec::new();
        dir.extend(record(&[0], 20, BS as u32, 2));
        dir.extend(record(&[1], 20, BS as u32, 2));
        dir.extend(record(b"BIG.WIM;1", 30, 2048, 0x80));
        dir.extend(record(b"BIG.WIM;1", 40, 4096, 0x80));
        dir.extend(record(b"BIG.WIM;1", 50, 100, 0));
        dir.extend(record(b"SMALL.TXT;1", 55, 5, 0));
        img[20 * BS..20 * BS + dir.len()].copy_from_slice(&dir);
        let content: Vec<u8> = (0..6244u32).map(|i| (i * 7 + i / 251) as u8).collect();
        img[30 * BS..31 * BS].copy_from_slice(&content[..2048]);
        img[40 * BS..42 * BS].copy_from_slice(&content[2048..6144]);
        img[50 * BS..50 * BS + 100].copy_from_slice(&content[6144..]);
        img[55 * BS..55 * BS + 5].copy_from_slice(b"small");
        (img, content)
    }

    #[test]
    fn multi_extent_file_is_joined() {
        let (bytes, content) = build();
        let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
        assert_eq!(img.active_filesystem(), FsKind::Iso9660);
        assert_eq!(img.volume_label().as_deref(), Some("HAND"));
        let list = img.list("/").unwrap();
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["BIG.WIM", "SMALL.TXT"]);
        assert_eq!(list[0].size, 6244);
        assert_eq!(list[0].mtime, Some(1_622_548_800 - 3600));
        let r = img.open_file("/big.wim").unwrap();
        let mut all = vec![0u8; 6244];
        r.read_at(0, &mut all).unwrap();
        assert_eq!(all, content);
        let mut span = [0u8; 200];
        r.read_at(6000, &mut span).unwrap();
        assert_eq!(span[..], content[6000..6200]);
    }

    #[test]
    fn huge_directory_is_refused_by_limit() {
        let (mut bytes, _) = build();
        // Root directory record claiming 100 MiB.
        both32(&mut bytes, 16 * BS + 156 + 10, 100 << 20);
        let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
        assert!(matches!(img.list("/"), Err(crate::Error::Limit { .. })));
        assert!(img.walk(100).is_err());
    }

    #[test]
    fn unterminated_multi_extent_is_an_error() {
        let (mut bytes, _) = build();
        // Clear the final record's flag continuation target: make the last BIG.WIM piece claim
        // more pieces follow, then a different name follows.
        let dir = &mut bytes[20 * BS..21 * BS];
        let pos = dir
            .windows(9)
            .enumerate()
            .filter(|(_, w)| w == b"BIG.WIM;1")
            .map(|(i, _)| i - 33)
            .nth(2)
            .unwrap();
        dir[pos + 25] = 0x80;
        let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
        assert!(matches!(img.list("/"), Err(crate::Error::Malformed { .. })));
    }
}
