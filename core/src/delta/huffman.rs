//! PA30's prefix codes: canonical, but "long codes first".
//!
//! Only code lengths are transmitted. Codewords are assigned from the longest length down: the
//! longest codes take the numerically smallest values, and within one length the symbols take
//! consecutive values in ascending symbol order. At each shorter length the first free value is the
//! count of prefixes already used by longer codes, `first[L] = (first[L+1] + count[L+1]) / 2`. A
//! codeword's first bit on the (LSB-first) stream is its most significant bit. Codes must be
//! complete; a table whose lengths are all zero is empty and fails when used.

use super::bits::BitReader;
use crate::Result;

/// Longest codeword any PA30 table uses.
pub(crate) const MAX_LEN: u32 = 16;

/// A single-level decode table indexed by the next `bits` stream bits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decoder {
    /// `symbol << 5 | length`, or 0 for an empty table.
    table: Vec<u32>,

}

impl Decoder {
    /// Build from one length per symbol (each ≤ `max_len` ≤ 16). `Err` carries the reason.
    pub(crate) fn new(lens: &[u8], max_len: u32) -> std::result::Result<Self, String> {
        let mut counts = [0u32; MAX_LEN as usize + 1];
        for &l in lens {
            if u32::from(l) > max_len {
                return Err(format!("code length {l} exceeds {max_len}"));
            }
            counts[l as usize] += 1;
        }
        let longest = (1..=MAX_LEN as usize).rev().find(|&l| counts[l] > 0);
        let Some(longest) = longest else {
            return Ok(Decoder::default());
        };
        // Kraft check: the code must fill its space exactly.
        let mut space: u64 = 0;
        for (l, &c) in counts.iter().enumerate().skip(1) {
            space += u64::from(c) << (MAX_LEN as usize - l);
        }
        if space != 1 << MAX_LEN {
            return Err(if space > 1 << MAX_LEN {
                "over-subscribed prefix code".into()
            } else {
                "incomplete prefix code".into()
            });
        }
        let mut next = [0u32; MAX_LEN as usize + 2];
        let mut first = 0u32;
        for l in (1..=longest).rev() {
            next[l] = first;
            first = (first + counts[l]) >> 1;
        }

        let mut table = vec![0u32; 1 << longest];
        for (sym, &l) in lens.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let l = u32::from(l);
            let code = next[l as usize];
            next[l as usize] += 1;
            // Stream order puts the codeword's MSB first, i.e. in the lowest index bit.
            let rev = code.reverse_bits() >> (32 - l);
            let entry = (sym as u32) << 5 | l;
            let mut i = rev as usize;
            while i < table.len() {
                table[i] = entry;
                i += 1 << l;
            }
        }
        Ok(Decoder { table })
    }

    /// Decode one symbol.
    #[inline]
    pub(crate) fn decode(&self, r: &mut BitReader<'_>) -> Result<u32> {
        if self.table.is_empty() {
            return Err(r.error("symbol read from an empty prefix code"));
        }
        let idx = (r.peek() as usize) & (self.table.len() - 1);
        let e = self.table[idx];
        r.skip(e & 31)?;
        Ok(e >> 5)
    }
}

/// The lengths of the complete code msdelta uses when a stream asks for its "default" tables:
/// all symbols equally long, except that the first ones are a bit shorter so the code is complete.
pub(crate) fn default_lengths(count: usize) -> Vec<u8> {
    if count <= 2 {
        return vec![1; count];
    }
    let len = (usize::BITS - (count - 1).leading_zeros()) as u8;
    let shorter = (1usize << len) - count;
    let mut v = vec![len - 1; shorter];
    v.resize(count, len);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_codes_take_small_values() {
        // Lengths a:1 b:2 c:2 → longest first: b=00, c=01, a=1.
        let d = Decoder::new(&[1, 2, 2], 16).unwrap();
        // Stream bits LSB-first: "1" → a; "0","0" → b; "0","1" → c.
        for (byte, want) in [(0b1000u8, 0u32), (0b0000, 1), (0b10000, 2)] {
            // First 3 bits are the padding count (0); the code follows.
            let data = [byte, 0];
            let mut r = BitReader::new(&data, 0, "t").unwrap();
            assert_eq!(d.decode(&mut r).unwrap(), want);
        }
    }

    #[test]
    fn rejects_bad_codes() {
        assert!(Decoder::new(&[1, 1, 1], 16).is_err());
        assert!(Decoder::new(&[1, 2], 16).is_err());
        assert!(Decoder::new(&[17, 1], 16).is_err());
        assert!(Decoder::new(&[0, 0], 16).unwrap().table.is_empty());
    }

    #[test]
    fn default_lengths_are_complete() {
        for n in [1usize, 2, 3, 16, 256, 600] {
            let l = default_lengths(n);
            assert_eq!(l.len(), n);
            if n >= 2 {
                assert!(Decoder::new(&l, 16).is_ok(), "{n}");
            }
        }
        assert_eq!(default_lengths(600).iter().filter(|&&l| l == 9).count(), 424);
    }
}
