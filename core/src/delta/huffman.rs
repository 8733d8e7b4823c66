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

/// Bits resolved by the lookup table; longer codewords finish in a per-length walk. Keeping the
/// table small bounds the cost of building one per block, which a crafted stream could repeat.
const TABLE_BITS: u32 = 10;

/// A decoder: a lookup table for codewords of up to [`TABLE_BITS`] bits, canonical tables beyond.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decoder {
    /// `symbol << 5 | length`; length 0 = the codeword is longer than the table.
    table: Vec<u32>,
    table_bits: u32,
    longest: u32,
    /// Per length: first codeword value, and index of its first symbol in `sorted`.
    first: [u32; MAX_LEN as usize + 1],
    base: [u32; MAX_LEN as usize + 1],
    count: [u32; MAX_LEN as usize + 1],
    /// Symbols ordered by (length, symbol).
    sorted: Vec<u16>,
}

impl Decoder {
    /// Build from one length per symbol (each ≤ `max_len` ≤ 16). `Err` carries the reason.
    pub(crate) fn new(lens: &[u8], max_len: u32) -> std::result::Result<Self, String> {
        let mut counts = [0u32; MAX_LEN as usize + 1];
        for &l in lens {
            if u32::from(l) > max_len.min(MAX_LEN) {
                return Err(format!("code length {l} exceeds {max_len}"));
            }
            counts[l as usize] += 1;
        }
        let Some(longest) = (1..=MAX_LEN as usize).rev().find(|&l| counts[l] > 0) else {
            return Ok(Decoder::default());
        };
        // Kraft check: the code must fill its space exactly.
        let space: u64 = (1..=MAX_LEN as usize)
            .map(|l| u64::from(counts[l]) << (MAX_LEN as usize - l))
            .sum();
        if space != 1 << MAX_LEN {
            return Err(if space > 1 << MAX_LEN {
                "over-subscribed prefix code".into()
            } else {
                "incomplete prefix code".into()
            });
        }
        let mut d = Decoder {
            longest: longest as u32,
            ..Decoder::default()
        };
        let mut first = 0u32;
        for l in (1..=longest).rev() {
            d.first[l] = first;
            first = (first + counts[l]) >> 1;
        }
        let mut at = 0u32;
        for (base, &count) in d.base.iter_mut().zip(&counts).take(longest + 1).skip(1) {
            *base = at;
            at += count;
        }
        d.sorted = vec![0; at as usize];
        d.count = counts;
        let mut fill = d.base;
        let mut next = d.first;
        d.table_bits = (longest as u32).min(TABLE_BITS);
        d.table = vec![0u32; 1 << d.table_bits];
        for (sym, &l) in lens.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let l = l as usize;
            d.sorted[fill[l] as usize] = sym as u16;
            fill[l] += 1;
            let code = next[l];
            next[l] += 1;
            if l as u32 <= d.table_bits {
                // Stream order puts the codeword's MSB first, i.e. in the lowest index bit.
                let rev = code.reverse_bits() >> (32 - l);
                let entry = (sym as u32) << 5 | l as u32;
                let mut i = rev as usize;
                while i < d.table.len() {
                    d.table[i] = entry;
                    i += 1 << l;
                }
            }
        }
        Ok(d)
    }

    /// Decode one symbol.
    #[inline]
    pub(crate) fn decode(&self, r: &mut BitReader<'_>) -> Result<u32> {
        if self.table.is_empty() {
            return Err(r.error("symbol read from an empty prefix code"));
        }
        let peek = r.peek();
        let e = self.table[(peek as usize) & (self.table.len() - 1)];
        if e & 31 != 0 {
            r.skip(e & 31)?;
            return Ok(e >> 5);
        }
        self.decode_long(r, peek)
    }

    #[cold]
    fn decode_long(&self, r: &mut BitReader<'_>, peek: u64) -> Result<u32> {
        let msb_first = (peek as u32).reverse_bits() >> (32 - MAX_LEN);
        for l in self.table_bits + 1..=self.longest {
            let code = msb_first >> (MAX_LEN - l);
            let l = l as usize;
            if code >= self.first[l] {
                if code - self.first[l] >= self.count[l] {
                    break;
                }
                let i = self.base[l] + (code - self.first[l]);
                let Some(&sym) = self.sorted.get(i as usize) else {
                    break;
                };
                r.skip(l as u32)?;
                return Ok(u32::from(sym));
            }
        }
        Err(r.error("invalid prefix codeword"))
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
        // A long code (lengths up to 12) decodes through the per-length walk.
        let lens = vec![12u8; 4096];
        let d = Decoder::new(&lens, 16).unwrap();
        let data = [0b1111_1000u8, 0xff];
        let mut r = BitReader::new(&data, 0, "t").unwrap();
        assert_eq!(d.decode(&mut r).unwrap(), 0xfff);
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
        assert_eq!(
            default_lengths(600).iter().filter(|&&l| l == 9).count(),
            424
        );
    }
}
