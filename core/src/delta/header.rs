//! PA30 / PA31 headers: the fields `GetDeltaInfo` reports, and where the two buffers that follow
//! them (preprocess data, patch bitstream) lie.

use super::bits::BitReader;
use crate::io::Le;
use crate::{Error, Result};
use serde::Serialize;

/// Signature version of a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeltaVersion {
    /// `PA30`: header fields inline in the outer bitstream.
    Pa30,
    /// `PA31`: header fields inside a nested buffer, followed by four more fields.
    Pa31,
}

/// Fields only PA31 carries (after the PA30 ones, inside the nested header buffer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pa31Extra {
    /// Size of the header-info structure the writer used (0x88 observed for PA31 version 1).
    pub header_info_size: u64,
    /// 1 for PA31.
    pub is_pa31: u64,
    /// Lowest delta client version that can apply the delta (0 or 1 observed).
    pub delta_client_min_version: u64,
    /// A second hash with the same algorithm as the target hash (meaning not established).
    pub additional_hash: Vec<u8>,
}

/// Target hash algorithms (Windows `ALG_ID`s).
pub const CALG_MD5: u32 = 0x8003;
/// SHA-1.
pub const CALG_SHA1: u32 = 0x8004;
/// SHA-256.
pub const CALG_SHA_256: u32 = 0x800c;
/// SHA-384.
pub const CALG_SHA_384: u32 = 0x800d;
/// SHA-512.
pub const CALG_SHA_512: u32 = 0x800e;

/// File type RAW (no transforms).
pub const FILE_TYPE_RAW: u64 = 1;

/// Everything the header of a PA30/PA31 delta says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeltaHeader {
    /// PA30 or PA31.
    pub version: DeltaVersion,
    /// The CRC32 that preceded the signature, if the file had one (already checked).
    pub crc32: Option<u32>,
    /// Target FILETIME (100 ns units since 1601-01-01).
    pub target_file_time: u64,
    /// Set of file types the creator could choose from (also called the version).
    pub file_type_set: u64,
    /// The file type used: 1 RAW, 2 I386, 4 IA64, 8 AMD64, ... (see [`file_type_name`]).
    pub file_type: u64,
    /// Transform / codec flags.
    pub flags: u64,
    /// Size of the target in bytes.
    pub target_size: u64,
    /// Hash algorithm of `target_hash` (0 = none).
    pub hash_alg_id: u32,
    /// Hash of the target (empty when `hash_alg_id` is 0).
    pub target_hash: Vec<u8>,
    /// PA31's extra fields.
    pub pa31: Option<Pa31Extra>,
}

/// Longest hash a header may carry (SHA-512).
const MAX_HASH: usize = 64;

/// `DELTA_FLAG_*` bits and their names in the Windows SDK's `msdelta.h` (names only: what each
/// transform does is documented, where known, in docs/formats/pa30-pe.md).
const FLAG_NAMES: &[(u64, &str)] = &[
    (0x1, "E8"),
    (0x2, "MARK"),
    (0x4, "IMPORTS"),
    (0x8, "EXPORTS"),
    (0x10, "RESOURCES"),
    (0x20, "RELOCS"),
    (0x40, "I386_SMASHLOCK"),
    (0x80, "I386_JMPS"),
    (0x100, "I386_CALLS"),
    (0x200, "AMD64_DISASM"),
    (0x400, "AMD64_PDATA"),
    (0x800, "IA64_DISASM"),
    (0x1000, "IA64_PDATA"),
    (0x2000, "UNBIND"),
    (0x4000, "CLI_DISASM"),
    (0x8000, "CLI_METADATA"),
    (0x10000, "HEADERS"),
    (0x20000, "IGNORE_FILE_SIZE_LIMIT"),
    (0x40000, "IGNORE_OPTIONS_SIZE_LIMIT"),
    (0x80000, "ARM_DISASM"),
    (0x100000, "ARM_PDATA"),
    (0x200000, "CLI4_METADATA"),
    (0x400000, "CLI4_DISASM"),
    (0x800000, "ARM64_DISASM"),
    (0x1000000, "ARM64_PDATA"),
];

/// The SDK names of the bits set in `flags`, lowest first; bits the SDK does not name are given
/// in hex.
pub fn flag_names(flags: u64) -> Vec<String> {
    (0..64)
        .map(|i| 1u64 << i)
        .filter(|b| flags & b != 0)
        .map(|b| match FLAG_NAMES.iter().find(|(f, _)| *f == b) {
            Some((_, n)) => (*n).to_string(),
            None => format!("{b:#x}"),
        })
        .collect()
}

/// Name of a file type code, as the Delta Compression API names them.
pub fn file_type_name(t: u64) -> &'static str {
    match t {
        1 => "RAW",
        2 => "I386",
        4 => "IA64",
        8 => "AMD64",
        16 => "CLI4_I386",
        32 => "CLI4_AMD64",
        64 => "CLI4_ARM",
        128 => "CLI4_ARM64",
        256 => "ARM",
        512 => "ARM64",
        _ => "unknown",
    }
}

/// A parsed delta: header plus the two buffers, with their offsets in the file.
#[derive(Debug, Clone)]
pub(crate) struct Parsed<'a> {
    pub header: DeltaHeader,
    pub preprocess: &'a [u8],
    pub preprocess_offset: u64,
    pub patch: &'a [u8],
    pub patch_offset: u64,
}

const STRUCT: &str = "PA30 header";

/// Split off a CRC32 prefix if there is one, checking it. Returns the delta proper and its offset.
fn strip_crc(bytes: &[u8]) -> Result<(&[u8], Option<u32>, u64)> {
    let is_sig = |b: &[u8]| b == b"PA30" || b == b"PA31";
    if bytes.len() >= 4 && is_sig(&bytes[..4]) {
        return Ok((bytes, None, 0));
    }
    if bytes.len() >= 8 && is_sig(&bytes[4..8]) {
        let want = Le::new(bytes, "PA30 CRC32 prefix").u32(0)?;
        let got = crc32fast::hash(&bytes[4..]);
        if want != got {
            return Err(Error::DigestMismatch {
                what: "CRC32 prefix of the delta".into(),
                expected: format!("{want:08x}"),
                actual: format!("{got:08x}"),
            });
        }
        return Ok((&bytes[4..], Some(want), 4));
    }
    if bytes.len() >= 4 && &bytes[..4] == b"PA19" {
        return Err(Error::unsupported(
            "delta",
            "PA19 (legacy mspatcha) deltas are not supported",
        ));
    }
    Err(Error::malformed(
        STRUCT,
        0,
        "no PA30/PA31 signature at offset 0 or after a 4-byte CRC32",
    ))
}

/// Parse the header and locate the buffers.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    let (d, crc32, base) = strip_crc(bytes)?;
    if d.len() < 13 {
        return Err(Error::Truncated {
            structure: STRUCT,
            offset: base,
            end: base + 13,
            size: bytes.len() as u64,
        });
    }
    let version = if &d[..4] == b"PA30" {
        DeltaVersion::Pa30
    } else {
        DeltaVersion::Pa31
    };
    let target_file_time = Le::at(d, STRUCT, base).u64(4)?;
    let mut outer = BitReader::new(&d[12..], base + 12, STRUCT)?;
    let (fields, pa31) = match version {
        DeltaVersion::Pa30 => (read_fields(&mut outer)?, None),
        DeltaVersion::Pa31 => {
            let (inner, off) = outer.buffer("PA31 header buffer")?;
            let mut r = BitReader::new(inner, off, "PA31 header buffer")?;
            let f = read_fields(&mut r)?;
            let header_info_size = r.number()?;
            let is_pa31 = r.number()?;
            let delta_client_min_version = r.number()?;
            let (h, _) = r.buffer("PA31 additional hash")?;
            if h.len() > MAX_HASH {
                return Err(r.error(format!("additional hash of {} bytes", h.len())));
            }
            let extra = Pa31Extra {
                header_info_size,
                is_pa31,
                delta_client_min_version,
                additional_hash: h.to_vec(),
            };
            (f, Some(extra))
        }
    };
    let (preprocess, preprocess_offset) = outer.buffer("preprocess buffer")?;
    let (patch, patch_offset) = outer.buffer("patch buffer")?;
    let (file_type_set, file_type, flags, target_size, hash_alg_id, target_hash) = fields;
    Ok(Parsed {
        header: DeltaHeader {
            version,
            crc32,
            target_file_time,
            file_type_set,
            file_type,
            flags,
            target_size,
            hash_alg_id,
            target_hash,
            pa31,
        },
        preprocess,
        preprocess_offset,
        patch,
        patch_offset,
    })
}

type Fields = (u64, u64, u64, u64, u32, Vec<u8>);

fn read_fields(r: &mut BitReader<'_>) -> Result<Fields> {
    let file_type_set = r.number()?;
    let file_type = r.number()?;
    let flags = r.number()?;
    let target_size = r.number()?;
    let alg = r.number()?;
    let alg = u32::try_from(alg).map_err(|_| r.error(format!("hash algorithm id {alg:#x}")))?;
    let (hash, _) = r.buffer("target hash")?;
    if hash.len() > MAX_HASH {
        return Err(r.error(format!("target hash of {} bytes", hash.len())));
    }
    Ok((
        file_type_set,
        file_type,
        flags,
        target_size,
        alg,
        hash.to_vec(),
    ))
}
