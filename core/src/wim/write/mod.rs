//! The WIM writer (the "rebuild" path of formats.md §2.6): blobs and image trees in, a complete
//! standalone WIM out.
//!
//! Order on disk: header (written first with WRITE_IN_PROGRESS, so an interrupted file is refused by
//! every reader), file and metadata resources, blob table, XML, optional integrity table, and finally
//! the real header. Blobs are deduplicated by SHA-1; resources from a source WIM with the same
//! compression and chunk size are copied byte for byte instead of being recompressed. Output is a
//! pure function of the inputs: the caller supplies the GUID and every timestamp.

#[cfg(not(target_arch = "wasm32"))]
mod atomic;
mod from_wim;
mod integrity;
mod options;
mod resource;

use std::collections::HashMap;

#[cfg(not(target_arch = "wasm32"))]
pub use atomic::{write_wim_file, write_wim_file_checked};
pub use integrity::INTEGRITY_CHUNK;
pub use options::WriteOptions;
pub use resource::chunk_entry_size;

use crate::codec::parallel::{ChunkCompressor, ChunkOut};
use crate::codec::Compression;
use crate::io::{check_range, NoProgress, Progress, ReadAt, WriteAt};
use crate::wim::format::{
    flags, resflags, BlobEntry, Header, ResHdr, HEADER_SIZE, MAGIC, VERSION_DEFAULT, VERSION_SOLID,
};
use crate::wim::meta_write::{for_each_stream_ref, image_stats, serialize_metadata, ImageStats};
use crate::wim::model::{Hash, ImageTree, ZERO_HASH};
use crate::wim::read::CopiedResource;
use crate::wim::xml_write::{wim_xml_bytes, ImageXml};
use crate::{Error, Result};
use resource::{BorrowedSource, COPY_PIECE};

/// What [`WimWriter::finish`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// The final header as written.
    pub header: Header,
    /// Size of the output in bytes.
    pub file_size: u64,
    /// Blob-table entries for file data (metadata excluded).
    pub blobs: u64,
    /// Blobs whose resources were copied without recompression.
    pub raw_copied_blobs: u64,
    /// Bytes copied without recompression.
    pub raw_copied_bytes: u64,
    /// Blobs written but referenced by no image (left out of the blob table).
    pub unreferenced_blobs: u64,
    /// Counts of each image, in image order.
    pub images: Vec<ImageStats>,
    /// Every raw-copied resource with the CRC-32 of the bytes read from the source, for
    /// [`crate::wim::Wim::verify_blobs_copied`].
    pub copied: HashMap<Hash, CopiedResource>,
}

struct ImageRec {
    res: ResHdr,
    hash: Hash,
    xml: ImageXml,
    stats: ImageStats,
}

/// Streams blobs and images into a new WIM. See the module docs.
pub struct WimWriter<W: WriteAt> {
    sink: W,
    opts: WriteOptions,
    /// Next write offset.
    pos: u64,
    /// End of the furthest byte ever written (a stored fallback can leave bytes past `pos`).
    high_water: u64,
    blobs: HashMap<Hash, ResHdr>,
    /// Blob hashes in the order they were written (the blob table order, for determinism).
    order: Vec<Hash>,
    refcnt: HashMap<Hash, u32>,
    images: Vec<ImageRec>,
    compressor: ChunkCompressor,
    buf_in: Vec<u8>,
    outs: Vec<ChunkOut>,
    raw_copied_blobs: u64,
    raw_copied_bytes: u64,
    copied: HashMap<Hash, CopiedResource>,
    /// Bytes not yet handed to the sink, to be written at `pending_at` (see `put`).
    pending: Vec<u8>,
    pending_at: u64,
}

/// Most bytes gathered into one sink write.
const WRITE_BATCH: usize = 8 << 20;

/// Bytes per read when a resource is copied as stored: a large resource goes in a few large reads
/// and writes (one piece of this size is written straight through, not gathered).
const RAW_PIECE: usize = WRITE_BATCH;

impl<W: WriteAt> WimWriter<W> {
    /// Start a WIM in `sink`: writes a header marked WRITE_IN_PROGRESS.
    pub fn new(sink: W, opts: WriteOptions) -> Result<Self> {
        opts.validate()?;
        let mut w = WimWriter {
            sink,
            compressor: match &opts.backend {
                Some(b) => ChunkCompressor::with_backend(opts.compression, opts.effort, b.clone()),
                None => ChunkCompressor::with_effort(opts.compression, opts.threads, opts.effort),
            },
            opts,
            pos: HEADER_SIZE as u64,
            high_water: HEADER_SIZE as u64,
            blobs: HashMap::new(),
            order: Vec::new(),
            refcnt: HashMap::new(),
            images: Vec::new(),
            buf_in: Vec::new(),
            outs: Vec::new(),
            raw_copied_blobs: 0,
            raw_copied_bytes: 0,
            copied: HashMap::new(),
            pending: Vec::new(),
            pending_at: 0,
        };
        let mut h = w.header(0);
        h.flags |= flags::WRITE_IN_PROGRESS;
        w.put(0, &h.to_bytes())?;
        Ok(w)
    }

    fn header(&self, image_count: u32) -> Header {
        Header {
            magic: *MAGIC,
            version: if self.opts.version_solid {
                VERSION_SOLID
            } else {
                VERSION_DEFAULT
            },
            flags: self.opts.header_flags(),
            chunk_size: if self.opts.compression == Compression::None {
                0
            } else {
                self.opts.chunk_size
            },
            guid: self.opts.guid,
            part_number: 1,
            total_parts: 1,
            image_count,
            blob_table: ResHdr::default(),
            xml: ResHdr::default(),
            boot_metadata: ResHdr::default(),
            boot_index: 0,
            integrity: ResHdr::default(),
        }
    }

    /// Write `data` at `offset` and track the furthest byte written. Writes that continue the
    /// previous one are gathered up to [`WRITE_BATCH`] bytes: an image's small resources then
    /// reach the sink in a few large writes (each write to an OPFS file is a call out of wasm).
    fn put(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let end = self.pending_at + self.pending.len() as u64;
        if self.pending.is_empty() || offset != end || self.pending.len() + data.len() > WRITE_BATCH
        {
            self.flush_pending()?;
            self.pending_at = offset;
        }
        if data.len() >= WRITE_BATCH {
            self.sink.write_at(offset, data)?;
        } else {
            self.pending.extend_from_slice(data);
        }
        self.high_water = self.high_water.max(offset + data.len() as u64);
        Ok(())
    }

    /// Hand the gathered bytes to the sink (before it is read back or flushed).
    fn flush_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.sink.write_at(self.pending_at, &self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// True when a blob with this hash is already in the output (the empty stream always is).
    pub fn has_blob(&self, hash: &Hash) -> bool {
        *hash == ZERO_HASH || self.blobs.contains_key(hash)
    }

    /// Size of a blob already in the output.
    pub fn blob_size(&self, hash: &Hash) -> Option<u64> {
        if *hash == ZERO_HASH {
            return Some(0);
        }
        self.blobs.get(hash).map(|r| r.uncompressed_size)
    }

    fn record_blob(&mut self, hash: Hash, res: ResHdr) {
        self.blobs.insert(hash, res);
        self.order.push(hash);
    }

    /// Add a blob held in memory; returns its SHA-1 (all zeros for empty data, which is not stored).
    pub fn add_blob(&mut self, data: &[u8]) -> Result<Hash> {
        if data.is_empty() {
            return Ok(ZERO_HASH);
        }
        let hash = crate::hash::sha1(data);
        if self.has_blob(&hash) {
            return Ok(hash);
        }
        let w = self.write_resource(&BorrowedSource(data), &NoProgress)?;
        self.record_blob(hash, w.res);
        Ok(hash)
    }

    /// Add several blobs held in memory; returns their SHA-1s in order. The chunks of all of them
    /// are compressed in one parallel run, so many small blobs (a package's payloads) use every
    /// thread; the bytes written are the same as adding them one by one with [`WimWriter::add_blob`].
    /// Callers bound memory by the batch they pass.
    pub fn add_blobs(&mut self, blobs: &[&[u8]]) -> Result<Vec<Hash>> {
        let hashes: Vec<Hash> = blobs
            .iter()
            .map(|d| {
                if d.is_empty() {
                    ZERO_HASH
                } else {
                    crate::hash::sha1(d)
                }
            })
            .collect();
        // The first occurrence of each new blob, in order.
        let mut fresh: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (k, h) in hashes.iter().enumerate() {
            if !self.has_blob(h) && seen.insert(*h) {
                fresh.push(k);
            }
        }
        if self.opts.compression == Compression::None {
            for &k in &fresh {
                self.add_blob(blobs[k])?;
            }
            return Ok(hashes);
        }
        let cs = self.opts.chunk_size as usize;
        let chunks: Vec<&[u8]> = fresh.iter().flat_map(|&k| blobs[k].chunks(cs)).collect();
        let mut outs = std::mem::take(&mut self.outs);
        self.compressor.compress(&chunks, &mut outs);
        let mut first = 0;
        let r: Result<()> = (|| {
            for &k in &fresh {
                let n = blobs[k].len().div_ceil(cs);
                let start = self.pos;
                let w = self.place_chunks(
                    blobs[k],
                    hashes[k],
                    &chunks[first..first + n],
                    &outs[first..first + n],
                );
                let w = match w {
                    Ok(w) => w,
                    Err(e) => {
                        self.pos = start;
                        return Err(e);
                    }
                };
                self.pos = w.res.offset + w.res.size_in_wim;
                self.record_blob(hashes[k], w.res);
                first += n;
            }
            Ok(())
        })();
        self.outs = outs;
        r?;
        Ok(hashes)
    }

    /// Add a blob read from `src` in chunk-size pieces (memory stays bounded whatever its size).
    /// With `expected`, a blob already present is skipped without reading, and a hash mismatch is
    /// an error (nothing is added).
    pub fn add_blob_from(
        &mut self,
        src: &dyn ReadAt,
        expected: Option<Hash>,
        progress: &dyn Progress,
    ) -> Result<Hash> {
        if src.size() == 0 {
            return match expected {
                Some(h) if h != ZERO_HASH => Err(digest_error(&h, &ZERO_HASH)),
                _ => Ok(ZERO_HASH),
            };
        }
        if let Some(h) = expected {
            if self.has_blob(&h) {
                return Ok(h);
            }
        }
        let start = self.pos;
        let w = self.write_resource(src, progress)?;
        if let Some(h) = expected {
            if h != w.hash {
                self.pos = start;
                return Err(digest_error(&h, &w.hash));
            }
        }
        if self.has_blob(&w.hash) {
            // Written for nothing: give the space back.
            self.pos = start;
            return Ok(w.hash);
        }
        self.record_blob(w.hash, w.res);
        Ok(w.hash)
    }

    /// Copy a resource of a source WIM part byte for byte. Returns `false` (nothing written) when
    /// it cannot be reused as is: solid, spanned or metadata resources, or a compressed resource
    /// whose compression type or chunk size differs from this WIM's; the caller then re-adds the
    /// data. An uncompressed source resource is always copied, and verified against `hash`.
    pub fn add_raw_resource(
        &mut self,
        hash: Hash,
        src: &dyn ReadAt,
        res: ResHdr,
        src_compression: Compression,
        src_chunk_size: u32,
    ) -> Result<bool> {
        if self.has_blob(&hash) {
            return Ok(true);
        }
        if res.flags & (resflags::SOLID | resflags::SPANNED | resflags::METADATA) != 0 {
            return Ok(false);
        }
        check_range("WIM resource", res.offset, res.size_in_wim, src.size())?;
        let compressed = res.flags & resflags::COMPRESSED != 0;
        if compressed {
            if self.opts.compression == Compression::None
                || src_compression != self.opts.compression
                || src_chunk_size != self.opts.chunk_size
            {
                return Ok(false);
            }
            let n = res.uncompressed_size.div_ceil(src_chunk_size.max(1) as u64);
            let table = n.saturating_sub(1) * chunk_entry_size(res.uncompressed_size);
            if res.uncompressed_size == 0 || res.size_in_wim < table {
                return Err(Error::malformed(
                    "WIM resource",
                    res.offset,
                    format!(
                        "compressed resource of {} bytes cannot hold {} bytes in {n} chunks",
                        res.size_in_wim, res.uncompressed_size
                    ),
                ));
            }
        } else if res.size_in_wim != res.uncompressed_size {
            return Err(Error::malformed(
                "WIM resource",
                res.offset,
                format!(
                    "uncompressed resource with size {} in the file but {} uncompressed",
                    res.size_in_wim, res.uncompressed_size
                ),
            ));
        }
        let start = self.pos;
        let mut sha = (!compressed).then(<sha1::Sha1 as sha1::Digest>::new);
        // The CRC of the bytes as read lets the read-back check the copy without decoding it.
        let mut crc = crc32fast::Hasher::new();
        let mut buf = std::mem::take(&mut self.buf_in);
        buf.resize(RAW_PIECE.min(res.size_in_wim as usize), 0);
        let mut off = 0u64;
        let r: Result<()> = (|| {
            while off < res.size_in_wim {
                let n = (res.size_in_wim - off).min(RAW_PIECE as u64) as usize;
                src.read_at(res.offset + off, &mut buf[..n])?;
                if let Some(s) = sha.as_mut() {
                    sha1::Digest::update(s, &buf[..n]);
                }
                crc.update(&buf[..n]);
                self.put(start + off, &buf[..n])?;
                off += n as u64;
            }
            Ok(())
        })();
        self.buf_in = buf;
        r?;
        if let Some(s) = sha {
            let got: Hash = sha1::Digest::finalize(s).into();
            if got != hash {
                return Err(digest_error(&hash, &got));
            }
        }
        self.pos = start + res.size_in_wim;
        let flags = res.flags & resflags::COMPRESSED;
        self.record_blob(
            hash,
            ResHdr {
                size_in_wim: res.size_in_wim,
                flags,
                offset: start,
                uncompressed_size: res.uncompressed_size,
            },
        );
        self.copied.insert(
            hash,
            CopiedResource {
                size_in_wim: res.size_in_wim,
                uncompressed_size: res.uncompressed_size,
                flags,
                crc32: crc.finalize(),
            },
        );
        self.raw_copied_blobs += 1;
        self.raw_copied_bytes += res.size_in_wim;
        Ok(true)
    }

    /// Add an image: its metadata resource is written now (compressed like blobs); every blob the
    /// tree references must already be in the output.
    pub fn add_image(&mut self, tree: &ImageTree, xml: ImageXml) -> Result<()> {
        let mut missing = None;
        for_each_stream_ref(tree, |h| {
            if missing.is_none() && !self.has_blob(h) {
                missing = Some(*h);
            }
        });
        if let Some(h) = missing {
            return Err(Error::invalid(
                "WIM writer",
                format!(
                    "image {} references blob {} which was not added to the WIM",
                    self.images.len() + 1,
                    crate::hash::hex(&h)
                ),
            ));
        }
        if self.images.len() >= u32::MAX as usize {
            return Err(Error::limit(
                self.images.len() + 1,
                u32::MAX,
                "too many images",
            ));
        }
        let meta = serialize_metadata(tree)?;
        let w = self.write_resource(&BorrowedSource(&meta), &NoProgress)?;
        let mut res = w.res;
        res.flags |= resflags::METADATA;
        let blobs = &self.blobs;
        let stats = image_stats(tree, &|h| blobs.get(h).map_or(0, |r| r.uncompressed_size));
        for_each_stream_ref(tree, |h| {
            let c = self.refcnt.entry(*h).or_insert(0);
            *c = c.saturating_add(1);
        });
        let mut xml = xml;
        xml.apply_stats(self.images.len() + 1, &stats);
        self.images.push(ImageRec {
            res,
            hash: w.hash,
            xml,
            stats,
        });
        Ok(())
    }

    /// Number of images added so far.
    pub fn image_count(&self) -> usize {
        self.images.len()
    }

    /// Write the blob table, XML and optional integrity table, then the final header.
    pub fn finish(self) -> Result<WriteSummary> {
        self.finish_into_sink().map(|(s, _)| s)
    }

    /// Like [`WimWriter::finish`], also handing back the sink (to sync and rename a file).
    pub fn finish_into_sink(mut self) -> Result<(WriteSummary, W)> {
        let image_count = self.images.len() as u32;
        if self.opts.boot_index > image_count {
            return Err(Error::invalid(
                "WIM writer",
                format!(
                    "boot index {} but only {image_count} images",
                    self.opts.boot_index
                ),
            ));
        }
        // Zero the tail a stored-fallback resource may have left past the last resource.
        if self.high_water > self.pos {
            let gap = vec![0u8; (self.high_water - self.pos).min(COPY_PIECE as u64) as usize];
            let mut off = self.pos;
            while off < self.high_water {
                let n = (self.high_water - off).min(gap.len() as u64) as usize;
                self.put(off, &gap[..n])?;
                off += n as u64;
            }
            self.pos = self.high_water;
        }

        // Blob table: metadata entries in image order, then file blobs in write order.
        let mut table = Vec::new();
        for img in &self.images {
            table.extend_from_slice(
                &BlobEntry {
                    res: img.res,
                    part_number: 1,
                    refcnt: 1,
                    hash: img.hash,
                }
                .to_bytes(),
            );
        }
        let mut blobs = 0u64;
        let mut unreferenced = 0u64;
        for h in &self.order {
            let Some(&refcnt) = self.refcnt.get(h) else {
                unreferenced += 1;
                continue;
            };
            blobs += 1;
            table.extend_from_slice(
                &BlobEntry {
                    res: self.blobs[h],
                    part_number: 1,
                    refcnt,
                    hash: *h,
                }
                .to_bytes(),
            );
        }
        let table_res = self.put_table(&table)?;

        let xml_offset = self.pos;
        let xml_images: Vec<ImageXml> = self.images.iter().map(|i| i.xml.clone()).collect();
        let xml = wim_xml_bytes(&xml_images, xml_offset);
        let xml_res = self.put_table(&xml)?;

        let mut header = self.header(image_count);
        header.blob_table = table_res;
        header.xml = xml_res;
        header.boot_index = self.opts.boot_index;
        if self.opts.boot_index > 0 {
            header.boot_metadata = self.images[self.opts.boot_index as usize - 1].res;
        }
        if self.opts.integrity {
            let end = table_res.offset + table_res.size_in_wim;
            self.flush_pending()?;
            let it = integrity::integrity_table(&mut self.sink, end)?;
            let off = self.pos;
            self.put(off, &it)?;
            self.pos += it.len() as u64;
            header.integrity = ResHdr {
                size_in_wim: it.len() as u64,
                flags: 0,
                offset: off,
                uncompressed_size: it.len() as u64,
            };
        }
        self.put(0, &header.to_bytes())?;
        self.flush_pending()?;
        self.sink.flush()?;
        let summary = WriteSummary {
            header,
            file_size: self.pos,
            blobs,
            raw_copied_blobs: self.raw_copied_blobs,
            raw_copied_bytes: self.raw_copied_bytes,
            unreferenced_blobs: unreferenced,
            images: self.images.iter().map(|i| i.stats).collect(),
            copied: std::mem::take(&mut self.copied),
        };
        Ok((summary, self.sink))
    }

    /// Write an uncompressed table-like resource (blob table, XML) the way wimlib flags them.
    fn put_table(&mut self, data: &[u8]) -> Result<ResHdr> {
        let off = self.pos;
        self.put(off, data)?;
        self.pos += data.len() as u64;
        Ok(ResHdr {
            size_in_wim: data.len() as u64,
            flags: resflags::METADATA,
            offset: off,
            uncompressed_size: data.len() as u64,
        })
    }
}

fn digest_error(expected: &Hash, actual: &Hash) -> Error {
    Error::DigestMismatch {
        what: "WIM blob".into(),
        expected: crate::hash::hex(expected),
        actual: crate::hash::hex(actual),
    }
}
