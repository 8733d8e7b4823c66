//! The AMD64 RIP-relative transform of a PE-typed delta (flag 0x200, native `DisasmX64`).
//!
//! Described publicly (docs/formats/pa30-pe.md): it disassembles the functions located through
//! `.pdata`, maps "RIP-relative disp32" operands, runs after relocations (0x20) and before the
//! `.pdata` transform (0x400, which rewrites the entries this one reads). Everything else here
//! is our reading, and an output made with it is accepted only when the delta's target hash
//! confirms it (decision 30): each RUNTIME_FUNCTION's `[BeginAddress, EndAddress)` is decoded
//! linearly; an instruction with a 32-bit relative operand reaching `target = RVA(next
//! instruction) + disp` gets `M(target) − M(next)`, unless one of its displacement bytes is owned
//! or the target is unreachable; which operands are rewritten is the [`RipVariant`], tried in
//! order against the hash.

use super::image::{self, Image, DIR_EXCEPTION};
use super::owned::Owned;
use super::riftmap::Map;
use super::x64dec::{self, RelKind};
use super::x86;

/// The transform's name in `delta info` and in errors.
pub(crate) const NAME: &str = "x64 RIP-relative disassembly";

/// Most `.pdata` entries walked (as `tables::pdata` caps its table).
const MAX_FUNCTIONS: usize = 1 << 22;

/// Which 32-bit relative operands the transform rewrites. Not public: each is a reading, tried
/// in [`RipVariant::ORDER`] and kept only when the target hash matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RipVariant {
    /// RIP-relative memory operands (ModRM `mod = 00`, `r/m = 101`) and `rel32` branches
    /// (`E8` call, `E9` jump, `0F 80`–`8F` conditional jumps).
    V1,
    /// RIP-relative memory operands only.
    V2,
    /// As V1, and a near jump whose new displacement fits a signed byte takes the short form
    /// (`EB d8`, or `7x d8` over the `0F 8x`), as the I386 jump transform does.
    V3,
}

impl RipVariant {
    /// The order the variants are tried in.
    pub const ORDER: [RipVariant; 3] = [RipVariant::V1, RipVariant::V2, RipVariant::V3];

    /// "V1", "V2" or "V3".
    pub fn name(self) -> &'static str {
        match self {
            RipVariant::V1 => "V1",
            RipVariant::V2 => "V2",
            RipVariant::V3 => "V3",
        }
    }

    /// What the variant rewrites, in words.
    pub fn describe(self) -> &'static str {
        match self {
            RipVariant::V1 => "RIP-relative operands and rel32 branches",
            RipVariant::V2 => "RIP-relative operands only",
            RipVariant::V3 => {
                "RIP-relative operands and rel32 branches, near jumps collapsed to short form"
            }
        }
    }

    fn takes(self, k: RelKind) -> bool {
        self != RipVariant::V2 || k == RelKind::Memory
    }
}

/// Rewrite the 32-bit relative operands of the functions the reference's `.pdata` lists.
/// Returns how many bytes of code were decoded (for the benchmark).
pub(crate) fn rip_relative(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    v: RipVariant,
) -> usize {
    let Some((rva, size)) = img.dir(DIR_EXCEPTION) else {
        return 0;
    };
    let Some(start) = img.offset(rva, 12) else {
        return 0;
    };
    let n = (size as usize / 12)
        .min(MAX_FUNCTIONS)
        .min((out.len() - start) / 12);
    // Bytes already decoded: a function listed twice, or one starting inside another, is not
    // walked again, so the total work stays within the image's length.
    let mut walked = Owned::new(out.len());
    let mut decoded = 0;
    for i in 0..n {
        let e = start + 12 * i;
        let (Some(begin), Some(end)) = (image::u32_at(out, e), image::u32_at(out, e + 4)) else {
            break;
        };
        let Some(len) = end.checked_sub(begin).filter(|&l| l > 0) else {
            continue;
        };
        let Some(at) = img.offset(begin, len) else {
            continue;
        };
        if walked.is(at) {
            continue;
        }
        decoded += walk(
            img,
            out,
            owned,
            &mut walked,
            map,
            v,
            (at, at + len as usize, begin),
        );
    }
    decoded
}

/// Decode one function, file range `[at, end)` starting at RVA `begin`, until its end, an
/// undecodable instruction or a byte already walked.
fn walk(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    walked: &mut Owned,
    map: &Map,
    v: RipVariant,
    (at, end, begin): (usize, usize, u32),
) -> usize {
    let mut p = at;
    while p < end && !walked.is(p) {
        let Some(insn) = x64dec::decode(&out[p..end]) else {
            break;
        };
        let len = insn.len;
        if len == 0 || p + len > end {
            break;
        }
        walked.claim(p, len);
        if let Some((off, kind)) = insn.rel32.filter(|&(o, k)| o + 4 <= len && v.takes(k)) {
            let next = begin.wrapping_add((p + len - at) as u32);
            rewrite(img, out, owned, map, v, (p, off, kind), next);
        }
        p += len;
    }
    p - at
}

/// Map the operand at `p + off` of the instruction ending at RVA `next`, and claim its bytes.
fn rewrite(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    v: RipVariant,
    (p, off, kind): (usize, usize, RelKind),
    next: u32,
) {
    let d = p + off;
    if owned.any(d, 4) {
        return;
    }
    let disp = x86::disp_at(out, d);
    let target = i64::from(next) + i64::from(disp);
    if !u32::try_from(target).is_ok_and(|t| x86::reachable(img, t)) {
        return;
    }
    let nd = map.apply(target) - map.apply(i64::from(next));
    let Ok(nd) = i32::try_from(nd) else {
        return;
    };
    owned.claim(d, 4);
    // The opcode bytes a short form is written over: `E9` just before the displacement, or the
    // `0F 8x` pair.
    let op = match kind {
        RelKind::Jump => Some(d - 1),
        RelKind::CondJump => Some(d - 2),
        _ => None,
    };
    if let Some(o) = op.filter(|&o| {
        v == RipVariant::V3
            && o >= p
            && !(-128..=127).contains(&disp)
            && (-128..=127).contains(&nd)
            && !owned.any(o, d - o)
    }) {
        if kind == RelKind::Jump {
            out[o] = 0xeb;
            out[o + 1] = nd as u8;
        } else {
            out[o] = 0x70 | (out[o + 1] & 0x0f);
            out[o + 1] = nd as u8;
        }
    } else if nd != disp {
        out[d..d + 4].copy_from_slice(&nd.to_le_bytes());
    }
}
