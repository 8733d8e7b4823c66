//! What the parser hands to the stream writer: literals and copies whose source addressing has
//! already been chosen (the choice depends on the recent-distance state, which the parser keeps
//! in step with the decoder's).

/// How a copy names its source. `Source*` address the reference relative to the position the
/// (empty) rift table predicts, which is the current output position itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addr {
    /// Recent distance 0, 1 or 2 (slots 4..6).
    Recent(u8),
    /// The reference at the output position itself (slot 3).
    FullSource,
    /// The reference at output position − `d` (slots 0..2, |d| < 0x2a000).
    Source(i32),
    /// A distance back in the virtual buffer (reference then output; slots 8..70).
    Back(u32),
}

/// One token of the PseudoLzx stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    Literal(u8),
    Copy { len: u32, addr: Addr },
}

/// Slot of a back distance (≥ 1) and its count of extra bits: 1..3 are slots 8..10, then each pair
/// of slots doubles the range (`top` 2 or 3 followed by `extra` bits).
pub(crate) fn back_slot(dist: u32) -> (u32, u32) {
    if dist <= 3 {
        return (7 + dist, 0);
    }
    let high = 31 - dist.leading_zeros();
    let extra = high - 1;
    let top = dist >> extra;
    (9 + 2 * extra + (top - 2), extra)
}

/// Which source slot (0, 1, 2) carries a reference displacement `d`, with its raw field.
pub(crate) fn source_field(d: i32) -> Option<(u32, u32, u32)> {
    let d = i64::from(d);
    if (-0x2000..0x2000).contains(&d) {
        return Some((0, (d + 0x2000) as u32, 14));
    }
    let v = if d < 0 { d + 0x2000 } else { d - 0x2000 };
    if (-0x8000..0x8000).contains(&v) {
        return Some((1, (v + 0x8000) as u32, 16));
    }
    let v = if d < 0 { d + 0xa000 } else { d - 0xa000 };
    if (-0x20000..0x20000).contains(&v) {
        return Some((2, (v + 0x20000) as u32, 18));
    }
    None
}

/// The decoder's recent-distance update, mirrored.
pub(crate) fn push_recent(recent: &mut [u64; 3], dist: u64) {
    if recent[0] != dist {
        if recent[1] != dist {
            recent[2] = recent[1];
        }
        recent[1] = recent[0];
        recent[0] = dist;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_slots_cover_their_ranges() {
        // The decoder's reading of slot s ≥ 11: extra = (s − 9) / 2, top = 2 | ((s − 11) & 1).
        for s in 11u32..=70 {
            let extra = (s - 9) >> 1;
            let top = 2 | ((s - 11) & 1);
            let lo = (u64::from(top)) << extra;
            let hi = lo + (1u64 << extra) - 1;
            for d in [lo, hi] {
                if d <= u64::from(u32::MAX) {
                    assert_eq!(back_slot(d as u32), (s, extra), "{d}");
                }
            }
        }
        assert_eq!(back_slot(1), (8, 0));
        assert_eq!(back_slot(3), (10, 0));
    }

    #[test]
    fn source_fields_round_trip() {
        for d in [
            -0x29fff, -0xa001, -0xa000, -0x2001, -0x2000, -1, 1, 0x1fff, 0x2000, 0x9fff, 0xa000,
            0x29fff,
        ] {
            let (slot, raw, bits) = source_field(d).unwrap();
            assert!(u64::from(raw) < 1 << bits);
            // The decoder's reading.
            let back = match slot {
                0 => i64::from(raw) - 0x2000,
                1 => {
                    let v = i64::from(raw) - 0x8000;
                    if v < 0 {
                        v - 0x2000
                    } else {
                        v + 0x2000
                    }
                }
                _ => {
                    let v = i64::from(raw) - 0x20000;
                    if v < 0 {
                        v - 0xa000
                    } else {
                        v + 0xa000
                    }
                }
            };
            assert_eq!(back, i64::from(d));
        }
        assert!(source_field(0x2a000).is_none());
        assert!(source_field(-0x2a001).is_none());
    }
}
