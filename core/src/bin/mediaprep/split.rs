//! `mediaprep split`: a WIM as a split set (`install.swm`, `install2.swm`, …) whose parts each stay
//! under `--size-mib`, for FAT32 sticks. The work is [`mediaprep_core::wim::split::split_into`]:
//! every part is written under a temporary name, the whole set re-read and verified, then renamed.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use mediaprep_core::io::{FileSource, FsStore, Progress, SharedReader};
use mediaprep_core::wim::split::{part_name, split_into, DEFAULT_SPLIT_MIB};
use mediaprep_core::wim::Wim;
use mediaprep_core::{Error, Result};

/// Arguments of `mediaprep split`.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The WIM to split.
    pub file: PathBuf,
    /// First part's path (`install.swm`); the others are `install2.swm`, `install3.swm`, …
    #[arg(short, long)]
    pub output: PathBuf,
    /// Largest part size in MiB.
    #[arg(long, default_value_t = DEFAULT_SPLIT_MIB)]
    pub size_mib: u64,
}

/// Run `mediaprep split`.
pub fn run(a: SplitArgs, progress: &dyn Progress) -> Result<()> {
    let src: SharedReader = Arc::new(FileSource::open(&a.file)?);
    let wim = Wim::open(src)?;
    let limit = a
        .size_mib
        .checked_mul(1 << 20)
        .filter(|&l| l > 0)
        .ok_or_else(|| {
            Error::invalid(
                "command line",
                format!("--size-mib {} is out of range", a.size_mib),
            )
        })?;
    let first = a
        .output
        .file_name()
        .ok_or_else(|| {
            Error::invalid(
                "command line",
                format!("{} is not a file path", a.output.display()),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let path_of = |i: usize| a.output.with_file_name(part_name(&first, i + 1));
    let plan = split_into(&wim, limit, |i| Ok(FsStore::new(path_of(i))), progress)?;
    for w in &plan.warnings {
        eprintln!("mediaprep: warning: {w}");
    }
    for (i, p) in plan.parts.iter().enumerate() {
        println!("{}\t{} bytes", path_of(i).display(), p.size);
    }
    let stale = path_of(plan.parts.len());
    if stale.exists() {
        eprintln!(
            "mediaprep: warning: {} is left from another set; remove it before using this one",
            stale.display()
        );
    }
    eprintln!(
        "wrote {} parts (limit {} bytes), verified",
        plan.parts.len(),
        limit
    );
    Ok(())
}
