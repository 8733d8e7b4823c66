//! Writing one resource: stored as is, or split into chunks compressed independently with a chunk
//! table in front (formats.md §2.2).
//!
//! The chunk table precedes the chunks but its values are only known after compressing, so its
//! space is reserved, the chunks are written after it as they are produced (a batch of a few
//! chunks per compression thread in memory at a time, whatever the blob size), and the table is
//! filled in last. Chunks are independent, so a batch is compressed in parallel
//! ([`crate::codec::parallel`]) and written in order: the bytes do not depend on the thread count.
//! When the result is not smaller than the data, the resource is rewritten uncompressed at the
//! same offset from a second read of the source, as wimlib does.

use sha1::{Digest, Sha1};

use super::WimWriter;
use crate::codec::Compression;
use crate::io::{Progress, ReadAt, WriteAt};
use crate::wim::format::{resflags, ResHdr};
use crate::{Error, Result};

/// Chunks each compression thread gets per batch.
const CHUNKS_PER_THREAD: usize = 8;

/// Bytes per read and per write when copying stored data.
pub(super) const COPY_PIECE: usize = 1 << 20;

/// A `ReadAt` over borrowed bytes (so in-memory blobs share the streaming path).
pub(super) struct BorrowedSource<'a>(pub &'a [u8]);

impl ReadAt for BorrowedSource<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = crate::io::check_range("blob data", offset, buf.len() as u64, self.size())?;
        buf.copy_from_slice(&self.0[offset as usize..end as usize]);
        Ok(())
    }
}

/// Bytes per chunk-table entry for a resource of `usize` uncompressed bytes.
pub fn chunk_entry_size(usize: u64) -> u64 {
    if usize > 0xFFFF_FFFF {
        8
    } else {
        4
    }
}

/// Where a written resource ended up and the SHA-1 of its uncompressed data.
pub(super) struct Written {
    pub res: ResHdr,
    pub hash: [u8; 20],
}

impl Written {
    /// A chunked resource of `size_in_wim` bytes at `offset` holding `usize` bytes.
    fn compressed(offset: u64, size_in_wim: u64, usize: u64, hash: [u8; 20]) -> Self {
        Written {
            res: ResHdr {
                size_in_wim,
                flags: resflags::COMPRESSED,
                offset,
                uncompressed_size: usize,
            },
            hash,
        }
    }

    /// `usize` bytes stored as they are at `offset`.
    fn stored(offset: u64, usize: u64, hash: [u8; 20]) -> Self {
        Written {
            res: ResHdr {
                size_in_wim: usize,
                flags: 0,
                offset,
                uncompressed_size: usize,
            },
            hash,
        }
    }
}

impl<W: WriteAt> WimWriter<W> {
    /// Write `src` (all of it) as a resource at the current position and advance past it.
    pub(super) fn write_resource(
        &mut self,
        src: &dyn ReadAt,
        progress: &dyn Progress,
    ) -> Result<Written> {
        let start = self.pos;
        let usize = src.size();
        let chunked = self.opts.compression != Compression::None && usize > 0;
        let result = if chunked {
            self.write_chunked(src, start, progress)
        } else {
            self.write_stored(src, start, progress)
        };
        match result {
            Ok(w) => {
                self.pos = w.res.offset + w.res.size_in_wim;
                Ok(w)
            }
            Err(e) => {
                self.pos = start;
                Err(e)
            }
        }
    }

    /// Copy `src` uncompressed to `start`, hashing it.
    fn write_stored(
        &mut self,
        src: &dyn ReadAt,
        start: u64,
        progress: &dyn Progress,
    ) -> Result<Written> {
        let total = src.size();
        let mut h = Sha1::new();
        let mut buf = std::mem::take(&mut self.buf_in);
        buf.resize(COPY_PIECE.min(total as usize), 0);
        let mut off = 0u64;
        let r: Result<()> = (|| {
            while off < total {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let n = (total - off).min(COPY_PIECE as u64) as usize;
                src.read_at(off, &mut buf[..n])?;
                h.update(&buf[..n]);
                self.put(start + off, &buf[..n])?;
                off += n as u64;
                progress.update("write", off, total);
            }
            Ok(())
        })();
        self.buf_in = buf;
        r?;
        Ok(Written::stored(start, total, h.finalize().into()))
    }

    /// Lay out an in-memory blob whose SHA-1 is `hash` at the current position from its already
    /// compressed `chunks` (`outs[k]` belongs to `chunks[k]`): the same bytes
    /// [`Self::write_chunked`] writes.
    pub(super) fn place_chunks(
        &mut self,
        data: &[u8],
        hash: [u8; 20],
        chunks: &[&[u8]],
        outs: &[crate::codec::parallel::ChunkOut],
    ) -> Result<Written> {
        let start = self.pos;
        let usize = data.len() as u64;
        let esize = chunk_entry_size(usize);
        let table_len = (chunks.len() as u64).saturating_sub(1) * esize;
        let body: u64 = chunks
            .iter()
            .zip(outs)
            .map(|(c, o)| o.bytes(c).len() as u64)
            .sum();
        let size_in_wim = table_len + body;
        if size_in_wim < usize || self.opts.always_chunked {
            let mut table = Vec::with_capacity(table_len as usize);
            let mut rel = 0u64;
            for (k, (c, o)) in chunks.iter().zip(outs).enumerate() {
                if k > 0 {
                    table.extend_from_slice(&rel.to_le_bytes()[..esize as usize]);
                }
                let bytes = o.bytes(c);
                self.put(start + table_len + rel, bytes)?;
                rel += bytes.len() as u64;
            }
            self.put(start, &table)?;
            return Ok(Written::compressed(start, size_in_wim, usize, hash));
        }
        // Not smaller: stored, like `write_chunked`'s fallback.
        self.put(start, data)?;
        Ok(Written::stored(start, usize, hash))
    }

    /// Compress `src` chunk by chunk to `start`; falls back to stored when it does not shrink.
    fn write_chunked(
        &mut self,
        src: &dyn ReadAt,
        start: u64,
        progress: &dyn Progress,
    ) -> Result<Written> {
        let usize = src.size();
        let cs = self.opts.chunk_size as u64;
        let nchunks = usize.div_ceil(cs);
        let esize = chunk_entry_size(usize);
        let table_len = (nchunks - 1)
            .checked_mul(esize)
            .ok_or_else(|| Error::limit(u64::MAX, u64::MAX, "chunk table size overflows"))?;
        let table_cap = usize::try_from(table_len).map_err(|_| {
            Error::limit(
                table_len,
                usize::MAX,
                "chunk table larger than the address space",
            )
        })?;
        let mut table = Vec::with_capacity(table_cap);
        let mut h = Sha1::new();
        let mut buf = std::mem::take(&mut self.buf_in);
        let mut outs = std::mem::take(&mut self.outs);
        // A batch gives each thread a few chunks, so spawning is amortised while memory stays at
        // threads × CHUNKS_PER_THREAD chunks in and out, whatever the blob size.
        let batch = (self.compressor.threads() * CHUNKS_PER_THREAD) as u64;
        let mut rel = 0u64; // offset of the next chunk relative to the end of the table
        let r: Result<()> = (|| {
            let mut k0 = 0u64;
            while k0 < nchunks {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let off0 = k0 * cs;
                let kn = (nchunks - k0).min(batch);
                let len = ((usize - off0).min(kn * cs)) as usize;
                buf.resize(len, 0);
                src.read_at(off0, &mut buf)?;
                h.update(&buf);
                let chunks: Vec<&[u8]> = buf.chunks(cs as usize).collect();
                self.compressor.compress(&chunks, &mut outs);
                for (k, (input, out)) in chunks.iter().zip(&outs).enumerate() {
                    if k0 + k as u64 > 0 {
                        table.extend_from_slice(&rel.to_le_bytes()[..esize as usize]);
                    }
                    let data = out.bytes(input);
                    self.put(start + table_len + rel, data)?;
                    rel += data.len() as u64;
                }
                k0 += kn;
                progress.update("compress", off0 + len as u64, usize);
            }
            Ok(())
        })();
        self.buf_in = buf;
        self.outs = outs;
        r?;
        let hash: [u8; 20] = h.finalize().into();
        let size_in_wim = table_len + rel;
        if size_in_wim < usize || self.opts.always_chunked {
            self.put(start, &table)?;
            return Ok(Written::compressed(start, size_in_wim, usize, hash));
        }
        if table_len == 0 && rel == usize {
            // One chunk kept raw: the bytes on disk already are the stored form.
            return Ok(Written::stored(start, usize, hash));
        }
        // Did not shrink: store it instead (the bytes past the stored copy are overwritten by
        // whatever comes next, or zero-filled by `finish`).
        let stored = self.write_stored(src, start, progress)?;
        if stored.hash != hash {
            return Err(Error::invalid(
                "WIM writer",
                "blob source changed while it was being written",
            ));
        }
        Ok(stored)
    }
}
