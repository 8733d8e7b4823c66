//! The x86 E8 filter of RAW deltas (`DELTA_FLAG_E8`, 0x1): our readings of it.
//!
//! msdelta.h only says "transform E8 pieces (relative calls in x86) of target file"; on a RAW
//! delta it is a post-process of the decoded output, and its exact rule is not public
//! (docs/formats/pa30.md section 5.3). So the decoded output is read three plausible ways, each a
//! [`Variant`], and [`select`] keeps the first whose result matches the delta's target hash
//! (decision 30): an output no hash confirmed is never returned.
//!
//! Every variant is the LZX rule of `codec::lzx::e8` (a stored value `v` of an `E8 v32` at
//! position `p` is translated when `-p ≤ v < size`: `v ≥ 0` → `v − p`, else `v + size`; the 4
//! bytes after an E8 are skipped whether translated or not; nothing starting in the last 10
//! bytes of a piece), run over different pieces of the output with positions that are always
//! offsets in the whole output and the target size as translation size.

use crate::codec::lzx::e8::{apply_at, undo_at};
use crate::io::le::{u16_at, u32_at};
use crate::pe::headers::PeHeaders;
use std::ops::Range;

/// LZX frames ([MS-PATCH] LZX DELTA, and CAB LZX): 32 KiB of output each.
const FRAME: usize = 32 * 1024;
/// LZX translates only in the first 32768 frames (1 GiB).
const MAX_FRAMES: usize = 32768;
/// COFF `Machine` of i386 images.
const MACHINE_I386: u16 = 0x14c;
/// `IMAGE_SCN_MEM_EXECUTE`.
const SCN_MEM_EXECUTE: u32 = 0x2000_0000;

/// One reading of the E8 filter, tried in the order of [`Variant::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// W1: the LZX rule over the whole output as one piece.
    WholeOutput,
    /// W2: the LZX rule per 32 KiB frame (global positions, the last 10 bytes of each frame
    /// left alone, frames after the 32768th untouched), as CAB LZX and LZX DELTA do it.
    Frames32K,
    /// W3: only on a PE whose machine is i386 (0x14c), only over the raw data of sections
    /// marked executable, positions = file offsets, the file length as translation size.
    I386Sections,
}

impl Variant {
    /// The order [`select`] tries them in.
    pub const ALL: [Variant; 3] = [
        Variant::WholeOutput,
        Variant::Frames32K,
        Variant::I386Sections,
    ];

    /// Short name ("W1", "W2", "W3"), as docs/formats/pa30.md calls them.
    pub fn short_name(self) -> &'static str {
        match self {
            Variant::WholeOutput => "W1",
            Variant::Frames32K => "W2",
            Variant::I386Sections => "W3",
        }
    }

    /// One line saying what the variant does, for messages.
    pub fn description(self) -> &'static str {
        match self {
            Variant::WholeOutput => "LZX rule, whole output",
            Variant::Frames32K => "LZX rule, 32 KiB frames",
            Variant::I386Sections => "i386 PE, executable sections",
        }
    }
}

/// Where a variant translates in `data`: disjoint pieces in ascending order and the translation
/// size. `None` when it does not apply: W3 on bytes that are not an i386 PE, and every variant
/// on outputs longer than `i32::MAX` (LZX positions and sizes are 32-bit signed values).
fn plan(v: Variant, data: &[u8]) -> Option<(Vec<Range<usize>>, i32)> {
    let size = i32::try_from(data.len()).ok()?;
    let pieces = match v {
        Variant::WholeOutput => std::iter::once(0..data.len()).collect(),
        Variant::Frames32K => (0..data.len())
            .step_by(FRAME)
            .take(MAX_FRAMES)
            .map(|s| s..(s + FRAME).min(data.len()))
            .collect(),
        Variant::I386Sections => {
            let h = PeHeaders::parse(data).ok()?;
            if h.machine != MACHINE_I386 {
                return None;
            }
            // Section data never covers the headers in a real image; keeping every piece after
            // them (DOS header, then through the section table) also means the translation
            // cannot change what this plan was read from, so both directions plan alike.
            let lfanew = u32_at(data, 0x3c)? as usize;
            let opt_size = usize::from(u16_at(data, lfanew + 20)?);
            let headers_end = (lfanew + 24 + opt_size + 40 * h.sections.len()).max(0x40);
            let mut r: Vec<Range<usize>> = h
                .sections
                .iter()
                .filter(|s| s.characteristics & SCN_MEM_EXECUTE != 0)
                .map(|s| {
                    let start = (s.raw_ptr as usize).min(data.len());
                    start..start.saturating_add(s.raw_size as usize).min(data.len())
                })
                .filter(|r| !r.is_empty())
                .collect();
            // Overlapping raw data (only in crafted files) is translated once, so that the two
            // directions stay exact inverses.
            r.sort_by_key(|r| r.start);
            let mut end = headers_end;
            for p in &mut r {
                p.start = p.start.max(end);
                p.end = p.end.max(p.start);
                end = p.end;
            }
            r.retain(|p| !p.is_empty());
            r
        }
    };
    Some((pieces, size))
}

fn run(pieces: &[Range<usize>], size: i32, data: &mut [u8], encode: bool) {
    for p in pieces {
        let piece = &mut data[p.clone()];
        if encode {
            apply_at(piece, p.start as u64, size);
        } else {
            undo_at(piece, p.start as u64, size);
        }
    }
}

/// Plan and run variant `v` over `data` in one direction; false when it does not apply.
fn plan_and_run(v: Variant, data: &mut [u8], encode: bool) -> bool {
    plan(v, data)
        .map(|(pieces, size)| run(&pieces, size, data, encode))
        .is_some()
}

/// Undo variant `v` on a decoded output (stored absolute call targets back to relative ones).
/// Returns false, leaving `data` unchanged, when the variant does not apply to these bytes.
pub fn inverse(v: Variant, data: &mut [u8]) -> bool {
    plan_and_run(v, data, false)
}

/// Variant `v` in the encoder's direction (relative call targets to absolute ones): what a
/// delta's target goes through before it is encoded. For tests and tools; [`inverse`] undoes it.
pub fn forward(v: Variant, data: &mut [u8]) -> bool {
    plan_and_run(v, data, true)
}

/// Try the variants in order on `out` (the decoded, still filtered output) and keep the first
/// whose result `matches`; `out` then holds that result. Otherwise `out` is restored and `None`
/// returned. The pieces are planned before translating, so the restoring pass runs over exactly
/// the pieces the inverse did and undoes it byte for byte; no second output-sized buffer.
pub(crate) fn select(out: &mut [u8], mut matches: impl FnMut(&[u8]) -> bool) -> Option<Variant> {
    for v in Variant::ALL {
        let Some((pieces, size)) = plan(v, out) else {
            continue;
        };
        run(&pieces, size, out, false);
        if matches(out) {
            return Some(v);
        }
        run(&pieces, size, out, true);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes with many E8s, calls of every sign and size, and E8s near edges.
    fn e8_rich(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut d = Vec::with_capacity(n);
        while d.len() < n {
            let r = next();
            if r % 5 == 0 {
                d.push(0xe8);
                let v: i32 = match r >> 8 & 3 {
                    0 => (r >> 16) as i32 % 4096,
                    1 => -((r >> 16) as i32 % (d.len() as i32 + 2)),
                    2 => (r >> 16) as i32 % (n as i32 + 100),
                    _ => (r >> 16) as i32,
                };
                d.extend_from_slice(&v.to_le_bytes());
            } else {
                d.push(r as u8);
            }
        }
        d.truncate(n);
        d
    }

    /// A minimal PE32 (machine `machine`) with one executable and one data section.
    fn pe(machine: u16, code: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        b[0x86..0x88].copy_from_slice(&2u16.to_le_bytes());
        b[0x94..0x96].copy_from_slice(&224u16.to_le_bytes());
        b[0x98..0x9a].copy_from_slice(&0x10bu16.to_le_bytes());
        let sec = 0x98 + 224;
        let code_len = code.len() as u32;
        for (i, (ptr, len, ch)) in [
            (0x400u32, code_len, 0x6000_0020u32),
            (0x400 + code_len, code_len, 0xc000_0040),
        ]
        .into_iter()
        .enumerate()
        {
            let at = sec + 40 * i;
            b[at + 16..at + 20].copy_from_slice(&len.to_le_bytes());
            b[at + 20..at + 24].copy_from_slice(&ptr.to_le_bytes());
            b[at + 36..at + 40].copy_from_slice(&ch.to_le_bytes());
        }
        b.extend_from_slice(code);
        b.extend_from_slice(code);
        b
    }

    #[test]
    fn forward_then_inverse_is_identity_for_every_variant() {
        for (n, seed) in [(0, 1), (10, 2), (11, 3), (5000, 4), (200_000, 5)] {
            let t = pe(0x14c, &e8_rich(n, seed));
            for v in Variant::ALL {
                let mut d = t.clone();
                assert!(forward(v, &mut d));
                if n > 100 {
                    assert_ne!(d, t, "{v:?} changed nothing at n={n}");
                }
                assert!(inverse(v, &mut d));
                assert_eq!(d, t, "{v:?} n={n}");
            }
        }
    }

    #[test]
    fn variants_differ_where_their_readings_do() {
        // An E8 in the last 10 bytes of the first frame: W2 leaves it, W1 translates it.
        let mut t = vec![0x90u8; 3 * FRAME];
        t[FRAME - 8] = 0xe8;
        t[FRAME - 7..FRAME - 3].copy_from_slice(&100i32.to_le_bytes());
        let (mut w1, mut w2) = (t.clone(), t.clone());
        forward(Variant::WholeOutput, &mut w1);
        forward(Variant::Frames32K, &mut w2);
        assert_eq!(w2, t);
        let want = (FRAME as i32 - 8) + 100;
        assert_eq!(w1[FRAME - 7..FRAME - 3], want.to_le_bytes());
        // Not a PE, or not i386: W3 does not apply and leaves the bytes alone.
        assert!(!forward(Variant::I386Sections, &mut w2));
        assert_eq!(w2, t);
        let mut amd64 = pe(0x8664, &e8_rich(3000, 9));
        let before = amd64.clone();
        assert!(!inverse(Variant::I386Sections, &mut amd64));
        assert_eq!(amd64, before);
    }

    #[test]
    fn i386_sections_touch_only_executable_raw_data() {
        let code = e8_rich(4000, 7);
        let t = pe(0x14c, &code);
        let mut d = t.clone();
        assert!(forward(Variant::I386Sections, &mut d));
        // Headers and the data section are untouched, the code section translated with file
        // offsets as positions: the same as W1 run over that piece with the file length as size.
        assert_eq!(d[..0x400], t[..0x400]);
        assert_eq!(d[0x400 + code.len()..], t[0x400 + code.len()..]);
        let mut piece = code.clone();
        apply_at(&mut piece, 0x400, t.len() as i32);
        assert_eq!(d[0x400..0x400 + code.len()], piece[..]);
        assert_ne!(piece, code);
    }

    #[test]
    fn i386_sections_never_translate_the_headers() {
        // A crafted image whose executable section claims the whole file, headers included:
        // only the bytes after the section table are translated, so the plan survives it.
        let mut t = pe(0x14c, &e8_rich(3000, 21));
        let sec = 0x98 + 224;
        t[sec + 20..sec + 24].copy_from_slice(&0u32.to_le_bytes());
        let len = t.len() as u32;
        t[sec + 16..sec + 20].copy_from_slice(&len.to_le_bytes());
        // A call with an in-range target inside the optional header.
        t[0x100..0x105].copy_from_slice(&[0xe8, 5, 0, 0, 0]);
        let headers_end = sec + 80;
        let mut d = t.clone();
        assert!(forward(Variant::I386Sections, &mut d));
        assert_eq!(d[..headers_end], t[..headers_end]);
        assert!(d != t);
        assert!(inverse(Variant::I386Sections, &mut d));
        assert!(d == t);
    }

    #[test]
    fn select_restores_the_output_when_nothing_matches() {
        let t = pe(0x14c, &e8_rich(70_000, 11));
        let mut d = t.clone();
        let mut seen = Vec::new();
        assert_eq!(
            select(&mut d, |b| {
                seen.push(b.to_vec());
                false
            }),
            None
        );
        assert_eq!(d, t);
        assert_eq!(seen.len(), 3);
        // Each variant's candidate is what its inverse gives.
        for (v, got) in Variant::ALL.into_iter().zip(&seen) {
            let mut want = t.clone();
            inverse(v, &mut want);
            assert_eq!(&want, got, "{v:?}");
        }
        assert!(seen[0] != seen[2] && seen[1] != seen[2]);
        // The wanted one is found and left in place.
        let want = seen[2].clone();
        assert_eq!(
            select(&mut d, |b| b == want.as_slice()),
            Some(Variant::I386Sections)
        );
        assert_eq!(d, want);
    }
}
