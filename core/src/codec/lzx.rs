//! WIM LZX chunk decoder.
use crate::{Error, Result};

/// Decode one WIM LZX chunk into `output` (its exact size).
pub fn decompress(_input: &[u8], _output: &mut [u8]) -> Result<()> {
    Err(Error::Unsupported("LZX decoding is not implemented yet".into()))
}

/// Reusable LZX chunk compressor (not implemented yet: always declines, so chunks are stored raw).
#[derive(Default)]
pub struct LzxEncoder;

impl LzxEncoder {
    /// New encoder.
    pub fn new() -> Self {
        LzxEncoder
    }
    /// Compress `input` into `out`; `true` only if the result is smaller than `input`.
    pub fn compress(&mut self, _input: &[u8], _out: &mut Vec<u8>) -> bool {
        false
    }
}
