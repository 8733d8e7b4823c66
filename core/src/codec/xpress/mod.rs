//! XPRESS-Huffman, Microsoft's "LZ77+Huffman" ([MS-XCA] §2.1–2.2), as used for WIM chunks.
//!
//! Written here because no maintained crate decodes it for WIM (see `codec` module docs). The
//! format: a 256-byte table of 512 four-bit codeword lengths (low nibble = even symbol), then a
//! bitstream of 16-bit little-endian words read most-significant bit first, with the extra
//! match-length bytes interleaved in the byte stream. Symbols 0–255 are literals; 256–511 are
//! matches (`low nibble` = length header, `high nibble` = number of offset bits). A new table
//! starts every 64 KiB of output, so a WIM chunk (at most 64 KiB) has exactly one.
//!
//! The encoder ([`XpressEncoder`]) is a fast lazy parser: XPRESS chunks are small, and WIMs we
//! write mostly reuse existing compressed resources, so ratio matters less than speed.

mod decode;
pub(crate) mod decode_table;
mod encode;

pub(crate) use decode::copy_match;
pub use decode::{decompress, XpressDecoder};
pub use encode::XpressEncoder;

/// Bytes of the packed codeword-length table.
const TABLE_BYTES: usize = 256;
/// Literals plus match symbols.
const NUM_SYMBOLS: usize = 512;
/// Output bytes covered by one Huffman table.
const BLOCK_SIZE: usize = 65536;
/// Shortest match.
const MIN_MATCH_LEN: usize = 3;
/// Width of the first lookup level of the decode table.
const PRIMARY_TABLE_BITS: u32 = 11;
