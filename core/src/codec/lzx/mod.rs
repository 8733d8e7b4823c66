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
//! - [`decompress_window`]: the same for resources whose chunk size exceeds 32 KiB (the window,
//!   hence the alphabet, follows the resource's chunk size, not the last chunk's length).
//! - [`LzxEncoder`]: compress one chunk (≤ 32768 bytes): E8 preprocessing, hash-chain
//!   matchfinder, a shallow lazy parse that prices a near-optimal minimum-cost parse (or the lazy
//!   parse alone with `set_optimal(false)`, ~3x faster, ~2 % larger), one block per chunk,
//!   verbatim or aligned-offset by exact cost.
//!
//! Not done: block splitting inside a chunk, and emitting uncompressed blocks (an incompressible
//! chunk is declined so the writer stores it raw, which every reader accepts).

mod bits;
mod decode;
pub(crate) mod e8;
mod encode;
mod matchfind;
mod optimal;
mod tables;

pub use decode::{decompress, decompress_window, LzxDecoder};
pub use encode::LzxEncoder;
