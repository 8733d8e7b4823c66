//! The jobs the worker runs through the core (inspect, list, package, report). Plain Rust over
//! [`SharedReader`]s, so native tests drive them with fixture files and the worker with `File`s.

use crate::protocol::{ReportFormat, Request, Session};
use mediaprep_core::catalog::{self, Catalog, CatalogAge, CatalogSource, Date, Evaluation};
use mediaprep_core::io::{Progress, SharedReader};
use mediaprep_core::media::{self, Target};
use mediaprep_core::report::{dism_script, Report, ScriptPaths};
use mediaprep_core::{Error, Result};

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Io(format!("serializing the result: {e}")))
}

/// The date a request names (`YYYY-MM-DD`), or `today` when it names none.
pub fn requested_date(requested: Option<&str>, today: Date) -> Result<Date> {
    match requested {
        None => Ok(today),
        Some(s) => Date::parse(s)
            .ok_or_else(|| Error::Invalid(format!("today: {s:?} is not a YYYY-MM-DD date"))),
    }
}

/// A catalog file is data, not media: larger than this is not a catalog.
const MAX_CATALOG_BYTES: u64 = 16 << 20;

/// Load a catalog file the user chose, as the CLI's `--catalog` does; errors name the file and
/// every field at fault.
pub fn load_catalog(name: &str, r: &SharedReader) -> Result<Catalog> {
    let size = r.size();
    if size > MAX_CATALOG_BYTES {
        return Err(Error::Invalid(format!(
            "{CATALOG_ERROR}{name}: {size} bytes, more than a catalog's {MAX_CATALOG_BYTES}"
        )));
    }
    let mut bytes = vec![0u8; size as usize];
    r.read_at(0, &mut bytes)?;
    Catalog::load(&bytes).map_err(|e| {
        // Every problem, each naming its JSON path: the user fixes the file in one go.
        let all = e
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>()
            .join("; ");
        Error::Invalid(format!("{CATALOG_ERROR}{name}: {all}"))
    })
}

/// How a catalog file's load error starts, so the page can say so and stop sending the file.
const CATALOG_ERROR: &str = "catalog file ";

/// Is this worker error message a catalog file that did not load?
/// `message` may carry the error kind in front ("invalid: …"), once from `Error`'s display and
/// once more in the page's detail line.
pub fn is_catalog_error(message: &str) -> bool {
    let mut m = message;
    while let Some(rest) = m.strip_prefix("invalid: ") {
        m = rest;
    }
    m.starts_with(CATALOG_ERROR)
}

/// Run a media request over named readers; `today` is the date the catalog's age is measured
/// against when the request names none.
pub fn run_media(
    request: Request,
    files: Vec<(String, SharedReader)>,
    today: Date,
    progress: &dyn Progress,
) -> Result<serde_json::Value> {
    match request {
        Request::Inspect {
            today: requested,
            catalog: with_catalog,
        } => {
            let today = requested_date(requested.as_deref(), today)?;
            let mut files = files;
            let (cat, source) = if with_catalog {
                let (name, r) = files
                    .pop()
                    .ok_or_else(|| Error::Invalid("the catalog file is missing".into()))?;
                (load_catalog(&name, &r)?, CatalogSource::File { name })
            } else {
                (Catalog::embedded()?, CatalogSource::built_in())
            };
            let rep = media::inspect(files, progress)?;
            let age = CatalogAge::new(&cat, source, today)?;
            let eval = catalog::evaluate(&cat, &media::image_facts(&rep));
            Ok(serde_json::json!({
                "inspection": to_json(&rep)?,
                "evaluation": to_json(&eval)?,
                "catalog": to_json(&age)?,
            }))
        }
        Request::List { layers } => {
            let (_, node) = media::open_files(files)?;
            let entries = match media::descend(node, &layers)? {
                Target::Dir(e) => e,
                Target::Node(n) => media::list_node(&n)?,
                Target::File(r, _) => media::list_node(&media::open_node(r, "file")?)?,
            };
            to_json(&entries)
        }
        other => Err(Error::Invalid(format!("{other:?} is not a media job"))),
    }
}

/// Open an update package and verify every payload against its manifest:
/// `{file, package, verification}`.
pub fn package(
    name: &str,
    src: SharedReader,
    progress: &dyn Progress,
) -> Result<serde_json::Value> {
    let pkg = mediaprep_core::package::open_package(src, name)?;
    let ver = pkg.verify_with_progress(&Default::default(), progress)?;
    Ok(
        serde_json::json!({ "file": name, "package": to_json(&pkg)?, "verification": to_json(&ver)? }),
    )
}

/// The evaluation the page sent back, typed again.
fn evaluation(session: &Session) -> Result<Option<Evaluation>> {
    session
        .evaluation
        .clone()
        .filter(|v| !v.is_null())
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| Error::Invalid(format!("the evaluation sent for the report: {e}")))
        })
        .transpose()
}

/// Build the report in `format`; returns its bytes.
pub fn report(format: ReportFormat, session: &Session) -> Result<Vec<u8>> {
    let mut rep = Report::new(session.generated.clone(), session.inspection.clone());
    rep.evaluation = evaluation(session)?;
    rep.catalog = session
        .catalog
        .clone()
        .filter(|v| !v.is_null())
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| Error::Invalid(format!("the catalog sent for the report: {e}")))
        })
        .transpose()?;
    if !session.packages.is_empty() {
        rep.package = Some(serde_json::Value::Array(session.packages.clone()));
    }
    Ok(match format {
        ReportFormat::Json => rep.to_json()?.into_bytes(),
        ReportFormat::Html => rep.to_html().into_bytes(),
        ReportFormat::Markdown => rep.to_markdown().into_bytes(),
        ReportFormat::Zip => rep.to_zip(&[])?,
        ReportFormat::Dism => {
            let ev = rep.evaluation.as_ref().ok_or_else(|| {
                Error::Invalid("open a media file first: the script follows its verdicts".into())
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
        let e = load_catalog("bad.json", &r).unwrap_err().to_string();
        assert!(is_catalog_error(&e), "{e}");
        assert!(
            e.contains("bad.json") && e.contains("$.updates[0].revison"),
            "{e}"
        );
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
            catalog: Some(serde_json::to_value(&age).unwrap()),
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
