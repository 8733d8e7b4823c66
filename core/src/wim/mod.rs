//! WIM, ESD and split WIM (SWM): on-disk structures, reading, and writing.

pub mod format;
pub mod model;
pub mod servicing;
pub mod meta_write;
pub mod write;
pub mod xml_write;
