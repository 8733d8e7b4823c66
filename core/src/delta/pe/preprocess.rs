//! The preprocess buffer of a native PE-typed delta: what the creator recorded about the target
//! image and the two rift tables the transforms and the codec need.
//!
//! Layout (a PA30 bitstream; field order from jlevere/msdelta `src/pa30/preprocess.rs`, values
//! checked against the four genuine vectors): target `ImageBase` (64 raw bits), target
//! `CheckSum` (32 bits, 0 in every vector), target `TimeDateStamp` (32 bits), a rift table
//! mapping the target's RVAs to its file offsets (one entry per section plus 0 → 0), one bit
//! for CLI metadata (.NET; must be 0 here), a rift table mapping reference RVAs to target RVAs
//! (absent when nothing moved), one bit for a CLI map (must be 0).

use super::super::bits::BitReader;
use super::super::rift::{self, Rift};
use crate::{Error, Result};

/// Fields of a native (non-CLI) PE preprocess buffer.
#[derive(Debug, Clone)]
pub(crate) struct PePreprocess {
    pub image_base: u64,
    pub checksum: u32,
    pub timestamp: u32,
    /// Target RVA → target file offset.
    pub layout_rift: Option<Vec<Rift>>,
    /// Reference RVA → target RVA.
    pub rva_rift: Option<Vec<Rift>>,
}

pub(crate) fn parse(buf: &[u8], offset: u64) -> Result<PePreprocess> {
    let mut r = BitReader::new(buf, offset, "PE preprocess buffer")?;
    let lo = u64::from(r.bits(32)?);
    let hi = u64::from(r.bits(32)?);
    let image_base = hi << 32 | lo;
    let checksum = r.bits(32)?;
    let timestamp = r.bits(32)?;
    let layout_rift = rift::read(&mut r)?;
    if r.bits(1)? != 0 {
        return Err(Error::unsupported(
            "PE-typed delta",
            "PE-typed delta carrying CLI (.NET) metadata: transform CLI metadata not implemented",
        ));
    }
    let rva_rift = rift::read(&mut r)?;
    if r.bits(1)? != 0 {
        return Err(Error::unsupported(
            "PE-typed delta",
            "PE-typed delta carrying a CLI (.NET) map: transform CLI metadata not implemented",
        ));
    }
    Ok(PePreprocess {
        image_base,
        checksum,
        timestamp,
        layout_rift,
        rva_rift,
    })
}
