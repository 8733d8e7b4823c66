//! XPRESS-Huffman chunk decoder ([MS-XCA] §2.2, "LZ77+Huffman Decompression").
//!
//! The bit reader follows the specification's refill rule exactly: it starts with 32 bits loaded
//! and loads the next 16-bit word as soon as fewer than 16 unread bits remain. The rule matters
//! because the extra match-length bytes are taken from the byte position *after* the words
//! already loaded, so a lazier reader would take them from the wrong place.

use super::decode_table::DecodeTable;
use super::{BLOCK_SIZE, MIN_MATCH_LEN, NUM_SYMBOLS, PRIMARY_TABLE_BITS, TABLE_BYTES};
use crate::{Error, Result};

fn err(reason: impl std::fmt::Display) -> Error {
    Error::codec("XPRESS", reason)
}

/// MSB-first reader of 16-bit little-endian words with the [MS-XCA] eager refill.
struct BitReader<'a> {
    input: &'a [u8],
    /// Next byte to load (words and extra length bytes share it).
    pos: usize,
    /// Unread bits, right-aligned.
    bits: u64,
    /// Number of unread bits in `bits` (16..=32 between operations).
    count: u32,
    /// How many of the unread bits are zero padding past the end of the input.
    padding: u32,
}

impl<'a> BitReader<'a> {
    fn new(input: &'a [u8], pos: usize) -> Self {
        let mut r = BitReader {
            input,
            pos,
            bits: 0,
            count: 0,
            padding: 0,
        };
        r.load_word();
        r.load_word();
        r
    }

    #[inline(always)]
    fn load_word(&mut self) {
        let w = match self.input.get(self.pos..self.pos + 2) {
            Some(b) => {
                self.pos += 2;
                u64::from(u16::from_le_bytes([b[0], b[1]]))
            }
            None => {
                // Past the end: the specification would read beyond the buffer here. Supply
                // zeros but remember them, so consuming them is reported as truncation.
                self.padding += 16;
                0
            }
        };
        self.bits = (self.bits << 16) | w;
        self.count += 16;
    }

    #[inline(always)]
    fn peek15(&self) -> u32 {
        ((self.bits >> (self.count - 15)) & 0x7FFF) as u32
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) -> Result<()> {
        self.count -= n;
        if self.count < self.padding {
            return Err(err("bitstream runs past the end of the chunk"));
        }
        self.bits &= (1u64 << self.count) - 1;
        if self.count < 16 {
            self.load_word();
        }
        Ok(())
    }

    /// `n` (0..=15) raw bits.
    #[inline(always)]
    fn read(&mut self, n: u32) -> Result<u32> {
        let v = ((self.bits >> (self.count - n)) & ((1u64 << n) - 1)) as u32;
        self.consume(n)?;
        Ok(v)
    }

    fn byte(&mut self) -> Result<u32> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or_else(|| err("match length byte past the end of the chunk"))?;
        self.pos += 1;
        Ok(u32::from(b))
    }

    fn u16(&mut self) -> Result<u32> {
        let b = self
            .input
            .get(self.pos..self.pos + 2)
            .ok_or_else(|| err("match length word past the end of the chunk"))?;
        self.pos += 2;
        Ok(u32::from(u16::from_le_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| err("match length dword past the end of the chunk"))?;
        self.pos += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decode one XPRESS-Huffman chunk into `output`, which must be exactly the uncompressed size
/// (at most 64 KiB: WIM chunks never exceed it, and wimlib refuses larger XPRESS chunks, so the
/// multi-table form of longer [MS-XCA] streams is rejected rather than guessed at).
pub fn decompress(input: &[u8], output: &mut [u8]) -> Result<()> {
    XpressDecoder::new().decompress(input, output)
}

/// A chunk decoder that keeps its Huffman table between chunks (no allocation per chunk).
pub struct XpressDecoder {
    table: DecodeTable,
}

impl Default for XpressDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl XpressDecoder {
    /// A decoder with an empty table.
    pub fn new() -> Self {
        XpressDecoder {
            table: DecodeTable::new(PRIMARY_TABLE_BITS),
        }
    }

    /// Decode one chunk, as [`decompress`].
    pub fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<()> {
        decompress_with(&mut self.table, input, output)
    }
}

fn decompress_with(table: &mut DecodeTable, input: &[u8], output: &mut [u8]) -> Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    if output.len() > BLOCK_SIZE {
        return Err(err(format!(
            "chunk of {} bytes: XPRESS chunks above 64 KiB are not supported",
            output.len()
        )));
    }
    let header = input.get(..TABLE_BYTES).ok_or_else(|| {
        err(format!(
            "chunk of {} bytes too short for the 256-byte Huffman table",
            input.len()
        ))
    })?;
    let mut lens = [0u8; NUM_SYMBOLS];
    for (i, &b) in header.iter().enumerate() {
        lens[2 * i] = b & 0xF;
        lens[2 * i + 1] = b >> 4;
    }
    table.build(&lens).map_err(err)?;
    let mut r = BitReader::new(input, TABLE_BYTES);
    decode_block(table, &mut r, output, 0, output.len())?;
    Ok(())
}

/// Decode symbols until `block_end`; matches may run past it (up to the end of `output`).
fn decode_block(
    table: &DecodeTable,
    r: &mut BitReader<'_>,
    output: &mut [u8],
    mut out_pos: usize,
    block_end: usize,
) -> Result<usize> {
    while out_pos < block_end {
        let (sym, len) = table
            .lookup(r.peek15())
            .ok_or_else(|| err(format!("invalid Huffman codeword at output {out_pos}")))?;
        r.consume(len)?;
        if sym < 256 {
            output[out_pos] = sym as u8;
            out_pos += 1;
            continue;
        }
        let sym = sym - 256;
        let mut length = sym & 0xF;
        let log2_offset = sym >> 4;
        if length == 15 {
            length += r.byte()?;
            if length == 15 + 255 {
                length = r.u16()?;
                if length == 0 {
                    length = r.u32()?;
                }
                // The explicit value already excludes only the minimum length 3.
                if length < 15 {
                    return Err(err(format!("explicit match length {length} below 15")));
                }
            }
        }
        let length = (length as usize).saturating_add(MIN_MATCH_LEN);
        let offset = ((1u32 << log2_offset) | r.read(log2_offset)?) as usize;
        if offset > out_pos {
            return Err(err(format!(
                "match offset {offset} before the start of the chunk at output {out_pos}"
            )));
        }
        if length > output.len() - out_pos {
            return Err(err(format!(
                "match of {length} bytes runs past the chunk end at output {out_pos}"
            )));
        }
        copy_match(output, out_pos, offset, length);
        out_pos += length;
    }
    Ok(out_pos)
}

/// LZ77 copy of `length` bytes from `offset` back; overlapping copies repeat the pattern.
#[inline(always)]
pub(crate) fn copy_match(buf: &mut [u8], dst: usize, offset: usize, length: usize) {
    let src = dst - offset;
    if length <= 16 && dst + 16 <= buf.len() && offset >= 8 {
        // Short match with room behind it: copy a fixed 16 bytes (the excess is overwritten by
        // the output that follows), in 8-byte pieces whose source is always already written.
        if offset >= 16 {
            buf.copy_within(src..src + 16, dst);
        } else {
            buf.copy_within(src..src + 8, dst);
            buf.copy_within(src + 8..src + 16, dst + 8);
        }
    } else if length <= 16 {
        // Short matches dominate; a byte loop beats a memmove call and handles overlap.
        for i in 0..length {
            buf[dst + i] = buf[src + i];
        }
    } else if offset >= length {
        buf.copy_within(src..src + length, dst);
    } else if offset == 1 {
        let b = buf[src];
        buf[dst..dst + length].fill(b);
    } else {
        // Copy in growing pieces: each piece can be as long as the data already repeated.
        let mut done = 0;
        while done < length {
            let n = (length - done).min(offset + done);
            buf.copy_within(src..src + n, dst + done);
            done += n;
        }
    }
}
