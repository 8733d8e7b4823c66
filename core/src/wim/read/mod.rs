//! Reading WIM, ESD and split WIM (SWM) files.
//!
//! [`Wim::open`] reads the header, blob table and XML eagerly (small) and nothing else: image trees
//! are decoded on request ([`Wim::image_tree`]) and blob bytes are read lazily through
//! [`BlobReader`]s, so opening a multi-GiB install.esd in a browser tab touches a few KiB.
//! All parsing of untrusted lengths goes through bounded reads; see the submodules.

mod integrity;
mod resource;
mod table;

pub use resource::{BlobReader, ChunkCache, ChunkedResource};
pub use table::{BlobInfo, BlobLocation};

use crate::codec::Compression;
use crate::error::SplitSetProblem;
use crate::hash::hex;
use crate::io::{read_vec, Progress, ReadAt, SharedReader};
use crate::wim::format::{Header, HEADER_SIZE};
use crate::wim::meta_read::parse_metadata;
use crate::wim::model::{Dentry, Hash, ImageTree, ZERO_HASH};
use crate::wim::xml::{decode_utf16le, parse_images, ImageInfo, MAX_XML_BYTES};
use crate::{Error, Result};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::Arc;
use table::{parse_table, SolidResource, MAX_BLOB_TABLE};

/// Largest metadata resource accepted (a full Windows 11 install image is ~100–200 MiB).
pub const MAX_METADATA_BYTES: u64 = 1 << 30;
/// Bytes read per step when streaming a blob.
const COPY_PIECE: usize = 1 << 20;

struct Part {
    src: SharedReader,
    header: Header,
    compression: Compression,
}

/// An opened WIM (or complete split set). `Send + Sync`; share it behind an `Arc`.
pub struct Wim {
    parts: Vec<Part>,
    xml: String,
    images: Vec<ImageInfo>,
    metadata: Vec<BlobInfo>,
    blobs: Vec<BlobInfo>,
    by_hash: HashMap<Hash, usize>,
    solids: Vec<SolidResource>,
}

/// Everything the writer needs to copy a blob's stored bytes without recompressing them.
#[derive(Clone)]
pub struct RawResource {
    /// The reader of the part that holds the resource.
    pub reader: SharedReader,
    /// The resource header: for a solid blob, the whole solid resource's (flags, offset, stored size;
    /// its `uncompressed_size` is the solid marker).
    pub reshdr: crate::wim::format::ResHdr,
    /// Compression of the chunks.
    pub compression: Compression,
    /// Chunk size of the resource.
    pub chunk_size: u32,
    /// True when the blob lives in a solid resource.
    pub solid: bool,
    /// For solid blobs: index of the solid resource (blobs sharing it are copied together).
    pub solid_resource: Option<usize>,
    /// For solid blobs: offset of the blob in the resource's uncompressed data (0 otherwise).
    pub offset_in_resource: u64,
    /// Uncompressed size of the blob.
    pub size: u64,
    /// 1-based part number.
    pub part: u16,
}

/// A resource the writer copied byte for byte from another WIM, as the writer saw it: its header
/// fields (offset aside) and the CRC-32 of the stored bytes it read. [`Wim::verify_blobs_copied`]
/// checks such a blob by comparing its stored bytes with these instead of decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedResource {
    /// Stored (compressed) size.
    pub size_in_wim: u64,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// Resource flags as written (compressed or not).
    pub flags: u8,
    /// CRC-32 (IEEE) of the stored bytes read from the source.
    pub crc32: u32,
}

/// Result of [`Wim::verify_blobs`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Blobs whose SHA-1 matched.
    pub ok: u64,
    /// Uncompressed bytes checked.
    pub bytes: u64,
    /// `(hex SHA-1, error message)` of every blob that failed to read or did not match.
    pub failures: Vec<(String, String)>,
}

fn read_header(src: &SharedReader) -> Result<Header> {
    let size = src.size();
    if size < HEADER_SIZE as u64 {
        return Err(Error::Truncated {
            structure: "WIM header",
            offset: 0,
            end: HEADER_SIZE as u64,
            size,
        });
    }
    let mut b = [0u8; HEADER_SIZE];
    src.read_at(0, &mut b)?;
    Header::parse(&b, size)
}

/// Read a small whole resource (blob table, XML) that may in principle be compressed.
fn read_small_resource(
    part: &Part,
    res: &crate::wim::format::ResHdr,
    structure: &'static str,
    limit: u64,
) -> Result<Vec<u8>> {
    if res.uncompressed_size > limit {
        return Err(Error::limit(
            res.uncompressed_size,
            limit,
            format!(
                "{structure} of {} bytes (limit {limit})",
                res.uncompressed_size
            ),
        ));
    }
    if !res.is_compressed() {
        return read_vec(&*part.src, structure, res.offset, res.size_in_wim, limit);
    }
    let r = ChunkedResource::chunked(
        part.src.clone(),
        res,
        part.compression,
        part.header.chunk_size,
    )?;
    read_growing(&r, res.uncompressed_size, limit, structure)
}

/// Read `size` bytes from the start of `r`, growing the buffer piece by piece so that a size field
/// that lies (a tiny compressed resource claiming a huge size) fails at the first bad chunk rather
/// than after a huge allocation.
fn read_growing(r: &dyn ReadAt, size: u64, limit: u64, structure: &str) -> Result<Vec<u8>> {
    if size > limit || size > r.size() {
        return Err(Error::limit(
            size,
            limit.min(r.size()),
            format!(
                "{structure} of {size} bytes (limit {limit}, readable {})",
                r.size()
            ),
        ));
    }
    let mut v = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let n = (size - pos).min(COPY_PIECE as u64) as usize;
        let at = v.len();
        v.resize(at + n, 0);
        r.read_at(pos, &mut v[at..])?;
        pos += n as u64;
    }
    Ok(v)
}

impl Wim {
    /// Open a standalone WIM or ESD. A part of a split set is refused with the missing parts named.
    pub fn open(src: SharedReader) -> Result<Wim> {
        let header = read_header(&src)?;
        if header.total_parts > 1 {
            return Err(Error::SplitSet(SplitSetProblem::LonePart {
                part: header.part_number,
                total: header.total_parts,
                missing: (1..=header.total_parts)
                    .filter(|&p| p != header.part_number)
                    .collect(),
            }));
        }
        Self::build(vec![(src, header)])
    }

    /// Open every part of a split set (.swm), given in any order. All parts must share the GUID and
    /// the set must be complete.
    pub fn open_split(parts: Vec<SharedReader>) -> Result<Wim> {
        if parts.is_empty() {
            return Err(Error::invalid("split WIM", "no split WIM parts given"));
        }
        let mut opened: Vec<(SharedReader, Header)> = Vec::with_capacity(parts.len());
        for src in parts {
            let h = read_header(&src)?;
            opened.push((src, h));
        }
        let total = opened[0].1.total_parts;
        let guid = opened[0].1.guid;
        for (_, h) in &opened {
            if h.guid != guid {
                return Err(Error::SplitSet(SplitSetProblem::DifferentSets {
                    first: hex(&guid),
                    other: hex(&h.guid),
                }));
            }
            if h.total_parts != total {
                return Err(Error::SplitSet(SplitSetProblem::CountsDisagree {
                    one: h.total_parts,
                    first: total,
                }));
            }
        }
        opened.sort_by_key(|(_, h)| h.part_number);
        for w in opened.windows(2) {
            if w[0].1.part_number == w[1].1.part_number {
                return Err(Error::SplitSet(SplitSetProblem::Twice {
                    part: w[0].1.part_number,
                }));
            }
        }
        let missing: Vec<u16> = (1..=total)
            .filter(|p| !opened.iter().any(|(_, h)| h.part_number == *p))
            .collect();
        if !missing.is_empty() {
            return Err(Error::SplitSet(SplitSetProblem::Missing {
                missing,
                total,
                guid: hex(&guid),
            }));
        }
        Self::build(opened)
    }

    fn build(opened: Vec<(SharedReader, Header)>) -> Result<Wim> {
        let mut parts = Vec::with_capacity(opened.len());
        for (src, header) in opened {
            let compression = header.compression()?;
            parts.push(Part {
                src,
                header,
                compression,
            });
        }
        let mut solids = Vec::new();
        // Two decoded solid chunks at most (up to 2 x 64 MiB), shared by every solid resource.
        let solid_cache = ChunkCache::new(2);
        let mut metadata = Vec::new();
        let mut blobs: Vec<BlobInfo> = Vec::new();
        let mut by_hash = HashMap::new();
        for (pi, part) in parts.iter().enumerate() {
            let bt = &part.header.blob_table;
            if bt.is_empty() {
                continue;
            }
            let bytes = read_small_resource(part, bt, "WIM blob table", MAX_BLOB_TABLE)?;
            let t = parse_table(
                &bytes,
                bt.offset,
                part.header.part_number,
                &part.src,
                &mut solids,
                &solid_cache,
            )?;
            if pi == 0 {
                metadata = t.metadata;
            }
            for b in t.blobs {
                // Duplicate entries (seen in some tools' output) name the same bytes; keep the first.
                if let std::collections::hash_map::Entry::Vacant(e) = by_hash.entry(b.hash) {
                    e.insert(blobs.len());
                    blobs.push(b);
                }
            }
        }
        let head = &parts[0].header;
        if metadata.len() != head.image_count as usize {
            return Err(Error::malformed(
                "WIM blob table",
                head.blob_table.offset,
                format!(
                    "the header announces {} images but the blob table has {} metadata resources",
                    head.image_count,
                    metadata.len()
                ),
            ));
        }
        for m in &metadata {
            by_hash.entry(m.hash).or_insert_with(|| {
                blobs.push(m.clone());
                blobs.len() - 1
            });
        }
        let xml = if head.xml.is_empty() {
            String::new()
        } else {
            decode_utf16le(&read_small_resource(
                &parts[0],
                &head.xml,
                "WIM XML data",
                MAX_XML_BYTES,
            )?)?
        };
        let images = if xml.is_empty() {
            Vec::new()
        } else {
            parse_images(&xml)?
        };
        if images.len() != head.image_count as usize
            || images
                .iter()
                .enumerate()
                .any(|(i, im)| im.index as usize != i + 1)
        {
            return Err(Error::malformed(
                "WIM XML data",
                head.xml.offset,
                format!(
                    "the XML describes images {:?} but the header announces {}",
                    images.iter().map(|i| i.index).collect::<Vec<_>>(),
                    head.image_count
                ),
            ));
        }
        Ok(Wim {
            parts,
            xml,
            images,
            metadata,
            blobs,
            by_hash,
            solids,
        })
    }

    /// The header of part 1.
    pub fn header(&self) -> &Header {
        &self.parts[0].header
    }

    /// Compression of non-solid resources (from part 1's header).
    pub fn compression(&self) -> Compression {
        self.parts[0].compression
    }

    /// Chunk size of non-solid compressed resources.
    pub fn chunk_size(&self) -> u32 {
        self.header().chunk_size
    }

    /// True when any blob lives in a solid resource (ESD).
    pub fn is_solid(&self) -> bool {
        !self.solids.is_empty()
    }

    /// Number of parts (1 unless split).
    pub fn part_count(&self) -> u16 {
        self.parts.len() as u16
    }

    /// 1-based boot image index, 0 = none.
    pub fn boot_index(&self) -> u32 {
        self.header().boot_index
    }

    /// The decoded XML text (BOM removed).
    pub fn xml_text(&self) -> &str {
        &self.xml
    }

    /// Image facts from the XML, in index order (`images()[i].index == i + 1`).
    pub fn images(&self) -> &[ImageInfo] {
        &self.images
    }

    /// The metadata blob of image `index` (1-based).
    pub fn metadata_blob(&self, index: u32) -> Result<&BlobInfo> {
        index
            .checked_sub(1)
            .and_then(|i| self.metadata.get(i as usize))
            .ok_or_else(|| {
                Error::not_found(
                    "image",
                    format!("image {index} (the WIM has {} images)", self.metadata.len()),
                )
            })
    }

    /// Decode image `index`'s metadata resource after checking its SHA-1.
    pub fn image_tree(&self, index: u32) -> Result<ImageTree> {
        let m = self.metadata_blob(index)?.clone();
        if m.size > MAX_METADATA_BYTES {
            return Err(Error::limit(
                m.size,
                MAX_METADATA_BYTES,
                format!(
                    "metadata resource of image {index} is {} bytes (limit {MAX_METADATA_BYTES})",
                    m.size
                ),
            ));
        }
        let r = self.reader_for(&m)?;
        let buf = read_growing(&r, m.size, MAX_METADATA_BYTES, "WIM metadata resource")?;
        let got = crate::hash::sha1(&buf);
        if got != m.hash {
            return Err(Error::DigestMismatch {
                what: format!("metadata resource of image {index}"),
                expected: hex(&m.hash),
                actual: hex(&got),
            });
        }
        parse_metadata(&buf)
    }

    /// The blob with this SHA-1, if the table lists it.
    pub fn blob(&self, hash: &Hash) -> Option<&BlobInfo> {
        self.by_hash.get(hash).map(|&i| &self.blobs[i])
    }

    /// Every blob (metadata resources included), in table order.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobInfo> {
        self.blobs.iter()
    }

    fn part(&self, n: u16) -> Result<&Part> {
        n.checked_sub(1)
            .and_then(|i| self.parts.get(i as usize))
            .ok_or_else(|| Error::not_found("split WIM part", format!("split WIM part {n}")))
    }

    fn reader_for(&self, b: &BlobInfo) -> Result<BlobReader> {
        match b.location {
            BlobLocation::Resource(res) => {
                let part = self.part(b.part)?;
                if res.is_compressed() {
                    let r = ChunkedResource::chunked(
                        part.src.clone(),
                        &res,
                        part.compression,
                        part.header.chunk_size,
                    )?;
                    BlobReader::chunked(Arc::new(r), 0, b.size)
                } else {
                    BlobReader::stored(part.src.clone(), res.offset, b.size)
                }
            }
            BlobLocation::Solid { resource, offset } => {
                let s = self.solids.get(resource).ok_or_else(|| {
                    Error::not_found("solid resource", format!("solid resource {resource}"))
                })?;
                BlobReader::chunked(s.reader.clone(), offset, b.size)
            }
        }
    }

    /// Random-access reader over a blob's uncompressed bytes. The zero hash is the empty stream.
    /// Reads are not SHA-1-checked (use [`Wim::copy_blob`] for that).
    pub fn open_blob(&self, hash: &Hash) -> Result<BlobReader> {
        if *hash == ZERO_HASH {
            return Ok(BlobReader::empty());
        }
        let b = self.blob(hash).ok_or_else(|| {
            Error::not_found("blob", format!("blob {} in the blob table", hex(hash)))
        })?;
        self.reader_for(b)
    }

    /// Reader over a dentry's unnamed data stream (empty for directories and empty files).
    pub fn open_data(&self, d: &Dentry) -> Result<BlobReader> {
        match d.data {
            Some(h) => self.open_blob(&h),
            None => Ok(BlobReader::empty()),
        }
    }

    /// Look up `path` (case-insensitive) in image `index` and open its unnamed data stream.
    /// Decodes the image tree each call: keep an [`ImageTree`] and use [`Wim::open_data`] for many files.
    pub fn open_file(&self, index: u32, path: &str) -> Result<(Dentry, BlobReader)> {
        let tree = self.image_tree(index)?;
        let i = tree.lookup(path)?;
        let d = tree.nodes[i].clone();
        let r = self.open_data(&d)?;
        Ok((d, r))
    }

    /// Stream a blob into `out`, checking its SHA-1 at the end. Returns the byte count.
    pub fn copy_blob(
        &self,
        hash: &Hash,
        out: &mut dyn std::io::Write,
        progress: &dyn Progress,
    ) -> Result<u64> {
        let r = self.open_blob(hash)?;
        let total = r.size();
        let mut buf = vec![0u8; (total.min(COPY_PIECE as u64)) as usize];
        let mut h = Sha1::new();
        let mut pos = 0u64;
        while pos < total {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let n = ((total - pos) as usize).min(COPY_PIECE);
            r.read_at(pos, &mut buf[..n])?;
            h.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            pos += n as u64;
            progress.update("copy", pos, total);
        }
        if *hash != ZERO_HASH {
            let got: [u8; 20] = h.finalize().into();
            if got != *hash {
                return Err(Error::DigestMismatch {
                    what: format!("WIM blob of {total} bytes"),
                    expected: hex(hash),
                    actual: hex(&got),
                });
            }
        }
        Ok(total)
    }

    /// Read every blob and check its SHA-1. Failures are collected, not fatal; only cancellation
    /// stops early. Natively the blobs are shared among all cores (a solid resource's blobs stay
    /// together, in storage order, so each solid chunk is still decoded once).
    pub fn verify_blobs(&self, progress: &dyn Progress) -> Result<VerifyReport> {
        self.verify_blobs_with(crate::codec::parallel::default_threads(), progress)
    }

    /// [`Wim::verify_blobs`] with at most `threads` threads (1 on wasm32).
    pub fn verify_blobs_with(
        &self,
        threads: usize,
        progress: &dyn Progress,
    ) -> Result<VerifyReport> {
        self.verify_blobs_copied(threads, &HashMap::new(), progress)
    }

    /// [`Wim::verify_blobs_with`], except that a blob in `copied` (a resource this WIM's writer
    /// copied byte for byte from a source WIM) is checked by the CRC-32 of its stored bytes
    /// against the bytes read from the source, with the same sizes and flags, instead of being
    /// decoded and hashed. This proves the copy, not the source: see docs/decisions.md.
    pub fn verify_blobs_copied(
        &self,
        threads: usize,
        copied: &HashMap<Hash, CopiedResource>,
        progress: &dyn Progress,
    ) -> Result<VerifyReport> {
        use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
        use std::sync::Mutex;
        struct Sink;
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let total: u64 = self.blobs.iter().map(|b| b.size).sum();
        // Read in storage order so each solid chunk is decoded once, not once per blob.
        let mut order: Vec<&BlobInfo> = self.blobs.iter().collect();
        let key = |b: &BlobInfo| match b.location {
            BlobLocation::Resource(r) => (b.part, 0usize, r.offset),
            BlobLocation::Solid { resource, offset } => (b.part, resource + 1, offset),
        };
        order.sort_by_key(|b| key(b));
        // Work items: one per plain resource, one per solid resource (its blobs in order).
        let mut groups: Vec<&[&BlobInfo]> = Vec::new();
        let mut start = 0;
        for k in 1..=order.len() {
            let split = k == order.len() || {
                let (a, b) = (key(order[k - 1]), key(order[k]));
                a.1 == 0 || a.0 != b.0 || a.1 != b.1
            };
            if split {
                groups.push(&order[start..k]);
                start = k;
            }
        }
        let next = AtomicUsize::new(0);
        let done = AtomicU64::new(0);
        let cancelled = AtomicBool::new(false);
        let report = Mutex::new(VerifyReport::default());
        let work = || {
            while let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) {
                for b in group.iter() {
                    if cancelled.load(Ordering::Relaxed) || progress.cancelled() {
                        cancelled.store(true, Ordering::Relaxed);
                        return;
                    }
                    let r = match copied.get(&b.hash) {
                        Some(c) => self.check_copied(b, c),
                        None => self.copy_blob(&b.hash, &mut Sink, &crate::io::NoProgress),
                    };
                    let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
                    match r {
                        Ok(n) => {
                            rep.ok += 1;
                            rep.bytes += n;
                        }
                        Err(Error::Cancelled) => {
                            cancelled.store(true, Ordering::Relaxed);
                            return;
                        }
                        Err(e) => rep.failures.push((hex(&b.hash), e.to_string())),
                    }
                    drop(rep);
                    let d = done.fetch_add(b.size, Ordering::Relaxed) + b.size;
                    progress.update("verify", d, total);
                }
            }
        };
        let threads = if cfg!(target_arch = "wasm32") {
            1
        } else {
            threads
                .clamp(1, crate::codec::parallel::MAX_THREADS)
                .min(groups.len().max(1))
        };
        if threads <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 1..threads {
                    s.spawn(work);
                }
                work();
            });
        }
        if cancelled.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let mut rep = report.into_inner().unwrap_or_else(|e| e.into_inner());
        // Failures in a fixed order whatever the thread interleaving.
        rep.failures.sort();
        Ok(rep)
    }

    /// Compare a raw-copied blob's stored bytes with what the writer read from the source.
    fn check_copied(&self, b: &BlobInfo, c: &CopiedResource) -> Result<u64> {
        let differ = |what: String| Error::DigestMismatch {
            what: format!("copied resource of blob {}", hex(&b.hash)),
            expected: "the bytes read from the source WIM".into(),
            actual: what,
        };
        let res = match b.location {
            BlobLocation::Resource(res) => res,
            BlobLocation::Solid { .. } => return Err(differ("a solid resource".into())),
        };
        if res.size_in_wim != c.size_in_wim
            || res.uncompressed_size != c.uncompressed_size
            || res.flags != c.flags
        {
            return Err(differ(format!(
                "resource of {} stored / {} bytes, flags {:#x}; copied {} / {}, flags {:#x}",
                res.size_in_wim,
                res.uncompressed_size,
                res.flags,
                c.size_in_wim,
                c.uncompressed_size,
                c.flags
            )));
        }
        let src = &*self.part(b.part)?.src;
        crate::io::check_range("WIM resource", res.offset, res.size_in_wim, src.size())?;
        let mut buf = vec![0u8; res.size_in_wim.min(COPY_PIECE as u64) as usize];
        let mut crc = crc32fast::Hasher::new();
        let mut off = 0u64;
        while off < res.size_in_wim {
            let n = (res.size_in_wim - off).min(COPY_PIECE as u64) as usize;
            src.read_at(res.offset + off, &mut buf[..n])?;
            crc.update(&buf[..n]);
            off += n as u64;
        }
        let got = crc.finalize();
        if got != c.crc32 {
            return Err(differ(format!(
                "CRC-32 {got:08x} of the stored bytes, {:08x} when copied",
                c.crc32
            )));
        }
        Ok(b.size)
    }

    /// Check the integrity table of every part: `None` if no part has one, `Some(false)` if any
    /// slice differs.
    pub fn check_integrity(&self, progress: &dyn Progress) -> Result<Option<bool>> {
        let mut result = None;
        for p in &self.parts {
            match integrity::check(&*p.src, &p.header, progress)? {
                None => {}
                Some(ok) => result = Some(result.unwrap_or(true) && ok),
            }
        }
        Ok(result)
    }

    /// Where a blob's stored bytes are, for raw copying by the writer.
    pub fn raw_resource(&self, hash: &Hash) -> Option<RawResource> {
        let b = self.blob(hash)?;
        let part = self.part(b.part).ok()?;
        Some(match b.location {
            BlobLocation::Resource(res) => RawResource {
                reader: part.src.clone(),
                reshdr: res,
                compression: if res.is_compressed() {
                    part.compression
                } else {
                    Compression::None
                },
                chunk_size: part.header.chunk_size,
                solid: false,
                solid_resource: None,
                offset_in_resource: 0,
                size: b.size,
                part: b.part,
            },
            BlobLocation::Solid { resource, offset } => {
                let s = self.solids.get(resource)?;
                RawResource {
                    reader: part.src.clone(),
                    reshdr: s.res,
                    compression: s.reader.compression(),
                    chunk_size: s.reader.chunk_size(),
                    solid: true,
                    solid_resource: Some(resource),
                    offset_in_resource: offset,
                    size: b.size,
                    part: s.part,
                }
            }
        })
    }

    /// Uncompressed size of solid resource `index` (see [`RawResource::solid_resource`]).
    pub fn solid_resource_size(&self, index: usize) -> Option<u64> {
        self.solids.get(index).map(|s| s.reader.uncompressed_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wim_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Wim>();
        check::<BlobReader>();
    }
}
