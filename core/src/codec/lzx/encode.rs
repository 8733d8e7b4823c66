//! WIM LZX chunk compressor.

/// Reusable LZX chunk compressor.
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
