//! Random access to the uncompressed bytes of a WIM resource.
//!
//! Three layouts exist: stored (bytes as-is), chunked (a chunk-offset table, then independently
//! compressed chunks) and solid (a small header, a table of compressed chunk sizes, then chunks;
//! many blobs live at offsets inside it). Chunked and solid resources are served through
//! [`ChunkedResource`], which validates every chunk's place against the resource before reading
//! and keeps a few decoded chunks in a bounded LRU so small reads do not decode a chunk twice.
//! A solid resource's [`ChunkedResource`] is shared (`Arc`) by every blob inside it, so blobs packed
//! into the same 64 MiB LZMS chunk reuse one decode.

use crate::codec::{Compression, Decoder};
use crate::io::{check_range, read_vec, Le, ReadAt, SharedReader};
use crate::wim::format::ResHdr;
use crate::{Error, Result};
use std::sync::{Arc, Mutex};

/// Largest chunk accepted (Microsoft tools reject solid chunks above 64 MiB).
pub const MAX_CHUNK: u32 = 1 << 26;
/// Decoded bytes a resource's chunk cache may hold before evicting (at least two chunks are kept).
const CACHE_BYTES: u64 = 2 << 20;
/// Most chunks in one resource's table when the table is loaded whole (solid resources).
const MAX_SOLID_CHUNKS: u64 = 1 << 24;
/// Most whole chunks decoded in place per read of their stored bytes (wider runs gain nothing
/// once a read covers a few hundred KiB, and the table entries of a run fit on the stack).
const RUN_CHUNKS: u64 = 32;
/// Most decoded bytes per run, unless one chunk alone is larger (the stored bytes read for a run
/// are at most this much too, as a stored chunk is never longer than its output).
const RUN_BYTES: usize = 1 << 20;

/// Where chunk `k`'s compressed bytes are found.
enum ChunkTable {
    /// Non-solid: n-1 start offsets of chunks 1.. relative to the end of the table, read on demand.
    Offsets { table_offset: u64, entry_size: u64 },
    /// Solid: prefix sums of the stored compressed sizes (n + 1 entries, relative to the data start).
    Loaded(Vec<u64>),
}

struct CacheState {
    tick: u64,
    /// (resource id, chunk index, last use, decoded bytes)
    chunks: Vec<(usize, u64, u64, Vec<u8>)>,
    decoder: Option<(Compression, Decoder)>,
    scratch: Vec<u8>,
    /// Scratch: chunk boundaries of a run decoded in place.
    bounds: Vec<u64>,
}

/// A bounded LRU of decoded chunks. One cache is shared by all solid resources of a WIM, so the
/// number of live 64 MiB LZMS chunks stays at `capacity` however many resources a reader touches.
pub struct ChunkCache {
    capacity: usize,
    state: Mutex<CacheState>,
}

impl ChunkCache {
    /// A cache holding at most `capacity` (at least 1) decoded chunks.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(ChunkCache {
            capacity: capacity.max(1),
            state: Mutex::new(CacheState {
                tick: 0,
                chunks: Vec::new(),
                decoder: None,
                scratch: Vec::new(),
                bounds: Vec::new(),
            }),
        })
    }
}

/// A compressed (chunked or solid) resource, readable at any uncompressed offset.
pub struct ChunkedResource {
    src: SharedReader,
    /// File offset of chunk 0.
    data_offset: u64,
    /// Bytes of chunk data (after any table).
    data_size: u64,
    usize: u64,
    chunk_size: u64,
    n_chunks: u64,
    ctype: Compression,
    table: ChunkTable,
    cache: Arc<ChunkCache>,
    /// Identity of this resource in a shared cache.
    cache_id: usize,
    /// Start of the resource in its file, for error messages.
    res_offset: u64,
}

fn bad(off: u64, reason: impl std::fmt::Display) -> Error {
    Error::malformed("WIM resource", off, reason)
}

fn cache_capacity(chunk_size: u64) -> usize {
    (CACHE_BYTES / chunk_size.max(1)).clamp(2, 64) as usize
}

impl ChunkedResource {
    /// A non-solid chunked resource described by `res` (COMPRESSED flag set).
    pub fn chunked(
        src: SharedReader,
        res: &ResHdr,
        ctype: Compression,
        chunk_size: u32,
    ) -> Result<Self> {
        if ctype == Compression::None {
            return Err(bad(
                res.offset,
                "a compressed resource in a WIM whose header names no compression",
            ));
        }
        if chunk_size == 0 || chunk_size > MAX_CHUNK {
            return Err(bad(res.offset, format!("chunk size {chunk_size}")));
        }
        check_range("WIM resource", res.offset, res.size_in_wim, src.size())?;
        let cs = chunk_size as u64;
        let n = res.uncompressed_size.div_ceil(cs);
        let entry_size = if res.uncompressed_size > u32::MAX as u64 {
            8
        } else {
            4
        };
        let table_len = n.saturating_sub(1).saturating_mul(entry_size);
        if table_len > res.size_in_wim {
            return Err(bad(
                res.offset,
                format!(
                    "{n} chunks need a {table_len}-byte table but the resource is {} bytes",
                    res.size_in_wim
                ),
            ));
        }
        Ok(ChunkedResource {
            data_offset: res.offset + table_len,
            data_size: res.size_in_wim - table_len,
            usize: res.uncompressed_size,
            chunk_size: cs,
            n_chunks: n,
            ctype,
            table: ChunkTable::Offsets {
                table_offset: res.offset,
                entry_size,
            },
            cache: ChunkCache::new(cache_capacity(cs)),
            cache_id: 0,
            res_offset: res.offset,
            src,
        })
    }

    /// A solid resource at `res.offset` (`res.size_in_wim` compressed bytes); reads its header and
    /// chunk-size table.
    /// Decoded chunks go to `cache` under the key `cache_id` (unique per resource sharing the cache).
    pub fn solid(
        src: SharedReader,
        res: &ResHdr,
        cache: Arc<ChunkCache>,
        cache_id: usize,
    ) -> Result<Self> {
        check_range(
            "WIM solid resource",
            res.offset,
            res.size_in_wim,
            src.size(),
        )?;
        if res.size_in_wim < 16 {
            return Err(bad(
                res.offset,
                "solid resource shorter than its 16-byte header",
            ));
        }
        let mut h = [0u8; 16];
        src.read_at(res.offset, &mut h)?;
        let hr = Le::at(&h, "WIM solid resource header", res.offset);
        let usize = hr.u64(0)?;
        let chunk_size = hr.u32(8)?;
        let ctype_id = hr.u32(12)?;
        let ctype = Compression::from_solid_id(ctype_id).ok_or_else(|| {
            bad(
                res.offset + 12,
                format!("unknown solid compression type {ctype_id}"),
            )
        })?;
        if chunk_size == 0 {
            return Err(bad(res.offset + 8, "solid chunk size 0"));
        }
        if chunk_size > MAX_CHUNK {
            return Err(Error::unsupported(
                "WIM",
                format!(
                    "solid resource at {} uses {chunk_size}-byte chunks (limit {MAX_CHUNK})",
                    res.offset
                ),
            ));
        }
        let cs = chunk_size as u64;
        let n = usize.div_ceil(cs);
        let table_len = n.saturating_mul(4);
        if n > MAX_SOLID_CHUNKS || table_len > res.size_in_wim - 16 {
            return Err(bad(
                res.offset,
                format!(
                    "solid resource of {usize} bytes in {n} chunks does not fit in {} bytes",
                    res.size_in_wim
                ),
            ));
        }
        let table = read_vec(
            &*src,
            "WIM solid chunk table",
            res.offset + 16,
            table_len,
            MAX_SOLID_CHUNKS * 4,
        )?;
        let data_size = res.size_in_wim - 16 - table_len;
        let mut starts = Vec::with_capacity(n as usize + 1);
        let mut acc = 0u64;
        starts.push(0);
        let entries = Le::at(&table, "WIM solid chunk table", res.offset + 16);
        for k in 0..n as usize {
            let c = entries.u32(k * 4)? as u64;
            acc += c;
            if acc > data_size {
                return Err(bad(
                    res.offset,
                    format!(
                        "solid chunk {k} ends at {acc}, past the {data_size} bytes of chunk data"
                    ),
                ));
            }
            starts.push(acc);
        }
        Ok(ChunkedResource {
            data_offset: res.offset + 16 + table_len,
            data_size,
            usize,
            chunk_size: cs,
            n_chunks: n,
            ctype,
            table: ChunkTable::Loaded(starts),
            cache,
            cache_id,
            res_offset: res.offset,
            src,
        })
    }

    /// Uncompressed size.
    pub fn uncompressed_size(&self) -> u64 {
        self.usize
    }

    /// Compression of the chunks.
    pub fn compression(&self) -> Compression {
        self.ctype
    }

    /// Chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size as u32
    }

    fn chunk_len(&self, k: u64) -> u64 {
        if k + 1 == self.n_chunks {
            self.usize - k * self.chunk_size
        } else {
            self.chunk_size
        }
    }

    /// (start, end) of chunk `k`'s stored bytes relative to `data_offset`, validated.
    fn chunk_span(&self, k: u64) -> Result<(u64, u64)> {
        let (start, end) = match &self.table {
            ChunkTable::Loaded(starts) => {
                let s = starts.get(k as usize).copied();
                let e = starts.get(k as usize + 1).copied();
                match (s, e) {
                    (Some(s), Some(e)) => (s, e),
                    _ => return Err(bad(self.res_offset, format!("chunk {k} out of range"))),
                }
            }
            ChunkTable::Offsets {
                table_offset,
                entry_size,
            } => {
                let read_entry = |i: u64| -> Result<u64> {
                    let mut b = [0u8; 8];
                    let es = *entry_size as usize;
                    self.src
                        .read_at(table_offset + i * entry_size, &mut b[..es])?;
                    Ok(u64::from_le_bytes(b))
                };
                let s = if k == 0 { 0 } else { read_entry(k - 1)? };
                let e = if k + 1 == self.n_chunks {
                    self.data_size
                } else {
                    read_entry(k)?
                };
                (s, e)
            }
        };
        self.check_span(k, start, end)?;
        Ok((start, end))
    }

    /// Chunk `k`'s stored bytes `start..end` must lie in the data and be no longer than its output.
    fn check_span(&self, k: u64, start: u64, end: u64) -> Result<()> {
        let ulen = self.chunk_len(k);
        if start > end || end > self.data_size || end - start > ulen || (end == start && ulen > 0) {
            return Err(bad(
                self.res_offset,
                format!(
                    "chunk {k} occupies {start}..{end} of {} data bytes for {ulen} uncompressed bytes",
                    self.data_size
                ),
            ));
        }
        Ok(())
    }

    /// Start offsets (relative to `data_offset`) of chunks `k0..=k0 + count`, the last one being
    /// the end of chunk `k0 + count - 1`; a non-solid table is read with one read for the run.
    fn run_bounds(&self, k0: u64, count: u64, bounds: &mut Vec<u64>) -> Result<()> {
        bounds.clear();
        match &self.table {
            ChunkTable::Loaded(starts) => {
                let run = starts
                    .get(k0 as usize..=(k0 + count) as usize)
                    .ok_or_else(|| bad(self.res_offset, format!("chunk {k0} out of range")))?;
                bounds.extend_from_slice(run);
            }
            ChunkTable::Offsets {
                table_offset,
                entry_size,
            } => {
                // Entry i holds the start of chunk i + 1; chunk 0 starts at 0 and the last chunk
                // ends at the end of the data.
                let first = k0.max(1);
                let last = (k0 + count).min(self.n_chunks - 1);
                if k0 == 0 {
                    bounds.push(0);
                }
                if last >= first {
                    let es = *entry_size as usize;
                    let mut raw = [0u8; 8 * (RUN_CHUNKS as usize + 1)];
                    let raw = &mut raw[..(last - first + 1) as usize * es];
                    self.src
                        .read_at(table_offset + (first - 1) * entry_size, raw)?;
                    for e in raw.chunks_exact(es) {
                        let mut b = [0u8; 8];
                        b[..es].copy_from_slice(e);
                        bounds.push(u64::from_le_bytes(b));
                    }
                }
                if k0 + count == self.n_chunks {
                    bounds.push(self.data_size);
                }
            }
        }
        for (i, w) in bounds.windows(2).enumerate() {
            self.check_span(k0 + i as u64, w[0], w[1])?;
        }
        Ok(())
    }

    /// Decode whole chunks `k0..` straight into `out` (which starts at chunk `k0` and ends on a
    /// chunk boundary or the resource end): one read for their table entries, one for their
    /// stored bytes, no copy through the cache. Returns how many bytes of `out` were filled.
    fn decode_run(&self, k0: u64, out: &mut [u8]) -> Result<usize> {
        let mut count = 0u64;
        let mut filled = 0usize;
        while k0 + count < self.n_chunks && count < RUN_CHUNKS {
            let ulen = self.chunk_len(k0 + count) as usize;
            if filled + ulen > out.len() || (count > 0 && filled + ulen > RUN_BYTES) {
                break;
            }
            filled += ulen;
            count += 1;
        }
        let cache = &*self.cache;
        let mut st = cache.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *st;
        let mut bounds = std::mem::take(&mut st.bounds);
        self.run_bounds(k0, count, &mut bounds)?;
        let (first, last) = (bounds[0], bounds[count as usize]);
        let clen = (last - first) as usize;
        st.scratch.resize(clen, 0);
        self.src
            .read_at(self.data_offset + first, &mut st.scratch[..clen])?;
        if st.decoder.as_ref().is_none_or(|d| d.0 != self.ctype) {
            st.decoder = Some((self.ctype, Decoder::new(self.ctype)));
        }
        let Some((_, decoder)) = st.decoder.as_mut() else {
            return Err(Error::unsupported("WIM resource", "no decoder"));
        };
        let mut at = 0usize;
        for (i, w) in bounds.windows(2).enumerate() {
            let k = k0 + i as u64;
            let ulen = self.chunk_len(k) as usize;
            let input = &st.scratch[(w[0] - first) as usize..(w[1] - first) as usize];
            let dst = &mut out[at..at + ulen];
            if input.len() == ulen {
                dst.copy_from_slice(input);
            } else {
                decoder
                    .decompress(input, dst)
                    .map_err(|e| self.locate(k, e))?;
            }
            at += ulen;
        }
        st.bounds = bounds;
        Ok(filled)
    }

    /// Name the chunk and resource in a codec error.
    fn locate(&self, k: u64, e: Error) -> Error {
        match e {
            Error::Codec { codec, reason } => Error::Codec {
                codec,
                reason: format!(
                    "chunk {k} of the resource at file offset {}: {reason}",
                    self.res_offset
                ),
            },
            other => other,
        }
    }

    /// Copy uncompressed bytes `offset..offset+buf.len()` of the resource into `buf`.
    fn read_uncompressed(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range("WIM resource read", offset, buf.len() as u64, self.usize)?;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let k = pos / self.chunk_size;
            let within = pos % self.chunk_size;
            let ulen = self.chunk_len(k);
            if within == 0 && ulen as usize <= buf.len() - done {
                // Whole chunks wanted: decode them in place, in runs.
                done += self.decode_run(k, &mut buf[done..])?;
                continue;
            }
            let n = ((ulen - within) as usize).min(buf.len() - done);
            let (start, end) = self.chunk_span(k)?;
            let out = &mut buf[done..done + n];
            if end - start == ulen {
                // Stored raw: read just the needed bytes, no decode, no cache.
                self.src.read_at(self.data_offset + start + within, out)?;
            } else {
                self.with_chunk(k, start, end, ulen, |c| {
                    out.copy_from_slice(&c[within as usize..within as usize + n])
                })?;
            }
            done += n;
        }
        Ok(())
    }

    fn with_chunk(
        &self,
        k: u64,
        start: u64,
        end: u64,
        ulen: u64,
        f: impl FnOnce(&[u8]),
    ) -> Result<()> {
        let cache = &*self.cache;
        let mut st = cache.state.lock().unwrap_or_else(|p| p.into_inner());
        st.tick += 1;
        let tick = st.tick;
        let id = self.cache_id;
        if let Some(e) = st.chunks.iter_mut().find(|c| c.0 == id && c.1 == k) {
            e.2 = tick;
            f(&e.3);
            return Ok(());
        }
        let st = &mut *st;
        let clen = (end - start) as usize;
        st.scratch.resize(clen, 0);
        self.src
            .read_at(self.data_offset + start, &mut st.scratch[..clen])?;
        // Reuse the evicted buffer when the cache is full.
        let mut out = if st.chunks.len() >= cache.capacity {
            let pos = st
                .chunks
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.2)
                .map(|(i, _)| i)
                .unwrap_or(0);
            st.chunks.swap_remove(pos).3
        } else {
            Vec::new()
        };
        out.clear();
        out.resize(ulen as usize, 0);
        if st.decoder.as_ref().is_none_or(|d| d.0 != self.ctype) {
            st.decoder = Some((self.ctype, Decoder::new(self.ctype)));
        }
        let Some((_, decoder)) = st.decoder.as_mut() else {
            return Err(Error::unsupported("WIM", "no decoder"));
        };
        decoder
            .decompress(&st.scratch[..clen], &mut out)
            .map_err(|e| self.locate(k, e))?;
        f(&out);
        st.chunks.push((id, k, tick, out));
        Ok(())
    }
}

impl ReadAt for ChunkedResource {
    fn size(&self) -> u64 {
        self.usize
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.read_uncompressed(offset, buf)
    }
}

enum Inner {
    Empty,
    Stored {
        src: SharedReader,
        offset: u64,
    },
    Chunked {
        res: Arc<ChunkedResource>,
        offset: u64,
    },
}

/// The uncompressed bytes of one blob, readable at any offset (`ReadAt`); cheap to clone.
///
/// Wrap it in an `Arc` to use it as a [`SharedReader`], e.g. to open a WIM stored inside a WIM.
#[derive(Clone)]
pub struct BlobReader {
    inner: Arc<Inner>,
    size: u64,
}

impl BlobReader {
    /// A reader of zero bytes (empty streams).
    pub fn empty() -> Self {
        BlobReader {
            inner: Arc::new(Inner::Empty),
            size: 0,
        }
    }

    /// Bytes stored as-is at `offset` in `src`.
    pub(crate) fn stored(src: SharedReader, offset: u64, size: u64) -> Result<Self> {
        check_range("WIM stored resource", offset, size, src.size())?;
        Ok(BlobReader {
            inner: Arc::new(Inner::Stored { src, offset }),
            size,
        })
    }

    /// `size` bytes at uncompressed `offset` of a chunked or solid resource.
    pub(crate) fn chunked(res: Arc<ChunkedResource>, offset: u64, size: u64) -> Result<Self> {
        check_range(
            "WIM blob in resource",
            offset,
            size,
            res.uncompressed_size(),
        )?;
        Ok(BlobReader {
            inner: Arc::new(Inner::Chunked { res, offset }),
            size,
        })
    }
}

impl ReadAt for BlobReader {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range("WIM blob read", offset, buf.len() as u64, self.size)?;
        if buf.is_empty() {
            return Ok(());
        }
        match &*self.inner {
            Inner::Empty => Ok(()),
            Inner::Stored { src, offset: base } => src.read_at(base + offset, buf),
            Inner::Chunked { res, offset: base } => res.read_at(base + offset, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SliceSource;

    #[test]
    fn raw_chunks_and_bad_tables() {
        // Three "compressed" chunks of 4096 that are all stored raw (csize == usize).
        let usize = 4096 * 2 + 100;
        let data: Vec<u8> = (0..usize).map(|i| (i * 31 % 251) as u8).collect();
        let mut file = Vec::new();
        file.extend_from_slice(&4096u32.to_le_bytes());
        file.extend_from_slice(&8192u32.to_le_bytes());
        file.extend_from_slice(&data);
        let src: SharedReader = Arc::new(SliceSource::new(file.clone()));
        let res = ResHdr {
            size_in_wim: file.len() as u64,
            flags: 4,
            offset: 0,
            uncompressed_size: usize as u64,
        };
        let r = ChunkedResource::chunked(src.clone(), &res, Compression::Lzx, 4096).unwrap();
        let mut b = vec![0u8; 4000];
        r.read_at(4000, &mut b).unwrap();
        assert_eq!(&b[..], &data[4000..8000]);
        assert!(r.read_at(usize as u64 - 10, &mut b).is_err());

        // Whole chunks go through the in-place run path; a read starting mid-chunk mixes both.
        let mut whole = vec![0u8; usize];
        r.read_at(0, &mut whole).unwrap();
        assert_eq!(whole, data);
        let mut tail = vec![0u8; usize - 100];
        r.read_at(100, &mut tail).unwrap();
        assert_eq!(&tail[..], &data[100..]);

        // A table entry pointing backwards is malformed, through either path.
        let mut broken = file.clone();
        broken[4..8].copy_from_slice(&10u32.to_le_bytes());
        let src: SharedReader = Arc::new(SliceSource::new(broken));
        let r = ChunkedResource::chunked(src, &res, Compression::Lzx, 4096).unwrap();
        assert!(r.read_at(4000, &mut b).is_err());
        assert!(r.read_at(0, &mut whole).is_err());
        // An entry past the data is malformed too.
        let mut past = file.clone();
        past[4..8].copy_from_slice(&(usize as u32 + 1000).to_le_bytes());
        let src: SharedReader = Arc::new(SliceSource::new(past));
        let r = ChunkedResource::chunked(src, &res, Compression::Lzx, 4096).unwrap();
        assert!(r.read_at(0, &mut whole).is_err());
    }
}
