//! The I386 lock-prefix transform (flag 0x40, `DELTA_FLAG_I386_SMASHLOCK`), as a reading
//! ([`LockVariant`]): only the flag's name, "smash lock prefixes of source PE" (`msdelta.h`), is
//! public. The one PE structure that lists lock prefixes is the load configuration's
//! `LockPrefixTable`, "the VA of a list of addresses where the LOCK prefix is used so that they
//! can be replaced with NOP on single processor machines" (PE/COFF specification, x86 only): a
//! zero-terminated array of 32-bit VAs at offset 0x20 of `IMAGE_LOAD_CONFIG_DIRECTORY32`.

use super::image::{self, Image};
use super::reading::LockVariant;

/// Data directory of the load configuration.
const DIR_LOAD_CONFIG: usize = 10;
/// Offset of `LockPrefixTable` in the 32-bit load configuration.
const LOCK_TABLE_AT: usize = 0x20;
/// Most table entries read (a real image lists a few hundred at most).
const MAX_ENTRIES: usize = 1 << 16;

const LOCK: u8 = 0xf0;
const NOP: u8 = 0x90;

/// File offsets of the bytes the reference's `LockPrefixTable` lists (PE32 only; empty when
/// there is no load configuration, no table, or it lies outside the file). Entries outside the
/// image are skipped; a damaged table ends the walk.
pub(crate) fn sites(img: &Image, b: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if img.pe32_plus {
        return out;
    }
    let Some((rva, size)) = img.dir(DIR_LOAD_CONFIG) else {
        return out;
    };
    let Some(at) = img.offset(rva, 4) else {
        return out;
    };
    // The structure's own Size field says which fields exist.
    let declared = image::u32_at(b, at).unwrap_or(0) as usize;
    if declared.min(size as usize) < LOCK_TABLE_AT + 4 {
        return out;
    }
    let Some(table_va) = image::u32_at(b, at + LOCK_TABLE_AT) else {
        return out;
    };
    let Some(table) = va_offset(img, table_va, 4) else {
        return out;
    };
    for k in 0..MAX_ENTRIES {
        let Some(va) = image::u32_at(b, table + 4 * k) else {
            break;
        };
        if va == 0 {
            break;
        }
        if let Some(o) = va_offset(img, va, 1) {
            out.push(o);
        }
    }
    out
}

fn va_offset(img: &Image, va: u32, len: u32) -> Option<usize> {
    let rva = u64::from(va).checked_sub(img.image_base)?;
    img.offset(u32::try_from(rva).ok()?, len)
}

/// Apply reading `v` at `sites`; returns how many bytes changed.
pub(crate) fn apply(out: &mut [u8], sites: &[usize], v: LockVariant) -> usize {
    let (from, to) = match v {
        LockVariant::Keep => return 0,
        LockVariant::Smash => (LOCK, NOP),
        LockVariant::Restore => (NOP, LOCK),
    };
    let mut n = 0;
    for &o in sites {
        if let Some(b) = out.get_mut(o) {
            if *b == from {
                *b = to;
                n += 1;
            }
        }
    }
    n
}

/// Whether some reading other than [`LockVariant::Keep`] would change a byte at `sites`.
pub(crate) fn varies(b: &[u8], sites: &[usize]) -> bool {
    sites
        .iter()
        .any(|&o| matches!(b.get(o), Some(&LOCK) | Some(&NOP)))
}

#[cfg(test)]
mod tests {
    //! The lock-prefix readings end to end on a hand-made PE32 whose load configuration lists
    //! three code addresses (two `LOCK` prefixes, one `NOP`) and one outside the image.
    use super::super::testpe::{dir, image, put32};
    use super::*;
    use crate::delta::testutil::{craft_with_preprocess, rift_table, BitWriter, Craft};
    use crate::delta::{self, encode, header, ApplyOptions, PeReading, CALG_SHA_256};
    use crate::Error;

    const BASE: u64 = 0x40_0000;
    const STAMP: u32 = 0x5eed_0001;

    /// Headers, `.text` (RVA 0x1000, file 0x400), `.rdata` (0x2000, file 0x600) holding the
    /// load configuration (directory 10) and, at 0x2100, its `LockPrefixTable`.
    fn reference() -> Vec<u8> {
        let mut b = image(
            0x800,
            0x14c,
            STAMP,
            BASE,
            0x3000,
            &[
                (b".text", 0x1000, 0x400, 0x6000_0020),
                (b".rdat", 0x2000, 0x600, 0x4000_0040),
            ],
        );
        put32(&mut b, dir(false, 10), 0x2000);
        put32(&mut b, dir(false, 10) + 4, 0x48);
        // lock cmpxchg [edx], ecx; lock xadd [ecx], eax; a smashed prefix (nop) before
        // cmpxchg; an unlisted lock prefix.
        b[0x400..0x404].copy_from_slice(&[0xf0, 0x0f, 0xb1, 0x0a]);
        b[0x410..0x414].copy_from_slice(&[0xf0, 0x0f, 0xc1, 0x01]);
        b[0x420..0x424].copy_from_slice(&[0x90, 0x0f, 0xb1, 0x0a]);
        b[0x430..0x434].copy_from_slice(&[0xf0, 0x0f, 0xb1, 0x0a]);
        put32(&mut b, 0x600, 0x48);
        put32(&mut b, 0x600 + LOCK_TABLE_AT, BASE as u32 + 0x2100);
        for (k, rva) in [0x1000u32, 0x1010, 0x1020, 0x9999].iter().enumerate() {
            put32(&mut b, 0x700 + 4 * k, BASE as u32 + rva);
        }
        b
    }

    /// Same base and timestamp, the target's layout = the reference's, no RVA map.
    fn preprocess() -> Vec<u8> {
        let mut w = BitWriter::new();
        w.put(BASE, 64);
        w.put(0, 32);
        w.put(u64::from(STAMP), 32);
        rift_table(&mut w, &[(0, 0), (0x1000, 0x400), (0x2000, 0x600)]);
        w.put(0, 1);
        w.put(0, 1);
        w.put(0, 1);
        w.finish()
    }

    fn lock_delta(target: &[u8], hash: Option<&[u8]>) -> Vec<u8> {
        let raw = encode::create(target, target, &encode::CreateOptions::default()).unwrap();
        let patch = header::parse(&raw).unwrap().patch.to_vec();
        let own = delta::digest(CALG_SHA_256, target).unwrap();
        craft_with_preprocess(
            &Craft {
                pa31: false,
                file_type: 2,
                flags: 0xe1fe,
                target_size: target.len() as u64,
                alg: u64::from(CALG_SHA_256),
                hash: hash.unwrap_or(&own),
                patch: &patch,
            },
            &preprocess(),
        )
    }

    /// The reference as the delta prepares it in reading `v` (checksum zeroed, timestamps set).
    fn prepared(v: LockVariant) -> Vec<u8> {
        let d = lock_delta(&[0], None);
        let p = header::parse(&d).unwrap();
        let pp = super::super::preprocess(&p.header, p.preprocess, p.preprocess_offset).unwrap();
        let reading = PeReading {
            lock: v,
            ..PeReading::default()
        };
        let prep = super::super::prepare(&p.header, &reference(), &pp, reading).unwrap();
        assert!(prep.varied.lock);
        prep.reference
    }

    #[test]
    fn the_load_configuration_lists_the_sites() {
        let r = reference();
        let img = Image::parse(&r).unwrap();
        assert_eq!(sites(&img, &r), vec![0x400, 0x410, 0x420]);
        // A load configuration too short for the field, or no table: nothing listed.
        let mut short = r.clone();
        put32(&mut short, 0x600, 0x20);
        assert!(sites(&Image::parse(&short).unwrap(), &short).is_empty());
        let mut none = r.clone();
        put32(&mut none, 0x600 + LOCK_TABLE_AT, 0);
        assert!(sites(&Image::parse(&none).unwrap(), &none).is_empty());
        // A table VA below the image base or past the file: nothing listed, no panic.
        for va in [0x1000u32, u32::MAX - 2] {
            let mut bad = r.clone();
            put32(&mut bad, 0x600 + LOCK_TABLE_AT, va);
            assert!(sites(&Image::parse(&bad).unwrap(), &bad).is_empty());
        }
    }

    #[test]
    fn readings_rewrite_what_they_say() {
        let r = reference();
        let keep = prepared(LockVariant::Keep);
        let smash = prepared(LockVariant::Smash);
        let restore = prepared(LockVariant::Restore);
        assert_eq!(keep[0x400..0x440], r[0x400..0x440]);
        assert_eq!(
            (smash[0x400], smash[0x410], smash[0x420]),
            (0x90, 0x90, 0x90)
        );
        assert_eq!(
            (restore[0x400], restore[0x410], restore[0x420]),
            (0xf0, 0xf0, 0xf0)
        );
        // The unlisted prefix and the instructions' other bytes never change.
        for b in [&keep, &smash, &restore] {
            assert_eq!(b[0x430], 0xf0);
            assert_eq!(b[0x401..0x404], r[0x401..0x404]);
        }
    }

    #[test]
    fn the_first_reading_the_target_hash_confirms_is_the_output() {
        for v in LockVariant::ORDER {
            let t = prepared(v);
            let a = delta::apply_detailed(
                &reference(),
                &lock_delta(&t, None),
                &ApplyOptions::default(),
            )
            .unwrap();
            assert!(a.target == t, "{v:?}");
            let pe = a.pe.unwrap();
            assert_eq!(pe.lock_variant, Some(v));
            assert_eq!(
                pe.decodes,
                1 + LockVariant::ORDER.iter().position(|&x| x == v).unwrap()
            );
        }
        // Every reading mismatching: refused naming the transform and the readings tried.
        let t = prepared(LockVariant::Smash);
        let e = delta::apply(
            &reference(),
            &lock_delta(&t, Some(&[7; 32])),
            &ApplyOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(
            e.to_string().contains(
                "x86 lock-prefix smashing (0x40) (readings keep, smash, restore tried: target \
                 hash mismatch)"
            ),
            "{e}"
        );
    }
}
