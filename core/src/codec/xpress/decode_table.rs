//! Two-level lookup table for canonical Huffman codes of at most 15-bit codewords, shared by the
//! XPRESS and LZMS decoders.
//!
//! Kept private to these two codecs (rather than using `codec::huffman`) because both need
//! behaviour that a general helper rejects: XPRESS streams may carry *incomplete* codes (unused
//! code space must decode to an error, not be refused up front), and LZMS rebuilds its tables
//! tens of thousands of times per chunk, so the build path is tuned for that.
//!
//! A lookup is given the next 15 bits of the stream, most significant bit first. The primary
//! table is indexed by the first `primary_bits` of them; codewords longer than that go through a
//! per-prefix subtable sized for the longest codeword sharing that prefix.

/// Longest codeword any user of this table needs (XPRESS and LZMS both cap codes at 15 bits).
pub(crate) const MAX_CODEWORD_LEN: u32 = 15;

/// Entry flag: the entry points to a subtable instead of holding a symbol.
const SUBTABLE_FLAG: u32 = 0x20;

/// Why a set of code lengths is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeError {
    /// The lengths over-subscribe the code space (Kraft sum above 1).
    OverSubscribed,
    /// A length exceeds [`MAX_CODEWORD_LEN`].
    TooLong,
}

impl std::fmt::Display for CodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CodeError::OverSubscribed => "over-subscribed Huffman code",
            CodeError::TooLong => "Huffman codeword longer than 15 bits",
        })
    }
}

/// Decode table for one canonical code.
///
/// Entry layout: `0` = unused code space; otherwise bits 0..5 hold the codeword length and bits
/// 16.. the symbol, or (with [`SUBTABLE_FLAG`]) bits 8..12 hold the subtable's index width and
/// bits 16.. its start.
#[derive(Debug, Clone)]
pub(crate) struct DecodeTable {
    entries: Vec<u32>,
    primary_bits: u32,
    /// Scratch: symbols sorted by (length, symbol), i.e. in codeword order.
    order: Vec<u16>,
}

impl DecodeTable {
    /// An empty table whose primary level indexes `primary_bits` bits (1..=15).
    pub(crate) fn new(primary_bits: u32) -> Self {
        let primary_bits = primary_bits.clamp(1, MAX_CODEWORD_LEN);
        DecodeTable {
            entries: vec![0; 1 << primary_bits],
            primary_bits,
            order: Vec::new(),
        }
    }

    /// Rebuild for `lens` (one length per symbol, 0 = symbol unused). Incomplete codes are
    /// accepted; looking up their unused space yields `None`.
    pub(crate) fn build(&mut self, lens: &[u8]) -> Result<(), CodeError> {
        let mut counts = [0u32; MAX_CODEWORD_LEN as usize + 1];
        for &l in lens {
            if u32::from(l) > MAX_CODEWORD_LEN {
                return Err(CodeError::TooLong);
            }
            counts[usize::from(l)] += 1;
        }
        // Kraft check in units of 2^-15.
        let mut space: u64 = 0;
        for (len, &c) in counts.iter().enumerate().skip(1) {
            space += u64::from(c) << (MAX_CODEWORD_LEN as usize - len);
        }
        if space > 1 << MAX_CODEWORD_LEN {
            return Err(CodeError::OverSubscribed);
        }

        // Symbols in codeword order via a counting sort on length.
        let mut start = [0usize; MAX_CODEWORD_LEN as usize + 2];
        for len in 1..=MAX_CODEWORD_LEN as usize {
            start[len + 1] = start[len] + counts[len] as usize;
        }
        let used = start[MAX_CODEWORD_LEN as usize + 1];
        self.order.clear();
        self.order.resize(used, 0);
        for (sym, &l) in lens.iter().enumerate() {
            if l != 0 {
                let slot = &mut start[usize::from(l)];
                self.order[*slot] = sym as u16;
                *slot += 1;
            }
        }

        let pb = self.primary_bits;
        let primary_len = 1usize << pb;
        self.entries.clear();
        self.entries.resize(primary_len, 0);

        // Walk codewords in canonical order. `code` is the next codeword of length `len`.
        let mut code: u32 = 0;
        let mut idx = 0usize;
        let mut len = 1u32;
        while len <= pb {
            for _ in 0..counts[len as usize] {
                let sym = u32::from(self.order[idx]);
                idx += 1;
                let span = 1usize << (pb - len);
                let first = (code as usize) << (pb - len);
                let e = (sym << 16) | len;
                self.entries[first..first + span].fill(e);
                code += 1;
            }
            code <<= 1;
            len += 1;
        }
        // `code` is now the first unused primary-width prefix scaled to length `pb + 1`;
        // longer codewords share primary prefixes and get subtables.
        code >>= 1;
        let mut long_code: u32 = code; // codeword value at the current length
        let mut cur_len = pb;
        let mut current_prefix: Option<u32> = None;
        let mut sub_start = 0usize;
        let mut sub_bits = 0u32;
        while idx < used {
            let sym = u32::from(self.order[idx]);
            let l = u32::from(lens[sym as usize]);
            long_code <<= l - cur_len;
            cur_len = l;
            let prefix = long_code >> (l - pb);
            if current_prefix != Some(prefix) {
                // Size the subtable for the longest codeword under this prefix: codewords are in
                // canonical order, so the last one sharing the prefix is the longest.
                let mut j = idx;
                let mut c = long_code;
                let mut cl = l;
                let mut max_len = l;
                while j < used {
                    let lj = u32::from(lens[usize::from(self.order[j])]);
                    c <<= lj - cl;
                    cl = lj;
                    if c >> (lj - pb) != prefix {
                        break;
                    }
                    max_len = lj;
                    c += 1;
                    j += 1;
                }
                sub_bits = max_len - pb;
                sub_start = self.entries.len();
                self.entries.resize(sub_start + (1usize << sub_bits), 0);
                self.entries[prefix as usize] =
                    ((sub_start as u32) << 16) | (sub_bits << 8) | SUBTABLE_FLAG;
                current_prefix = Some(prefix);
            }
            let low = long_code & ((1 << (l - pb)) - 1);
            let span = 1usize << (pb + sub_bits - l);
            let first = sub_start + ((low as usize) << (pb + sub_bits - l));
            self.entries[first..first + span].fill((sym << 16) | l);
            long_code += 1;
            idx += 1;
        }
        Ok(())
    }

    /// Look up the symbol whose codeword starts the 15-bit MSB-first window `peek15`.
    /// Returns `(symbol, codeword length)`, or `None` for unused code space.
    #[inline(always)]
    pub(crate) fn lookup(&self, peek15: u32) -> Option<(u32, u32)> {
        let pb = self.primary_bits;
        let mut e = *self
            .entries
            .get((peek15 >> (MAX_CODEWORD_LEN - pb)) as usize)?;
        if e & SUBTABLE_FLAG != 0 {
            let bits = (e >> 8) & 0xF;
            let rest = MAX_CODEWORD_LEN - pb;
            let low = (peek15 & ((1 << rest) - 1)) >> (rest - bits);
            e = *self.entries.get((e >> 16) as usize + low as usize)?;
        }
        let len = e & 0x1F;
        if len == 0 {
            None
        } else {
            Some((e >> 16, len))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Canonical codewords computed independently (textbook algorithm) for cross-checking.
    fn canonical(lens: &[u8]) -> Vec<(u32, u32)> {
        let mut out = vec![(0, 0); lens.len()];
        let mut code = 0u32;
        for len in 1..=15u32 {
            for (s, &l) in lens.iter().enumerate() {
                if u32::from(l) == len {
                    out[s] = (code, len);
                    code += 1;
                }
            }
            code <<= 1;
        }
        out
    }

    fn check(lens: &[u8], pb: u32) {
        let mut t = DecodeTable::new(pb);
        t.build(lens).unwrap();
        for (sym, (code, len)) in canonical(lens).into_iter().enumerate() {
            if len == 0 {
                continue;
            }
            for tail in [0u32, (1 << (15 - len)) - 1] {
                let window = (code << (15 - len)) | tail;
                assert_eq!(t.lookup(window), Some((sym as u32, len)), "sym {sym}");
            }
        }
    }

    #[test]
    fn decodes_every_symbol_of_mixed_length_codes() {
        // Complete code with lengths from 1 to 15.
        let mut lens = vec![0u8; 20];
        for (i, l) in lens.iter_mut().enumerate().take(15) {
            *l = (i + 1) as u8;
        }
        lens[15] = 15;
        for pb in [1, 4, 8, 10, 15] {
            check(&lens, pb);
        }
        // Flat code: 512 symbols of 9 bits.
        check(&[9u8; 512], 10);
        check(&[9u8; 512], 6);
    }

    #[test]
    fn unused_space_and_oversubscription() {
        let mut t = DecodeTable::new(8);
        t.build(&[1, 0, 2]).unwrap();
        assert_eq!(t.lookup(0), Some((0, 1)));
        assert_eq!(t.lookup(0b10 << 13), Some((2, 2)));
        assert_eq!(t.lookup(0b11 << 13), None);
        assert_eq!(t.build(&[1, 1, 1]), Err(CodeError::OverSubscribed));
        assert_eq!(t.build(&[16]), Err(CodeError::TooLong));
        t.build(&[0, 0]).unwrap();
        assert_eq!(t.lookup(0x7FFF), None);
        // Incomplete code with a long codeword under a subtable.
        t.build(&[1, 12]).unwrap();
        assert_eq!(t.lookup(0b100_0000_0000_0000), Some((1, 12)));
        assert_eq!(t.lookup(0b100_0000_0001_0000), None);
    }
}
