//! LZMS chunk decoder.
use crate::{Error, Result};

/// Reusable LZMS decoder state.
pub struct LzmsDecoder;

impl LzmsDecoder {
    /// New decoder.
    pub fn new() -> Self {
        LzmsDecoder
    }
    /// Decode one LZMS chunk into `output` (its exact size).
    pub fn decompress(&mut self, _input: &[u8], _output: &mut [u8]) -> Result<()> {
        Err(Error::Unsupported("LZMS decoding is not implemented yet".into()))
    }
}

impl Default for LzmsDecoder {
    fn default() -> Self {
        Self::new()
    }
}
