//! How old the catalog is, and whether its "already current" verdicts can still be taken at face value.
//!
//! The core has no clock (in WebAssembly there is none it could trust, and tests must not depend on
//! the real date): every caller passes "today" as a [`Date`]. The CLI takes the system date, the page
//! takes the browser's, tests inject one.
//!
//! Microsoft ships its monthly updates on the second Tuesday of the month ("Patch Tuesday"). A catalog
//! dated on or after the most recent such Tuesday can know about everything released so far; one
//! dated before it cannot, so its "already current" verdicts only hold as of its own date.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::Catalog;
use crate::{Error, Result};

/// A calendar date (proleptic Gregorian, years 1–9999), written `YYYY-MM-DD`. Only valid dates can
/// be built ([`Date::new`], [`Date::parse`], [`Date::from_days_since_epoch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Date {
    // Field order makes the derived ordering chronological.
    year: u16,
    month: u8,
    day: u8,
}

/// Days in `month` of `year`.
fn month_days(year: u16, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A checked date; `None` when the day does not exist.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        ((1..=9999).contains(&year) && (1..=month_days(year, month)).contains(&day))
            .then_some(Date { year, month, day })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Parse `YYYY-MM-DD` (exactly that form).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let part = s.get(r)?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        let month = u8::try_from(num(5..7)?).ok()?;
        let day = u8::try_from(num(8..10)?).ok()?;
        Date::new(num(0..4)?, month, day)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        crate::civil::days_from_civil(
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )
    }

    /// The date `days` after 1970-01-01; `None` outside years 1..=9999.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let (y, m, d) = crate::civil::civil_from_days(days);
        Date::new(
            u16::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )
    }

    /// The date from seconds since 1970-01-01 00:00 UTC (what a system clock gives).
    pub fn from_unix_seconds(secs: i64) -> Option<Date> {
        Date::from_days_since_epoch(secs.div_euclid(86_400))
    }

    /// Day of the week, 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (3).
        (self.days_since_epoch() + 3).rem_euclid(7) as u8
    }

    /// Which occurrence of its weekday in its month this day is (1 for days 1–7, 2 for 8–14, ...).
    pub fn week_of_month(self) -> u8 {
        (self.day - 1) / 7 + 1
    }

    /// The second Tuesday of a month: Microsoft's monthly release day.
    pub fn second_tuesday(year: u16, month: u8) -> Option<Date> {
        let first = Date::new(year, month, 1)?;
        // Tuesday is weekday 1.
        let to_tuesday = (8 - first.weekday()) % 7;
        Date::new(year, month, 1 + to_tuesday + 7)
    }

    /// The most recent second Tuesday on or before `self`.
    pub fn latest_patch_tuesday(self) -> Option<Date> {
        let this_month = Date::second_tuesday(self.year, self.month)?;
        if this_month <= self {
            return Some(this_month);
        }
        let (y, m) = if self.month == 1 {
            (self.year.checked_sub(1)?, 12)
        } else {
            (self.year, self.month - 1)
        };
        Date::second_tuesday(y, m)
    }

    /// English name of the weekday.
    pub fn weekday_name(self) -> &'static str {
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ][usize::from(self.weekday())]
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Date, String> {
        Date::parse(&s).ok_or_else(|| format!("{s:?} is not a date of the form YYYY-MM-DD"))
    }
}

/// Where the catalog in use came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CatalogSource {
    /// The copy built into this version of mediaprep.
    BuiltIn {
        /// The mediaprep version it was built into.
        tool_version: String,
    },
    /// A file the user supplied (`--catalog`, or dropped on the page).
    File {
        /// The file's name as the user gave it.
        name: String,
    },
}

impl CatalogSource {
    /// The catalog built into this crate.
    pub fn built_in() -> Self {
        CatalogSource::BuiltIn {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// In plain words: "built into mediaprep 0.1.0" / "file catalog-2026-12.json".
    pub fn describe(&self) -> String {
        match self {
            CatalogSource::BuiltIn { tool_version } => {
                format!("built into mediaprep {tool_version}")
            }
            CatalogSource::File { name } => format!("file {name}"),
        }
    }
}

impl Catalog {
    /// The catalog's date: its `version` (`YYYY.MM.DD`, the day of the last research pass).
    pub fn date(&self) -> Result<Date> {
        let dotted = self.version.len() == 10 && !self.version.contains('-');
        dotted
            .then(|| Date::parse(&self.version.replace('.', "-")))
            .flatten()
            .ok_or_else(|| {
                Error::invalid(
                    "catalog",
                    format!(
                        "catalog version {:?} is not a date of the form YYYY.MM.DD",
                        self.version
                    ),
                )
            })
    }
}

/// The catalog's date, source and age against a given "today": what every verdict screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogAge {
    /// The catalog's data version (`YYYY.MM.DD`).
    pub version: String,
    /// The catalog's date.
    pub date: Date,
    /// Where it came from.
    pub source: CatalogSource,
    /// How many updates it lists.
    pub updates: usize,
    /// The date the age is measured against, as the caller gave it.
    pub today: Date,
    /// `today - date` in days; negative when the catalog is dated after `today` (a wrong clock).
    pub age_days: i64,
    /// The most recent second Tuesday on or before `today`: the newest release day the catalog
    /// could know about.
    pub latest_release_day: Date,
    /// The catalog is dated before `latest_release_day`, so updates from that day are unknown to it
    /// and "already current" only holds as of the catalog's date.
    pub stale: bool,
    /// The line to show with the verdicts ([`CatalogAge::notice_text`]).
    pub notice: String,
}

impl CatalogAge {
    /// The age of `catalog` (loaded from `source`) on `today`.
    pub fn new(catalog: &Catalog, source: CatalogSource, today: Date) -> Result<CatalogAge> {
        let date = catalog.date()?;
        let latest_release_day = today.latest_patch_tuesday().ok_or_else(|| {
            Error::invalid(
                "catalog",
                format!("no second Tuesday on or before {today} in years 1-9999"),
            )
        })?;
        let mut age = CatalogAge {
            version: catalog.version.clone(),
            date,
            source,
            updates: catalog.updates.len(),
            today,
            age_days: today.days_since_epoch() - date.days_since_epoch(),
            latest_release_day,
            stale: date < latest_release_day,
            notice: String::new(),
        };
        age.notice = age.notice_text();
        Ok(age)
    }

    /// "Catalog of 2026-11-23 (10 days old): updates released after that date are unknown to it.",
    /// with a second sentence when the catalog is stale or dated in the future.
    pub fn notice_text(&self) -> String {
        let date = self.date;
        let age = match self.age_days {
            0 => "dated today".to_string(),
            1 => "1 day old".to_string(),
            n if n > 0 => format!("{n} days old"),
            n => {
                return format!(
                    "Catalog of {date} is dated {} days after today ({}): check the computer's \
                     clock; updates released after {date} are unknown to it.",
                    -n, self.today
                )
            }
        };
        let mut s = format!(
            "Catalog of {date} ({age}): updates released after that date are unknown to it."
        );
        if self.stale {
            s.push_str(&format!(
                " Microsoft released updates on {} which it cannot know about: \"up to date\" only \
                 holds as of {date}; load a newer catalog.",
                self.latest_release_day
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn civil_days_round_trip_and_known_weekdays() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        // `date -u -d 2026-12-03 +%s` / 86400 = 20790.
        assert_eq!(d("2026-12-03").days_since_epoch(), 20_790);
        for n in [-700_000i64, -1, 0, 59, 60, 11_016, 20_790, 2_000_000] {
            let date = Date::from_days_since_epoch(n).unwrap();
            assert_eq!(date.days_since_epoch(), n, "{date}");
        }
        assert_eq!(d("2026-12-03").weekday_name(), "Thursday");
        assert_eq!(d("2024-02-29").weekday_name(), "Thursday");
        assert_eq!(
            Date::from_unix_seconds(1_796_256_000 + 86_399),
            Some(d("2026-12-03"))
        );
        assert!(Date::parse("2025-02-29").is_none());
        assert!(Date::parse("2026-13-01").is_none());
        assert!(Date::parse("2026-1-01").is_none());
    }

    #[test]
    fn second_tuesdays() {
        // Microsoft's release days, as published on the KB pages.
        for (y, m, want) in [
            (2025, 11, "2025-11-11"),
            (2025, 12, "2025-12-09"),
            (2026, 1, "2026-01-13"),
            (2026, 2, "2026-02-10"),
            (2026, 3, "2026-03-10"),
            (2026, 4, "2026-04-14"),
            (2026, 5, "2026-05-12"),
            (2026, 12, "2026-12-08"),
        ] {
            assert_eq!(Date::second_tuesday(y, m), Some(d(want)));
        }
        assert_eq!(
            d("2026-12-07").latest_patch_tuesday(),
            Some(d("2026-11-10"))
        );
        assert_eq!(
            d("2026-12-08").latest_patch_tuesday(),
            Some(d("2026-12-08"))
        );
        assert_eq!(
            d("2027-01-05").latest_patch_tuesday(),
            Some(d("2026-12-08"))
        );
    }

    fn catalog(version: &str) -> Catalog {
        Catalog::empty(version, "")
    }

    #[test]
    fn fresh_stale_and_future() {
        let cat = catalog("2026.11.23");
        let fresh = CatalogAge::new(&cat, CatalogSource::built_in(), d("2026-12-03")).unwrap();
        assert_eq!(fresh.age_days, 10);
        assert!(!fresh.stale);
        assert_eq!(
            fresh.notice,
            "Catalog of 2026-11-23 (10 days old): updates released after that date are unknown to it."
        );
        // The day of the next release makes it stale.
        let stale = CatalogAge::new(&cat, CatalogSource::built_in(), d("2026-12-08")).unwrap();
        assert!(stale.stale);
        assert_eq!(stale.latest_release_day, d("2026-12-08"));
        assert!(stale
            .notice
            .starts_with("Catalog of 2026-11-23 (15 days old)"));
        assert!(stale.notice.contains("only holds as of 2026-11-23"));
        let one = CatalogAge::new(&cat, CatalogSource::built_in(), d("2026-11-24")).unwrap();
        assert!(one.notice.contains("(1 day old)"));
        let future = CatalogAge::new(&cat, CatalogSource::built_in(), d("2026-11-20")).unwrap();
        assert_eq!(future.age_days, -3);
        assert!(!future.stale);
        assert!(future.notice.contains("check the computer's clock"));
        for bad in ["2026.11", "2026-11-23", "2026.02.30"] {
            let r = CatalogAge::new(&catalog(bad), CatalogSource::built_in(), d("2026-12-03"));
            assert!(r.is_err(), "{bad}");
        }
    }
}
