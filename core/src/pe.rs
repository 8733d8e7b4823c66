//! PE (Portable Executable) version resources: the `VS_VERSIONINFO` file version of a binary.
//!
//! Why: the file version of WinRE's own binaries (e.g. `winpeshl.exe`, `ntoskrnl.exe`) is one of the
//! independent signals of what an image really contains when the WIM XML and the package records
//! disagree. We need only the version resource, so this is a small reader of our own rather than a
//! general PE crate: DOS header → PE header (PE32 or PE32+) → section table → resource directory
//! (type 16, `RT_VERSION`) → `VS_VERSIONINFO` → `VS_FIXEDFILEINFO` (+ the `StringFileInfo` strings).
//! Reads go through [`ReadAt`] so a PE inside a WIM image is read without extracting it; every
//! offset, length and count from the file is checked before use.
//!
//! [`find_resource`] / [`read_resource`] (module `resource`) look up any resource by integer type
//! and name id over the same header and section-table reader.

pub(crate) mod headers;
mod resource;

pub use resource::{
    find_resource, find_resource_lang, locate_resource, read_resource, ResourceLocation,
};

use crate::io::{check_range, read_vec, ReadAt};
use crate::{Error, Result};

/// CPU architecture from the COFF header's `Machine` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Machine {
    /// 0x014c, i386.
    X86,
    /// 0x8664, AMD64.
    X64,
    /// 0xaa64, ARM64.
    Arm64,
    /// 0x01c4, ARMv7 Thumb-2.
    ArmNt,
    /// Anything else (raw value).
    Other(u16),
}

impl Machine {
    /// Classify a raw `Machine` value.
    pub fn from_raw(v: u16) -> Machine {
        match v {
            0x014c => Machine::X86,
            0x8664 => Machine::X64,
            0xaa64 => Machine::Arm64,
            0x01c4 => Machine::ArmNt,
            o => Machine::Other(o),
        }
    }
}

/// A four-part binary version `major.minor.build.revision` from `VS_FIXEDFILEINFO` (each part
/// 16 bits in the file).
pub use crate::cbs::Version4 as Version;

/// What the version resource of one PE file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeVersion {
    /// COFF machine type.
    pub machine: Machine,
    /// True for PE32+ (64-bit optional header).
    pub pe32_plus: bool,
    /// `VS_FIXEDFILEINFO` file version.
    pub file_version: Version,
    /// `VS_FIXEDFILEINFO` product version.
    pub product_version: Version,
    /// `StringFileInfo` `FileVersion` string of the first string table, if present.
    pub file_version_string: Option<String>,
    /// `StringFileInfo` `ProductVersion` string of the first string table, if present.
    pub product_version_string: Option<String>,
}

/// Upper bound on a version resource (real ones are a few KiB).
const MAX_VERSION_RESOURCE: u64 = 1 << 20;
/// Upper bound on entries scanned in one resource directory.
const MAX_DIR_ENTRIES: u32 = 4096;
/// `VS_FIXEDFILEINFO.dwSignature`.
const FIXED_SIGNATURE: u32 = 0xFEEF_04BD;
/// Resource type of version resources.
const RT_VERSION: u32 = 16;

fn rd<const N: usize>(src: &dyn ReadAt, structure: &'static str, off: u64) -> Result<[u8; N]> {
    check_range(structure, off, N as u64, src.size())?;
    let mut b = [0u8; N];
    src.read_at(off, &mut b)?;
    Ok(b)
}

use headers::{u16_at, u32_at};

/// Maps RVAs to file offsets through the section table.
struct Layout<'a> {
    src: &'a dyn ReadAt,
    sections: Vec<headers::Section>,
}

impl Layout<'_> {
    /// File offset of `len` bytes at `rva`, all inside one section's raw data.
    fn offset(&self, rva: u32, len: u32, what: &'static str) -> Result<u64> {
        for s in &self.sections {
            let Some(delta) = rva.checked_sub(s.va) else {
                continue;
            };
            if delta < s.raw_size {
                if u64::from(delta) + u64::from(len) > u64::from(s.raw_size) {
                    return Err(Error::malformed(
                        what,
                        u64::from(rva),
                        format!("{len} bytes at RVA {rva:#x} run past the end of their section"),
                    ));
                }
                let off = u64::from(s.raw_ptr) + u64::from(delta);
                check_range(what, off, u64::from(len), self.src.size())?;
                return Ok(off);
            }
        }
        Err(Error::malformed(
            what,
            u64::from(rva),
            format!("RVA {rva:#x} is in no section's file data"),
        ))
    }

    fn read<const N: usize>(&self, rva: u32, what: &'static str) -> Result<[u8; N]> {
        let off = self.offset(rva, N as u32, what)?;
        rd::<N>(self.src, what, off)
    }
}

/// What the headers of a PE file say, as far as resource lookups need: the machine, the optional
/// header kind, the resource table's data directory and the section table (through [`Layout`]).
struct Headers<'a> {
    machine: Machine,
    pe32_plus: bool,
    /// Data directory 2 (RVA, size), `None` when absent or empty.
    resources: Option<(u32, u32)>,
    /// File offset of data directory 2 (where errors about the table's RVA point).
    resources_at: u64,
    layout: Layout<'a>,
}

/// Parse the DOS header, PE signature, COFF header, optional header and section table (the
/// parser shared with the PE-typed delta transforms, `pe::headers`).
fn headers(src: &dyn ReadAt) -> Result<Headers<'_>> {
    let h = headers::PeHeaders::read(src)?;
    Ok(Headers {
        machine: Machine::from_raw(h.machine),
        pe32_plus: h.pe32_plus,
        resources: h.dir(2),
        resources_at: h.dirs_at as u64 + 16,
        layout: Layout {
            src,
            sections: h.sections,
        },
    })
}

/// Read the version resource of a PE file.
///
/// `Ok(None)` means a well-formed PE without a version resource. Anything that is not a PE or whose
/// headers, section table or resource tree point outside the file is an error.
pub fn file_version(src: &dyn ReadAt) -> Result<Option<PeVersion>> {
    let h = headers(src)?;
    let Some((res_rva, res_size)) = h.resources else {
        return Ok(None);
    };
    let Some(data) = find_version_resource(&h.layout, res_rva, res_size)? else {
        return Ok(None);
    };
    let mut v = parse_version_info(&data)?;
    v.machine = h.machine;
    v.pe32_plus = h.pe32_plus;
    Ok(Some(v))
}

/// Walk type → name → language of the resource tree; returns the first `RT_VERSION` data.
fn find_version_resource(l: &Layout<'_>, base: u32, size: u32) -> Result<Option<Vec<u8>>> {
    const S: &str = "PE resource directory";
    let Some(type_dir) = dir_entry(l, base, size, 0, Some(RT_VERSION))? else {
        return Ok(None);
    };
    let Some(name_dir) = dir_entry(l, base, size, subdir(type_dir, base)?, None)? else {
        return Ok(None);
    };
    let Some(lang) = dir_entry(l, base, size, subdir(name_dir, base)?, None)? else {
        return Ok(None);
    };
    if lang & 0x8000_0000 != 0 {
        return Err(Error::malformed(
            S,
            u64::from(base),
            "a fourth directory level where a data entry belongs",
        ));
    }
    if lang >= size {
        return Err(Error::malformed(
            S,
            u64::from(base),
            format!("data entry offset {lang:#x} outside the resource section"),
        ));
    }
    let entry: [u8; 16] = l.read(base.saturating_add(lang), "PE resource data entry")?;
    let data_rva = u32_at(&entry, 0).unwrap_or(0);
    let data_len = u32_at(&entry, 4).unwrap_or(0);
    if u64::from(data_len) > MAX_VERSION_RESOURCE {
        return Err(Error::limit(
            data_len,
            MAX_VERSION_RESOURCE,
            format!("version resource of {data_len} bytes (limit {MAX_VERSION_RESOURCE})"),
        ));
    }
    let off = l.offset(data_rva, data_len, "VS_VERSIONINFO")?;
    read_vec(
        l.src,
        "VS_VERSIONINFO",
        off,
        u64::from(data_len),
        MAX_VERSION_RESOURCE,
    )
    .map(Some)
}

/// A subdirectory entry's offset (high bit set), or an error when it points at data instead.
fn subdir(entry: u32, base: u32) -> Result<u32> {
    if entry & 0x8000_0000 == 0 {
        return Err(Error::malformed(
            "PE resource directory",
            u64::from(base),
            "a data entry where a subdirectory belongs",
        ));
    }
    Ok(entry & 0x7FFF_FFFF)
}

/// In the directory at `dir_off` (relative to the resource base), the `OffsetToData` of the entry
/// with integer id `want` (or of the first entry when `want` is `None`).
fn dir_entry(
    l: &Layout<'_>,
    base: u32,
    size: u32,
    dir_off: u32,
    want: Option<u32>,
) -> Result<Option<u32>> {
    const S: &str = "PE resource directory";
    if dir_off >= size {
        return Err(Error::malformed(
            S,
            u64::from(base),
            format!("directory offset {dir_off:#x} outside the {size}-byte resource section"),
        ));
    }
    let rva = base
        .checked_add(dir_off)
        .ok_or_else(|| Error::malformed(S, u64::from(base), "directory RVA overflows"))?;
    let hdr: [u8; 16] = l.read(rva, S)?;
    let named = u32::from(u16_at(&hdr, 12).unwrap_or(0));
    let ids = u32::from(u16_at(&hdr, 14).unwrap_or(0));
    let total = named + ids;
    if total > MAX_DIR_ENTRIES {
        return Err(Error::limit(
            total,
            MAX_DIR_ENTRIES,
            format!("resource directory at RVA {rva:#x} has {total} entries"),
        ));
    }
    for i in 0..total {
        let at = rva
            .checked_add(16 + i * 8)
            .ok_or_else(|| Error::malformed(S, u64::from(rva), "entry RVA overflows"))?;
        let e: [u8; 8] = l.read(at, S)?;
        let name = u32_at(&e, 0).unwrap_or(0);
        let target = u32_at(&e, 4).unwrap_or(0);
        let matches = match want {
            None => true,
            // Integer ids have the high bit clear (named entries point to a string instead).
            Some(id) => name & 0x8000_0000 == 0 && name == id,
        };
        if matches {
            return Ok(Some(target));
        }
    }
    Ok(None)
}

/// One node of the `VS_VERSIONINFO` tree (`wLength, wValueLength, wType, szKey, Padding, Value,
/// Padding, Children`), offsets relative to the resource buffer.
struct Block {
    key: Vec<u16>,
    value: std::ops::Range<usize>,
    children: std::ops::Range<usize>,
    end: usize,
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}

fn block(buf: &[u8], at: usize, limit: usize) -> Result<Block> {
    const S: &str = "VS_VERSIONINFO";
    let bad = |r: &str| Error::malformed(S, at as u64, r.to_string());
    let len = usize::from(u16_at(buf, at).ok_or_else(|| bad("block header truncated"))?);
    let vlen = usize::from(u16_at(buf, at + 2).ok_or_else(|| bad("block header truncated"))?);
    let vtype = u16_at(buf, at + 4).ok_or_else(|| bad("block header truncated"))?;
    let end = at
        .checked_add(len)
        .filter(|&e| len >= 6 && e <= limit)
        .ok_or_else(|| bad("block length runs outside its parent"))?;
    let mut key = Vec::new();
    let mut p = at + 6;
    loop {
        let c = u16_at(buf, p)
            .filter(|_| p + 2 <= end)
            .ok_or_else(|| bad("unterminated key"))?;
        p += 2;
        if c == 0 {
            break;
        }
        key.push(c);
    }
    let vstart = align4(p).ok_or_else(|| bad("offset overflow"))?;
    // wType 1 = text: wValueLength counts UTF-16 units; 0 = binary: bytes.
    let vbytes = if vtype == 1 {
        vlen.saturating_mul(2)
    } else {
        vlen
    };
    let vend = vstart
        .checked_add(vbytes)
        .filter(|&v| v <= end)
        .ok_or_else(|| bad("value runs outside its block"))?;
    let cstart = align4(vend).ok_or_else(|| bad("offset overflow"))?.min(end);
    Ok(Block {
        key,
        value: vstart..vend,
        children: cstart..end,
        end,
    })
}

/// Visit the child blocks of `range`; each child ends at or before `range.end`.
fn children(buf: &[u8], range: std::ops::Range<usize>) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    let mut at = range.start;
    // Each iteration consumes at least 6 bytes (a child's minimum length), so this terminates.
    while at.saturating_add(6) <= range.end {
        let b = block(buf, at, range.end)?;
        at = align4(b.end).unwrap_or(usize::MAX);
        out.push(b);
    }
    Ok(out)
}

fn key_is(b: &Block, s: &str) -> bool {
    b.key.iter().copied().eq(s.encode_utf16())
}

fn parse_version_info(buf: &[u8]) -> Result<PeVersion> {
    const S: &str = "VS_VERSIONINFO";
    let root = block(buf, 0, buf.len())?;
    if !key_is(&root, "VS_VERSION_INFO") {
        return Err(Error::malformed(
            S,
            0,
            format!("key is '{}'", String::from_utf16_lossy(&root.key)),
        ));
    }
    let fixed = buf
        .get(root.value.clone())
        .filter(|v| v.len() >= 52)
        .ok_or_else(|| Error::malformed(S, 0, "VS_FIXEDFILEINFO missing or short"))?;
    let sig = u32_at(fixed, 0).unwrap_or(0);
    if sig != FIXED_SIGNATURE {
        return Err(Error::malformed(
            "VS_FIXEDFILEINFO",
            root.value.start as u64,
            format!("signature {sig:#010x}, expected {FIXED_SIGNATURE:#010x}"),
        ));
    }
    let f = |at: usize| u32_at(fixed, at).unwrap_or(0);
    let mut v = PeVersion {
        machine: Machine::Other(0),
        pe32_plus: false,
        file_version: Version::from_ms_ls(f(8), f(12)),
        product_version: Version::from_ms_ls(f(16), f(20)),
        file_version_string: None,
        product_version_string: None,
    };
    for sfi in children(buf, root.children.clone())? {
        if !key_is(&sfi, "StringFileInfo") {
            continue;
        }
        let Some(table) = children(buf, sfi.children.clone())?.into_iter().next() else {
            continue;
        };
        for s in children(buf, table.children.clone())? {
            let text = buf.get(s.value.clone()).map(|b| {
                let units: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                String::from_utf16_lossy(&units)
            });
            if key_is(&s, "FileVersion") {
                v.file_version_string = text;
            } else if key_is(&s, "ProductVersion") {
                v.product_version_string = text;
            }
        }
    }
    Ok(v)
}
