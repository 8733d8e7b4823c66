//! Patch WinRE in the worker: find the recovery image in what the user opened (ISO →
//! install.wim → image 1's Winre.wim, as `mediaprep patch` does), service the packages into it
//! and write the new WIM into the origin-private file system under a temporary name. The file is
//! re-read and every blob checked before it gets its final name; on any error it is removed.

use crate::save::{self, OpfsSink, PARTIAL};
use crate::source::JsFileSource;
use mediaprep_core::codec::parallel::Backend;
use mediaprep_core::io::{CachedReader, Progress, ReadAt, SharedReader, WriteAt};
use mediaprep_core::media::{self, Node, Target};
use mediaprep_core::package::{open_package, Package};
use mediaprep_core::service::install::{InstallOptions, NewWinre, WinreReplacement};
use mediaprep_core::service::{self, PatchOptions};
use mediaprep_core::wim::model::Hash;
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

/// Open every package the user dropped, each under its file name.
fn open_packages(files: Vec<(String, SharedReader)>) -> Result<Vec<Package>> {
    files
        .into_iter()
        .map(|(n, r)| open_package(r, &n))
        .collect()
}

/// Service `packages` into the WinRE found in `media`; the verified output ends up in OPFS as
/// `out_name`, its chunks compressed with `pool` when there is one (the same bytes either way).
/// Returns `{input, opfs, size, sha256, outcome}`.
pub async fn patch_winre(
    media_files: Vec<(String, SharedReader)>,
    package_files: Vec<(String, SharedReader)>,
    out_name: &str,
    pool: Option<Backend>,
    progress: &dyn Progress,
) -> Result<serde_json::Value> {
    let (label, reader) = locate(&media_files)?;
    let wim = Wim::open(reader.clone())?;
    let packages = open_packages(package_files)?;
    // `prepare` refuses the whole selection when any package is refused (never half-applied).
    let sel = service::select_packages(&packages);
    let prepared = service::prepare(&sel, progress)?;
    let mut plan = service::plan_patch(&wim, &prepared, &PatchOptions::default())?;
    // Chunks compress with the worker pool when there is one (same bytes either way).
    plan.write_options.backend = pool;
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
    let written = async {
        let (summary, fh, src) = write_partial(&dir, &partial, |sink| {
            let mut w = WimWriter::new(sink, plan.write_options.clone())?;
            service::write_patch(&wim, &prepared, &plan, &mut w, progress)?;
            w.finish_into_sink()
        })
        .await?;
        let (d, out) = read_back(src, progress)?;
        service::verify_output(out, progress)?;
        Ok::<_, Error>((summary, fh, d))
    }
    .await;
    let (summary, fh, digests) = match written {
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
pub(crate) async fn finalize(
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

/// Write `partial` in OPFS through `build`, release it and hand back `build`'s result with a
/// reader over what landed on disk (for the read-back check).
async fn write_partial<T>(
    dir: &web_sys::FileSystemDirectoryHandle,
    partial: &str,
    build: impl FnOnce(OpfsSink) -> Result<(T, OpfsSink)>,
) -> Result<(T, web_sys::FileSystemFileHandle, JsFileSource)> {
    let fh = save::file_handle(dir, partial).await?;
    let sink = OpfsSink::open(&fh).await?;
    let (v, sink) = build(sink)?;
    sink.close()?;
    let file: web_sys::File = JsFuture::from(fh.get_file())
        .await
        .map_err(|e| Error::Io(format!("reading the output back: {e:?}")))?
        .unchecked_into();
    Ok((v, fh, JsFileSource::new(file)?))
}

/// Digests of a finished output and a cached reader over it for the verification that follows.
fn read_back(
    src: JsFileSource,
    progress: &dyn Progress,
) -> Result<(mediaprep_core::hash::Digests, SharedReader)> {
    let d = mediaprep_core::hash::hash_reader(&src, 8 << 20, progress)?;
    Ok((d, Arc::new(CachedReader::new(src, 1 << 20, 16))))
}

/// The install.wim in what was opened: an ISO's `/sources/install.wim`, or the WIM itself.
fn locate_install(files: &[(String, SharedReader)]) -> Result<(String, SharedReader)> {
    let (name, root) = media::open_files(files.to_vec())?;
    match root {
        Node::Iso(_) => match media::descend(root, &["/sources/install.wim".to_string()])? {
            Target::File(r, _) => Ok((format!("{name} → /sources/install.wim"), r)),
            _ => Err(Error::NotFound(
                "the ISO has no /sources/install.wim file".into(),
            )),
        },
        Node::Wim(_) => match files {
            [(_, r)] => Ok((name, r.clone())),
            _ => Err(Error::Unsupported(
                "replacing WinRE in a split (.swm) set".into(),
            )),
        },
        _ => Err(Error::Invalid(
            "no install.wim found: open an ISO or an install.wim".into(),
        )),
    }
}

/// Patch the WinRE the selected editions of install.wim share (all when `indices` is empty) and
/// write install.wim with it in each of them (`mediaprep patch --target install`): the serviced
/// WinRE is written and verified in OPFS first, then fed to the replacement, whose output is
/// verified and moved to `out_name`. Returns `{input, opfs, size, sha256, outcome, editions}`.
/// Both writes compress through `pool` when there is one.
pub async fn patch_install(
    media_files: Vec<(String, SharedReader)>,
    package_files: Vec<(String, SharedReader)>,
    indices: Vec<u32>,
    out_name: &str,
    pool: Option<Backend>,
    progress: &dyn Progress,
) -> Result<serde_json::Value> {
    let (label, reader) = locate_install(&media_files)?;
    let install = Wim::open(reader.clone())?;
    let n = install.images().len() as u32;
    let selected: Vec<u32> = if indices.is_empty() {
        (1..=n).collect()
    } else {
        indices
    };
    let mut shared: Option<(Hash, Vec<u32>)> = None;
    for &i in &selected {
        if i == 0 || i > n {
            return Err(Error::Invalid(format!(
                "edition {i}: install.wim has editions 1..={n}"
            )));
        }
        let tree = install.image_tree(i)?;
        let at = tree
            .lookup(WINRE)
            .map_err(|_| Error::NotFound(format!("edition {i} has no {WINRE}")))?;
        let h = tree.nodes[at].data.unwrap_or_default();
        match &mut shared {
            None => shared = Some((h, vec![i])),
            Some((h0, v)) if *h0 == h => v.push(i),
            Some((_, v)) => {
                return Err(Error::Unsupported(format!(
                    "editions {v:?} and {i} carry different WinRE images; patch editions that \
                     share one together"
                )))
            }
        }
    }
    let (hash, _) = shared.ok_or_else(|| Error::Invalid("no edition selected".into()))?;
    let winre_blob = install.open_blob(&hash)?;
    let winre_size = winre_blob.size();
    let winre_wim = Wim::open(Arc::new(winre_blob))?;
    let packages = open_packages(package_files)?;
    // `prepare` refuses the whole selection when any package is refused (never half-applied).
    let sel = service::select_packages(&packages);
    let prepared = service::prepare(&sel, progress)?;
    let mut plan = service::plan_patch(&winre_wim, &prepared, &PatchOptions::default())?;
    plan.write_options.backend = pool.clone();
    let payload: u64 = packages.iter().map(|p| p.source().size()).sum();
    // Room for the new WinRE (about the old one plus the payloads) twice: once on its own, once
    // inside the new install.wim next to everything carried over.
    let winre_room = winre_size.saturating_add(payload);
    save::check_quota(
        reader
            .size()
            .saturating_add(winre_room.saturating_mul(2))
            .saturating_add(32 << 20),
    )
    .await?;

    let dir = save::opfs_root().await?;
    save::sweep_partials(&dir).await?;
    let winre_partial = format!("{out_name}.winre{PARTIAL}");
    let partial = format!("{out_name}{PARTIAL}");
    let written = async {
        let (wsummary, _, new_src) = write_partial(&dir, &winre_partial, |sink| {
            let mut w = WimWriter::new(sink, plan.write_options.clone())?;
            service::write_patch(&winre_wim, &prepared, &plan, &mut w, progress)?;
            w.finish_into_sink()
        })
        .await?;
        let new_src = Arc::new(new_src);
        let out: SharedReader = Arc::new(CachedReader::new(new_src.clone(), 1 << 20, 16));
        service::verify_output(out, progress)?;
        let wd = mediaprep_core::hash::hash_reader(&*new_src, 8 << 20, progress)?;
        let sha1: Hash = mediaprep_core::hash::unhex(&wd.sha1)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| Error::Invalid("SHA-1 of the new WinRE".into()))?;
        let job = WinreReplacement::new(
            &install,
            NewWinre {
                src: &*new_src,
                size: wd.size,
                sha1,
            },
            &InstallOptions {
                indices: selected.clone(),
                modification_time: Some(plan.time),
                ..Default::default()
            },
        )?
        .with_backend(pool);
        let (summary, fh, out_src) =
            write_partial(&dir, &partial, |sink| job.write(sink, progress)).await?;
        let (d, out) = read_back(out_src, progress)?;
        job.verify(&Wim::open(out)?, &summary.images, progress)?;
        Ok::<_, Error>((wsummary, summary, fh, d))
    }
    .await;
    save::remove(&dir, &winre_partial).await;
    let (wsummary, summary, fh, digests) = match written {
        Ok(v) => v,
        Err(e) => {
            save::remove(&dir, &partial).await;
            return Err(e);
        }
    };
    let name = finalize(&dir, &fh, &partial, out_name).await;
    let outcome = service::outcome(&prepared, &plan, Some(&wsummary));
    Ok(serde_json::json!({
        "input": label,
        "opfs": name,
        "size": digests.size,
        "sha256": digests.sha256,
        "outcome": serde_json::to_value(&outcome).map_err(|e| Error::Io(e.to_string()))?,
        "editions": serde_json::to_value(&summary.images).map_err(|e| Error::Io(e.to_string()))?,
    }))
}

/// `Read + Write + Seek` over an OPFS file, for the ZIP writer (which seeks back to patch local
/// headers) and its read-back check.
struct OpfsCursor {
    sink: OpfsSink,
    pos: u64,
}

fn io_err(e: Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl std::io::Write for OpfsCursor {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sink.write_at(self.pos, buf).map_err(io_err)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        WriteAt::flush(&mut self.sink).map_err(io_err)
    }
}

impl std::io::Read for OpfsCursor {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sink.size().map_err(io_err)?;
        let n = (size.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        if n > 0 {
            self.sink
                .read_back(self.pos, &mut buf[..n])
                .map_err(io_err)?;
            self.pos += n as u64;
        }
        Ok(n)
    }
}

impl std::io::Seek for OpfsCursor {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.sink.size().map_err(io_err)?.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

/// Expand the Setup DU (the one package) into a ZIP of the files for the media's `sources\`
/// (`mediaprep patch --target setup`), written in OPFS, re-read and checked by the core, then
/// moved to `out_name`. Returns `{input, opfs, size, sha256, setup}`.
pub async fn patch_setup(
    package_files: Vec<(String, SharedReader)>,
    out_name: &str,
    progress: &dyn Progress,
) -> Result<serde_json::Value> {
    let [(pkg_name, pkg_reader)] = <[_; 1]>::try_from(package_files).map_err(|_| {
        Error::Invalid("the Setup DU target takes exactly one package (the Setup DU .cab)".into())
    })?;
    let pkg = open_package(pkg_reader, &pkg_name)?;
    // Deflate rarely grows data; the ZIP is at most the expanded size plus headers.
    save::check_quota(
        pkg.source()
            .size()
            .saturating_mul(3)
            .saturating_add(16 << 20),
    )
    .await?;
    let dir = save::opfs_root().await?;
    save::sweep_partials(&dir).await?;
    let partial = format!("{out_name}{PARTIAL}");
    let written = async {
        let (exp, fh, out) = write_partial(&dir, &partial, |sink| {
            let (exp, cur) = service::setup::expand_to_zip(
                &pkg,
                &Default::default(),
                OpfsCursor { sink, pos: 0 },
                &Default::default(),
                progress,
            )?;
            Ok((exp, cur.sink))
        })
        .await?;
        let d = mediaprep_core::hash::hash_reader(&out, 8 << 20, progress)?;
        Ok::<_, Error>((exp, fh, d))
    }
    .await;
    let (exp, fh, digests) = match written {
        Ok(v) => v,
        Err(e) => {
            save::remove(&dir, &partial).await;
            return Err(e);
        }
    };
    let name = finalize(&dir, &fh, &partial, out_name).await;
    Ok(serde_json::json!({
        "input": pkg_name,
        "opfs": name,
        "size": digests.size,
        "sha256": digests.sha256,
        "setup": serde_json::to_value(&exp).map_err(|e| Error::Io(e.to_string()))?,
    }))
}
