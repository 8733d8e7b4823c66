//! Loading and checking the catalog: the copy embedded at build time, or a newer file the user supplies.
//!
//! The catalog is data, not code, so that a monthly research pass can ship without a rebuild; the
//! checks here keep a hand-edited file from feeding the applicability engine nonsense.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::age::Date;
use super::model::{Catalog, Update};
use super::schema::{schema_problems, CatalogProblem};
use crate::{Error, Result};

/// The catalog shipped with this build (`core/data/catalog.json`).
pub const EMBEDDED_JSON: &str = include_str!("../../data/catalog.json");

/// The only schema version this code reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Upper bound on a catalog file; the real one is a few tens of KiB.
pub const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;

/// Most entries a catalog may hold; evaluation cost grows with the square of this per image.
pub const MAX_UPDATES: usize = 10_000;

/// Architectures an entry may list.
pub const ARCHITECTURES: [&str; 3] = ["x86", "x64", "arm64"];

/// Why a catalog file was rejected: every problem found, each naming the JSON path of its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogError {
    /// The problems, in file order (never empty).
    pub problems: Vec<CatalogProblem>,
}

impl CatalogError {
    fn one(path: &str, message: impl Into<String>) -> Self {
        CatalogError {
            problems: vec![CatalogProblem::new(path, message)],
        }
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.split_first() {
            None => write!(f, "catalog rejected"),
            Some((first, [])) => write!(f, "catalog: {first}"),
            Some((first, rest)) => write!(
                f,
                "catalog: {first} (and {} more problem{})",
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
        }
    }
}

impl std::error::Error for CatalogError {}

impl From<CatalogError> for Error {
    fn from(e: CatalogError) -> Error {
        Error::invalid("catalog", e)
    }
}

impl Catalog {
    /// Parse the embedded catalog. It is checked by the test-suite, so failure here means a bad build.
    pub fn embedded() -> Result<Catalog> {
        Catalog::from_json(EMBEDDED_JSON)
    }

    /// Parse and check a catalog file; [`Catalog::load`] with the crate's error type.
    pub fn from_json(json: &str) -> Result<Catalog> {
        Ok(Catalog::load(json.as_bytes())?)
    }

    /// Load a catalog file from its bytes: the one loader of the CLI's `--catalog` and of a file
    /// dropped on the page. No file system, no clock: bytes in, typed catalog or typed error out.
    ///
    /// The file is checked against `docs/schema/catalog.schema.json` first (so a misspelt or
    /// mistyped field is named by its JSON path), then against the rules a schema cannot express
    /// ([`Catalog::problems`]: real dates, duplicate KBs...). Softer maintenance findings are left
    /// to [`Catalog::maintenance_problems`].
    pub fn load(bytes: &[u8]) -> std::result::Result<Catalog, CatalogError> {
        if bytes.len() > MAX_JSON_BYTES {
            return Err(CatalogError::one(
                "$",
                format!(
                    "the file is {} bytes; a catalog may have at most {MAX_JSON_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            CatalogError::one(
                "$",
                format!("not UTF-8 text (bad byte at offset {})", e.valid_up_to()),
            )
        })?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| CatalogError::one("$", format!("not valid JSON: {e}")))?;
        let problems = schema_problems(&value);
        if !problems.is_empty() {
            return Err(CatalogError { problems });
        }
        let catalog: Catalog = serde_json::from_value(value)
            .map_err(|e| CatalogError::one("$", format!("does not fit the catalog model: {e}")))?;
        let problems = catalog.problems();
        if !problems.is_empty() {
            return Err(CatalogError { problems });
        }
        Ok(catalog)
    }

    /// The catalog as pretty JSON in the format [`Catalog::load`] accepts (what
    /// `mediaprep catalog --json` prints): loading it back gives an equal catalog.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("catalog", format!("catalog JSON: {e}")))
    }

    /// Every problem that makes the catalog unusable, in plain words (empty when it is sound).
    pub fn errors(&self) -> Vec<String> {
        self.problems().iter().map(ToString::to_string).collect()
    }

    /// Every problem that makes the catalog unusable, each with the JSON path of its field.
    pub fn problems(&self) -> Vec<CatalogProblem> {
        let mut out = Vec::new();
        if self.schema != SCHEMA_VERSION {
            out.push(CatalogProblem::new(
                "$.schema",
                format!(
                    "schema {} is not supported (this build reads schema {SCHEMA_VERSION})",
                    self.schema
                ),
            ));
        }
        if !is_catalog_version(&self.version) {
            out.push(CatalogProblem::new(
                "$.version",
                format!(
                    "{:?} is not a real date of the form YYYY.MM.DD",
                    self.version
                ),
            ));
        }
        if self.updates.len() > MAX_UPDATES {
            out.push(CatalogProblem::new(
                "$.updates",
                format!(
                    "{} updates; at most {MAX_UPDATES} are accepted",
                    self.updates.len()
                ),
            ));
            return out;
        }
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, u) in self.updates.iter().enumerate() {
            let at = |field: &str| format!("$.updates[{i}].{field}");
            let kb_upper = u.kb.to_ascii_uppercase();
            if !is_kb(&u.kb) {
                out.push(CatalogProblem::new(
                    at("kb"),
                    format!(
                        "{:?} is not a KB number (KB followed by 6 or 7 digits)",
                        u.kb
                    ),
                ));
            }
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kb_upper) {
                out.push(CatalogProblem::new(
                    at("kb"),
                    format!(
                        "{} appears more than once (first at $.updates[{first}])",
                        u.kb
                    ),
                ));
            }
            seen.push((kb_upper, i));
            if let Some(d) = &u.release_date {
                if !is_iso_date(d) {
                    out.push(CatalogProblem::new(
                        at("release_date"),
                        format!("{d:?} is not a real date of the form YYYY-MM-DD ({})", u.kb),
                    ));
                }
            }
            if !u.source.starts_with("https://") && !u.source.starts_with("http://") {
                out.push(CatalogProblem::new(
                    at("source"),
                    format!("must be a http(s) URL ({})", u.kb),
                ));
            }
            for (j, a) in u.architectures.iter().enumerate() {
                if !ARCHITECTURES.contains(&a.as_str()) {
                    out.push(CatalogProblem::new(
                        at(&format!("architectures[{j}]")),
                        format!("unknown architecture {a:?} ({})", u.kb),
                    ));
                }
            }
            for (field, list) in [
                ("supersedes", &u.supersedes),
                ("superseded_by", &u.superseded_by),
            ] {
                for (j, kb) in list.iter().enumerate() {
                    if !is_kb(kb) {
                        out.push(CatalogProblem::new(
                            at(&format!("{field}[{j}]")),
                            format!("{kb:?} is not a KB number ({})", u.kb),
                        ));
                    }
                }
            }
            for (j, f) in u.files.iter().enumerate() {
                if let Some(h) = &f.sha1 {
                    if !is_hex(h, 40) {
                        out.push(CatalogProblem::new(
                            at(&format!("files[{j}].sha1")),
                            format!("{}: not 40 hex digits ({})", f.name, u.kb),
                        ));
                    }
                }
                if let Some(h) = &f.sha256 {
                    if !is_hex(h, 64) {
                        out.push(CatalogProblem::new(
                            at(&format!("files[{j}].sha256")),
                            format!("{}: not 64 hex digits ({})", f.name, u.kb),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Softer findings: references to KBs that are not in the catalog and not explained in the notes,
    /// and entries whose supersession links disagree.
    pub fn lint(&self) -> Vec<String> {
        self.lint_problems()
            .iter()
            .map(|p| p.message.clone())
            .collect()
    }

    /// [`Catalog::lint`] with the JSON path of each finding.
    pub fn lint_problems(&self) -> Vec<CatalogProblem> {
        let mut out = Vec::new();
        for (i, u) in self.updates.iter().enumerate() {
            for (field, list) in [
                ("supersedes", &u.supersedes),
                ("superseded_by", &u.superseded_by),
            ] {
                for (j, kb) in list.iter().enumerate() {
                    if self.get(kb).is_none() && !mentions(u, kb) {
                        out.push(CatalogProblem::new(
                            format!("$.updates[{i}].{field}[{j}]"),
                            format!(
                                "{} refers to {kb}, which is neither in the catalog nor explained in its notes",
                                u.kb
                            ),
                        ));
                    }
                }
            }
            for (j, kb) in u.supersedes.iter().enumerate() {
                if let Some(old) = self.get(kb) {
                    if !old.superseded_by.is_empty()
                        && !old
                            .superseded_by
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(&u.kb))
                    {
                        out.push(CatalogProblem::new(
                            format!("$.updates[{i}].supersedes[{j}]"),
                            format!(
                                "{} says it replaces {kb}, but {kb} lists other replacements",
                                u.kb
                            ),
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
    Date::parse(s).is_some()
}

/// `YYYY.MM.DD`, a real date.
fn is_catalog_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b[4] == b'.' && b[7] == b'.' && is_iso_date(&s.replace('.', "-"))
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
