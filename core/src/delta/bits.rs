//! The LSB-first bitstream every PA30 structure is written in.
//!
//! A stream is a byte slice whose first three bits give the number of unused (padding) bits at the
//! top of its last byte; the usable bits are everything after those three and before the padding.
//! Integers are "nibble-counted": a unary prefix (`n` zero bits then a one) says the value has
//! `n + 1` nibbles, which follow LSB-first. Buffers are such an integer (the byte count), then the
//! reader skips to the next byte boundary and takes that many whole bytes.

use crate::{Error, Result};

/// Reader over one PA30 bitstream. Every read is checked against the usable bit count, so a
/// truncated or crafted stream gives [`Error::Malformed`] naming the structure and byte offset.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Bits consumed so far, counted from the first bit of `data`.
    pos: u64,
    /// Usable bits: `8 * len - padding`.
    end: u64,
    /// Offset of `data[0]` in the file the stream came from, for error messages.
    base: u64,
    structure: &'static str,
}

impl<'a> BitReader<'a> {
    /// Open a stream and consume its 3-bit padding count.
    pub(crate) fn new(data: &'a [u8], base: u64, structure: &'static str) -> Result<Self> {
        let Some(&first) = data.first() else {
            return Err(Error::malformed(structure, base, "empty bitstream"));
        };
        let pad = u64::from(first & 7);
        let total = data.len() as u64 * 8;
        if total < 3 + pad {
            return Err(Error::malformed(
                structure,
                base,
                format!(
                    "{pad} padding bits declared in a {}-byte stream",
                    data.len()
                ),
            ));
        }
        Ok(BitReader {
            data,
            pos: 3,
            end: total - pad,
            base,
            structure,
        })
    }

    /// Byte offset (in the containing file) of the next unread bit, for error messages.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos / 8
    }

    /// Usable bits not yet consumed.
    pub(crate) fn remaining(&self) -> u64 {
        self.end - self.pos
    }

    /// A typed error at the current position.
    pub(crate) fn error(&self, reason: impl std::fmt::Display) -> Error {
        Error::malformed(self.structure, self.offset(), reason)
    }

    /// The next (up to) 57 bits without consuming them; bits past the end of the data read as 0.
    #[inline]
    pub(crate) fn peek(&self) -> u64 {
        let byte = (self.pos / 8) as usize;
        let shift = (self.pos % 8) as u32;
        let word = if let Some(b) = self.data.get(byte..byte + 8) {
            u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
        } else {
            let mut w = [0u8; 8];
            let tail = self.data.get(byte..).unwrap_or(&[]);
            w[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(w)
        };
        word >> shift
    }

    /// Consume `n` bits already inspected with [`BitReader::peek`].
    #[inline]
    pub(crate) fn skip(&mut self, n: u32) -> Result<()> {
        if u64::from(n) > self.remaining() {
            return Err(self.error(format!(
                "needs {n} more bits but only {} remain",
                self.remaining()
            )));
        }
        self.pos += u64::from(n);
        Ok(())
    }

    /// Read `n` ≤ 32 bits, LSB-first.
    #[inline]
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32> {
        debug_assert!(n <= 32);
        if n == 0 {
            return Ok(0);
        }
        let v = (self.peek() & ((1u64 << n) - 1)) as u32;
        self.skip(n)?;
        Ok(v)
    }

    /// Read a nibble-counted integer (up to 16 nibbles = 64 bits).
    pub(crate) fn number(&mut self) -> Result<u64> {
        let zeros = (self.peek() | 1 << 16).trailing_zeros();
        if zeros >= 16 {
            return Err(self.error("integer prefix longer than 16 nibbles"));
        }
        self.skip(zeros + 1)?;
        let bits = 4 * (zeros + 1);
        if bits <= 32 {
            Ok(u64::from(self.bits(bits)?))
        } else {
            let lo = u64::from(self.bits(32)?);
            let hi = u64::from(self.bits(bits - 32)?);
            Ok(hi << 32 | lo)
        }
    }

    /// Read the long-length integer of PseudoLzx: `z` zero bits and a one, then `z + 8` bits under
    /// an implicit leading one (so the value is at least 256).
    pub(crate) fn number8(&mut self) -> Result<u32> {
        let zeros = (self.peek() | 1 << 24).trailing_zeros();
        if zeros >= 24 {
            return Err(self.error("long match length prefix longer than 23 bits"));
        }
        self.skip(zeros + 1)?;
        let n = zeros + 8;
        Ok(1 << n | self.bits(n)?)
    }

    /// Read a buffer: byte count, skip to the byte boundary, the bytes. Returns the slice and its
    /// offset in the containing file.
    pub(crate) fn buffer(&mut self, what: &str) -> Result<(&'a [u8], u64)> {
        let len = self.number()?;
        let start = self.pos.div_ceil(8);
        let avail = self.end / 8;
        if len > avail.saturating_sub(start) {
            return Err(self.error(format!(
                "{what} of {len} bytes runs past the end of the stream"
            )));
        }
        let s = start as usize;
        let e = s + len as usize;
        self.pos = e as u64 * 8;
        Ok((&self.data[s..e], self.base + start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_integers() {
        // The published example: 3 pad bits (0), then 14 and 17 as nibble-counted integers.
        let data = [0xe8, 0x46, 0x00];
        let mut r = BitReader::new(&data, 0, "test").unwrap();
        assert_eq!(r.number().unwrap(), 14);
        assert_eq!(r.number().unwrap(), 17);
    }

    #[test]
    fn padding_limits_the_stream() {
        // Pad count 7 in a 1-byte stream leaves no usable bits after the 3-bit header.
        assert!(BitReader::new(&[0x07], 0, "t").is_err());
        let mut r = BitReader::new(&[0x05], 0, "t").unwrap();
        assert_eq!(r.remaining(), 0);
        assert!(r.bits(1).is_err());
    }
}
