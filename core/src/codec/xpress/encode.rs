//! XPRESS-Huffman chunk compressor: hash-chain match finder with one-step lazy matching, one
//! Huffman code per chunk, END symbol (256) always written (WIMGAPI requires it).
//!
//! The bit writer mirrors the decoder's refill rule ([MS-XCA] §2.2.4): two 16-bit word slots are
//! reserved ahead, a word is written only once a bit beyond it is produced, and extra
//! match-length bytes go to the next free byte after the reserved slots. That way the bytes are
//! exactly where a decoder that keeps 16..32 bits loaded will look for them.

use super::{BLOCK_SIZE, MIN_MATCH_LEN, NUM_SYMBOLS, TABLE_BYTES};
use crate::codec::huffman::{build_lengths, canonical_codes};

/// Hash table size (log2) for 3-byte prefixes.
const HASH_BITS: u32 = 15;
/// Candidates examined per position.
const MAX_CHAIN: usize = 24;
/// A match this long is taken without searching further.
const NICE_LEN: usize = 64;
/// Longest offset the format can express with 15 offset bits.
const MAX_OFFSET: usize = 65535;
/// Inputs shorter than this are not worth a 256-byte table.
const MIN_INPUT: usize = 64;
/// Symbol that ends the stream.
const END_SYMBOL: usize = 256;

/// One parsed item: a literal (`offset == 0`, byte in `len`) or a match.
#[derive(Clone, Copy)]
struct Item {
    len: u32,
    offset: u32,
}

/// Reusable XPRESS chunk compressor (keeps its match-finder tables between chunks).
#[derive(Default)]
pub struct XpressEncoder {
    head: Vec<i32>,
    prev: Vec<i32>,
    items: Vec<Item>,
}

impl XpressEncoder {
    /// New encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compress `input` (one WIM chunk, at most 64 KiB) into `out` (cleared first). Returns `true`
    /// only if the result is strictly smaller than `input`; otherwise the caller stores the chunk
    /// raw.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        if input.len() < MIN_INPUT || input.len() > BLOCK_SIZE {
            return false;
        }
        self.parse(input);
        let mut freqs = [0u32; NUM_SYMBOLS];
        for it in &self.items {
            freqs[symbol(*it)] += 1;
        }
        freqs[END_SYMBOL] += 1;
        let mut lens = [0u8; NUM_SYMBOLS];
        build_lengths(&freqs, 15, &mut lens);
        let mut codes = [0u16; NUM_SYMBOLS];
        canonical_codes(&lens, &mut codes);

        out.reserve(TABLE_BYTES + input.len());
        for pair in lens.chunks_exact(2) {
            out.push(pair[0] | (pair[1] << 4));
        }
        let mut w = BitWriter::new(out);
        for it in &self.items {
            let sym = symbol(*it);
            w.bits(u32::from(codes[sym]), u32::from(lens[sym]));
            if it.offset == 0 {
                continue;
            }
            let extra = it.len as usize - MIN_MATCH_LEN;
            if extra >= 15 {
                if extra - 15 < 255 {
                    w.byte((extra - 15) as u8);
                } else {
                    w.byte(255);
                    // Chunks are at most 64 KiB, so the length always fits in 16 bits.
                    w.u16(extra as u16);
                }
            }
            let log2 = 31 - it.offset.leading_zeros();
            w.bits(it.offset - (1 << log2), log2);
        }
        w.bits(u32::from(codes[END_SYMBOL]), u32::from(lens[END_SYMBOL]));
        w.finish();
        out.len() < input.len()
    }

    /// Greedy parse with one step of lazy evaluation into `self.items`.
    fn parse(&mut self, input: &[u8]) {
        let n = input.len();
        self.head.clear();
        self.head.resize(1 << HASH_BITS, -1);
        self.prev.clear();
        self.prev.resize(n, -1);
        self.items.clear();
        let mut inserted = 0usize;
        let mut p = 0usize;
        let mut pending: Option<(usize, usize)> = None; // best match found at p (len, offset)
        while p < n {
            let cur = match pending.take() {
                Some(m) => m,
                None => self.find(input, p, &mut inserted),
            };
            if cur.0 < MIN_MATCH_LEN {
                self.items.push(Item {
                    len: u32::from(input[p]),
                    offset: 0,
                });
                p += 1;
                continue;
            }
            if cur.0 < NICE_LEN && p + 1 < n {
                let next = self.find(input, p + 1, &mut inserted);
                if next.0 > cur.0 {
                    self.items.push(Item {
                        len: u32::from(input[p]),
                        offset: 0,
                    });
                    p += 1;
                    pending = Some(next);
                    continue;
                }
            }
            self.items.push(Item {
                len: cur.0 as u32,
                offset: cur.1 as u32,
            });
            p += cur.0;
        }
    }

    /// Longest match at `p` (inserting positions up to and including `p` into the chains).
    fn find(&mut self, input: &[u8], p: usize, inserted: &mut usize) -> (usize, usize) {
        let n = input.len();
        while *inserted <= p && *inserted + 3 <= n {
            let h = hash3(&input[*inserted..]);
            self.prev[*inserted] = self.head[h];
            self.head[h] = *inserted as i32;
            *inserted += 1;
        }
        if p + 3 > n {
            return (0, 0);
        }
        let max_len = n - p;
        let mut best = (0usize, 0usize);
        let mut cand = self.prev[p];
        let mut chain = 0;
        while cand >= 0 && chain < MAX_CHAIN {
            let c = cand as usize;
            let offset = p - c;
            if offset > MAX_OFFSET {
                break;
            }
            if input[c + best.0.min(max_len - 1)] == input[p + best.0.min(max_len - 1)] {
                let len = input[c..]
                    .iter()
                    .zip(&input[p..])
                    .take(max_len)
                    .take_while(|(a, b)| a == b)
                    .count();
                if len > best.0 {
                    best = (len, offset);
                    if len >= NICE_LEN || len == max_len {
                        break;
                    }
                }
            }
            cand = self.prev[c];
            chain += 1;
        }
        best
    }
}

#[inline]
fn hash3(b: &[u8]) -> usize {
    let v = u32::from(b[0]) | (u32::from(b[1]) << 8) | (u32::from(b[2]) << 16);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

fn symbol(it: Item) -> usize {
    if it.offset == 0 {
        return it.len as usize;
    }
    let len_hdr = (it.len as usize - MIN_MATCH_LEN).min(15);
    let log2 = 31 - it.offset.leading_zeros() as usize;
    256 + (log2 << 4) + len_hdr
}

/// Bit writer with two reserved word slots (see module docs).
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u32,
    count: u32,
    slot_a: usize,
    slot_b: usize,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        let slot_a = out.len();
        out.extend_from_slice(&[0; 4]);
        BitWriter {
            out,
            acc: 0,
            count: 0,
            slot_a,
            slot_b: slot_a + 2,
        }
    }

    fn put_word(&mut self, at: usize, w: u16) {
        self.out[at..at + 2].copy_from_slice(&w.to_le_bytes());
    }

    /// Append `n` (0..=16) bits, MSB first.
    fn bits(&mut self, v: u32, n: u32) {
        self.acc = (self.acc << n) | (v & ((1u32 << n) - 1));
        self.count += n;
        if self.count > 16 {
            self.count -= 16;
            let w = (self.acc >> self.count) as u16;
            self.put_word(self.slot_a, w);
            self.acc &= (1u32 << self.count) - 1;
            self.slot_a = self.slot_b;
            self.slot_b = self.out.len();
            self.out.extend_from_slice(&[0, 0]);
        }
    }

    fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// Write the partial word (zero-padded); the second reserved slot stays zero.
    fn finish(&mut self) {
        let w = (self.acc << (16 - self.count)) as u16;
        self.put_word(self.slot_a, w);
    }
}

#[cfg(test)]
mod tests {
    use super::super::decompress;
    use super::*;

    fn round_trip(data: &[u8]) -> bool {
        let mut enc = XpressEncoder::new();
        let mut out = Vec::new();
        let smaller = enc.compress(data, &mut out);
        if smaller {
            let mut back = vec![0u8; data.len()];
            decompress(&out, &mut back).unwrap();
            assert_eq!(back, data);
            assert!(out.len() >= TABLE_BYTES);
        }
        smaller
    }

    #[test]
    fn round_trips_through_our_decoder() {
        assert!(round_trip(&[0u8; 65536]));
        assert!(round_trip(&[7u8; 1000]));
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .cycle()
            .take(40_000)
            .copied()
            .collect();
        assert!(round_trip(&text));
        // Long matches needing the 1- and 3-byte length escapes, mixed with noise.
        let mut x = 1u32;
        let mut mixed = Vec::new();
        for i in 0..60_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            mixed.push(if (i / 300) % 3 == 0 {
                (x >> 24) as u8
            } else {
                (i % 251) as u8
            });
        }
        assert!(round_trip(&mixed));
        // Random data does not compress; too-small and too-large inputs are declined.
        let random: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        round_trip(&random);
        assert!(!round_trip(&[1, 2, 3]));
        assert!(!round_trip(&vec![0u8; BLOCK_SIZE + 1]));
    }
}
