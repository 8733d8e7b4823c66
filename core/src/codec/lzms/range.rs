//! The forward half of an LZMS chunk: a binary range decoder driven by adaptive bit models.
//!
//! Each decision class keeps a small state (its last few decoded bits) that selects one of its
//! models; a model's probability of a 0 is the number of zeros among the last 64 bits it coded,
//! out of 64, clamped to 1..=63.

/// Probability precision: probabilities are n/64.
const PROB_BITS: u32 = 6;

/// One adaptive probability: the last 64 bits coded with it and how many of them were 0.
#[derive(Clone, Copy)]
pub(super) struct BitModel {
    zeros: u32,
    history: u64,
}

impl BitModel {
    /// 48 zeros out of 64: the history starts as 0x0000_0000_5555_5555.
    const INITIAL: BitModel = BitModel {
        zeros: 48,
        history: 0x0000_0000_5555_5555,
    };

    #[inline(always)]
    fn probability(&self) -> u32 {
        self.zeros.clamp(1, (1 << PROB_BITS) - 1)
    }

    #[inline(always)]
    fn update(&mut self, bit: u32) {
        let oldest = (self.history >> 63) as u32;
        self.zeros = self.zeros + oldest - bit;
        self.history = (self.history << 1) | u64::from(bit);
    }
}

/// A decision class: `N` models selected by the last log2(N) bits decoded in this class.
#[derive(Clone)]
pub(super) struct Decision<const N: usize> {
    state: usize,
    models: [BitModel; N],
}

impl<const N: usize> Decision<N> {
    pub(super) fn new() -> Self {
        Decision {
            state: 0,
            models: [BitModel::INITIAL; N],
        }
    }

    pub(super) fn reset(&mut self) {
        self.state = 0;
        self.models = [BitModel::INITIAL; N];
    }

    #[inline(always)]
    pub(super) fn decode(&mut self, rd: &mut RangeDecoder<'_>) -> u32 {
        let model = &mut self.models[self.state & (N - 1)];
        let bit = rd.decode(model.probability());
        model.update(bit);
        self.state = ((self.state << 1) | bit as usize) & (N - 1);
        bit
    }
}

/// Range decoder over the 16-bit little-endian words at the front of the chunk.
pub(super) struct RangeDecoder<'a> {
    input: &'a [u8],
    /// Byte offset of the next word.
    pos: usize,
    range: u32,
    code: u32,
    /// Words supplied as zeros after the input ran out.
    pub(super) overrun_words: usize,
}

impl<'a> RangeDecoder<'a> {
    /// Starts with range 0xFFFF_FFFF and the first two words as the code. `input` has at least
    /// four bytes (checked by the caller).
    pub(super) fn new(input: &'a [u8]) -> Self {
        let mut rd = RangeDecoder {
            input,
            pos: 0,
            range: 0xFFFF_FFFF,
            code: 0,
            overrun_words: 0,
        };
        rd.code = (rd.next_word() << 16) | rd.next_word();
        rd
    }

    /// Bytes of input the decoder has loaded so far.
    pub(super) fn consumed_bytes(&self) -> usize {
        self.pos
    }

    #[inline(always)]
    fn next_word(&mut self) -> u32 {
        match self.input.get(self.pos..self.pos + 2) {
            Some(b) => {
                self.pos += 2;
                u32::from(u16::from_le_bytes([b[0], b[1]]))
            }
            None => {
                self.overrun_words += 1;
                0
            }
        }
    }

    /// Decode one bit whose probability of being 0 is `prob`/64.
    #[inline(always)]
    fn decode(&mut self, prob: u32) -> u32 {
        if self.range <= 0xFFFF {
            self.range <<= 16;
            self.code = (self.code << 16) | self.next_word();
        }
        let bound = (self.range >> PROB_BITS) * prob;
        if self.code < bound {
            self.range = bound;
            0
        } else {
            self.range -= bound;
            self.code -= bound;
            1
        }
    }
}
