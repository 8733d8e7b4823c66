//! Any bytes as a PA30/PA31 delta against a small reference, and as a DCM manifest against a small
//! base: apply must return a target of the header's size or a typed error, never panic or hang.
//! The same bytes also go, behind a valid Compression-API header, through the LZMS container path
//! of PA31 express deltas (sizes taken from the first four bytes). And they reach the x86 E8
//! path of RAW deltas (flag 0x1, hash-judged readings) twice: as a patch buffer under a header
//! with flag 0x1 and a SHA-256 (decoding, then every reading against the hash), and as a target
//! that one reading filters, our encoder encodes and apply must give back byte for byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaprep_core::delta::{self, dcm, e8, encode, ApplyOptions};

/// A small reference with both text and binary runs, so copies from it can succeed.
fn reference() -> Vec<u8> {
    let mut r =
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?><assembly manifestVersion=\"1.0\">".to_vec();
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
    e8_paths(&reference, data, &opts);
});

fn e8_paths(reference: &[u8], data: &[u8], opts: &ApplyOptions) {
    let flagged = encode::CreateOptions {
        flags: delta::FLAG_E8,
        ..encode::CreateOptions::default()
    };
    // The input as a patch buffer; the header's size and hash are those of a prefix of it, so
    // a decoded output is possible but a confirmed one unlikely: any success must be that prefix.
    let want = &data[..data
        .len()
        .min(usize::from(data.first().copied().unwrap_or(0)) * 16)];
    let d = encode::wrap_patch(want, data, &flagged).expect("wrap");
    if let Ok(out) = delta::apply(reference, &d, opts) {
        assert!(
            out == want,
            "E8 path returned bytes the hash did not confirm"
        );
    }
    // The input as a target: filtered by one reading (W3 for anything starting like a PE, so an
    // i386 DLL seed reaches it; W1 or W2 by length otherwise), encoded, flagged, hashed unfiltered.
    // Encoding is the costly part: only small targets (the i386 seed is 8 KiB), so that the
    // other paths of this target keep their runs per second.
    if data.len() > 16 * 1024 {
        return;
    }
    let v = if data.starts_with(b"MZ") {
        e8::Variant::I386Sections
    } else {
        e8::Variant::ALL[data.len() % 2]
    };
    let mut filtered = data.to_vec();
    if !e8::forward(v, &mut filtered) {
        return; // W3 on bytes that are not an i386 PE
    }
    let patch = encode::create_patch(reference, &filtered, &flagged).expect("encode");
    let d = encode::wrap_patch(data, &patch, &flagged).expect("wrap");
    let got = delta::apply_detailed(reference, &d, opts).expect("E8 round trip applies");
    assert!(got.target == data, "E8 round trip gave other bytes");
    assert!(got.e8_variant.is_some());
}
