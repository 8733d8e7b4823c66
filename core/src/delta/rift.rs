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
        // Three counts: explicit lengths for the first `pos` non-negative and the first `neg`
        // negative symbols, and how many of the remaining symbols take the fill length; then the
        // explicit lengths and the fill length (4 bits each, stored minus one). The remaining
        // symbols (non-negative first, then negative) take the fill length for the first `fill`
        // of them and one bit less after that, which completes the code.
        let pos = r.bits(8)? as usize;
        let neg = r.bits(8)? as usize;
        let fill = r.bits(8)? as usize;
        if pos > INT_HALF || neg > INT_HALF || fill > 2 * INT_HALF - pos - neg {
            return Err(r.error(format!(
                "rift integer code counts {pos}/{neg}/{fill} out of range"
            )));
        }
        let mut lens = vec![0u8; 2 * INT_HALF];
        for l in &mut lens[..pos] {
            *l = r.bits(4)? as u8 + 1;
        }
        for l in &mut lens[INT_HALF..INT_HALF + neg] {
            *l = r.bits(4)? as u8 + 1;
        }
        let fill_len = r.bits(4)? as u8 + 1;
        let rest = (pos..INT_HALF).chain(INT_HALF + neg..2 * INT_HALF);
        for (k, i) in rest.enumerate() {
            lens[i] = if k < fill { fill_len } else { fill_len - 1 };
        }
        let d = Decoder::new(&lens, 16).map_err(|e| r.error(format!("rift integer code: {e}")))?;
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
