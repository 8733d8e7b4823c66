//! CAB member times (MS-CAB §2.3 CFFILE `date`/`time`, DOS format) as FILETIMEs. Patched images
//! must be reproducible, so no clock is read: times written into an image default to the
//! package's own time, the newest of its members.

use crate::civil::days_from_civil;

/// FILETIME of 1980-01-01 00:00:00 UTC (the DOS epoch).
const DOS_EPOCH_FILETIME: u64 = 119_600_064_000_000_000;

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
    let days = days_from_civil(year, month as u32, day as u32) - days_from_civil(1980, 1, 1);
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(DOS_EPOCH_FILETIME + secs as u64 * 10_000_000)
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
}
