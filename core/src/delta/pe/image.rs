//! A bounds-checked, in-memory view of a PE image's headers: the fields the transforms of a
//! PE-typed delta read and rewrite (PE/COFF specification: COFF file header, optional header,
//! data directories, section table).

use crate::pe::headers::PeHeaders;
use crate::{Error, Result};

const STRUCT: &str = "PE reference image";

/// Data directory indexes (PE/COFF specification, "Optional Header Data Directories").
pub(crate) const DIR_EXPORT: usize = 0;
pub(crate) const DIR_IMPORT: usize = 1;
pub(crate) const DIR_RESOURCE: usize = 2;
pub(crate) const DIR_EXCEPTION: usize = 3;
pub(crate) const DIR_DEBUG: usize = 6;
pub(crate) const DIR_BOUND_IMPORT: usize = 11;
pub(crate) const DIR_CLR: usize = 14;

pub(crate) use crate::pe::headers::Section;

/// `IMAGE_SCN_MEM_EXECUTE`.
pub(crate) const SCN_MEM_EXECUTE: u32 = 0x2000_0000;

/// Where the headers of a PE image put the fields the delta transforms touch: the shared header
/// parser's view (`crate::pe::headers`, reached through `Deref`) plus the image length that bounds
/// every offset.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    headers: PeHeaders,
    /// Length of the image file: every offset handed out lies inside it.
    pub file_len: usize,
}

impl std::ops::Deref for Image {
    type Target = PeHeaders;
    fn deref(&self) -> &PeHeaders {
        &self.headers
    }
}

pub(crate) use crate::pe::headers::{u16_at, u32_at};

impl Image {
    /// Parse the headers of `b` (errors name the structure as "PE reference image: …").
    pub(crate) fn parse(b: &[u8]) -> Result<Image> {
        let h = PeHeaders::parse(b).map_err(|e| match e {
            Error::Malformed {
                structure,
                offset,
                reason,
            } => Error::malformed(STRUCT, offset, format!("{structure}: {reason}")),
            e => e,
        })?;
        Ok(Image {
            headers: h,
            file_len: b.len(),
        })
    }

    /// File offset of `len` bytes at `rva`, inside one section's raw data (or the headers).
    pub(crate) fn offset(&self, rva: u32, len: u32) -> Option<usize> {
        let at = self.offset_unchecked(rva, len)?;
        (at.checked_add(len as usize)? <= self.file_len).then_some(at)
    }

    /// File offset and width of the optional header's `ImageBase` (4 bytes at +28 in PE32, 8 at
    /// +24 in PE32+; the checksum sits at +64 in both).
    pub(crate) fn image_base_field(&self) -> (usize, usize) {
        let opt = self.checksum_at - 64;
        if self.pe32_plus {
            (opt + 24, 8)
        } else {
            (opt + 28, 4)
        }
    }

    /// RVA → file offset breakpoints of the image: 0 → 0 (the headers), then each section's
    /// start (what a PE-typed delta's layout rift holds for its target).
    pub(crate) fn layout(&self) -> super::riftmap::Map {
        let mut points = vec![(0i64, 0i64)];
        points.extend(
            self.sections
                .iter()
                .map(|s| (i64::from(s.va), i64::from(s.raw_ptr))),
        );
        super::riftmap::Map::new(points)
    }

    /// Lowest section RVA (RVAs below it address the headers).
    pub(crate) fn first_section_rva(&self) -> u32 {
        self.sections.iter().map(|s| s.va).min().unwrap_or(0)
    }

    fn offset_unchecked(&self, rva: u32, len: u32) -> Option<usize> {
        for s in &self.sections {
            let Some(d) = rva.checked_sub(s.va) else {
                continue;
            };
            if d < s.raw_size && u64::from(d) + u64::from(len) <= u64::from(s.raw_size) {
                return Some(s.raw_ptr as usize + d as usize);
            }
        }
        // Below the first section, RVAs are file offsets (the headers).
        let first = self.first_section_rva();
        if u64::from(rva) + u64::from(len) <= u64::from(first) {
            return Some(rva as usize);
        }
        None
    }
}
