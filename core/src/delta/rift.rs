//! Rift tables: piecewise mapping between target and reference positions.
//!
//! A patch bitstream starts with one: a flag bit (0 = empty), then two integer codes (one per
//! column), a nibble-counted entry count and the entries, each column delta-coded against the
//! previous entry. The decoder uses the table to predict, for each output position, the reference
//! position it most likely came from; "source" copies are coded relative to that prediction.

use super::bits::BitReader;
use super::huffman::Decoder;
use crate::Result;

/// Symbols of an integer code: 126 for non-negative values, 126 for negative ones.
const INT_HALF: usize = 126;

/// Largest entry count accepted (the format itself caps it at 0x0FFF_FFFF).
const MAX_ENTRIES: u64 = 0x0FFF_FFFF;

/// One rift: from target position `target` on, the reference lines up at `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rift {
    pub target: u64,
    pub source: u64,
}

/// Integer code of a rift-table column.
struct IntCode(Decoder);

impl IntCode {
    fn read(r: &mut BitReader<'_>) -> Result<Self> {
        let mode = r.bits(8)? as usize;
        let mut lens = vec![0u8; 2 * INT_HALF];
        if mode == 0 {
            let l = r.bits(4)? as u8;
            lens.fill(l);
        } else if mode <= INT_HALF {
            for l in &mut lens[..mode] {
                *l = r.bits(4)? as u8;
            }
            for l in &mut lens[INT_HALF..INT_HALF + mode] {
                *l = r.bits(4)? as u8;
            }
        } else {
            return Err(r.error(format!("rift integer code mode {mode} above {INT_HALF}")));
        }
        let d = Decoder::new_incomplete(&lens, 15)
            .map_err(|e| r.error(format!("rift integer code: {e}")))?;
        Ok(IntCode(d))
    }

    fn value(&self, r: &mut BitReader<'_>) -> Result<i64> {
        let sym = self.0.decode(r)? as usize;
        let (m, neg) = if sym < INT_HALF {
            (sym as u32, false)
        } else {
            ((sym - INT_HALF) as u32, true)
        };
        let v: i64 = if m <= 3 {
            i64::from(m)
        } else {
            let extra = (m >> 1) - 1;
            if extra > 62 {
                return Err(r.error("rift integer too large"));
            }
            let hi = i64::from((m & 1) + 2) << extra;
            let lo = if extra > 32 {
                let a = i64::from(r.bits(32)?);
                a | i64::from(r.bits(extra - 32)?) << 32
            } else {
                i64::from(r.bits(extra)?)
            };
            hi | lo
        };
        Ok(if neg { !v } else { v })
    }
}

/// Read a rift table. `Ok(None)` for the empty table.
pub(crate) fn read(r: &mut BitReader<'_>) -> Result<Option<Vec<Rift>>> {
    if r.bits(1)? == 0 {
        return Ok(None);
    }
    let left = IntCode::read(r)?;
    let right = IntCode::read(r)?;
    let count = r.number()?;
    if count > MAX_ENTRIES {
        return Err(r.error(format!("rift table of {count} entries")));
    }
    // Each entry takes at least one bit per column: bound the allocation by the stream.
    if count > r.remaining() / 2 {
        return Err(r.error(format!("rift table of {count} entries exceeds the stream")));
    }
    let mut out = Vec::with_capacity(count as usize);
    let (mut key, mut val) = (0i64, 0i64);
    for _ in 0..count {
        key = key
            .checked_add(left.value(r)?)
            .ok_or_else(|| r.error("rift position overflows"))?;
        val = val
            .checked_add(right.value(r)?)
            .ok_or_else(|| r.error("rift position overflows"))?;
        let other = key
            .checked_add(val)
            .ok_or_else(|| r.error("rift position overflows"))?;
        if key < 0 || other < 0 {
            return Err(r.error("negative rift position"));
        }
        out.push(Rift {
            target: key as u64,
            source: other as u64,
        });
    }
    out.sort_by_key(|e| e.target);
    Ok(Some(out))
}
