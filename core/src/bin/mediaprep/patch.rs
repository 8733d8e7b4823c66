//! `mediaprep patch`: service Safe OS DU / SSU packages into WinRE and write the new WinRE.wim.
//!
//! The input is whatever the user has: an ISO, an install.wim, or a bare Winre.wim, with optional
//! layers as in `mediaprep ls`. Without layers, an ISO leads to `/sources/install.wim`, and a WIM
//! whose image holds `Windows/System32/Recovery/Winre.wim` leads to that WinRE; any other WIM is
//! serviced itself. The output is written to a temporary file next to `-o`, re-read with every
//! blob's SHA-1 checked, and only then renamed into place (Ctrl-C or any error removes it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mediaprep_core::io::{FileSource, Progress, SharedReader};
use mediaprep_core::media::{self, Node, Target};
use mediaprep_core::package::{open_package, Package};
use mediaprep_core::service::{self, handoff, PatchOptions};
use mediaprep_core::wim::Wim;
use mediaprep_core::{Error, Result};

/// What to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatchTarget {
    /// A standalone patched WinRE.wim (for the recovery partition).
    Winre,
    /// install.wim with the patched WinRE in every selected edition.
    Install,
    /// The Setup DU expanded for the media's sources\ folder.
    Setup,
}

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
    /// Images to service (1-based, repeatable; default all).
    #[arg(long = "index")]
    pub index: Vec<u32>,
    /// Keep the input's compression instead of LZX.
    #[arg(long)]
    pub keep_compression: bool,
    /// Time written into the image (Unix seconds, UTC); default: the package's own time.
    #[arg(long)]
    pub time: Option<u64>,
    /// Recovery partition size in bytes, for the fit check.
    #[arg(long)]
    pub recovery_partition: Option<u64>,
    /// Free bytes in the recovery partition, not counting the current Winre.wim.
    #[arg(long)]
    pub recovery_free: Option<u64>,
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
        serde_json::to_string_pretty(v).map_err(|e| Error::Io(e.to_string()))?
    );
    Ok(())
}

/// Follow FILE and LAYERs to the WIM that is serviced.
fn locate(file: &PathBuf, layers: &[String]) -> Result<(String, SharedReader)> {
    let name = file.display().to_string();
    let src: SharedReader = Arc::new(FileSource::open(file)?);
    let node = media::open_node(src.clone(), &name)?;
    let mut path = vec![name.clone()];
    let (node, reader) = if layers.is_empty() {
        (node, src)
    } else {
        path.extend(layers.iter().cloned());
        match media::descend(node, layers)? {
            Target::File(r, _) => (media::open_node(r.clone(), &path.join(" "))?, r),
            Target::Node(_) | Target::Dir(_) => return Err(Error::Invalid(
                "the layers must end on a WIM file (e.g. 1:/Windows/System32/Recovery/Winre.wim)"
                    .into(),
            )),
        }
    };
    match node {
        Node::Iso(_) => {
            let mut l = layers.to_vec();
            l.push("/sources/install.wim".into());
            locate(file, &l)
        }
        Node::Wim(wim) => {
            let winre = "Windows/System32/Recovery/Winre.wim";
            if wim.image_tree(1)?.lookup(winre).is_ok() {
                let mut l = layers.to_vec();
                l.push(format!("1:/{winre}"));
                return locate(file, &l);
            }
            Ok((path.join(" "), reader))
        }
        Node::File(_) => Err(Error::Invalid(format!("{}: not a WIM", path.join(" ")))),
    }
}

fn open_packages(paths: &[PathBuf]) -> Result<Vec<Package>> {
    paths
        .iter()
        .map(|p| {
            let src: SharedReader = Arc::new(FileSource::open(p)?);
            let short = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            open_package(src, &short).map_err(|e| match e {
                Error::Invalid(m) => Error::Invalid(format!("{short} is refused: {m}")),
                other => other,
            })
        })
        .collect()
}

/// Run `mediaprep patch`.
pub fn run(a: PatchArgs, cancel: &Arc<AtomicBool>) -> Result<()> {
    match a.target {
        PatchTarget::Winre => {}
        PatchTarget::Install | PatchTarget::Setup => {
            return Err(Error::Unsupported(format!(
                "--target {}: not available yet in `mediaprep patch` (only --target winre)",
                if a.target == PatchTarget::Install {
                    "install"
                } else {
                    "setup"
                }
            )))
        }
    }
    let output = match (&a.output, a.dry_run) {
        (_, true) => None,
        (Some(o), false) => Some(o.clone()),
        (None, false) => {
            return Err(Error::Invalid(
                "-o OUTPUT is required (or --dry-run)".into(),
            ))
        }
    };
    let pb = ProgressBar::new(1);
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {percent:>3}% {eta}")
            .map_err(|e| Error::Invalid(e.to_string()))?
            .progress_chars("=> "),
    );
    let bar = Bar {
        cancel: cancel.clone(),
        pb,
        stage: Mutex::new(String::new()),
    };

    let (label, reader) = locate(&a.file, &a.layers)?;
    let wim = Wim::open(reader.clone())?;
    let packages = open_packages(&a.packages)?;
    let sel = service::select_packages(&packages);
    if !sel.refused.is_empty() {
        let script = handoff::handoff_script(&sel.refused, &Default::default());
        if a.json {
            json_out(&serde_json::json!({
                "refused": sel.refused,
                "notes": sel.notes,
                "dism_script": script,
            }))?;
        } else {
            println!("{script}");
        }
        bar.pb.finish_and_clear();
        return Err(Error::Unsupported(
            sel.refused
                .iter()
                .map(|r| format!("{} is refused: {}", r.name, r.reason))
                .collect::<Vec<_>>()
                .join("; ")
                + " (nothing was written; the DISM hand-off script is on stdout)",
        ));
    }
    let prepared = service::prepare(&sel, &bar)?;
    let opts = PatchOptions {
        keep_compression: a.keep_compression,
        indices: a.index.clone(),
        time: a
            .time
            .map(|t| 116_444_736_000_000_000u64.saturating_add(t.saturating_mul(10_000_000))),
        integrity: false,
    };
    let plan = service::plan_patch(&wim, &prepared, &opts)?;

    let outcome = match &output {
        None => service::outcome(&prepared, &plan, None),
        Some(out) => {
            let summary = mediaprep_core::wim::write::write_wim_file_checked(
                out,
                plan.write_options.clone(),
                |w| service::write_patch(&wim, &prepared, &plan, w, &bar),
                |tmp, _| {
                    let r: SharedReader = Arc::new(FileSource::open(tmp)?);
                    service::verify_output(r, &bar).map(|_| ())
                },
            )?;
            service::outcome(&prepared, &plan, Some(&summary))
        }
    };
    bar.pb.finish_and_clear();
    let fit = match (a.recovery_partition, a.recovery_free) {
        (Some(p), Some(f)) if output.is_some() => {
            Some(mediaprep_core::catalog::partition_fit(outcome.size, p, f))
        }
        _ => None,
    };
    if a.json {
        return json_out(&serde_json::json!({
            "input": label,
            "output": output.as_ref().map(|o| o.display().to_string()),
            "dry_run": a.dry_run,
            "outcome": outcome,
            "recovery_partition": fit,
        }));
    }
    println!("input: {label}");
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
    match &output {
        Some(o) => {
            println!(
                "wrote {} ({} bytes, {}, {} blobs raw-copied, verified)",
                o.display(),
                outcome.size,
                outcome.compression,
                outcome.raw_copied_blobs
            );
            match fit {
                Some(f) => println!("recovery partition: {}", f.explanation),
                None => println!(
                    "recovery partition: needs {} bytes for Winre.wim plus 250 MB free \
                     (give --recovery-partition and --recovery-free to check)",
                    outcome.size
                ),
            }
        }
        None => println!("dry run: nothing written"),
    }
    Ok(())
}
