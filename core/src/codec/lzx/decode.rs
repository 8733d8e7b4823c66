//! WIM LZX chunk decoder.

use super::bits::BitReader;
use super::e8;
use super::tables::*;
use crate::codec::huffman::DecodeTable;
use crate::{Error, Result};

const MAIN_TABLE_BITS: u32 = 11;
const LEN_TABLE_BITS: u32 = 9;
const ALIGNED_TABLE_BITS: u32 = 7;
const PRE_TABLE_BITS: u32 = 6;

fn err(reason: impl Into<String>) -> Error {
    Error::codec("LZX", reason.into())
}

/// Reusable decode state (tables and code lengths) so repeated chunks do not reallocate.
#[derive(Default)]
pub struct LzxDecoder {
    main: DecodeTable,
    len: DecodeTable,
    aligned: DecodeTable,
    pre: DecodeTable,
    main_lens: Vec<u8>,
    len_lens: Vec<u8>,
}

impl LzxDecoder {
    /// A decoder with empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read `lens.len()` code lengths delta-coded against `lens` through a freshly read pretree.
    fn read_lens(
        &mut self,
        br: &mut BitReader,
        which: Which,
        start: usize,
        end: usize,
    ) -> Result<()> {
        let mut pre_lens = [0u8; NUM_PRE_SYMS];
        for l in pre_lens.iter_mut() {
            *l = br.read(4) as u8;
        }
        self.pre
            .build(&pre_lens, PRE_TABLE_BITS, MAX_PRE_LEN)
            .map_err(|e| err(format!("pretree: {e}")))?;
        let lens = match which {
            Which::Main => &mut self.main_lens,
            Which::Len => &mut self.len_lens,
        };
        let mut i = start;
        while i < end {
            br.refill();
            let (sym, n) = self
                .pre
                .decode(br.peek16())
                .ok_or_else(|| err("empty pretree used"))?;
            br.consume(n);
            let (run, value) = match sym {
                0..=16 => (1, None),
                17 => (4 + br.bits(4) as usize, Some(0u8)),
                18 => (20 + br.bits(5) as usize, Some(0u8)),
                _ => {
                    let run = 4 + br.bits(1) as usize;
                    let (s2, n2) = self
                        .pre
                        .decode(br.peek16())
                        .ok_or_else(|| err("empty pretree used"))?;
                    br.consume(n2);
                    if s2 > 16 {
                        return Err(err("pretree run symbol after run code"));
                    }
                    // Same-length run: one value, delta-coded against the first element's old length.
                    if i + run > end {
                        return Err(err("code length run past the end of the code"));
                    }
                    let v = ((u32::from(lens[i]) + 17 - s2) % 17) as u8;
                    lens[i..i + run].fill(v);
                    i += run;
                    continue;
                }
            };
            if i + run > end {
                return Err(err("code length run past the end of the code"));
            }
            match value {
                Some(v) => {
                    lens[i..i + run].fill(v);
                    i += run;
                }
                None => {
                    lens[i] = ((u32::from(lens[i]) + 17 - sym) % 17) as u8;
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Decode one chunk to exactly `output.len()` bytes, with the window (alphabet) sized for the
    /// chunk itself — right for every chunk of a 32 KiB-chunk WIM and for full-size chunks.
    pub fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<()> {
        self.decompress_window(input, output, output.len())
    }

    /// Decode one chunk of a resource whose chunk size is `chunk_size`: the LZX window, and so the
    /// main alphabet and block-size field, follow the resource's chunk size, which matters for the
    /// short last chunk of WIMs written with chunks larger than 32 KiB.
    pub fn decompress_window(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        chunk_size: usize,
    ) -> Result<()> {
        let size = output.len();
        if size == 0 {
            return Ok(());
        }
        let window = chunk_size.max(size);
        if window > 1 << 21 {
            return Err(err(format!(
                "chunk size {window} exceeds the 2 MiB LZX window"
            )));
        }
        let order = window_order(window);
        let slots = num_slots(order);
        let main_syms = NUM_CHARS + NUM_LEN_HEADERS * slots;
        self.main_lens.clear();
        self.main_lens.resize(main_syms, 0);
        self.len_lens.clear();
        self.len_lens.resize(NUM_LEN_SYMS, 0);
        let mut reps = [1u32; 3];
        let mut br = BitReader::new(input);
        let mut out = 0usize;
        while out < size {
            br.refill();
            let btype = br.bits(3);
            let bsize = if br.bits(1) == 1 {
                DEFAULT_BLOCK_SIZE
            } else {
                let mut s = br.bits(16) as usize;
                if order >= 16 {
                    s = (s << 8) | br.bits(8) as usize;
                }
                s
            };
            if bsize == 0 || bsize > size - out {
                return Err(err(format!(
                    "block size {bsize} at output {out} does not fit the {size}-byte chunk"
                )));
            }
            let end = out + bsize;
            match btype {
                BLOCK_VERBATIM | BLOCK_ALIGNED => {
                    let mut aligned_lens = [0u8; NUM_ALIGNED_SYMS];
                    if btype == BLOCK_ALIGNED {
                        for l in aligned_lens.iter_mut() {
                            *l = br.read(3) as u8;
                        }
                        self.aligned
                            .build(&aligned_lens, ALIGNED_TABLE_BITS, MAX_ALIGNED_LEN)
                            .map_err(|e| err(format!("aligned code: {e}")))?;
                    }
                    self.read_lens(&mut br, Which::Main, 0, NUM_CHARS)?;
                    self.read_lens(&mut br, Which::Main, NUM_CHARS, main_syms)?;
                    self.read_lens(&mut br, Which::Len, 0, NUM_LEN_SYMS)?;
                    self.main
                        .build(&self.main_lens, MAIN_TABLE_BITS, MAX_CODE_LEN)
                        .map_err(|e| err(format!("main code: {e}")))?;
                    self.len
                        .build(&self.len_lens, LEN_TABLE_BITS, MAX_CODE_LEN)
                        .map_err(|e| err(format!("length code: {e}")))?;
                    if br.overrun() {
                        return Err(err("stream ends inside a block header"));
                    }
                    out = self.decode_block(
                        &mut br,
                        output,
                        out,
                        end,
                        btype == BLOCK_ALIGNED,
                        &mut reps,
                    )?;
                }
                BLOCK_UNCOMPRESSED => {
                    let pos = br
                        .align_for_raw()
                        .ok_or_else(|| err("stream ends inside an uncompressed block header"))?;
                    let hdr = input
                        .get(pos..pos + 12)
                        .ok_or_else(|| err("uncompressed block header truncated"))?;
                    for (k, r) in reps.iter_mut().enumerate() {
                        *r = u32::from_le_bytes([
                            hdr[4 * k],
                            hdr[4 * k + 1],
                            hdr[4 * k + 2],
                            hdr[4 * k + 3],
                        ]);
                    }
                    let data = input
                        .get(pos + 12..pos + 12 + bsize)
                        .ok_or_else(|| err("uncompressed block data truncated"))?;
                    output[out..end].copy_from_slice(data);
                    out = end;
                    let mut next = pos + 12 + bsize;
                    if bsize % 2 == 1 {
                        next += 1;
                    }
                    br.restart_at(next.min(input.len()));
                }
                t => return Err(err(format!("invalid block type {t} at output {out}"))),
            }
        }
        if br.overrun() {
            return Err(err("stream ends before the chunk is complete"));
        }
        e8::undo(output);
        Ok(())
    }

    #[inline(always)]
    fn decode_block(
        &self,
        br: &mut BitReader,
        output: &mut [u8],
        mut out: usize,
        end: usize,
        aligned: bool,
        reps: &mut [u32; 3],
    ) -> Result<usize> {
        let main = &self.main;
        let lent = &self.len;
        let at = &self.aligned;
        while out < end {
            br.refill();
            let (sym, n) = main
                .decode(br.peek16())
                .ok_or_else(|| err("empty main code"))?;
            br.consume(n);
            if sym < NUM_CHARS as u32 {
                output[out] = sym as u8;
                out += 1;
                continue;
            }
            let s = sym - NUM_CHARS as u32;
            let mut length = (s & 7) as usize;
            let slot = (s >> 3) as usize;
            if length == 7 {
                let (l, n) = lent
                    .decode(br.peek16())
                    .ok_or_else(|| err("empty length code used"))?;
                br.consume(n);
                length += l as usize;
            }
            length += MIN_MATCH;
            let offset = match slot {
                0 => reps[0],
                1 => {
                    reps.swap(0, 1);
                    reps[0]
                }
                2 => {
                    reps.swap(0, 2);
                    reps[0]
                }
                _ => {
                    let extra = extra_bits(slot);
                    br.refill();
                    let f = if aligned && extra >= 3 {
                        let hi = br.bits(extra - 3) << 3;
                        let (a, n) = at
                            .decode(br.peek16())
                            .ok_or_else(|| err("empty aligned code used"))?;
                        br.consume(n);
                        hi | a
                    } else {
                        br.bits(extra)
                    };
                    let off = SLOT_BASE[slot] + f - 2;
                    reps[2] = reps[1];
                    reps[1] = reps[0];
                    reps[0] = off;
                    off
                }
            } as usize;
            if offset == 0 || offset > out {
                return Err(err(format!(
                    "match offset {offset} at output {out} reaches before the chunk"
                )));
            }
            if length > end - out {
                return Err(err(format!(
                    "match of {length} at output {out} runs past the block end"
                )));
            }
            copy_match(output, out, offset, length);
            out += length;
        }
        Ok(out)
    }
}

/// Copy `length` bytes from `offset` back to `out` (offset ≤ out, out + length ≤ len). Most
/// matches are short, and for those eight bytes at a time beat a `memmove` call; the copy may
/// write up to seven bytes past the match, which later output overwrites.
#[inline(always)]
fn copy_match(output: &mut [u8], out: usize, offset: usize, length: usize) {
    let src = out - offset;
    if length <= 32 && offset >= 8 && out + length + 8 <= output.len() {
        let mut k = 0;
        while k < length {
            let mut w = [0u8; 8];
            w.copy_from_slice(&output[src + k..src + k + 8]);
            output[out + k..out + k + 8].copy_from_slice(&w);
            k += 8;
        }
    } else if offset >= length {
        output.copy_within(src..src + length, out);
    } else {
        for k in 0..length {
            output[out + k] = output[src + k];
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Main,
    Len,
}

/// Decode one chunk of a resource with `chunk_size`-byte chunks (see
/// [`LzxDecoder::decompress_window`]).
pub fn decompress_window(input: &[u8], output: &mut [u8], chunk_size: usize) -> Result<()> {
    LzxDecoder::new().decompress_window(input, output, chunk_size)
}

/// Decode one WIM LZX chunk into `output` (its exact uncompressed size).
pub fn decompress(input: &[u8], output: &mut [u8]) -> Result<()> {
    LzxDecoder::new().decompress(input, output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics_and_empty_input_fails() {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut dec = LzxDecoder::new();
        let mut out = vec![0u8; 32768];
        for round in 0..400 {
            let n = (round * 37) % 3000;
            let input: Vec<u8> = (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    s as u8
                })
                .collect();
            let size = 1 + (round * 997) % 32768;
            let _ = dec.decompress(&input, &mut out[..size]);
        }
        assert!(dec.decompress(&[], &mut out[..100]).is_err());
        assert!(dec
            .decompress_window(&[0; 10], &mut out[..100], 4 << 20)
            .is_err());
    }
}
