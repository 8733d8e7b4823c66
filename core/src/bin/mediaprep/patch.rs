//! `mediaprep patch`: service Safe OS DU / SSU packages into WinRE and write the new WinRE.wim
//! (`--target winre`), an install.wim whose selected editions carry it (`--target install`), or the
//! Setup DU expanded for `sources\` as a ZIP (`--target setup`). See docs/servicing.md.
//!
//! This file only parses the arguments and prints: the job is
//! [`mediaprep_core::service::run_patch`], the same code the browser worker runs, writing through an
//! [`FsStore`] (a temporary file next to `-o`, re-read and checked, then renamed; Ctrl-C or any
//! error removes it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mediaprep_core::hash::hex;
use mediaprep_core::io::{FileSource, FsFolder, FsStore, Progress, SharedReader};
use mediaprep_core::service::{self, PatchOptions, PatchReport, PatchRequest, PatchTarget};
use mediaprep_core::{Error, Result};

/// Arguments of `mediaprep patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    /// The media file: ISO, install.wim, or Winre.wim.
    pub file: PathBuf,
    /// Layers leading to the WIM to service (`/sources/install.wim 1:/Windows/System32/Recovery/Winre.wim`).
    pub layers: Vec<String>,
    /// Packages to service (repeatable): Safe OS DU .cab, or an LCU .msu for its servicing stack.
    #[arg(long = "package", required = true)]
    pub packages: Vec<PathBuf>,
    /// Output file.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = PatchTarget::Winre)]
    pub target: PatchTarget,
    /// Images (1-based, repeatable; default all): of the WinRE for `--target winre`, the editions
    /// whose WinRE is replaced for `--target install`.
    #[arg(long = "index")]
    pub index: Vec<u32>,
    /// Keep the input's compression instead of LZX.
    #[arg(long)]
    pub keep_compression: bool,
    /// Smallest output: compress new files with the near-optimal LZX parse (about 0.5–1 % smaller,
    /// several times slower). For recovery partitions with little room.
    #[arg(long, conflicts_with = "fast")]
    pub best: bool,
    /// The fast lazy LZX parse (the default; kept so scripts can say it).
    #[arg(long)]
    pub fast: bool,
    /// Append an integrity table (SHA-1 of every 10 MiB) to the new WinRE.wim, for
    /// `DISM /CheckIntegrity` and `wimlib-imagex verify`. An input that has one keeps one.
    #[arg(long)]
    pub integrity: bool,
    /// Time written into the image (Unix seconds, UTC); default: the package's own time.
    #[arg(long)]
    pub time: Option<u64>,
    /// Recovery partition size in bytes, for the fit check.
    #[arg(long)]
    pub recovery_partition: Option<u64>,
    /// Free bytes in the recovery partition, not counting the current Winre.wim.
    #[arg(long)]
    pub recovery_free: Option<u64>,
    /// `--target folder`: split install.wim into .swm parts of at most this many MiB when it is
    /// larger (FAT32 holds files below 4 GiB).
    #[arg(long, value_name = "MIB")]
    pub split_mib: Option<u64>,
    /// Plan only: show what would change, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// A progress bar on stderr that also carries Ctrl-C.
struct Bar {
    cancel: Arc<AtomicBool>,
    pb: ProgressBar,
    stage: Mutex<String>,
}

impl Progress for Bar {
    fn update(&self, stage: &str, done: u64, total: u64) {
        let mut cur = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        if *cur != stage {
            *cur = stage.to_string();
            self.pb.set_message(stage.to_string());
        }
        self.pb.set_length(total.max(1));
        self.pb.set_position(done.min(total));
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

fn json_out<T: serde::Serialize>(v: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| Error::io("writing JSON", e.into()))?
    );
    Ok(())
}

fn open_named(p: &PathBuf, short: bool) -> Result<(String, SharedReader)> {
    let src: SharedReader = Arc::new(FileSource::open(p)?);
    let name = match p.file_name() {
        Some(n) if short => n.to_string_lossy().into_owned(),
        _ => p.display().to_string(),
    };
    Ok((name, src))
}

/// Run `mediaprep patch`.
pub fn run(a: PatchArgs, cancel: &Arc<AtomicBool>) -> Result<()> {
    let output = match (&a.output, a.dry_run) {
        (_, true) => None,
        (Some(o), false) => Some(o.clone()),
        (None, false) => {
            return Err(Error::invalid(
                "command line",
                "-o OUTPUT is required (or --dry-run)",
            ))
        }
    };
    let request = PatchRequest {
        target: a.target,
        layers: a.layers.clone(),
        options: PatchOptions {
            indices: a.index.clone(),
            keep_compression: a.keep_compression,
            best: a.best,
            integrity: a.integrity,
            time: a
                .time
                .map(|t| 116_444_736_000_000_000u64.saturating_add(t.saturating_mul(10_000_000))),
        },
        dry_run: a.dry_run,
        backend: None,
    };
    let media = match a.target {
        PatchTarget::Setup => Vec::new(),
        _ => vec![open_named(&a.file, false)?],
    };
    let packages = a
        .packages
        .iter()
        .map(|p| open_named(p, true))
        .collect::<Result<Vec<_>>>()?;
    let pb = ProgressBar::new(1);
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {percent:>3}% {eta}")
            .map_err(|e| Error::invalid("command line", e))?
            .progress_chars("=> "),
    );
    let bar = Bar {
        cancel: cancel.clone(),
        pb,
        stage: Mutex::new(String::new()),
    };
    let mut store = FsStore::new(output.clone().unwrap_or_default());
    // MEDIAPREP_PHASES=1: where the time went, per stage, on stderr (scripts/bench-all).
    let timer = mediaprep_core::phases::PhaseTimer::new(&bar, mediaprep_core::phases::native_clock);
    let mut folder_summary = None;
    let res = if a.target == PatchTarget::Folder && a.dry_run {
        // The plan is the ISO target's; nothing is written either way.
        let plan_only = PatchRequest {
            target: PatchTarget::Iso,
            ..request.clone()
        };
        service::run_patch(&plan_only, media, packages, &mut store, &timer)
    } else if a.target == PatchTarget::Folder {
        // The folder is built next to DIR and renamed; the staged install.wim sits beside it.
        let dir = output.clone().unwrap_or_default();
        let mut stage = FsStore::new(dir.with_extension("install.wim"));
        let mut folder = FsFolder::new(&dir)?;
        service::run_patch_to_folder(
            &request,
            media,
            packages,
            &mut stage,
            &mut folder,
            a.split_mib,
            &timer,
        )
        .map(|(rep, sum)| {
            folder_summary = Some(sum);
            rep
        })
    } else {
        service::run_patch(&request, media, packages, &mut store, &timer)
    };
    if std::env::var_os("MEDIAPREP_PHASES").is_some() {
        eprint!("{}", timer.finish("finish").table());
    }
    bar.pb.finish_and_clear();
    let rep = match res {
        Ok(rep) => rep,
        Err(Error::Refused(r)) => {
            // The same reason and script the browser offers as a download.
            if a.json {
                json_out(&serde_json::json!({
                    "refused": r.packages,
                    "notes": r.notes,
                    "dism_script": r.script,
                }))?;
            } else {
                println!("{}", r.script);
            }
            return Err(Error::Refused(r));
        }
        Err(e) => return Err(e),
    };
    let out = output.as_ref().map(|o| o.display().to_string());
    match a.target {
        PatchTarget::Winre => print_winre(&a, &rep, out),
        PatchTarget::Install => print_install(&a, &rep, out),
        PatchTarget::Setup => print_setup(&a, &rep, out),
        PatchTarget::Iso | PatchTarget::Folder => print_media(&a, &rep, out, folder_summary),
    }
}

/// `--target iso|folder`: the rebuilt media.
fn print_media(
    a: &PatchArgs,
    rep: &PatchReport,
    out: Option<String>,
    folder: Option<service::FolderSummary>,
) -> Result<()> {
    if a.json {
        return json_out(&serde_json::json!({
            "input": rep.input,
            "output": out,
            "dry_run": a.dry_run,
            "winre": rep.winre,
            "winre_groups": rep.winre_groups,
            "editions": rep.editions,
            "setup": rep.setup,
            "size": rep.written.as_ref().map(|w| w.size),
            "sha256": rep.written.as_ref().map(|w| hex(&w.sha256)),
            "folder": folder,
        }));
    }
    println!("input: {}", rep.input);
    if let Some(o) = &rep.winre {
        print_groups(rep, o);
    }
    if let Some(s) = &rep.setup {
        println!("Setup DU: {} files into sources\\", s.files.len());
    }
    match (&rep.written, folder, out) {
        (Some(w), _, Some(o)) => {
            println!("wrote {o} ({} bytes, verified)", w.size);
            println!("sha256 {}", hex(&w.sha256));
        }
        (None, Some(f), Some(o)) if !a.dry_run => {
            for w in &f.split_warnings {
                eprintln!("mediaprep: warning: {w}");
            }
            println!(
                "wrote {o}/ ({} files, {} bytes{}, each re-read and verified)",
                f.files,
                f.bytes,
                if f.split_parts > 0 {
                    format!(", install.wim split into {} .swm parts", f.split_parts)
                } else {
                    String::new()
                }
            )
        }
        _ => println!("dry run: nothing written"),
    }
    Ok(())
}

fn print_winre(a: &PatchArgs, rep: &PatchReport, out: Option<String>) -> Result<()> {
    let outcome = rep
        .winre
        .as_ref()
        .ok_or_else(|| Error::invalid("command line", "no WinRE outcome"))?;
    let fit = match (a.recovery_partition, a.recovery_free) {
        (Some(p), Some(f)) if out.is_some() => {
            Some(mediaprep_core::catalog::partition_fit(outcome.size, p, f))
        }
        _ => None,
    };
    if a.json {
        return json_out(&serde_json::json!({
            "input": rep.input,
            "output": out,
            "dry_run": a.dry_run,
            "outcome": outcome,
            "sha256": rep.written.as_ref().map(|w| hex(&w.sha256)),
            "recovery_partition": fit,
        }));
    }
    println!("input: {}", rep.input);
    print_outcome(outcome);
    match (out, &rep.written) {
        (Some(o), Some(w)) => {
            println!(
                "wrote {o} ({} bytes, {}, {} blobs raw-copied, verified)",
                w.size, outcome.compression, w.raw_copied_blobs
            );
            println!("sha256 {}", hex(&w.sha256));
            match fit {
                Some(f) => {
                    println!("recovery partition: {}", f.explanation);
                    if f.fit == mediaprep_core::catalog::Fit::DoesNotFit && !a.best {
                        println!(
                            "hint: --best compresses new files harder (about 0.5-1 % smaller)"
                        );
                    }
                }
                None => println!(
                    "recovery partition: needs {} bytes for Winre.wim plus 250 MB free \
                     (give --recovery-partition and --recovery-free to check)",
                    outcome.size
                ),
            }
        }
        _ => println!("dry run: nothing written"),
    }
    Ok(())
}

fn print_outcome(outcome: &service::PatchOutcome) {
    for p in &outcome.packages {
        println!("serviced: {p}");
    }
    for n in &outcome.notes {
        println!("note: {n}");
    }
    for i in &outcome.images {
        println!(
            "image {}: version {} -> {}",
            i.index,
            i.version_before.as_deref().unwrap_or("?"),
            i.version_after.as_deref().unwrap_or("?")
        );
        for c in &i.changes.components {
            println!("  {c}");
        }
        for (what, list) in [
            ("added", &i.changes.added),
            ("replaced", &i.changes.replaced),
            ("removed", &i.changes.removed),
        ] {
            for p in list.iter() {
                println!("  {what:<8} {p}");
            }
        }
    }
}

/// The install target's WinREs: one outcome when the selected editions share one WinRE, else
/// each group (its editions, then its outcome); each serviced WinRE's SHA-256 when written.
fn print_groups(rep: &PatchReport, first: &service::PatchOutcome) {
    if rep.winre_groups.len() <= 1 {
        print_outcome(first);
    }
    for g in &rep.winre_groups {
        if rep.winre_groups.len() > 1 {
            println!(
                "WinRE of editions {:?} (SHA-1 {}):",
                g.editions, g.winre_sha1
            );
            print_outcome(&g.winre);
        }
        if let Some(s) = &g.serviced {
            println!(
                "serviced WinRE for editions {:?}: {} bytes, sha256 {}",
                g.editions,
                s.size,
                hex(&s.sha256)
            );
        }
    }
}

/// `--target install`: each distinct WinRE of the selected editions, serviced once, in its
/// editions.
fn print_install(a: &PatchArgs, rep: &PatchReport, out: Option<String>) -> Result<()> {
    let outcome = rep
        .winre
        .as_ref()
        .ok_or_else(|| Error::invalid("command line", "no WinRE outcome"))?;
    let (Some(o), Some(w)) = (out, &rep.written) else {
        if a.json {
            return json_out(&serde_json::json!({
                "input": rep.input, "dry_run": true, "editions": rep.selected, "winre": outcome,
                "winre_groups": rep.winre_groups,
            }));
        }
        println!("input: {} (editions {:?})", rep.input, rep.selected);
        print_groups(rep, outcome);
        println!("dry run: nothing written");
        return Ok(());
    };
    if a.json {
        return json_out(&serde_json::json!({
            "input": rep.input,
            "output": o,
            "winre": outcome,
            "winre_groups": rep.winre_groups,
            "editions": rep.editions,
            "size": w.size,
            "sha256": hex(&w.sha256),
            "raw_copied_blobs": w.raw_copied_blobs,
        }));
    }
    println!("input: {}", rep.input);
    print_groups(rep, outcome);
    println!(
        "wrote {o} ({} bytes; WinRE {} bytes replaced in images {:?}; {} blobs raw-copied; verified)",
        w.size,
        rep.winre_groups
            .iter()
            .map(|g| g.winre.size.to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        rep.editions
            .iter()
            .filter(|i| i.updated)
            .map(|i| i.index)
            .collect::<Vec<_>>(),
        w.raw_copied_blobs
    );
    println!("sha256 {}", hex(&w.sha256));
    Ok(())
}

/// `--target setup`: the Setup DU expanded into a ZIP of the files for the media's `sources\`.
fn print_setup(a: &PatchArgs, rep: &PatchReport, out: Option<String>) -> Result<()> {
    let exp = rep
        .setup
        .as_ref()
        .ok_or_else(|| Error::invalid("command line", "no Setup DU outcome"))?;
    if a.json {
        return json_out(&serde_json::json!({ "output": out, "setup": exp }));
    }
    println!(
        "wrote {} ({} files for sources\\, verified)",
        out.unwrap_or_default(),
        exp.files.len()
    );
    if let Some(w) = &rep.written {
        println!("sha256 {}", hex(&w.sha256));
    }
    Ok(())
}
