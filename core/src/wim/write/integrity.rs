//! The optional integrity table: SHA-1 of each 10 MiB slice of the file from the end of the header
//! to the end of the blob table (formats.md §2.2), computed by reading the output back.

use sha1::{Digest, Sha1};

use crate::io::WriteAt;
use crate::wim::format::HEADER_SIZE;
use crate::Result;

/// Slice size wimlib and WIMGAPI use.
pub const INTEGRITY_CHUNK: u32 = 10 * 1024 * 1024;

/// Build the integrity table for the file range `[208, end)` of `sink`.
pub fn integrity_table(sink: &mut dyn WriteAt, end: u64) -> Result<Vec<u8>> {
    let start = HEADER_SIZE as u64;
    let span = end.saturating_sub(start);
    let n = span.div_ceil(INTEGRITY_CHUNK as u64);
    let n32 = u32::try_from(n)
        .map_err(|_| crate::Error::limit(n, u32::MAX, "integrity table with over 2^32 entries"))?;
    let size = 12u64 + 20 * n;
    let size32 = u32::try_from(size)
        .map_err(|_| crate::Error::limit(size, u32::MAX, "integrity table larger than 4 GiB"))?;
    let mut out = Vec::with_capacity(size as usize);
    out.extend_from_slice(&size32.to_le_bytes());
    out.extend_from_slice(&n32.to_le_bytes());
    out.extend_from_slice(&INTEGRITY_CHUNK.to_le_bytes());
    let piece = 1u64 << 20;
    let mut buf = vec![0u8; piece as usize];
    let mut off = start;
    while off < end {
        let chunk_end = (off + INTEGRITY_CHUNK as u64).min(end);
        let mut h = Sha1::new();
        while off < chunk_end {
            let k = (chunk_end - off).min(piece) as usize;
            sink.read_back(off, &mut buf[..k])?;
            h.update(&buf[..k]);
            off += k as u64;
        }
        out.extend_from_slice(&h.finalize());
    }
    Ok(out)
}
