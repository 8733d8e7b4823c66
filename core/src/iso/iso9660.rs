//! ISO 9660 (ECMA-119) and Joliet reader: volume descriptors and directory records.
//!
//! Both trees share the record layout; Joliet only changes the name encoding (UCS-2BE). Multi-extent
//! files (flag 0x80, used for files ≥ 4 GiB at interchange level 3) are joined into one extent list.

use super::extents::{ExtentBuilder, FileData, Run};
use super::names::{clean_iso_name, decode_utf16be, unix_time};
use super::{Node, Tree, MAX_DIR_BYTES, MAX_DIR_ENTRIES};
use crate::io::SharedReader;
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

fn both32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
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
        let block = u64::from(u16::from_le_bytes([desc[128], desc[129]]));
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
        let lba = u64::from(both32(r, 2)) + u64::from(r[1]);
        (lba * self.block, u64::from(both32(r, 10)))
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
            data: b.finish("ISO 9660 root directory", 16 * SECTOR)?,
            id: off,
        })
    }

    fn children(&self, dir: &Node) -> Result<Vec<Node>> {
        let s = "ISO 9660 directory record";
        let data = dir.data.read_all(&self.src, dir.size, MAX_DIR_BYTES)?;
        let base = match &dir.data {
            FileData::Extents(e) => match e.first().map(|e| e.run) {
                Some(Run::Recorded(o)) => o,
                _ => 0,
            },
            FileData::Inline(_) => 0,
        };
        let bs = self.block as usize;
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
                return Err(Error::Unsupported(format!(
                    "interleaved ISO 9660 file at offset {at}"
                )));
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
                return Err(Error::Limit(format!("{name:?} has too many extents")));
            }
            parts.push(ext);
            if flags & 0x80 != 0 && !is_dir {
                pending = Some((name, parts));
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(Error::Limit(format!(
                    "directory holds more than {MAX_DIR_ENTRIES} entries"
                )));
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
                data: b.finish(s, at)?,
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
