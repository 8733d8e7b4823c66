//! Proleptic Gregorian civil dates ↔ days since 1970-01-01 (Howard Hinnant's published
//! days-from-civil / civil-from-days algorithms). One home for the calendar arithmetic that ISO
//! volume times, CAB/DOS times, ZIP entry times, delta FILETIMEs and the catalog's age all need;
//! the core reads no clock, so every caller brings its own instant.

/// Days since 1970-01-01 (negative before it) of `year-month-day`. The year is counted from March
/// so the leap day falls at its end; `month` must be 1..=12 (callers validate their fields).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let m = i64::from(month);
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of the date `days` after 1970-01-01. Saturates at the ends of `i64`
/// instead of overflowing, so an absurd count gives an absurd year that callers reject.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(20_522), (2026, 3, 10));
        assert_eq!(days_from_civil(1980, 1, 1), 3652);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(1601, 1, 1), -134_774);
    }

    #[test]
    fn round_trip_over_eight_centuries() {
        for days in (-200_000..200_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn extremes_do_not_overflow() {
        let (y, _, _) = civil_from_days(i64::MAX);
        assert!(y > 1_000_000_000);
        let (y, _, _) = civil_from_days(i64::MIN);
        assert!(y < -1_000_000_000);
    }
}
