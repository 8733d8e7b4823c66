//! The transforms of the reference image and the gate that refuses what is not implemented.

use super::image::{self, Image, DIR_BOUND_IMPORT, DIR_CLR, DIR_DEBUG, DIR_EXPORT};
use super::owned::Owned;
use super::preprocess::PePreprocess;
use super::reading::{PeReading, Varied};
use super::riftmap::{self, Map};
use super::x64::{self, RipVariant};
use super::{lock, tables, x86};
use crate::delta::header::{file_type_name, DeltaHeader};
use crate::delta::rift::Rift;
use crate::{Error, Result};

/// File type I386.
pub(crate) const FILE_TYPE_I386: u64 = 2;
/// File type AMD64.
pub(crate) const FILE_TYPE_AMD64: u64 = 8;

/// Transform flag bits and their names (jlevere/msdelta docs/feature-atoms.tsv names them, 0x40
/// from the SDK's `msdelta.h`, `DELTA_FLAG_I386_SMASHLOCK`; the vectors' flags 0xe63e / 0xe1fe are
/// built from them).
pub(crate) const TRANSFORMS: &[(u64, &str)] = &[
    (0x1, "E8 filter"),
    (0x2, "MarkNonExe"),
    (0x4, "imports"),
    (0x8, "exports"),
    (0x10, "resources"),
    (0x20, "relocations"),
    (0x40, LOCK_NAME),
    (0x80, "x86 relative jumps"),
    (0x100, "x86 relative calls"),
    (0x200, x64::NAME),
    (0x400, "x64 .pdata"),
    (0x2000, "unbind (bound imports)"),
    (0x4000, "CLI disassembly"),
    (0x8000, "CLI metadata"),
];

/// The I386 lock-prefix transform's name in `delta info` and in errors.
pub(crate) const LOCK_NAME: &str = "x86 lock-prefix smashing (0x40)";

/// Transforms implemented per file type (flag bits); every other selected bit is reported as
/// missing when it could change bytes.
const I386_DONE: u64 = 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x80 | 0x100;
const AMD64_DONE: u64 = 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x400;
/// Bits that change no byte of a native image: the CLI transforms (a .NET reference is refused
/// before this point).
const NO_OP_NATIVE: u64 = 0x4000 | 0x8000;
/// I386 bits whose effect is not described anywhere public (0x40, named "smash lock prefixes of
/// source PE" by `msdelta.h`, nothing more): may change bytes even when no RVA moves.
const I386_UNDESCRIBED: u64 = 0x40;

/// Names of the transforms `flags` selects.
pub(crate) fn selected(flags: u64) -> Vec<&'static str> {
    TRANSFORMS
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn unsupported(h: &DeltaHeader, transform: &str) -> Error {
    Error::unsupported(
        "PE-typed delta",
        format!(
        "PE-typed delta, file type {} ({}), flags {:#x}: transform not implemented: {transform}",
        h.file_type,
        file_type_name(h.file_type),
        h.flags
    ),
    )
}

/// The reference as the codec sees it, and the copy rift it predicts positions with.
pub(crate) struct Prepared {
    pub reference: Vec<u8>,
    pub rift: Vec<Rift>,
    /// True when every transform the flags select was either applied or is provably the
    /// identity on this reference (no address changes between reference and target). When
    /// false the output is only accepted with a matching target hash.
    pub complete: bool,
    /// Transforms the flags select that may change bytes and are not implemented (or, as the
    /// RIP-relative transform, implemented only as a reading the target hash must confirm).
    pub missing: Vec<String>,
    /// The RIP-relative reading applied, when the transform ran (AMD64, flag 0x200, an RVA
    /// moves); `None` when it was not selected or is the identity.
    pub rip: Option<RipVariant>,
    /// Which reading dimensions change a byte of this reference.
    pub varied: Varied,
    /// The image base change, reference → target, when the two differ (a rebase).
    pub rebased: Option<(u64, u64)>,
}

/// Refuse, by name, file types whose transforms are not implemented.
pub(crate) fn check_file_type(h: &DeltaHeader) -> Result<()> {
    match h.file_type {
        FILE_TYPE_I386 | FILE_TYPE_AMD64 => {}
        _ => {
            return Err(unsupported(
                h,
                "all (only I386 and AMD64 are implemented; ARM/ARM64 instruction transforms are \
                 not publicly known, IA64 and CLI4 have no vectors)",
            ))
        }
    }
    Ok(())
}

/// Apply the transforms of a PE-typed delta to `reference`, those whose rules are read rather
/// than described (RIP-relative, lock prefixes, resource data entries, unwind information) in
/// `reading`.
pub(crate) fn prepare(
    h: &DeltaHeader,
    reference: &[u8],
    pp: &PePreprocess,
    reading: PeReading,
) -> Result<Prepared> {
    check_file_type(h)?;
    if h.flags & 0x1 != 0 {
        return Err(unsupported(h, "E8 filter (0x1) on a PE-typed delta"));
    }
    let img = Image::parse(reference)?;
    let i386 = h.file_type == FILE_TYPE_I386;
    let want_machine = if i386 { 0x014c } else { 0x8664 };
    if img.machine != want_machine {
        return Err(Error::malformed(
            "PE reference image",
            img.timestamp_at as u64 - 4,
            format!(
                "machine {:#x} does not match delta file type {}",
                img.machine,
                file_type_name(h.file_type)
            ),
        ));
    }
    if img.dir(DIR_CLR).is_some() {
        return Err(unsupported(h, "CLI metadata (.NET reference image)"));
    }
    let mut out = reference.to_vec();

    // A different target image base: the header takes it and the relocation transform rebases
    // every stored address onto it (below).
    let rebased = (img.image_base != pp.image_base).then_some((img.image_base, pp.image_base));
    if rebased.is_some() {
        let (at, width) = img.image_base_field();
        if let Some(b) = out.get_mut(at..at + width) {
            b.copy_from_slice(&pp.image_base.to_le_bytes()[..width]);
        }
    }

    // The checksum is zeroed; the patch writes the target's.
    if let Some(b) = out.get_mut(img.checksum_at..img.checksum_at + 4) {
        b.fill(0);
    }

    set_timestamps(&img, &mut out, pp.timestamp);

    // Lock prefixes (I386, 0x40): listed by the reference's own load configuration, rewritten
    // before any address moves.
    let mut lock_varies = false;
    if i386 && h.flags & 0x40 != 0 {
        let sites = lock::sites(&img, reference);
        lock_varies = lock::varies(reference, &sites);
        lock::apply(&mut out, &sites, reading.lock);
    }

    // Address translation: reference RVA → target RVA.
    let rva_map = riftmap::from_rifts(pp.rva_rift.as_deref().unwrap_or(&[]));
    let target_layout = riftmap::from_rifts(pp.layout_rift.as_deref().unwrap_or(&[]));
    let ref_layout = img.layout();
    let rift = riftmap::compose(&target_layout, &rva_map, &ref_layout);

    let mut varied = address_transforms(
        h.file_type,
        h.flags,
        &img,
        &mut out,
        &rva_map,
        pp.image_base,
        reading,
    );
    varied.lock = lock_varies;

    let mut missing = missing_transforms(h, &img, &rva_map, pp);
    if let Some((from, to)) = rebased {
        // Described (jlevere: stored VAs rebased onto the target base; the header field set),
        // confirmed by no vector: the target hash must.
        missing.push(format!("image base change {from:#x} → {to:#x} (rebasing)"));
    }
    Ok(Prepared {
        reference: out,
        rift,
        complete: missing.is_empty(),
        missing,
        rip: varied.rip.then_some(reading.rip),
        varied,
        rebased,
    })
}

/// The address transforms `flags` select for `file_type`, applied to `reference` with the RVA
/// map given as (reference RVA, target RVA) breakpoints, the RIP-relative one in reading `rip`;
/// checksum and timestamps untouched.
pub(crate) fn address_only(
    file_type: u64,
    flags: u64,
    reference: &[u8],
    rva_map: &[(u32, u32)],
    reading: PeReading,
    target_base: Option<u64>,
) -> Result<Vec<u8>> {
    if file_type != FILE_TYPE_I386 && file_type != FILE_TYPE_AMD64 {
        return Err(Error::unsupported(
            "PE-typed delta",
            format!(
                "PE address transforms for file type {file_type} ({})",
                file_type_name(file_type)
            ),
        ));
    }
    let img = Image::parse(reference)?;
    let map = Map::new(
        rva_map
            .iter()
            .map(|&(r, t)| (i64::from(r), i64::from(t)))
            .collect(),
    );
    let mut out = reference.to_vec();
    let base = target_base.unwrap_or(img.image_base);
    address_transforms(file_type, flags, &img, &mut out, &map, base, reading);
    Ok(out)
}

/// The address transforms the flags select, in the order of the native transform table:
/// MarkNonExe, imports, exports, resources, relocations, jumps, calls (I386); imports, exports,
/// resources, relocations, RIP-relative operands, `.pdata` (AMD64); the read rules from
/// `reading`. With an identity map each is the identity (a jump's displacement keeps its size),
/// so only the relocations' rebase runs, when `target_base` differs from the image's. Returns
/// which read rules would write other bytes in another reading (RIP-relative: whenever it ran).
fn address_transforms(
    file_type: u64,
    f: u64,
    img: &Image,
    out: &mut [u8],
    map: &Map,
    target_base: u64,
    reading: PeReading,
) -> Varied {
    let i386 = file_type == FILE_TYPE_I386;
    let mut owned = Owned::new(out.len());
    let mut varied = Varied::default();
    if map.is_identity() {
        if target_base != img.image_base && f & 0x20 != 0 {
            super::reloc::transform(img, out, &mut owned, map, target_base);
        }
        return varied;
    }
    if i386 && f & 0x2 != 0 {
        x86::mark_non_exe(img, &mut owned, out.len());
    }
    if f & 0x4 != 0 {
        tables::imports(img, out, &mut owned, map, target_base);
    }
    if f & 0x8 != 0 {
        tables::exports(img, out, &mut owned, map);
    }
    if f & 0x10 != 0 {
        varied.resources = tables::resources(img, out, &mut owned, map, reading.resources) > 0;
    }
    if f & 0x20 != 0 {
        super::reloc::transform(img, out, &mut owned, map, target_base);
    }
    if i386 && f & 0x80 != 0 {
        x86::jumps(img, out, &owned, map);
    }
    if i386 && f & 0x100 != 0 {
        x86::calls(img, out, &owned, map);
    }
    if !i386 && f & 0x200 != 0 {
        // Before `.pdata`: it reads the reference's function ranges.
        x64::rip_relative(img, out, &mut owned, map, reading.rip);
        varied.rip = true;
    }
    if !i386 && f & 0x400 != 0 {
        varied.pdata = tables::pdata(img, out, &mut owned, map, reading.pdata) > 0;
    }
    varied
}

/// Which selected transforms could still change bytes and are not implemented: any bit not
/// implemented for the file type when an RVA moves, I386's undescribed 0x40 always, unbind when
/// the reference has bound imports, a non-zero preprocess checksum.
fn missing_transforms(h: &DeltaHeader, img: &Image, map: &Map, pp: &PePreprocess) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    let known: u64 = TRANSFORMS.iter().map(|t| t.0).sum();
    if h.flags & !known != 0 {
        missing.push(format!("unknown flag bits {:#x}", h.flags & !known));
    }
    let i386 = h.file_type == FILE_TYPE_I386;
    let done = if i386 { I386_DONE } else { AMD64_DONE };
    for &(bit, name) in TRANSFORMS {
        if h.flags & bit == 0 || bit & (done | NO_OP_NATIVE | 0x2000) != 0 {
            continue;
        }
        let undescribed = i386 && bit & I386_UNDESCRIBED != 0;
        if undescribed || !map.is_identity() {
            missing.push(name.to_string());
        }
    }
    if pp.checksum != 0 {
        // Every vector has 0 here and writes the checksum through the patch.
        missing.push(format!(
            "target checksum {:#x} from the preprocess buffer",
            pp.checksum
        ));
    }
    if h.flags & 0x2000 != 0 && img.dir(DIR_BOUND_IMPORT).is_some() {
        missing.push("unbind (bound imports)".into());
    }
    missing
}

/// Every place the reference stores its link timestamp takes the target's: the COFF header,
/// the export directory, each debug directory entry, and copies of it inside debug data (the
/// REPRO entry's hash ends with it).
fn set_timestamps(img: &Image, out: &mut [u8], ts: u32) {
    let Some(old) = image::u32_at(out, img.timestamp_at) else {
        return;
    };
    let new = ts.to_le_bytes();
    let put = |out: &mut [u8], at: usize| {
        if image::u32_at(out, at) == Some(old) {
            out[at..at + 4].copy_from_slice(&new);
        }
    };
    put(out, img.timestamp_at);
    if let Some((rva, _)) = img.dir(DIR_EXPORT) {
        if let Some(at) = img.offset(rva, 40) {
            put(out, at + 4);
        }
    }
    if let Some((rva, size)) = img.dir(DIR_DEBUG) {
        let n = (size / 28).min(64);
        for i in 0..n {
            let Some(at) = rva.checked_add(28 * i).and_then(|r| img.offset(r, 28)) else {
                break;
            };
            put(out, at + 4);
            let data_size = image::u32_at(out, at + 16).unwrap_or(0) as usize;
            let data_ptr = image::u32_at(out, at + 24).unwrap_or(0) as usize;
            if data_ptr == 0 || data_size > (1 << 20) {
                continue;
            }
            let end = data_ptr.saturating_add(data_size).min(out.len());
            let mut p = data_ptr;
            while p + 4 <= end {
                put(out, p);
                p += 4;
            }
        }
    }
}
