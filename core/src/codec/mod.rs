//! The WIM codecs, written here (see docs/decisions.md: no usable crate decodes WIM LZX, XPRESS-Huffman
//! or LZMS, and none compresses WIM LZX).
//!
//! Every WIM chunk is independent: a decoder is given one compressed chunk and the exact size of its
//! output, and must fill it completely or fail with [`crate::Error::Codec`]. Decoders never read past
//! their input, never write past their output, and never loop without consuming input.

pub mod huffman;
pub mod lzms;
pub mod lzx;
pub mod parallel;
pub mod xpress;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Compression type of a WIM resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Stored.
    None,
    /// XPRESS-Huffman ([MS-XCA] LZ77+Huffman).
    Xpress,
    /// WIM-flavoured LZX (32 KiB window per chunk, E8 translation always on).
    Lzx,
    /// LZMS (ESD solid resources).
    Lzms,
}

impl Compression {
    /// Name as wimlib prints it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "None",
            Compression::Xpress => "XPRESS",
            Compression::Lzx => "LZX",
            Compression::Lzms => "LZMS",
        }
    }

    /// From a solid-resource header's compression field (0 none, 1 XPRESS, 2 LZX, 3 LZMS).
    pub fn from_solid_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Xpress,
            2 => Compression::Lzx,
            3 => Compression::Lzms,
            _ => return None,
        })
    }

    /// The solid-resource header id of this compression.
    pub fn solid_id(self) -> u32 {
        match self {
            Compression::None => 0,
            Compression::Xpress => 1,
            Compression::Lzx => 2,
            Compression::Lzms => 3,
        }
    }
}

/// A reusable decoder for one compression type (keeps its tables and buffers between chunks).
pub struct Decoder {
    kind: Compression,
    lzms: Option<lzms::LzmsDecoder>,
    lzx: Option<lzx::LzxDecoder>,
    xpress: Option<xpress::XpressDecoder>,
}

impl Decoder {
    /// A decoder for `kind`.
    pub fn new(kind: Compression) -> Self {
        Decoder {
            kind,
            lzms: None,
            lzx: None,
            xpress: None,
        }
    }

    /// Decode one chunk: `input` is the compressed chunk, `output.len()` its exact uncompressed size.
    pub fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<()> {
        match self.kind {
            Compression::None => {
                if input.len() != output.len() {
                    return Err(Error::codec("stored", "size mismatch"));
                }
                output.copy_from_slice(input);
                Ok(())
            }
            Compression::Xpress => self
                .xpress
                .get_or_insert_with(xpress::XpressDecoder::new)
                .decompress(input, output),
            Compression::Lzx => self
                .lzx
                .get_or_insert_with(lzx::LzxDecoder::new)
                .decompress(input, output),
            Compression::Lzms => self
                .lzms
                .get_or_insert_with(lzms::LzmsDecoder::new)
                .decompress(input, output),
        }
    }
}

/// How hard an encoder works. Both give valid output for every reader; they differ in size and speed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Effort {
    /// LZX: the lazy parse alone (several times faster, about 2 % larger). For quick turnarounds.
    Fast,
    /// LZX: a near-optimal parse (the default: WinRE must fit small recovery partitions).
    #[default]
    Best,
}

/// A reusable chunk compressor for one compression type.
///
/// `compress` returns `true` when `out` holds a compressed chunk strictly smaller than `input`;
/// `false` means the caller stores the chunk raw (which every WIM reader accepts), so a type
/// without an encoder yet still produces valid output.
pub struct Encoder {
    kind: Compression,
    lzx: Option<lzx::LzxEncoder>,
    xpress: Option<xpress::XpressEncoder>,
    effort: Effort,
}

impl Encoder {
    /// An encoder for `kind`.
    pub fn new(kind: Compression) -> Self {
        Self::with_effort(kind, Effort::Best)
    }

    /// An encoder for `kind` working at `effort`.
    pub fn with_effort(kind: Compression, effort: Effort) -> Self {
        Encoder {
            kind,
            lzx: None,
            xpress: None,
            effort,
        }
    }

    /// The compression this encoder produces.
    pub fn kind(&self) -> Compression {
        self.kind
    }

    /// Compress one chunk into `out` (cleared first). See the type docs for the return value.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self.kind {
            Compression::None | Compression::Lzms => false,
            Compression::Lzx => self
                .lzx
                .get_or_insert_with(|| {
                    let mut e = lzx::LzxEncoder::new();
                    e.set_optimal(self.effort == Effort::Best);
                    e
                })
                .compress(input, out),
            Compression::Xpress => self
                .xpress
                .get_or_insert_with(xpress::XpressEncoder::new)
                .compress(input, out),
        }
    }
}
