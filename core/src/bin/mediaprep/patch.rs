//! `mediaprep patch`: service Safe OS DU / SSU packages into WinRE and write the new WinRE.wim
//! (`--target winre`), an install.wim whose selected editions carry it (`--target install`), or the
//! Setup DU expanded for `sources\` as a ZIP (`--target setup`). See docs/servicing.md.
//!
//! The input is whatever the user has: an ISO, an install.wim, or a bare Winre.wim, with optional
//! layers as in `mediaprep ls`. Without layers, an ISO leads to `/sources/install.wim`, and a WIM
//! whose image holds `Windows/System32/Recovery/Winre.wim` leads to that WinRE; any other WIM is
//! serviced itself. Every output is written to a temporary file next to `-o`, re-read and checked
//! (every blob's SHA-1), and only then renamed into place (Ctrl-C or any error removes it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mediaprep_core::io::{FileSource, Progress, SharedReader};
use mediaprep_core::media::{self, Node, Target};
use mediaprep_core::package::{open_package, Package};
use mediaprep_core::service::{self, handoff, PatchOptions};
use mediaprep_core::wim::write::write_wim_file_checked;
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
    let res = match a.target {
        PatchTarget::Winre => run_winre(&a, output.as_deref(), &bar),
        PatchTarget::Install => run_install(&a, output.as_deref(), &bar),
        PatchTarget::Setup => run_setup(&a, output.as_deref(), &bar),
    };
    bar.pb.finish_and_clear();
    res
}

fn time_option(a: &PatchArgs) -> Option<u64> {
    a.time
        .map(|t| 116_444_736_000_000_000u64.saturating_add(t.saturating_mul(10_000_000)))
}

/// Open, select and check the packages (pass 1); a refusal prints the DISM hand-off script.
fn prepared_packages<'p>(
    a: &PatchArgs,
    packages: &'p [Package],
    bar: &Bar,
) -> Result<service::Prepared<'p>> {
    let sel = service::select_packages(packages);
    if !sel.refused.is_empty() {
        let script = handoff::handoff_script(&sel.handoff_list(), &Default::default());
        if a.json {
            json_out(&serde_json::json!({
                "refused": sel.refused,
                "notes": sel.notes,
                "dism_script": script,
            }))?;
        } else {
            println!("{script}");
        }
        return Err(Error::Unsupported(
            sel.refused
                .iter()
                .map(|r| format!("{} is refused: {}", r.name, r.reason))
                .collect::<Vec<_>>()
                .join("; ")
                + " (nothing was written; the DISM hand-off script is on stdout)",
        ));
    }
    service::prepare(&sel, bar)
}

/// Patch the WinRE `wim` into `out` (temp file, verified, renamed), or plan only.
fn write_winre(
    wim: &Wim,
    prepared: &service::Prepared,
    plan: &service::PatchPlan,
    out: Option<&Path>,
    bar: &Bar,
) -> Result<service::PatchOutcome> {
    let Some(out) = out else {
        return Ok(service::outcome(prepared, plan, None));
    };
    let summary = write_wim_file_checked(
        out,
        plan.write_options.clone(),
        |w| service::write_patch(wim, prepared, plan, w, bar),
        |tmp, _| {
            let r: SharedReader = Arc::new(FileSource::open(tmp)?);
            service::verify_output(r, bar).map(|_| ())
        },
    )?;
    Ok(service::outcome(prepared, plan, Some(&summary)))
}

/// True when the WIM carries an integrity table.
fn has_integrity(wim: &Wim) -> bool {
    wim.header().integrity != mediaprep_core::wim::format::ResHdr::default()
}

fn run_winre(a: &PatchArgs, output: Option<&Path>, bar: &Bar) -> Result<()> {
    let (label, reader) = locate(&a.file, &a.layers)?;
    let wim = Wim::open(reader)?;
    let packages = open_packages(&a.packages)?;
    let prepared = prepared_packages(a, &packages, bar)?;
    let opts = PatchOptions {
        keep_compression: a.keep_compression,
        indices: a.index.clone(),
        time: time_option(a),
        integrity: a.integrity || has_integrity(&wim),
        best: a.best,
    };
    let plan = service::plan_patch(&wim, &prepared, &opts)?;
    let outcome = write_winre(&wim, &prepared, &plan, output, bar)?;
    let fit = match (a.recovery_partition, a.recovery_free) {
        (Some(p), Some(f)) if output.is_some() => {
            Some(mediaprep_core::catalog::partition_fit(outcome.size, p, f))
        }
        _ => None,
    };
    if a.json {
        return json_out(&serde_json::json!({
            "input": label,
            "output": output.map(|o| o.display().to_string()),
            "dry_run": a.dry_run,
            "outcome": outcome,
            "recovery_partition": fit,
        }));
    }
    println!("input: {label}");
    print_outcome(&outcome);
    match output {
        Some(o) => {
            println!(
                "wrote {} ({} bytes, {}, {} blobs raw-copied, verified)",
                o.display(),
                outcome.size,
                outcome.compression,
                outcome.raw_copied_blobs
            );
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
        None => println!("dry run: nothing written"),
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

/// Removes a file when dropped (the intermediate WinRE of `--target install`).
struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `--target install`: patch the WinRE the selected editions share, then write install.wim with
/// it in every selected edition (service::install), everything else raw-copied.
fn run_install(a: &PatchArgs, output: Option<&Path>, bar: &Bar) -> Result<()> {
    use mediaprep_core::service::install::{
        InstallOptions, NewWinre, WinreReplacement, WINRE_PATH,
    };
    let (label, reader) = locate_install(&a.file, &a.layers)?;
    let install = Wim::open(reader)?;
    let n = install.images().len() as u32;
    let indices: Vec<u32> = if a.index.is_empty() {
        (1..=n).collect()
    } else {
        a.index.clone()
    };
    let mut winre: Option<(mediaprep_core::wim::model::Hash, Vec<u32>)> = None;
    for &i in &indices {
        let tree = install.image_tree(i)?;
        let d = &tree.nodes[tree
            .lookup(WINRE_PATH)
            .map_err(|_| Error::NotFound(format!("{label}: image {i} has no {WINRE_PATH}")))?];
        let h = d.data.unwrap_or_default();
        match &mut winre {
            None => winre = Some((h, vec![i])),
            Some((h0, v)) if *h0 == h => v.push(i),
            Some((_, v)) => {
                return Err(Error::Unsupported(format!(
                    "images {v:?} and {i} carry different WinRE images; patch editions that share \
                     one together (--index)"
                )))
            }
        }
    }
    let (hash, _) = winre.ok_or_else(|| Error::Invalid("no image selected".into()))?;
    let winre_src: SharedReader = Arc::new(install.open_blob(&hash)?);
    let winre_wim = Wim::open(winre_src)?;
    let packages = open_packages(&a.packages)?;
    let prepared = prepared_packages(a, &packages, bar)?;
    let opts = PatchOptions {
        keep_compression: a.keep_compression,
        indices: Vec::new(),
        time: time_option(a),
        integrity: a.integrity || has_integrity(&winre_wim),
        best: a.best,
    };
    let plan = service::plan_patch(&winre_wim, &prepared, &opts)?;
    let Some(out) = output else {
        let outcome = service::outcome(&prepared, &plan, None);
        if a.json {
            return json_out(&serde_json::json!({
                "input": label, "dry_run": true, "editions": indices, "winre": outcome,
            }));
        }
        println!("input: {label} (editions {indices:?})");
        print_outcome(&outcome);
        println!("dry run: nothing written");
        return Ok(());
    };
    let file_name = out
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} is not a file path", out.display())))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".winre-{}.tmp", std::process::id()));
    let tmp = TempFile(out.with_file_name(tmp_name));
    let outcome = write_winre(&winre_wim, &prepared, &plan, Some(&tmp.0), bar)?;
    let new_src = FileSource::open(&tmp.0)?;
    let digests = mediaprep_core::hash::hash_reader(&new_src, 8 << 20, bar)?;
    let sha1: mediaprep_core::wim::model::Hash = mediaprep_core::hash::unhex(&digests.sha1)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| Error::Invalid("SHA-1 of the new WinRE".into()))?;
    let job = WinreReplacement::new(
        &install,
        NewWinre {
            src: &new_src,
            size: digests.size,
            sha1,
        },
        &InstallOptions {
            indices: indices.clone(),
            modification_time: Some(plan.time),
            ..Default::default()
        },
    )?;
    let images = std::cell::RefCell::new(Vec::new());
    let summary = write_wim_file_checked(
        out,
        job.write_options().clone(),
        |w| {
            *images.borrow_mut() = job.build(w, bar)?;
            Ok(())
        },
        |tmp, _| {
            let r: SharedReader = Arc::new(FileSource::open(tmp)?);
            job.verify(&Wim::open(r)?, &images.borrow(), bar)
                .map(|_| ())
        },
    )?;
    let images = images.into_inner();
    if a.json {
        return json_out(&serde_json::json!({
            "input": label,
            "output": out.display().to_string(),
            "winre": outcome,
            "editions": images,
            "size": summary.file_size,
            "raw_copied_blobs": summary.raw_copied_blobs,
        }));
    }
    println!("input: {label}");
    print_outcome(&outcome);
    println!(
        "wrote {} ({} bytes; WinRE {} bytes replaced in images {:?}; {} blobs raw-copied; verified)",
        out.display(),
        summary.file_size,
        outcome.size,
        images
            .iter()
            .filter(|i| i.updated)
            .map(|i| i.index)
            .collect::<Vec<_>>(),
        summary.raw_copied_blobs
    );
    Ok(())
}

/// `--target setup`: the Setup DU expanded into a ZIP of the files for the media's `sources\`.
fn run_setup(a: &PatchArgs, output: Option<&Path>, bar: &Bar) -> Result<()> {
    use mediaprep_core::service::setup::{expand_to_zip, ZipOptions};
    let packages = open_packages(&a.packages)?;
    let [pkg] = packages.as_slice() else {
        return Err(Error::Invalid(
            "--target setup takes exactly one Setup DU package".into(),
        ));
    };
    let Some(out) = output else {
        return Err(Error::Invalid(
            "--target setup has no dry run; give -o OUT.zip".into(),
        ));
    };
    let mut tmp_name = out.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = TempFile(out.with_file_name(tmp_name));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp.0)?;
    let (exp, file) = expand_to_zip(
        pkg,
        &Default::default(),
        file,
        &ZipOptions {
            modification_time: time_option(a),
        },
        bar,
    )?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp.0, out)?;
    std::mem::forget(tmp);
    if a.json {
        return json_out(&serde_json::json!({ "output": out.display().to_string(), "setup": exp }));
    }
    println!(
        "wrote {} ({} files for sources\\, verified)",
        out.display(),
        exp.files.len()
    );
    Ok(())
}

/// Follow FILE and LAYERs to an install.wim (a WIM whose first image holds a WinRE).
fn locate_install(file: &PathBuf, layers: &[String]) -> Result<(String, SharedReader)> {
    let name = file.display().to_string();
    let src: SharedReader = Arc::new(FileSource::open(file)?);
    let node = media::open_node(src.clone(), &name)?;
    let (node, reader, label) = if layers.is_empty() {
        (node, src, name.clone())
    } else {
        match media::descend(node, layers)? {
            Target::File(r, _) => {
                let l = format!("{name} {}", layers.join(" "));
                (media::open_node(r.clone(), &l)?, r, l)
            }
            _ => {
                return Err(Error::Invalid(
                    "the layers must end on install.wim (e.g. /sources/install.wim)".into(),
                ))
            }
        }
    };
    match node {
        Node::Iso(_) => {
            let mut l = layers.to_vec();
            l.push("/sources/install.wim".into());
            locate_install(file, &l)
        }
        Node::Wim(_) => Ok((label, reader)),
        Node::File(_) => Err(Error::Invalid(format!("{label}: not a WIM"))),
    }
}
