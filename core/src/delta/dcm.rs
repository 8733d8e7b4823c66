//! Compressed WinSxS manifests: `DCM\x01` followed by a PA30 delta against the base manifest that
//! Windows keeps in the servicing stack's `wcp.dll` (resource type 614, id 1).

use super::{apply, ApplyOptions};
use crate::{Error, Result};

/// The signature of a manifest delta-compressed against the base manifest.
pub const DCM_SIGNATURE: &[u8; 4] = b"DCM\x01";

/// True when `bytes` starts with `DCM\x01`.
pub fn is_dcm(bytes: &[u8]) -> bool {
    bytes.starts_with(DCM_SIGNATURE)
}

/// Decode a `DCM\x01` manifest against `base`. Other `DC?\x01` wrappers are reported as
/// unsupported, anything else as malformed.
pub fn decode(base: &[u8], dcm: &[u8], opts: &ApplyOptions) -> Result<Vec<u8>> {
    if is_dcm(dcm) {
        return apply(base, &dcm[4..], opts);
    }
    if dcm.len() >= 4 && dcm[..2] == *b"DC" && dcm[3] == 1 {
        let kind = match dcm[2] {
            b'N' => "DCN (packed intra-package PA30)",
            b'S' => "DCS (LZMS multi-block)",
            b'D' => "DCD (PA30 delta needing a source file)",
            b'H' => "DCH (header only)",
            b'X' => "DCX",
            _ => "unknown DC?\\x01",
        };
        return Err(Error::unsupported(
            "delta",
            format!("compressed manifest wrapper {kind}"),
        ));
    }
    Err(Error::malformed(
        "compressed manifest",
        0,
        "no DCM\\x01 signature",
    ))
}
