//! mediaprep-core: everything mediaprep knows about Windows media, with no browser types.
//!
//! The modules follow the data: [`io`] (random-access reads) → [`iso`] (ISO 9660 + UDF) → [`wim`]
//! (read, write) → [`codec`] (XPRESS, LZX, LZMS) → [`package`] (CAB/MSU, CBS manifests) → [`catalog`]
//! (updates, applicability) → [`service`] (apply a package, write the new image) → [`report`].
//! [`manifest_base`] finds the base that DCM-compressed manifests are deltas against ([`pe`] reads it).
//!
//! Every offset is a `u64`: install.wim exceeds 4 GiB and wasm32's `usize` is 32 bits. Every length or
//! count read from a file is checked against the file and a sane limit before it sizes an allocation.

pub mod catalog;
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
pub mod report;
pub mod service;
pub mod wim;

pub use error::{Error, Result};
