//! `mediaprep manifest`: a component manifest as XML. `FILE [--base BASE]` reads a manifest file
//! (DCM decoded against BASE, a raw base or a wcp.dll; plain XML passed through as is);
//! `MEDIA LAYER… PATH` reads one inside an image and decodes it with that image's own base (its
//! newest servicing stack's wcp.dll), unless --base names another.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use mediaprep_core::delta::{dcm, ApplyOptions};
use mediaprep_core::io::ReadAt;
use mediaprep_core::manifest_base::{base_from_media, BaseManifest, BaseSource};
use mediaprep_core::media::{self, Target};
use mediaprep_core::package::manifest::compressed_signature;
use mediaprep_core::{Error, Result};

/// Largest manifest read (the largest genuine one seen is about 3 MiB decoded).
const MAX_MANIFEST: u64 = 256 << 20;

/// Arguments of `mediaprep manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// A manifest file; or the media followed by layers, the last one naming the manifest
    /// (`IMAGE:/Windows/WinSxS/Manifests/NAME.manifest`).
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Base manifest to decode against: a raw base or a wcp.dll (default inside an image: the
    /// image's own).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Write the XML here instead of printing it.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Run the command.
pub fn run(a: ManifestArgs) -> Result<()> {
    let first = PathBuf::from(&a.paths[0]);
    let (label, bytes, in_image) = if a.paths.len() == 1 {
        let b = super::delta::read_file(&first, MAX_MANIFEST)?;
        (first.display().to_string(), b, None)
    } else {
        let layers = &a.paths[1..];
        let last = &layers[layers.len() - 1];
        let Some((index, _)) = media::parse_image_layer(last) else {
            return Err(Error::invalid(
                "command line",
                format!(
                    "'{last}': the last layer names the manifest inside an image, as IMAGE:PATH, \
                 e.g. 1:/Windows/WinSxS/Manifests/NAME.manifest"
                ),
            ));
        };
        let (name, src) = super::open(&first)?;
        let node = media::open_node(src.clone(), &name)?;
        let Target::File(reader, sha1) = media::descend(node, layers)? else {
            return Err(Error::invalid(
                "command line",
                format!("{last}: a directory, not a manifest file"),
            ));
        };
        if reader.size() > MAX_MANIFEST {
            return Err(Error::limit(
                reader.size(),
                MAX_MANIFEST,
                format!(
                    "{last}: {} bytes; the limit is {MAX_MANIFEST}",
                    reader.size()
                ),
            ));
        }
        let mut b = Vec::with_capacity(reader.size() as usize);
        media::copy_target(&reader, sha1, &mut b, &mediaprep_core::io::NoProgress)?;
        (last.clone(), b, Some((name, src, index)))
    };

    let xml = if compressed_signature(&bytes).is_some() {
        let base = match (&a.base, in_image) {
            (Some(p), _) => {
                let (name, src) = super::open(p)?;
                BaseManifest::from_reader(&*src, &name)?
            }
            (None, Some((name, src, index))) => {
                base_from_media(src, &name, &a.paths[1..a.paths.len() - 1], index)?
            }
            (None, None) => {
                return Err(Error::invalid(
                    "command line",
                    format!(
                    "{label} is DCM-compressed: give --base (a raw base manifest or a wcp.dll), or \
                     name the manifest inside its image to use that image's base"
                ),
                ))
            }
        };
        let xml = dcm::decode(&base.bytes, &bytes, &ApplyOptions::default())
            .map_err(|e| Error::invalid("command line", format!("{label}: {e}")))?;
        eprintln!(
            "decoded {label} ({} bytes) with base sha256 {} from {}",
            bytes.len(),
            base.sha256_hex(),
            describe(&base.source)
        );
        xml
    } else if looks_like_xml(&bytes) {
        bytes
    } else {
        return Err(Error::invalid(
            "command line",
            format!("{label}: neither a DCM-compressed manifest nor XML"),
        ));
    };

    match &a.output {
        Some(out) => {
            let n = super::write_atomically(out, |f| {
                f.write_all(&xml)?;
                Ok(xml.len() as u64)
            })?;
            eprintln!("wrote {} ({n} bytes)", out.display());
        }
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(&xml)?;
            o.flush()?;
        }
    }
    Ok(())
}

fn describe(s: &BaseSource) -> String {
    match s {
        BaseSource::Image { wcp, stack, .. } => {
            format!("{} (servicing stack {})", wcp.path, stack.version)
        }
        BaseSource::WcpFile { wcp } => wcp.path.clone(),
        BaseSource::RawFile { path } => path.clone(),
    }
}

/// UTF-8 (with or without BOM) or UTF-16 text whose first non-blank character is `<`.
fn looks_like_xml(b: &[u8]) -> bool {
    if b.starts_with(&[0xff, 0xfe]) || b.starts_with(&[0xfe, 0xff]) {
        return true;
    }
    let b = b.strip_prefix(&[0xef, 0xbb, 0xbf][..]).unwrap_or(b);
    b.iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|&c| c == b'<')
}
