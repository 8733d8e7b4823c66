//! LZMS offset and length slots: each slot is a base value plus a number of verbatim extra bits.
//!
//! The tables are generated from run lengths of the extra-bit counts (slot `k + 1` starts where
//! slot `k`'s range ends, the first slot starts at 1), which is how the format defines them.

/// Number of offset slots (LZ and delta offsets share them).
pub(super) const NUM_OFFSET_SLOTS: usize = 799;
/// Number of length slots.
pub(super) const NUM_LENGTH_SLOTS: usize = 54;

/// (extra bits, number of consecutive slots) for offsets.
const OFFSET_RUNS: [(u8, u16); 21] = [
    (0, 8),
    (2, 9),
    (3, 7),
    (4, 10),
    (5, 15),
    (6, 15),
    (7, 20),
    (8, 20),
    (9, 30),
    (10, 33),
    (11, 40),
    (12, 42),
    (13, 45),
    (14, 60),
    (15, 73),
    (16, 80),
    (17, 85),
    (18, 95),
    (19, 105),
    (20, 6),
    (30, 1),
];

/// (extra bits, number of consecutive slots) for lengths.
const LENGTH_RUNS: [(u8, u16); 13] = [
    (0, 26),
    (1, 4),
    (2, 6),
    (3, 4),
    (4, 5),
    (5, 2),
    (6, 1),
    (7, 1),
    (8, 1),
    (9, 1),
    (10, 1),
    (16, 1),
    (30, 1),
];

/// Expand runs into `(base, extra bits)` per slot plus one sentinel base past the last slot.
const fn expand<const N: usize, const R: usize>(runs: [(u8, u16); R]) -> ([u32; N], [u8; N]) {
    let mut base = [0u32; N];
    let mut bits = [0u8; N];
    let mut next: u32 = 1;
    let mut slot = 0;
    let mut r = 0;
    while r < R {
        let (b, n) = runs[r];
        let mut k = 0;
        while k < n {
            if slot < N {
                base[slot] = next;
                bits[slot] = b;
            }
            next += 1 << b;
            slot += 1;
            k += 1;
        }
        r += 1;
    }
    (base, bits)
}

const OFFSETS: ([u32; NUM_OFFSET_SLOTS], [u8; NUM_OFFSET_SLOTS]) = expand(OFFSET_RUNS);
const LENGTHS: ([u32; NUM_LENGTH_SLOTS], [u8; NUM_LENGTH_SLOTS]) = expand(LENGTH_RUNS);

/// Smallest offset of each offset slot.
pub(super) const OFFSET_BASE: [u32; NUM_OFFSET_SLOTS] = OFFSETS.0;
/// Extra bits following each offset slot.
pub(super) const OFFSET_EXTRA_BITS: [u8; NUM_OFFSET_SLOTS] = OFFSETS.1;
/// Smallest length of each length slot.
pub(super) const LENGTH_BASE: [u32; NUM_LENGTH_SLOTS] = LENGTHS.0;
/// Extra bits following each length slot.
pub(super) const LENGTH_EXTRA_BITS: [u8; NUM_LENGTH_SLOTS] = LENGTHS.1;

/// Offset slots a buffer of `size` bytes can use: one more than the slot of the largest
/// possible offset, `size - 1` (none below 2 bytes).
pub(super) fn num_offset_slots(size: usize) -> usize {
    if size < 2 {
        return 0;
    }
    let largest = (size - 1).min(u32::MAX as usize) as u32;
    // Slots whose base is <= largest.
    OFFSET_BASE.partition_point(|&b| b <= largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_the_documented_shape() {
        assert_eq!(
            OFFSET_RUNS.iter().map(|r| r.1 as usize).sum::<usize>(),
            NUM_OFFSET_SLOTS
        );
        assert_eq!(
            LENGTH_RUNS.iter().map(|r| r.1 as usize).sum::<usize>(),
            NUM_LENGTH_SLOTS
        );
        assert_eq!(&OFFSET_BASE[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 13]);
        assert_eq!(OFFSET_BASE[798], 0x065B_E4A5);
        // Largest offset and length the format can express.
        assert_eq!(OFFSET_BASE[798] + (1 << 30) - 1, 1_180_427_428);
        assert_eq!(LENGTH_BASE[53] + (1 << 30) - 1, 1_073_809_578);
        assert_eq!(num_offset_slots(1), 0);
        assert_eq!(num_offset_slots(2), 1);
        assert_eq!(num_offset_slots(9), 8);
        assert_eq!(num_offset_slots(10), 9);
        assert_eq!(num_offset_slots(usize::MAX), NUM_OFFSET_SLOTS);
    }
}
