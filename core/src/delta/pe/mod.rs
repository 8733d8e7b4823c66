//! PE-typed deltas (file types I386 and AMD64): the reference image is transformed into the
//! target's address space before the PseudoLzx codec copies from it, and the codec predicts
//! source positions through a copy rift composed from the preprocess buffer's rift tables.
//!
//! Order (as applied here): parse the preprocess buffer → check the file type and the reference
//! image → zero the checksum → set every link timestamp to the target's → compose the copy rift
//! → when an RVA moves, the address transforms in the native table's order (MarkNonExe, imports,
//! exports, resources, relocations, x86 jumps, x86 calls; on AMD64 RIP-relative operands, then
//! `.pdata`). Where a rule is not public (RIP-relative operands, lock prefixes, resource data
//! entries, unwind information) each reading is tried against the target hash (module
//! [`reading`]). See
//! docs/formats/pa30-pe.md for what each step is established by (vector or description).

pub(crate) mod image;
pub(crate) mod lock;
pub(crate) mod owned;
pub(crate) mod preprocess;
pub(crate) mod reading;
pub(crate) mod reloc;
pub(crate) mod riftmap;
pub(crate) mod tables;
pub(crate) mod transform;
pub(crate) mod x64;
pub(crate) mod x64dec;
pub(crate) mod x86;

pub(crate) use preprocess::PePreprocess;
pub use reading::{LockVariant, PdataVariant, PeReading, ResourceVariant};
pub(crate) use transform::prepare;
pub use x64::RipVariant;

use super::header::DeltaHeader;
use crate::Result;

/// Check the file type and parse the preprocess buffer of a PE-typed delta. File types other
/// than I386/AMD64 are a typed [`crate::Error::Unsupported`].
pub(crate) fn preprocess(
    h: &DeltaHeader,
    preprocess: &[u8],
    preprocess_offset: u64,
) -> Result<PePreprocess> {
    transform::check_file_type(h)?;
    preprocess::parse(preprocess, preprocess_offset)
}

#[cfg(test)]
pub(crate) mod testpe {
    //! Hand-made PE images for the transforms' unit tests (layout: PE/COFF specification).

    /// Write `v` little-endian at `at`.
    pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// File offset of the optional header (the PE signature sits at 0x80).
    pub(crate) const OPT: usize = 0x98;

    /// File offset of data directory `i` (PE32+ when `wide`).
    pub(crate) fn dir(wide: bool, i: usize) -> usize {
        OPT + if wide { 112 } else { 96 } + 8 * i
    }

    /// A `len`-byte image: headers for `machine` (0x8664 → PE32+, else PE32) with link time
    /// `stamp`, `base`, `size_of_image`, 16 data directories, 0x400 bytes of headers, and the
    /// `sections` (name, RVA, file offset, characteristics), each 0x200 bytes in memory and file.
    pub(crate) fn image(
        len: usize,
        machine: u16,
        stamp: u32,
        base: u64,
        size_of_image: u32,
        sections: &[(&[u8; 5], u32, u32, u32)],
    ) -> Vec<u8> {
        let wide = machine == 0x8664;
        let mut b = vec![0u8; len];
        b[0..2].copy_from_slice(b"MZ");
        put32(&mut b, 0x3c, 0x80);
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        b[0x86..0x88].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        put32(&mut b, 0x88, stamp);
        let opt_size: u16 = if wide { 0xf0 } else { 0xe0 };
        b[0x94..0x96].copy_from_slice(&opt_size.to_le_bytes());
        b[OPT..OPT + 2].copy_from_slice(&(if wide { 0x20bu16 } else { 0x10b }).to_le_bytes());
        if wide {
            b[OPT + 24..OPT + 32].copy_from_slice(&base.to_le_bytes());
        } else {
            put32(&mut b, OPT + 28, base as u32);
        }
        put32(&mut b, OPT + 32, 0x1000);
        put32(&mut b, OPT + 36, 0x200);
        put32(&mut b, OPT + 56, size_of_image);
        put32(&mut b, OPT + 60, 0x400);
        put32(&mut b, OPT + if wide { 108 } else { 92 }, 16);
        for (i, (name, va, raw, ch)) in sections.iter().enumerate() {
            let s = OPT + usize::from(opt_size) + 40 * i;
            b[s..s + 5].copy_from_slice(*name);
            put32(&mut b, s + 8, 0x200);
            put32(&mut b, s + 12, *va);
            put32(&mut b, s + 16, 0x200);
            put32(&mut b, s + 20, *raw);
            put32(&mut b, s + 36, *ch);
        }
        b
    }
}
