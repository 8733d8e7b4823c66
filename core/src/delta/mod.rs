//! Microsoft's delta formats (PA30, PA31): header parsing and the apply engine.
//!
//! A delta file is an optional little-endian CRC32 (zlib's CRC-32 of the rest of the file), the
//! signature `PA30`/`PA31`, the target FILETIME, then a bitstream holding the header fields, a
//! preprocess buffer (file-type transforms) and the patch buffer (the codec stream). Applying a
//! delta decodes the patch against the reference and checks the target hash when there is one.
//! See docs/formats/pa30.md for the format as implemented and where each fact comes from.
//!
//! File type RAW is handled here. PE file types need transforms of the reference before the codec
//! runs (issue 14); [`apply`] names them in an [`Error::Unsupported`] instead of producing wrong
//! bytes. The transform stage slots in at [`prepare_reference`].

mod bits;
pub mod dcm;
mod header;
mod huffman;
mod plzx;
mod rift;

pub use header::{
    file_type_name, DeltaHeader, DeltaVersion, Pa31Extra, CALG_MD5, CALG_SHA1, CALG_SHA_256,
    CALG_SHA_384, CALG_SHA_512, FILE_TYPE_RAW,
};

use crate::{Error, Result};
use std::borrow::Cow;

/// Flag bit selecting the BsDiff codec instead of PseudoLzx (RAW deltas).
pub const FLAG_BSDIFF: u64 = 0x100;
/// Flag bit asking for the x86 E8 (relative call) filter on RAW targets.
pub const FLAG_E8: u64 = 0x1;

/// Options for [`apply`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Largest target accepted; checked against the header before anything is allocated.
    pub max_target_size: u64,
    /// Check the target hash when the header carries one (default true).
    pub verify_hash: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            max_target_size: 1 << 30,
            verify_hash: true,
        }
    }
}

/// Parse the header of a delta (with or without its CRC32 prefix, which is checked).
pub fn parse_header(bytes: &[u8]) -> Result<DeltaHeader> {
    Ok(header::parse(bytes)?.header)
}

/// Apply `delta` to `reference` and return the target, verified against the header's hash.
pub fn apply(reference: &[u8], delta: &[u8], opts: &ApplyOptions) -> Result<Vec<u8>> {
    let p = header::parse(delta)?;
    let h = &p.header;
    if h.target_size > opts.max_target_size {
        return Err(Error::Limit(format!(
            "delta target of {} bytes exceeds the limit of {} bytes",
            h.target_size, opts.max_target_size
        )));
    }
    let target_size = usize::try_from(h.target_size)
        .map_err(|_| Error::Limit(format!("delta target of {} bytes", h.target_size)))?;
    // Fail on an unknown hash algorithm before doing the work.
    if h.hash_alg_id != 0 || !h.target_hash.is_empty() {
        digest(h.hash_alg_id, &[])?;
    }
    let reference = prepare_reference(h, reference, p.preprocess)?;
    let out = if h.flags & FLAG_BSDIFF != 0 {
        return Err(Error::Unsupported(format!(
            "BsDiff codec (delta flags {:#x}) is not implemented yet",
            h.flags
        )));
    } else {
        plzx::decode(&reference, p.patch, p.patch_offset, target_size)?
    };
    if out.len() != target_size {
        return Err(Error::malformed(
            "PA30 patch",
            p.patch_offset,
            format!("decoded {} bytes, header says {}", out.len(), target_size),
        ));
    }
    if opts.verify_hash && (h.hash_alg_id != 0 || !h.target_hash.is_empty()) {
        let got = digest(h.hash_alg_id, &out)?;
        if got != h.target_hash {
            return Err(Error::DigestMismatch {
                what: "delta target".into(),
                expected: hex(&h.target_hash),
                actual: hex(&got),
            });
        }
    }
    Ok(out)
}

/// The reference the codec copies from: the reference itself for RAW; PE file types transform it
/// first (not implemented: issue 14).
fn prepare_reference<'a>(
    h: &DeltaHeader,
    reference: &'a [u8],
    preprocess: &[u8],
) -> Result<Cow<'a, [u8]>> {
    if h.file_type != FILE_TYPE_RAW {
        return Err(Error::Unsupported(format!(
            "delta file type {} ({}) with transform flags {:#x}: PE-typed deltas are not implemented",
            h.file_type,
            file_type_name(h.file_type),
            h.flags
        )));
    }
    if !preprocess.is_empty() {
        return Err(Error::Unsupported(format!(
            "RAW delta with a {}-byte preprocess buffer",
            preprocess.len()
        )));
    }
    if h.flags & FLAG_E8 != 0 {
        return Err(Error::Unsupported(
            "RAW delta with the x86 E8 filter flag (0x1)".into(),
        ));
    }
    Ok(Cow::Borrowed(reference))
}

/// Hash `data` with a Windows `ALG_ID`; unknown algorithms are an error, never skipped.
fn digest(alg: u32, data: &[u8]) -> Result<Vec<u8>> {
    use sha2::Digest;
    Ok(match alg {
        CALG_MD5 => md5::Md5::digest(data).to_vec(),
        CALG_SHA1 => sha1::Sha1::digest(data).to_vec(),
        CALG_SHA_256 => sha2::Sha256::digest(data).to_vec(),
        CALG_SHA_384 => sha2::Sha384::digest(data).to_vec(),
        CALG_SHA_512 => sha2::Sha512::digest(data).to_vec(),
        _ => {
            return Err(Error::Unsupported(format!(
                "delta target hash algorithm {alg:#x}"
            )))
        }
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
