//! E8 (x86 CALL) translation. WIM LZX always applies it with a fixed translation size: the encoder
//! turns the relative target of every `E8 xx xx xx xx` into an absolute one (repeated calls to one
//! function then become repeated byte strings) and the decoder turns it back.

use super::tables::E8_SIZE;

/// Calls starting in the last 10 bytes are left alone (and chunks of ≤ 10 bytes entirely).
const TAIL: usize = 10;

fn translate(data: &mut [u8], encode: bool) {
    if data.len() <= TAIL {
        return;
    }
    let limit = data.len() - TAIL;
    let mut i = 0;
    while i < limit {
        // E8 bytes are a few percent of code and rarer elsewhere: jump between them.
        match memchr::memchr(0xE8, &data[i..limit]) {
            Some(k) => i += k,
            None => break,
        }
        let pos = i as i32;
        let b = [data[i + 1], data[i + 2], data[i + 3], data[i + 4]];
        let v = i32::from_le_bytes(b);
        let new = if encode {
            if v >= -pos && v < E8_SIZE {
                Some(if v < E8_SIZE - pos {
                    v + pos
                } else {
                    v - E8_SIZE
                })
            } else {
                None
            }
        } else if v >= -pos && v < E8_SIZE {
            Some(if v >= 0 { v - pos } else { v + E8_SIZE })
        } else {
            None
        };
        if let Some(n) = new {
            data[i + 1..i + 5].copy_from_slice(&n.to_le_bytes());
        }
        i += 5;
    }
}

/// Undo the translation after decoding.
pub fn undo(data: &mut [u8]) {
    translate(data, false)
}

/// Apply the translation before encoding.
pub fn apply(data: &mut [u8]) {
    translate(data, true)
}
