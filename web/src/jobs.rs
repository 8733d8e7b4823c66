//! The jobs the worker runs through the core (inspect, list, package, report). Plain Rust over
//! [`SharedReader`]s, so native tests drive them with fixture files and the worker with `File`s.

use crate::protocol::{
    CatalogInfo, Held, Inspected, JobResult, PackageResult, ReportFormat, Request, Session,
};
use mediaprep_core::catalog::{self, Catalog, CatalogAge, CatalogSource, Date};
use mediaprep_core::io::{Progress, SharedReader};
use mediaprep_core::media::{self, Target};
use mediaprep_core::report::{dism_script, Report, ScriptPaths};
use mediaprep_core::{Error, Result};

/// The date a request names (`YYYY-MM-DD`), or `today` when it names none.
pub fn requested_date(requested: Option<&str>, today: Date) -> Result<Date> {
    match requested {
        None => Ok(today),
        Some(s) => Date::parse(s).ok_or_else(|| {
            Error::invalid(
                "page request",
                format!("today: {s:?} is not a YYYY-MM-DD date"),
            )
        }),
    }
}

/// A catalog file is data, not media: larger than this is not a catalog.
const MAX_CATALOG_BYTES: u64 = 16 << 20;

/// Read a catalog file's bytes, refusing one too large to be a catalog.
pub fn read_catalog(name: &str, r: &SharedReader) -> Result<Vec<u8>> {
    let size = r.size();
    if size > MAX_CATALOG_BYTES {
        return Err(Error::CatalogFile {
            name: name.into(),
            problems: vec![format!(
                "{size} bytes, more than a catalog's {MAX_CATALOG_BYTES}"
            )],
        });
    }
    let mut bytes = vec![0u8; size as usize];
    r.read_at(0, &mut bytes)?;
    Ok(bytes)
}

/// Parse catalog bytes as the CLI's `--catalog` does; errors name the file and every field at
/// fault.
pub fn parse_catalog(name: &str, bytes: &[u8]) -> Result<Catalog> {
    Catalog::load(bytes).map_err(|e| {
        // Every problem, each naming its JSON path: the user fixes the file in one go.
        Error::CatalogFile {
            name: name.into(),
            problems: e
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect(),
        }
    })
}

/// Load a catalog file the user chose ([`read_catalog`] then [`parse_catalog`]).
pub fn load_catalog(name: &str, r: &SharedReader) -> Result<Catalog> {
    parse_catalog(name, &read_catalog(name, r)?)
}

/// Which of the offered catalogs a job used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogUse {
    /// The newly chosen file.
    File,
    /// The last catalog that loaded (the chosen file did not, or none was chosen).
    Fallback,
    /// The catalog built into the app.
    BuiltIn,
}

/// The catalog a job rests on, and what became of a newly chosen file.
pub struct ChosenCatalog {
    /// The catalog.
    pub catalog: Catalog,
    /// Where it came from.
    pub source: CatalogSource,
    /// Which offer it was.
    pub used: CatalogUse,
    /// Why the newly chosen file is not used (every problem, each with its JSON path).
    pub problem: Option<String>,
    /// The new file's name and bytes when it loaded (the worker may keep them).
    pub fresh: Option<(String, Vec<u8>)>,
}

/// Take the newly chosen catalog file when it loads; else the last good one (`fallback`, which
/// loaded before); else the built-in catalog. A file that does not load never fails the job: the
/// job runs on the last good catalog and `problem` says why the file was not used.
pub fn choose_catalog(
    chosen: Option<(String, SharedReader)>,
    fallback: Option<(String, SharedReader)>,
) -> Result<ChosenCatalog> {
    let mut problems = Vec::new();
    if let Some((name, r)) = chosen {
        match read_catalog(&name, &r).and_then(|b| Ok((parse_catalog(&name, &b)?, b))) {
            Ok((catalog, bytes)) => {
                return Ok(ChosenCatalog {
                    catalog,
                    source: CatalogSource::File { name: name.clone() },
                    used: CatalogUse::File,
                    problem: None,
                    fresh: Some((name, bytes)),
                })
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let mut used = None;
    if let Some((name, r)) = fallback {
        match load_catalog(&name, &r) {
            Ok(c) => used = Some((c, CatalogSource::File { name }, CatalogUse::Fallback)),
            // It loaded once; say so if it no longer does (the file changed on disk).
            Err(e) => problems.push(e.to_string()),
        }
    }
    let (catalog, source, used) = match used {
        Some(u) => u,
        None => (
            Catalog::embedded()?,
            CatalogSource::built_in(),
            CatalogUse::BuiltIn,
        ),
    };
    Ok(ChosenCatalog {
        catalog,
        source,
        used,
        problem: (!problems.is_empty()).then(|| problems.join(" / ")),
        fresh: None,
    })
}

/// A request's newly chosen catalog file and its last good one, each when sent.
pub type CatalogFiles = (
    Option<(String, SharedReader)>,
    Option<(String, SharedReader)>,
);

/// Take the catalog files a request carries off the end of `files` (see [`Request::Inspect`]).
pub fn split_catalogs(
    files: &mut Vec<(String, SharedReader)>,
    chosen: bool,
    fallback: bool,
) -> Result<CatalogFiles> {
    let mut take = |wanted: bool| -> Result<Option<(String, SharedReader)>> {
        if !wanted {
            return Ok(None);
        }
        files.pop().map(Some).ok_or_else(|| {
            Error::invalid("page request", "a catalog file of the request is missing")
        })
    };
    let last_good = take(fallback)?;
    let new = take(chosen)?;
    Ok((new, last_good))
}

/// The catalog part of a job's result: its age, which offer was used, why a chosen file was
/// not, and what became of it (`kept`: the worker's words about keeping it between visits).
pub fn catalog_info(
    chosen: &ChosenCatalog,
    today: Date,
    kept: Option<String>,
) -> Result<CatalogInfo> {
    Ok(CatalogInfo {
        catalog: CatalogAge::new(&chosen.catalog, chosen.source.clone(), today)?,
        catalog_use: chosen.used,
        catalog_problem: chosen.problem.clone(),
        catalog_kept: kept,
        kept_at_start: false,
    })
}

/// Inspect media and evaluate it against `chosen`'s catalog.
pub fn inspect(
    files: Vec<(String, SharedReader)>,
    chosen: &ChosenCatalog,
    today: Date,
    kept: Option<String>,
    progress: &dyn Progress,
) -> Result<Inspected> {
    let rep = media::inspect(files, progress)?;
    let eval = catalog::evaluate(&chosen.catalog, &media::image_facts(&rep));
    Ok(Inspected {
        catalog: catalog_info(chosen, today, kept)?,
        inspection: Held::new(rep),
        evaluation: Held::new(eval),
    })
}

/// Run a media request over named readers; `today` is the date the catalog's age is measured
/// against when the request names none.
pub fn run_media(
    request: Request,
    files: Vec<(String, SharedReader)>,
    today: Date,
    progress: &dyn Progress,
) -> Result<JobResult> {
    match request {
        Request::Inspect {
            today: requested,
            catalog: with_catalog,
            fallback,
        } => {
            let today = requested_date(requested.as_deref(), today)?;
            let mut files = files;
            let (new, last_good) = split_catalogs(&mut files, with_catalog, fallback)?;
            let chosen = choose_catalog(new, last_good)?;
            Ok(JobResult::Inspected(Box::new(inspect(
                files, &chosen, today, None, progress,
            )?)))
        }
        Request::List { layers } => {
            let (_, node) = media::open_files(files)?;
            let entries = match media::descend(node, &layers)? {
                Target::Dir(e) => e,
                Target::Node(n) => media::list_node(&n)?,
                Target::File(r, _) => media::list_node(&media::open_node(r, "file")?)?,
            };
            Ok(JobResult::Listed { entries })
        }
        other => Err(Error::invalid(
            "page request",
            format!("{other:?} is not a media job"),
        )),
    }
}

/// Open an update package and verify every payload against its manifest.
pub fn package(name: &str, src: SharedReader, progress: &dyn Progress) -> Result<PackageResult> {
    let pkg = mediaprep_core::package::open_package(src, name)?;
    let ver = pkg.verify_with_progress(&Default::default(), progress)?;
    Ok(PackageResult {
        file: name.to_string(),
        package: Held::new(pkg),
        verification: Held::new(ver),
    })
}

/// The core's [`Report`] keeps the inspection and the package results as JSON (a report read
/// back may come from another version), so the typed results become JSON here, at its door.
fn report_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v)
        .map_err(|e| Error::invalid("page request", format!("the session's results: {e}")))
}

/// Build the report in `format`; returns its bytes.
pub fn report(format: ReportFormat, session: &Session) -> Result<Vec<u8>> {
    let mut rep = Report::new(session.generated.clone(), report_json(&session.inspection)?);
    rep.evaluation = session.evaluation.as_ref().map(|e| (**e).clone());
    rep.catalog = session.catalog.clone();
    if !session.packages.is_empty() {
        rep.package = Some(report_json(&session.packages)?);
    }
    Ok(match format {
        ReportFormat::Json => rep.to_json()?.into_bytes(),
        ReportFormat::Html => rep.to_html().into_bytes(),
        ReportFormat::Markdown => rep.to_markdown().into_bytes(),
        ReportFormat::Zip => rep.to_zip(&[])?,
        ReportFormat::Dism => {
            let ev = rep.evaluation.as_ref().ok_or_else(|| {
                Error::invalid(
                    "page request",
                    "open a media file first: the script follows its verdicts",
                )
            })?;
            dism_script(ev, &ScriptPaths::default()).into_bytes()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Session;

    #[test]
    fn requested_date_overrides_today_and_refuses_a_bad_one() {
        let today = Date::new(2026, 12, 3).unwrap();
        assert_eq!(requested_date(None, today).unwrap(), today);
        assert_eq!(
            requested_date(Some("2026-12-09"), today).unwrap(),
            Date::new(2026, 12, 9).unwrap()
        );
        let e = requested_date(Some("2026-13-01"), today).unwrap_err();
        assert!(e.to_string().contains("2026-13-01"), "{e}");
    }

    #[test]
    fn a_catalog_file_loads_or_names_the_field_at_fault() {
        let good = Catalog::embedded().unwrap().to_json().unwrap().into_bytes();
        let r: SharedReader = std::sync::Arc::new(mediaprep_core::io::SliceSource::new(good));
        let cat = load_catalog("c.json", &r).unwrap();
        assert_eq!(
            cat.updates.len(),
            Catalog::embedded().unwrap().updates.len()
        );
        let bad = br#"{"schema":1,"version":"2026.12.01","generated":"t","updates":[{"kb":"KB1234567","kind":"safeos-du","source":"x","revison":5}]}"#;
        let r: SharedReader =
            std::sync::Arc::new(mediaprep_core::io::SliceSource::new(bad.to_vec()));
        let e = load_catalog("bad.json", &r).unwrap_err();
        assert!(
            matches!(&e, Error::CatalogFile { name, problems }
                if name == "bad.json" && problems.iter().any(|p| p.starts_with("$.updates[0].revison"))),
            "{e}"
        );
        let e = e.to_string();
        assert!(
            e.contains("bad.json") && e.contains("$.updates[0].revison"),
            "{e}"
        );
    }

    #[test]
    fn a_chosen_catalog_that_does_not_load_falls_back_to_the_last_good_one() {
        let file = |b: &[u8]| -> SharedReader {
            std::sync::Arc::new(mediaprep_core::io::SliceSource::new(b.to_vec()))
        };
        let mut good = Catalog::embedded().unwrap();
        good.version = "2026.12.09".into();
        let good = good.to_json().unwrap().into_bytes();
        let bad = br#"{"schema":1,"version":"2026.12.10","generated":"t","updates":[{"kb":"KB1234567","kind":"safeos-du","source":"x","revison":5}]}"#;
        // The chosen file loads: it is used and its bytes handed on (to be kept).
        let c = choose_catalog(Some(("g.json".into(), file(&good))), None).unwrap();
        assert_eq!(
            (c.used, c.catalog.version.as_str()),
            (CatalogUse::File, "2026.12.09")
        );
        assert_eq!(c.fresh.as_ref().map(|f| f.1.len()), Some(good.len()));
        // It does not: the last good one is used, and the problem names the file and the field.
        let c = choose_catalog(
            Some(("bad.json".into(), file(bad))),
            Some(("g.json".into(), file(&good))),
        )
        .unwrap();
        assert_eq!(c.used, CatalogUse::Fallback);
        assert_eq!(
            c.source,
            CatalogSource::File {
                name: "g.json".into()
            }
        );
        let p = c.problem.unwrap();
        assert!(
            p.contains("bad.json") && p.contains("$.updates[0].revison"),
            "{p}"
        );
        assert!(c.fresh.is_none());
        // No last good one: the built-in catalog, the problem still said.
        let c = choose_catalog(Some(("bad.json".into(), file(bad))), None).unwrap();
        assert_eq!(c.used, CatalogUse::BuiltIn);
        assert!(c.problem.is_some());
        // The files are taken off the end: chosen, then last good.
        let mut files = vec![
            ("m.wim".to_string(), file(b"m")),
            ("new.json".to_string(), file(b"n")),
            ("old.json".to_string(), file(b"o")),
        ];
        let (new, last) = split_catalogs(&mut files, true, true).unwrap();
        assert_eq!(
            (new.unwrap().0, last.unwrap().0),
            ("new.json".into(), "old.json".into())
        );
        assert_eq!(files.len(), 1);
        assert!(split_catalogs(&mut Vec::new(), true, false).is_err());
    }

    #[test]
    fn the_report_carries_the_catalog_the_page_sent() {
        let cat = Catalog::embedded().unwrap();
        let age = CatalogAge::new(
            &cat,
            CatalogSource::built_in(),
            Date::new(2026, 12, 9).unwrap(),
        )
        .unwrap();
        let session = Session {
            catalog: Some(age.clone()),
            ..Default::default()
        };
        let json: serde_json::Value =
            serde_json::from_slice(&report(ReportFormat::Json, &session).unwrap()).unwrap();
        assert_eq!(json["catalog"]["date"], serde_json::json!(age.date));
        assert_eq!(json["catalog"]["stale"], true);
        let html = String::from_utf8(report(ReportFormat::Html, &session).unwrap()).unwrap();
        assert!(html.contains("catalog-age"), "{html}");
        // An old page that sends no catalog still gets a report.
        let plain: serde_json::Value =
            serde_json::from_slice(&report(ReportFormat::Json, &Session::default()).unwrap())
                .unwrap();
        assert!(plain.get("catalog").is_none_or(|c| c.is_null()));
    }
}
