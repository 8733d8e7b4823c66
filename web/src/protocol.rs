//! The typed message protocol between the page and the worker.
//!
//! A message is a JS object `{ json: "<serde JSON>", files: [File…] }`: the JSON carries the typed
//! request or event, and `File` objects travel beside it because structured cloning passes them
//! without copying their data (serde cannot carry them).

use crate::jobs::CatalogUse;
use mediaprep_core::catalog::{CatalogAge, Evaluation};
use mediaprep_core::media::{Entry, Inspection};
use mediaprep_core::package::{Package, Verification};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// What the page asks the worker to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// SHA-256 and SHA-1 of `files[0]`, read in `slice_mib` MiB slices.
    Hash {
        /// Slice size in MiB (clamped to 1..=32).
        slice_mib: u32,
    },
    /// Open `files` (an ISO, WIM, ESD, or a .swm set) and report what is inside, with the
    /// verdicts of the catalog and its age.
    Inspect {
        /// The date the catalog's age is measured against (`YYYY-MM-DD`); `None` = today, UTC.
        /// Set from the page's `?today=` parameter so tests need not depend on the real clock.
        #[serde(default)]
        today: Option<String>,
        /// The last of `files` is a catalog `.json` that replaces the built-in catalog for the
        /// verdicts (loaded with `Catalog::load`, as the CLI's `--catalog`).
        #[serde(default)]
        catalog: bool,
        /// The last of `files` is the last catalog that loaded, used when the newly chosen one
        /// (before it, when `catalog`) does not load or none was chosen.
        #[serde(default)]
        fallback: bool,
    },
    /// Load a catalog file without media: `files` are the chosen catalog (when `catalog`) and the
    /// last good one (when `fallback`), as for [`Request::Inspect`]. The result says which is used,
    /// its age, and whether it is kept in this browser for the next visits.
    Catalog {
        /// As for [`Request::Inspect`].
        #[serde(default)]
        today: Option<String>,
        /// A newly chosen catalog file is sent.
        #[serde(default)]
        catalog: bool,
        /// The last good catalog file is sent.
        #[serde(default)]
        fallback: bool,
    },
    /// At start: use the catalog kept in this browser's private storage by an earlier visit, or
    /// delete it and say why (another app version, not newer than the built-in one, broken).
    KeptCatalog {
        /// As for [`Request::Inspect`].
        #[serde(default)]
        today: Option<String>,
    },
    /// Export the catalog in use as JSON (`files[0]` when sent, else the built-in one), in the
    /// format `mediaprep --catalog` reads; the result is a [`Event::Download`].
    ExportCatalog,
    /// List a directory inside the media: `layers` descend containers as in the CLI.
    List {
        /// ISO paths and `N:/path` image paths, outermost first.
        layers: Vec<String>,
    },
    /// Extract the file `layers` lead to (as in `List`) into the origin-private file system,
    /// checked against the WIM's SHA-1 where there is one.
    Extract {
        /// ISO paths and `N:/path` image paths, outermost first; the last names a file.
        layers: Vec<String>,
    },
    /// Open `files[0]` as an update package (.cab / .msu): identity, components, and every
    /// payload checked against its manifest digest.
    Package,
    /// Service the packages into the recovery image of the media: `files[..media]` are the
    /// media (ISO, install.wim or Winre.wim), the rest the packages. The verified output is left in
    /// the origin-private file system as `out_name`.
    Patch {
        /// How many of the files are media.
        media: u32,
        /// Final name of the output in OPFS.
        out_name: String,
        /// What to produce (absent: the WinRE).
        #[serde(default)]
        target: PatchTarget,
        /// install.wim editions whose WinRE is replaced (1-based; empty: all).
        #[serde(default)]
        indices: Vec<u32>,
    },
    /// Build the session report in one form; the result is a [`Event::Download`] with the bytes.
    Report {
        /// Which form.
        format: ReportFormat,
        /// The session so far: the inspection, evaluation and package results the page holds.
        session: Session,
    },
}

/// What a patch produces (as `mediaprep patch --target`): the core's one definition.
pub use mediaprep_core::service::PatchTarget;

/// A finished patch, as the page shows it: the core's [`mediaprep_core::service::PatchReport`]
/// reduced to what the page needs, plus where the output is and how it was compressed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PatchResult {
    /// What was produced.
    pub target: PatchTarget,
    /// What was serviced (layers), or the Setup DU's name.
    pub input: String,
    /// The output's name in OPFS.
    pub opfs: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (hex in JSON).
    #[serde(with = "mediaprep_core::hash::hex_serde")]
    pub sha256: [u8; 32],
    /// The serviced WinRE's images: index, version before, version after.
    pub versions: Vec<(u32, Option<String>, Option<String>)>,
    /// install.wim editions: index, and whether its WinRE was replaced.
    pub editions: Vec<(u32, bool)>,
    /// Files expanded for `sources\` (Setup DU target).
    pub setup_files: Option<usize>,
    /// How the chunks were compressed (WIM outputs).
    pub compression: Option<crate::pool::PoolReport>,
    /// The packages serviced, in servicing order (each one "serviced"; a refusal is an error).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Remarks from servicing (e.g. an LCU body not applied to WinRE).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The folder target: what was written into the chosen folder (then `opfs` is empty and
    /// `sha256` zeros: a tree has no single digest).
    #[serde(default)]
    pub folder: Option<crate::usb::FolderWritten>,
    /// Install target with editions carrying different WinREs: each one, serviced once (then
    /// `versions` is empty: each group has its own).
    #[serde(default)]
    pub winre_groups: Vec<WinreGroupResult>,
}

/// One distinct WinRE of the selected install.wim editions and what it became.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WinreGroupResult {
    /// The editions (1-based) that carried it.
    pub editions: Vec<u32>,
    /// Its images: index, version before, version after.
    pub versions: Vec<(u32, Option<String>, Option<String>)>,
    /// SHA-256 of the serviced WinRE.wim (hex in JSON).
    #[serde(with = "mediaprep_core::hash::hex_serde")]
    pub sha256: [u8; 32],
}

/// The forms a report can be exported in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    /// Lossless JSON.
    Json,
    /// A self-contained HTML page.
    Html,
    /// Markdown.
    Markdown,
    /// ZIP: the three forms, the DISM script and SHA256SUMS.
    Zip,
    /// The DISM hand-off script alone.
    Dism,
}

impl ReportFormat {
    /// Download name and MIME type.
    pub fn file(self) -> (&'static str, &'static str) {
        match self {
            ReportFormat::Json => ("mediaprep-report.json", "application/json"),
            ReportFormat::Html => ("mediaprep-report.html", "text/html"),
            ReportFormat::Markdown => ("mediaprep-report.md", "text/markdown"),
            ReportFormat::Zip => ("mediaprep-report.zip", "application/zip"),
            ReportFormat::Dism => ("handoff-dism.ps1", "text/plain"),
        }
    }
}

/// What the page has learnt in this session, sent back to the worker to build a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Session {
    /// When, in the user's local words (the worker has no clock it should trust for this).
    pub generated: String,
    /// The inspection report, once media was opened.
    #[serde(default)]
    pub inspection: Option<Held<Inspection>>,
    /// The applicability evaluation, if any.
    #[serde(default)]
    pub evaluation: Option<Held<Evaluation>>,
    /// The package results.
    #[serde(default)]
    pub packages: Vec<PackageResult>,
    /// The catalog the verdicts rest on.
    #[serde(default)]
    pub catalog: Option<CatalogAge>,
}

/// A worker result the page holds: shared, and equal only to itself (a new result is a new
/// value). Views compare props cheaply, and the core's report types need not be `PartialEq`.
#[derive(Debug, Default)]
pub struct Held<T>(pub Arc<T>);

impl<T> Held<T> {
    /// Hold `v`.
    pub fn new(v: T) -> Self {
        Held(Arc::new(v))
    }
}

impl<T> Clone for Held<T> {
    fn clone(&self) -> Self {
        Held(self.0.clone())
    }
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> std::ops::Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Held<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Held<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Held::new)
    }
}

/// A finished job's result: the core's own report types, typed end to end.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum JobResult {
    /// Digests of one file.
    Hashed(Hashed),
    /// Media inspected and evaluated against the catalog in use.
    Inspected(Box<Inspected>),
    /// A catalog loaded without media (or the kept one checked at start).
    Catalog(Box<CatalogInfo>),
    /// A directory listing for the file browser.
    Listed {
        /// The rows.
        entries: Vec<Entry>,
    },
    /// An update package opened and verified.
    Package(Box<PackageResult>),
    /// One file extracted into OPFS.
    Extracted(Extracted),
    /// A report built (its size only; the bytes travel as a [`Event::Download`]).
    Report {
        /// Download name.
        name: String,
        /// Size in bytes.
        size: u64,
    },
}

/// Digests of one file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hashed {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex in JSON).
    #[serde(with = "mediaprep_core::hash::hex_serde")]
    pub sha256: [u8; 32],
    /// SHA-1 (hex in JSON).
    #[serde(with = "mediaprep_core::hash::hex_serde")]
    pub sha1: [u8; 20],
}

/// The catalog a job rested on, and what became of a newly chosen file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogInfo {
    /// The catalog in use: its date, source and age.
    pub catalog: CatalogAge,
    /// Which offer was used.
    pub catalog_use: CatalogUse,
    /// Why a newly chosen file is not used (every problem, each with its JSON path).
    pub catalog_problem: Option<String>,
    /// The worker's words about keeping a new file between visits, or why a kept one went.
    pub catalog_kept: Option<String>,
    /// This is the start-of-visit check of the kept catalog.
    #[serde(default)]
    pub kept_at_start: bool,
}

/// An inspection and its verdicts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Inspected {
    /// The catalog the verdicts rest on.
    pub catalog: CatalogInfo,
    /// What is inside the media.
    pub inspection: Held<Inspection>,
    /// The catalog's verdicts for its images.
    pub evaluation: Held<Evaluation>,
}

/// An update package and its verification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageResult {
    /// The file name it was opened as.
    pub file: String,
    /// What it is (read back from JSON: listed, not readable).
    pub package: Held<Package>,
    /// Every payload checked against its manifest.
    pub verification: Held<Verification>,
}

/// A file extracted from inside the media into OPFS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Extracted {
    /// The layers that lead to it, joined by spaces.
    pub path: String,
    /// Its own name.
    pub name: String,
    /// Its name in OPFS.
    pub opfs: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex in JSON).
    #[serde(with = "mediaprep_core::hash::hex_serde")]
    pub sha256: [u8; 32],
    /// The bytes matched the WIM's SHA-1 (ISO files have none to check).
    pub checked: bool,
}

/// A request with the id its events will carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Job id chosen by the page.
    pub id: u32,
    /// The request.
    pub request: Request,
}

/// What the worker tells the page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The worker is initialised and listening.
    Ready {
        /// mediaprep-core version.
        version: String,
    },
    /// Progress of a job.
    Progress {
        /// Job id.
        id: u32,
        /// Stage name ("hash", "read", "compress", …).
        stage: String,
        /// Bytes done.
        done: u64,
        /// Bytes in total.
        total: u64,
        /// Throughput so far in MB/s.
        mb_per_s: f64,
    },
    /// A patch finished.
    Patched {
        /// Job id.
        id: u32,
        /// What it wrote.
        result: Box<PatchResult>,
    },
    /// A job finished.
    Result {
        /// Job id.
        id: u32,
        /// The result.
        result: JobResult,
    },
    /// A job produced a file; its bytes travel beside the JSON as a `Uint8Array`.
    Download {
        /// Job id.
        id: u32,
        /// Suggested file name.
        name: String,
        /// MIME type.
        mime: String,
        /// Size in bytes.
        size: u64,
    },
    /// A job failed.
    Error {
        /// Job id.
        id: u32,
        /// Stable error kind (see `mediaprep_core::Error::kind`).
        kind: String,
        /// Plain-words message.
        message: String,
        /// When packages were refused: which, why, and the DISM hand-off script.
        #[serde(default)]
        refusal: Option<mediaprep_core::error::Refusal>,
        /// When the parts of a split WIM set do not make a set: what is wrong, by part number.
        #[serde(default)]
        split_set: Option<mediaprep_core::error::SplitSetProblem>,
        /// When a chosen catalog file does not load: its name (the page stops sending it).
        #[serde(default)]
        catalog_file: Option<String>,
        /// When the WinRE of some install.wim editions cannot be serviced: which, and why.
        #[serde(default)]
        winre_group: Option<Box<WinreGroupProblem>>,
    },
}

/// install.wim editions whose WinRE the packages cannot service (nothing was written).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WinreGroupProblem {
    /// The editions (1-based) carrying that WinRE.
    pub editions: Vec<u32>,
    /// Why, as the core words it.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_json_shape_is_stable() {
        let e = Envelope {
            id: 7,
            request: Request::Hash { slice_mib: 8 },
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#"{"id":7,"request":{"op":"hash","slice_mib":8}}"#);
        assert_eq!(serde_json::from_str::<Envelope>(&s).unwrap(), e);
        let ev: Event = serde_json::from_str(r#"{"event":"ready","version":"1"}"#).unwrap();
        assert_eq!(
            ev,
            Event::Ready {
                version: "1".into()
            }
        );
    }

    /// An inspection result crosses the worker boundary typed: what the page reads back is
    /// the core's report, field for field, and serializes to the same JSON again.
    #[test]
    fn an_inspection_result_round_trips_typed() {
        use mediaprep_core::catalog::{Date, ImageRole};
        use mediaprep_core::media::{ImageReport, VersionReport, WimReport};
        let chosen = crate::jobs::choose_catalog(None, None).unwrap();
        let info = crate::jobs::catalog_info(&chosen, Date::new(2026, 12, 3).unwrap(), None);
        let info = info.unwrap();
        let image = ImageReport {
            index: 1,
            name: Some("Microsoft Windows Recovery Environment (amd64)".into()),
            edition: None,
            arch: Some("x64".into()),
            version: Some("10.0.26100.1000".into()),
            build: Some(26100),
            spbuild: Some(1000),
            languages: vec!["en-US".into()],
            installation_type: Some("WindowsPE".into()),
            dir_count: Some(3),
            file_count: Some(9),
            total_bytes: Some(1 << 30),
            pe_content: Some(mediaprep_core::media::PeContent::Recovery),
            role: ImageRole::Winre,
            version_signals: Some(VersionReport {
                effective: Some("10.0.26100.8037".into()),
                effective_build: Some(26100),
                effective_revision: Some(8037),
                files: vec![(
                    "/Windows/System32/winpeshl.exe".into(),
                    "10.0.26100.8037".into(),
                )],
                ..Default::default()
            }),
        };
        let inspection = Inspection {
            schema: 1,
            file: "Winre.wim".into(),
            size: 5 << 20,
            container: "wim".into(),
            iso: None,
            wims: vec![WimReport {
                path: "Winre.wim".into(),
                kind: "wim".into(),
                compression: "LZX".into(),
                chunk_size: 32768,
                solid: false,
                part_count: 1,
                boot_index: 1,
                integrity_present: true,
                integrity_valid: None,
                images: vec![image],
                winre: Vec::new(),
            }],
        };
        let core_json = serde_json::to_string(&inspection).unwrap();
        let ev = Event::Result {
            id: 3,
            result: JobResult::Inspected(Box::new(Inspected {
                catalog: info.clone(),
                inspection: Held::new(inspection),
                evaluation: Held::new(mediaprep_core::catalog::evaluate(&chosen.catalog, &[])),
            })),
        };
        let wire = serde_json::to_string(&ev).unwrap();
        let Event::Result {
            id: 3,
            result: JobResult::Inspected(back),
        } = serde_json::from_str::<Event>(&wire).unwrap()
        else {
            panic!("not an inspection result: {wire}");
        };
        let img = &back.inspection.wims[0].images[0];
        assert_eq!(img.role, ImageRole::Winre);
        assert_eq!(img.total_bytes, Some(1 << 30));
        let signals = img.version_signals.as_ref().unwrap();
        assert_eq!(signals.effective_revision, Some(8037));
        assert_eq!(signals.files[0].1, "10.0.26100.8037");
        assert_eq!(back.catalog, info);
        assert_eq!(back.catalog.catalog_use, CatalogUse::BuiltIn);
        assert_eq!(serde_json::to_string(&*back.inspection).unwrap(), core_json);
        assert_eq!(
            serde_json::to_string(&Event::Result {
                id: 3,
                result: JobResult::Inspected(back)
            })
            .unwrap(),
            wire
        );
    }
}
