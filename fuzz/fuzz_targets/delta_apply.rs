//! Any bytes as a PA30/PA31 delta against a small reference, and as a DCM manifest against a small
//! base: apply must return a target of the header's size or a typed error, never panic or hang.
//! The same bytes also go, behind a valid Compression-API header, through the LZMS container path
//! of PA31 express deltas (sizes taken from the first four bytes).
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
    if data.len() >= 4 {
        let total = u64::from(u16::from_le_bytes([data[0], data[1]]));
        let chunk = u64::from(u16::from_le_bytes([data[2], data[3]])) + 1;
        let mut c = vec![0x0a, 0x51, 0xe5, 0xc0, 0x18, 0x00, 0x00, 0x05];
        c.extend_from_slice(&total.to_le_bytes());
        c.extend_from_slice(&chunk.to_le_bytes());
        c.extend_from_slice(&data[4..]);
        if let Ok(out) = delta::decode_lzms_container(&c, total, opts.max_target_size) {
            assert_eq!(out.len() as u64, total);
        }
    }
});
