//! `mediaprep rebuild-iso`: the source ISO's tree with files replaced or added, written as a new
//! bootable ISO ([`mediaprep_core::iso::write`]): ISO 9660 + Joliet + UDF (or the source's
//! UDF-only layout), the source's label and El Torito catalog; re-read and verified before the
//! temporary file is renamed.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use mediaprep_core::io::{FileSource, FsStore, Progress, SharedReader};
use mediaprep_core::iso::write::{write_iso, Replacement};
use mediaprep_core::iso::IsoImage;
use mediaprep_core::{Error, Result};

/// Arguments of `mediaprep rebuild-iso`.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The source ISO.
    pub file: PathBuf,
    /// Output ISO.
    #[arg(short, long)]
    pub output: PathBuf,
    /// `PATH=FILE`: put FILE at PATH inside the image (repeatable), e.g.
    /// `--replace /sources/install.wim=new.wim`.
    #[arg(long = "replace", value_name = "PATH=FILE")]
    pub replace: Vec<String>,
    /// JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// Run `mediaprep rebuild-iso`.
pub fn run(a: RebuildArgs, progress: &dyn Progress) -> Result<()> {
    let src: SharedReader = Arc::new(FileSource::open(&a.file)?);
    let img = IsoImage::open(src)?;
    let mut reps = Vec::new();
    for r in &a.replace {
        let (path, file) = r.split_once('=').ok_or_else(|| {
            Error::invalid("command line", format!("--replace {r}: expected PATH=FILE"))
        })?;
        reps.push(Replacement {
            path: path.to_string(),
            data: Arc::new(FileSource::open(file)?),
            replaces: None,
        });
    }
    let mut store = FsStore::new(&a.output);
    let (plan, written, digests) = write_iso(&img, reps, &mut store, progress)?;
    if a.json {
        let v = serde_json::json!({
            "output": a.output.display().to_string(),
            "size": written.size,
            "sha256": mediaprep_core::hash::hex(&digests.sha256),
            "layout": plan.layout(),
            "label": plan.label(),
            "replaced": written.replaced,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::io("writing JSON", e.into()))?
        );
    } else {
        for (p, h) in &written.replaced {
            println!("{p}\tsha256 {h}");
        }
    }
    eprintln!(
        "wrote {} ({} bytes, {:?}, sha256 {}), verified",
        a.output.display(),
        written.size,
        plan.layout(),
        mediaprep_core::hash::hex(&digests.sha256)
    );
    Ok(())
}
