//! LZMS chunk decoder (ESD solid resources, and non-solid LZMS WIMs).
//!
//! Written here because no crate decodes LZMS and Microsoft never published it; the format facts
//! come from the description in wimlib's `lzms_decompress.c` header (no code was taken from it).
//! A chunk is a sequence of 16-bit little-endian words read from both ends:
//!
//! * from the front, a binary range decoder ([`range`]) yields item-type decisions: literal vs
//!   match, LZ vs delta match, explicit vs repeat offset and which repeat slot;
//! * from the back, adaptive Huffman codes ([`huffman`]) yield literals, offset slots, length
//!   slots and delta powers, each slot followed by verbatim extra bits ([`slots`]).
//!
//! LZ matches copy `length` bytes from `offset` back. Delta matches with power `p` (span
//! `2^p`) and raw offset `r` (offset `r << p`) produce `out[i] = out[i-offset] + out[i-span] -
//! out[i-offset-span]`. Both kinds keep a queue of recent offsets (pairs for delta), where the
//! offset used by a match only enters the queue at the *next* match of that kind — at its start
//! if any item came in between, after its own offset was decoded otherwise. Finally an x86 filter
//! ([`x86`]) undoes the encoder's address translation.
//!
//! Memory: the decoder writes straight into the caller's output buffer (chunks are up to 64 MiB
//! in ESDs); its own state is about 300 KiB and is reused between chunks.

mod huffman;
mod range;
mod slots;
mod x86;

use crate::codec::xpress::copy_match;
use crate::{Error, Result};
use huffman::{AdaptiveCode, BackwardBits};
use range::{Decision, RangeDecoder};
use slots::{
    LENGTH_BASE, LENGTH_EXTRA_BITS, NUM_LENGTH_SLOTS, NUM_OFFSET_SLOTS, OFFSET_BASE,
    OFFSET_EXTRA_BITS,
};

fn err(reason: impl std::fmt::Display) -> Error {
    Error::codec("LZMS", reason)
}

/// Largest output LZMS can address (its maximum offset + 1).
const MAX_OUTPUT: usize = 1_180_427_429;

/// Words the range decoder may read past the end of its data, and that the two streams may
/// overlap, in a well-formed chunk (the range decoder reads ahead a little).
const READ_AHEAD_SLACK: usize = 8;

/// Repeat-offset queue: three addressable entries plus one overflow slot, and the offset of the
/// latest match waiting to be inserted.
struct RecentQueue<T: Copy + Default + PartialEq> {
    entries: [T; 4],
    pending: Option<T>,
    /// Output position right after the match that set `pending`.
    pending_end: usize,
}

impl<T: Copy + Default + PartialEq> RecentQueue<T> {
    fn new(initial: [T; 4]) -> Self {
        RecentQueue {
            entries: initial,
            pending: None,
            pending_end: 0,
        }
    }

    fn push_front(&mut self, v: T) {
        self.entries.copy_within(0..3, 1);
        self.entries[0] = v;
    }

    /// At the start of a match: an older pending offset enters the queue now.
    #[inline(always)]
    fn begin(&mut self, out_pos: usize) {
        if out_pos != self.pending_end {
            if let Some(p) = self.pending.take() {
                self.push_front(p);
            }
        }
    }

    /// Take repeat entry `idx` (0..3) out of the queue.
    #[inline(always)]
    fn take(&mut self, idx: usize) -> T {
        let v = self.entries[idx];
        self.entries.copy_within(idx + 1..4, idx);
        v
    }

    /// After the offset of a match is known: it becomes the pending offset.
    #[inline(always)]
    fn finish(&mut self, v: T, end: usize) {
        if let Some(p) = self.pending.take() {
            self.push_front(p);
        }
        self.pending = Some(v);
        self.pending_end = end;
    }
}

/// All adaptive state of one chunk.
struct Models {
    main: Decision<16>,
    is_delta: Decision<32>,
    lz_rep: Decision<64>,
    lz_rep_idx: [Decision<64>; 2],
    delta_rep: Decision<64>,
    delta_rep_idx: [Decision<64>; 2],
    literal: AdaptiveCode,
    lz_offset: AdaptiveCode,
    length: AdaptiveCode,
    delta_offset: AdaptiveCode,
    delta_power: AdaptiveCode,
}

impl Models {
    fn new() -> Self {
        Models {
            main: Decision::new(),
            is_delta: Decision::new(),
            lz_rep: Decision::new(),
            lz_rep_idx: [Decision::new(), Decision::new()],
            delta_rep: Decision::new(),
            delta_rep_idx: [Decision::new(), Decision::new()],
            literal: AdaptiveCode::new(256, 1024, 10),
            lz_offset: AdaptiveCode::new(NUM_OFFSET_SLOTS, 1024, 10),
            length: AdaptiveCode::new(NUM_LENGTH_SLOTS, 512, 10),
            delta_offset: AdaptiveCode::new(NUM_OFFSET_SLOTS, 1024, 10),
            delta_power: AdaptiveCode::new(8, 512, 8),
        }
    }

    fn reset(&mut self, out_len: usize) -> Result<()> {
        self.main.reset();
        self.is_delta.reset();
        self.lz_rep.reset();
        self.lz_rep_idx.iter_mut().for_each(Decision::reset);
        self.delta_rep.reset();
        self.delta_rep_idx.iter_mut().for_each(Decision::reset);
        let offset_slots = slots::num_offset_slots(out_len);
        self.literal.reset(256)?;
        self.lz_offset.reset(offset_slots)?;
        self.length.reset(NUM_LENGTH_SLOTS)?;
        self.delta_offset.reset(offset_slots)?;
        self.delta_power.reset(8)
    }
}

/// Reusable LZMS decoder: keeps its models, tables and filter scratch between chunks.
pub struct LzmsDecoder {
    models: Box<Models>,
    x86_history: x86::TargetHistory,
}

impl LzmsDecoder {
    /// New decoder.
    pub fn new() -> Self {
        LzmsDecoder {
            models: Box::new(Models::new()),
            x86_history: x86::TargetHistory::new(),
        }
    }

    /// Decode one LZMS chunk into `output` (its exact size).
    pub fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<()> {
        if output.is_empty() {
            return Ok(());
        }
        if output.len() > MAX_OUTPUT {
            return Err(err(format!(
                "chunk of {} bytes exceeds the LZMS maximum",
                output.len()
            )));
        }
        if input.len() < 4 || input.len() % 2 != 0 {
            return Err(err(format!(
                "compressed chunk of {} bytes (needs an even size of at least 4)",
                input.len()
            )));
        }
        self.models.reset(output.len())?;
        let mut rd = RangeDecoder::new(input);
        let mut bits = BackwardBits::new(input);
        decode_items(&mut self.models, &mut rd, &mut bits, output)?;

        // The two streams must fit in the chunk: the forward one may only read a few words past
        // its data (zeros beyond the end), and they must not overlap by more than that.
        if bits.overrun_consumed() > 0 {
            return Err(err("Huffman bitstream runs past the start of the chunk"));
        }
        if rd.overrun_words > READ_AHEAD_SLACK
            || rd.consumed_bytes() + bits.consumed_bytes() > input.len() + 2 * READ_AHEAD_SLACK + 8
        {
            return Err(err(
                "range-coded and Huffman streams overlap: chunk truncated",
            ));
        }
        x86::undo(output, &mut self.x86_history);
        Ok(())
    }
}

impl Default for LzmsDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Which repeat entry (0..3) the next two decisions select.
#[inline(always)]
fn rep_index(rd: &mut RangeDecoder<'_>, d: &mut [Decision<64>; 2]) -> usize {
    if d[0].decode(rd) == 0 {
        0
    } else if d[1].decode(rd) == 0 {
        1
    } else {
        2
    }
}

#[inline(always)]
fn read_offset(code: &mut AdaptiveCode, bits: &mut BackwardBits<'_>) -> Result<u64> {
    let slot = code.decode(bits)?;
    Ok(u64::from(OFFSET_BASE[slot]) + u64::from(bits.read(u32::from(OFFSET_EXTRA_BITS[slot]))))
}

fn decode_items(
    m: &mut Models,
    rd: &mut RangeDecoder<'_>,
    bits: &mut BackwardBits<'_>,
    out: &mut [u8],
) -> Result<()> {
    let mut lz = RecentQueue::<u32>::new([1, 2, 3, 4]);
    // Delta pairs as (power << 32 | raw offset).
    let mut delta = RecentQueue::<u64>::new([1, 2, 3, 4]);
    let n = out.len();
    let mut pos = 0usize;
    while pos < n {
        if m.main.decode(rd) == 0 {
            out[pos] = m.literal.decode(bits)? as u8;
            pos += 1;
            continue;
        }
        if m.is_delta.decode(rd) == 0 {
            lz.begin(pos);
            let offset = if m.lz_rep.decode(rd) == 0 {
                read_offset(&mut m.lz_offset, bits)? as u32
            } else {
                lz.take(rep_index(rd, &mut m.lz_rep_idx))
            };
            let length = read_length(m, bits)?;
            let offset = offset as usize;
            if offset > pos || offset == 0 {
                return Err(err(format!("match offset {offset} at output {pos}")));
            }
            if length > n - pos {
                return Err(err(format!(
                    "match of {length} bytes at output {pos} overruns"
                )));
            }
            copy_match(out, pos, offset, length);
            pos += length;
            lz.finish(offset as u32, pos);
        } else {
            delta.begin(pos);
            let pair = if m.delta_rep.decode(rd) == 0 {
                let power = m.delta_power.decode(bits)? as u64;
                let raw = read_offset(&mut m.delta_offset, bits)?;
                (power << 32) | raw
            } else {
                delta.take(rep_index(rd, &mut m.delta_rep_idx))
            };
            let length = read_length(m, bits)?;
            let power = ((pair >> 32) as u32).min(7);
            let raw = pair & 0xFFFF_FFFF;
            let span = 1u64 << power;
            let offset = raw << power;
            if raw == 0 || offset + span > pos as u64 {
                return Err(err(format!(
                    "delta match (offset {offset}, span {span}) at output {pos}"
                )));
            }
            let (offset, span) = (offset as usize, span as usize);
            if length > n - pos {
                return Err(err(format!(
                    "delta match of {length} bytes at output {pos} overruns"
                )));
            }
            for i in pos..pos + length {
                out[i] = out[i - offset]
                    .wrapping_add(out[i - span])
                    .wrapping_sub(out[i - offset - span]);
            }
            pos += length;
            delta.finish(pair, pos);
        }
    }
    Ok(())
}

#[inline(always)]
fn read_length(m: &mut Models, bits: &mut BackwardBits<'_>) -> Result<usize> {
    let slot = m.length.decode(bits)?;
    let extra = LENGTH_EXTRA_BITS[slot];
    let mut len = LENGTH_BASE[slot] as usize;
    if extra != 0 {
        len += bits.read(u32::from(extra)) as usize;
    }
    Ok(len)
}
