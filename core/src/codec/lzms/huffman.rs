//! The backward half of an LZMS chunk: Huffman-coded symbols and verbatim bits read from the end
//! of the chunk towards its start, with codes that adapt to the symbols decoded so far.
//!
//! Every code starts with all symbol frequencies at 1 and is rebuilt after a fixed number of
//! decoded symbols; after each rebuild the frequencies are halved (`f / 2 + 1`). The decoder must
//! reproduce the encoder's code exactly, so the construction is pinned down: symbols sorted by
//! (frequency, symbol value), the classic pairing of the two lightest nodes with ties resolved in
//! favour of leaves, then codeword lengths handed out longest-first in that sorted order and
//! codewords assigned canonically.

use crate::codec::xpress::decode_table::{DecodeTable, MAX_CODEWORD_LEN};
use crate::{Error, Result};

fn err(reason: impl std::fmt::Display) -> Error {
    Error::codec("LZMS", reason)
}

/// MSB-first reader of 16-bit little-endian words, walking backwards from the end of the input.
pub(super) struct BackwardBits<'a> {
    input: &'a [u8],
    /// Byte offset one past the next word to load.
    pos: usize,
    bits: u64,
    count: u32,
    /// Zero bits supplied after the start of the input was reached (still in `bits` or gone).
    overrun_bits: u64,
}

impl<'a> BackwardBits<'a> {
    /// Reads the words of `input` (even length) from the last one down.
    pub(super) fn new(input: &'a [u8]) -> Self {
        BackwardBits {
            input,
            pos: input.len() & !1,
            bits: 0,
            count: 0,
            overrun_bits: 0,
        }
    }

    /// Bytes of input loaded so far, counted from the end.
    pub(super) fn consumed_bytes(&self) -> usize {
        (self.input.len() & !1) - self.pos
    }

    /// Zero padding bits actually consumed beyond the start of the input.
    pub(super) fn overrun_consumed(&self) -> u64 {
        self.overrun_bits.saturating_sub(u64::from(self.count))
    }

    /// Make at least 32 bits available.
    #[inline(always)]
    fn refill(&mut self) {
        while self.count <= 48 {
            let w = if self.pos >= 2 {
                self.pos -= 2;
                u64::from(u16::from_le_bytes([
                    self.input[self.pos],
                    self.input[self.pos + 1],
                ]))
            } else {
                self.overrun_bits += 16;
                0
            };
            self.bits = (self.bits << 16) | w;
            self.count += 16;
        }
    }

    #[inline(always)]
    fn peek15(&mut self) -> u32 {
        if self.count < MAX_CODEWORD_LEN {
            self.refill();
        }
        ((self.bits >> (self.count - MAX_CODEWORD_LEN)) & 0x7FFF) as u32
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.count -= n;
        self.bits &= (1u64 << self.count) - 1;
    }

    /// `n` (0..=32) verbatim bits.
    #[inline(always)]
    pub(super) fn read(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.count < n {
            self.refill();
        }
        let v = ((self.bits >> (self.count - n)) & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        v
    }
}

/// One adaptive Huffman code.
pub(super) struct AdaptiveCode {
    num_syms: usize,
    rebuild_every: u32,
    until_rebuild: u32,
    freqs: Vec<u32>,
    lens: Vec<u8>,
    table: DecodeTable,
    scratch: TreeScratch,
}

impl AdaptiveCode {
    /// A code for at most `max_syms` symbols rebuilt every `rebuild_every` symbols.
    pub(super) fn new(max_syms: usize, rebuild_every: u32, primary_bits: u32) -> Self {
        AdaptiveCode {
            num_syms: 0,
            rebuild_every,
            until_rebuild: rebuild_every,
            freqs: Vec::with_capacity(max_syms),
            lens: Vec::with_capacity(max_syms),
            table: DecodeTable::new(primary_bits),
            scratch: TreeScratch::default(),
        }
    }

    /// Start over with `num_syms` symbols of frequency 1.
    pub(super) fn reset(&mut self, num_syms: usize) -> Result<()> {
        self.num_syms = num_syms;
        self.freqs.clear();
        self.freqs.resize(num_syms, 1);
        self.build()
    }

    fn build(&mut self) -> Result<()> {
        self.lens.clear();
        self.lens.resize(self.num_syms, 0);
        build_lengths(&self.freqs, &mut self.lens, &mut self.scratch)?;
        self.table
            .build(&self.lens)
            .map_err(|e| err(format!("adaptive code: {e}")))?;
        self.until_rebuild = self.rebuild_every;
        Ok(())
    }

    /// Decode one symbol and account for it (rebuilding the code when due).
    #[inline(always)]
    pub(super) fn decode(&mut self, bits: &mut BackwardBits<'_>) -> Result<usize> {
        let (sym, len) = self
            .table
            .lookup(bits.peek15())
            .ok_or_else(|| err("codeword outside the adaptive code"))?;
        bits.consume(len);
        let sym = sym as usize;
        // The table only holds symbols below num_syms.
        self.freqs[sym] += 1;
        self.until_rebuild -= 1;
        if self.until_rebuild == 0 {
            self.build()?;
            for f in &mut self.freqs {
                *f = (*f >> 1) + 1;
            }
        }
        Ok(sym)
    }
}

/// Reusable buffers for building a code.
#[derive(Default)]
struct TreeScratch {
    /// (frequency << 10 | symbol), sorted ascending.
    sorted: Vec<u32>,
    /// Frequencies of internal nodes, in creation order.
    node_freq: Vec<u32>,
    /// Parent (internal node index) of every internal node.
    node_parent: Vec<u32>,
    /// Depth of every internal node.
    node_depth: Vec<u32>,
    /// Parent internal node of each leaf, by sorted position.
    leaf_parent: Vec<u32>,
}

/// Codeword lengths for `freqs` (all nonzero), see the module docs for the exact rules.
fn build_lengths(freqs: &[u32], lens: &mut [u8], s: &mut TreeScratch) -> Result<()> {
    let n = freqs.len();
    if n == 0 {
        return Ok(());
    }
    if n == 1 {
        // A lone symbol gets codeword "0"; "1" stays unused and decodes to an error.
        lens[0] = 1;
        return Ok(());
    }
    s.sorted.clear();
    s.sorted.extend(
        freqs
            .iter()
            .enumerate()
            .map(|(sym, &f)| (f << 10) | sym as u32),
    );
    s.sorted.sort_unstable();

    let internal = n - 1;
    s.node_freq.clear();
    s.node_freq.resize(internal, 0);
    s.node_parent.clear();
    s.node_parent.resize(internal, 0);
    s.leaf_parent.clear();
    s.leaf_parent.resize(n, 0);

    // Two sorted queues: leaves (by position in `sorted`) and internal nodes (by creation,
    // which is also frequency order). A leaf wins ties.
    let mut next_leaf = 0usize;
    let mut next_node = 0usize;
    for created in 0..internal {
        let mut sum = 0u32;
        for _ in 0..2 {
            let take_leaf = next_leaf < n
                && (next_node == created || (s.sorted[next_leaf] >> 10) <= s.node_freq[next_node]);
            if take_leaf {
                sum += s.sorted[next_leaf] >> 10;
                s.leaf_parent[next_leaf] = created as u32;
                next_leaf += 1;
            } else {
                sum += s.node_freq[next_node];
                s.node_parent[next_node] = created as u32;
                next_node += 1;
            }
        }
        s.node_freq[created] = sum;
    }

    // Parents are created after their children, so one backward pass yields all depths.
    s.node_depth.clear();
    s.node_depth.resize(internal, 0);
    for node in (0..internal - 1).rev() {
        s.node_depth[node] = s.node_depth[s.node_parent[node] as usize] + 1;
    }
    let mut len_counts = [0u32; MAX_CODEWORD_LEN as usize + 1];
    for &p in &s.leaf_parent {
        let depth = s.node_depth[p as usize] + 1;
        if depth > MAX_CODEWORD_LEN {
            return Err(err("adaptive code needs a codeword longer than 15 bits"));
        }
        len_counts[depth as usize] += 1;
    }
    // Longest lengths go to the lightest symbols (sorted order).
    let mut i = 0usize;
    for len in (1..=MAX_CODEWORD_LEN as usize).rev() {
        for _ in 0..len_counts[len] {
            lens[(s.sorted[i] & 0x3FF) as usize] = len as u8;
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(freqs: &[u32]) -> Vec<u8> {
        let mut lens = vec![0u8; freqs.len()];
        build_lengths(freqs, &mut lens, &mut TreeScratch::default()).unwrap();
        lens
    }

    #[test]
    fn huffman_lengths_follow_the_tie_rules() {
        // 8 equal weights: a flat code.
        assert_eq!(lengths(&[1; 8]), vec![3; 8]);
        // 5 equal weights: the two lowest symbols pair first and end up deepest.
        assert_eq!(lengths(&[1; 5]), vec![3, 3, 2, 2, 2]);
        // Leaf preferred over an internal node of the same weight: (1,1)->2, then leaf 2 and
        // that node tie; the leaves 2 and 2 pair first.
        assert_eq!(lengths(&[1, 1, 2, 2]), vec![2, 2, 2, 2]);
        // Skewed.
        assert_eq!(lengths(&[1, 2, 4, 8]), vec![3, 3, 2, 1]);
        // Kraft equality always holds.
        let f: Vec<u32> = (0..54).map(|i| 1 + (i * 37 % 11)).collect();
        let l = lengths(&f);
        let kraft: u64 = l.iter().map(|&x| 1u64 << (15 - x)).sum();
        assert_eq!(kraft, 1 << 15);
    }

    #[test]
    fn backward_bits_read_words_from_the_end() {
        let data = [0x34, 0x12, 0x78, 0x56];
        let mut b = BackwardBits::new(&data);
        assert_eq!(b.read(16), 0x5678);
        assert_eq!(b.read(4), 0x1);
        assert_eq!(b.read(12), 0x234);
        assert_eq!(b.overrun_consumed(), 0);
        assert_eq!(b.read(3), 0);
        assert_eq!(b.overrun_consumed(), 3);
    }
}
