//! WIM, ESD and split WIM (SWM): on-disk structures, reading, and writing.

pub mod format;
pub mod meta_read;
pub mod meta_write;
pub mod model;
pub mod read;
pub mod servicing;
pub mod split;
pub mod write;
pub mod xml;
pub mod xml_write;

pub use read::{
    BlobInfo, BlobLocation, BlobReader, CopiedResource, RawResource, VerifyReport, Wim,
};
pub use xml::{Arch, ImageInfo};
