//! `mediaprep report`: inspection + verdicts (+ package verifications) written as JSON, HTML,
//! Markdown, or the ZIP bundle with the DISM hand-off script and `SHA256SUMS`.

use super::{open, open_all, write_atomically};
use mediaprep_core::catalog::{evaluate, CatalogAge};
use mediaprep_core::io::Progress;
use mediaprep_core::media;
use mediaprep_core::package::open_package;
use mediaprep_core::report::Report;
use mediaprep_core::{Error, Result};
use std::path::{Path, PathBuf};

/// What to put in the report and where.
pub struct ReportArgs {
    pub files: Vec<PathBuf>,
    pub packages: Vec<PathBuf>,
    pub catalog: Option<PathBuf>,
    pub output: PathBuf,
    pub generated: Option<String>,
    /// The date the catalog's age is measured against (`YYYY-MM-DD`; default: the system date).
    pub today: Option<String>,
}

/// The output form, from the output file's extension.
enum Form {
    Json,
    Html,
    Markdown,
    Zip,
}

fn form_of(p: &Path) -> Result<Form> {
    let ext = p
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "json" => Form::Json,
        "html" | "htm" => Form::Html,
        "md" => Form::Markdown,
        "zip" => Form::Zip,
        _ => {
            return Err(Error::invalid(
                "command line",
                format!(
                    "{}: the report form comes from the extension: .json, .html, .md or .zip",
                    p.display()
                ),
            ))
        }
    })
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (the core has no clock: the caller words the time).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = mediaprep_core::civil::civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Build the report and write it; returns the number of bytes written.
pub fn run(args: ReportArgs, progress: &dyn Progress) -> Result<u64> {
    let form = form_of(&args.output)?;
    let (cat, source) = super::catalog::load(args.catalog.as_deref())?;
    let age = CatalogAge::new(&cat, source, super::catalog::today(args.today.as_deref())?)?;
    // The age line goes with the verdicts on the terminal too, not only into the file.
    eprintln!("{}", age.notice);
    let inspection = media::inspect(open_all(&args.files)?, progress)?;
    let facts = media::image_facts(&inspection);
    let evaluation = evaluate(&cat, &facts);
    let inputs = serde_json::to_value(&inspection)
        .map_err(|e| Error::invalid("command line", format!("inspection JSON: {e}")))?;
    let mut report = Report::new(args.generated.unwrap_or_else(utc_now), inputs);
    report.catalog = Some(age);
    report.evaluation = Some(evaluation);

    let mut verifications = Vec::new();
    for p in &args.packages {
        let (name, src) = open(p)?;
        let short = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(name);
        let pkg = open_package(src, &short)?;
        let ver = pkg.verify(&Default::default())?;
        if !ver.ok {
            report.notes.push(format!(
                "{short}: verification FAILED: {}",
                ver.problems.join("; ")
            ));
        }
        verifications
            .push(serde_json::json!({ "file": short, "package": pkg, "verification": ver }));
    }
    if !verifications.is_empty() {
        report.package = Some(serde_json::Value::Array(verifications));
    }

    let bytes = match form {
        Form::Json => report.to_json()?.into_bytes(),
        Form::Html => report.to_html().into_bytes(),
        Form::Markdown => report.to_markdown().into_bytes(),
        Form::Zip => report.to_zip(&[])?,
    };
    write_atomically(&args.output, |f| {
        use std::io::Write;
        f.write_all(&bytes)?;
        Ok(bytes.len() as u64)
    })
}
