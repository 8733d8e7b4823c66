//! Patch WinRE in the worker: find the recovery image in what the user opened (ISO →
//! install.wim → image 1's Winre.wim, as `mediaprep patch` does), service the packages into it
//! and write the new WIM into the origin-private file system under a temporary name. The file is
//! re-read and every blob checked before it gets its final name; on any error it is removed.

use crate::save::{self, OpfsSink, PARTIAL};
use crate::source::JsFileSource;
use mediaprep_core::io::{CachedReader, Progress, SharedReader};
use mediaprep_core::media::{self, Node, Target};
use mediaprep_core::package::{open_package, Package};
use mediaprep_core::service::{self, PatchOptions};
use mediaprep_core::wim::write::WimWriter;
use mediaprep_core::wim::Wim;
use mediaprep_core::{Error, Result};
use std::sync::Arc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

const WINRE: &str = "Windows/System32/Recovery/Winre.wim";

/// The layers from what was opened to the WIM to service (same rules as the CLI).
fn locate(files: &[(String, SharedReader)]) -> Result<(String, SharedReader)> {
    let mut layers: Vec<String> = Vec::new();
    loop {
        let (name, root) = media::open_files(files.to_vec())?;
        let (node, reader) = if layers.is_empty() {
            let reader = match files {
                [(_, r)] => Some(r.clone()),
                _ => None,
            };
            (root, reader)
        } else {
            match media::descend(root, &layers)? {
                Target::File(r, _) => (media::open_node(r.clone(), &layers.join(" "))?, Some(r)),
                _ => return Err(Error::Invalid("the WinRE path is not a file".into())),
            }
        };
        let label = std::iter::once(name)
            .chain(layers.iter().cloned())
            .collect::<Vec<_>>();
        match node {
            Node::Iso(_) if layers.is_empty() => layers.push("/sources/install.wim".into()),
            Node::Wim(wim)
                if !layers.iter().any(|l| l.ends_with(WINRE))
                    && wim.image_tree(1)?.lookup(WINRE).is_ok() =>
            {
                layers.push(format!("1:/{WINRE}"))
            }
            Node::Wim(_) => {
                let r = reader.ok_or_else(|| {
                    Error::Unsupported("servicing a split (.swm) set directly".into())
                })?;
                return Ok((label.join(" → "), r));
            }
            _ => {
                return Err(Error::Invalid(
                    "no recovery image found: open an ISO, an install.wim or a Winre.wim".into(),
                ))
            }
        }
    }
}

/// Service `packages` into the WinRE found in `media`; the verified output ends up in OPFS as
/// `out_name`. Returns `{input, opfs, size, sha256, outcome}`.
pub async fn patch_winre(
    media_files: Vec<(String, SharedReader)>,
    package_files: Vec<(String, SharedReader)>,
    out_name: &str,
    progress: &dyn Progress,
) -> Result<serde_json::Value> {
    let (label, reader) = locate(&media_files)?;
    let wim = Wim::open(reader.clone())?;
    let packages = package_files
        .into_iter()
        .map(|(n, r)| open_package(r, &n))
        .collect::<Result<Vec<Package>>>()?;
    let sel = service::select_packages(&packages);
    if !sel.refused.is_empty() {
        return Err(Error::Unsupported(
            sel.refused
                .iter()
                .map(|r| format!("{} is refused: {}", r.name, r.reason))
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    let prepared = service::prepare(&sel, progress)?;
    let plan = service::plan_patch(&wim, &prepared, &PatchOptions::default())?;
    // The output is about the input plus the payloads; ask for that much headroom first.
    let payload: u64 = packages.iter().map(|p| p.source().size()).sum();
    save::check_quota(
        reader
            .size()
            .saturating_add(payload)
            .saturating_add(16 << 20),
    )
    .await?;

    let dir = save::opfs_root().await?;
    save::sweep_partials(&dir).await?;
    let partial = format!("{out_name}{PARTIAL}");
    let fh = save::file_handle(&dir, &partial).await?;
    let written = async {
        let sink = OpfsSink::open(&fh).await?;
        let mut w = WimWriter::new(sink, plan.write_options.clone())?;
        service::write_patch(&wim, &prepared, &plan, &mut w, progress)?;
        let (summary, sink) = w.finish_into_sink()?;
        sink.close()?;
        let file: web_sys::File = JsFuture::from(fh.get_file())
            .await
            .map_err(|e| Error::Io(format!("reading the output back: {e:?}")))?
            .unchecked_into();
        let src = JsFileSource::new(file)?;
        let d = mediaprep_core::hash::hash_reader(&src, 8 << 20, progress)?;
        let out: SharedReader = Arc::new(CachedReader::new(src, 1 << 20, 16));
        service::verify_output(out, progress)?;
        Ok::<_, Error>((summary, d))
    }
    .await;
    let (summary, digests) = match written {
        Ok(v) => v,
        Err(e) => {
            save::remove(&dir, &partial).await;
            return Err(e);
        }
    };
    let name = finalize(&dir, &fh, &partial, out_name).await;
    let outcome = service::outcome(&prepared, &plan, Some(&summary));
    Ok(serde_json::json!({
        "input": label,
        "opfs": name,
        "size": digests.size,
        "sha256": digests.sha256,
        "outcome": serde_json::to_value(&outcome).map_err(|e| Error::Io(e.to_string()))?,
    }))
}

/// Give the verified file its final name (`FileSystemHandle.move`, Chromium); where that is
/// missing the file keeps its temporary name and is still offered for download.
async fn finalize(
    dir: &web_sys::FileSystemDirectoryHandle,
    fh: &web_sys::FileSystemFileHandle,
    partial: &str,
    out_name: &str,
) -> String {
    save::remove(dir, out_name).await;
    let mv = js_sys::Reflect::get(fh, &"move".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(mv) = mv {
        if let Ok(p) = mv.call1(fh, &out_name.into()) {
            if let Ok(p) = p.dyn_into::<js_sys::Promise>() {
                if JsFuture::from(p).await.is_ok() {
                    return out_name.to_string();
                }
            }
        }
    }
    partial.to_string()
}
