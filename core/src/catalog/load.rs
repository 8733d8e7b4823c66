//! Loading and checking the catalog: the copy embedded at build time, or a newer file the user supplies.
//!
//! The catalog is data, not code, so that a monthly research pass can ship without a rebuild; the
//! checks here keep a hand-edited file from feeding the applicability engine nonsense.

use super::model::{Catalog, Update};
use crate::{Error, Result};

/// The catalog shipped with this build (`core/data/catalog.json`).
pub const EMBEDDED_JSON: &str = include_str!("../../data/catalog.json");

/// The only schema version this code reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Upper bound on a catalog file; the real one is a few tens of KiB.
const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;

/// Most entries a catalog may hold; evaluation cost grows with the square of this per image.
pub const MAX_UPDATES: usize = 10_000;

/// Architectures an entry may list.
pub const ARCHITECTURES: [&str; 3] = ["x86", "x64", "arm64"];

impl Catalog {
    /// Parse the embedded catalog. It is checked by the test-suite, so failure here means a bad build.
    pub fn embedded() -> Result<Catalog> {
        Catalog::from_json(EMBEDDED_JSON)
    }

    /// Parse and check a catalog file (e.g. a newer one downloaded by the user).
    ///
    /// Hard errors (wrong schema, malformed KB number or date, duplicate KB, missing source) reject the
    /// file; softer findings are available from [`Catalog::lint`].
    pub fn from_json(json: &str) -> Result<Catalog> {
        if json.len() > MAX_JSON_BYTES {
            return Err(Error::Limit(format!(
                "catalog is {} bytes; the limit is {MAX_JSON_BYTES}",
                json.len()
            )));
        }
        let catalog: Catalog =
            serde_json::from_str(json).map_err(|e| Error::Invalid(format!("catalog JSON: {e}")))?;
        let errors = catalog.errors();
        if let Some(first) = errors.first() {
            return Err(Error::Invalid(format!(
                "catalog: {first}{}",
                if errors.len() > 1 {
                    format!(" (and {} more problems)", errors.len() - 1)
                } else {
                    String::new()
                }
            )));
        }
        Ok(catalog)
    }

    /// Every problem that makes the catalog unusable, in plain words (empty when it is sound).
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.schema != SCHEMA_VERSION {
            out.push(format!(
                "schema {} is not supported (this build reads schema {SCHEMA_VERSION})",
                self.schema
            ));
        }
        if !is_catalog_version(&self.version) {
            out.push(format!(
                "version {:?} is not of the form YYYY.MM.DD",
                self.version
            ));
        }
        if self.updates.len() > MAX_UPDATES {
            out.push(format!(
                "{} updates; at most {MAX_UPDATES} are accepted",
                self.updates.len()
            ));
            return out;
        }
        let mut seen: Vec<String> = Vec::new();
        for u in &self.updates {
            let kb_upper = u.kb.to_ascii_uppercase();
            if !is_kb(&u.kb) {
                out.push(format!(
                    "{:?} is not a KB number (KB followed by 6 or 7 digits)",
                    u.kb
                ));
            }
            if seen.contains(&kb_upper) {
                out.push(format!("{} appears more than once", u.kb));
            }
            seen.push(kb_upper);
            if let Some(d) = &u.release_date {
                if !is_iso_date(d) {
                    out.push(format!("{}: release_date {d:?} is not YYYY-MM-DD", u.kb));
                }
            }
            if !u.source.starts_with("https://") && !u.source.starts_with("http://") {
                out.push(format!("{}: source must be a URL", u.kb));
            }
            for a in &u.architectures {
                if !ARCHITECTURES.contains(&a.as_str()) {
                    out.push(format!("{}: unknown architecture {a:?}", u.kb));
                }
            }
            for kb in u.supersedes.iter().chain(u.superseded_by.iter()) {
                if !is_kb(kb) {
                    out.push(format!("{}: {kb:?} is not a KB number", u.kb));
                }
            }
            for f in &u.files {
                if let Some(h) = &f.sha1 {
                    if !is_hex(h, 40) {
                        out.push(format!("{}: {}: sha1 is not 40 hex digits", u.kb, f.name));
                    }
                }
                if let Some(h) = &f.sha256 {
                    if !is_hex(h, 64) {
                        out.push(format!("{}: {}: sha256 is not 64 hex digits", u.kb, f.name));
                    }
                }
            }
        }
        out
    }

    /// Softer findings: references to KBs that are not in the catalog and not explained in the notes,
    /// and entries whose supersession links disagree.
    pub fn lint(&self) -> Vec<String> {
        let mut out = Vec::new();
        for u in &self.updates {
            for kb in u.supersedes.iter().chain(u.superseded_by.iter()) {
                if self.get(kb).is_none() && !mentions(u, kb) {
                    out.push(format!(
                        "{} refers to {kb}, which is neither in the catalog nor explained in its notes",
                        u.kb
                    ));
                }
            }
            for kb in &u.supersedes {
                if let Some(old) = self.get(kb) {
                    if !old.superseded_by.is_empty()
                        && !old
                            .superseded_by
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(&u.kb))
                    {
                        out.push(format!(
                            "{} says it replaces {kb}, but {kb} lists other replacements",
                            u.kb
                        ));
                    }
                }
            }
        }
        out
    }
}

fn mentions(u: &Update, kb: &str) -> bool {
    u.notes
        .as_deref()
        .is_some_and(|n| n.to_ascii_uppercase().contains(&kb.to_ascii_uppercase()))
}

/// `KB` + 6 or 7 ASCII digits.
pub fn is_kb(s: &str) -> bool {
    let Some(digits) = s.strip_prefix("KB") else {
        return false;
    };
    (6..=7).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD` with a month 1–12 and a day valid for that month.
pub fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let max_day = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=max_day).contains(&d)
}

fn is_catalog_version(s: &str) -> bool {
    let dashed = s.replace('.', "-");
    is_iso_date(&dashed)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_and_date_formats() {
        assert!(is_kb("KB5079471"));
        assert!(is_kb("KB958488"));
        assert!(!is_kb("kb5079471"));
        assert!(!is_kb("KB12345"));
        assert!(!is_kb("KB12345678"));
        assert!(!is_kb("KB50794x1"));
        assert!(is_iso_date("2024-02-29"));
        assert!(!is_iso_date("2025-02-29"));
        assert!(!is_iso_date("2026-13-01"));
        assert!(!is_iso_date("2026-3-10"));
        assert!(!is_iso_date("2026-03-1x"));
    }
}
