//! UDF 1.02 (ECMA-167 3rd edition + OSTA UDF 1.02) structures for a read-only bridge image:
//! volume descriptors, integrity descriptor, file set descriptor, File Entries with short
//! allocation descriptors and File Identifier Descriptors. Facts: docs/formats/iso-write.md.

use super::tree::WTree;
use crate::civil::civil_from_days;
use crate::iso::udf_desc::crc_itu;
use crate::{Error, Result};

/// UDF revision written (1.02, as Microsoft's media).
const UDF_REV: u16 = 0x0102;
/// Longest extent of one short_ad: 2^30 − 2048 (the length field has 30 bits; whole blocks).
pub(crate) const MAX_AD: u64 = (1 << 30) - 2048;
/// Short allocation descriptors that fit a File Entry in one block.
pub(crate) const MAX_ADS: u64 = (2048 - 176) / 8;
/// Unique ids 1–15 are reserved (UDF 3.2.1.1); the root has 0.
const FIRST_UNIQUE_ID: u64 = 16;

/// Descriptor tag ids (ECMA-167 3/7.2.1, 4/7.2.1).
mod id {
    pub const PVD: u16 = 1;
    pub const AVDP: u16 = 2;
    pub const IUVD: u16 = 4;
    pub const PD: u16 = 5;
    pub const LVD: u16 = 6;
    pub const USD: u16 = 7;
    pub const TD: u16 = 8;
    pub const LVID: u16 = 9;
    pub const FSD: u16 = 256;
    pub const FID: u16 = 257;
    pub const FE: u16 = 261;
}

/// Fill the 16-byte tag of `d` (CRC over bytes 16..`len`).
fn tag(d: &mut [u8], tag_id: u16, location: u32, len: usize) {
    d[0..2].copy_from_slice(&tag_id.to_le_bytes());
    d[2..4].copy_from_slice(&2u16.to_le_bytes());
    d[4] = 0;
    d[5] = 0;
    d[6..8].copy_from_slice(&1u16.to_le_bytes());
    let crc = crc_itu(&d[16..len]);
    d[8..10].copy_from_slice(&crc.to_le_bytes());
    d[10..12].copy_from_slice(&((len - 16) as u16).to_le_bytes());
    d[12..16].copy_from_slice(&location.to_le_bytes());
    d[4] = d[..16]
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 4)
        .fold(0u8, |a, (_, &b)| a.wrapping_add(b));
}

fn put16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(d: &mut [u8], at: usize, v: u64) {
    d[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// OSTA CS0 compressed unicode: 8 bits per character when every one fits, else 16 (big-endian).
fn cs0(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 0x100) {
        let mut v = vec![8u8];
        v.extend(s.chars().map(|c| c as u8));
        v
    } else {
        let mut v = vec![16u8];
        v.extend(s.encode_utf16().flat_map(|u| u.to_be_bytes()));
        v
    }
}

/// A fixed-length dstring: CS0 bytes, zero padding, used length in the last byte.
fn dstring(d: &mut [u8], s: &str) {
    let field = d.len();
    d.fill(0);
    if s.is_empty() {
        return;
    }
    let mut v = cs0(s);
    let step = if v[0] == 16 { 2 } else { 1 };
    let max = 1 + (field - 2) / step * step;
    v.truncate(max);
    d[..v.len()].copy_from_slice(&v);
    d[field - 1] = v.len() as u8;
}

fn charspec(d: &mut [u8]) {
    d[0] = 0;
    d[1..24].copy_from_slice(b"OSTA Compressed Unicode");
}

fn regid(d: &mut [u8], ident: &[u8], suffix: &[u8]) {
    d[..32].fill(0);
    d[1..1 + ident.len()].copy_from_slice(ident);
    d[24..24 + suffix.len()].copy_from_slice(suffix);
}

fn impl_regid(d: &mut [u8]) {
    regid(d, b"*mediaprep", &[]);
}

fn udf_suffix() -> [u8; 2] {
    UDF_REV.to_le_bytes()
}

/// 12-byte timestamp, type 1 (local time) at offset 0 = UTC.
fn timestamp(d: &mut [u8], t: i64) {
    let (y, m, day) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    put16(d, 0, 0x1000);
    put16(d, 2, y.clamp(1, 9999) as u16);
    d[4] = m as u8;
    d[5] = day as u8;
    d[6] = (s / 3600) as u8;
    d[7] = (s / 60 % 60) as u8;
    d[8] = (s % 60) as u8;
    d[9..12].fill(0);
}

fn long_ad(d: &mut [u8], len: u32, lbn: u32, unique: u64) {
    put32(d, 0, len);
    put32(d, 4, lbn);
    put16(d, 8, 0);
    d[10..12].fill(0);
    // UDF 2.3.4.3: the ICB's impl use carries the low 32 bits of the target's unique id.
    put32(d, 12, unique as u32);
}

/// Where the volume lives.
pub(crate) struct Volume<'a> {
    pub label: &'a str,
    pub time: i64,
    /// First sector of the partition; file system blocks are counted from here.
    pub part_start: u32,
    pub part_len: u32,
    pub lvid_sector: u32,
    pub files: u32,
    pub dirs: u32,
    pub next_unique: u64,
}

/// The main (or reserve) volume descriptor sequence starting at `at`: PVD, IUVD, PD, LVD, USD,
/// TD, one block each.
pub(crate) fn vds(v: &Volume<'_>, at: u32) -> Vec<u8> {
    let mut out = vec![0u8; 6 * 2048];
    let (pvd, rest) = out.split_at_mut(2048);
    put32(pvd, 16, 1);
    dstring(&mut pvd[24..56], v.label);
    put16(pvd, 56, 1);
    put16(pvd, 58, 1);
    put16(pvd, 60, 2);
    put16(pvd, 62, 2);
    put32(pvd, 64, 1);
    put32(pvd, 68, 1);
    // UDF 2.2.2.5: the volume set id starts with 16 unique characters (the time, in hex).
    dstring(&mut pvd[72..200], &format!("{:016X}{}", v.time, v.label));
    charspec(&mut pvd[200..264]);
    charspec(&mut pvd[264..328]);
    regid(&mut pvd[344..376], b"*mediaprep", &[]);
    timestamp(&mut pvd[376..388], v.time);
    impl_regid(&mut pvd[388..420]);
    tag(pvd, id::PVD, at, 512);

    let (iuvd, rest) = rest.split_at_mut(2048);
    put32(iuvd, 16, 2);
    regid(&mut iuvd[20..52], b"*UDF LV Info", &udf_suffix());
    charspec(&mut iuvd[52..116]);
    dstring(&mut iuvd[116..244], v.label);
    impl_regid(&mut iuvd[352..384]);
    tag(iuvd, id::IUVD, at + 1, 512);

    let (pd, rest) = rest.split_at_mut(2048);
    put32(pd, 16, 3);
    put16(pd, 20, 1);
    put16(pd, 22, 0);
    regid(&mut pd[24..56], b"+NSR02", &[]);
    put32(pd, 184, 1);
    put32(pd, 188, v.part_start);
    put32(pd, 192, v.part_len);
    impl_regid(&mut pd[196..228]);
    tag(pd, id::PD, at + 2, 512);

    let (lvd, rest) = rest.split_at_mut(2048);
    put32(lvd, 16, 4);
    charspec(&mut lvd[20..84]);
    dstring(&mut lvd[84..212], v.label);
    put32(lvd, 212, 2048);
    regid(&mut lvd[216..248], b"*OSTA UDF Compliant", &[2, 1, 0]);
    long_ad(&mut lvd[248..264], 2048, 0, 0);
    put32(lvd, 264, 6);
    put32(lvd, 268, 1);
    impl_regid(&mut lvd[272..304]);
    put32(lvd, 432, 2 * 2048);
    put32(lvd, 436, v.lvid_sector);
    lvd[440] = 1;
    lvd[441] = 6;
    put16(lvd, 442, 1);
    put16(lvd, 444, 0);
    tag(lvd, id::LVD, at + 3, 446);

    let (usd, td) = rest.split_at_mut(2048);
    put32(usd, 16, 5);
    tag(usd, id::USD, at + 4, 24);
    tag(td, id::TD, at + 5, 512);
    out
}

/// Logical Volume Integrity Descriptor (closed) and its terminator, at `v.lvid_sector`.
pub(crate) fn lvid(v: &Volume<'_>) -> Vec<u8> {
    let mut out = vec![0u8; 2 * 2048];
    let (d, td) = out.split_at_mut(2048);
    timestamp(&mut d[16..28], v.time);
    put32(d, 28, 1);
    put64(d, 40, v.next_unique);
    put32(d, 72, 1);
    put32(d, 76, 46);
    put32(d, 80, 0);
    put32(d, 84, v.part_len);
    impl_regid(&mut d[88..120]);
    put32(d, 120, v.files);
    put32(d, 124, v.dirs);
    put16(d, 128, UDF_REV);
    put16(d, 130, UDF_REV);
    put16(d, 132, UDF_REV);
    tag(d, id::LVID, v.lvid_sector, 134);
    tag(td, id::TD, v.lvid_sector + 1, 512);
    out
}

/// Anchor Volume Descriptor Pointer at `at`, pointing at both sequences (6 blocks each).
pub(crate) fn avdp(at: u32, main: u32, reserve: u32) -> Vec<u8> {
    let mut d = vec![0u8; 2048];
    put32(&mut d, 16, 6 * 2048);
    put32(&mut d, 20, main);
    put32(&mut d, 24, 6 * 2048);
    put32(&mut d, 28, reserve);
    tag(&mut d, id::AVDP, at, 512);
    d
}

/// File Set Descriptor at block 0 of the partition, then a terminator at block 1.
pub(crate) fn fsd(v: &Volume<'_>, root_lbn: u32) -> Vec<u8> {
    let mut out = vec![0u8; 2 * 2048];
    let (d, td) = out.split_at_mut(2048);
    timestamp(&mut d[16..28], v.time);
    put16(d, 28, 3);
    put16(d, 30, 3);
    put32(d, 32, 1);
    put32(d, 36, 1);
    charspec(&mut d[48..112]);
    dstring(&mut d[112..240], v.label);
    charspec(&mut d[240..304]);
    dstring(&mut d[304..336], v.label);
    long_ad(&mut d[400..416], 2048, root_lbn, 0);
    regid(&mut d[416..448], b"*OSTA UDF Compliant", &[2, 1, 0]);
    tag(d, id::FSD, 0, 512);
    tag(td, id::TD, 1, 512);
    out
}

/// Unique id of node `i` (the root has 0).
pub(crate) fn unique_id(i: usize) -> u64 {
    if i == 0 {
        0
    } else {
        FIRST_UNIQUE_ID + i as u64 - 1
    }
}

fn fid_len(name_len: usize) -> usize {
    (38 + name_len).div_ceil(4) * 4
}

/// Bytes of a directory's FID stream (parent entry + one per child).
pub(crate) fn dir_stream_len(tree: &WTree, dir: usize) -> Result<u64> {
    let mut n = fid_len(0) as u64;
    for &k in &tree.nodes[dir].children {
        let l = cs0(&tree.nodes[k].name).len();
        if l > 255 {
            return Err(Error::limit(
                l,
                255,
                format!("{}: name too long for a UDF identifier", tree.path(k)),
            ));
        }
        n += fid_len(l) as u64;
    }
    Ok(n)
}

fn fid(out: &mut Vec<u8>, first_lbn: u32, chars: u8, name: &[u8], icb_lbn: u32, unique: u64) {
    let start = out.len();
    let len = fid_len(name.len());
    out.resize(start + len, 0);
    let d = &mut out[start..];
    put16(d, 16, 1);
    d[18] = chars;
    d[19] = name.len() as u8;
    long_ad(&mut d[20..36], 2048, icb_lbn, unique);
    put16(d, 36, 0);
    d[38..38 + name.len()].copy_from_slice(name);
    let loc = first_lbn + (start / 2048) as u32;
    tag(d, id::FID, loc, len);
}

/// A directory's FID stream; `fe_lbn[i]` is node i's File Entry block, `stream_lbn` the block the
/// stream starts at (FID tags record the block they start in).
pub(crate) fn dir_stream(tree: &WTree, dir: usize, fe_lbn: &[u32], stream_lbn: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let parent = tree.nodes[dir].parent;
    fid(
        &mut out,
        stream_lbn,
        0x0A,
        &[],
        fe_lbn[parent],
        unique_id(parent),
    );
    let mut kids = tree.nodes[dir].children.clone();
    kids.sort_by(|&a, &b| tree.nodes[a].name.cmp(&tree.nodes[b].name));
    for k in kids {
        let c = &tree.nodes[k];
        let chars = if c.is_dir { 0x02 } else { 0 };
        fid(
            &mut out,
            stream_lbn,
            chars,
            &cs0(&c.name),
            fe_lbn[k],
            unique_id(k),
        );
    }
    out
}

/// A File Entry for node `i` whose content (`len` bytes) starts at block `data_lbn`.
pub(crate) fn file_entry(
    tree: &WTree,
    i: usize,
    fe_lbn: u32,
    data_lbn: u32,
    len: u64,
) -> Result<Vec<u8>> {
    let node = &tree.nodes[i];
    let ads = if len == 0 { 0 } else { len.div_ceil(MAX_AD) };
    if ads > MAX_ADS {
        return Err(Error::limit(
            ads,
            MAX_ADS,
            format!(
                "{}: {len} bytes need more than {MAX_ADS} UDF extents",
                tree.path(i)
            ),
        ));
    }
    let mut d = vec![0u8; 2048];
    // ICB tag: strategy 4, one entry, file type 4 (directory) or 5 (file), short_ads.
    put16(&mut d, 20, 4);
    put16(&mut d, 24, 1);
    d[27] = if node.is_dir { 4 } else { 5 };
    put16(&mut d, 34, 0);
    put32(&mut d, 36, u32::MAX);
    put32(&mut d, 40, u32::MAX);
    // Read and execute for owner, group and others (ECMA-167 4/14.9.5).
    put32(&mut d, 44, 0x14A5);
    let links = if node.is_dir {
        1 + node
            .children
            .iter()
            .filter(|&&k| tree.nodes[k].is_dir)
            .count()
    } else {
        1
    };
    put16(&mut d, 48, links.min(usize::from(u16::MAX)) as u16);
    put64(&mut d, 56, len);
    put64(&mut d, 64, len.div_ceil(2048));
    for at in [72, 84, 96] {
        timestamp(&mut d[at..at + 12], node.mtime);
    }
    put32(&mut d, 108, 1);
    impl_regid(&mut d[128..160]);
    put64(&mut d, 160, unique_id(i));
    put32(&mut d, 168, 0);
    put32(&mut d, 172, (ads * 8) as u32);
    for a in 0..ads {
        let off = a * MAX_AD;
        let l = (len - off).min(MAX_AD);
        let at = 176 + (a * 8) as usize;
        put32(&mut d, at, l as u32);
        put32(&mut d, at + 4, data_lbn + (off / 2048) as u32);
    }
    tag(&mut d, id::FE, fe_lbn, 176 + (ads * 8) as usize);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso::udf_desc::parse_tag;

    #[test]
    fn descriptors_pass_our_tag_checks() {
        let v = Volume {
            label: "CCCOMA_X64FRE_EN-US_DV9",
            time: 1_700_000_000,
            part_start: 257,
            part_len: 1000,
            lvid_sector: 64,
            files: 3,
            dirs: 2,
            next_unique: 20,
        };
        let s = vds(&v, 32);
        for (i, want) in [id::PVD, id::IUVD, id::PD, id::LVD, id::USD, id::TD]
            .iter()
            .enumerate()
        {
            let t = parse_tag(&s[i * 2048..], "test", 0).unwrap();
            assert_eq!((t.id, t.location), (*want, 32 + i as u32));
        }
        assert_eq!(parse_tag(&lvid(&v), "t", 0).unwrap().id, id::LVID);
        assert_eq!(parse_tag(&avdp(256, 32, 48), "t", 0).unwrap().id, id::AVDP);
        assert_eq!(parse_tag(&fsd(&v, 2), "t", 0).unwrap().id, id::FSD);
        let mut label = [0u8; 32];
        dstring(&mut label, "AB");
        assert_eq!(&label[..3], &[8, b'A', b'B']);
        assert_eq!(label[31], 3);
    }
}
