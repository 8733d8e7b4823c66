//! El Torito boot catalog reading (El Torito 1.0, 1995: boot record volume descriptor, validation
//! entry, initial/default entry, section headers and section entries).
//!
//! The catalog is kept as its raw 32-byte records so a rebuilt image can reproduce every field
//! (platform, media type, load segment, system type, sector count, selection criteria) and only
//! move the load addresses.

use super::iso9660::SECTOR;
use crate::io::le::Le;
use crate::io::ReadAt;
use crate::{Error, Result};

/// Identifier of a boot record volume descriptor for El Torito.
pub const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";
/// Platform id of x86 BIOS.
pub const PLATFORM_X86: u8 = 0;
/// Platform id of UEFI.
pub const PLATFORM_EFI: u8 = 0xEF;
/// Most 32-byte records read (one 2048-byte catalog sector holds 64).
const MAX_RECORDS: usize = 64;

/// One bootable image the catalog lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootEntry {
    /// Index of the entry's 32-byte record in [`BootCatalog::records`].
    pub record: usize,
    /// Platform of the section (the validation entry's platform for the default entry).
    pub platform: u8,
    /// 0x88 bootable, 0x00 not.
    pub indicator: u8,
    /// 0 no emulation, 1–3 floppy 1.2/1.44/2.88 MB, 4 hard disk.
    pub media_type: u8,
    /// Load segment (0 means the BIOS default 0x7C0).
    pub load_segment: u16,
    /// System type (partition type byte of an emulated hard disk).
    pub system_type: u8,
    /// Sectors of 512 bytes loaded at boot (no emulation).
    pub sector_count: u16,
    /// First 2048-byte sector of the boot image.
    pub load_rba: u32,
}

impl BootEntry {
    /// Bytes of the boot image the entry implies, where that is known from the entry alone.
    pub fn image_len(&self) -> Option<u64> {
        match self.media_type & 0x0F {
            0 if self.sector_count > 0 => Some(u64::from(self.sector_count) * 512),
            1 => Some(1_228_800),
            2 => Some(1_474_560),
            3 => Some(2_949_120),
            _ => None,
        }
    }
}

/// A parsed boot catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootCatalog {
    /// Sector of the catalog in the image.
    pub sector: u32,
    /// The catalog's 32-byte records, validation entry first, up to the last used one.
    #[serde(skip)]
    pub records: Vec<[u8; 32]>,
    /// The boot entries in catalog order (default entry first).
    pub entries: Vec<BootEntry>,
}

fn entry(rec: &[u8; 32], record: usize, platform: u8) -> Result<BootEntry> {
    let r = Le::new(rec, "El Torito entry");
    Ok(BootEntry {
        record,
        platform,
        indicator: rec[0],
        media_type: rec[1],
        load_segment: r.u16(2)?,
        system_type: rec[4],
        sector_count: r.u16(6)?,
        load_rba: r.u32(8)?,
    })
}

/// The 16-bit word sum of a validation entry (0 when it is intact).
fn word_sum(v: &[u8; 32]) -> Result<u16> {
    let r = Le::new(v, "El Torito validation entry");
    (0..16).try_fold(0u16, |s, i| Ok(s.wrapping_add(r.u16(i * 2)?)))
}

/// Volume descriptors scanned for the boot record (from sector 16).
const MAX_DESCRIPTORS: u64 = 64;

/// Find the El Torito boot record among the volume descriptors and parse its catalog.
///
/// Every location is checked against the image: the catalog must lie after the descriptors it
/// was found among and inside the image, every entry's image must start after them, not at the
/// catalog itself (an entry pointing back at the catalog or the descriptors would make the
/// rebuilt image copy them as a boot image), and end inside the image where its size is known.
pub fn read_boot_catalog(src: &dyn ReadAt) -> Result<Option<BootCatalog>> {
    let mut buf = vec![0u8; SECTOR as usize];
    let mut at = None;
    let mut last_vd = 16u64;
    for i in 0..MAX_DESCRIPTORS {
        let off = (16 + i) * SECTOR;
        if off + SECTOR > src.size() {
            break;
        }
        src.read_at(off, &mut buf)?;
        if &buf[1..6] != b"CD001" {
            break;
        }
        last_vd = 16 + i;
        if buf[0] == 255 {
            break;
        }
        if at.is_none() && buf[0] == 0 && buf[7..7 + EL_TORITO_ID.len()] == *EL_TORITO_ID {
            at = Some((Le::at(&buf, "El Torito boot record", off).u32(0x47)?, off));
        }
    }
    let Some((sector, vd_off)) = at else {
        return Ok(None);
    };
    let off = u64::from(sector) * SECTOR;
    if u64::from(sector) <= last_vd {
        return Err(Error::malformed(
            "El Torito boot record",
            vd_off + 0x47,
            format!(
                "boot catalog sector {sector} lies in the system area or the volume descriptors \
                 (sectors 0 to {last_vd})"
            ),
        ));
    }
    if off + SECTOR > src.size() {
        return Err(Error::malformed(
            "El Torito boot record",
            vd_off + 0x47,
            format!("boot catalog sector {sector} lies beyond the image"),
        ));
    }
    src.read_at(off, &mut buf)?;
    let rec = |i: usize| -> [u8; 32] {
        let mut r = [0u8; 32];
        r.copy_from_slice(&buf[i * 32..i * 32 + 32]);
        r
    };
    let v = rec(0);
    let sum = word_sum(&v)?;
    if v[0] != 1 {
        return Err(Error::malformed(
            "El Torito validation entry",
            off,
            format!("header id {:#04x}, expected 0x01", v[0]),
        ));
    }
    if v[30] != 0x55 || v[31] != 0xAA {
        return Err(Error::malformed(
            "El Torito validation entry",
            off + 30,
            format!(
                "key bytes {:#04x} {:#04x}, expected 0x55 0xAA",
                v[30], v[31]
            ),
        ));
    }
    if sum != 0 {
        return Err(Error::malformed(
            "El Torito validation entry",
            off + 28,
            format!("checksum leaves a word sum of {sum:#06x}, expected 0"),
        ));
    }
    let mut records = vec![v, rec(1)];
    let mut entries = vec![entry(&rec(1), 1, v[1])?];
    let mut i = 2;
    // Section headers (0x90 more follow, 0x91 last), each followed by its entries and their
    // extension records (0x44). Every step moves forward through one sector: no loop can form.
    while i < MAX_RECORDS {
        let h = rec(i);
        if h[0] != 0x90 && h[0] != 0x91 {
            break;
        }
        records.push(h);
        i += 1;
        let n = usize::from(Le::new(&h, "El Torito section header").u16(2)?);
        if n > MAX_RECORDS - i {
            return Err(Error::malformed(
                "El Torito section header",
                off + ((i - 1) * 32) as u64 + 2,
                format!(
                    "{n} section entries do not fit in the {} records left in the catalog sector",
                    MAX_RECORDS - i
                ),
            ));
        }
        for _ in 0..n {
            if i >= MAX_RECORDS {
                return Err(Error::malformed(
                    "El Torito section",
                    off + (i * 32) as u64,
                    "section entries run past the catalog sector",
                ));
            }
            let e = rec(i);
            entries.push(entry(&e, i, h[1])?);
            records.push(e);
            i += 1;
            while i < MAX_RECORDS && rec(i)[0] == 0x44 {
                records.push(rec(i));
                i += 1;
            }
        }
        if h[0] == 0x91 {
            break;
        }
    }
    for e in &entries {
        check_entry(e, off, sector, last_vd, src.size())?;
    }
    Ok(Some(BootCatalog {
        sector,
        records,
        entries,
    }))
}

/// An entry's image must lie after the descriptors, apart from the catalog, inside the image.
fn check_entry(e: &BootEntry, cat_off: u64, cat: u32, last_vd: u64, size: u64) -> Result<()> {
    if e.indicator != 0x88 && e.load_rba == 0 {
        // An unused, non-bootable entry: nothing is loaded from it.
        return Ok(());
    }
    let at = cat_off + (e.record * 32) as u64 + 8;
    let rba = e.load_rba;
    let bad = |why: String| Err(Error::malformed("El Torito boot entry", at, why));
    if u64::from(rba) <= last_vd {
        return bad(format!(
            "load RBA {rba} points into the system area or the volume descriptors"
        ));
    }
    if rba == cat {
        return bad(format!("load RBA {rba} points at the boot catalog itself"));
    }
    let start = u64::from(rba) * SECTOR;
    let len = e.image_len().unwrap_or(1);
    if start.saturating_add(len) > size {
        return bad(format!(
            "boot image at sector {rba} ({len} bytes) runs past the image end ({size} bytes)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SliceSource;

    /// Sectors of the test image: room for the 2880-sector UEFI image at 40.
    const IMAGE_SECTORS: usize = 800;

    fn image(catalog: &[[u8; 32]]) -> SliceSource {
        SliceSource::new(image_bytes(catalog))
    }

    fn image_bytes(catalog: &[[u8; 32]]) -> Vec<u8> {
        let mut img = vec![0u8; 2048 * IMAGE_SECTORS];
        let br = &mut img[16 * 2048..17 * 2048];
        br[1..6].copy_from_slice(b"CD001");
        br[6] = 1;
        br[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
        br[0x47..0x4B].copy_from_slice(&20u32.to_le_bytes());
        let term = &mut img[17 * 2048..18 * 2048];
        term[0] = 255;
        term[1..6].copy_from_slice(b"CD001");
        for (i, r) in catalog.iter().enumerate() {
            img[20 * 2048 + i * 32..20 * 2048 + i * 32 + 32].copy_from_slice(r);
        }
        img
    }

    fn validation(platform: u8) -> [u8; 32] {
        let mut v = [0u8; 32];
        v[0] = 1;
        v[1] = platform;
        v[30] = 0x55;
        v[31] = 0xAA;
        let sum = word_sum(&v).unwrap();
        v[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        v
    }

    fn default_entry(rba: u32, sectors: u16) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[0] = 0x88;
        d[6..8].copy_from_slice(&sectors.to_le_bytes());
        d[8..12].copy_from_slice(&rba.to_le_bytes());
        d
    }

    fn header(id: u8, platform: u8, count: u16) -> [u8; 32] {
        let mut h = [0u8; 32];
        h[0] = id;
        h[1] = platform;
        h[2..4].copy_from_slice(&count.to_le_bytes());
        h
    }

    /// The reason of a malformed-catalog error, failing on anything else (or on success).
    fn malformed(img: &[u8]) -> (&'static str, u64, String) {
        match read_boot_catalog(&SliceSource::new(img.to_vec())) {
            Err(Error::Malformed {
                structure,
                offset,
                reason,
            }) => (structure, offset, reason),
            other => panic!("expected a malformed catalog, got {other:?}"),
        }
    }

    #[test]
    fn malformed_catalogs_are_typed_errors() {
        let good = [validation(0), default_entry(30, 4)];
        assert!(read_boot_catalog(&image(&good)).unwrap().is_some());
        let cat = 20 * 2048u64;
        // Key bytes, header id, checksum: each named with its offset.
        let mut v = validation(0);
        v[31] = 0xAB;
        let (s, at, why) = malformed(&image_bytes(&[v, default_entry(30, 4)]));
        assert_eq!((s, at), ("El Torito validation entry", cat + 30));
        assert!(why.contains("key bytes"), "{why}");
        let mut v = validation(0);
        v[0] = 2;
        assert!(malformed(&image_bytes(&[v])).2.contains("header id"));
        let mut v = validation(0);
        v[5] ^= 0x10;
        assert_eq!(malformed(&image_bytes(&[v])).1, cat + 28);
        // Truncated: the image ends inside the catalog sector, or inside the boot image.
        let full = image_bytes(&good);
        let (_, _, why) = malformed(&full[..20 * 2048 + 100]);
        assert!(why.contains("beyond the image"), "{why}");
        let (s, _, why) = malformed(&full[..30 * 2048 + 1000]);
        assert_eq!(s, "El Torito boot entry");
        assert!(why.contains("runs past the image end"), "{why}");
        // Load RBA past the end, into the descriptors, at the catalog itself.
        for (rba, words) in [
            (u32::MAX, "past the image end"),
            (IMAGE_SECTORS as u32, "past the image end"),
            (0, "system area"),
            (16, "volume descriptors"),
            (20, "boot catalog itself"),
        ] {
            let (_, at, why) = malformed(&image_bytes(&[validation(0), default_entry(rba, 4)]));
            assert!(why.contains(words), "rba {rba}: {why}");
            assert_eq!(at, cat + 32 + 8);
        }
        // Section entry counts beyond the sector, and a section running off its end.
        let (s, _, why) = malformed(&image_bytes(&[
            validation(0),
            default_entry(30, 4),
            header(0x91, PLATFORM_EFI, 0xFFFF),
        ]));
        assert_eq!(s, "El Torito section header");
        assert!(why.contains("do not fit"), "{why}");
        let mut recs = vec![validation(0), default_entry(30, 4), header(0x91, 0xEF, 61)];
        recs.extend((0..61).map(|_| default_entry(30, 4)));
        assert!(read_boot_catalog(&image(&recs)).unwrap().is_some());
        recs[2] = header(0x91, 0xEF, 62);
        assert!(malformed(&image_bytes(&recs)).2.contains("do not fit"));
        // Extension records that fill the sector after an entry end the section at the sector.
        let mut recs = vec![validation(0), default_entry(30, 4), header(0x91, 0xEF, 2)];
        recs.push(default_entry(30, 4));
        recs.extend((0..60).map(|_| {
            let mut x = [0u8; 32];
            x[0] = 0x44;
            x
        }));
        let (s, _, why) = malformed(&image_bytes(&recs));
        assert_eq!(s, "El Torito section");
        assert!(why.contains("past the catalog sector"), "{why}");
        // The boot record points the catalog at itself (sector 16) or at the system area.
        for sector in [0u32, 16, 17] {
            let mut img = image_bytes(&good);
            img[16 * 2048 + 0x47..16 * 2048 + 0x4B].copy_from_slice(&sector.to_le_bytes());
            let (s, _, why) = malformed(&img);
            assert_eq!(s, "El Torito boot record");
            assert!(why.contains("system area"), "{sector}: {why}");
        }
        // Section headers chained (0x90) through the whole sector end at the sector: no loop.
        let mut recs = vec![validation(0), default_entry(30, 4)];
        recs.extend((0..62).map(|_| header(0x90, 0xEF, 0)));
        let c = read_boot_catalog(&image(&recs)).unwrap().unwrap();
        assert_eq!((c.records.len(), c.entries.len()), (64, 1));
    }

    #[test]
    fn bios_and_uefi_entries_are_read() {
        let mut d = [0u8; 32];
        d[0] = 0x88;
        d[6..8].copy_from_slice(&8u16.to_le_bytes());
        d[8..12].copy_from_slice(&30u32.to_le_bytes());
        let mut h = [0u8; 32];
        h[0] = 0x91;
        h[1] = PLATFORM_EFI;
        h[2] = 1;
        let mut e = [0u8; 32];
        e[0] = 0x88;
        e[6..8].copy_from_slice(&2880u16.to_le_bytes());
        e[8..12].copy_from_slice(&40u32.to_le_bytes());
        let cat = read_boot_catalog(&image(&[validation(0), d, h, e]))
            .unwrap()
            .unwrap();
        assert_eq!(cat.sector, 20);
        assert_eq!(cat.records.len(), 4);
        assert_eq!(cat.entries.len(), 2);
        assert_eq!(
            (cat.entries[0].platform, cat.entries[0].load_rba),
            (PLATFORM_X86, 30)
        );
        assert_eq!(cat.entries[0].image_len(), Some(4096));
        assert_eq!(
            (cat.entries[1].platform, cat.entries[1].sector_count),
            (PLATFORM_EFI, 2880)
        );
    }

    #[test]
    fn bad_checksum_is_malformed_and_no_record_is_none() {
        let mut v = validation(0);
        v[28] ^= 1;
        assert!(matches!(
            read_boot_catalog(&image(&[v, [0u8; 32]])),
            Err(Error::Malformed { .. })
        ));
        assert_eq!(
            read_boot_catalog(&SliceSource::new(vec![0u8; 2048 * 20])).unwrap(),
            None
        );
    }
}
