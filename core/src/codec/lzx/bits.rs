//! LZX bit I/O: the stream is a sequence of 16-bit little-endian words whose bits are consumed
//! most-significant first.

/// Bit reader over one chunk. Reading past the end yields zero bits (so the hot loop needs no
/// bounds branch) while [`BitReader::overrun`] records it; the decoder rejects a stream that
/// consumed bits it does not have.
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
    phantom_words: usize,
}

impl<'a> BitReader<'a> {
    /// Reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            buf: 0,
            count: 0,
            phantom_words: 0,
        }
    }

    /// Make at least 32 bits available.
    #[inline(always)]
    pub fn refill(&mut self) {
        while self.count <= 48 {
            let w = match self.data.get(self.pos..self.pos + 2) {
                Some(b) => {
                    self.pos += 2;
                    u16::from_le_bytes([b[0], b[1]])
                }
                None => {
                    self.phantom_words += 1;
                    0
                }
            };
            self.buf |= u64::from(w) << (48 - self.count);
            self.count += 16;
        }
    }

    /// The next 16 bits (MSB = next bit) without consuming; needs ≥16 buffered bits for accuracy.
    #[inline(always)]
    pub fn peek16(&self) -> u32 {
        (self.buf >> 48) as u32
    }

    /// Drop `n` (≤ buffered) bits.
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// Read `n` ≤ 32 bits (caller refilled enough).
    #[inline(always)]
    pub fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = (self.buf >> (64 - n)) as u32;
        self.consume(n);
        v
    }

    /// Refill then read `n` ≤ 32 bits.
    #[inline(always)]
    pub fn read(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.refill();
        }
        self.bits(n)
    }

    /// True if more bits were consumed than the input holds.
    pub fn overrun(&self) -> bool {
        (self.count as usize) < self.phantom_words * 16
    }

    /// Realign for an uncompressed block: drop the rest of the current 16-bit word, or a whole
    /// word if already aligned, and return the byte position where raw bytes start (`None` if
    /// that is past the input).
    pub fn align_for_raw(&mut self) -> Option<usize> {
        let partial = self.count % 16;
        let drop = if partial == 0 { 16 } else { partial };
        if self.count < drop {
            self.refill();
        }
        self.consume(drop);
        if self.overrun() {
            return None;
        }
        // Whole words still buffered belong after the raw position.
        let real_buffered = self.count as usize - self.phantom_words * 16;
        Some(self.pos - real_buffered / 8)
    }

    /// Restart reading at byte `pos` (after an uncompressed block).
    pub fn restart_at(&mut self, pos: usize) {
        self.pos = pos;
        self.buf = 0;
        self.count = 0;
        self.phantom_words = 0;
    }
}

/// Bit writer producing LZX's 16-bit little-endian, MSB-first words.
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    buf: u64,
    count: u32,
}

impl<'a> BitWriter<'a> {
    /// Writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            buf: 0,
            count: 0,
        }
    }

    /// Append the low `n` ≤ 32 bits of `v`.
    #[inline(always)]
    pub fn put(&mut self, v: u32, n: u32) {
        self.buf = (self.buf << n) | u64::from(v & ((1u64 << n) - 1) as u32);
        self.count += n;
        while self.count >= 16 {
            self.count -= 16;
            let w = (self.buf >> self.count) as u16;
            self.out.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Pad the current word with zeros (nothing if aligned).
    pub fn flush(&mut self) {
        if self.count > 0 {
            let n = 16 - self.count;
            self.put(0, n);
        }
    }
}
