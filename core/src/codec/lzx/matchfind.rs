//! What the LZX parsers share: the hash-chain matchfinder's hashes and position type, the
//! common-prefix length, the parse item and its main-code symbol. Both the lazy parse
//! (`encode.rs`) and the near-optimal one (`optimal.rs`) build on these; neither imports the other's
//! internals for them.

use super::tables::*;

pub(super) const HASH_BITS: u32 = 15;

/// Right shift that turns a 32-bit hash product into a table index for an `n`-byte chunk: the
/// tables shrink with the chunk, because clearing 2 × 64 KiB per chunk costs more than
/// compressing a small file (a package is mostly small manifests and catalogs).
#[inline]
pub(super) fn hash_shift(n: usize) -> u32 {
    let bits = (n.max(1).next_power_of_two().trailing_zeros()).clamp(8, HASH_BITS);
    32 - bits
}
/// Positions in a ≤ 32 KiB chunk fit 16 bits, halving the matchfinder tables (cache-bound).
pub(super) type Pos = u16;
pub(super) const NONE: Pos = Pos::MAX;
/// Largest encodable offset in a 32 KiB window (formatted offset must stay below slot 30's end).
pub(super) const MAX_OFFSET: usize = 32765;
/// One parse item: a literal (`len == 0`) or a match. `code` < 3 is a repeat-offset index,
/// otherwise the formatted offset (offset + 2).
#[derive(Clone, Copy)]
pub(super) struct Item {
    pub(super) len: u16,
    pub(super) lit: u8,
    pub(super) code: u32,
}

#[inline(always)]
pub(super) fn hash4(d: &[u8], i: usize, shift: u32) -> usize {
    let v = u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    (v.wrapping_mul(0x9E37_79B1) >> shift) as usize
}

#[inline(always)]
pub(super) fn hash3(d: &[u8], i: usize, shift: u32) -> usize {
    let v = u32::from(d[i]) | u32::from(d[i + 1]) << 8 | u32::from(d[i + 2]) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> shift) as usize
}

/// Length of the common prefix of `d[a..]` and `d[b..]`, at most `max` (a < b, b + max ≤ len).
#[inline(always)]
pub(super) fn common(d: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut l = 0;
    while l + 8 <= max {
        let x = u64::from_le_bytes(d[a + l..a + l + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(d[b + l..b + l + 8].try_into().unwrap_or([0; 8]));
        let z = x ^ y;
        if z != 0 {
            return l + (z.trailing_zeros() / 8) as usize;
        }
        l += 8;
    }
    while l < max && d[a + l] == d[b + l] {
        l += 1;
    }
    l
}

/// Main-code symbol of a match.
#[inline(always)]
pub(super) fn main_sym(it: &Item) -> usize {
    if it.len == 0 {
        it.lit as usize
    } else {
        let lh = (it.len as usize - MIN_MATCH).min(7);
        NUM_CHARS + slot_of(it.code) * NUM_LEN_HEADERS + lh
    }
}
