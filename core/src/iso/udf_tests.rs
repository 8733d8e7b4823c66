//! A hand-built UDF 2.01 volume exercising what genisoimage and pycdlib never write:
//! Extended File Entries, embedded file data, long_ad and ext_ad, an unrecorded extent and an
//! Allocation Extent Descriptor continuation.

use super::super::udf_desc::crc_itu;
use super::super::{FsKind, IsoImage};
use crate::io::{ReadAt, SliceSource};
use std::sync::Arc;

const BS: usize = 2048;
const PART: usize = 300;

fn put_tag(img: &mut [u8], at: usize, id: u16, loc: u32, len: usize) {
    let crc = crc_itu(&img[at + 16..at + len]);
    img[at..at + 2].copy_from_slice(&id.to_le_bytes());
    img[at + 2..at + 4].copy_from_slice(&3u16.to_le_bytes());
    img[at + 8..at + 10].copy_from_slice(&crc.to_le_bytes());
    img[at + 10..at + 12].copy_from_slice(&((len - 16) as u16).to_le_bytes());
    img[at + 12..at + 16].copy_from_slice(&loc.to_le_bytes());
    let sum = (0..16)
        .filter(|&i| i != 4)
        .fold(0u8, |a, i| a.wrapping_add(img[at + i]));
    img[at + 4] = sum;
}

fn put32(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn long_ad(img: &mut [u8], at: usize, len_type: u32, lbn: u32) {
    put32(img, at, len_type);
    put32(img, at + 4, lbn);
}

/// Append a FID pointing at (`part`, `lbn`).
fn fid(buf: &mut Vec<u8>, chars: u8, name: &str, lbn: u32, part: u16) {
    let at = buf.len();
    let mut n = Vec::new();
    if !name.is_empty() {
        n.push(8);
        n.extend_from_slice(name.as_bytes());
    }
    let len = 38 + n.len();
    buf.resize(at + ((len + 3) & !3), 0);
    buf[at + 16] = 1;
    buf[at + 18] = chars;
    buf[at + 19] = n.len() as u8;
    long_ad(buf, at + 20, BS as u32, lbn);
    buf[at + 28..at + 30].copy_from_slice(&part.to_le_bytes());
    buf[at + 38..at + 38 + n.len()].copy_from_slice(&n);
    put_tag(buf, at, 257, 1, len);
}

/// An (E)FE at partition block `lbn` with the given file type, AD type and AD area.
fn entry(img: &mut [u8], lbn: usize, efe: bool, ftype: u8, ad_type: u16, size: u64, ads: &[u8]) {
    let at = (PART + lbn) * BS;
    let fixed = if efe { 216 } else { 176 };
    img[at + 16 + 4..at + 16 + 6].copy_from_slice(&4u16.to_le_bytes());
    img[at + 16 + 11] = ftype;
    img[at + 16 + 18..at + 16 + 20].copy_from_slice(&ad_type.to_le_bytes());
    img[at + 56..at + 64].copy_from_slice(&size.to_le_bytes());
    // Modification time 2021-06-01 12:00:00 UTC (type 1, offset 0).
    let mt = if efe { 92 } else { 84 };
    img[at + mt..at + mt + 2].copy_from_slice(&0x1000u16.to_le_bytes());
    img[at + mt + 2..at + mt + 4].copy_from_slice(&2021u16.to_le_bytes());
    img[at + mt + 4..at + mt + 9].copy_from_slice(&[6, 1, 12, 0, 0]);
    let l_ad = if efe { 212 } else { 172 };
    put32(img, at + l_ad, ads.len() as u32);
    img[at + fixed..at + fixed + ads.len()].copy_from_slice(ads);
    put_tag(
        img,
        at,
        if efe { 266 } else { 261 },
        lbn as u32,
        fixed + ads.len(),
    );
}

fn noise(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32) as u8
        })
        .collect()
}

fn build() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    build_with(false)
}

/// With `meta`, the FSD, directories and File Entries live in a UDF 2.50 metadata partition
/// (partition reference 1) whose blocks 0..6 are stored at physical blocks 70..76.
fn build_with(meta: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mp: u16 = u16::from(meta);
    let mut img = vec![0u8; 400 * BS];
    for (i, id) in [b"BEA01", b"NSR03", b"TEA01"].iter().enumerate() {
        img[(16 + i) * BS + 1..(16 + i) * BS + 6].copy_from_slice(*id);
        img[(16 + i) * BS + 6] = 1;
    }
    // PD: partition 0 at block 300, 100 blocks.
    put32(&mut img, 32 * BS + 188, PART as u32);
    put32(&mut img, 32 * BS + 192, 100);
    img[32 * BS + 25..32 * BS + 31].copy_from_slice(b"+NSR03");
    put_tag(&mut img, 32 * BS, 5, 32, 512);
    // LVD: 2048-byte blocks, UDF 2.01, FSD at lbn 0, one type-1 map.
    let l = 33 * BS;
    img[l + 84] = 8;
    img[l + 85..l + 89].copy_from_slice(b"HAND");
    img[l + 84 + 127] = 5;
    put32(&mut img, l + 212, BS as u32);
    img[l + 217..l + 236].copy_from_slice(b"*OSTA UDF Compliant");
    img[l + 240..l + 242].copy_from_slice(&0x0201u16.to_le_bytes());
    long_ad(&mut img, l + 248, BS as u32, 0);
    put32(&mut img, l + 264, 6);
    put32(&mut img, l + 268, 1);
    img[l + 440..l + 446].copy_from_slice(&[1, 6, 1, 0, 0, 0]);
    put_tag(&mut img, l, 6, 33, 446);
    put_tag(&mut img, 34 * BS, 8, 34, 512);
    // AVDP at 256: main and reserve VDS at 32 (3 blocks).
    put32(&mut img, 256 * BS + 16, 3 * BS as u32);
    put32(&mut img, 256 * BS + 20, 32);
    put32(&mut img, 256 * BS + 24, 3 * BS as u32);
    put32(&mut img, 256 * BS + 28, 32);
    put_tag(&mut img, 256 * BS, 2, 256, 512);
    // FSD at partition block 0: root ICB at lbn 1.
    long_ad(&mut img, PART * BS + 400, BS as u32, 1);
    img[PART * BS + 408..PART * BS + 410].copy_from_slice(&mp.to_le_bytes());
    put_tag(&mut img, PART * BS, 256, 0, 512);
    // Root: EFE with the FIDs embedded.
    let mut dir = Vec::new();
    fid(&mut dir, 0x0A, "", 1, mp);
    fid(&mut dir, 0, "emb.txt", 2, mp);
    fid(&mut dir, 0, "gone.txt", 2, mp); // deleted entry: must be skipped
    let del = dir.len() - 48;
    dir[del + 18] = 0x04;
    put_tag(&mut dir, del, 257, 1, 38 + 9);
    fid(&mut dir, 0, "Sparse.bin", 3, mp);
    fid(&mut dir, 0, "ext.bin", 5, mp);
    entry(&mut img, 1, true, 4, 3, dir.len() as u64, &dir.clone());
    // Embedded file.
    entry(&mut img, 2, true, 5, 3, 14, b"hello embedded");
    // long_ads: 4096 recorded at 10, 4096 unrecorded, then continue in the AED at 4.
    let mut ads = vec![0u8; 48];
    long_ad(&mut ads, 0, 4096, 10);
    long_ad(&mut ads, 16, (1 << 30) | 4096, 0);
    long_ad(&mut ads, 32, (3 << 30) | BS as u32, 4);
    ads[40..42].copy_from_slice(&mp.to_le_bytes());
    let sparse_len = 4096 + 4096 + 2048 + 1000;
    entry(&mut img, 3, false, 5, 1, sparse_len, &ads);
    let aed = (PART + 4) * BS;
    put32(&mut img, aed + 20, 32);
    long_ad(&mut img, aed + 24, BS as u32, 20);
    long_ad(&mut img, aed + 40, 1000, 30);
    put_tag(&mut img, aed, 258, 4, 24 + 32);
    // ext_ads: 2048 at 40, 500 at 41.
    let mut ext = vec![0u8; 40];
    put32(&mut ext, 0, BS as u32);
    put32(&mut ext, 12, 40);
    put32(&mut ext, 20, 500);
    put32(&mut ext, 32, 41);
    entry(&mut img, 5, true, 5, 2, 2548, &ext);
    // File data.
    let a = noise(1, 4096);
    let b = noise(2, 2048);
    let c = noise(3, 1000);
    let mut write = |lbn: usize, d: &[u8]| {
        img[(PART + lbn) * BS..(PART + lbn) * BS + d.len()].copy_from_slice(d)
    };
    write(10, &a);
    write(20, &b);
    write(30, &c);
    let e = noise(4, 2548);
    write(40, &e);
    let mut sparse = a;
    sparse.extend_from_slice(&[0u8; 4096]);
    sparse.extend_from_slice(&b);
    sparse.extend_from_slice(&c);
    if meta {
        let l = 33 * BS;
        long_ad(&mut img, l + 248, BS as u32, 0);
        img[l + 256..l + 258].copy_from_slice(&1u16.to_le_bytes());
        let m = l + 446;
        img[m] = 2;
        img[m + 1] = 64;
        img[m + 5..m + 28].copy_from_slice(b"*UDF Metadata Partition");
        img[m + 36..m + 38].copy_from_slice(&1u16.to_le_bytes());
        put32(&mut img, m + 40, 80);
        put32(&mut img, m + 44, 80);
        put32(&mut img, m + 48, u32::MAX);
        put32(&mut img, l + 264, 70);
        put32(&mut img, l + 268, 2);
        put_tag(&mut img, l, 6, 33, 440 + 70);
        let from = PART * BS;
        let to = (PART + 70) * BS;
        img.copy_within(from..from + 6 * BS, to);
        img[from..from + 6 * BS].fill(0);
        let mut ad = vec![0u8; 8];
        put32(&mut ad, 0, 6 * BS as u32);
        put32(&mut ad, 4, 70);
        entry(&mut img, 80, false, 250, 0, 6 * BS as u64, &ad);
    }
    (img, sparse, e)
}

fn read(img: &IsoImage, path: &str) -> Vec<u8> {
    let r = img.open_file(path).unwrap();
    let mut v = vec![0u8; r.size() as usize];
    r.read_at(0, &mut v).unwrap();
    v
}

#[test]
fn efe_embedded_long_ext_aed_and_sparse() {
    let (bytes, sparse, ext) = build();
    let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
    assert_eq!(img.active_filesystem(), FsKind::Udf);
    assert_eq!(img.volume_label().as_deref(), Some("HAND"));
    assert_eq!(img.filesystems()[0].version, "UDF 2.01 (NSR03)");
    let names: Vec<String> = img.list("/").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["emb.txt", "Sparse.bin", "ext.bin"]);
    assert_eq!(read(&img, "/EMB.TXT"), b"hello embedded");
    assert_eq!(read(&img, "sparse.bin"), sparse);
    assert_eq!(read(&img, "ext.bin"), ext);
    let st = img.stat("/sparse.bin").unwrap();
    assert_eq!(st.mtime, Some(1_622_548_800));
    // A read spanning recorded → unrecorded → AED-continued extents.
    let r = img.open_file("/sparse.bin").unwrap();
    let mut mid = vec![0u8; 6000];
    r.read_at(3000, &mut mid).unwrap();
    assert_eq!(mid, sparse[3000..9000]);
}

#[test]
fn metadata_partition_maps_blocks_through_the_metadata_file() {
    let (bytes, sparse, ext) = build_with(true);
    let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
    let names: Vec<String> = img.list("/").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["emb.txt", "Sparse.bin", "ext.bin"]);
    assert_eq!(read(&img, "/emb.txt"), b"hello embedded");
    assert_eq!(read(&img, "/sparse.bin"), sparse);
    assert_eq!(read(&img, "/ext.bin"), ext);

    // Without the metadata file the volume cannot be read.
    let (mut bytes, _, _) = build_with(true);
    bytes[(PART + 80) * BS..(PART + 81) * BS].fill(0);
    assert!(IsoImage::open(Arc::new(SliceSource::new(bytes))).is_err());
}

#[test]
fn aed_chain_looping_on_itself_is_bounded() {
    let (mut bytes, _, _) = build();
    // The AED's only descriptor continues into the AED itself.
    let aed = (PART + 4) * BS;
    bytes[aed + 24..aed + 56].fill(0);
    long_ad(&mut bytes, aed + 24, (3 << 30) | BS as u32, 4);
    put32(&mut bytes, aed + 20, 16);
    put_tag(&mut bytes, aed, 258, 4, 24 + 16);
    let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
    assert!(matches!(
        img.open_file("/sparse.bin"),
        Err(crate::Error::Limit { .. })
    ));
}

#[test]
fn aed_with_bad_crc_and_embedded_overrun_are_errors() {
    let (mut bytes, _, _) = build();
    bytes[(PART + 4) * BS + 30] ^= 1;
    let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
    // The entry itself is fine, so it is listed; its content cannot be mapped.
    assert!(img.stat("/sparse.bin").is_ok());
    assert!(img.open_file("/sparse.bin").is_err());
    assert_eq!(read(&img, "/emb.txt"), b"hello embedded");

    let (mut bytes, _, _) = build();
    // Embedded file claiming more bytes than its entry holds.
    let at = (PART + 2) * BS;
    bytes[at + 56] = 200;
    let len = 216 + 14;
    put_tag(&mut bytes, at, 266, 2, len);
    let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
    assert!(img.stat("/emb.txt").is_err());
}

#[test]
fn partition_overrun_and_type2_maps_are_refused() {
    let (mut bytes, _, _) = build();
    // ext.bin's first extent at a block beyond the 100-block partition.
    let at = (PART + 5) * BS + 216 + 12;
    put32(&mut bytes, at, 150);
    put_tag(&mut bytes, (PART + 5) * BS, 266, 5, 216 + 40);
    let img = IsoImage::open(Arc::new(SliceSource::new(bytes))).unwrap();
    assert_eq!(img.stat("/ext.bin").unwrap().size, 2548);
    assert!(matches!(
        img.open_file("/ext.bin"),
        Err(crate::Error::Malformed { .. })
    ));

    let (mut bytes, _, _) = build();
    let l = 33 * BS;
    bytes[l + 440..l + 446].fill(0);
    bytes[l + 440] = 2;
    bytes[l + 441] = 64;
    bytes[l + 445..l + 468].copy_from_slice(b"*UDF Sparable Partition");
    put32(&mut bytes, l + 264, 64);
    put_tag(&mut bytes, l, 6, 33, 440 + 64);
    assert!(matches!(
        IsoImage::open(Arc::new(SliceSource::new(bytes))),
        Err(crate::Error::Unsupported { .. })
    ));
}
