//! Random-access reading and positioned writing with `u64` offsets.
//!
//! Everything above this module reads through [`ReadAt`], so the same parsers run over a std file,
//! bytes in memory, a file inside an ISO, a file inside a WIM image, or (in the browser worker) a
//! `File` read with `FileReaderSync`. Reads are synchronous and bounded by the caller's buffer.

mod cache;
#[cfg(not(target_arch = "wasm32"))]
mod early_flush;
mod file;
pub mod folder;
pub mod le;
pub mod store;
mod sub;

pub use cache::CachedReader;
#[cfg(not(target_arch = "wasm32"))]
pub use early_flush::EarlyFlush;
#[cfg(not(target_arch = "wasm32"))]
pub use file::FileSource;
pub use folder::FolderStore;
#[cfg(not(target_arch = "wasm32"))]
pub use folder::FsFolder;
pub use le::Le;
#[cfg(not(target_arch = "wasm32"))]
pub use store::FsStore;
pub use store::{OutputStore, Part, SinkCursor};
pub use sub::SubRange;

use crate::{Error, Result};
use std::sync::Arc;

/// A source of bytes that can be read at any offset.
///
/// `read_at` fills the whole buffer or fails: a read past [`ReadAt::size`] is an [`Error::Truncated`].
pub trait ReadAt: Send + Sync {
    /// Total size in bytes.
    fn size(&self) -> u64;
    /// Read exactly `buf.len()` bytes starting at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

/// Shared handle to any reader; layers (ISO → WIM → WIM) hold their parent this way.
pub type SharedReader = Arc<dyn ReadAt>;

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
}

/// Bytes held in memory (tests, small packages, decoded metadata).
#[derive(Clone)]
pub struct SliceSource {
    data: Arc<[u8]>,
}

impl SliceSource {
    /// Wrap owned bytes.
    pub fn new(data: impl Into<Arc<[u8]>>) -> Self {
        SliceSource { data: data.into() }
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl ReadAt for SliceSource {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = check_range("read", offset, buf.len() as u64, self.size())?;
        buf.copy_from_slice(&self.data[offset as usize..end as usize]);
        Ok(())
    }
}

/// Check that `offset..offset+len` lies inside `size`; returns the end offset.
pub fn check_range(structure: &'static str, offset: u64, len: u64, size: u64) -> Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(end),
        _ => Err(Error::Truncated {
            structure,
            offset,
            end: offset.saturating_add(len),
            size,
        }),
    }
}

/// Read `len` bytes at `offset` into a new vector, refusing lengths above `limit`.
///
/// This is the only sanctioned way to size an allocation from a length found in a file.
pub fn read_vec(
    src: &dyn ReadAt,
    structure: &'static str,
    offset: u64,
    len: u64,
    limit: u64,
) -> Result<Vec<u8>> {
    if len > limit {
        return Err(Error::limit(
            len,
            limit,
            format!("{structure} at offset {offset} claims {len} bytes; the limit is {limit}"),
        ));
    }
    check_range(structure, offset, len, src.size())?;
    let mut v = vec![0u8; len as usize];
    src.read_at(offset, &mut v)?;
    Ok(v)
}

/// A destination that accepts writes at any offset (the WIM writer patches its header last).
pub trait WriteAt {
    /// Write all of `data` at `offset`, extending the destination as needed.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Flush buffered data to the medium.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// Read back bytes written earlier (the WIM writer hashes its output for the integrity table).
    /// Sinks that cannot read return [`Error::Unsupported`].
    fn read_back(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let _ = (offset, buf);
        Err(Error::unsupported(
            "output",
            "this output cannot be read back (needed for an integrity table)",
        ))
    }
}

impl WriteAt for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= usize::MAX as u64)
            .ok_or_else(|| {
                Error::limit(
                    offset.saturating_add(data.len() as u64),
                    usize::MAX,
                    "in-memory output larger than the address space",
                )
            })? as usize;
        if self.len() < end {
            self.resize(end, 0);
        }
        self[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
    fn read_back(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = check_range("read back", offset, buf.len() as u64, self.len() as u64)?;
        buf.copy_from_slice(&self[offset as usize..end as usize]);
        Ok(())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl WriteAt for std::fs::File {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        self.seek(SeekFrom::Start(offset))?;
        self.write_all(data)?;
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        std::io::Write::flush(self)?;
        Ok(())
    }
    fn read_back(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        self.seek(SeekFrom::Start(offset))?;
        self.read_exact(buf)?;
        Ok(())
    }
}

/// Cancellation and progress reporting shared by long jobs (hashing, extracting, patching).
pub trait Progress: Send + Sync {
    /// Report `done` of `total` bytes in `stage`.
    fn update(&self, stage: &str, done: u64, total: u64);
    /// True when the user asked to stop; long loops check it and return [`Error::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// A [`Progress`] that reports nothing and never cancels.
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _stage: &str, _done: u64, _total: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_and_bounds() {
        let s = SliceSource::new(vec![1u8, 2, 3, 4]);
        let mut b = [0u8; 2];
        s.read_at(2, &mut b).unwrap();
        assert_eq!(b, [3, 4]);
        assert!(matches!(s.read_at(3, &mut b), Err(Error::Truncated { .. })));
        assert!(matches!(
            s.read_at(u64::MAX, &mut b),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn read_vec_refuses_over_limit() {
        let s = SliceSource::new(vec![0u8; 16]);
        assert!(matches!(
            read_vec(&s, "x", 0, 17, 16),
            Err(Error::Limit {
                value: 17,
                limit: 16,
                ..
            })
        ));
        assert!(matches!(
            read_vec(&s, "x", 8, 9, 100),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(read_vec(&s, "x", 8, 8, 100).unwrap().len(), 8);
    }

    #[test]
    fn vec_write_at_extends() {
        let mut v = Vec::new();
        v.write_at(4, b"ab").unwrap();
        v.write_at(0, b"xy").unwrap();
        assert_eq!(v, b"xy\0\0ab");
    }
}
