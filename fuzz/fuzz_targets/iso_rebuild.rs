//! Any bytes as a source ISO for the ISO writer: opening it, reading its El Torito catalog,
//! planning the rebuilt image, writing it (when small) and re-reading it must give a result or a
//! typed error, never a panic, hang or unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaprep_core::io::{NoProgress, SharedReader, SliceSource};
use mediaprep_core::iso::write::IsoPlan;
use mediaprep_core::iso::IsoImage;
use std::sync::Arc;

/// Largest rebuilt image written in memory (the plan's size comes from the fuzzed tree).
const MAX_OUT: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let src: SharedReader = Arc::new(SliceSource::new(data.to_vec()));
    let Ok(iso) = IsoImage::open(src) else { return };
    let _ = iso.boot_catalog();
    let Ok(plan) = IsoPlan::new(&iso, Vec::new()) else {
        return;
    };
    if plan.size() > MAX_OUT {
        return;
    }
    let mut out = Vec::new();
    let Ok(written) = plan.write(&mut out, &NoProgress) else {
        return;
    };
    let back: SharedReader = Arc::new(SliceSource::new(out));
    let _ = plan.verify(&written, back, &NoProgress);
});
