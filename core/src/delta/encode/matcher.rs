//! The parser: hash chains over the virtual buffer (reference, then target), a greedy parse with
//! one step of lazy evaluation, and a choice of address for every copy (recent distance, the
//! reference at the same position, a reference displacement, or a plain back distance) by an
//! estimate of its cost in bits.
//!
//! Hash chains only see recent positions, so a long reference would hide the match an edited
//! target has at a shifted offset far back. A second, sparse index finds those: the hash of every
//! [`BLOCK`]-byte block of the reference at block-aligned offsets, looked up from every target
//! position; the match it finds is then extended backwards over the literals not yet emitted.
//!
//! Work per target position is bounded (`max_chain` candidates, one block lookup, matches longer
//! than `nice_len` end the search), so time is linear in reference + target; memory is one `u32`
//! per byte of both, the block index (one `u32` per block, at most 16 MiB) and a fixed hash table.

use super::tokens::{back_slot, push_recent, source_field, Addr, Token};
use crate::delta::plzx::predict;
use crate::delta::rift::Rift;

/// Largest head table: 2^24 entries index three bytes directly, so every chain entry is a true
/// 3-byte match and incompressible data has short chains.
const MAX_HASH_BITS: u32 = 24;
/// After this many positions without a copy, the search steps over positions faster (one more
/// per this many), so incompressible data costs little; copies found later still grow backwards.
const SKIP_AFTER: usize = 512;
const MAX_STEP: usize = 16;
const NIL: u32 = u32::MAX;
/// Shortest non-recent copy.
const MIN_MATCH: usize = 3;
/// Longest copy a token carries (the long-length field holds up to 2^32 − 1).
const MAX_MATCH: usize = 1 << 30;
/// Estimated cost of a literal in bits, to weigh copies against literals.
const LIT_BITS: i64 = 6;
/// Block size of the sparse reference index.
const BLOCK: usize = 32;
/// Largest block index (entries).
const MAX_BLOCK_SLOTS: usize = 1 << 22;

/// Effort settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Effort {
    pub max_chain: u32,
    pub nice_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Cand {
    len: usize,
    addr: Addr,
    dist: u64,
    gain: i64,
}

const NONE: Cand = Cand {
    len: 0,
    addr: Addr::FullSource,
    dist: 0,
    gain: 0,
};

struct Matcher<'a> {
    buf: &'a [u8],
    ref_len: usize,
    head: Vec<u32>,
    prev: Vec<u32>,
    recent: [u64; 3],
    effort: Effort,
    blocks: Vec<u32>,
    block_shift: u32,
    hash_bits: u32,
    /// The copy rift source addresses are predicted through (empty: the output position).
    rift: &'a [Rift],
}

#[inline]
fn block_hash(b: &[u8], p: usize, shift: u32) -> usize {
    let mut h = 0u64;
    for k in 0..BLOCK / 8 {
        let w = u64::from_le_bytes(b[p + 8 * k..p + 8 * k + 8].try_into().unwrap_or([0; 8]));
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    (h.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> shift) as usize
}

#[inline]
fn hash3(b: &[u8], p: usize, bits: u32) -> usize {
    let v = u32::from(b[p]) | u32::from(b[p + 1]) << 8 | u32::from(b[p + 2]) << 16;
    if bits >= 24 {
        v as usize
    } else {
        (v.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize
    }
}

/// Length of the common run at `a` and `b` (`a < b`), up to `max`.
#[inline]
fn common(buf: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut n = 0;
    while n + 8 <= max {
        let x = u64::from_le_bytes(buf[a + n..a + n + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(buf[b + n..b + n + 8].try_into().unwrap_or([0; 8]));
        let d = x ^ y;
        if d != 0 {
            return n + (d.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && buf[a + n] == buf[b + n] {
        n += 1;
    }
    n
}

fn len_bits(len: usize) -> i64 {
    match len {
        0..=8 => 0,
        9..=263 => 6,
        _ => 24,
    }
}

impl<'a> Matcher<'a> {
    fn insert(&mut self, p: usize) {
        if p + 3 <= self.buf.len() {
            let h = hash3(self.buf, p, self.hash_bits);
            self.prev[p] = self.head[h];
            self.head[h] = p as u32;
        }
    }

    /// Cheapest address for a copy from `dist` back at virtual position `p`, with its cost in
    /// bits (main symbol estimated at 6 bits, plus raw/aligned fields).
    fn address(&self, p: usize, dist: u64) -> (Addr, i64) {
        if let Some(i) = self.recent.iter().position(|&r| r == dist) {
            return (Addr::Recent(i as u8), 6);
        }
        let mut best = {
            let (_, extra) = back_slot(dist as u32);
            (Addr::Back(dist as u32), 6 + i64::from(extra))
        };
        let src = p as u64 - dist;
        if src < self.ref_len as u64 {
            // Source addresses are relative to where the copy rift predicts the output position
            // (the output position itself with an empty rift, as for RAW deltas).
            let o = predict(self.rift, (p - self.ref_len) as u64) as i64;
            let d = o - src as i64;
            if d == 0 {
                return (Addr::FullSource, 6);
            }
            if let Ok(d32) = i32::try_from(d) {
                if let Some((_, _, bits)) = source_field(d32) {
                    if 6 + i64::from(bits) < best.1 {
                        best = (Addr::Source(d32), 6 + i64::from(bits));
                    }
                }
            }
        }
        best
    }

    fn consider(&self, p: usize, dist: u64, len: usize, best: &mut Cand) {
        let (addr, cost) = self.address(p, dist);
        let gain = len as i64 * LIT_BITS - cost - len_bits(len);
        if gain > best.gain {
            *best = Cand {
                len,
                addr,
                dist,
                gain,
            };
        }
    }

    /// Best copy at virtual position `p` (or `NONE`).
    fn find(&self, p: usize) -> Cand {
        let max = (self.buf.len() - p).min(MAX_MATCH);
        let mut best = NONE;
        if max < 2 {
            return best;
        }
        for &r in &self.recent {
            if r != 0 && r <= p as u64 {
                let len = common(self.buf, p - r as usize, p, max);
                if len >= 2 {
                    self.consider(p, r, len, &mut best);
                }
            }
        }
        // The reference at the same offset (or where the copy rift predicts it): what an
        // in-place edit of the reference leaves.
        let o = predict(self.rift, (p - self.ref_len) as u64);
        if let Some(o) = usize::try_from(o).ok().filter(|&o| o < self.ref_len) {
            let len = common(self.buf, o, p, max);
            if len >= MIN_MATCH {
                self.consider(p, (p - o) as u64, len, &mut best);
            }
        }
        if best.len < self.effort.nice_len && max >= BLOCK && !self.blocks.is_empty() {
            let c = self.blocks[block_hash(self.buf, p, self.block_shift)];
            if c != NIL {
                let len = common(self.buf, c as usize, p, max);
                if len >= MIN_MATCH {
                    self.consider(p, (p - c as usize) as u64, len, &mut best);
                }
            }
        }
        if best.len >= self.effort.nice_len || max < MIN_MATCH {
            return best;
        }
        let mut cand = self.head[hash3(self.buf, p, self.hash_bits)];
        let mut depth = self.effort.max_chain;
        while cand != NIL && depth > 0 {
            let c = cand as usize;
            depth -= 1;
            // Cheap reject: the byte that would extend the best match must agree.
            if best.len < max && self.buf[c + best.len] == self.buf[p + best.len] {
                let len = common(self.buf, c, p, max);
                if len >= MIN_MATCH {
                    self.consider(p, (p - c) as u64, len, &mut best);
                    if len >= self.effort.nice_len {
                        break;
                    }
                }
            }
            cand = self.prev[c];
        }
        best
    }
}

/// Parse `target` against `reference`, handing every token to `emit` in stream order.
/// `reference.len() + target.len()` must be below `u32::MAX`.
pub(crate) fn parse(
    reference: &[u8],
    target: &[u8],
    effort: Effort,
    rift: &[Rift],
    mut emit: impl FnMut(Token),
) {
    let mut buf = Vec::with_capacity(reference.len() + target.len());
    buf.extend_from_slice(reference);
    buf.extend_from_slice(target);
    let hash_bits = (usize::BITS - buf.len().leading_zeros()).clamp(12, MAX_HASH_BITS);
    let mut m = Matcher {
        buf: &buf,
        ref_len: reference.len(),
        head: vec![NIL; 1 << hash_bits],
        hash_bits,
        prev: vec![NIL; buf.len()],
        recent: [0; 3],
        effort,
        blocks: Vec::new(),
        block_shift: 64,
        rift,
    };
    for p in 0..reference.len() {
        m.insert(p);
    }
    let n_blocks = reference.len() / BLOCK;
    if n_blocks > 0 {
        let slots = (n_blocks * 2)
            .next_power_of_two()
            .clamp(1 << 10, MAX_BLOCK_SLOTS);
        m.block_shift = 64 - slots.trailing_zeros();
        m.blocks = vec![NIL; slots];
        for b in 0..n_blocks {
            let h = block_hash(&buf, b * BLOCK, m.block_shift);
            m.blocks[h] = (b * BLOCK) as u32;
        }
    }
    let end = buf.len();
    let mut p = reference.len();
    let mut pending: Option<Cand> = None;
    // Literals not yet emitted start here: a copy may still grow backwards over them.
    let mut lit_from = p;
    while p < end {
        let cur = match pending.take() {
            Some(c) => c,
            None => {
                let c = m.find(p);
                m.insert(p);
                c
            }
        };
        if cur.len == 0 {
            let step = (1 + (p - lit_from) / SKIP_AFTER).min(MAX_STEP);
            for q in p + 1..(p + step).min(end) {
                if step <= 2 {
                    m.insert(q);
                }
            }
            p = (p + step).min(end);
            continue;
        }
        let mut inserted = p + 1;
        if cur.len < effort.nice_len && p + 1 < end {
            let next = m.find(p + 1);
            m.insert(p + 1);
            inserted = p + 2;
            if next.gain > cur.gain + LIT_BITS {
                p += 1;
                pending = Some(next);
                continue;
            }
        }
        // Grow the copy backwards over held literals (same distance, so the address still holds).
        let dist = cur.dist as usize;
        let mut start = p;
        let mut len = cur.len;
        while start > lit_from
            && start - dist > 0
            && buf[start - 1] == buf[start - 1 - dist]
            && len < MAX_MATCH
        {
            start -= 1;
            len += 1;
        }
        for &b in &buf[lit_from..start] {
            emit(Token::Literal(b));
        }
        let addr = if start == p {
            cur.addr
        } else {
            m.address(start, cur.dist).0
        };
        emit(Token::Copy {
            len: len as u32,
            addr,
        });
        push_recent(&mut m.recent, cur.dist);
        for q in inserted..p + cur.len {
            m.insert(q);
        }
        p += cur.len;
        lit_from = p;
    }
    for &b in &buf[lit_from..end] {
        emit(Token::Literal(b));
    }
}
