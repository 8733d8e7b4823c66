//! Any bytes as a media file (ISO, WIM, ESD): inspect must return a report or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaprep_core::io::{NoProgress, SharedReader, SliceSource};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let src: SharedReader = Arc::new(SliceSource::new(data.to_vec()));
    let _ = mediaprep_core::media::inspect(vec![("fuzz".into(), src)], &NoProgress);
});
