//! Splitting a WIM into a set of parts (`install.swm`, `install2.swm`, …) that each stay under a
//! size limit, for FAT32 media (a file there cannot reach 4 GiB).
//!
//! Resources are copied as stored (no recompression). Every part carries the source's GUID, its own
//! part number, the total count and the SPANNED header flag; part 1 holds the image metadata
//! resources (and the boot image's metadata header), every part lists in its blob table the blobs it
//! holds, and every part carries the XML. These are the facts a wimlib-made split set shows (see
//! docs/formats/iso-write.md, "Split WIM").
//!
//! The set is planned first ([`plan_split`], from sizes only), then each part is written by
//! [`write_part`] into any [`WriteAt`]; the caller decides where the parts go and verifies the
//! whole set by opening it with [`Wim::open_split`] (see [`verify_split`]).

use crate::io::{OutputStore, Part as StorePart, Progress, SharedReader, WriteAt};
use crate::wim::format::{flags, BlobEntry, Header, ResHdr, BLOB_ENTRY_SIZE, HEADER_SIZE};
use crate::wim::model::Hash;
use crate::wim::read::{RawResource, Wim};
use crate::wim::xml_write::{image_elements, wim_xml_bytes, ImageXml};
use crate::{Error, Result};
use std::collections::HashSet;

/// Part size Setup users pick for FAT32 sticks (below 4 GiB with room to spare).
pub const DEFAULT_SPLIT_MIB: u64 = 3800;
/// Most parts a set may have (the header's part fields are 16-bit).
pub const MAX_PARTS: usize = u16::MAX as usize;
/// Bytes copied per step.
const COPY_PIECE: u64 = 4 << 20;

/// What one part of the set holds.
#[derive(Debug, Clone)]
pub struct PartPlan {
    /// Metadata resources (part 1 only), in image order.
    pub metadata: Vec<Hash>,
    /// Other blobs, in the order they are written.
    pub blobs: Vec<Hash>,
    /// Exact size of the part file.
    pub size: u64,
}

/// A planned split: the parts, and blobs that alone exceed the limit.
#[derive(Debug, Clone)]
pub struct SplitPlan {
    /// The parts in order (part 1 first).
    pub parts: Vec<PartPlan>,
    /// Part size limit the plan was made for.
    pub limit: u64,
    /// One line per blob larger than the limit (each got a part of its own, over the limit).
    pub warnings: Vec<String>,
    xml_elements: Vec<ImageXml>,
}

/// The name of part `n` (1-based) for a first-part name like `install.swm`: `install.swm`,
/// `install2.swm`, `install3.swm`, … (the naming Setup and wimlib look for).
pub fn part_name(first: &str, n: usize) -> String {
    if n <= 1 {
        return first.to_string();
    }
    match first.rfind('.') {
        Some(dot) if dot > 0 => format!("{}{n}{}", &first[..dot], &first[dot..]),
        _ => format!("{first}{n}"),
    }
}

fn raw(wim: &Wim, h: &Hash) -> Result<RawResource> {
    let r = wim.raw_resource(h).ok_or_else(|| {
        Error::not_found(
            "blob resource",
            format!("blob {} is listed but has no resource", crate::hash::hex(h)),
        )
    })?;
    if r.solid {
        return Err(Error::unsupported(
            "split WIM",
            "splitting a WIM with solid resources (ESD); export it to LZX first",
        ));
    }
    Ok(r)
}

/// Plan a split of `wim` into parts of at most `limit` bytes each.
pub fn plan_split(wim: &Wim, limit: u64) -> Result<SplitPlan> {
    if wim.is_solid() {
        return Err(Error::unsupported(
            "split WIM",
            "splitting a WIM with solid resources (ESD); export it to LZX first",
        ));
    }
    let xml_elements = image_elements(wim.xml_text())?
        .iter()
        .map(|s| ImageXml::from_source(s))
        .collect::<Result<Vec<_>>>()?;
    // TOTALBYTES holds the XML's offset; budget for its longest spelling.
    let xml_len = wim_xml_bytes(&xml_elements, u64::MAX).len() as u64;
    let fixed = HEADER_SIZE as u64 + xml_len;
    let entry = BLOB_ENTRY_SIZE as u64;
    let image_count = wim.header().image_count;
    let mut first = PartPlan {
        metadata: Vec::new(),
        blobs: Vec::new(),
        size: fixed,
    };
    for i in 1..=image_count {
        let h = wim.metadata_blob(i)?.hash;
        first.size += raw(wim, &h)?.reshdr.size_in_wim + entry;
        first.metadata.push(h);
    }
    if first.size > limit {
        return Err(Error::limit(first.size, limit, format!(
            "the header, XML and image metadata alone take {} bytes, more than the part limit {limit}",
            first.size
        )));
    }
    // Blobs in the order they are stored, so each part is one forward read of the source.
    let mut seen: HashSet<Hash> = first.metadata.iter().copied().collect();
    let mut blobs = Vec::new();
    for b in wim.blobs() {
        if b.is_metadata || !seen.insert(b.hash) {
            continue;
        }
        let r = raw(wim, &b.hash)?;
        blobs.push((r.part, r.reshdr.offset, b.hash, r.reshdr.size_in_wim));
    }
    blobs.sort_unstable();
    let mut parts = vec![first];
    let mut warnings = Vec::new();
    for (_, _, hash, stored) in blobs {
        let need = stored + entry;
        let cur = parts.last_mut().expect("part 1 exists");
        if cur.size + need <= limit {
            cur.size += need;
            cur.blobs.push(hash);
            continue;
        }
        if fixed + need > limit {
            warnings.push(format!(
                "blob {} is {stored} bytes stored, more than the part limit {limit}: it gets a part of its own, over the limit",
                crate::hash::hex(&hash)
            ));
        }
        if parts.len() >= MAX_PARTS {
            return Err(Error::limit(
                parts.len() + 1,
                MAX_PARTS,
                format!("more than {MAX_PARTS} parts at {limit} bytes each"),
            ));
        }
        parts.push(PartPlan {
            metadata: Vec::new(),
            blobs: vec![hash],
            size: fixed + need,
        });
    }
    // The size above counted the XML at its longest; record the exact size.
    for p in &mut parts {
        let entries = (p.metadata.len() + p.blobs.len()) as u64;
        let xml_at = p.size - xml_len;
        debug_assert!(xml_at >= HEADER_SIZE as u64 + entries * entry);
        p.size = xml_at + wim_xml_bytes(&xml_elements, xml_at).len() as u64;
    }
    Ok(SplitPlan {
        parts,
        limit,
        warnings,
        xml_elements,
    })
}

fn copy_resource(
    r: &RawResource,
    sink: &mut dyn WriteAt,
    at: u64,
    progress: &dyn Progress,
    done: &mut u64,
    total: u64,
) -> Result<()> {
    let len = r.reshdr.size_in_wim;
    let mut buf = vec![0u8; len.min(COPY_PIECE) as usize];
    let mut pos = 0u64;
    while pos < len {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let n = (len - pos).min(COPY_PIECE) as usize;
        r.reader.read_at(r.reshdr.offset + pos, &mut buf[..n])?;
        sink.write_at(at + pos, &buf[..n])?;
        pos += n as u64;
        *done += n as u64;
        progress.update("split", *done, total);
    }
    Ok(())
}

/// Write part `index` (0-based) of `plan` into `sink`; returns the bytes written.
pub fn write_part(
    wim: &Wim,
    plan: &SplitPlan,
    index: usize,
    sink: &mut dyn WriteAt,
    progress: &dyn Progress,
) -> Result<u64> {
    let part = plan
        .parts
        .get(index)
        .ok_or_else(|| Error::invalid("split WIM", format!("no part {} in the plan", index + 1)))?;
    let number = (index + 1) as u16;
    let src = wim.header();
    let mut header = Header {
        flags: (src.flags | flags::SPANNED) & !flags::WRITE_IN_PROGRESS,
        part_number: number,
        total_parts: plan.parts.len() as u16,
        blob_table: ResHdr::default(),
        xml: ResHdr::default(),
        boot_metadata: ResHdr::default(),
        integrity: ResHdr::default(),
        ..src.clone()
    };
    // Marked unfinished until the real header lands last.
    let mut unfinished = header.clone();
    unfinished.flags |= flags::WRITE_IN_PROGRESS;
    sink.write_at(0, &unfinished.to_bytes())?;
    let mut at = HEADER_SIZE as u64;
    let mut table = Vec::with_capacity((part.metadata.len() + part.blobs.len()) * BLOB_ENTRY_SIZE);
    let mut done = 0u64;
    let total = part.size;
    let items = part
        .metadata
        .iter()
        .map(|h| (h, true))
        .chain(part.blobs.iter().map(|h| (h, false)));
    for (i, (hash, is_meta)) in items.enumerate() {
        let r = raw(wim, hash)?;
        copy_resource(&r, sink, at, progress, &mut done, total)?;
        let res = ResHdr {
            offset: at,
            flags: r.reshdr.flags & !crate::wim::format::resflags::SPANNED,
            ..r.reshdr
        };
        if is_meta && src.boot_index as usize == i + 1 {
            header.boot_metadata = res;
        }
        let refcnt = wim.blob(hash).map(|b| b.refcnt).unwrap_or(1);
        table.extend_from_slice(
            &BlobEntry {
                res,
                part_number: number,
                refcnt,
                hash: *hash,
            }
            .to_bytes(),
        );
        at += r.reshdr.size_in_wim;
    }
    // Blob table and XML are stored uncompressed with the METADATA flag, as wimlib writes them.
    let put = |sink: &mut dyn WriteAt, at: &mut u64, bytes: &[u8]| -> Result<ResHdr> {
        sink.write_at(*at, bytes)?;
        let res = ResHdr {
            size_in_wim: bytes.len() as u64,
            flags: crate::wim::format::resflags::METADATA,
            offset: *at,
            uncompressed_size: bytes.len() as u64,
        };
        *at += bytes.len() as u64;
        Ok(res)
    };
    header.blob_table = put(sink, &mut at, &table)?;
    let xml = wim_xml_bytes(&plan.xml_elements, at);
    header.xml = put(sink, &mut at, &xml)?;
    if at != part.size {
        return Err(Error::invalid(
            "split WIM",
            format!(
                "split part {number}: wrote {at} bytes, planned {}",
                part.size
            ),
        ));
    }
    sink.write_at(0, &header.to_bytes())?;
    sink.flush()?;
    Ok(at)
}

/// Open the written parts as one set and check it against the source: same GUID, image count
/// and XML images, every part within the plan's size, every blob's SHA-1.
pub fn verify_split(
    source: &Wim,
    plan: &SplitPlan,
    parts: Vec<SharedReader>,
    progress: &dyn Progress,
) -> Result<()> {
    for (i, (p, r)) in plan.parts.iter().zip(&parts).enumerate() {
        if r.size() != p.size {
            return Err(Error::invalid(
                "split WIM",
                format!(
                    "split part {} is {} bytes on disk, {} planned",
                    i + 1,
                    r.size(),
                    p.size
                ),
            ));
        }
    }
    let set = Wim::open_split(parts)?;
    if set.part_count() as usize != plan.parts.len()
        || set.header().guid != source.header().guid
        || set.images().len() != source.images().len()
    {
        return Err(Error::invalid(
            "split WIM",
            "the written split set does not match the source (parts, GUID or images)",
        ));
    }
    for i in 1..=source.header().image_count {
        if set.metadata_blob(i)?.hash != source.metadata_blob(i)?.hash {
            return Err(Error::invalid(
                "split WIM",
                format!("image {i}'s metadata differs in the split set"),
            ));
        }
    }
    let rep = set.verify_blobs(progress)?;
    if let Some((h, e)) = rep.failures.first() {
        return Err(Error::DigestMismatch {
            what: format!("split set blob ({} failures)", rep.failures.len()),
            expected: h.clone(),
            actual: e.clone(),
        });
    }
    let unique = |w: &Wim| {
        w.blobs()
            .filter(|b| !b.is_metadata)
            .map(|b| b.hash)
            .collect::<HashSet<_>>()
    };
    let (src_blobs, got) = (unique(source).len(), unique(&set).len());
    if src_blobs != got {
        return Err(Error::invalid(
            "split WIM",
            format!("split set holds {got} blobs, the source {src_blobs}"),
        ));
    }
    Ok(())
}

/// Plan, write, verify and commit a split set: part `n` (0-based) goes into `stores(n)`'s
/// [`Part::Output`]. Nothing is committed until every part is written and the whole set has been
/// re-read and verified; on any error every part is discarded.
pub fn split_into<S: OutputStore>(
    wim: &Wim,
    limit: u64,
    mut stores: impl FnMut(usize) -> Result<S>,
    progress: &dyn Progress,
) -> Result<SplitPlan> {
    let plan = plan_split(wim, limit)?;
    let mut opened = Vec::with_capacity(plan.parts.len());
    let mut readers = Vec::with_capacity(plan.parts.len());
    for i in 0..plan.parts.len() {
        let mut store = stores(i)?;
        store.reserve(plan.parts[i].size)?;
        let mut sink = store.create(StorePart::Output)?;
        write_part(wim, &plan, i, &mut sink, progress)?;
        readers.push(store.reopen(StorePart::Output, sink)?);
        opened.push(store);
    }
    verify_split(wim, &plan, readers, progress)?;
    for s in &mut opened {
        s.commit(StorePart::Output)?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_follow_setup() {
        assert_eq!(part_name("install.swm", 1), "install.swm");
        assert_eq!(part_name("install.swm", 2), "install2.swm");
        assert_eq!(part_name("install.swm", 12), "install12.swm");
        assert_eq!(part_name("noext", 3), "noext3");
    }
}
