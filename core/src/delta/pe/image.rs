//! A bounds-checked, in-memory view of a PE image's headers: the fields the transforms of a
//! PE-typed delta read and rewrite (PE/COFF specification: COFF file header, optional header,
//! data directories, section table).

use crate::{Error, Result};

const STRUCT: &str = "PE reference image";
/// Largest `e_lfanew` accepted (real ones are a few hundred bytes).
const MAX_LFANEW: usize = 1 << 20;
/// The PE format's own limit on sections.
const MAX_SECTIONS: usize = 96;

/// Data directory indexes (PE/COFF specification, "Optional Header Data Directories").
pub(crate) const DIR_EXPORT: usize = 0;
pub(crate) const DIR_IMPORT: usize = 1;
pub(crate) const DIR_RESOURCE: usize = 2;
pub(crate) const DIR_EXCEPTION: usize = 3;
pub(crate) const DIR_DEBUG: usize = 6;
pub(crate) const DIR_BOUND_IMPORT: usize = 11;
pub(crate) const DIR_CLR: usize = 14;

/// One section header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section {
    pub va: u32,
    pub virtual_size: u32,
    pub raw_ptr: u32,
    pub raw_size: u32,
    pub characteristics: u32,
}

/// `IMAGE_SCN_MEM_EXECUTE`.
pub(crate) const SCN_MEM_EXECUTE: u32 = 0x2000_0000;

/// Where the headers of a PE image put the fields the delta transforms touch.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub machine: u16,
    /// PE32+ (64-bit fields: image base, import thunks).
    pub pe32_plus: bool,
    /// File offset of the COFF `TimeDateStamp`.
    pub timestamp_at: usize,
    /// File offset of the optional header's `CheckSum`.
    pub checksum_at: usize,
    pub image_base: u64,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// (RVA, size) per data directory present in the header.
    pub dirs: Vec<(u32, u32)>,
    pub sections: Vec<Section>,
    /// Length of the image file: every offset handed out lies inside it.
    pub file_len: usize,
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn need<T>(v: Option<T>, at: usize, what: &str) -> Result<T> {
    v.ok_or_else(|| Error::malformed(STRUCT, at as u64, format!("{what} runs past the end")))
}

impl Image {
    /// Parse the headers of `b`.
    pub(crate) fn parse(b: &[u8]) -> Result<Image> {
        if b.get(..2) != Some(b"MZ".as_slice()) {
            return Err(Error::malformed(STRUCT, 0, "no 'MZ' signature"));
        }
        let lfanew = need(u32_at(b, 0x3c), 0x3c, "DOS header")? as usize;
        if lfanew > MAX_LFANEW || b.get(lfanew..lfanew + 4) != Some(b"PE\0\0".as_slice()) {
            return Err(Error::malformed(
                STRUCT,
                lfanew as u64,
                "no 'PE\\0\\0' signature",
            ));
        }
        let coff = lfanew + 4;
        let machine = need(u16_at(b, coff), coff, "COFF header")?;
        let nsec = need(u16_at(b, coff + 2), coff, "COFF header")? as usize;
        let opt_size = need(u16_at(b, coff + 16), coff, "COFF header")? as usize;
        if nsec > MAX_SECTIONS {
            return Err(Error::malformed(
                STRUCT,
                coff as u64 + 2,
                format!("{nsec} sections"),
            ));
        }
        let opt = coff + 20;
        let magic = need(u16_at(b, opt), opt, "optional header")?;
        let (pe32_plus, ndirs_at, dirs_at) = match magic {
            0x10b => (false, 92, 96),
            0x20b => (true, 108, 112),
            m => {
                return Err(Error::malformed(
                    STRUCT,
                    opt as u64,
                    format!("optional header magic {m:#x}"),
                ))
            }
        };
        if opt_size < dirs_at || opt + opt_size > b.len() {
            return Err(Error::malformed(
                STRUCT,
                coff as u64 + 16,
                format!("optional header of {opt_size} bytes"),
            ));
        }
        let image_base_at = opt + if pe32_plus { 24 } else { 28 };
        let image_base = if pe32_plus {
            let lo = need(u32_at(b, image_base_at), image_base_at, "ImageBase")?;
            let hi = need(u32_at(b, image_base_at + 4), image_base_at, "ImageBase")?;
            u64::from(hi) << 32 | u64::from(lo)
        } else {
            u64::from(need(u32_at(b, image_base_at), image_base_at, "ImageBase")?)
        };
        let size_of_image = need(u32_at(b, opt + 56), opt + 56, "SizeOfImage")?;
        let ndirs = need(u32_at(b, opt + ndirs_at), opt + ndirs_at, "directory count")? as usize;
        let ndirs = ndirs.min(16).min((opt_size - dirs_at) / 8);
        let mut dirs = Vec::with_capacity(ndirs);
        for i in 0..ndirs {
            let at = opt + dirs_at + 8 * i;
            dirs.push((
                need(u32_at(b, at), at, "data directory")?,
                need(u32_at(b, at + 4), at, "data directory")?,
            ));
        }
        let sec_at = opt + opt_size;
        let mut sections = Vec::with_capacity(nsec);
        for i in 0..nsec {
            let at = sec_at + 40 * i;
            let virtual_size = need(u32_at(b, at + 8), at, "section table")?;
            let va = need(u32_at(b, at + 12), at, "section table")?;
            let raw_size = need(u32_at(b, at + 16), at, "section table")?;
            let raw_ptr = need(u32_at(b, at + 20), at, "section table")?;
            let characteristics = need(u32_at(b, at + 36), at, "section table")?;
            sections.push(Section {
                va,
                virtual_size,
                raw_ptr,
                raw_size,
                characteristics,
            });
        }
        Ok(Image {
            machine,
            pe32_plus,
            timestamp_at: coff + 4,
            checksum_at: opt + 64,
            image_base,
            size_of_image,
            dirs,
            sections,
            file_len: b.len(),
        })
    }

    /// Data directory `i` when present and non-empty.
    pub(crate) fn dir(&self, i: usize) -> Option<(u32, u32)> {
        self.dirs.get(i).copied().filter(|&(r, s)| r != 0 && s != 0)
    }

    /// File offset of `len` bytes at `rva`, inside one section's raw data (or the headers).
    pub(crate) fn offset(&self, rva: u32, len: u32) -> Option<usize> {
        let at = self.offset_unchecked(rva, len)?;
        (at.checked_add(len as usize)? <= self.file_len).then_some(at)
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
