//! Any bytes as a PA30/PA31 delta against a small reference, and as a DCM manifest against a small
//! base: apply must return a target of the header's size or a typed error, never panic or hang.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaprep_core::delta::{self, dcm, ApplyOptions};

/// A small reference with both text and binary runs, so copies from it can succeed.
fn reference() -> Vec<u8> {
    let mut r = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><assembly manifestVersion=\"1.0\">".to_vec();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while r.len() < 4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.push((x >> 24) as u8);
    }
    r
}

fuzz_target!(|data: &[u8]| {
    let opts = ApplyOptions {
        max_target_size: 1 << 20,
        ..ApplyOptions::default()
    };
    let reference = reference();
    if let Ok(out) = delta::apply(&reference, data, &opts) {
        let h = delta::parse_header(data).expect("applied delta has a header");
        assert_eq!(out.len() as u64, h.target_size);
    }
    let _ = dcm::decode(&reference, data, &opts);
    let _ = delta::apply(&[], data, &opts);
});
