//! The timestamp a package carries: the newest CFFILE date/time of its cabinet.
//!
//! Patched images must be reproducible (same inputs and options, same bytes), so no clock is read;
//! times written into the image default to the package's own time instead. The `cab` reader does
//! not expose member times, so the CFFILE entries are walked here (MS-CAB §2.3: `coffFiles` at header
//! offset 16, `cFiles` at 28, each entry 16 bytes + a NUL-terminated name).

use crate::io::ReadAt;
use crate::{Error, Result};

/// FILETIME of 1980-01-01 00:00:00 UTC (the DOS epoch).
const DOS_EPOCH_FILETIME: u64 = 119_600_064_000_000_000;
/// Longest member name MS-CAB allows (256 bytes plus the NUL).
const MAX_NAME: usize = 257;

/// Newest member time of the cabinet in `src`, as a FILETIME (times are taken as UTC); `None` when
/// no member has a valid DOS date.
pub fn cab_time(src: &dyn ReadAt) -> Result<Option<u64>> {
    let mut h = [0u8; 36];
    if src.size() < 36 {
        return Err(Error::Truncated {
            structure: "CAB header",
            offset: 0,
            end: 36,
            size: src.size(),
        });
    }
    src.read_at(0, &mut h)?;
    if &h[..4] != b"MSCF" {
        return Err(Error::malformed("CAB header", 0, "no MSCF signature"));
    }
    let mut off = u64::from(u32::from_le_bytes([h[16], h[17], h[18], h[19]]));
    let count = u16::from_le_bytes([h[28], h[29]]);
    let mut best: Option<u64> = None;
    let mut buf = vec![0u8; 16 + MAX_NAME];
    for _ in 0..count {
        let avail = src.size().saturating_sub(off).min(buf.len() as u64) as usize;
        if avail < 17 {
            return Err(Error::Truncated {
                structure: "CAB file entry",
                offset: off,
                end: off + 17,
                size: src.size(),
            });
        }
        src.read_at(off, &mut buf[..avail])?;
        let date = u16::from_le_bytes([buf[10], buf[11]]);
        let time = u16::from_le_bytes([buf[12], buf[13]]);
        let name_len = buf[16..avail]
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Error::malformed("CAB file entry", off, "name is not terminated"))?;
        if let Some(ft) = dos_to_filetime(date, time) {
            best = Some(best.map_or(ft, |b| b.max(ft)));
        }
        off += 16 + name_len as u64 + 1;
    }
    Ok(best)
}

/// DOS date/time (local time by the format; taken as UTC) to FILETIME.
pub fn dos_to_filetime(date: u16, time: u16) -> Option<u64> {
    let year = 1980 + i64::from(date >> 9);
    let month = i64::from((date >> 5) & 0xF);
    let day = i64::from(date & 0x1F);
    let (hh, mm, ss) = (
        i64::from(time >> 11),
        i64::from((time >> 5) & 0x3F),
        i64::from(time & 0x1F) * 2,
    );
    if !(1..=12).contains(&month) || day == 0 || day > 31 || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day) - days_from_civil(1980, 1, 1);
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(DOS_EPOCH_FILETIME + secs as u64 * 10_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil-days formula).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times() {
        // 1980-01-01 00:00:00
        assert_eq!(dos_to_filetime(0x21, 0), Some(DOS_EPOCH_FILETIME));
        // 2026-03-10 00:00:00 UTC = Unix 1773100800.
        let d = ((2026 - 1980) << 9) | (3 << 5) | 10;
        assert_eq!(
            dos_to_filetime(d, 0),
            Some(116_444_736_000_000_000 + 1_773_100_800 * 10_000_000)
        );
        assert_eq!(dos_to_filetime(0, 0), None);
    }

    #[test]
    fn malformed_cabinets_are_errors() {
        use crate::io::SliceSource;
        assert!(cab_time(&SliceSource::new(vec![0u8; 10])).is_err());
        assert!(cab_time(&SliceSource::new(vec![0u8; 64])).is_err());
        // A header claiming 65535 entries past the end of a tiny file.
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"MSCF");
        h[16] = 60;
        h[28] = 0xFF;
        h[29] = 0xFF;
        assert!(matches!(
            cab_time(&SliceSource::new(h.clone())),
            Err(Error::Truncated { .. })
        ));
        // An entry whose name never ends.
        let mut g = h.clone();
        g[16] = 36;
        g.resize(36 + 16 + 300, b'a');
        assert!(matches!(
            cab_time(&SliceSource::new(g)),
            Err(Error::Malformed { .. })
        ));
        // Seeded garbage after a valid signature: an error or a time, never a panic.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..500 {
            let mut b = vec![0u8; 200];
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = x as u8;
            }
            b[..4].copy_from_slice(b"MSCF");
            let _ = cab_time(&SliceSource::new(b));
        }
    }
}
