//! The writing side of the PA30 bitstream (see `delta::bits` for the reading side): LSB-first,
//! a 3-bit padding count at the start of every stream, nibble-counted integers, byte-aligned
//! buffers.

/// LSB-first bit writer.
#[derive(Debug, Default, Clone)]
pub(crate) struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// A writer for a whole stream: the 3-bit padding count is reserved now and set by
    /// [`BitWriter::finish_stream`].
    pub(crate) fn stream() -> Self {
        let mut w = BitWriter::default();
        w.put(0, 3);
        w
    }

    /// Write the low `bits` (≤ 32) bits of `v`, LSB first.
    #[inline]
    pub(crate) fn put(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 32);
        if bits == 0 {
            return;
        }
        self.acc |= (v & ((1u64 << bits) - 1)) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Append every bit another writer holds (it need not be byte aligned).
    pub(crate) fn append(&mut self, other: &BitWriter) {
        if self.n == 0 {
            self.out.extend_from_slice(&other.out);
        } else {
            for &b in &other.out {
                self.put(u64::from(b), 8);
            }
        }
        self.put(other.acc, other.n);
    }

    /// Nibble-counted integer: `k - 1` zero bits and a one, then the value in `k` nibbles.
    pub(crate) fn number(&mut self, v: u64) {
        let bits = 64 - v.leading_zeros();
        let nibbles = bits.div_ceil(4).max(1);
        self.put(1 << (nibbles - 1), nibbles);
        let total = nibbles * 4;
        if total <= 32 {
            self.put(v, total);
        } else {
            self.put(v & 0xffff_ffff, 32);
            self.put(v >> 32, total - 32);
        }
    }

    /// PseudoLzx's long-length integer for `v ≥ 256`, `v < 2^32`: `z` zero bits and a one, then
    /// the `z + 8` bits below the leading one.
    pub(crate) fn number8(&mut self, v: u32) {
        debug_assert!(v >= 256);
        let n = 31 - v.leading_zeros();
        let z = n - 8;
        self.put(1 << z, z + 1);
        self.put(u64::from(v) & ((1u64 << n) - 1), n);
    }

    /// A buffer: its byte count, then the bytes from the next byte boundary.
    pub(crate) fn buffer(&mut self, b: &[u8]) {
        self.number(b.len() as u64);
        if self.n > 0 {
            self.put(0, 8 - self.n);
        }
        self.out.extend_from_slice(b);
    }

    /// Finish a stream made with [`BitWriter::stream`]: pad the last byte and record the
    /// padding count in the first three bits.
    pub(crate) fn finish_stream(mut self) -> Vec<u8> {
        let pad = (8 - self.n % 8) % 8;
        if self.n > 0 {
            self.put(0, pad);
        }
        if let Some(first) = self.out.first_mut() {
            *first |= pad as u8;
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::bits::BitReader;
    use super::*;

    #[test]
    fn numbers_and_buffers_read_back() {
        let vals = [
            0u64,
            1,
            14,
            15,
            16,
            17,
            255,
            256,
            0xffff_ffff,
            1 << 32,
            u64::MAX,
        ];
        let mut w = BitWriter::stream();
        for &v in &vals {
            w.number(v);
        }
        for v in [256u32, 257, 511, 512, 0xffff_ffff] {
            w.number8(v);
        }
        w.put(5, 3);
        w.buffer(b"abc");
        w.put(1, 1);
        let mut tail = BitWriter::default();
        tail.put(0x1234, 13);
        w.append(&tail);
        let bytes = w.finish_stream();
        let mut r = BitReader::new(&bytes, 0, "t").unwrap();
        for &v in &vals {
            assert_eq!(r.number().unwrap(), v);
        }
        for v in [256u32, 257, 511, 512, 0xffff_ffff] {
            assert_eq!(r.number8().unwrap(), v);
        }
        assert_eq!(r.bits(3).unwrap(), 5);
        assert_eq!(r.buffer("b").unwrap().0, b"abc");
        assert_eq!(r.bits(1).unwrap(), 1);
        assert_eq!(r.bits(13).unwrap(), 0x1234);
        assert_eq!(r.remaining(), 0);
    }
}
