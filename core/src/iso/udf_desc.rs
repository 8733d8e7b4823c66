//! UDF / ECMA-167 descriptor parsing: tags, allocation descriptors, File Entries, timestamps.
//!
//! Pure functions over byte slices; the volume walk in `udf.rs` decides where to read them. Every
//! descriptor is checked (tag checksum, CRC, recorded location) before any field is trusted, because
//! a UDF tree is a graph of pointers and a corrupt pointer must stop at the first bad descriptor.

use crate::io::le::{u16_at, u32_at};
use crate::io::Le;
use crate::{Error, Result};

/// Tag identifiers (ECMA-167 3/7.2.1, 4/7.2.1).
pub(crate) mod tag_id {
    pub const PVD: u16 = 1;
    pub const AVDP: u16 = 2;
    pub const VDP: u16 = 3;
    pub const PD: u16 = 5;
    pub const LVD: u16 = 6;
    pub const TD: u16 = 8;
    pub const FSD: u16 = 256;
    pub const FID: u16 = 257;
    pub const AED: u16 = 258;
    pub const FE: u16 = 261;
    pub const EFE: u16 = 266;
}

/// CRC-ITU-T (polynomial 0x1021, initial 0, no reflection) as ECMA-167 7.2.6 specifies.
pub fn crc_itu(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A verified descriptor tag.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tag {
    pub id: u16,
    pub location: u32,
}

/// Parse and verify the tag at the start of `buf` (checksum and CRC over the bytes present).
///
/// `offset` only feeds error messages. The CRC'd bytes must be inside `buf`.
pub(crate) fn parse_tag(buf: &[u8], structure: &'static str, offset: u64) -> Result<Tag> {
    let head = buf
        .get(..16)
        .ok_or_else(|| Error::malformed(structure, offset, "shorter than a descriptor tag"))?;
    let sum = head
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 4)
        .fold(0u8, |a, (_, &b)| a.wrapping_add(b));
    if sum != head[4] {
        return Err(Error::malformed(
            structure,
            offset,
            format!(
                "descriptor tag checksum {:#04x} does not match {:#04x}",
                head[4], sum
            ),
        ));
    }
    let h = Le::at(head, structure, offset);
    let id = h.u16(0)?;
    let crc = h.u16(8)?;
    let crc_len = usize::from(h.u16(10)?);
    let body = buf.get(16..16 + crc_len).ok_or_else(|| {
        Error::malformed(
            structure,
            offset,
            format!("descriptor CRC length {crc_len} runs past the descriptor"),
        )
    })?;
    if crc_itu(body) != crc {
        return Err(Error::malformed(
            structure,
            offset,
            format!("descriptor CRC mismatch (tag id {id})"),
        ));
    }
    Ok(Tag {
        id,
        location: h.u32(12)?,
    })
}

/// Check a tag's id and recorded location against what the pointer that led here promised.
pub(crate) fn expect_tag(
    tag: &Tag,
    ids: &[u16],
    location: u32,
    structure: &'static str,
    offset: u64,
) -> Result<()> {
    if !ids.contains(&tag.id) {
        return Err(Error::malformed(
            structure,
            offset,
            format!("expected descriptor tag {ids:?}, found {}", tag.id),
        ));
    }
    if tag.location != location {
        return Err(Error::malformed(
            structure,
            offset,
            format!(
                "descriptor says it is at block {} but was read from block {location}",
                tag.location
            ),
        ));
    }
    Ok(())
}

/// Kind of extent an allocation descriptor describes (ECMA-167 4/14.14.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AdKind {
    Recorded,
    /// Allocated but not recorded, or not allocated: reads as zeros.
    Zero,
    /// The next extent of allocation descriptors (an AED).
    Continue,
}

/// One decoded allocation descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ad {
    pub len: u32,
    pub kind: AdKind,
    pub lbn: u32,
    /// Partition reference; `None` for short_ad (same partition as the ICB).
    pub part: Option<u16>,
}

/// Size of one descriptor for ICB flags AD type 0 (short), 1 (long), 2 (extended).
pub(crate) fn ad_size(ad_type: u16) -> Option<usize> {
    match ad_type {
        0 => Some(8),
        1 => Some(16),
        2 => Some(20),
        _ => None,
    }
}

/// Decode one allocation descriptor; `None` marks the end of the list (length 0).
pub(crate) fn parse_ad(b: &[u8], ad_type: u16) -> Option<Ad> {
    let raw = u32_at(b, 0)?;
    let len = raw & 0x3FFF_FFFF;
    if len == 0 {
        return None;
    }
    let kind = match raw >> 30 {
        0 => AdKind::Recorded,
        3 => AdKind::Continue,
        _ => AdKind::Zero,
    };
    let (lbn, part) = match ad_type {
        0 => (u32_at(b, 4)?, None),
        1 => (u32_at(b, 4)?, Some(u16_at(b, 8)?)),
        // ext_ad: extent length, recorded length, information length, lb_addr.
        _ => (u32_at(b, 12)?, Some(u16_at(b, 16)?)),
    };
    Some(Ad {
        len,
        kind,
        lbn,
        part,
    })
}

/// The parts of a File Entry (261) or Extended File Entry (266) a reader needs.
#[derive(Clone, Debug)]
pub(crate) struct FileEntry {
    /// ICB file type (4 = directory, 5 = file, 12 = symlink …).
    pub file_type: u8,
    /// ICB flags bits 0–2: 0 short, 1 long, 2 extended, 3 embedded.
    pub ad_type: u16,
    pub info_len: u64,
    pub mtime: Option<i64>,
    /// Byte range of the allocation descriptors (or embedded data) inside the entry.
    pub ad_start: usize,
    pub ad_len: usize,
}

/// Parse a verified FE/EFE held in `buf` (one logical block).
pub(crate) fn parse_file_entry(buf: &[u8], tag: &Tag, offset: u64) -> Result<FileEntry> {
    let structure = "UDF File Entry";
    let extended = tag.id == tag_id::EFE;
    let (fixed, mtime_at, l_ea_at) = if extended {
        (216usize, 92usize, 208usize)
    } else {
        (176, 84, 168)
    };
    if buf.len() < fixed {
        return Err(Error::malformed(
            structure,
            offset,
            "shorter than its fixed part",
        ));
    }
    let e = Le::at(buf, structure, offset);
    let strategy = e.u16(16 + 4)?;
    if strategy != 4 {
        return Err(Error::unsupported(
            "UDF",
            format!("UDF ICB strategy {strategy} at offset {offset} (only strategy 4 is read)"),
        ));
    }
    let file_type = buf[16 + 11];
    let ad_type = e.u16(16 + 18)? & 7;
    let l_ea = e.u32(l_ea_at)? as usize;
    let l_ad = e.u32(l_ea_at + 4)? as usize;
    let ad_start = fixed
        .checked_add(l_ea)
        .filter(|&s| s <= buf.len())
        .ok_or_else(|| {
            Error::malformed(structure, offset, "extended attributes overrun the entry")
        })?;
    if ad_start.checked_add(l_ad).is_none_or(|end| end > buf.len()) {
        return Err(Error::malformed(
            structure,
            offset,
            format!("allocation descriptor length {l_ad} overruns the entry"),
        ));
    }
    if ad_type > 3 {
        return Err(Error::malformed(
            structure,
            offset,
            format!("unknown allocation descriptor type {ad_type}"),
        ));
    }
    Ok(FileEntry {
        file_type,
        ad_type,
        info_len: e.u64(56)?,
        mtime: parse_timestamp(&buf[mtime_at..mtime_at + 12]),
        ad_start,
        ad_len: l_ad,
    })
}

/// Decode an ECMA-167 timestamp (1/7.3) to Unix seconds (UTC).
pub(crate) fn parse_timestamp(b: &[u8]) -> Option<i64> {
    let type_tz = u16_at(b, 0)?;
    let year = i64::from(u16_at(b, 2)? as i16);
    let secs = super::names::unix_time(
        year,
        u32::from(*b.get(4)?),
        u32::from(*b.get(5)?),
        u32::from(*b.get(6)?),
        u32::from(*b.get(7)?),
        u32::from(*b.get(8)?),
    )?;
    // Type 1 = local time with a signed 12-bit offset in minutes; -2047 means "not specified".
    let mut tz = i64::from(type_tz & 0x0FFF);
    if tz >= 0x800 {
        tz -= 0x1000;
    }
    if type_tz >> 12 == 1 && tz != -2047 {
        Some(secs - tz * 60)
    } else {
        Some(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_ecma_example() {
        // ECMA-167 7.2.6 gives CRC 0x3299 for the bytes 0x70 0x6A 0x77.
        assert_eq!(crc_itu(&[0x70, 0x6A, 0x77]), 0x3299);
    }

    fn make_tag(id: u16, loc: u32, body: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 16];
        d[0..2].copy_from_slice(&id.to_le_bytes());
        d[2] = 2;
        d[8..10].copy_from_slice(&crc_itu(body).to_le_bytes());
        d[10..12].copy_from_slice(&(body.len() as u16).to_le_bytes());
        d[12..16].copy_from_slice(&loc.to_le_bytes());
        let sum = d
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 4)
            .fold(0u8, |a, (_, &b)| a.wrapping_add(b));
        d[4] = sum;
        d.extend_from_slice(body);
        d
    }

    #[test]
    fn tag_checks() {
        let d = make_tag(2, 256, &[1, 2, 3, 4]);
        let t = parse_tag(&d, "t", 0).unwrap();
        assert_eq!((t.id, t.location), (2, 256));
        assert!(expect_tag(&t, &[2], 256, "t", 0).is_ok());
        assert!(expect_tag(&t, &[2], 257, "t", 0).is_err());
        let mut bad = d.clone();
        bad[4] ^= 1;
        assert!(parse_tag(&bad, "t", 0).is_err());
        let mut bad = d.clone();
        bad[17] ^= 1;
        assert!(parse_tag(&bad, "t", 0).is_err());
        assert!(parse_tag(&d[..18], "t", 0).is_err());
    }

    #[test]
    fn ads() {
        let mut b = [0u8; 20];
        b[0..4].copy_from_slice(&(0x4000_0800u32).to_le_bytes());
        b[4..8].copy_from_slice(&7u32.to_le_bytes());
        let a = parse_ad(&b, 0).unwrap();
        assert_eq!(
            (a.len, a.kind, a.lbn, a.part),
            (2048, AdKind::Zero, 7, None)
        );
        b[0..4].copy_from_slice(&(0xC000_0010u32).to_le_bytes());
        b[8..10].copy_from_slice(&3u16.to_le_bytes());
        let a = parse_ad(&b, 1).unwrap();
        assert_eq!((a.kind, a.part), (AdKind::Continue, Some(3)));
        assert!(parse_ad(&[0u8; 8], 0).is_none());
    }

    #[test]
    fn timestamps() {
        // 2020-01-02 03:04:05 at UTC+01:00 (type 1, tz +60).
        let mut t = [0u8; 12];
        t[0..2].copy_from_slice(&(0x1000u16 | 60).to_le_bytes());
        t[2..4].copy_from_slice(&2020i16.to_le_bytes());
        t[4..9].copy_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(parse_timestamp(&t), Some(1_577_934_245 - 3600));
    }
}
