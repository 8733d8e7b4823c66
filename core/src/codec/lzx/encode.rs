//! WIM LZX chunk compressor.
//!
//! Hash-chain matchfinder (4-byte chains plus a 3-byte head table) with lazy parsing that also
//! tries the three repeat offsets; by default that parse only prices a near-optimal one
//! (`optimal.rs`). One block per chunk whose type (verbatim or aligned-offset) is picked by exact
//! cost. Chunks are independent, so callers parallelize across chunks.

use super::bits::BitWriter;
use super::e8;
use super::matchfind::*;
use super::optimal::{Costs, Optimal};
use super::tables::*;
use crate::codec::huffman::{build_lengths, canonical_codes};

/// Inputs too small to be worth compressing (a block header alone costs ~60 bytes).
const MIN_INPUT: usize = 64;
/// Chain depth of the pricing (lazy) pass before a near-optimal parse.
const PRICING_DEPTH: u32 = 4;

/// Reusable LZX chunk compressor (buffers are kept between chunks).
pub struct LzxEncoder {
    data: Vec<u8>,
    /// Most recent position of each 3-byte hash (length-3 matches only).
    head3: Vec<Pos>,
    /// Chain heads of 4-byte hashes.
    head: Vec<Pos>,
    prev: Vec<Pos>,
    items: Vec<Item>,
    /// First position not yet inserted into the hash chains.
    next_ins: usize,
    /// Hash shift for the current chunk ([`hash_shift`]).
    shift: u32,
    /// Chain positions visited per search.
    depth: u32,
    /// Stop searching once a match this long is found.
    nice: usize,
    /// Take matches this long without a lazy look-ahead.
    lazy: usize,
    /// Run the near-optimal parse after the lazy one.
    optimal: bool,
    opt: Optimal,
}

impl Default for LzxEncoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Rough bit cost of coding a match's offset, used only to rank candidates.
#[inline(always)]
fn offset_cost(code: u32) -> i32 {
    if code < 3 {
        4 + code as i32
    } else {
        // extra_bits(slot_of(code)) without the table walk: a formatted offset with its top bit
        // at `log` has log − 1 extra bits (capped at 17).
        let log = 31 - code.leading_zeros();
        9 + log.saturating_sub(1).min(17) as i32
    }
}

/// Rough value (bits saved versus literals) of a match candidate.
#[inline(always)]
fn value(len: usize, code: u32) -> i32 {
    len as i32 * 8 - offset_cost(code) - 4
}

impl LzxEncoder {
    /// A new encoder with the default effort.
    pub fn new() -> Self {
        LzxEncoder {
            data: Vec::new(),
            head3: vec![NONE; 1 << HASH_BITS],
            head: vec![NONE; 1 << HASH_BITS],
            prev: Vec::new(),
            items: Vec::new(),
            next_ins: 0,
            shift: 32 - HASH_BITS,
            depth: 16,
            nice: 32,
            lazy: 32,
            optimal: true,
            opt: Optimal::default(),
        }
    }

    /// Tune the effort: `depth` hash-chain candidates per search, stop searching at a `nice`-byte
    /// match, and take matches of `lazy` bytes or more without looking one byte ahead
    /// (defaults 16, 32, 32). Larger is slower and usually smaller.
    pub fn set_effort(&mut self, depth: u32, nice: usize, lazy: usize) {
        self.depth = depth.max(1);
        self.nice = nice.clamp(3, MAX_MATCH);
        self.lazy = lazy.clamp(3, MAX_MATCH);
    }

    /// Choose between the lazy parse alone (`false`, fastest) and a near-optimal parse priced
    /// by the lazy parse's statistics (`true`, the default, smaller output).
    pub fn set_optimal(&mut self, on: bool) {
        self.optimal = on;
    }

    /// Compress one chunk (≤ 32768 bytes) into `out` (appended). Returns `true` only if the result
    /// is strictly smaller than `input`; otherwise the caller stores the chunk raw.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let n = input.len();
        if !(MIN_INPUT..=DEFAULT_BLOCK_SIZE).contains(&n) {
            return false;
        }
        self.data.clear();
        self.data.extend_from_slice(input);
        e8::apply(&mut self.data);
        self.parse();
        if self.optimal {
            let main_syms = NUM_CHARS + NUM_LEN_HEADERS * num_slots(window_order(n));
            let costs = Costs::from_items(&self.items, main_syms);
            self.items.clear();
            self.opt
                .parse(&self.data, &costs, self.depth, self.nice, &mut self.items);
        }
        let start = out.len();
        write_block(&self.items, n, out);
        if out.len() - start >= n {
            out.truncate(start);
            return false;
        }
        true
    }

    /// Best match at `i` (repeat offsets first, then the hash chain); inserts `i` into the chains.
    fn best_at(&mut self, i: usize, reps: &[u32; 3]) -> (usize, u32) {
        let d = &self.data;
        let n = d.len();
        let max = (n - i).min(MAX_MATCH);
        let (mut best_len, mut best_code, mut best_val) = (0usize, 0u32, 0i32);
        for (k, &r) in reps.iter().enumerate() {
            let r = r as usize;
            // Two bytes decide most candidates before the full comparison is worth starting.
            if r <= i && max >= 2 && d[i - r] == d[i] && d[i - r + 1] == d[i + 1] {
                let l = common(d, i - r, i, max);
                if l >= 2 {
                    let v = value(l, k as u32);
                    if v > best_val {
                        (best_len, best_code, best_val) = (l, k as u32, v);
                    }
                }
            }
        }
        if max < 3 {
            return (best_len, best_code);
        }
        let mut c3 = NONE;
        let mut cand = NONE;
        if i >= self.next_ins {
            let h3 = hash3(d, i, self.shift);
            c3 = self.head3[h3];
            self.head3[h3] = i as Pos;
            if max >= 4 {
                let h = hash4(d, i, self.shift);
                cand = self.head[h];
                self.head[h] = i as Pos;
                self.prev[i] = cand;
            }
            self.next_ins = i + 1;
        } else if max >= 4 {
            // Already inserted: start below ourselves.
            cand = self.prev[i];
        }
        if best_len >= self.nice {
            return (best_len, best_code);
        }
        let mut longest = 3;
        if c3 != NONE && i - c3 as usize <= MAX_OFFSET {
            let c = c3 as usize;
            let l = common(d, c, i, max);
            if l >= 3 {
                let code = (i - c) as u32 + 2;
                let v = value(l, code);
                if v > best_val {
                    (best_len, best_code, best_val) = (l, code, v);
                }
                longest = longest.max(l);
            }
        }
        if longest >= max {
            return (best_len, best_code);
        }
        let mut chain_len = 0;
        while cand != NONE && chain_len < self.search_depth() {
            let c = cand as usize;
            let off = i - c;
            if off > MAX_OFFSET {
                break;
            }
            // Cheap filter: a longer match must agree on the bytes up to index `longest` (four
            // of them compared at once, ending there), and on the first four (the hash bucket
            // may hold another 4-byte string).
            if d[c + longest.min(max - 1)] == d[i + longest.min(max - 1)] {
                let l = common(d, c, i, max);
                if l > longest {
                    let code = off as u32 + 2;
                    let v = value(l, code);
                    if v > best_val {
                        (best_len, best_code, best_val) = (l, code, v);
                    }
                    longest = l;
                    if l >= self.nice || l == max {
                        break;
                    }
                }
            }
            cand = self.prev[c];
            chain_len += 1;
        }
        (best_len, best_code)
    }

    /// Chain depth of the lazy parse: when it only prices the near-optimal pass, a shallow search
    /// gives nearly the same statistics for a fraction of the time.
    fn search_depth(&self) -> u32 {
        if self.optimal {
            self.depth.min(PRICING_DEPTH)
        } else {
            self.depth
        }
    }

    /// Insert positions into the hash chains without searching.
    fn insert(&mut self, from: usize, to: usize) {
        let n = self.data.len();
        let from = from.max(self.next_ins);
        let to = to.min(n.saturating_sub(2));
        for i in from..to {
            let h3 = hash3(&self.data, i, self.shift);
            self.head3[h3] = i as Pos;
            if i + 3 < n {
                let h = hash4(&self.data, i, self.shift);
                self.prev[i] = self.head[h];
                self.head[h] = i as Pos;
            }
        }
        self.next_ins = self.next_ins.max(to);
    }

    /// Lazy parse of `self.data` into `self.items`.
    fn parse(&mut self) {
        let n = self.data.len();
        self.shift = hash_shift(n);
        let size = 1usize << (32 - self.shift);
        self.head[..size].fill(NONE);
        self.head3[..size].fill(NONE);
        self.prev.clear();
        self.prev.resize(n, NONE);
        self.items.clear();
        self.next_ins = 0;
        let mut reps = [1u32; 3];
        let mut i = 0;
        while i < n {
            let (mut len, mut code) = self.best_at(i, &reps);
            if len < 2 || (len == 2 && code >= 3) {
                self.items.push(Item {
                    len: 0,
                    lit: self.data[i],
                    code: 0,
                });
                i += 1;
                continue;
            }
            // Lazy evaluation: prefer a literal now if the next position starts a better match.
            while len < self.lazy && i + 1 < n {
                let (l2, c2) = self.best_at(i + 1, &reps);
                if l2 >= 2 && value(l2, c2) > value(len, code) + 6 {
                    self.items.push(Item {
                        len: 0,
                        lit: self.data[i],
                        code: 0,
                    });
                    i += 1;
                    (len, code) = (l2, c2);
                } else {
                    break;
                }
            }
            // Translate the offset into LZX's repeat-queue terms.
            let offset = if code < 3 {
                reps[code as usize]
            } else {
                code - 2
            };
            let emitted = match code {
                0 => 0,
                1 => {
                    reps.swap(0, 1);
                    1
                }
                2 => {
                    reps.swap(0, 2);
                    2
                }
                _ => {
                    if let Some(k) = reps.iter().position(|&r| r == offset) {
                        reps.swap(0, k);
                        k as u32
                    } else {
                        reps[2] = reps[1];
                        reps[1] = reps[0];
                        reps[0] = offset;
                        code
                    }
                }
            };
            self.items.push(Item {
                len: len as u16,
                lit: 0,
                code: emitted,
            });
            self.insert(i, i + len);
            i += len;
        }
    }
}

/// Pretree items for `lens` delta-coded against `prev`: (pretree symbol, extra bits, extra count).
fn pretree_items(lens: &[u8], prev: &[u8], items: &mut Vec<(u8, u32, u32)>) {
    let n = lens.len();
    let mut i = 0;
    while i < n {
        let v = lens[i];
        let mut run = 1;
        while i + run < n && lens[i + run] == v {
            run += 1;
        }
        if v == 0 && run >= 4 {
            let mut left = run;
            while left >= 20 {
                let r = left.min(51);
                items.push((18, (r - 20) as u32, 5));
                left -= r;
            }
            if left >= 4 {
                items.push((17, (left - 4) as u32, 4));
                left = 0;
            }
            for k in 0..left {
                let j = i + run - left + k;
                items.push((
                    ((17 + u32::from(prev[j]) - u32::from(lens[j])) % 17) as u8,
                    0,
                    0,
                ));
            }
            i += run;
            continue;
        }
        if run >= 4 {
            let mut j = i;
            let end = i + run;
            while end - j >= 4 {
                let r = (end - j).min(5);
                let s = ((17 + u32::from(prev[j]) - u32::from(v)) % 17) as u8;
                items.push((19, (r - 4) as u32, 1));
                items.push((s, 0, 0));
                j += r;
            }
            while j < end {
                items.push((((17 + u32::from(prev[j]) - u32::from(v)) % 17) as u8, 0, 0));
                j += 1;
            }
            i = end;
            continue;
        }
        items.push((((17 + u32::from(prev[i]) - u32::from(v)) % 17) as u8, 0, 0));
        i += 1;
    }
}

/// Write one code's lengths (pretree + items).
fn write_lens(w: &mut BitWriter, lens: &[u8], prev: &[u8]) {
    let mut items = Vec::with_capacity(lens.len());
    pretree_items(lens, prev, &mut items);
    let mut freqs = [0u32; NUM_PRE_SYMS];
    for &(s, _, _) in &items {
        freqs[s as usize] += 1;
    }
    let mut pl = [0u8; NUM_PRE_SYMS];
    build_lengths(&freqs, MAX_PRE_LEN, &mut pl);
    let mut pc = [0u16; NUM_PRE_SYMS];
    canonical_codes(&pl, &mut pc);
    for &l in &pl {
        w.put(u32::from(l), 4);
    }
    for &(s, extra, nbits) in &items {
        w.put(u32::from(pc[s as usize]), u32::from(pl[s as usize]));
        if nbits > 0 {
            w.put(extra, nbits);
        }
    }
}

/// Encode `items` covering `n` bytes as one block (verbatim or aligned, whichever is smaller).
fn write_block(items: &[Item], n: usize, out: &mut Vec<u8>) {
    let main_syms = NUM_CHARS + NUM_LEN_HEADERS * num_slots(window_order(n));
    let mut mf = [0u32; MAX_MAIN_SYMS];
    let mut lf = [0u32; NUM_LEN_SYMS];
    let mut af = [0u32; NUM_ALIGNED_SYMS];
    let mut verbatim_extra: u64 = 0;
    let mut aligned_extra: u64 = 0;
    for it in items {
        mf[main_sym(it)] += 1;
        if it.len == 0 {
            continue;
        }
        let l = it.len as usize - MIN_MATCH;
        if l >= 7 {
            lf[l - 7] += 1;
        }
        if it.code >= 3 {
            let e = extra_bits(slot_of(it.code));
            verbatim_extra += u64::from(e);
            if e >= 3 {
                aligned_extra += u64::from(e - 3);
                af[(it.code & 7) as usize] += 1;
            } else {
                aligned_extra += u64::from(e);
            }
        }
    }
    // Keep the length code non-empty: some decoders reject empty codes.
    if lf.iter().all(|&f| f == 0) {
        lf[0] = 1;
    }
    let mut ml = [0u8; MAX_MAIN_SYMS];
    build_lengths(&mf[..main_syms], MAX_CODE_LEN, &mut ml[..main_syms]);
    let mut ll = [0u8; NUM_LEN_SYMS];
    build_lengths(&lf, MAX_CODE_LEN, &mut ll);
    let mut al = [0u8; NUM_ALIGNED_SYMS];
    build_lengths(&af, MAX_ALIGNED_LEN, &mut al);
    let aligned_cost: u64 = aligned_extra
        + af.iter()
            .zip(&al)
            .map(|(&f, &l)| u64::from(f) * u64::from(l))
            .sum::<u64>()
        + 24;
    let use_aligned = af.iter().any(|&f| f != 0) && aligned_cost < verbatim_extra;
    let mut mc = [0u16; MAX_MAIN_SYMS];
    canonical_codes(&ml[..main_syms], &mut mc[..main_syms]);
    let mut lc = [0u16; NUM_LEN_SYMS];
    canonical_codes(&ll, &mut lc);
    let mut ac = [0u16; NUM_ALIGNED_SYMS];
    canonical_codes(&al, &mut ac);

    let mut w = BitWriter::new(out);
    w.put(
        if use_aligned {
            BLOCK_ALIGNED
        } else {
            BLOCK_VERBATIM
        },
        3,
    );
    if n == DEFAULT_BLOCK_SIZE {
        w.put(1, 1);
    } else {
        w.put(0, 1);
        w.put(n as u32, 16);
    }
    if use_aligned {
        for &l in &al {
            w.put(u32::from(l), 3);
        }
    }
    let zeros = [0u8; MAX_MAIN_SYMS];
    write_lens(&mut w, &ml[..NUM_CHARS], &zeros[..NUM_CHARS]);
    write_lens(
        &mut w,
        &ml[NUM_CHARS..main_syms],
        &zeros[NUM_CHARS..main_syms],
    );
    write_lens(&mut w, &ll, &zeros[..NUM_LEN_SYMS]);
    for it in items {
        let s = main_sym(it);
        w.put(u32::from(mc[s]), u32::from(ml[s]));
        if it.len == 0 {
            continue;
        }
        let l = it.len as usize - MIN_MATCH;
        if l >= 7 {
            w.put(u32::from(lc[l - 7]), u32::from(ll[l - 7]));
        }
        if it.code >= 3 {
            let slot = slot_of(it.code);
            let e = extra_bits(slot);
            let foot = it.code - SLOT_BASE[slot];
            if use_aligned && e >= 3 {
                w.put(foot >> 3, e - 3);
                let a = (foot & 7) as usize;
                w.put(u32::from(ac[a]), u32::from(al[a]));
            } else {
                w.put(foot, e);
            }
        }
    }
    w.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::lzx::decompress;

    fn roundtrip(data: &[u8]) {
        for optimal in [false, true] {
            let mut enc = LzxEncoder::new();
            enc.set_optimal(optimal);
            let mut out = Vec::new();
            if enc.compress(data, &mut out) {
                assert!(out.len() < data.len());
                let mut back = vec![0u8; data.len()];
                decompress(&out, &mut back).unwrap();
                assert!(
                    back == data,
                    "round trip of {} bytes (optimal {optimal})",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn offset_cost_matches_the_slot_tables() {
        for code in 3..(MAX_OFFSET as u32 + 3) {
            assert_eq!(
                offset_cost(code),
                9 + extra_bits(slot_of(code)) as i32,
                "code {code}"
            );
        }
    }

    #[test]
    fn round_trips_simple_inputs() {
        roundtrip(&[0u8; 32768]);
        roundtrip(&[7u8; 100]);
        let text: Vec<u8> = b"abcabcabd hello hello world E8\xE8\x10\x00\x00\x00 "
            .iter()
            .cycle()
            .take(30000)
            .copied()
            .collect();
        roundtrip(&text);
        let mut out = Vec::new();
        assert!(LzxEncoder::new().compress(&[0u8; 32768], &mut out));
        assert!(out.len() < 100, "zeros compress to {}", out.len());
    }

    #[test]
    fn random_round_trips() {
        let mut s: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..60 {
            let n = (next() % 32768) as usize + 1;
            let alphabet = (next() % 255) as u8 + 1;
            let mut v = Vec::with_capacity(n);
            while v.len() < n {
                if v.len() > 10 && next() % 3 == 0 {
                    let off = (next() as usize % v.len()) + 1;
                    let len = (next() as usize % 300).min(n - v.len());
                    for _ in 0..len {
                        v.push(v[v.len() - off]);
                    }
                } else {
                    let r = next();
                    v.push(if r % 11 == 0 {
                        0xE8
                    } else {
                        (r >> 8) as u8 % alphabet
                    });
                }
            }
            roundtrip(&v);
        }
    }
}
