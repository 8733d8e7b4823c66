//! Output layout choices of the writer.

use crate::codec::parallel::Backend;
use crate::codec::{Compression, Effort};
use crate::wim::format::{flags, Header, VERSION_SOLID};
use crate::{Error, Result};

/// How the output WIM is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Compression of non-solid resources (the header's compression flag).
    pub compression: Compression,
    /// Chunk size of compressed resources (ignored and written as 0 for [`Compression::None`]).
    pub chunk_size: u32,
    /// Append an integrity table (SHA-1 per 10 MiB of the file).
    pub integrity: bool,
    /// The WIM GUID (the caller's choice: keep the source's or make a new one).
    pub guid: [u8; 16],
    /// 1-based boot image index, 0 for none.
    pub boot_index: u32,
    /// Write header version 0xE00 (solid-capable) instead of 0x10D00; no solid resources are written.
    pub version_solid: bool,
    /// Set the header's RP_FIX flag (reparse targets stored relative to the image), as the source had it.
    pub rp_fix: bool,
    /// Keep the chunked layout even when a resource does not shrink (normally stored uncompressed).
    pub always_chunked: bool,
    /// Threads compressing a resource's chunks (0 counts as 1). The output bytes are the same
    /// for every value; only the speed changes. Always 1 on wasm32 (where `backend` parallelises).
    pub threads: usize,
    /// Encoder effort (LZX parse); the default is the smaller output.
    pub effort: Effort,
    /// Where chunks are compressed besides the calling thread (in the browser: a pool of
    /// compression workers); replaces `threads` when set. `None` (the default) compresses on
    /// `threads` threads. The output bytes are the same either way.
    pub backend: Option<Backend>,
}

impl WriteOptions {
    /// Defaults for `compression`: 32 KiB chunks, no integrity table, zero GUID, no boot image,
    /// one compression thread per core ([`crate::codec::parallel::default_threads`]).
    pub fn new(compression: Compression) -> Self {
        WriteOptions {
            compression,
            chunk_size: 32768,
            integrity: false,
            guid: [0; 16],
            boot_index: 0,
            version_solid: false,
            rp_fix: false,
            always_chunked: false,
            threads: crate::codec::parallel::default_threads(),
            effort: Effort::Best,
            backend: None,
        }
    }

    /// Options that reproduce a source WIM's layout (compression, chunk size, GUID, boot index,
    /// RP_FIX), so its resources can be raw-copied. A solid (ESD) source maps to LZX with 32 KiB
    /// chunks, the layout of boot.wim and WinRE.wim.
    pub fn like_source(h: &Header) -> Result<Self> {
        let mut compression = h.compression()?;
        let mut chunk_size = h.chunk_size;
        if compression == Compression::Lzms || h.version == VERSION_SOLID {
            compression = Compression::Lzx;
            chunk_size = 32768;
        }
        if compression == Compression::None {
            chunk_size = 32768;
        }
        let o = WriteOptions {
            compression,
            chunk_size,
            guid: h.guid,
            boot_index: h.boot_index,
            rp_fix: h.flags & flags::RP_FIX != 0,
            ..WriteOptions::new(compression)
        };
        o.validate()?;
        Ok(o)
    }

    pub(super) fn validate(&self) -> Result<()> {
        let cs = self.chunk_size;
        let (lo, hi) = match self.compression {
            Compression::None => return Ok(()),
            Compression::Xpress => (1 << 12, 1 << 16),
            // WIMGAPI and our LZX encoder only handle 32 KiB LZX chunks.
            Compression::Lzx => (1 << 15, 1 << 15),
            Compression::Lzms => (1 << 15, 1 << 26),
        };
        if !cs.is_power_of_two() || cs < lo || cs > hi {
            return Err(Error::invalid(
                "WIM writer",
                format!(
                    "chunk size {cs} for {}: must be a power of two in {lo}..={hi}",
                    self.compression.name()
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn header_flags(&self) -> u32 {
        let mut f = match self.compression {
            Compression::None => 0,
            Compression::Xpress => flags::COMPRESSION | flags::XPRESS,
            Compression::Lzx => flags::COMPRESSION | flags::LZX,
            Compression::Lzms => flags::COMPRESSION | flags::LZMS,
        };
        if self.rp_fix {
            f |= flags::RP_FIX;
        }
        f
    }
}
