//! WIM LZX chunk decoder.
use crate::{Error, Result};

/// Decode one WIM LZX chunk into `output` (its exact size).
pub fn decompress(_input: &[u8], _output: &mut [u8]) -> Result<()> {
    Err(Error::Unsupported("LZX decoding is not implemented yet".into()))
}
