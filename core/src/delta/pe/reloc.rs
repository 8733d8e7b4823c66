//! The relocations transform: base relocations (PE/COFF specification, ".reloc section") moved
//! into the target's address space. Each fixup's location is mapped reference RVA → target RVA
//! and the table is rebuilt in 4 KiB page blocks; the address stored at each fixup is mapped the
//! same way and rebased onto the target's image base (`M(v − base) + target base`, as
//! jlevere/msdelta describes it; with an identity map that is a plain PE rebase) and its bytes
//! claimed, so the x86 instruction transforms leave them alone. The table rebuild is established
//! on x86_mscordbi (I386).

use super::image::{self, Image};
use super::owned::Owned;
use super::riftmap::Map;

/// `IMAGE_REL_BASED_ABSOLUTE` (padding), `HIGHLOW` (32-bit) and `DIR64` (64-bit) entry types.
const ABSOLUTE: u16 = 0;
const HIGHLOW: u16 = 3;
const DIR64: u16 = 10;
/// Data directory of the base relocation table.
const DIR_BASERELOC: usize = 5;
/// Upper bound on relocation entries handled (a real image has at most a few hundred thousand).
const MAX_ENTRIES: usize = 1 << 22;

/// Apply the transform to `out` (the reference image being transformed), rebasing the stored
/// addresses onto `target_base`.
pub(crate) fn transform(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    target_base: u64,
) {
    let Some((rva, size)) = img.dir(DIR_BASERELOC) else {
        return;
    };
    let Some(start) = img.offset(rva, size) else {
        return;
    };
    let end = start + size as usize;
    // Read the fixups: (type, RVA).
    let mut fixups: Vec<(u16, u32)> = Vec::new();
    let mut p = start;
    while p + 8 <= end {
        let page = image::u32_at(out, p).unwrap_or(0);
        let bsize = image::u32_at(out, p + 4).unwrap_or(0) as usize;
        if bsize < 8 || p + bsize > end {
            break;
        }
        let mut q = p + 8;
        while q + 2 <= p + bsize && fixups.len() < MAX_ENTRIES {
            let e = image::u16_at(out, q).unwrap_or(0);
            q += 2;
            let ty = e >> 12;
            if ty != ABSOLUTE {
                fixups.push((ty, page.wrapping_add(u32::from(e & 0xfff))));
            }
        }
        p += bsize;
    }
    let base = img.image_base;
    let move_rva = |r: u32| -> u32 { map.apply(i64::from(r)).clamp(0, i64::from(u32::MAX)) as u32 };
    // Stored addresses first (their locations are reference RVAs).
    for &(ty, r) in &fixups {
        let width = match ty {
            HIGHLOW => 4,
            DIR64 => 8,
            _ => continue,
        };
        let Some(at) = img.offset(r, width) else {
            continue;
        };
        let v = if width == 4 {
            u64::from(image::u32_at(out, at).unwrap_or(0))
        } else {
            let lo = u64::from(image::u32_at(out, at).unwrap_or(0));
            let hi = u64::from(image::u32_at(out, at + 4).unwrap_or(0));
            hi << 32 | lo
        };
        // Below the image the map is the identity, so only image addresses move.
        let r = v.wrapping_sub(base) as i64;
        let r = if width == 4 { i64::from(r as i32) } else { r };
        let nv = target_base.wrapping_add(map.apply(r) as u64);
        if width == 4 {
            out[at..at + 4].copy_from_slice(&(nv as u32).to_le_bytes());
        } else {
            out[at..at + 8].copy_from_slice(&nv.to_le_bytes());
        }
        owned.claim(at, width as usize);
    }
    // Rebuild the table in target order.
    let mut moved: Vec<(u32, u16)> = fixups.iter().map(|&(t, r)| (move_rva(r), t)).collect();
    moved.sort_unstable();
    let mut table: Vec<u8> = Vec::with_capacity(size as usize);
    let mut i = 0;
    while i < moved.len() {
        let page = moved[i].0 & !0xfff;
        let mut j = i;
        while j < moved.len() && moved[j].0 & !0xfff == page {
            j += 1;
        }
        let n = j - i;
        let padded = n + (n & 1);
        table.extend_from_slice(&page.to_le_bytes());
        table.extend_from_slice(&((8 + 2 * padded) as u32).to_le_bytes());
        for &(r, t) in &moved[i..j] {
            table.extend_from_slice(&((t << 12) | (r & 0xfff) as u16).to_le_bytes());
        }
        if n & 1 == 1 {
            table.extend_from_slice(&[0, 0]);
        }
        i = j;
    }
    let n = table.len().min(end - start);
    out[start..start + n].copy_from_slice(&table[..n]);
    out[start + n..end].fill(0);
}
