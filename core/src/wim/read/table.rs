//! The blob table: which SHA-1 lives where, and which entries are image metadata.
//!
//! Non-solid entries point straight at a resource. Solid runs (version 0xE00) are consecutive entries
//! with the SOLID flag: entries whose uncompressed size is [`SOLID_RESOURCE_MARKER`] describe the
//! compressed resources, the others are blobs addressed by an offset into the concatenation of the
//! run's resources' uncompressed bytes. This module turns both into one [`BlobLocation`] per blob.

use crate::io::SharedReader;
use crate::wim::format::{resflags, BlobEntry, ResHdr, BLOB_ENTRY_SIZE, SOLID_RESOURCE_MARKER};
use crate::wim::model::{Hash, ZERO_HASH};
use crate::wim::read::resource::{ChunkCache, ChunkedResource};
use crate::{Error, Result};
use serde::Serialize;
use std::sync::Arc;

/// Largest blob table accepted (10 million entries).
pub const MAX_BLOB_TABLE: u64 = 10_000_000 * BLOB_ENTRY_SIZE as u64;

/// Where a blob's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BlobLocation {
    /// A resource of its own (stored or chunked), described by the blob-table resource header.
    Resource(#[serde(skip)] ResHdr),
    /// Inside solid resource number `resource` (see [`crate::wim::read::Wim::raw_resource`]) at
    /// `offset` in its uncompressed data.
    Solid {
        /// Index of the solid resource within the WIM (all parts).
        resource: usize,
        /// Offset of the blob in the resource's uncompressed data.
        offset: u64,
    },
}

/// One blob of the WIM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// SHA-1 of the uncompressed bytes.
    #[serde(serialize_with = "ser_hash")]
    pub hash: Hash,
    /// Uncompressed size.
    pub size: u64,
    /// Reference count from the table.
    pub refcnt: u32,
    /// 1-based part of a split set that holds the blob.
    pub part: u16,
    /// Where the bytes are.
    pub location: BlobLocation,
    /// True for an image metadata resource.
    pub is_metadata: bool,
}

fn ser_hash<S: serde::Serializer>(h: &Hash, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::hash::hex(h))
}

/// A solid resource found in some part's table.
pub(crate) struct SolidResource {
    pub part: u16,
    pub res: ResHdr,
    pub reader: Arc<ChunkedResource>,
}

/// The parsed table of one part.
pub(crate) struct PartTable {
    /// Metadata blobs in table order (= image order).
    pub metadata: Vec<BlobInfo>,
    /// Other blobs.
    pub blobs: Vec<BlobInfo>,
}

/// Parse one part's blob table bytes. New solid resources are appended to `solids` (their index is
/// global across parts).
pub(crate) fn parse_table(
    bytes: &[u8],
    table_offset: u64,
    part: u16,
    src: &SharedReader,
    solids: &mut Vec<SolidResource>,
    cache: &Arc<ChunkCache>,
) -> Result<PartTable> {
    if bytes.len() % BLOB_ENTRY_SIZE != 0 {
        return Err(Error::malformed(
            "WIM blob table",
            table_offset,
            format!(
                "{} bytes is not a multiple of the {BLOB_ENTRY_SIZE}-byte entry size",
                bytes.len()
            ),
        ));
    }
    let entries: Vec<BlobEntry> = bytes
        .chunks_exact(BLOB_ENTRY_SIZE)
        .map(BlobEntry::parse)
        .collect();
    let mut out = PartTable {
        metadata: Vec::new(),
        blobs: Vec::new(),
    };
    let mut i = 0usize;
    while i < entries.len() {
        let e = &entries[i];
        let eoff = table_offset + (i * BLOB_ENTRY_SIZE) as u64;
        if e.res.flags & resflags::SOLID == 0 {
            i += 1;
            let is_metadata = e.res.flags & resflags::METADATA != 0;
            if e.hash == ZERO_HASH && !is_metadata {
                continue;
            }
            if !e.res.is_compressed() && e.res.size_in_wim != e.res.uncompressed_size {
                return Err(Error::malformed(
                    "WIM blob table",
                    eoff,
                    format!(
                        "uncompressed resource with stored size {} but size {}",
                        e.res.size_in_wim, e.res.uncompressed_size
                    ),
                ));
            }
            let info = BlobInfo {
                hash: e.hash,
                size: e.res.uncompressed_size,
                refcnt: e.refcnt,
                part,
                location: BlobLocation::Resource(e.res),
                is_metadata,
            };
            if is_metadata {
                out.metadata.push(info);
            } else {
                out.blobs.push(info);
            }
            continue;
        }
        // A solid run: collect consecutive SOLID entries.
        let run_start = i;
        while i < entries.len() && entries[i].res.flags & resflags::SOLID != 0 {
            i += 1;
        }
        let run = &entries[run_start..i];
        // (global index, start in the run's concatenated space, size)
        let mut spans: Vec<(usize, u64, u64)> = Vec::new();
        let mut total = 0u64;
        for (j, r) in run.iter().enumerate() {
            if r.res.uncompressed_size != SOLID_RESOURCE_MARKER {
                continue;
            }
            let roff = table_offset + ((run_start + j) * BLOB_ENTRY_SIZE) as u64;
            let reader = ChunkedResource::solid(src.clone(), &r.res, cache.clone(), solids.len())
                .map_err(|err| match err {
                Error::Truncated { .. } => Error::malformed(
                    "WIM blob table",
                    roff,
                    format!(
                        "solid resource at {}+{} lies outside the file",
                        r.res.offset, r.res.size_in_wim
                    ),
                ),
                other => other,
            })?;
            let usize = reader.uncompressed_size();
            spans.push((solids.len(), total, usize));
            total = total.checked_add(usize).ok_or_else(|| {
                Error::malformed("WIM blob table", roff, "solid run larger than 2^64 bytes")
            })?;
            solids.push(SolidResource {
                part,
                res: r.res,
                reader: Arc::new(reader),
            });
        }
        for (j, r) in run.iter().enumerate() {
            if r.res.uncompressed_size == SOLID_RESOURCE_MARKER || r.hash == ZERO_HASH {
                continue;
            }
            let boff = table_offset + ((run_start + j) * BLOB_ENTRY_SIZE) as u64;
            if r.res.flags & resflags::METADATA != 0 {
                return Err(Error::malformed(
                    "WIM blob table",
                    boff,
                    "a metadata resource inside a solid run",
                ));
            }
            let start = r.res.offset;
            let size = r.res.size_in_wim;
            let end = start.checked_add(size);
            let span = spans
                .iter()
                .find(|s| start >= s.1 && end.is_some_and(|e| e <= s.1 + s.2));
            let Some(&(idx, base, _)) = span else {
                return Err(Error::malformed(
                    "WIM blob table",
                    boff,
                    format!(
                        "solid blob at {start}+{size} does not lie inside one resource of its run ({total} bytes)"
                    ),
                ));
            };
            out.blobs.push(BlobInfo {
                hash: r.hash,
                size,
                refcnt: r.refcnt,
                part,
                location: BlobLocation::Solid {
                    resource: idx,
                    offset: start - base,
                },
                is_metadata: false,
            });
        }
    }
    Ok(out)
}
