//! Any bytes as a compressed chunk for each codec: decode must fill the output or give an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaprep_core::codec::{Compression, Decoder};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // First byte picks the codec, the next two the output size (up to the 32 KiB WIM chunk).
    let kind = match data[0] % 3 {
        0 => Compression::Xpress,
        1 => Compression::Lzx,
        _ => Compression::Lzms,
    };
    let out_len = (usize::from(u16::from_le_bytes([data[1], data[2]])) % 32768) + 1;
    let mut out = vec![0u8; out_len];
    let _ = Decoder::new(kind).decompress(&data[3..], &mut out);
});
