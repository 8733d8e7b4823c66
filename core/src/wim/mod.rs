//! WIM, ESD and split WIM (SWM): on-disk structures, reading, and writing.

pub mod format;
pub mod model;
pub mod servicing;
