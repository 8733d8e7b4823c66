//! The one parser of PE headers (PE/COFF specification: DOS header, `PE\0\0`, COFF file header,
//! optional header PE32/PE32+, data directories, section table) shared by the resource reader
//! (through [`ReadAt`], reading only the header bytes) and the transforms of PE-typed deltas
//! (over the whole image in memory). Every count and offset is checked against the bytes given.

use crate::io::{read_vec, ReadAt};
use crate::{Error, Result};

/// Largest `e_lfanew` accepted (real ones are a few hundred bytes).
const MAX_LFANEW: u64 = 1 << 20;
/// The PE format's own limit on sections.
pub(crate) const MAX_SECTIONS: u16 = 96;

/// One section header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section {
    pub va: u32,
    pub virtual_size: u32,
    pub raw_ptr: u32,
    pub raw_size: u32,
    pub characteristics: u32,
}

/// What the headers of a PE image say, with the file offsets of the fields that get rewritten.
#[derive(Debug, Clone)]
pub(crate) struct PeHeaders {
    /// COFF `Machine`.
    pub machine: u16,
    /// PE32+ (64-bit image base and import thunks).
    pub pe32_plus: bool,
    /// File offset of the COFF `TimeDateStamp`.
    pub timestamp_at: usize,
    /// File offset of the optional header's `CheckSum`.
    pub checksum_at: usize,
    pub image_base: u64,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// (RVA, size) of each data directory the optional header holds (at most 16).
    pub dirs: Vec<(u32, u32)>,
    /// File offset of the data directory table.
    pub dirs_at: usize,
    pub sections: Vec<Section>,
}

pub(crate) use crate::io::le::{u16_at, u32_at};

fn need<T>(v: Option<T>, structure: &'static str, at: usize) -> Result<T> {
    v.ok_or_else(|| {
        Error::malformed(
            structure,
            at as u64,
            format!("{structure} runs past the end"),
        )
    })
}

/// Where the headers lie: (`e_lfanew`, optional header size, section count), from the first
/// bytes of the file.
fn frame(b: &[u8]) -> Result<(usize, usize, usize)> {
    if b.get(..2) != Some(b"MZ".as_slice()) {
        return Err(Error::malformed("DOS header", 0, "no 'MZ' signature"));
    }
    let lfanew = u64::from(need(u32_at(b, 0x3c), "DOS header", 0x3c)?);
    if lfanew > MAX_LFANEW {
        return Err(Error::malformed(
            "DOS header",
            0x3c,
            format!("PE header offset {lfanew} is implausible"),
        ));
    }
    let lfanew = lfanew as usize;
    if b.get(lfanew..lfanew + 4) != Some(b"PE\0\0".as_slice()) {
        return Err(Error::malformed(
            "PE header",
            lfanew as u64,
            "no 'PE\\0\\0' signature",
        ));
    }
    let nsec = need(u16_at(b, lfanew + 6), "COFF header", lfanew + 4)?;
    let opt_size = need(u16_at(b, lfanew + 20), "COFF header", lfanew + 4)?;
    if nsec > MAX_SECTIONS {
        return Err(Error::malformed(
            "COFF header",
            lfanew as u64 + 6,
            format!("{nsec} sections (the format allows {MAX_SECTIONS})"),
        ));
    }
    Ok((lfanew, usize::from(opt_size), usize::from(nsec)))
}

impl PeHeaders {
    /// Parse the headers at the start of `b` (the whole image, or at least its headers).
    pub(crate) fn parse(b: &[u8]) -> Result<PeHeaders> {
        let (lfanew, opt_size, nsec) = frame(b)?;
        let coff = lfanew + 4;
        let machine = need(u16_at(b, coff), "COFF header", coff)?;
        let opt = coff + 20;
        let magic = need(u16_at(b, opt), "PE optional header", opt)?;
        let (pe32_plus, ndirs_at, dirs_at) = match magic {
            0x10b => (false, 92, 96),
            0x20b => (true, 108, 112),
            m => {
                return Err(Error::malformed(
                    "PE optional header",
                    opt as u64,
                    format!("unknown magic {m:#x}"),
                ))
            }
        };
        if opt + opt_size > b.len() {
            return Err(Error::malformed(
                "PE optional header",
                opt as u64,
                format!("{opt_size} bytes run past the end"),
            ));
        }
        let field = |at: usize| need(u32_at(b, opt + at), "PE optional header", opt + at);
        let image_base = if pe32_plus {
            u64::from(field(28)?) << 32 | u64::from(field(24)?)
        } else {
            u64::from(field(28)?)
        };
        let size_of_image = field(56)?;
        // Directories the optional header really holds (a short header holds fewer).
        let ndirs = if opt_size >= dirs_at {
            (field(ndirs_at)? as usize)
                .min(16)
                .min((opt_size - dirs_at) / 8)
        } else {
            0
        };
        let dirs = (0..ndirs)
            .map(|i| Ok((field(dirs_at + 8 * i)?, field(dirs_at + 8 * i + 4)?)))
            .collect::<Result<Vec<_>>>()?;
        let sec_at = opt + opt_size;
        let sections = (0..nsec)
            .map(|i| {
                let at = sec_at + 40 * i;
                let f = |o: usize| need(u32_at(b, at + o), "PE section table", at);
                Ok(Section {
                    virtual_size: f(8)?,
                    va: f(12)?,
                    raw_size: f(16)?,
                    raw_ptr: f(20)?,
                    characteristics: f(36)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PeHeaders {
            machine,
            pe32_plus,
            timestamp_at: coff + 4,
            checksum_at: opt + 64,
            image_base,
            size_of_image,
            dirs,
            dirs_at: opt + dirs_at,
            sections,
        })
    }

    /// Read the header bytes of `src` (DOS header through the section table) and parse them.
    pub(crate) fn read(src: &dyn ReadAt) -> Result<PeHeaders> {
        let dos = read_vec(src, "DOS header", 0, 64, 64)?;
        let lfanew = u64::from(u32_at(&dos, 0x3c).unwrap_or(0));
        if lfanew > MAX_LFANEW {
            // `frame` names the error.
            frame(&dos)?;
        }
        let start = read_vec(src, "PE header", 0, lfanew + 24, MAX_LFANEW + 24)?;
        let (lfanew, opt_size, nsec) = frame(&start)?;
        let len = (lfanew + 24 + opt_size + 40 * nsec) as u64;
        let all = read_vec(src, "PE section table", 0, len, len)?;
        PeHeaders::parse(&all)
    }

    /// Data directory `i` when present and non-empty.
    pub(crate) fn dir(&self, i: usize) -> Option<(u32, u32)> {
        self.dirs.get(i).copied().filter(|&(r, s)| r != 0 && s != 0)
    }
}
