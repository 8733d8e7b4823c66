//! ISO 9660 (ECMA-119) and Joliet structures: names, directory records, path tables and volume
//! descriptors. Facts and their sources: docs/formats/iso-write.md.

use super::tree::WTree;
use crate::civil::civil_from_days;
use crate::{Error, Result};
use std::collections::HashSet;

/// Largest extent one directory record describes: 4 GiB − 2048, so every extent but the last of a
/// multi-extent file is whole sectors.
pub(crate) const MAX_EXTENT: u64 = 0xFFFF_F800;
/// Sector size.
pub(crate) const SECTOR: u64 = 2048;
/// Longest Joliet name accepted (in UCS-2 units; 64 is the Joliet limit, 103 what mkisofs's
/// `-joliet-long` and every reader we test accept).
const JOLIET_MAX: usize = 103;

/// Names and orders of one tree (primary or Joliet).
pub(crate) struct Names {
    /// Identifier bytes of every node (empty for the root).
    pub ids: Vec<Vec<u8>>,
    /// Children of every directory, sorted by identifier.
    pub sorted: Vec<Vec<usize>>,
    /// Directories in path-table order (by level, then parent number, then identifier).
    pub dirs: Vec<usize>,
    /// Path-table number (1-based) of every directory.
    pub number: Vec<u16>,
}

fn dchars(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            let u = c.to_ascii_uppercase();
            if u.is_ascii_uppercase() || u.is_ascii_digit() || u == '_' {
                u
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

/// Level-2/3 primary identifier for `name`: d-characters, at most 30 (files, `BASE.EXT;1`) or 31
/// (directories) characters, made unique within the directory by a `~N` tail.
fn primary_id(name: &str, is_dir: bool, taken: &mut HashSet<String>) -> Vec<u8> {
    let (base, ext) = match (is_dir, name.rfind('.')) {
        (false, Some(dot)) => (&name[..dot], dchars(&name[dot + 1..], 8)),
        _ => (name, String::new()),
    };
    let room = if is_dir { 31 } else { 30 - 1 - ext.len() };
    let mut b = dchars(base, room);
    let mut n = 1u32;
    loop {
        let full = if is_dir {
            b.clone()
        } else {
            format!("{b}.{ext}")
        };
        if taken.insert(full.clone()) {
            return if is_dir {
                full.into_bytes()
            } else {
                format!("{full};1").into_bytes()
            };
        }
        let tail = format!("~{n}");
        let keep = dchars(base, room.saturating_sub(tail.len()));
        b = format!("{keep}{tail}");
        n += 1;
    }
}

fn joliet_id(name: &str, path: &str) -> Result<Vec<u8>> {
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > JOLIET_MAX {
        return Err(Error::limit(
            units.len(),
            JOLIET_MAX,
            format!(
                "{path}: name longer than {JOLIET_MAX} characters does not fit a Joliet record"
            ),
        ));
    }
    Ok(units.iter().flat_map(|u| u.to_be_bytes()).collect())
}

/// Identifiers, sorted children and path-table order of `tree`.
pub(crate) fn names(tree: &WTree, joliet: bool) -> Result<Names> {
    let n = tree.nodes.len();
    let mut ids = vec![Vec::new(); n];
    let mut sorted = vec![Vec::new(); n];
    for (d, node) in tree.nodes.iter().enumerate() {
        if !node.is_dir {
            continue;
        }
        let mut taken = HashSet::new();
        // Names are assigned in a fixed order so the output does not depend on the source's.
        let mut kids = node.children.clone();
        kids.sort_by(|&a, &b| tree.nodes[a].name.cmp(&tree.nodes[b].name));
        for &k in &kids {
            let c = &tree.nodes[k];
            ids[k] = if joliet {
                joliet_id(&c.name, &tree.path(k))?
            } else {
                primary_id(&c.name, c.is_dir, &mut taken)
            };
        }
        kids.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
        sorted[d] = kids;
    }
    let mut dirs = vec![0usize];
    let mut i = 0;
    while i < dirs.len() {
        let d = dirs[i];
        dirs.extend(sorted[d].iter().copied().filter(|&k| tree.nodes[k].is_dir));
        i += 1;
    }
    if dirs.len() > usize::from(u16::MAX) {
        return Err(Error::limit(
            dirs.len(),
            u16::MAX,
            format!(
                "{} directories; an ISO 9660 path table numbers at most 65535",
                dirs.len()
            ),
        ));
    }
    let mut number = vec![0u16; n];
    for (i, &d) in dirs.iter().enumerate() {
        number[d] = (i + 1) as u16;
    }
    Ok(Names {
        ids,
        sorted,
        dirs,
        number,
    })
}

fn record_len(id_len: usize) -> usize {
    let l = 33 + id_len;
    l + (l & 1)
}

/// Directory records of one directory, as (identifier, extent index) for sizing.
fn record_lens(tree: &WTree, names: &Names, dir: usize) -> Vec<usize> {
    let mut v = vec![34, 34];
    for &k in &names.sorted[dir] {
        let c = &tree.nodes[k];
        let parts = if c.is_dir {
            1
        } else {
            c.size.div_ceil(MAX_EXTENT).max(1)
        };
        for _ in 0..parts {
            v.push(record_len(names.ids[k].len()));
        }
    }
    v
}

/// Bytes of a directory's extent: records never cross a sector boundary.
pub(crate) fn dir_size(tree: &WTree, names: &Names, dir: usize) -> u64 {
    let mut sectors = 1u64;
    let mut used = 0usize;
    for l in record_lens(tree, names, dir) {
        if used + l > SECTOR as usize {
            sectors += 1;
            used = 0;
        }
        used += l;
    }
    sectors * SECTOR
}

/// Bytes of one path table.
pub(crate) fn path_table_size(names: &Names) -> u64 {
    names
        .dirs
        .iter()
        .map(|&d| {
            let l = names.ids[d].len().max(1);
            (8 + l + (l & 1)) as u64
        })
        .sum()
}

fn both16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_le_bytes());
    b[2..4].copy_from_slice(&v.to_be_bytes());
}

fn both32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..8].copy_from_slice(&v.to_be_bytes());
}

fn split_time(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400) as u32;
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// The 7-byte recording date of a directory record (UTC).
fn record_time(t: i64) -> [u8; 7] {
    let (y, m, d, h, mi, s) = split_time(t);
    [
        (y - 1900).clamp(0, 255) as u8,
        m as u8,
        d as u8,
        h as u8,
        mi as u8,
        s as u8,
        0,
    ]
}

/// The 17-byte date of a volume descriptor (`YYYYMMDDHHMMSScc` + offset, UTC).
pub(crate) fn volume_time(t: i64) -> [u8; 17] {
    let (y, m, d, h, mi, s) = split_time(t);
    let text = format!("{:04}{m:02}{d:02}{h:02}{mi:02}{s:02}00", y.clamp(0, 9999));
    let mut b = [0u8; 17];
    b[..16].copy_from_slice(text.as_bytes());
    b
}

fn record(id: &[u8], extent: u32, size: u32, flags: u8, time: i64) -> Vec<u8> {
    let len = record_len(id.len());
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    both32(&mut r[2..10], extent);
    both32(&mut r[10..18], size);
    r[18..25].copy_from_slice(&record_time(time));
    r[25] = flags;
    both16(&mut r[28..32], 1);
    r[32] = id.len() as u8;
    r[33..33 + id.len()].copy_from_slice(id);
    r
}

/// Where directories and files of a tree are: directory (sector, bytes) and file sector.
pub(crate) struct Placed<'a> {
    pub dir: &'a [(u64, u64)],
    pub file: &'a [u64],
}

fn sector32(s: u64, what: &str) -> Result<u32> {
    u32::try_from(s)
        .map_err(|_| Error::limit(s, u32::MAX, format!("{what} lies beyond sector 2^32")))
}

/// The bytes of directory `dir`'s extent.
pub(crate) fn render_dir(
    tree: &WTree,
    names: &Names,
    dir: usize,
    at: &Placed<'_>,
) -> Result<Vec<u8>> {
    let node = &tree.nodes[dir];
    let (loc, size) = at.dir[dir];
    let (ploc, psize) = at.dir[node.parent];
    let mut recs = vec![
        record(
            &[0],
            sector32(loc, "directory")?,
            size as u32,
            2,
            node.mtime,
        ),
        record(
            &[1],
            sector32(ploc, "directory")?,
            psize as u32,
            2,
            tree.nodes[node.parent].mtime,
        ),
    ];
    for &k in &names.sorted[dir] {
        let c = &tree.nodes[k];
        if c.is_dir {
            let (l, s) = at.dir[k];
            recs.push(record(
                &names.ids[k],
                sector32(l, "directory")?,
                s as u32,
                2,
                c.mtime,
            ));
            continue;
        }
        let parts = c.size.div_ceil(MAX_EXTENT).max(1);
        for p in 0..parts {
            let off = p * MAX_EXTENT;
            let len = (c.size - off).min(MAX_EXTENT);
            let sector = if c.size == 0 {
                0
            } else {
                at.file[k] + off / SECTOR
            };
            let flags = if p + 1 < parts { 0x80 } else { 0 };
            recs.push(record(
                &names.ids[k],
                sector32(sector, "file")?,
                len as u32,
                flags,
                c.mtime,
            ));
        }
    }
    let mut out = Vec::with_capacity(size as usize);
    let mut used = 0usize;
    for r in recs {
        if used + r.len() > SECTOR as usize {
            out.resize(out.len() + SECTOR as usize - used, 0);
            used = 0;
        }
        used += r.len();
        out.extend_from_slice(&r);
    }
    out.resize(size as usize, 0);
    Ok(out)
}

/// One path table (`big_endian`: the M table).
pub(crate) fn path_table(
    names: &Names,
    tree: &WTree,
    dir_at: &[(u64, u64)],
    big_endian: bool,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for &d in &names.dirs {
        let id: &[u8] = if d == 0 { &[0] } else { &names.ids[d] };
        let loc = sector32(dir_at[d].0, "directory")?;
        let parent = names.number[tree.nodes[d].parent];
        out.push(id.len() as u8);
        out.push(0);
        if big_endian {
            out.extend_from_slice(&loc.to_be_bytes());
            out.extend_from_slice(&parent.to_be_bytes());
        } else {
            out.extend_from_slice(&loc.to_le_bytes());
            out.extend_from_slice(&parent.to_le_bytes());
        }
        out.extend_from_slice(id);
        if id.len() & 1 == 1 {
            out.push(0);
        }
    }
    Ok(out)
}

/// What a primary or Joliet volume descriptor records.
pub(crate) struct VolumeFields<'a> {
    pub label: &'a str,
    pub total_sectors: u64,
    pub path_table_size: u64,
    pub l_table: u64,
    pub m_table: u64,
    pub root: (u64, u64),
    pub time: i64,
}

fn text_field(b: &mut [u8], s: &str, joliet: bool) {
    if joliet {
        let mut i = 0;
        for u in s.encode_utf16() {
            if i + 2 > b.len() {
                break;
            }
            b[i..i + 2].copy_from_slice(&u.to_be_bytes());
            i += 2;
        }
        while i + 2 <= b.len() {
            b[i..i + 2].copy_from_slice(&0x0020u16.to_be_bytes());
            i += 2;
        }
    } else {
        b.fill(b' ');
        for (d, c) in b.iter_mut().zip(s.chars()) {
            *d = if c.is_ascii() && !c.is_ascii_control() {
                c.to_ascii_uppercase() as u8
            } else {
                b'_'
            };
        }
    }
}

/// A primary (type 1) or Joliet (type 2, UCS-2 level 3) volume descriptor.
pub(crate) fn volume_descriptor(joliet: bool, f: &VolumeFields<'_>) -> Result<Vec<u8>> {
    let mut b = vec![0u8; SECTOR as usize];
    b[0] = if joliet { 2 } else { 1 };
    b[1..6].copy_from_slice(b"CD001");
    b[6] = 1;
    text_field(&mut b[8..40], "", joliet);
    text_field(&mut b[40..72], f.label, joliet);
    both32(&mut b[80..88], sector32(f.total_sectors, "volume end")?);
    if joliet {
        b[88..91].copy_from_slice(b"%/E");
    }
    both16(&mut b[120..124], 1);
    both16(&mut b[124..128], 1);
    both16(&mut b[128..132], SECTOR as u16);
    both32(
        &mut b[132..140],
        u32::try_from(f.path_table_size).map_err(|_| {
            Error::limit(f.path_table_size, u32::MAX, "path table larger than 4 GiB")
        })?,
    );
    b[140..144].copy_from_slice(&sector32(f.l_table, "path table")?.to_le_bytes());
    b[148..152].copy_from_slice(&sector32(f.m_table, "path table")?.to_be_bytes());
    let root = record(
        &[0],
        sector32(f.root.0, "root directory")?,
        f.root.1 as u32,
        2,
        f.time,
    );
    b[156..190].copy_from_slice(&root);
    for (at, len) in [
        (190, 128),
        (318, 128),
        (446, 128),
        (702, 37),
        (739, 37),
        (776, 37),
    ] {
        text_field(&mut b[at..at + len], "", joliet);
    }
    text_field(&mut b[574..702], "MEDIAPREP", joliet);
    let t = volume_time(f.time);
    b[813..830].copy_from_slice(&t);
    b[830..847].copy_from_slice(&t);
    b[847..863].copy_from_slice(b"0000000000000000");
    b[864..881].copy_from_slice(&t);
    b[881] = 1;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_names_are_dchars_unique_and_short() {
        let mut t = HashSet::new();
        assert_eq!(primary_id("bootmgr", false, &mut t), b"BOOTMGR.;1");
        assert_eq!(primary_id("install.wim", false, &mut t), b"INSTALL.WIM;1");
        assert_eq!(primary_id("Install.wim", false, &mut t), b"INSTALL~1.WIM;1");
        assert_eq!(primary_id("en-us", true, &mut t), b"EN_US");
        let long = primary_id(&"x".repeat(80), false, &mut t);
        assert!(long.len() <= 32, "{}", String::from_utf8_lossy(&long));
    }

    #[test]
    fn volume_time_is_ecma_text() {
        assert_eq!(&volume_time(0)[..16], b"1970010100000000");
        assert_eq!(record_time(86_400 + 61), [70, 1, 2, 0, 1, 1, 0]);
    }
}
