//! mediaprep-core: everything mediaprep knows about Windows media, with no browser types.
//!
//! Layers, each importing only the ones before it (docs/architecture.md):
//! * foundation: [`error`], [`hash`], [`civil`] (calendar arithmetic), [`io`] (random-access reads, positioned writes, and the
//!   [`io::OutputStore`] every output goes through);
//! * vocabulary: [`cbs`] (package kinds, four-part versions, WinSxS names, package records: what
//!   every format and servicing say about Windows servicing, one definition each; foundation only);
//! * formats: [`codec`] (XPRESS, LZX, LZMS), [`iso`] (ISO 9660 + UDF), [`wim`] (read, write; uses
//!   `codec`), [`package`] (CAB/MSU, CBS manifests), [`pe`] (version and other resources),
//!   [`delta`] (Microsoft PA30/PA31 deltas and DCM manifests: apply, create);
//! * knowledge: [`catalog`] (updates, applicability, DISM procedure);
//! * inspection and reports: [`media`] (open and describe what the user brings), [`report`],
//!   [`manifest_base`] (the base DCM manifests are deltas against, from an image's servicing stack);
//! * servicing: [`service`] (apply packages, write the new image; [`service::run_patch`] is the
//!   whole patch job the CLI and the browser worker both run).
//!
//! Every offset is a `u64`: install.wim exceeds 4 GiB and wasm32's `usize` is 32 bits. Every length or
//! count read from a file is checked against the file and a sane limit before it sizes an allocation.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod cbs;
pub mod civil;
pub mod codec;
pub mod delta;
pub mod error;
pub mod hash;
pub mod io;
pub mod iso;
pub mod manifest_base;
pub mod media;
pub mod package;
pub mod pe;
pub mod phases;
pub mod report;
pub mod service;
pub mod wim;

pub use error::{Error, Result};
