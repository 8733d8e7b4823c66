//! PE-typed deltas (file types I386 and AMD64): the reference image is transformed into the
//! target's address space before the PseudoLzx codec copies from it, and the codec predicts
//! source positions through a copy rift composed from the preprocess buffer's rift tables.
//!
//! Order (as applied here): parse the preprocess buffer → check the file type and the reference
//! image → zero the checksum → set every link timestamp to the target's → compose the copy rift
//! → when an RVA moves, the address transforms in the native table's order (MarkNonExe, imports,
//! exports, resources, relocations, x86 jumps, x86 calls; on AMD64 RIP-relative operands, then
//! `.pdata`). Where a rule is not public (RIP-relative operands, lock prefixes, resource data
//! entries) each reading is tried against the target hash (module [`reading`]). See
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
