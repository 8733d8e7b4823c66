//! The `mediaprep` command-line tool: the same core as the browser app, for automation and tests.
//! Exit code 0 on success, 1 on a reported error (never a panic).

use clap::{Parser, Subcommand};
use mediaprep_core::io::{FileSource, FsStore, OutputStore, Part, Progress, SharedReader};
use mediaprep_core::media::{self, Node, Target};
use mediaprep_core::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod base;
mod catalog;
mod delta;
mod iso;
mod manifest;
mod patch;
mod report;
mod split;

#[derive(Parser)]
#[command(
    name = "mediaprep",
    version,
    about = "Windows media: inspect, check Dynamic Updates, verify packages"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// What is inside an ISO / WIM / ESD / .swm set (give every part of a split set).
    Inspect {
        /// The file(s).
        files: Vec<PathBuf>,
        /// JSON instead of a tree.
        #[arg(long)]
        json: bool,
    },
    /// List a directory: LAYERs descend containers (`/sources/install.wim`, then `1:/Windows`).
    Ls {
        /// The media file.
        file: PathBuf,
        /// Layers.
        layers: Vec<String>,
    },
    /// Write one file out of the media.
    Extract {
        /// The media file.
        file: PathBuf,
        /// Layers; the last one names the file.
        #[arg(required = true)]
        layers: Vec<String>,
        /// Output path.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// SHA-256 and SHA-1 of a file.
    Hash {
        /// The file.
        file: PathBuf,
    },
    /// Which Dynamic Updates apply to every image of the media (nested WinRE and boot.wim included).
    Check {
        /// The media file(s).
        files: Vec<PathBuf>,
        /// A catalog JSON to use instead of the embedded one.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// The date the catalog's age is measured against, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        today: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Identity, components and verification of an update package (.cab / .msu).
    Package {
        /// The package.
        file: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Write a report: inspection, verdicts and package verifications. The form follows the
    /// output's extension: .json, .html, .md, or .zip (all three + DISM hand-off script + SHA256SUMS).
    Report {
        /// The media file(s).
        files: Vec<PathBuf>,
        /// Update packages to verify and include (repeatable).
        #[arg(long = "package")]
        packages: Vec<PathBuf>,
        /// A catalog JSON to use instead of the embedded one.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// When the report was generated, as written into it (default: now, UTC).
        #[arg(long)]
        generated: Option<String>,
        /// The date the catalog's age is measured against, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        today: Option<String>,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Rebuild an ISO with files replaced or added: ISO 9660 + Joliet + UDF, the source's label
    /// and El Torito boot entries; re-read and verified before it is renamed into place.
    RebuildIso(iso::RebuildArgs),
    /// Split a WIM into parts under a size limit (`install.swm`, `install2.swm`, …) for FAT32.
    Split(split::SplitArgs),
    /// Service Safe OS DU / SSU packages into WinRE and write the patched WinRE.wim.
    Patch(patch::PatchArgs),
    /// The base manifest DCM-compressed manifests are deltas against: from an image's servicing
    /// stack (wcp.dll resource 614/1), a wcp.dll, or a raw base file; where it came from, and -o
    /// writes it.
    BaseManifest(base::BaseArgs),
    /// Microsoft PA30/PA31 deltas (RAW and PE-typed I386/AMD64): header fields and transforms, apply, create.
    Delta(delta::DeltaArgs),
    /// A component manifest as XML: a file (DCM decoded with --base, a raw base or a wcp.dll), or
    /// MEDIA LAYER… PATH for one inside an image, decoded with that image's own base.
    Manifest(manifest::ManifestArgs),
    /// The Dynamic Update catalog: list it with its age, export it (`--json`, the format
    /// `--catalog` accepts), or run the maintenance checks on a catalog file (`--check FILE`).
    Catalog {
        /// Export as JSON (loadable with `--catalog`).
        #[arg(long)]
        json: bool,
        /// Check FILE (schema, supersedence cycles, dates, KB/revision consistency); exit 1 with
        /// one line per problem.
        #[arg(long, value_name = "FILE", conflicts_with = "json")]
        check: Option<PathBuf>,
        /// A catalog JSON to list or export instead of the embedded one.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// The date the catalog's age is measured against, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        today: Option<String>,
    },
}

struct Cancel(Arc<AtomicBool>);
impl Progress for Cancel {
    fn update(&self, _stage: &str, _done: u64, _total: u64) {}
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

fn open(path: &Path) -> Result<(String, SharedReader)> {
    let src: SharedReader = Arc::new(FileSource::open(path)?);
    Ok((path.display().to_string(), src))
}

fn open_all(files: &[PathBuf]) -> Result<Vec<(String, SharedReader)>> {
    files.iter().map(|p| open(p)).collect()
}

/// Write `path` through the core's output protocol ([`FsStore`]): a sibling temporary file,
/// synced and re-read (it must hold the `n` bytes `write` reports), then renamed into place. On
/// any error the store removes the temporary file, so a failure or Ctrl-C never leaves a partial
/// output under the requested name.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<u64>,
) -> Result<u64> {
    let mut store = FsStore::new(path);
    let mut f = store.create(Part::Output)?;
    let n = write(&mut f)?;
    let landed = store.reopen(Part::Output, f)?.size();
    if landed != n {
        return Err(Error::invalid(
            "command line",
            format!("{}: wrote {n} bytes but {landed} landed", path.display()),
        ));
    }
    store.commit(Part::Output)?;
    Ok(n)
}

fn print_wim(w: &media::WimReport, indent: &str) {
    println!(
        "{indent}{} [{} {}, chunk {}{}{}, boot index {}]",
        w.path,
        w.kind,
        w.compression,
        w.chunk_size,
        if w.part_count > 1 {
            format!(", {} parts", w.part_count)
        } else {
            String::new()
        },
        if w.integrity_present {
            ", integrity table"
        } else {
            ""
        },
        w.boot_index
    );
    for i in &w.images {
        println!(
            "{indent}  #{} {} — {} {} {} [{}] {} files",
            i.index,
            i.name.as_deref().unwrap_or("?"),
            i.edition.as_deref().unwrap_or("?"),
            i.arch.as_deref().unwrap_or("?"),
            i.version.as_deref().unwrap_or("version unknown"),
            i.languages.join(","),
            i.file_count.unwrap_or(0)
        );
        if let Some(v) = &i.version_signals {
            println!(
                "{indent}     effective version {} ({} confidence, from {}): {}",
                v.effective.as_deref().unwrap_or("unknown"),
                v.confidence.as_deref().unwrap_or("?"),
                v.source.as_deref().unwrap_or("-"),
                v.rule
            );
            for d in &v.disagreements {
                println!("{indent}     disagrees: {d}");
            }
        }
    }
    for r in &w.winre {
        println!(
            "{indent}  WinRE {} ({} bytes, sha1 {}) in images {:?}",
            r.path, r.size, r.sha1, r.shared_by
        );
        print_wim(&r.wim, &format!("{indent}    "));
    }
}

fn run(cli: Cli, cancel: Arc<AtomicBool>) -> Result<()> {
    let progress = Cancel(cancel);
    match cli.cmd {
        Cmd::Inspect { files, json } => {
            let rep = media::inspect(open_all(&files)?, &progress)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rep)
                        .map_err(|e| Error::io("writing JSON", e.into()))?
                );
            } else {
                println!("{} ({} bytes, {})", rep.file, rep.size, rep.container);
                if let Some(iso) = &rep.iso {
                    println!(
                        "  volume {:?}, file systems: {}",
                        iso.volume_label.as_deref().unwrap_or(""),
                        iso.filesystems.join(", ")
                    );
                }
                for w in &rep.wims {
                    print_wim(w, "  ");
                }
            }
        }
        Cmd::Ls { file, layers } => {
            let (name, src) = open(&file)?;
            let node = media::open_node(src, &name)?;
            let entries = match media::descend(node, &layers)? {
                Target::Dir(e) => e,
                Target::Node(n) => media::list_node(&n)?,
                Target::File(r, _) => match media::open_node(r.clone(), "file") {
                    Ok(n) => media::list_node(&n)?,
                    Err(_) => media::list_node(&Node::File(r))?,
                },
            };
            for e in entries {
                println!(
                    "{}{:>14}  {}",
                    if e.is_dir { "d" } else { "-" },
                    e.size,
                    e.name
                );
            }
        }
        Cmd::Extract {
            file,
            layers,
            output,
        } => {
            let (name, src) = open(&file)?;
            let node = media::open_node(src, &name)?;
            let Target::File(reader, sha1) = media::descend(node, &layers)? else {
                return Err(Error::invalid(
                    "command line",
                    "the last layer is a directory, not a file",
                ));
            };
            let n = write_atomically(&output, |f| {
                let mut w = mediaprep_core::io::EarlyFlush::new(f);
                let n = media::copy_target(&reader, sha1, &mut w, &progress)?;
                w.finish()?;
                Ok(n)
            })?;
            eprintln!("wrote {} ({n} bytes)", output.display());
        }
        Cmd::Hash { file } => {
            let (_, src) = open(&file)?;
            let d = mediaprep_core::hash::hash_reader(&*src, 8 << 20, &progress)?;
            println!(
                "sha256 {}\nsha1   {}\nsize   {}",
                mediaprep_core::hash::hex(&d.sha256),
                mediaprep_core::hash::hex(&d.sha1),
                d.size
            );
        }
        Cmd::Check {
            files,
            catalog,
            today,
            json,
        } => {
            let (cat, source) = catalog::load(catalog.as_deref())?;
            let age = mediaprep_core::catalog::CatalogAge::new(
                &cat,
                source,
                catalog::today(today.as_deref())?,
            )?;
            let rep = media::inspect(open_all(&files)?, &progress)?;
            let facts = media::image_facts(&rep);
            let eval = mediaprep_core::catalog::evaluate(&cat, &facts);
            if json {
                let v =
                    serde_json::json!({ "catalog": age, "inspection": rep, "evaluation": eval });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v)
                        .map_err(|e| Error::io("writing JSON", e.into()))?
                );
            } else {
                println!("{}", age.notice);
                // Wide enough for "up to date as of YYYY-MM-DD" when the catalog is stale.
                let width = if age.stale { 27 } else { 16 };
                for (i, f) in facts.iter().enumerate() {
                    println!("{}", f.label);
                    for x in eval.findings_for(i) {
                        println!(
                            "  {:<width$} {}  {}",
                            x.verdict.words(Some(&age)),
                            x.kb,
                            x.reasons.join("; ")
                        );
                    }
                }
                for n in &eval.notes {
                    println!("note: {n}");
                }
            }
        }
        Cmd::Package { file, json } => {
            let (name, src) = open(&file)?;
            let short = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(name);
            let pkg = mediaprep_core::package::open_package(src, &short)?;
            let ver = pkg.verify(&Default::default())?;
            let v = serde_json::json!({ "package": pkg, "verification": ver });
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v)
                        .map_err(|e| Error::io("writing JSON", e.into()))?
                );
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v)
                        .map_err(|e| Error::io("writing JSON", e.into()))?
                );
            }
            if !ver.ok {
                return Err(Error::DigestMismatch {
                    what: format!("{short}: package verification"),
                    expected: "every payload matches its manifest".into(),
                    actual: ver.problems.join("; "),
                });
            }
        }
        Cmd::Report {
            files,
            packages,
            catalog,
            generated,
            today,
            output,
        } => {
            let n = report::run(
                report::ReportArgs {
                    files,
                    packages,
                    catalog,
                    output: output.clone(),
                    generated,
                    today,
                },
                &progress,
            )?;
            eprintln!("wrote {} ({n} bytes)", output.display());
        }
        Cmd::Patch(a) => patch::run(a, &progress.0)?,
        Cmd::Split(a) => split::run(a, &progress)?,
        Cmd::RebuildIso(a) => iso::run(a, &progress)?,
        Cmd::BaseManifest(a) => base::run(a)?,
        Cmd::Delta(a) => delta::run(a)?,
        Cmd::Manifest(a) => manifest::run(a)?,
        Cmd::Catalog {
            json,
            check,
            catalog,
            today,
        } => catalog::run(json, check, catalog, today)?,
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let cancel = Arc::new(AtomicBool::new(false));
    let c = cancel.clone();
    let _ = ctrlc::set_handler(move || c.store(true, Ordering::Relaxed));
    if let Err(e) = run(cli, cancel) {
        eprintln!("mediaprep: error: {e}");
        std::process::exit(1);
    }
}
