//! The catalog as the CLI uses it: loading `--catalog` files, "today" from the system clock (or
//! `--today` for tests and reproducible runs), and `mediaprep catalog` (list, `--json` export,
//! `--check` maintenance checks).

use mediaprep_core::catalog::{check_catalog, Catalog, CatalogAge, CatalogSource, Date};
use mediaprep_core::{Error, Result};
use std::path::{Path, PathBuf};

/// The catalog to use: the file given with `--catalog`, else the built-in one, with its source.
pub fn load(path: Option<&Path>) -> Result<(Catalog, CatalogSource)> {
    match path {
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| Error::io(format!("reading catalog {}", p.display()), e))?;
            let cat = Catalog::load(&bytes)
                .map_err(|e| Error::invalid("command line", format!("{}: {e}", p.display())))?;
            Ok((
                cat,
                CatalogSource::File {
                    name: p.display().to_string(),
                },
            ))
        }
        None => Ok((Catalog::embedded()?, CatalogSource::built_in())),
    }
}

/// `--today` if given (`YYYY-MM-DD`), else the system clock's date in UTC. The core never reads a
/// clock; this is the one place the CLI does.
pub fn today(given: Option<&str>) -> Result<Date> {
    if let Some(s) = given {
        return Date::parse(s).ok_or_else(|| {
            Error::invalid(
                "command line",
                format!("--today {s:?} is not a date YYYY-MM-DD"),
            )
        });
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| {
            Error::invalid(
                "command line",
                format!("the system clock is before 1970: {e}"),
            )
        })?
        .as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(Date::from_unix_seconds)
        .ok_or_else(|| Error::invalid("command line", "the system clock is out of range"))
}

/// `mediaprep catalog`: list, export (`--json`) or check (`--check FILE`).
pub fn run(
    json: bool,
    check: Option<PathBuf>,
    catalog: Option<PathBuf>,
    today_arg: Option<String>,
) -> Result<()> {
    if let Some(file) = check {
        let bytes = std::fs::read(&file)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        let problems = check_catalog(&bytes);
        if problems.is_empty() {
            let cat = Catalog::load(&bytes)?;
            println!(
                "{}: catalog {} with {} updates passes every check (schema, formats, supersedence \
                 links and cycles, release dates, revisions, KB consistency)",
                file.display(),
                cat.version,
                cat.updates.len()
            );
            return Ok(());
        }
        for p in &problems {
            eprintln!("{}: {p}", file.display());
        }
        return Err(Error::invalid(
            "command line",
            format!(
                "{}: {} problem{} (listed above)",
                file.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    let (cat, source) = load(catalog.as_deref())?;
    if json {
        println!("{}", cat.to_json()?);
        return Ok(());
    }
    let age = CatalogAge::new(&cat, source.clone(), today(today_arg.as_deref())?)?;
    println!(
        "catalog {} ({}, {} updates)",
        cat.version,
        source.describe(),
        cat.updates.len()
    );
    println!("{}", age.notice);
    for u in &cat.updates {
        println!(
            "  {:<10} {:<14} {:<10} {}",
            u.kb,
            u.kind.as_str(),
            u.release_date.as_deref().unwrap_or("date?"),
            u.title.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
