//! Compression-API LZMS containers as a delta's patch buffer (PA31 express deltas).
//!
//! Some deltas carry, instead of a PseudoLzx stream, a buffer made by the Windows Compression API
//! (`cabinet.dll` `Compress` in buffer mode) with the LZMS algorithm. No genuine vector of this
//! kind is available here: the layout below is taken from public descriptions (sources in
//! docs/formats/pa30.md section 5.1), so [`super::apply`] accepts the output only when the
//! delta's target hash confirms it.
//!
//! Layout: a 24-byte header — magic `0A 51 E5 C0`, u16 header size (0x18), one check byte,
//! one algorithm byte (5 = LZMS), u64 total uncompressed size, u64 chunk size — then, per chunk
//! of `chunk size` output bytes (the last one shorter), a u32 compressed size and that many bytes
//! of one independent LZMS chunk (the LZMS of WIM files, x86 filter included).

use crate::codec::lzms::LzmsDecoder;
use crate::io::le::{u32_at, u64_at};
use crate::{Error, Result};

/// Signature of a Compression-API buffer.
pub(crate) const MAGIC: [u8; 4] = [0x0a, 0x51, 0xe5, 0xc0];
/// Size of the container header.
const HEADER: usize = 24;
/// `COMPRESS_ALGORITHM_LZMS` (compressapi.h); 2..4 are MSZIP, XPRESS, XPRESS_HUFF.
const ALG_LZMS: u8 = 5;
/// Largest chunk accepted: LZMS itself addresses about 1.1 GB; nothing sane needs more than this.
const MAX_CHUNK: u64 = 1 << 30;

const STRUCT: &str = "LZMS container";

fn algorithm_name(a: u8) -> &'static str {
    match a {
        2 => "MSZIP",
        3 => "XPRESS",
        4 => "XPRESS_HUFF",
        5 => "LZMS",
        _ => "unknown",
    }
}

/// The container's total uncompressed size, from its header (for the dispatch in `apply`).
pub(crate) fn total_size(buf: &[u8], offset: u64) -> Result<u64> {
    header(buf, offset).map(|h| h.total)
}

struct Head {
    total: u64,
    chunk: u64,
}

fn header(buf: &[u8], offset: u64) -> Result<Head> {
    if buf.len() < HEADER {
        return Err(Error::Truncated {
            structure: STRUCT,
            offset,
            end: offset + HEADER as u64,
            size: offset + buf.len() as u64,
        });
    }
    if buf[..4] != MAGIC {
        return Err(Error::malformed(STRUCT, offset, "no 0A 51 E5 C0 signature"));
    }
    let size = u16::from_le_bytes([buf[4], buf[5]]);
    if usize::from(size) != HEADER {
        return Err(Error::malformed(
            STRUCT,
            offset + 4,
            format!("header size {size:#x}, expected 0x18"),
        ));
    }
    // Byte 6 is a check byte; one public description gives its rule (low byte of the CRC-32 of
    // the other 23 bytes), none confirms it, so it is not enforced: the target hash judges.
    let alg = buf[7];
    if alg != ALG_LZMS {
        return Err(Error::unsupported(
            "delta",
            format!(
            "delta patch buffer is a Compression-API container with algorithm {alg} ({}); only \
             LZMS (5) is read",
            algorithm_name(alg)
        ),
        ));
    }
    // Both fields lie inside the 24 bytes checked above.
    let total = u64_at(buf, 8).unwrap_or(0);
    let chunk = u64_at(buf, 16).unwrap_or(0);
    if chunk == 0 && total != 0 || chunk > MAX_CHUNK {
        return Err(Error::malformed(
            STRUCT,
            offset + 16,
            format!("chunk size {chunk} (must be 1..={MAX_CHUNK})"),
        ));
    }
    Ok(Head { total, chunk })
}

/// Decode an LZMS container of exactly `target_size` output bytes. `offset` is the buffer's
/// position in the delta file, for error messages. The caller has checked `target_size`
/// against its cap; the container's own size field must equal it.
pub(crate) fn decode(buf: &[u8], offset: u64, target_size: usize) -> Result<Vec<u8>> {
    let h = header(buf, offset)?;
    if h.total != target_size as u64 {
        return Err(Error::malformed(
            STRUCT,
            offset + 8,
            format!(
                "holds {} bytes, the delta's target is {target_size}",
                h.total
            ),
        ));
    }
    let mut out = vec![0u8; target_size];
    let mut decoder = LzmsDecoder::new();
    let mut pos = HEADER;
    let chunk = usize::try_from(h.chunk).unwrap_or(usize::MAX).max(1);
    for (k, dst) in out.chunks_mut(chunk).enumerate() {
        let at = offset + pos as u64;
        let len = u32_at(buf, pos).ok_or(Error::Truncated {
            structure: STRUCT,
            offset: at,
            end: at + 4,
            size: offset + buf.len() as u64,
        })? as usize;
        pos += 4;
        let Some(data) = buf.get(pos..pos.saturating_add(len)) else {
            return Err(Error::Truncated {
                structure: STRUCT,
                offset: at + 4,
                end: at + 4 + len as u64,
                size: offset + buf.len() as u64,
            });
        };
        if len >= dst.len() {
            // The Compression API may store a chunk that does not shrink; how it marks one is
            // not described, so such a chunk is not guessed at.
            return Err(Error::unsupported(
                "delta",
                format!(
                    "LZMS container chunk {k} at byte {} holds {len} bytes for {} output bytes \
                 (a stored chunk?): its framing is not described",
                    at,
                    dst.len()
                ),
            ));
        }
        decoder
            .decompress(data, dst)
            .map_err(|e| Error::malformed(STRUCT, at + 4, format!("chunk {k}: {e}")))?;
        pos += len;
    }
    if pos != buf.len() {
        return Err(Error::malformed(
            STRUCT,
            offset + pos as u64,
            format!("{} bytes after the last chunk", buf.len() - pos),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A container header built by hand from the described layout.
    fn head(alg: u8, total: u64, chunk: u64) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&0x18u16.to_le_bytes());
        b.push(0); // check byte (not enforced)
        b.push(alg);
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&chunk.to_le_bytes());
        b
    }

    #[test]
    fn empty_container_gives_an_empty_target() {
        let b = head(5, 0, 0x10000);
        assert_eq!(decode(&b, 0, 0).unwrap(), Vec::<u8>::new());
        assert_eq!(total_size(&b, 0).unwrap(), 0);
    }

    #[test]
    fn other_algorithms_are_unsupported_by_name() {
        for (alg, name) in [
            (2, "MSZIP"),
            (3, "XPRESS"),
            (4, "XPRESS_HUFF"),
            (9, "unknown"),
        ] {
            let e = decode(&head(alg, 0, 1), 0, 0).unwrap_err();
            assert_eq!(e.kind(), "unsupported", "{e}");
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn malformed_headers_are_typed_with_offsets() {
        let e = decode(&head(5, 0, 1)[..23], 100, 0).unwrap_err();
        assert_eq!(e.kind(), "truncated", "{e}");
        let mut b = head(5, 0, 1);
        b[4] = 0x20;
        let e = decode(&b, 100, 0).unwrap_err();
        assert!(e.to_string().contains("104"), "{e}");
        // Size field disagreeing with the delta's target size.
        let e = decode(&head(5, 10, 4), 0, 11).unwrap_err();
        assert_eq!(e.kind(), "malformed", "{e}");
        // Zero chunk size for a non-empty target, and an oversized chunk size.
        assert_eq!(
            decode(&head(5, 3, 0), 0, 3).unwrap_err().kind(),
            "malformed"
        );
        assert_eq!(
            decode(&head(5, 3, MAX_CHUNK + 1), 0, 3).unwrap_err().kind(),
            "malformed"
        );
    }

    #[test]
    fn chunk_framing_is_bounds_checked() {
        // Chunk size 4, 6 bytes of output: two chunks expected.
        let mut b = head(5, 6, 4);
        assert_eq!(decode(&b, 0, 6).unwrap_err().kind(), "truncated");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[1, 2]); // 3 announced, 2 present
        assert_eq!(decode(&b, 0, 6).unwrap_err().kind(), "truncated");
        // A chunk at least as large as its output (a stored chunk?) is not guessed at.
        let mut b = head(5, 6, 4);
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 4]);
        let e = decode(&b, 0, 6).unwrap_err();
        assert_eq!(e.kind(), "unsupported", "{e}");
        // Garbage LZMS bytes: a typed error naming the chunk, never a panic.
        let mut b = head(5, 40, 40);
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&[0xff; 8]);
        let e = decode(&b, 0, 40).unwrap_err();
        assert!(e.to_string().contains("chunk 0"), "{e}");
    }

    #[test]
    fn bytes_after_the_last_chunk_are_malformed() {
        let mut b = head(5, 0, 4);
        b.push(0);
        let e = decode(&b, 0, 0).unwrap_err();
        assert_eq!(e.kind(), "malformed", "{e}");
    }
}
