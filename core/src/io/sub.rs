//! A window onto part of another reader: a file inside an ISO, a resource inside a WIM.

use crate::io::{check_range, ReadAt};
use crate::Result;

/// Bytes `offset..offset+len` of an inner reader, seen as a reader of its own.
pub struct SubRange<R> {
    inner: R,
    offset: u64,
    len: u64,
}

impl<R: ReadAt> SubRange<R> {
    /// A view of `len` bytes at `offset`; fails if the range is not inside `inner`.
    pub fn new(inner: R, offset: u64, len: u64) -> Result<Self> {
        check_range("sub-range", offset, len, inner.size())?;
        Ok(SubRange { inner, offset, len })
    }
}

impl<R: ReadAt> ReadAt for SubRange<R> {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range("sub-range read", offset, buf.len() as u64, self.len)?;
        self.inner.read_at(self.offset + offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SliceSource;

    #[test]
    fn window_reads() {
        let s = SliceSource::new((0u8..100).collect::<Vec<_>>());
        let w = SubRange::new(&s, 10, 20).unwrap();
        let mut b = [0u8; 3];
        w.read_at(17, &mut b).unwrap();
        assert_eq!(b, [27, 28, 29]);
        assert!(w.read_at(18, &mut b).is_err());
        assert!(SubRange::new(&s, 90, 11).is_err());
    }
}
