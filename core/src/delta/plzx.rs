//! The PseudoLzx codec: an LZX-like LZ77 + prefix-code stream whose copies address one virtual
//! buffer, the reference followed by the output, and may also be coded relative to where the rift
//! table says the current output position came from in the reference.

use super::bits::BitReader;
use super::huffman::{default_lengths, Decoder};
use super::rift::{self, Rift};
use crate::Result;

/// Main code: 256 literals + 43 offset slots × 8 length codes.
const MAIN: usize = 600;
/// Length code (lengths 9..263, 0 = longer length follows).
const LENGTHS: usize = 256;
/// Aligned-offset code (low 4 bits of large offsets).
const ALIGNED: usize = 16;
const ALL: usize = MAIN + LENGTHS + ALIGNED;
/// Pre-tree that codes the code lengths.
const PRETREE: usize = 39;
/// Upper bound on coded blocks. Genuine streams use a few per MB of output (3 for the 3.2 MB manifest,
/// 7 for 360 KB of notepad.exe); a block's 872 lengths can be coded in ~50 bits, so without a cap a
/// crafted stream could make the decoder hold far more length tables than its size suggests.
const MAX_BLOCKS: u64 = 1 << 16;

struct Tables {
    main: Decoder,
    len: Decoder,
    aligned: Decoder,
}

impl Tables {
    fn new(r: &BitReader<'_>, lens: &[u8]) -> Result<Self> {
        let mk = |l: &[u8], what: &str| {
            Decoder::new(l, 16).map_err(|e| r.error(format!("{what} code: {e}")))
        };
        Ok(Tables {
            main: mk(&lens[..MAIN], "main")?,
            len: mk(&lens[MAIN..MAIN + LENGTHS], "length")?,
            aligned: mk(&lens[MAIN + LENGTHS..], "aligned offset")?,
        })
    }
}

/// Read one block's 872 code lengths, coded with the pre-tree against the previous block's.
fn read_lengths(r: &mut BitReader<'_>, pre: &Decoder, prev: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; ALL];
    let mut i = 0;
    while i < ALL {
        let s = pre.decode(r)?;
        match s {
            0..=16 => {
                out[i] = s as u8;
                i += 1;
            }
            17..=19 => {
                let v = prev[i] + (s - 16) as u8;
                if v > 16 {
                    return Err(r.error(format!("code length {v} after increment")));
                }
                out[i] = v;
                i += 1;
            }
            20..=22 => {
                let d = (s - 19) as u8;
                out[i] = prev[i]
                    .checked_sub(d)
                    .ok_or_else(|| r.error("code length below zero after decrement"))?;
                i += 1;
            }
            _ => {
                let k = (s - 23) & 7;
                let n = if k < 3 {
                    k as usize + 1
                } else {
                    (1usize << (k - 1)) | r.bits(k - 1)? as usize
                };
                if i + n > ALL {
                    return Err(r.error("code length run past the end of the table"));
                }
                if s < 31 {
                    if i == 0 {
                        return Err(r.error("code length repeat with nothing before it"));
                    }
                    let v = out[i - 1];
                    out[i..i + n].fill(v);
                } else {
                    out[i..i + n].copy_from_slice(&prev[i..i + n]);
                }
                i += n;
            }
        }
    }
    Ok(out)
}

/// How a copy finds its source.
enum CopyFrom {
    /// Relative to the rift-predicted reference position (value = predicted − source).
    Source(i64),
    /// At the rift-predicted reference position.
    FullSource,
    /// A recent distance.
    Recent(usize),
    /// A distance back in the virtual buffer.
    Back(u64),
}

fn read_copy(r: &mut BitReader<'_>, t: &Tables, slot: u32) -> Result<CopyFrom> {
    Ok(match slot {
        0 => CopyFrom::Source(i64::from(r.bits(14)?) - 0x2000),
        1 => {
            let v = i64::from(r.bits(16)?) - 0x8000;
            CopyFrom::Source(if v < 0 { v - 0x2000 } else { v + 0x2000 })
        }
        2 => {
            let v = i64::from(r.bits(18)?) - 0x20000;
            CopyFrom::Source(if v < 0 { v - 0xa000 } else { v + 0xa000 })
        }
        3 => CopyFrom::FullSource,
        4..=6 => CopyFrom::Recent(slot as usize - 4),
        8..=10 => CopyFrom::Back(u64::from(slot - 7)),
        _ => {
            let slot = if slot == 7 {
                // Escape to slots 43..70: 0xx, 10xxx or 11xxxx (first bit read first).
                let p = r.peek();
                if p & 1 == 0 {
                    43 + (r.bits(3)? >> 1)
                } else if p & 2 == 0 {
                    47 + (r.bits(5)? >> 2)
                } else {
                    55 + (r.bits(6)? >> 2)
                }
            } else {
                slot
            };
            let extra = (slot - 9) >> 1;
            let top = u64::from(2 | ((slot - 11) & 1));
            let mut off = top << extra;
            if extra < 4 {
                off |= u64::from(r.bits(extra)?);
            } else {
                off |= u64::from(r.bits(extra - 4)?) << 4;
                off |= u64::from(t.aligned.decode(r)?);
            }
            CopyFrom::Back(off)
        }
    })
}

fn read_length(r: &mut BitReader<'_>, t: &Tables, code: u32) -> Result<u64> {
    if code != 0 {
        return Ok(u64::from(code) + 1);
    }
    let s = t.len.decode(r)?;
    if s != 0 {
        return Ok(u64::from(s) + 8);
    }
    Ok(u64::from(r.number8()?) + 8)
}

/// Reference position the rift table predicts for output position `o`.
pub(crate) fn predict(rifts: &[Rift], o: u64) -> u64 {
    let i = rifts.partition_point(|e| e.target <= o);
    if i == 0 {
        o
    } else {
        let e = rifts[i - 1];
        e.source.saturating_add(o - e.target)
    }
}

/// Decode a PseudoLzx patch stream into exactly `target_size` bytes.
pub(crate) fn decode(
    reference: &[u8],
    patch: &[u8],
    patch_offset: u64,
    target_size: usize,
) -> Result<Vec<u8>> {
    decode_with_rift(reference, patch, patch_offset, target_size, None)
}

// --- PE-typed deltas (issue 14): a copy rift composed from the preprocess buffer ---
/// As [`decode`], with the copy rift of a PE-typed delta (composed from its preprocess buffer)
/// used when the stream's own rift table is empty. A stream carrying its own table as well is
/// refused: how the two combine is not established by any vector.
pub(crate) fn decode_with_rift(
    reference: &[u8],
    patch: &[u8],
    patch_offset: u64,
    target_size: usize,
    external: Option<&[Rift]>,
) -> Result<Vec<u8>> {
    let mut r = BitReader::new(patch, patch_offset, "PseudoLzx stream")?;
    let own = rift::read(&mut r)?;
    let rifts = match (own, external) {
        (Some(_), Some(_)) => {
            return Err(crate::Error::unsupported(
                "PE-typed delta",
                "PE-typed delta whose patch stream carries its own rift table as well as the \
                 preprocess copy rift",
            ))
        }
        (Some(t), None) => t,
        (None, Some(e)) => e.to_vec(),
        (None, None) => Vec::new(),
    };
    // --- end PE-typed deltas ---

    // Composite format: one default block, or coded blocks with start positions.
    let mut blocks: Vec<(u64, Vec<u8>)> = Vec::new();
    if r.bits(1)? == 1 {
        let mut l = default_lengths(MAIN);
        l.extend(default_lengths(LENGTHS));
        l.extend(default_lengths(ALIGNED));
        blocks.push((0, l));
    } else {
        let n = r.number()?;
        if n == 0 || n > MAX_BLOCKS || n > r.remaining() {
            return Err(r.error(format!("{n} code blocks")));
        }
        let mut starts = Vec::with_capacity(n as usize);
        let mut at = 0u64;
        for _ in 0..n {
            at = at
                .checked_add(r.number()?)
                .ok_or_else(|| r.error("block start overflows"))?;
            starts.push(at);
        }
        let mut pre = [0u8; PRETREE];
        for p in &mut pre {
            *p = r.bits(4)? as u8;
        }
        let pre = Decoder::new(&pre, 15).map_err(|e| r.error(format!("pre-tree: {e}")))?;
        let mut prev = vec![0u8; ALL];
        for s in starts {
            let l = read_lengths(&mut r, &pre, &prev)?;
            prev.clone_from(&l);
            blocks.push((s, l));
        }
    }

    let ref_len = reference.len() as u64;
    let mut out: Vec<u8> = Vec::with_capacity(target_size);
    let total = target_size as u64;
    let mut recent = [0u64; 3];
    let mut next_block = 0usize;
    let mut tables: Option<Tables> = None;
    while (out.len() as u64) < total {
        let o = out.len() as u64;
        let p = ref_len + o;
        if next_block < blocks.len() && p >= blocks[next_block].0 {
            // Only the last block that has started is ever used: build just that one.
            while next_block + 1 < blocks.len() && p >= blocks[next_block + 1].0 {
                next_block += 1;
            }
            tables = Some(Tables::new(&r, &blocks[next_block].1)?);
            next_block += 1;
        }
        let Some(t) = tables.as_ref() else {
            return Err(r.error(format!("no code block covers position {p}")));
        };
        let sym = t.main.decode(&mut r)?;
        if sym < 256 {
            out.push(sym as u8);
            continue;
        }
        let sym = sym - 256;
        let copy = read_copy(&mut r, t, sym >> 3)?;
        let len = read_length(&mut r, t, sym & 7)?;
        // i128: rift positions from a crafted table may sit near the top of the i64 range.
        let dist: i128 = match copy {
            CopyFrom::Source(d) => {
                // The coded value is how far *before* the predicted position the copy starts.
                let s = i128::from(predict(&rifts, o)) - i128::from(d);
                i128::from(p) - s
            }
            CopyFrom::FullSource => i128::from(p) - i128::from(predict(&rifts, o)),
            CopyFrom::Recent(i) => i128::from(recent[i]),
            CopyFrom::Back(d) => i128::from(d),
        };
        if dist <= 0 || dist > i128::from(p) {
            return Err(r.error(format!("copy distance {dist} at virtual position {p}")));
        }
        let dist = dist as u64;
        if recent[0] != dist {
            if recent[1] != dist {
                recent[2] = recent[1];
            }
            recent[1] = recent[0];
            recent[0] = dist;
        }
        if len > total - o {
            return Err(r.error(format!(
                "copy of {len} bytes at output {o} passes the target size {total}"
            )));
        }
        copy_bytes(reference, &mut out, p - dist, len as usize);
    }
    Ok(out)
}

/// Copy `len` bytes from virtual position `src` (reference then output) to the end of `out`.
/// The caller has checked `src < ref_len + out.len()`; overlapping copies repeat bytes.
fn copy_bytes(reference: &[u8], out: &mut Vec<u8>, src: u64, mut len: usize) {
    let ref_len = reference.len() as u64;
    let mut src = src;
    if src < ref_len {
        let s = src as usize;
        let n = len.min(reference.len() - s);
        out.extend_from_slice(&reference[s..s + n]);
        len -= n;
        src += n as u64;
    }
    if len == 0 {
        return;
    }
    let mut s = (src - ref_len) as usize;
    let avail = out.len() - s;
    if avail >= len {
        out.extend_from_within(s..s + len);
    } else {
        for _ in 0..len {
            let b = out[s];
            out.push(b);
            s += 1;
        }
    }
}
