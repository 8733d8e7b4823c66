//! The parser: hash chains over the virtual buffer (reference, then target), a greedy parse with
//! one step of lazy evaluation, and a choice of address for every copy (recent distance, the
//! reference at the same position, a reference displacement, or a plain back distance) by an
//! estimate of its cost in bits.
//!
//! Work per target position is bounded (`max_chain` candidates, matches longer than `nice_len`
//! end the search), so time is linear in reference + target; memory is one `u32` per byte of
//! both plus a fixed hash table.

use super::tokens::{back_slot, push_recent, source_field, Addr, Token};

const HASH_BITS: u32 = 17;
const NIL: u32 = u32::MAX;
/// Shortest non-recent copy.
const MIN_MATCH: usize = 3;
/// Longest copy a token carries (the long-length field holds up to 2^32 − 1).
const MAX_MATCH: usize = 1 << 30;
/// Estimated cost of a literal in bits, to weigh copies against literals.
const LIT_BITS: i64 = 6;

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
}

#[inline]
fn hash3(b: &[u8], p: usize) -> usize {
    let v = u32::from(b[p]) | u32::from(b[p + 1]) << 8 | u32::from(b[p + 2]) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
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
            let h = hash3(self.buf, p);
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
            let o = (p - self.ref_len) as i64;
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
        // The reference at the same offset: what an in-place edit of the reference leaves.
        let o = p - self.ref_len;
        if o < self.ref_len {
            let len = common(self.buf, o, p, max);
            if len >= MIN_MATCH {
                self.consider(p, (p - o) as u64, len, &mut best);
            }
        }
        if best.len >= self.effort.nice_len || max < MIN_MATCH {
            return best;
        }
        let mut cand = self.head[hash3(self.buf, p)];
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
pub(crate) fn parse(reference: &[u8], target: &[u8], effort: Effort, mut emit: impl FnMut(Token)) {
    let mut buf = Vec::with_capacity(reference.len() + target.len());
    buf.extend_from_slice(reference);
    buf.extend_from_slice(target);
    let mut m = Matcher {
        buf: &buf,
        ref_len: reference.len(),
        head: vec![NIL; 1 << HASH_BITS],
        prev: vec![NIL; buf.len()],
        recent: [0; 3],
        effort,
    };
    for p in 0..reference.len() {
        m.insert(p);
    }
    let end = buf.len();
    let mut p = reference.len();
    let mut pending: Option<Cand> = None;
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
            emit(Token::Literal(buf[p]));
            p += 1;
            continue;
        }
        let mut inserted = p + 1;
        if cur.len < effort.nice_len && p + 1 < end {
            let next = m.find(p + 1);
            m.insert(p + 1);
            inserted = p + 2;
            if next.gain > cur.gain + LIT_BITS {
                emit(Token::Literal(buf[p]));
                p += 1;
                pending = Some(next);
                continue;
            }
        }
        emit(Token::Copy {
            len: cur.len as u32,
            addr: cur.addr,
        });
        push_recent(&mut m.recent, cur.dist);
        for q in inserted..p + cur.len {
            m.insert(q);
        }
        p += cur.len;
    }
}
