//! The one error type of the core. Every variant carries enough words for a technician and enough
//! detail (file structure, offset) for a bug report; none of them is ever a panic.

use std::fmt;

/// Result alias used across the core.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong, typed so callers (CLI, worker) can choose how to present it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A browser API call failed or returned something other than it promises.
    #[error("I/O error: {api}: {message}")]
    BrowserApi {
        /// The API and what it was doing ("File.slice", "getFileHandle(out.wim)").
        api: String,
        /// What the browser said (its JS error), or what came back instead.
        message: String,
    },
    /// Reading or writing a ZIP archive failed; the `zip` crate's error is kept as the source.
    #[error("I/O error: {context}: {source}")]
    Zip {
        /// What was being done ("writing report ZIP", "Setup DU ZIP").
        context: String,
        /// The `zip` crate's error.
        #[source]
        source: zip::result::ZipError,
    },
    /// An operating-system I/O call failed; the original error is kept as the source.
    #[error("{context}: {source}")]
    Os {
        /// What was being done ("creating out.wim.tmp-1-0", or "I/O error").
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The parts of a split WIM (.swm) set do not make a whole set.
    #[error("{0}")]
    SplitSet(SplitSetProblem),
    /// Packages were refused: nothing was written, and DISM can do it instead.
    #[error("{}", .0)]
    Refused(Box<Refusal>),
    /// A structure in the input is malformed.
    #[error("malformed {structure} at offset {offset}: {reason}")]
    Malformed {
        /// The structure being parsed, e.g. "WIM header", "UDF File Entry".
        structure: &'static str,
        /// Byte offset of the structure in its container.
        offset: u64,
        /// Why it was rejected.
        reason: String,
    },
    /// A read would go past the end of the data.
    #[error("truncated input: {structure} needs bytes {offset}..{end} but only {size} exist")]
    Truncated {
        /// The structure being read.
        structure: &'static str,
        /// Start of the read.
        offset: u64,
        /// End of the read (exclusive).
        end: u64,
        /// Size of the data.
        size: u64,
    },
    /// Compressed data failed to decode.
    #[error("corrupt {codec} data: {reason}")]
    Codec {
        /// Codec name ("LZX", "XPRESS", "LZMS", "MSZIP").
        codec: &'static str,
        /// What the decoder found.
        reason: String,
    },
    /// A digest did not match what the container or manifest promised.
    #[error("{what}: digest mismatch (expected {expected}, got {actual})")]
    DigestMismatch {
        /// What was hashed.
        what: String,
        /// Expected hex digest.
        expected: String,
        /// Computed hex digest.
        actual: String,
    },
    /// The input is valid but uses something mediaprep does not handle.
    #[error("unsupported: {detail}")]
    Unsupported {
        /// What kind of thing is not handled: the format or feature ("CAB compression", "UDF",
        /// "PE-typed delta", "split WIM", …), stable for callers that sort errors.
        what: &'static str,
        /// Which one and where, in words (the message).
        detail: String,
    },
    /// A length or count exceeds a sane limit.
    #[error("limit exceeded: {what}")]
    Limit {
        /// What exceeds it, in words (the message: the structure, and the numbers as a reader
        /// wants them, e.g. "2^32 sectors").
        what: String,
        /// The length or count found (or needed).
        value: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// Something the request or the input names is not there.
    #[error("{what} not found: {name}")]
    NotFound {
        /// What kind of thing was looked for ("image path", "CAB folder", "blob", "WinRE").
        what: &'static str,
        /// Which one, and where it was looked for.
        name: String,
    },
    /// The caller's request or a name in the input is invalid (e.g. path traversal).
    #[error("invalid: {reason}")]
    Invalid {
        /// Where it was refused: a short fixed area name ("patch request", "command line",
        /// "page request", "ISO writer", "package name", "catalog", …), stable for callers
        /// that sort errors. A request area means the caller asked for it; the others name the
        /// input or the writer that refused.
        what: &'static str,
        /// Why, in words (the message).
        reason: String,
    },
    /// A catalog file the user chose does not load (too large, not JSON, or fields at fault).
    #[error("invalid: catalog file {name}: {}", .problems.join("; "))]
    CatalogFile {
        /// The file's name as the user gave it.
        name: String,
        /// Every problem, each naming the JSON path of its field where it has one
        /// (`$.updates[0].revison: unknown field`).
        problems: Vec<String>,
    },
    /// The job was cancelled by the user.
    #[error("cancelled")]
    Cancelled,
    /// Selected install.wim editions carry different WinRE images and the WinRE of these
    /// editions cannot be serviced (e.g. the Safe OS DU is for another build): nothing was written.
    #[error(
        "the WinRE of edition{} {} (SHA-1 {winre}) cannot be serviced: {reason}; nothing was written",
        if editions.len() > 1 { "s" } else { "" },
        editions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    WinreGroup {
        /// The editions (1-based) carrying that WinRE.
        editions: Vec<u32>,
        /// The WinRE blob's SHA-1 (hex).
        winre: String,
        /// Why it cannot be serviced.
        #[source]
        reason: Box<Error>,
    },
}

/// What is wrong with the parts of a split WIM set that were given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum SplitSetProblem {
    /// One part opened alone: the others are `missing`.
    LonePart {
        /// The part given.
        part: u16,
        /// Parts in the set.
        total: u16,
        /// The parts not given.
        missing: Vec<u16>,
    },
    /// Some parts of the set were not given.
    Missing {
        /// The parts not given.
        missing: Vec<u16>,
        /// Parts in the set.
        total: u16,
        /// The set's GUID (hex).
        guid: String,
    },
    /// Parts of different sets (their GUIDs, hex).
    DifferentSets {
        /// The first part's set.
        first: String,
        /// Another part's set.
        other: String,
    },
    /// Parts that disagree on how many parts the set has.
    CountsDisagree {
        /// One part's count.
        one: u16,
        /// The first part's count.
        first: u16,
    },
    /// The same part given twice.
    Twice {
        /// The part.
        part: u16,
    },
}

fn numbers(v: &[u16]) -> String {
    v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

fn plural(v: &[u16]) -> &'static str {
    if v.len() > 1 {
        "s"
    } else {
        ""
    }
}

impl fmt::Display for SplitSetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitSetProblem::LonePart {
                part,
                total,
                missing,
            } => write!(
                f,
                "this is part {part} of a {total}-part split WIM; open all parts together \
                 (missing part{} {})",
                plural(missing),
                numbers(missing)
            ),
            SplitSetProblem::Missing {
                missing,
                total,
                guid,
            } => write!(
                f,
                "split WIM part{} {} of {total} missing (GUID {guid})",
                plural(missing),
                numbers(missing)
            ),
            SplitSetProblem::DifferentSets { first, other } => {
                write!(
                    f,
                    "split WIM parts from different sets (GUID {first} vs {other})"
                )
            }
            SplitSetProblem::CountsDisagree { one, first } => write!(
                f,
                "split WIM parts disagree on the part count ({one} vs {first})"
            ),
            SplitSetProblem::Twice { part } => write!(f, "split WIM part {part} given twice"),
        }
    }
}

/// Packages the engine will not service, why, and the DISM hand-off script that applies them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// Each refused package (or MSU part) with the reason, in words.
    pub packages: Vec<RefusedPackage>,
    /// Remarks of the selection (e.g. the LCU body is not applied to WinRE).
    pub notes: Vec<String>,
    /// The PowerShell script that applies them (and any package that was not applied with them)
    /// with DISM.
    pub script: String,
}

/// One refused package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefusedPackage {
    /// File name (`lcu.msu` or `lcu.msu/SSU-26100.8037-x64.cab`).
    pub name: String,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, p) in self.packages.iter().enumerate() {
            if k > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} is refused: {}", p.name, p.reason)?;
        }
        f.write_str(" (nothing was written; the DISM hand-off script applies them instead)")
    }
}

impl Error {
    /// An OS I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Os {
            context: context.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(structure: &'static str, offset: u64, reason: impl fmt::Display) -> Self {
        Error::Malformed {
            structure,
            offset,
            reason: reason.to_string(),
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: &'static str, name: impl fmt::Display) -> Self {
        Error::NotFound {
            what,
            name: name.to_string(),
        }
    }

    /// Shorthand for [`Error::Limit`]: `value` exceeds `limit`; `what` says what, in words.
    pub fn limit(
        value: impl TryInto<u64>,
        limit: impl TryInto<u64>,
        what: impl fmt::Display,
    ) -> Self {
        Error::Limit {
            what: what.to_string(),
            value: value.try_into().unwrap_or(u64::MAX),
            limit: limit.try_into().unwrap_or(u64::MAX),
        }
    }

    /// This error with a [`Error::Limit`]'s words rewritten by `f` (to name where it happened);
    /// any other error as it is.
    pub fn reword_limit(self, f: impl FnOnce(&str) -> String) -> Self {
        match self {
            Error::Limit { what, value, limit } => Error::Limit {
                what: f(&what),
                value,
                limit,
            },
            other => other,
        }
    }

    /// Shorthand for [`Error::Unsupported`]: `what` kind of thing, `detail` which one.
    pub fn unsupported(what: &'static str, detail: impl fmt::Display) -> Self {
        Error::Unsupported {
            what,
            detail: detail.to_string(),
        }
    }

    /// Shorthand for [`Error::Invalid`]: refused in area `what`, `reason` why.
    pub fn invalid(what: &'static str, reason: impl fmt::Display) -> Self {
        Error::Invalid {
            what,
            reason: reason.to_string(),
        }
    }

    /// Shorthand for [`Error::BrowserApi`].
    pub fn browser(api: impl Into<String>, message: impl Into<String>) -> Self {
        Error::BrowserApi {
            api: api.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Zip`].
    pub fn zip(context: impl Into<String>, source: zip::result::ZipError) -> Self {
        Error::Zip {
            context: context.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Codec`].
    pub fn codec(codec: &'static str, reason: impl fmt::Display) -> Self {
        Error::Codec {
            codec,
            reason: reason.to_string(),
        }
    }

    /// A short, stable machine-readable kind, used by the worker protocol and JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BrowserApi { .. } | Error::Zip { .. } | Error::Os { .. } => "io",
            Error::Refused(_) => "refused",
            Error::SplitSet(SplitSetProblem::LonePart { .. } | SplitSetProblem::Missing { .. }) => {
                "not-found"
            }
            Error::SplitSet(_) => "invalid",
            Error::Malformed { .. } => "malformed",
            Error::Truncated { .. } => "truncated",
            Error::Codec { .. } => "codec",
            Error::DigestMismatch { .. } => "digest-mismatch",
            Error::Unsupported { .. } => "unsupported",
            Error::Limit { .. } => "limit",
            Error::NotFound { .. } => "not-found",
            Error::Invalid { .. } | Error::CatalogFile { .. } => "invalid",
            Error::Cancelled => "cancelled",
            Error::WinreGroup { reason, .. } => reason.kind(),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("I/O error", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_limit_carries_its_numbers_and_keeps_its_words() {
        let e = Error::limit(17usize, 16u32, "x of 17 bytes (limit 16)");
        assert!(matches!(
            e,
            Error::Limit {
                value: 17,
                limit: 16,
                ..
            }
        ));
        assert_eq!(e.to_string(), "limit exceeded: x of 17 bytes (limit 16)");
        assert_eq!(e.kind(), "limit");
        // A negative or unrepresentable number saturates rather than wraps.
        assert!(matches!(
            Error::limit(-1i64, u64::MAX, "w"),
            Error::Limit {
                value: u64::MAX,
                ..
            }
        ));
    }

    #[test]
    fn an_invalid_error_carries_its_area_and_keeps_its_words() {
        let e = Error::invalid("package name", "a/../b: not a plain relative path");
        match &e {
            Error::Invalid { what, reason } => {
                assert_eq!(*what, "package name");
                assert_eq!(reason, "a/../b: not a plain relative path");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(e.to_string(), "invalid: a/../b: not a plain relative path");
        assert_eq!(e.kind(), "invalid");
    }

    #[test]
    fn unsupported_browser_and_zip_errors_keep_their_parts() {
        let e = Error::unsupported("CAB", "Quantum folder");
        assert!(matches!(e, Error::Unsupported { what: "CAB", .. }));
        assert_eq!(e.to_string(), "unsupported: Quantum folder");
        let e = Error::browser("File.slice", "NotReadableError");
        assert_eq!(e.to_string(), "I/O error: File.slice: NotReadableError");
        assert_eq!(e.kind(), "io");
        let e = Error::zip("writing report ZIP", zip::result::ZipError::FileNotFound);
        assert_eq!(e.kind(), "io");
        let source = e.source().expect("the zip error is the source");
        assert!(source.is::<zip::result::ZipError>(), "{source:?}");
        assert!(
            e.to_string().starts_with("I/O error: writing report ZIP: "),
            "{e}"
        );
    }
}
