//! `mediaprep base-manifest`: the base that DCM-compressed manifests are deltas against, taken from
//! an image's servicing stack (`wcp.dll` resource 614/1), a `wcp.dll`, or a raw base file; says where
//! it came from and optionally writes it out. See docs/formats/wcp-base.md.

use std::path::PathBuf;

use clap::Args;
use mediaprep_core::manifest_base::{base_from_media, BaseManifest, BaseSource};
use mediaprep_core::{Error, Result};

/// Arguments of `mediaprep base-manifest`.
#[derive(Debug, Args)]
pub struct BaseArgs {
    /// The media (ISO, WIM), a wcp.dll, or a raw base file.
    pub file: PathBuf,
    /// Layers leading to the WIM whose servicing stack to read (`/sources/install.wim`, then
    /// `1:/Windows/System32/Recovery/Winre.wim`).
    pub layers: Vec<String>,
    /// Image of that WIM (1-based).
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Write the base's bytes here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(a: BaseArgs) -> Result<()> {
    let (name, src) = super::open(&a.file)?;
    let base = base_from_media(src, &name, &a.layers, a.index)?;
    if let Some(out) = &a.output {
        super::write_atomically(out, |f| {
            std::io::Write::write_all(f, &base.bytes)?;
            Ok(base.bytes.len() as u64)
        })?;
    }
    if a.json {
        let v = serde_json::json!({
            "size": base.bytes.len(),
            "sha256": base.sha256_hex(),
            "source": base.source,
            "output": a.output.as_ref().map(|p| p.display().to_string()),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::io("writing JSON", e.into()))?
        );
    } else {
        print_text(&base);
        if let Some(out) = &a.output {
            eprintln!("wrote {} ({} bytes)", out.display(), base.bytes.len());
        }
    }
    Ok(())
}

fn print_text(base: &BaseManifest) {
    println!(
        "base manifest: {} bytes, sha256 {}",
        base.bytes.len(),
        base.sha256_hex()
    );
    let wcp_line = |w: &mediaprep_core::manifest_base::WcpInfo| {
        println!("  wcp.dll      {}", w.path);
        println!(
            "  wcp.dll size {} bytes, file version {}",
            w.size,
            w.file_version.as_deref().unwrap_or("(none)")
        );
        println!(
            "  resource     614/1, language {:#06x}, at offset {}",
            w.resource_language, w.resource_offset
        );
    };
    match &base.source {
        BaseSource::Image { wcp, stack, stacks } => {
            println!(
                "  from         the image's servicing stack {}",
                stack.version
            );
            wcp_line(wcp);
            for s in stacks.iter().filter(|s| s.folder != stack.folder) {
                println!(
                    "  not used     {} ({}{})",
                    s.folder,
                    s.version,
                    if s.has_wcp { "" } else { ", no wcp.dll" }
                );
            }
        }
        BaseSource::WcpFile { wcp } => {
            println!("  from         a wcp.dll file");
            wcp_line(wcp);
        }
        BaseSource::RawFile { path } => println!("  from         raw base file {path}"),
    }
}
