//! The worker side: receives requests, runs core jobs synchronously over the user's files, and
//! posts progress, results and errors. The page stays responsive because nothing here runs on
//! the UI thread; cancelling terminates this worker (see docs/decisions.md).

use crate::protocol::{Envelope, Event, Hashed, JobResult, PatchResult, PatchTarget, Request};
use crate::source::{as_file, JsFileSource};
use mediaprep_core::io::{CachedReader, Part, Progress, SharedReader};
use mediaprep_core::service::{run_patch, PatchOptions, PatchRequest};
use mediaprep_core::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// Install the message handler and announce readiness.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    if scope.name().starts_with(crate::pool::WORKER_NAME) {
        // A compression pool worker: its loader calls `pool_serve` once the module is ready.
        return;
    }
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        on_message(e);
    });
    scope.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(&Event::Ready {
        version: env!("CARGO_PKG_VERSION").to_string(),
    });
}

/// Post an event to the page as a JSON string.
pub fn post(ev: &Event) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    if let Ok(s) = serde_json::to_string(ev) {
        let _ = scope.post_message(&JsValue::from_str(&s));
    }
}

/// Post a finished file: the event as JSON and the bytes beside it (transferred, not copied).
fn post_download(id: u32, name: &str, mime: &str, bytes: &[u8]) {
    let ev = Event::Download {
        id,
        name: name.into(),
        mime: mime.into(),
        size: bytes.len() as u64,
    };
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let Ok(json) = serde_json::to_string(&ev) else {
        return;
    };
    let msg = js_sys::Object::new();
    let arr = js_sys::Uint8Array::from(bytes);
    let ok = js_sys::Reflect::set(&msg, &"json".into(), &json.into()).is_ok()
        && js_sys::Reflect::set(&msg, &"bytes".into(), &arr).is_ok();
    if ok {
        let transfer = js_sys::Array::of1(&arr.buffer());
        let _ = scope.post_message_with_transfer(&msg, &transfer);
    }
}

fn on_message(e: MessageEvent) {
    let data = e.data();
    let json = js_sys::Reflect::get(&data, &"json".into())
        .ok()
        .and_then(|v| v.as_string());
    let Some(json) = json else { return };
    let env: Envelope = match serde_json::from_str(&json) {
        Ok(env) => env,
        Err(err) => {
            post(&Event::Error {
                id: 0,
                kind: "invalid".into(),
                message: format!("bad request: {err}"),
                refusal: None,
                split_set: None,
                catalog_file: None,
                winre_group: None,
            });
            return;
        }
    };
    let files: Vec<web_sys::File> = js_sys::Reflect::get(&data, &"files".into())
        .ok()
        .map(|v| {
            js_sys::Array::from(&v)
                .iter()
                .filter_map(|f| as_file(&f))
                .collect()
        })
        .unwrap_or_default();
    let id = env.id;
    // The folder the user picked for the USB target, and the split size asked for.
    let dir = js_sys::Reflect::get(&data, &"dir".into())
        .ok()
        .and_then(|v| v.dyn_into::<web_sys::FileSystemDirectoryHandle>().ok())
        .map(|d| {
            let split = js_sys::Reflect::get(&data, &"split_mib".into())
                .ok()
                .and_then(|v| v.as_f64())
                .map(|f| f as u64);
            (d, split)
        });
    if let Request::Report { format, session } = env.request {
        match crate::jobs::report(format, &session) {
            Ok(bytes) => {
                let (name, mime) = format.file();
                post_download(id, name, mime, &bytes)
            }
            Err(err) => post_error(id, &err),
        }
        return;
    }
    if let Request::Patch {
        media,
        out_name,
        target,
        indices,
    } = env.request
    {
        wasm_bindgen_futures::spawn_local(async move {
            let reporter = Reporter::new(id);
            let res = async {
                let mut named = named_sources(files)?;
                let packages = named.split_off((media as usize).min(named.len()));
                if target == PatchTarget::Folder {
                    let (dir, split) = dir.ok_or_else(|| {
                        Error::invalid("page request", "no folder was chosen for the USB target")
                    })?;
                    return to_folder(dir, split, named, packages, &reporter).await;
                }
                patch(target, indices, named, packages, &out_name, &reporter).await
            }
            .await;
            match res {
                Ok(result) => post(&Event::Patched {
                    id,
                    result: Box::new(result),
                }),
                Err(err) => post_error(id, &err),
            }
        });
        return;
    }
    if let Request::ExportCatalog = env.request {
        let res = named_sources(files).and_then(|named| export_catalog(named.into_iter().next()));
        match res {
            Ok((name, bytes)) => post_download(id, &name, "application/json", &bytes),
            Err(err) => post_error(id, &err),
        }
        return;
    }
    if let Request::KeptCatalog { today } = env.request {
        wasm_bindgen_futures::spawn_local(async move {
            post_outcome(id, kept_at_start(today.as_deref()).await);
        });
        return;
    }
    if matches!(
        env.request,
        Request::Inspect { .. } | Request::Catalog { .. }
    ) {
        let request = env.request;
        wasm_bindgen_futures::spawn_local(async move {
            let reporter = Reporter::new(id);
            let res = async { catalog_job(request, named_sources(files)?, &reporter).await }.await;
            post_outcome(id, res);
        });
        return;
    }
    if let Request::Extract { layers } = env.request {
        wasm_bindgen_futures::spawn_local(async move {
            let reporter = Reporter::new(id);
            let res = async {
                let named = named_sources(files)?;
                crate::extract::extract(named, layers, &reporter).await
            }
            .await
            .map(JobResult::Extracted);
            post_outcome(id, res);
        });
        return;
    }
    let reporter = Reporter::new(id);
    post_outcome(id, run(env.request, files, &reporter));
}

/// Run the core's patch job ([`run_patch`], as `mediaprep patch` does) with its outputs in OPFS
/// and, for WIM outputs, the chunks compressed by the worker pool when there is one (same bytes).
async fn patch(
    target: PatchTarget,
    indices: Vec<u32>,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    out_name: &str,
    progress: &dyn Progress,
) -> Result<PatchResult> {
    let wim = target != PatchTarget::Setup;
    let backend = if wim {
        crate::pool::prepare().await
    } else {
        None
    };
    let request = PatchRequest {
        target,
        options: PatchOptions {
            indices,
            ..Default::default()
        },
        backend,
        ..Default::default()
    };
    // One WinRE stage per distinct WinRE among the selected editions (OPFS files are opened
    // before the job, which cannot await).
    let mut parts = mediaprep_core::service::winre_stages(&request, &media);
    if target == PatchTarget::Iso {
        parts.push(Part::InstallStage);
    }
    parts.push(Part::Output);
    let mut store = crate::save::OpfsStore::open(out_name, &parts).await?;
    // Where the time went, per stage, and the memory used: one console line that
    // scripts/bench-all (e2e/bench-real.mjs) reads; nothing in the page depends on it.
    let timer = mediaprep_core::phases::PhaseTimer::new(progress, js_sys::Date::now);
    let res = run_patch(&request, media, packages, &mut store, &timer);
    let phases = timer.finish("finish");
    let name = store.settle().await;
    let line = serde_json::json!({
        "phases": phases.phases,
        "job_worker_memory_mib": crate::pool::memory_mib(),
        "pool": crate::pool::report(),
    });
    web_sys::console::log_1(&format!("mediaprep-phases {line}").into());
    let rep = res?;
    let written = rep
        .written
        .as_ref()
        .ok_or_else(|| Error::invalid("page request", "the patch wrote nothing"))?;
    let winre_groups = winre_groups(&rep);
    Ok(PatchResult {
        target,
        input: rep.input.clone(),
        opfs: name.ok_or_else(|| Error::invalid("page request", "the output was not committed"))?,
        size: written.size,
        sha256: written.sha256,
        versions: if winre_groups.is_empty() {
            versions(rep.winre.iter())
        } else {
            Vec::new()
        },
        editions: rep.editions.iter().map(|e| (e.index, e.updated)).collect(),
        setup_files: rep.setup.as_ref().map(|s| s.files.len()),
        compression: wim.then(crate::pool::report),
        packages: rep.winre.iter().flat_map(|o| o.packages.clone()).collect(),
        notes: rep.winre.iter().flat_map(|o| o.notes.clone()).collect(),
        folder: None,
        winre_groups,
    })
}

/// Each serviced WinRE's images: index, version before, version after.
fn versions<'a>(
    outcomes: impl Iterator<Item = &'a mediaprep_core::service::PatchOutcome>,
) -> Vec<(u32, Option<String>, Option<String>)> {
    outcomes
        .flat_map(|o| &o.images)
        .map(|i| (i.index, i.version_before.clone(), i.version_after.clone()))
        .collect()
}

/// The install target's WinRE groups when there are several (one group is shown as before).
fn winre_groups(
    rep: &mediaprep_core::service::PatchReport,
) -> Vec<crate::protocol::WinreGroupResult> {
    if rep.winre_groups.len() < 2 {
        return Vec::new();
    }
    rep.winre_groups
        .iter()
        .filter_map(|g| {
            Some(crate::protocol::WinreGroupResult {
                editions: g.editions.clone(),
                versions: versions(std::iter::once(&g.winre)),
                sha256: g.serviced.as_ref()?.sha256,
            })
        })
        .collect()
}

/// The folder target into the folder the user picked ([`crate::usb::write_folder`]), as
/// `mediaprep patch --target folder` (same tree, same split, same checks).
async fn to_folder(
    dir: web_sys::FileSystemDirectoryHandle,
    split_mib: Option<u64>,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    progress: &dyn Progress,
) -> Result<PatchResult> {
    let request = PatchRequest {
        target: PatchTarget::Folder,
        backend: crate::pool::prepare().await,
        ..Default::default()
    };
    let (rep, folder) =
        crate::usb::write_folder(dir, split_mib, &request, media, packages, progress).await?;
    Ok(PatchResult {
        target: PatchTarget::Folder,
        input: rep.input.clone(),
        opfs: String::new(),
        size: folder.bytes,
        sha256: [0; 32],
        versions: Vec::new(),
        editions: rep.editions.iter().map(|e| (e.index, e.updated)).collect(),
        setup_files: rep.setup.as_ref().map(|s| s.files.len()),
        compression: Some(crate::pool::report()),
        packages: rep.winre.iter().flat_map(|o| o.packages.clone()).collect(),
        notes: rep.winre.iter().flat_map(|o| o.notes.clone()).collect(),
        folder: Some(folder),
        winre_groups: winre_groups(&rep),
    })
}

/// An inspection (with media) or a catalog load (without): the newly chosen catalog file is
/// used when it loads, and kept in OPFS for the next visits when it is newer than what is kept;
/// otherwise the last good one is (see [`crate::jobs::choose_catalog`]).
async fn catalog_job(
    request: Request,
    mut named: Vec<(String, SharedReader)>,
    progress: &dyn Progress,
) -> Result<JobResult> {
    let (requested, with_catalog, fallback, with_media) = match request {
        Request::Inspect {
            today,
            catalog,
            fallback,
        } => (today, catalog, fallback, true),
        Request::Catalog {
            today,
            catalog,
            fallback,
        } => (today, catalog, fallback, false),
        other => {
            return Err(Error::invalid(
                "page request",
                format!("{other:?} is not a catalog job"),
            ))
        }
    };
    let today = crate::jobs::requested_date(requested.as_deref(), utc_today()?)?;
    let (new, last_good) = crate::jobs::split_catalogs(&mut named, with_catalog, fallback)?;
    let chosen = crate::jobs::choose_catalog(new, last_good)?;
    let kept = match &chosen.fresh {
        Some((name, bytes)) => Some(
            crate::kept::offer(&chosen.catalog, name, bytes)
                .await
                .unwrap_or_else(|e| {
                    format!("used for this visit only: keeping it in this browser failed ({e})")
                }),
        ),
        None => None,
    };
    Ok(if with_media {
        JobResult::Inspected(Box::new(crate::jobs::inspect(
            named, &chosen, today, kept, progress,
        )?))
    } else {
        JobResult::Catalog(Box::new(crate::jobs::catalog_info(&chosen, today, kept)?))
    })
}

/// The catalog kept by an earlier visit, used or deleted (with why); the built-in one where the
/// browser has no private file system.
async fn kept_at_start(requested: Option<&str>) -> Result<JobResult> {
    let today = crate::jobs::requested_date(requested, utc_today()?)?;
    let start = match crate::kept::start().await {
        Ok(s) => s,
        Err(e) => {
            let mut s = crate::kept::at_start(None, mediaprep_core::catalog::Catalog::embedded()?);
            s.note = Some(format!("No catalog can be kept in this browser: {e}"));
            s
        }
    };
    let mut out = crate::jobs::catalog_info(&start.chosen, today, start.note)?;
    out.kept_at_start = true;
    Ok(JobResult::Catalog(Box::new(out)))
}

/// The catalog in use as JSON, named for its version: the file sent, or the built-in one.
fn export_catalog(file: Option<(String, SharedReader)>) -> Result<(String, Vec<u8>)> {
    let catalog = match file {
        Some((name, r)) => crate::jobs::load_catalog(&name, &r)?,
        None => mediaprep_core::catalog::Catalog::embedded()?,
    };
    let json = catalog.to_json()?;
    Ok((
        format!("catalog-{}.json", catalog.version),
        json.into_bytes(),
    ))
}

/// Post a job's result, or its error with the error's kind for the UI's plain-words message.
fn post_outcome(id: u32, res: Result<JobResult>) {
    match res {
        Ok(result) => post(&Event::Result { id, result }),
        Err(err) => post_error(id, &err),
    }
}

fn post_error(id: u32, err: &mediaprep_core::Error) {
    post(&Event::Error {
        id,
        kind: err.kind().into(),
        message: err.to_string(),
        refusal: match err {
            Error::Refused(r) => Some((**r).clone()),
            _ => None,
        },
        split_set: match err {
            Error::SplitSet(p) => Some(p.clone()),
            _ => None,
        },
        catalog_file: match err {
            Error::CatalogFile { name, .. } => Some(name.clone()),
            _ => None,
        },
        winre_group: match err {
            Error::WinreGroup {
                editions, reason, ..
            } => Some(Box::new(crate::protocol::WinreGroupProblem {
                editions: editions.clone(),
                // The detail alone: the page says in its own words what kind of problem it is.
                reason: match &**reason {
                    Error::Unsupported { detail, .. } => detail.clone(),
                    other => other.to_string(),
                },
            })),
            _ => None,
        },
    });
}

/// The files as named, cached readers (parsers read many small records; a block cache turns
/// them into few `File.slice` reads).
fn named_sources(files: Vec<web_sys::File>) -> Result<Vec<(String, SharedReader)>> {
    files
        .into_iter()
        .map(|f| {
            let s = JsFileSource::new(f)?;
            let name = s.name();
            let r: SharedReader = Arc::new(CachedReader::new(s, 1 << 20, 16));
            Ok((name, r))
        })
        .collect()
}

/// Run one request over the given files.
pub fn run(
    request: Request,
    files: Vec<web_sys::File>,
    progress: &dyn Progress,
) -> Result<JobResult> {
    let sources = files
        .into_iter()
        .map(JsFileSource::new)
        .collect::<Result<Vec<_>>>()?;
    match request {
        Request::Hash { slice_mib } => {
            let src = sources
                .into_iter()
                .next()
                .ok_or_else(|| Error::invalid("page request", "no file given"))?;
            let name = src.name();
            let slice = (slice_mib.clamp(1, 32) as usize) << 20;
            let d = mediaprep_core::hash::hash_reader(&src, slice, progress)?;
            Ok(JobResult::Hashed(Hashed {
                name,
                size: d.size,
                sha256: d.sha256,
                sha1: d.sha1,
            }))
        }
        Request::Package => {
            let src = sources
                .into_iter()
                .next()
                .ok_or_else(|| Error::invalid("page request", "no package given"))?;
            let name = src.name();
            let r: SharedReader = Arc::new(CachedReader::new(src, 1 << 20, 16));
            crate::jobs::package(&name, r, progress).map(|p| JobResult::Package(Box::new(p)))
        }
        Request::Patch { .. }
        | Request::Extract { .. }
        | Request::Catalog { .. }
        | Request::KeptCatalog { .. }
        | Request::ExportCatalog => Err(Error::invalid(
            "page request",
            "patch, extract and catalog jobs run asynchronously (OPFS); send them to the worker",
        )),
        Request::Report { format, session } => {
            // Callers that want the bytes use `jobs::report`; this path reports the size only.
            let bytes = crate::jobs::report(format, &session)?;
            Ok(JobResult::Report {
                name: format.file().0.into(),
                size: bytes.len() as u64,
            })
        }
        Request::Inspect { .. } | Request::List { .. } => {
            let named: Vec<(String, SharedReader)> = sources
                .into_iter()
                .map(|s| {
                    let name = s.name();
                    // Parsers read many small records; a block cache turns them into few slices.
                    let r: SharedReader = Arc::new(CachedReader::new(s, 1 << 20, 16));
                    (name, r)
                })
                .collect();
            crate::jobs::run_media(request, named, utc_today()?, progress)
        }
    }
}

/// Today's date in UTC from the browser's clock.
fn utc_today() -> Result<mediaprep_core::catalog::Date> {
    let now = js_sys::Date::new_0();
    mediaprep_core::catalog::Date::new(
        now.get_utc_full_year() as u16,
        now.get_utc_month() as u8 + 1,
        now.get_utc_date() as u8,
    )
    .ok_or_else(|| Error::invalid("page request", "the browser's clock gives no valid date"))
}

/// Throttled progress events (at most ~10 per second) with throughput.
pub struct Reporter {
    id: u32,
    started: f64,
    last_post_ms: AtomicU64,
}

impl Reporter {
    /// A reporter for job `id`.
    pub fn new(id: u32) -> Self {
        Reporter {
            id,
            started: js_sys::Date::now(),
            last_post_ms: AtomicU64::new(0),
        }
    }
}

impl Progress for Reporter {
    fn update(&self, stage: &str, done: u64, total: u64) {
        let now = js_sys::Date::now();
        let last = self.last_post_ms.load(Ordering::Relaxed) as f64;
        if done < total && now - last < 100.0 {
            return;
        }
        self.last_post_ms.store(now as u64, Ordering::Relaxed);
        let secs = ((now - self.started) / 1000.0).max(1e-3);
        post(&Event::Progress {
            id: self.id,
            stage: stage.to_string(),
            done,
            total,
            mb_per_s: done as f64 / 1e6 / secs,
        });
    }
}
