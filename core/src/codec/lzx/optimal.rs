//! Near-optimal parsing for the LZX compressor: a minimum-cost path over literals, repeat-offset
//! matches and hash-chain matches, priced with the Huffman code lengths of a first (lazy) parse.
//! The repeat-offset queue is tracked along the best path to each position, so repeat matches are
//! priced as what the decoder will actually see.

use super::matchfind::{common, hash3, hash4, hash_shift, main_sym, Item, Pos, MAX_OFFSET, NONE};
use super::tables::*;
use crate::codec::huffman::build_lengths;

const INF: u32 = u32::MAX;

/// Bit prices per symbol, from a previous parse's statistics.
pub struct Costs {
    main: Vec<u32>,
    len: [u32; NUM_LEN_SYMS],
}

impl Costs {
    /// Prices from `items` (every symbol gets a price: counts are smoothed by one).
    pub fn from_items(items: &[Item], main_syms: usize) -> Self {
        let mut mf = vec![1u32; main_syms];
        let mut lf = [1u32; NUM_LEN_SYMS];
        for it in items {
            mf[main_sym(it)] += 4;
            let l = it.len as usize;
            if l >= MIN_MATCH + 7 {
                lf[l - MIN_MATCH - 7] += 4;
            }
        }
        let mut ml = vec![0u8; main_syms];
        build_lengths(&mf, MAX_CODE_LEN, &mut ml);
        let mut ll = [0u8; NUM_LEN_SYMS];
        build_lengths(&lf, MAX_CODE_LEN, &mut ll);
        let mut len = [0u32; NUM_LEN_SYMS];
        for (c, &l) in len.iter_mut().zip(&ll) {
            *c = u32::from(l);
        }
        Costs {
            main: ml.iter().map(|&l| u32::from(l)).collect(),
            len,
        }
    }

    #[inline(always)]
    fn matched(&self, len: usize, slot: usize) -> u32 {
        let lh = (len - MIN_MATCH).min(7);
        let mut c = self.main[NUM_CHARS + slot * NUM_LEN_HEADERS + lh] + extra_bits(slot);
        if lh == 7 {
            c += self.len[len - MIN_MATCH - 7];
        }
        c
    }
}

/// The best way found so far to reach a position. One record per position rather than one
/// array per field: an update touches one cache line instead of four.
#[derive(Clone, Copy)]
struct Node {
    cost: u32,
    /// Length of the item ending here (0: a literal).
    len: u16,
    /// That item's code (repeat index or formatted offset; < 32768 + 2 in a 32 KiB chunk).
    code: u16,
    /// The repeat-offset queue after it (offsets < 32 KiB). 16 bytes in all, so the table of a
    /// chunk stays in L2 next to the matchfinder's.
    reps: [u16; 3],
}

const START: Node = Node {
    cost: INF,
    len: 0,
    code: 0,
    reps: [1, 1, 1],
};

/// Scratch buffers for [`Optimal::parse`].
#[derive(Default)]
pub struct Optimal {
    nodes: Vec<Node>,
    head3: Vec<Pos>,
    head: Vec<Pos>,
    prev: Vec<Pos>,
}

impl Optimal {
    /// Parse `d` into `items` with `costs`; `depth`/`nice` bound the match search.
    pub fn parse(
        &mut self,
        d: &[u8],
        costs: &Costs,
        depth: u32,
        nice: usize,
        items: &mut Vec<Item>,
    ) {
        let n = d.len();
        self.nodes.clear();
        self.nodes.resize(n + 1, START);
        let shift = hash_shift(n);
        self.head3.clear();
        self.head3.resize(1 << (32 - shift), NONE);
        self.head.clear();
        self.head.resize(1 << (32 - shift), NONE);
        self.prev.clear();
        self.prev.resize(n, NONE);
        self.nodes[0].cost = 0;
        let mut matches: Vec<(usize, u32)> = Vec::with_capacity(32);
        let mut skip_until = 0;
        for i in 0..n {
            let max = (n - i).min(MAX_MATCH);
            // Insert i into the matchfinder and collect candidates (nearest first).
            matches.clear();
            if max >= 3 {
                let h3 = hash3(d, i, shift);
                let c3 = self.head3[h3];
                self.head3[h3] = i as Pos;
                let mut cand = NONE;
                if max >= 4 {
                    let h = hash4(d, i, shift);
                    cand = self.head[h];
                    self.head[h] = i as Pos;
                    self.prev[i] = cand;
                }
                if i < skip_until {
                    continue;
                }
                let mut longest = 2;
                if c3 != NONE && i - c3 as usize <= MAX_OFFSET {
                    let l = common(d, c3 as usize, i, max);
                    if l >= 3 {
                        matches.push((l, (i - c3 as usize) as u32));
                        longest = l;
                    }
                }
                let mut steps = 0;
                while cand != NONE && steps < depth && longest < max && longest < nice {
                    let c = cand as usize;
                    let off = i - c;
                    if off > MAX_OFFSET {
                        break;
                    }
                    if d[c + longest] == d[i + longest] {
                        let l = common(d, c, i, max);
                        if l > longest {
                            matches.push((l, off as u32));
                            longest = l;
                        }
                    }
                    cand = self.prev[c];
                    steps += 1;
                }
            } else if i < skip_until {
                continue;
            }
            let base = self.nodes[i].cost;
            if base == INF {
                continue;
            }
            let r16 = self.nodes[i].reps;
            let reps = [u32::from(r16[0]), u32::from(r16[1]), u32::from(r16[2])];
            // Literal.
            let c = base + costs.main[d[i] as usize];
            if c < self.nodes[i + 1].cost {
                self.nodes[i + 1] = Node {
                    cost: c,
                    len: 0,
                    code: 0,
                    reps: r16,
                };
            }
            // Repeat-offset matches.
            let mut rep_longest = 0;
            for (k, &r) in reps.iter().enumerate() {
                let r = r as usize;
                // Two bytes rule out most candidates before the full comparison.
                if r > i || max < 2 || d[i - r] != d[i] || d[i - r + 1] != d[i + 1] {
                    continue;
                }
                let l = common(d, i - r, i, max);
                if l < 2 {
                    continue;
                }
                let mut nr = r16;
                nr.swap(0, k);
                // Lengths an earlier (usually cheaper) repeat offset already reaches are skipped.
                if l <= rep_longest {
                    continue;
                }
                let lo = if l >= nice { l } else { rep_longest.max(1) + 1 };
                for len in lo..=l {
                    let c = base + costs.matched(len, k);
                    if c < self.nodes[i + len].cost {
                        self.nodes[i + len] = Node {
                            cost: c,
                            len: len as u16,
                            code: k as u16,
                            reps: nr,
                        };
                    }
                }
                rep_longest = rep_longest.max(l);
            }
            if rep_longest >= nice {
                skip_until = i + rep_longest;
                continue;
            }
            // Explicit matches: each covers lengths above the previous one's.
            // Explicit offsets cost more than repeat ones: only lengths beyond the repeats count.
            let mut lo = (rep_longest + 1).max(3);
            for &(l, off) in matches.iter() {
                if reps.contains(&off) {
                    lo = lo.max(l + 1);
                    continue;
                }
                let code = off + 2;
                let slot = slot_of(code);
                let nr = [off as u16, r16[0], r16[1]];
                let start = if l >= nice { l } else { lo };
                for len in start..=l {
                    let c = base + costs.matched(len, slot);
                    if c < self.nodes[i + len].cost {
                        self.nodes[i + len] = Node {
                            cost: c,
                            len: len as u16,
                            code: code as u16,
                            reps: nr,
                        };
                    }
                }
                lo = lo.max(l + 1);
                if l >= nice {
                    skip_until = i + l;
                }
            }
        }
        // Walk back from the end.
        let start = items.len();
        let mut i = n;
        while i > 0 {
            let len = self.nodes[i].len as usize;
            if len == 0 {
                items.push(Item {
                    len: 0,
                    lit: d[i - 1],
                    code: 0,
                });
                i -= 1;
            } else {
                items.push(Item {
                    len: len as u16,
                    lit: 0,
                    code: u32::from(self.nodes[i].code),
                });
                i -= len;
            }
        }
        items[start..].reverse();
    }
}
