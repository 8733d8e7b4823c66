//! The I386 instruction transforms of a PE-typed delta: MarkNonExe (0x2), relative jumps
//! (0x80) and relative calls (0x100). In the raw data of executable sections, every `E8 rel32`
//! call and every `E9` / `0F 8x` near jump whose displacement does not fit a byte gets the
//! displacement it needs in the target's address space, `M(target) − M(end of instruction)`;
//! a near jump whose new displacement fits a byte takes the short form. Candidates whose bytes
//! or branch target another transform owns are skipped. Rules: jlevere/msdelta's description of
//! the native transforms (docs/formats/pa30-pe.md); confirmed by x86_mscordbi decoding.

use super::image::{Image, Section, SCN_MEM_EXECUTE};
use super::owned::Owned;
use super::riftmap::Map;

/// Claim every byte outside the raw data of executable sections.
pub(crate) fn mark_non_exe(img: &Image, owned: &mut Owned, len: usize) {
    owned.claim(0, len);
    for s in exec_sections(img) {
        let (start, end) = raw_range(s, len);
        owned.release(start, end - start);
    }
}

fn exec_sections(img: &Image) -> impl Iterator<Item = &Section> {
    img.sections
        .iter()
        .filter(|s| s.characteristics & SCN_MEM_EXECUTE != 0)
}

/// The section's raw data, `min(VirtualSize, SizeOfRawData)` long, clipped to the image.
fn raw_range(s: &Section, len: usize) -> (usize, usize) {
    let start = (s.raw_ptr as usize).min(len);
    let end = start
        .saturating_add(s.virtual_size.min(s.raw_size) as usize)
        .min(len);
    (start, end)
}

/// A branch target the instruction transforms (x86 and x64) follow: non-zero, inside
/// `SizeOfImage`, and in the headers or inside a section's `max(VirtualSize, SizeOfRawData)`.
pub(crate) fn reachable(img: &Image, target: u32) -> bool {
    target != 0
        && target < img.size_of_image
        && (target < img.first_section_rva()
            || img.sections.iter().any(|s| {
                target >= s.va
                    && u64::from(target)
                        < u64::from(s.va) + u64::from(s.virtual_size.max(s.raw_size))
            }))
}

/// Whether the byte a branch lands on is owned: the target's file offset (the RVA itself in
/// the headers; past the image counts as not owned).
fn target_owned(img: &Image, owned: &Owned, target: u32) -> bool {
    if target < img.first_section_rva() {
        return owned.is(target as usize);
    }
    let at = img.sections.iter().find(|s| {
        target >= s.va
            && u64::from(target) < u64::from(s.va) + u64::from(s.virtual_size.max(s.raw_size))
    });
    match at {
        Some(s) => owned.is((s.raw_ptr as usize).saturating_add((target - s.va) as usize)),
        None => owned.is(target as usize),
    }
}

/// The little-endian `i32` at `at` (the caller has checked the 4 bytes lie inside `out`).
pub(crate) fn disp_at(out: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]])
}

/// The new displacement of a branch at the RVA `site_end` (just past its 4 displacement bytes)
/// whose stored displacement is `disp`, or `None` when the branch is not followed.
fn new_disp(img: &Image, owned: &Owned, map: &Map, site_end: u32, disp: i32) -> Option<i32> {
    let target = site_end.wrapping_add(disp as u32);
    if !reachable(img, target) || target_owned(img, owned, target) {
        return None;
    }
    Some((map.apply(i64::from(target)) - map.apply(i64::from(site_end))) as i32)
}

/// Relative jumps (0x80): `E9 rel32` and `0F 8x rel32` whose displacement does not fit a signed
/// byte.
pub(crate) fn jumps(img: &Image, out: &mut [u8], owned: &Owned, map: &Map) {
    let len = out.len();
    for s in exec_sections(img) {
        let (start, end) = raw_range(s, len);
        let mut i = start;
        while i + 5 <= end {
            let (d, mut short_ok) = if out[i] == 0xe9 {
                (i, true)
            } else if out[i] == 0x0f && out[i + 1] & 0xf0 == 0x80 {
                (i + 1, true)
            } else {
                i += 1;
                continue;
            };
            if d != i && owned.is(i) {
                short_ok = false;
            }
            if d + 5 > len || owned.any(d, 5) {
                i += 1;
                continue;
            }
            let disp = disp_at(out, d + 1);
            if (-128..=127).contains(&disp) {
                i += 1;
                continue;
            }
            let site_end = s.va.wrapping_add((d - start) as u32).wrapping_add(5);
            let Some(nd) = new_disp(img, owned, map, site_end, disp) else {
                i += 1;
                continue;
            };
            if short_ok && (-128..=127).contains(&nd) {
                if d == i {
                    out[d] = 0xeb;
                    out[d + 1] = nd as u8;
                } else {
                    out[i] = 0x70 | (out[d] & 0x0f);
                    out[d] = nd as u8;
                }
            } else if nd != disp {
                out[d + 1..d + 5].copy_from_slice(&nd.to_le_bytes());
            }
            i = d + 5;
        }
    }
}

/// Relative calls (0x100): `E8 rel32`.
pub(crate) fn calls(img: &Image, out: &mut [u8], owned: &Owned, map: &Map) {
    let len = out.len();
    for s in exec_sections(img) {
        let (start, end) = raw_range(s, len);
        let mut i = start;
        while i + 5 <= end {
            if out[i] != 0xe8 || owned.any(i, 5) {
                i += 1;
                continue;
            }
            let disp = disp_at(out, i + 1);
            let site_end = s.va.wrapping_add((i - start) as u32).wrapping_add(5);
            let Some(nd) = new_disp(img, owned, map, site_end, disp) else {
                i += 1;
                continue;
            };
            if nd != disp {
                out[i + 1..i + 5].copy_from_slice(&nd.to_le_bytes());
            }
            i += 5;
        }
    }
}
