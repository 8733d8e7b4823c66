//! XPRESS-Huffman ([MS-XCA] LZ77+Huffman) chunk decoder.
use crate::{Error, Result};

/// Decode one XPRESS-Huffman chunk into `output` (its exact size).
pub fn decompress(_input: &[u8], _output: &mut [u8]) -> Result<()> {
    Err(Error::Unsupported("XPRESS decoding is not implemented yet".into()))
}
