//! The one little-endian field reader of the core: every format reads its integers through it.
//!
//! Why one: each format had its own `le16`/`le32`, and they disagreed on what a short buffer means
//! (a panic, a silent 0, or `None`). [`Le`] checks every read against the bytes it was given and
//! reports a short one as [`Error::Truncated`] naming the structure and the offset in its
//! container; the `*_at` functions are the same reads as `Option`, for parsers that turn a miss
//! into their own error.

use super::check_range;
use crate::{Error, Result};

/// `N` bytes at `at`, or `None` when they are not all there.
pub fn array_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The byte at `at`.
pub fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// Little-endian `u16` at `at`.
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    array_at(b, at).map(u16::from_le_bytes)
}

/// Little-endian `u32` at `at`.
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    array_at(b, at).map(u32::from_le_bytes)
}

/// Little-endian `u64` at `at`.
pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    array_at(b, at).map(u64::from_le_bytes)
}

/// Checked little-endian reads from the bytes of one structure.
#[derive(Debug, Clone, Copy)]
pub struct Le<'a> {
    bytes: &'a [u8],
    structure: &'static str,
    base: u64,
}

impl<'a> Le<'a> {
    /// Reads from `bytes`, the structure `structure` at the start of its container.
    pub fn new(bytes: &'a [u8], structure: &'static str) -> Le<'a> {
        Le::at(bytes, structure, 0)
    }

    /// Reads from `bytes`, which start at `base` in their container (errors report `base + off`).
    pub fn at(bytes: &'a [u8], structure: &'static str, base: u64) -> Le<'a> {
        Le {
            bytes,
            structure,
            base,
        }
    }

    /// The bytes read from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn short(&self, off: usize, len: usize) -> Error {
        let offset = self.base.saturating_add(off as u64);
        check_range(
            self.structure,
            offset,
            len as u64,
            self.base.saturating_add(self.bytes.len() as u64),
        )
        .err()
        .unwrap_or_else(|| Error::malformed(self.structure, offset, "read outside the structure"))
    }

    /// `len` bytes at `off`.
    pub fn slice(&self, off: usize, len: usize) -> Result<&'a [u8]> {
        off.checked_add(len)
            .and_then(|end| self.bytes.get(off..end))
            .ok_or_else(|| self.short(off, len))
    }

    /// `N` bytes at `off`.
    pub fn array<const N: usize>(&self, off: usize) -> Result<[u8; N]> {
        array_at(self.bytes, off).ok_or_else(|| self.short(off, N))
    }

    /// The byte at `off`.
    pub fn u8(&self, off: usize) -> Result<u8> {
        u8_at(self.bytes, off).ok_or_else(|| self.short(off, 1))
    }

    /// Little-endian `u16` at `off`.
    pub fn u16(&self, off: usize) -> Result<u16> {
        self.array(off).map(u16::from_le_bytes)
    }

    /// Little-endian `u32` at `off`.
    pub fn u32(&self, off: usize) -> Result<u32> {
        self.array(off).map(u32::from_le_bytes)
    }

    /// Little-endian `u64` at `off`.
    pub fn u64(&self, off: usize) -> Result<u64> {
        self.array(off).map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_bounds_and_names_short_reads() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let r = Le::at(&b, "test header", 100);
        assert_eq!(r.u8(8).unwrap(), 9);
        assert_eq!(r.u16(0).unwrap(), 0x0201);
        assert_eq!(r.u32(1).unwrap(), 0x0504_0302);
        assert_eq!(r.u64(1).unwrap(), 0x0908_0706_0504_0302);
        assert_eq!(r.slice(7, 2).unwrap(), &[8, 9]);
        assert_eq!(r.array::<3>(6).unwrap(), [7, 8, 9]);
        match r.u32(6).unwrap_err() {
            Error::Truncated {
                structure,
                offset,
                end,
                size,
            } => assert_eq!(
                (structure, offset, end, size),
                ("test header", 106, 110, 109)
            ),
            e => panic!("{e}"),
        }
        assert!(r.u8(9).is_err());
        assert!(r.slice(usize::MAX, 2).is_err());
        assert!(r.u64(usize::MAX - 3).is_err());
        assert_eq!(u16_at(&b, 8), None);
        assert_eq!(u32_at(&b, usize::MAX), None);
        assert_eq!(u64_at(&b, 0), Some(0x0807_0605_0403_0201));
    }
}
