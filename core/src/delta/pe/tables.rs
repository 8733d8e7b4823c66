//! The table transforms of a PE-typed delta: the RVAs stored in the import, export, resource
//! and exception (`.pdata`) tables of the reference are moved into the target's address space
//! through the RVA map (reference RVA → target RVA). Structures: PE/COFF specification; which
//! fields are moved and how: jlevere/msdelta's description (docs/formats/pa30-pe.md).
//!
//! Every walk is bounded by the image length and a count cap, and every field is bounds-checked:
//! a damaged table ends the walk, it never fails the apply (the target hash judges the output).

use super::image::{self, Image, DIR_EXCEPTION, DIR_EXPORT, DIR_IMPORT, DIR_RESOURCE};
use super::owned::Owned;
use super::reading::{PdataVariant, ResourceVariant};
use super::riftmap::Map;

/// Most import descriptors walked (a real image has a few hundred at most).
const MAX_DESCRIPTORS: usize = 1 << 14;
/// Most entries walked in one thunk, export or `.pdata` table.
pub(crate) const MAX_TABLE: usize = 1 << 22;
/// Most resource directory entries visited in one tree.
const MAX_RESOURCE_ENTRIES: usize = 1 << 20;

/// `r` through the map, as the 32-bit RVA the tables store.
pub(crate) fn map32(map: &Map, r: u32) -> u32 {
    map.apply(i64::from(r)) as u32
}

fn put32(out: &mut [u8], at: usize, v: u32) {
    if let Some(b) = out.get_mut(at..at.saturating_add(4)) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Move the RVA stored at `at` (zero stays zero) and claim its 4 bytes.
fn map_field(out: &mut [u8], owned: &mut Owned, map: &Map, at: usize) {
    let Some(v) = image::u32_at(out, at) else {
        return;
    };
    if v != 0 {
        put32(out, at, map32(map, v));
    }
    owned.claim(at, 4);
}

/// Imports (flag 0x4): per descriptor, the lookup and address tables' by-name entries (RVAs of
/// hint/name entries), a bound address table's VAs, then the descriptor's `Name`,
/// `OriginalFirstThunk` and `FirstThunk`.
pub(crate) fn imports(img: &Image, out: &mut [u8], owned: &mut Owned, map: &Map, target_base: u64) {
    let Some((rva, _)) = img.dir(DIR_IMPORT) else {
        return;
    };
    let Some(first) = img.offset(rva, 20) else {
        return;
    };
    let width = if img.pe32_plus { 8 } else { 4 };
    for i in 0..MAX_DESCRIPTORS {
        let at = first + 20 * i;
        if at + 20 > out.len() {
            break;
        }
        let lookup = image::u32_at(out, at).unwrap_or(0);
        let bound = image::u32_at(out, at + 4).unwrap_or(0) != 0;
        let name = image::u32_at(out, at + 12).unwrap_or(0);
        let iat = image::u32_at(out, at + 16).unwrap_or(0);
        if lookup == 0 && name == 0 && iat == 0 {
            break;
        }
        thunks(img, out, owned, map, lookup, width, None);
        thunks(
            img,
            out,
            owned,
            map,
            iat,
            width,
            bound.then_some(target_base),
        );
        for field in [12, 0, 16] {
            map_field(out, owned, map, at + field);
        }
    }
}

/// One thunk table at `rva`, up to its zero entry. `bound` = the target image base when the
/// table holds bound VAs rather than hint/name RVAs.
fn thunks(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    rva: u32,
    width: usize,
    bound: Option<u64>,
) {
    if rva == 0 {
        return;
    }
    let Some(start) = img.offset(rva, width as u32) else {
        return;
    };
    let ordinal_bit = if width == 8 { 1u64 << 63 } else { 1 << 31 };
    for k in 0..MAX_TABLE {
        let at = start + width * k;
        let Some(v) = read_word(out, at, width) else {
            break;
        };
        if v == 0 {
            break;
        }
        if let Some(target_base) = bound {
            let r = v.wrapping_sub(img.image_base) as i64;
            let nv = target_base.wrapping_add(map.apply(r) as u64);
            write_word(out, at, width, nv);
        } else if v & ordinal_bit == 0 {
            // A hint/name RVA: 31 bits in both widths (PE/COFF "Import Lookup Table").
            put32(out, at, map32(map, v as u32));
        }
        owned.claim(at, width);
    }
}

fn read_word(b: &[u8], at: usize, width: usize) -> Option<u64> {
    let lo = u64::from(image::u32_at(b, at)?);
    if width == 4 {
        return Some(lo);
    }
    Some(u64::from(image::u32_at(b, at + 4)?) << 32 | lo)
}

fn write_word(out: &mut [u8], at: usize, width: usize, v: u64) {
    if width == 4 {
        put32(out, at, v as u32);
    } else if let Some(b) = out.get_mut(at..at + 8) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Exports (flag 0x8): the function and name-pointer tables' entries, then the directory's
/// `Name`, `AddressOfFunctions`, `AddressOfNames`, `AddressOfNameOrdinals`.
pub(crate) fn exports(img: &Image, out: &mut [u8], owned: &mut Owned, map: &Map) {
    let Some((rva, _)) = img.dir(DIR_EXPORT) else {
        return;
    };
    let Some(dir) = img.offset(rva, 40) else {
        return;
    };
    let n_funcs = image::u32_at(out, dir + 20).unwrap_or(0) as usize;
    let n_names = image::u32_at(out, dir + 24).unwrap_or(0) as usize;
    let funcs = image::u32_at(out, dir + 28).unwrap_or(0);
    let names = image::u32_at(out, dir + 32).unwrap_or(0);
    for (table, n) in [(funcs, n_funcs), (names, n_names)] {
        if table == 0 {
            continue;
        }
        let Some(start) = img.offset(table, 4) else {
            continue;
        };
        let n = n.min(MAX_TABLE).min((out.len() - start) / 4);
        for i in 0..n {
            map_field(out, owned, map, start + 4 * i);
        }
    }
    for field in [12, 28, 32, 36] {
        map_field(out, owned, map, dir + field);
    }
}

/// Resources (flag 0x10): every offset in the tree is relative to the tree's start `b` and
/// becomes `M(b + off) − M(b)`: subdirectory and string-name offsets (their high bit kept) and
/// each data entry's `OffsetToData`, by `rule`: tree-relative (as jlevere/msdelta describes the
/// native code) or as the RVA the PE/COFF specification calls it (`M(off)`). Returns how many
/// data entries the two rules would write differently (the other reading is worth a decode only
/// when some do).
pub(crate) fn resources(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    rule: ResourceVariant,
) -> usize {
    let mut disagree = 0;
    let Some((rva, size)) = img.dir(DIR_RESOURCE) else {
        return disagree;
    };
    let Some(base) = img.offset(rva, 16) else {
        return disagree;
    };
    let end = base.saturating_add(size as usize).min(out.len());
    let b = i64::from(rva);
    let mb = map.apply(b);
    let remap = |off: u32| (map.apply(b + i64::from(off)) - mb) as u32;
    let mut stack = vec![base];
    let mut visited = 0usize;
    while let Some(dir) = stack.pop() {
        if dir + 16 > end {
            continue;
        }
        let named = image::u16_at(out, dir + 12).unwrap_or(0) as usize;
        let ids = image::u16_at(out, dir + 14).unwrap_or(0) as usize;
        let count = (named + ids).min((end - dir - 16) / 8);
        for i in 0..count {
            visited += 1;
            if visited > MAX_RESOURCE_ENTRIES {
                return disagree;
            }
            let e = dir + 16 + 8 * i;
            let name = image::u32_at(out, e).unwrap_or(0);
            let target = image::u32_at(out, e + 4).unwrap_or(0);
            let rel = target & 0x7fff_ffff;
            if target & 0x8000_0000 != 0 {
                // Only subdirectories after their entry are followed (as the native walk is
                // described); offsets grow strictly, so the walk ends.
                let child = base.saturating_add(rel as usize);
                if child > e && child.saturating_add(16) <= end {
                    stack.push(child);
                }
                put32(out, e + 4, 0x8000_0000 | (remap(rel) & 0x7fff_ffff));
                owned.claim(e + 4, 4);
            } else {
                let data = base.saturating_add(rel as usize);
                if data.saturating_add(16) <= end && !owned.is(data) {
                    let v = image::u32_at(out, data).unwrap_or(0);
                    let (tree, as_rva) = (remap(v), map32(map, v));
                    disagree += usize::from(tree != as_rva);
                    let nv = match rule {
                        ResourceVariant::TreeRelative => tree,
                        ResourceVariant::Rva => as_rva,
                    };
                    put32(out, data, nv);
                    owned.claim(data, 4);
                }
            }
            if name & 0x8000_0000 != 0 {
                let nv = remap(name & 0x7fff_ffff) & 0x7fff_ffff;
                put32(out, e, 0x8000_0000 | nv);
                owned.claim(e, 4);
            }
        }
    }
    disagree
}

/// `.pdata` (flag 0x400, AMD64): each RUNTIME_FUNCTION's `BeginAddress`, `EndAddress` and
/// `UnwindInfoAddress`, and, by `rule`, RVAs inside the unwind information a record points to
/// (read before the record's own fields move). Returns how many unwind-information RVAs the
/// move would change (the other readings are worth a decode only when some would).
pub(crate) fn pdata(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    rule: PdataVariant,
) -> usize {
    let Some((rva, size)) = img.dir(DIR_EXCEPTION) else {
        return 0;
    };
    let Some(start) = img.offset(rva, 12) else {
        return 0;
    };
    let n = (size as usize / 12)
        .min(MAX_TABLE)
        .min((out.len() - start) / 12);
    let table = start..start.saturating_add(size as usize);
    let mut differ = 0;
    for i in 0..n {
        let rec = start + 12 * i;
        let unwind = image::u32_at(out, rec + 8).unwrap_or(0);
        differ += unwind_rvas(img, out, owned, map, unwind, &table, rule);
        for field in [0, 4, 8] {
            map_field(out, owned, map, rec + field);
        }
    }
    differ
}

/// `UNWIND_INFO` flags (Microsoft, "x64 exception handling": the 5-bit field above the 3-bit
/// version in the first byte).
const UNW_FLAG_EHANDLER: u8 = 1;
const UNW_FLAG_UHANDLER: u8 = 2;
const UNW_FLAG_CHAININFO: u8 = 4;

/// The RVAs after the unwind-code array of the `UNWIND_INFO` at `unwind` (codes padded to an
/// even count): the exception handler's RVA when `UNW_FLAG_EHANDLER`/`UHANDLER` is set, the
/// chained `RUNTIME_FUNCTION` (begin, end, unwind) when `UNW_FLAG_CHAININFO` is. Unwind
/// information inside `.pdata` itself (`table`) is left alone, and a slot already moved (an
/// unwind block shared by several records) is not moved twice. Returns how many of these RVAs
/// the map changes.
fn unwind_rvas(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    unwind: u32,
    table: &std::ops::Range<usize>,
    rule: PdataVariant,
) -> usize {
    let Some(at) = (unwind != 0).then(|| img.offset(unwind, 4)).flatten() else {
        return 0;
    };
    if table.contains(&at) {
        return 0;
    }
    let flags = out[at] >> 3;
    if flags & (UNW_FLAG_EHANDLER | UNW_FLAG_UHANDLER | UNW_FLAG_CHAININFO) == 0 {
        return 0;
    }
    let codes = usize::from(out[at + 2]);
    let slot = at + 4 + 2 * (codes + (codes & 1));
    let fields: &[usize] = if flags & UNW_FLAG_CHAININFO != 0 {
        &[0, 4, 8]
    } else {
        &[0]
    };
    let mut differ = 0;
    for (k, f) in fields.iter().enumerate() {
        let p = slot + f;
        let Some(v) = image::u32_at(out, p) else {
            break;
        };
        if v == 0 || owned.is(p) {
            continue;
        }
        let nv = map32(map, v);
        differ += usize::from(nv != v);
        let moves = match rule {
            PdataVariant::Entries => false,
            PdataVariant::FirstSlot => k == 0,
            PdataVariant::Chained => true,
        };
        if moves {
            put32(out, p, nv);
            owned.claim(p, 4);
        }
    }
    differ
}
