//! LZX constants and the position-slot tables, derived from the format rules (not stored data).

/// Smallest match length.
pub const MIN_MATCH: usize = 2;
/// Largest match length (2 + 7 + 248).
pub const MAX_MATCH: usize = 257;
/// Literal symbols in the main code.
pub const NUM_CHARS: usize = 256;
/// Length headers per position slot in the main code (7 = "look up the length code").
pub const NUM_LEN_HEADERS: usize = 8;
/// Symbols in the length code.
pub const NUM_LEN_SYMS: usize = 249;
/// Symbols in the aligned-offset code.
pub const NUM_ALIGNED_SYMS: usize = 8;
/// Symbols in the pretree that codes the other codes' lengths.
pub const NUM_PRE_SYMS: usize = 20;
/// Largest main/length codeword.
pub const MAX_CODE_LEN: u32 = 16;
/// Largest aligned codeword (3-bit length fields).
pub const MAX_ALIGNED_LEN: u32 = 7;
/// Largest pretree codeword (4-bit length fields).
pub const MAX_PRE_LEN: u32 = 15;
/// WIM's fixed E8 translation size.
pub const E8_SIZE: i32 = 12_000_000;
/// The block-size value signalled by the single "default size" bit.
pub const DEFAULT_BLOCK_SIZE: usize = 32768;
/// Largest number of position slots (2 MiB window), bounding table sizes.
pub const MAX_SLOTS: usize = 50;
/// Largest main-code alphabet.
pub const MAX_MAIN_SYMS: usize = NUM_CHARS + NUM_LEN_HEADERS * MAX_SLOTS;

/// Block types.
pub const BLOCK_VERBATIM: u32 = 1;
/// Aligned-offset block.
pub const BLOCK_ALIGNED: u32 = 2;
/// Uncompressed block.
pub const BLOCK_UNCOMPRESSED: u32 = 3;

/// Extra ("footer") bits of position slot `slot`.
pub const fn extra_bits(slot: usize) -> u32 {
    if slot < 4 {
        0
    } else {
        let e = (slot as u32 - 2) / 2;
        if e > 17 {
            17
        } else {
            e
        }
    }
}

const fn make_bases() -> [u32; MAX_SLOTS + 1] {
    let mut b = [0u32; MAX_SLOTS + 1];
    let mut i = 1;
    while i <= MAX_SLOTS {
        b[i] = b[i - 1] + (1 << extra_bits(i - 1));
        i += 1;
    }
    b
}

/// Base "formatted offset" (real offset + 2) of each position slot.
pub const SLOT_BASE: [u32; MAX_SLOTS + 1] = make_bases();

/// Position slots for a window of 2^`order` bytes (orders 15..=21).
pub fn num_slots(order: u32) -> usize {
    match order {
        0..=15 => 30,
        16 => 32,
        17 => 34,
        18 => 36,
        19 => 38,
        20 => 42,
        _ => 50,
    }
}

/// Window order for a chunk of `size` bytes: ceil(log2), at least 15.
pub fn window_order(size: usize) -> u32 {
    let mut order = 15;
    while (1usize << order) < size && order < 31 {
        order += 1;
    }
    order
}

/// Position slot of a formatted offset (`offset + 2`).
#[inline]
pub fn slot_of(formatted: u32) -> usize {
    // Slots come in pairs above 4: slot = 2*log2 + (second bit).
    if formatted < 4 {
        formatted as usize
    } else {
        let log = 31 - formatted.leading_zeros();
        let second = (formatted >> (log - 1)) & 1;
        (2 * log + second) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_tables_are_consistent() {
        assert_eq!(SLOT_BASE[29] + (1 << extra_bits(29)), 32768);
        assert_eq!(extra_bits(36), 17);
        for f in 0..40000u32 {
            let s = slot_of(f);
            assert!(
                SLOT_BASE[s] <= f && f < SLOT_BASE[s + 1],
                "formatted {f} slot {s}"
            );
        }
    }
}
