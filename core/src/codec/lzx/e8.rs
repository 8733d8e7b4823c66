//! E8 (x86 CALL) translation. WIM LZX always applies it with a fixed translation size: the encoder
//! turns the relative target of every `E8 xx xx xx xx` into an absolute one (repeated calls to one
//! function then become repeated byte strings) and the decoder turns it back.
//!
//! The rule itself (which bytes are looked at, the range guard, the arithmetic) is shared with
//! the E8 readings of RAW PA30 deltas (`delta::e8`), which call [`undo_at`] / [`apply_at`] with
//! their own translation size and with positions counted from the start of the whole output.

use super::tables::E8_SIZE;

/// Calls starting in the last 10 bytes are left alone (and chunks of ≤ 10 bytes entirely).
const TAIL: usize = 10;

/// Translate the calls of `data`, whose first byte sits at position `start` of the stream the
/// positions count in, with translation size `size`. LZX defines positions and sizes as 32-bit
/// signed values: calls at positions beyond `i32::MAX` are left alone.
fn translate(data: &mut [u8], start: u64, size: i32, encode: bool) {
    if data.len() <= TAIL {
        return;
    }
    let size = i64::from(size);
    let limit = data.len() - TAIL;
    let mut i = 0;
    while i < limit {
        // E8 bytes are a few percent of code and rarer elsewhere: jump between them.
        match memchr::memchr(0xE8, &data[i..limit]) {
            Some(k) => i += k,
            None => break,
        }
        let pos = start + i as u64;
        if pos > i32::MAX as u64 {
            break;
        }
        let pos = pos as i64;
        let b = [data[i + 1], data[i + 2], data[i + 3], data[i + 4]];
        let v = i64::from(i32::from_le_bytes(b));
        let new = if v >= -pos && v < size {
            Some(if encode {
                if v < size - pos {
                    v + pos
                } else {
                    v - size
                }
            } else if v >= 0 {
                v - pos
            } else {
                v + size
            })
        } else {
            None
        };
        // Both directions map [-pos, size) onto itself, which with pos and size ≤ i32::MAX
        // always fits an i32; the check only keeps that an invariant rather than a cast.
        if let Some(n) = new.and_then(|n| i32::try_from(n).ok()) {
            data[i + 1..i + 5].copy_from_slice(&n.to_le_bytes());
        }
        i += 5;
    }
}

/// Undo the translation after decoding (WIM: positions from the chunk start, size 12,000,000).
pub fn undo(data: &mut [u8]) {
    translate(data, 0, E8_SIZE, false)
}

/// Apply the translation before encoding (WIM: positions from the chunk start, size 12,000,000).
pub fn apply(data: &mut [u8]) {
    translate(data, 0, E8_SIZE, true)
}

/// Undo the translation of `data` lying at position `start` of its stream, translation size
/// `size` (stored absolute targets back to relative ones). A size ≤ 0 translates nothing.
pub(crate) fn undo_at(data: &mut [u8], start: u64, size: i32) {
    translate(data, start, size, false)
}

/// The encoder's direction of [`undo_at`] (relative targets to absolute ones).
pub(crate) fn apply_at(data: &mut [u8], start: u64, size: i32) {
    translate(data, start, size, true)
}
