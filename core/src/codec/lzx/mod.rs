//! WIM LZX: chunk decoder and compressor, written here from the published format description
//! (Microsoft's [MS-PATCH] LZX DELTA spec plus the WIM differences in docs/formats.md §1.1).
//!
//! WIM LZX differs from CAB LZX: every chunk is an independent stream (repeat offsets 1/1/1, code
//! lengths zero, empty window), there is no stream header, E8 translation is always on with size
//! 12 000 000, and a block's size is one "default 32768" bit or a 16-bit value. No crate handles
//! this variant (lzxd does CAB framing; none compresses), hence our own.
//!
//! - [`decompress`] / [`LzxDecoder`]: decode one chunk to its exact size; corrupt data gives
//!   [`crate::Error::Codec`].
//! - [`LzxEncoder`]: compress one chunk (≤ 32768 bytes) with a hash-chain matchfinder and a
//!   cost-driven parse, choosing verbatim or aligned-offset blocks.

mod bits;
mod decode;
mod e8;
mod encode;
mod optimal;
mod tables;

pub use decode::{decompress, decompress_window, LzxDecoder};
pub use encode::LzxEncoder;
