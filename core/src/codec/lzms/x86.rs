//! LZMS post-filter: turn the absolute addresses the encoder wrote into x86 instructions back
//! into relative ones.
//!
//! The encoder rewrites the 32-bit operand of likely relative-addressing instructions (CALL
//! `E8`, `FF 15` indirect CALL, `F0 83 05` LOCK ADD, and REX.W `48`/`4C` LEA/MOV with RIP-relative
//! ModR/M) by adding the instruction's position. Whether a candidate is translated depends on
//! whether "x86 code" was recently detected: detection remembers, for the low 16 bits of each
//! (absolute) target, the last position that referenced it; a second reference within 65535
//! bytes marks the data as code, enabling translation for the next 1023 bytes (511 for `E8`).
//! `E9` (JMP) is recognised only to skip its operand. Candidates starting in the first byte or in
//! the last 16 bytes are never translated; buffers of 17 bytes or less are left alone.

/// Bytes after a detected instruction within which translation stays enabled.
const MAX_TRANSLATION_OFFSET: i64 = 1023;
/// Window in which two references to the same target mark the data as x86 code.
const ID_WINDOW: i64 = 65535;

/// Bytes that can start a translated instruction (or, for `E9`, a skipped one).
const IS_CANDIDATE: [bool; 256] = {
    let mut t = [false; 256];
    t[0x48] = true;
    t[0x4C] = true;
    t[0xE8] = true;
    t[0xE9] = true;
    t[0xF0] = true;
    t[0xFF] = true;
    t
};

/// Per-target "last reference" positions, reused across chunks without clearing: each entry is
/// tagged with the chunk's epoch, and entries from older chunks read as "never referenced".
/// (Clearing 65536 entries per chunk cost more than decoding a small chunk.)
pub(super) struct TargetHistory {
    entries: Vec<u64>,
    epoch: u32,
}

impl TargetHistory {
    pub(super) fn new() -> Self {
        TargetHistory {
            entries: vec![0; 65536],
            epoch: 0,
        }
    }

    fn next_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.entries.fill(0);
            self.epoch = 1;
        }
    }

    /// Last marker recorded for `target` in this chunk.
    #[inline(always)]
    fn get(&self, target: u16) -> Option<i64> {
        let e = self.entries[usize::from(target)];
        ((e >> 32) as u32 == self.epoch).then_some(i64::from(e as u32))
    }

    #[inline(always)]
    fn set(&mut self, target: u16, marker: i64) {
        self.entries[usize::from(target)] = (u64::from(self.epoch) << 32) | (marker as u32 as u64);
    }
}

/// Eight copies of byte `b`.
const fn splat(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

/// High bit set in each byte of `w` that is zero; exact for the lowest such byte (higher flags
/// may be spurious after a borrow, and only the lowest is used).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(splat(0x01)) & !w & splat(0x80)
}

/// Index of the first candidate byte in `s` (see [`IS_CANDIDATE`]), eight bytes per step: the
/// candidates are `48`/`4C` (equal under mask `FB`), `E8`/`E9` (under `FE`), `F0` and `FF`.
#[inline(always)]
fn next_candidate(s: &[u8]) -> Option<usize> {
    let mut words = s.chunks_exact(8);
    let mut base = 0usize;
    for c in words.by_ref() {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let hit = zero_bytes((w & splat(0xFB)) ^ splat(0x48))
            | zero_bytes((w & splat(0xFE)) ^ splat(0xE8))
            | zero_bytes(w ^ splat(0xF0))
            | zero_bytes(w ^ splat(0xFF));
        if hit != 0 {
            // The lowest flag of each test is exact, so the lowest of their union is too.
            return Some(base + (hit.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| IS_CANDIDATE[usize::from(b)])
        .map(|k| base + k)
}

/// Undo the encoder's translation in place.
pub(super) fn undo(data: &mut [u8], history: &mut TargetHistory) {
    let size = data.len();
    if size <= 17 {
        return;
    }
    history.next_epoch();
    let mut last_x86: i64 = -MAX_TRANSLATION_OFFSET - 1;
    let end = size - 16;
    let mut i = 1usize;
    while i < end {
        // Candidate opcode bytes only; everything else is skipped fast.
        match next_candidate(&data[i..end]) {
            Some(k) => i += k,
            None => break,
        }
        let b0 = data[i];
        let (b1, b2) = (data[i + 1], data[i + 2]);
        let (opcode_len, max_offset) = match b0 {
            0xFF if b1 == 0x15 => (2, MAX_TRANSLATION_OFFSET),
            0xF0 if b1 == 0x83 && b2 == 0x05 => (3, MAX_TRANSLATION_OFFSET),
            0x48 | 0x4C
                if b2 & 0x07 == 0x05
                    && (b1 == 0x8D || (b1 == 0x8B && b0 & 0x04 == 0 && b2 & 0xF0 == 0)) =>
            {
                (3, MAX_TRANSLATION_OFFSET)
            }
            0xE8 => (1, MAX_TRANSLATION_OFFSET >> 1),
            0xE9 => {
                i += 5;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let pos = i as i64;
        let op = i + opcode_len;
        // op + 4 <= i + 7 < size: i < size - 16.
        let operand = u32::from_le_bytes([data[op], data[op + 1], data[op + 2], data[op + 3]]);
        let operand = if pos - last_x86 <= max_offset {
            let rel = operand.wrapping_sub(pos as u32);
            data[op..op + 4].copy_from_slice(&rel.to_le_bytes());
            rel
        } else {
            operand
        };
        let target = (pos as u32).wrapping_add(operand & 0xFFFF) as u16;
        let marker = pos + opcode_len as i64 + 3;
        if history
            .get(target)
            .is_some_and(|last| marker - last <= ID_WINDOW)
        {
            last_x86 = marker;
        }
        history.set(target, marker);
        i = op + 4;
    }
}

#[cfg(test)]
mod tests {
    use super::{next_candidate, IS_CANDIDATE};

    #[test]
    fn the_word_scan_finds_the_first_candidate_the_table_names() {
        // Every byte value at every position of a 20-byte window, behind every filler value
        // (fillers 0x00/0x01 exercise the borrow case of the zero-byte test).
        for filler in [0x00u8, 0x01, 0x47, 0x80, 0xE7, 0xFE] {
            for b in 0..=255u8 {
                for at in 0..20 {
                    let mut s = vec![filler; 20];
                    s[at] = b;
                    let want = s.iter().position(|&x| IS_CANDIDATE[usize::from(x)]);
                    assert_eq!(
                        next_candidate(&s),
                        want,
                        "filler {filler:#x} byte {b:#x} at {at}"
                    );
                }
            }
        }
    }
}
