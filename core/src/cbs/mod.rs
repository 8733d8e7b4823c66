//! Windows servicing (CBS) vocabulary, one definition each: what kind of package something is
//! ([`PackageKind`]), four-part versions ([`Version4`]), component identities and their WinSxS
//! folder names ([`IdentityKey`], [`SxsName`], [`WINSXS`]), and package records
//! (`Windows\servicing\Packages\name~token~arch~lang~version.mum`: [`PackageRecord`],
//! [`PACKAGES_DIR`]).
//!
//! Why a module of its own: package files (`package`), images (`wim::servicing`), PE files (`pe`),
//! the DCM base (`manifest_base`) and servicing (`service`) all speak about the same things; each
//! had its own copy, and the copies had started to differ. This module reads no container: it
//! imports only the foundation layer (docs/architecture.md), so every format may use it.

pub mod kind;
pub mod record;
pub mod sxs;
pub mod version;
pub mod xml;

pub use kind::PackageKind;
pub use record::{
    identities_in_mum, parse_record_name, PackageRecord, MAX_MUM_BYTES, PACKAGES_DIR,
};
pub use sxs::{sxs_name_matches, IdentityKey, SxsName, WINSXS, WINSXS_MANIFESTS};
pub use version::Version4;
