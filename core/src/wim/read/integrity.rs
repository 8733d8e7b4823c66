//! The optional integrity table: SHA-1s of fixed-size slices of the file from the end of the header
//! to the end of the blob table. It detects damage anywhere in resources or the table, which blob
//! SHA-1s alone cannot (they only cover what a reader happens to decompress).

use crate::io::{read_vec, Le, Progress, ReadAt};
use crate::wim::format::{Header, HEADER_SIZE};
use crate::{Error, Result};
use sha1::{Digest, Sha1};

const STRUCT: &str = "WIM integrity table";
/// Largest integrity table accepted (enough for a 10 TiB file at wimlib's 10 MiB slices).
const MAX_TABLE: u64 = 64 << 20;

/// Check one part's integrity table. `Ok(None)` when the part has none, `Ok(Some(false))` when a
/// slice's SHA-1 differs.
pub fn check(src: &dyn ReadAt, header: &Header, progress: &dyn Progress) -> Result<Option<bool>> {
    let r = &header.integrity;
    if r.is_empty() {
        return Ok(None);
    }
    let table = read_vec(src, STRUCT, r.offset, r.size_in_wim, MAX_TABLE)?;
    if table.len() < 12 {
        return Err(Error::malformed(
            STRUCT,
            r.offset,
            "shorter than its 12-byte header",
        ));
    }
    let t = Le::at(&table, STRUCT, r.offset);
    let size = t.u32(0)? as u64;
    let n = t.u32(4)? as u64;
    let chunk = t.u32(8)? as u64;
    if size != 12 + 20 * n || size > table.len() as u64 {
        return Err(Error::malformed(
            STRUCT,
            r.offset,
            format!(
                "size field {size} does not match {n} entries in {} bytes",
                table.len()
            ),
        ));
    }
    if chunk == 0 {
        return Err(Error::malformed(STRUCT, r.offset + 8, "chunk size 0"));
    }
    let start = HEADER_SIZE as u64;
    let end = header
        .blob_table
        .offset
        .checked_add(header.blob_table.size_in_wim)
        .filter(|&e| e >= start && e <= src.size())
        .ok_or_else(|| {
            Error::malformed(
                STRUCT,
                r.offset,
                "the blob table does not end inside the file",
            )
        })?;
    let expect_n = (end - start).div_ceil(chunk);
    if n != expect_n {
        return Err(Error::malformed(
            STRUCT,
            r.offset + 4,
            format!(
                "{n} entries but {expect_n} slices of {chunk} bytes cover bytes {start}..{end}"
            ),
        ));
    }
    let piece = chunk.min(1 << 20) as usize;
    let mut buf = vec![0u8; piece];
    let mut ok = true;
    for i in 0..n {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let s = start + i * chunk;
        let e = (s + chunk).min(end);
        let mut h = Sha1::new();
        let mut pos = s;
        while pos < e {
            let k = ((e - pos) as usize).min(piece);
            src.read_at(pos, &mut buf[..k])?;
            h.update(&buf[..k]);
            pos += k as u64;
        }
        let got: [u8; 20] = h.finalize().into();
        let at = 12 + 20 * i as usize;
        if table[at..at + 20] != got {
            ok = false;
        }
        progress.update("integrity", e - start, end - start);
    }
    Ok(Some(ok))
}
