//! Canonical-Huffman helpers shared by the WIM codecs.
//!
//! LZX, XPRESS and LZMS all transmit only code *lengths*; codewords are the canonical assignment
//! (shorter codes first, ties broken by symbol order). This module builds fast two-level decode
//! tables from lengths (rejecting over-subscribed and incomplete codes, which is where a corrupt
//! stream is caught) and, for encoders, builds length-limited codes from symbol frequencies.
//! Written here because the codecs need MSB-first 16-bit-word bit order that general-purpose
//! Huffman crates do not offer, and the code is small.

/// Marks a table entry that points to a subtable (or, with zero subtable bits, an empty code).
const SUBTABLE: u32 = 0x8000;

/// Why a set of code lengths cannot form a prefix code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// The lengths over-subscribe the code space (Kraft sum > 1).
    OverSubscribed,
    /// The lengths leave part of the code space unused (and the code is not empty).
    Incomplete,
    /// A length is larger than the maximum the table was asked to support.
    TooLong,
}

impl std::fmt::Display for CodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CodeError::OverSubscribed => "over-subscribed Huffman code",
            CodeError::Incomplete => "incomplete Huffman code",
            CodeError::TooLong => "Huffman code length too large",
        })
    }
}

/// A two-level decode table for a canonical code of at most 16-bit codewords.
///
/// Lookups take the next 16 bits of the stream, MSB first (`peek16`). An entry either holds the
/// symbol (bits 16..) and the codeword length (bits 0..5), or points at a subtable indexed by the
/// bits that follow the first `table_bits`.
#[derive(Debug, Clone, Default)]
pub struct DecodeTable {
    entries: Vec<u32>,
    table_bits: u32,
    sorted: Vec<u16>,
}

impl DecodeTable {
    /// An empty table; call [`DecodeTable::build`] before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Build the table for `lens` (one length per symbol, 0 = unused, each ≤ `max_len` ≤ 16) with a
    /// primary table of `table_bits` bits. An all-zero `lens` builds an *empty* code: every lookup
    /// then fails ([`DecodeTable::decode`] returns `None`). Complete codes are required otherwise.
    pub fn build(&mut self, lens: &[u8], table_bits: u32, max_len: u32) -> Result<(), CodeError> {
        let max_len = max_len.min(16);
        let mut counts = [0u32; 17];
        for &l in lens {
            if u32::from(l) > max_len {
                return Err(CodeError::TooLong);
            }
            counts[l as usize] += 1;
        }
        counts[0] = 0;
        // Kraft check in units of 2^-16.
        let mut space: i64 = 1 << 16;
        for (l, &c) in counts.iter().enumerate().skip(1) {
            space -= i64::from(c) << (16 - l);
            if space < 0 {
                return Err(CodeError::OverSubscribed);
            }
        }
        let longest = (1..=16).rev().find(|&l| counts[l] != 0).unwrap_or(0) as u32;
        let table_bits = table_bits.clamp(1, 16).min(longest.max(1));
        self.table_bits = table_bits;
        self.entries.clear();
        if space == 1 << 16 {
            // Empty code: every primary entry is a subtable marker with zero bits => invalid.
            self.entries.resize(1 << table_bits, SUBTABLE);
            return Ok(());
        }
        if space != 0 {
            return Err(CodeError::Incomplete);
        }
        // Sort symbols by (length, symbol) with a counting sort.
        let mut offsets = [0u32; 18];
        for l in 1..=16 {
            offsets[l + 1] = offsets[l] + counts[l];
        }
        let used = offsets[17] as usize;
        self.sorted.clear();
        self.sorted.resize(used, 0);
        for (sym, &l) in lens.iter().enumerate() {
            if l != 0 {
                let slot = &mut offsets[l as usize];
                self.sorted[*slot as usize] = sym as u16;
                *slot += 1;
            }
        }
        self.entries.resize(1 << table_bits, 0);
        // Walk codes in canonical order; `code` is left-aligned to 16 bits.
        let mut code: u32 = 0;
        let mut i = 0;
        while i < used {
            let sym = self.sorted[i];
            let len = u32::from(lens[sym as usize]);
            if len <= table_bits {
                let start = (code >> (16 - table_bits)) as usize;
                let n = 1usize << (table_bits - len);
                let e = (u32::from(sym) << 16) | len;
                self.entries[start..start + n].fill(e);
                code += 1 << (16 - len);
                i += 1;
                continue;
            }
            // Group of long codes sharing this primary prefix: contiguous in canonical order and
            // ending with the longest one.
            let prefix = code >> (16 - table_bits);
            let mut j = i;
            let mut c = code;
            let mut group_max = len;
            while j < used {
                let l = u32::from(lens[self.sorted[j] as usize]);
                if c >> (16 - table_bits) != prefix {
                    break;
                }
                group_max = group_max.max(l);
                c += 1 << (16 - l);
                j += 1;
            }
            let sub_bits = group_max - table_bits;
            let base = self.entries.len();
            self.entries.resize(base + (1 << sub_bits), 0);
            self.entries[prefix as usize] = ((base as u32) << 16) | SUBTABLE | sub_bits;
            for k in i..j {
                let sym = self.sorted[k];
                let l = u32::from(lens[sym as usize]);
                let idx = (((code << table_bits) & 0xFFFF) >> (16 - sub_bits)) as usize;
                let n = 1usize << (group_max - l);
                let e = (u32::from(sym) << 16) | l;
                self.entries[base + idx..base + idx + n].fill(e);
                code += 1 << (16 - l);
            }
            i = j;
        }
        Ok(())
    }

    /// Decode one symbol from the next 16 stream bits `peek16` (MSB = next bit). Returns the symbol
    /// and its codeword length, or `None` for an empty code.
    #[inline(always)]
    pub fn decode(&self, peek16: u32) -> Option<(u32, u32)> {
        let tb = self.table_bits;
        // Index is < 2^tb ≤ table length by construction.
        let e = self.entries[(peek16 >> (16 - tb)) as usize];
        if e & SUBTABLE == 0 {
            return Some((e >> 16, e & 0x1F));
        }
        let sub_bits = e & 0x1F;
        if sub_bits == 0 {
            return None;
        }
        let idx = (e >> 16) + (((peek16 << tb) & 0xFFFF) >> (16 - sub_bits));
        let e2 = *self.entries.get(idx as usize)?;
        Some((e2 >> 16, e2 & 0x1F))
    }
}

/// Build length-limited Huffman code lengths (≤ `max_len`) for `freqs` into `lens`.
///
/// Unused symbols get length 0. A single used symbol is paired with a second symbol so the code is
/// complete (decoders, ours and wimlib's, reject incomplete codes); no used symbol gives all zeros.
pub fn build_lengths(freqs: &[u32], max_len: u32, lens: &mut [u8]) {
    let n = freqs.len();
    lens[..n].fill(0);
    let mut syms: Vec<u32> = (0..n as u32).filter(|&s| freqs[s as usize] != 0).collect();
    match syms.len() {
        0 => return,
        1 => {
            let s = syms[0] as usize;
            let other = if s == 0 { 1 } else { 0 };
            lens[s] = 1;
            if other < n {
                lens[other] = 1;
            }
            return;
        }
        _ => {}
    }
    syms.sort_by_key(|&s| (freqs[s as usize], s));
    let m = syms.len();
    // Two-queue Huffman: leaves (sorted) and internal nodes (created in nondecreasing weight order).
    let mut weight: Vec<u64> = syms.iter().map(|&s| u64::from(freqs[s as usize])).collect();
    let mut parent: Vec<usize> = vec![0; 2 * m - 1];
    weight.reserve(m - 1);
    let (mut leaf, mut node) = (0usize, m);
    for next in m..2 * m - 1 {
        let mut pick = || {
            if leaf < m && (node >= next || weight[leaf] <= weight[node]) {
                leaf += 1;
                leaf - 1
            } else {
                node += 1;
                node - 1
            }
        };
        let a = pick();
        let b = pick();
        let w = weight[a] + weight[b];
        weight.push(w);
        parent[a] = next;
        parent[b] = next;
    }
    // Depths: root is the last node.
    let mut depth = vec![0u32; 2 * m - 1];
    for i in (0..2 * m - 2).rev() {
        depth[i] = depth[parent[i]] + 1;
    }
    let mut counts = [0u32; 64];
    for &d in &depth[..m] {
        counts[d.min(63) as usize] += 1;
    }
    let max_len = max_len.clamp(1, 32) as usize;
    // Fold too-long codes into max_len, then repair the Kraft sum by lengthening shorter codes.
    let mut overflow = 0u32;
    for l in (max_len + 1..64).rev() {
        overflow += counts[l];
        counts[max_len] += counts[l];
        counts[l] = 0;
    }
    if overflow > 0 {
        let kraft = |c: &[u32; 64]| -> u64 {
            (1..=max_len)
                .map(|l| u64::from(c[l]) << (max_len - l))
                .sum()
        };
        while kraft(&counts) > 1u64 << max_len {
            let mut bits = max_len - 1;
            while counts[bits] == 0 {
                bits -= 1;
            }
            counts[bits] -= 1;
            counts[bits + 1] += 2;
            counts[max_len] -= 1;
        }
    }
    // Assign lengths: least frequent symbols (start of `syms`) get the longest codes.
    let mut k = 0;
    for l in (1..=max_len).rev() {
        for _ in 0..counts[l] {
            lens[syms[k] as usize] = l as u8;
            k += 1;
        }
    }
}

/// Canonical codewords (right-aligned) for `lens` into `codes`.
pub fn canonical_codes(lens: &[u8], codes: &mut [u16]) {
    let mut counts = [0u32; 17];
    for &l in lens {
        counts[(l as usize).min(16)] += 1;
    }
    counts[0] = 0;
    let mut next = [0u32; 17];
    let mut code = 0u32;
    for l in 1..=16 {
        code = (code + counts[l - 1]) << 1;
        next[l] = code;
    }
    for (s, &l) in lens.iter().enumerate() {
        if l != 0 {
            let l = (l as usize).min(16);
            codes[s] = next[l] as u16;
            next[l] += 1;
        } else {
            codes[s] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_codes() {
        let mut t = DecodeTable::new();
        assert_eq!(t.build(&[1, 1, 1], 8, 16), Err(CodeError::OverSubscribed));
        assert_eq!(t.build(&[1, 2, 0], 8, 16), Err(CodeError::Incomplete));
        assert_eq!(t.build(&[17, 1], 8, 16), Err(CodeError::TooLong));
        assert!(t.build(&[0, 0, 0], 8, 16).is_ok());
        assert_eq!(t.decode(0xFFFF), None);
    }

    #[test]
    fn decodes_long_codes_through_subtables() {
        // Frequencies spanning many orders of magnitude force codes longer than the primary table.
        let freqs: Vec<u32> = (0..40).map(|i| 1u32 << (i % 20)).collect();
        let mut lens = vec![0u8; 40];
        build_lengths(&freqs, 16, &mut lens);
        assert!(lens.iter().all(|&l| (1..=16).contains(&l)));
        let mut codes = vec![0u16; 40];
        canonical_codes(&lens, &mut codes);
        let mut t = DecodeTable::new();
        t.build(&lens, 6, 16).unwrap();
        for s in 0..40 {
            let l = u32::from(lens[s]);
            let peek = (u32::from(codes[s]) << (16 - l)) | ((1 << (16 - l)) - 1) & 0x5555;
            assert_eq!(t.decode(peek), Some((s as u32, l)), "symbol {s}");
        }
    }

    #[test]
    fn length_limit_holds() {
        let freqs: Vec<u32> = (0..30).map(|i| if i < 25 { 1 << i } else { 1 }).collect();
        let mut lens = vec![0u8; 30];
        build_lengths(&freqs, 7, &mut lens);
        assert!(lens.iter().all(|&l| (1..=7).contains(&l)));
        let kraft: u32 = lens.iter().map(|&l| 1u32 << (7 - l)).sum();
        assert_eq!(kraft, 128);
        let mut t = DecodeTable::new();
        assert!(t.build(&lens, 7, 7).is_ok());
    }
}
