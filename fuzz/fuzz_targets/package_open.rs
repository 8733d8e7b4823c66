//! Any bytes as an update package (.cab / .msu): open and verify give a result or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaprep_core::io::{SharedReader, SliceSource};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let src: SharedReader = Arc::new(SliceSource::new(data.to_vec()));
    if let Ok(pkg) = mediaprep_core::package::open_package(src, "fuzz.cab") {
        let _ = pkg.verify(&Default::default());
    }
});
