//! The Yew app: open files, watch jobs, see what the media holds and needs, export a report.
//! The root only keeps state and routes worker events; each view is its own component.

use crate::client::WorkerClient;
use crate::jobs::CatalogUse;
use crate::protocol::{
    CatalogInfo, Event, Extracted, Hashed, Inspected, JobResult, PackageResult, PatchResult,
    PatchTarget, ReportFormat, Request, Session,
};
use crate::update::UpdateBanner;
use crate::views::browse::BrowseView;
use crate::views::catalog::CatalogBar;
use crate::views::common::{plain_words, ErrorCard, HashCard, Job, JobProgress, OpenPanel};
use crate::views::media::MediaView;
use crate::views::opt;
use crate::views::package::PackageView;
use crate::views::patch::PatchPanel;
use crate::views::report::ReportPanel;
use crate::views::summary::Summary;
use crate::views::updates::UpdatesView;
use mediaprep_core::catalog::{CatalogAge, CatalogSource, ImageRole};
use mediaprep_core::error::SplitSetProblem;
use mediaprep_core::media::Entry;
use std::rc::Rc;
use web_sys::File;
use yew::prelude::*;

/// Plain words for an error, knowing what the job was opening and what the engine found.
pub fn explain(kind: &str, split_set: Option<&SplitSetProblem>, job: Option<JobKind>) -> String {
    if let Some(p) = split_set {
        return split_set_words(p);
    }
    let unreadable = matches!(kind, "invalid" | "malformed" | "truncated");
    match job {
        Some(JobKind::Inspect) if unreadable => {
            "This file is damaged or is not a Windows ISO, WIM, ESD or .swm file.".into()
        }
        Some(JobKind::Package) if unreadable => {
            "This file is damaged or is not a Windows update package (.cab or .msu).".into()
        }
        _ => plain_words(kind),
    }
}

/// Plain words for install.wim editions whose WinRE the packages cannot service (the run
/// wrote nothing): which editions, why, and what to do.
fn winre_group_words(g: Option<&crate::protocol::WinreGroupProblem>) -> String {
    let Some(g) = g else {
        return String::new();
    };
    let numbers: Vec<u16> = g
        .editions
        .iter()
        .map(|&e| u16::try_from(e).unwrap_or(u16::MAX))
        .collect();
    let (noun, pronoun) = if g.editions.len() > 1 {
        ("editions", "them")
    } else {
        ("edition", "it")
    };
    format!(
        "The update cannot be applied to the WinRE of {noun} {}, so nothing was written: {}. \
         Untick {pronoun} to patch the other editions, or bring the update for that WinRE.",
        and_list(&numbers),
        g.reason
    )
}

/// "2", "2 and 3", "2, 3 and 4".
fn and_list(parts: &[u16]) -> String {
    let words: Vec<String> = parts.iter().map(u16::to_string).collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => words.concat(),
    }
}

/// Plain words for what is wrong with a split WIM (.swm) set: parts missing (a lone part
/// opened, or a set with gaps), parts of different sets, a part chosen twice.
fn split_set_words(p: &SplitSetProblem) -> String {
    let missing = |parts: &[u16], total: u16| {
        let (noun, verb) = if parts.len() > 1 {
            ("Parts", "are")
        } else {
            ("Part", "is")
        };
        format!(
            "{noun} {} of {total} of this split WIM (.swm) set {verb} missing. \
             Choose all {total} parts together (for example install.swm to install{total}.swm).",
            and_list(parts)
        )
    };
    match p {
        SplitSetProblem::LonePart { total, missing: m, .. }
        | SplitSetProblem::Missing { total, missing: m, .. } => missing(m, *total),
        SplitSetProblem::DifferentSets { .. } => {
            "These .swm files belong to different split WIM sets. Choose the parts of one set."
                .into()
        }
        SplitSetProblem::CountsDisagree { .. } => {
            "These .swm files do not agree on how many parts their set has: they are damaged or from different sets.".into()
        }
        SplitSetProblem::Twice { .. } => {
            "The same part of the split WIM set was chosen twice.".into()
        }
    }
}

/// True when nothing a cancelled job wrote is left in `dir`: no `*.partial` file and none of
/// `outputs` (a job can finish in the worker just before the cancel lands).
async fn nothing_left(dir: &web_sys::FileSystemDirectoryHandle, outputs: &[String]) -> bool {
    let keys = dir.keys();
    loop {
        let Ok(p) = keys.next() else { return false };
        let Ok(r) = wasm_bindgen_futures::JsFuture::from(p).await else {
            return false;
        };
        let get = |k: &str| js_sys::Reflect::get(&r, &k.into()).ok();
        if get("done").and_then(|v| v.as_bool()).unwrap_or(true) {
            return true;
        }
        if get("value")
            .and_then(|v| v.as_string())
            .is_some_and(|n| n.ends_with(crate::save::PARTIAL) || outputs.contains(&n))
        {
            return false;
        }
    }
}

/// What a job's result is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JobKind {
    /// Digests.
    Hash,
    /// Media inspection + evaluation.
    Inspect,
    /// Package verification.
    Package,
    /// Report export.
    Report,
    /// Patched WinRE.
    Patch,
    /// A listing for the file browser.
    List,
    /// One file extracted for download.
    Extract,
    /// A catalog file loaded without media, or the kept one checked at start.
    Catalog,
}

/// A shown error.
#[derive(Clone, PartialEq, Debug)]
pub struct Shown {
    /// What was being done.
    pub what: String,
    /// Plain words.
    pub plain: String,
    /// Technical detail.
    pub detail: String,
    /// The DISM hand-off script, when packages were refused (offered as a download).
    pub handoff: Option<String>,
}

/// Everything the page shows.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct State {
    /// Worker version once ready.
    pub ready: Option<String>,
    /// Jobs sent and not finished, oldest first (the worker runs them in order).
    pub jobs: Vec<(Job, JobKind)>,
    /// Last hash result.
    pub hash: Option<Hashed>,
    /// Last inspection, its verdicts and the catalog they rest on.
    pub media: Option<Inspected>,
    /// Package results, newest last.
    pub packages: Vec<PackageResult>,
    /// Last error.
    pub error: Option<Shown>,
    /// Names of the files chosen.
    pub files: Vec<String>,
    /// Last exported file (name, size).
    pub exported: Option<(String, u64)>,
    /// Last patch result.
    pub patched: Option<PatchResult>,
    /// A cancelled job's temporary output was cleaned up.
    pub cleaned: bool,
    /// Layers asked for by the last listing request.
    pub browse_pending: Vec<String>,
    /// The file browser's layers and their listing.
    pub browse: Option<(Vec<String>, Vec<Entry>)>,
    /// Last extracted file.
    pub extracted: Option<Extracted>,
    /// The catalog in use, once the worker has said.
    pub catalog: Option<CatalogAge>,
    /// Whether it is kept in this browser, or why a kept one was deleted.
    pub catalog_note: Option<String>,
}

/// Reducer actions.
pub enum Action {
    /// A worker event.
    Worker(Event),
    /// A job was started: id, label, kind, and the OPFS name of its output if it writes one.
    Started(u32, String, JobKind, Option<String>),
    /// Files were chosen.
    Chosen(Vec<String>),
    /// The user cancelled; the worker was replaced.
    Cancelled,
    /// Starting a job failed on the page.
    Failed(String),
    /// The built-in sample could not be loaded.
    SampleFailed(String),
    /// The error card was dismissed.
    Dismiss,
    /// Temporary output of a cancelled job was removed.
    Cleaned,
    /// A listing of these layers was asked for.
    Browsing(Vec<String>),
}

impl Reducible for State {
    type Action = Action;
    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Worker(Event::Ready { version }) => s.ready = Some(version),
            Action::Worker(Event::Progress {
                id,
                stage,
                done,
                total,
                mb_per_s,
            }) => {
                if let Some((job, _)) = s.jobs.iter_mut().find(|(j, _)| j.id == id) {
                    job.progress = Some((stage, done, total, mb_per_s));
                }
            }
            Action::Worker(Event::Result { id, result }) => {
                if s.finish(id).is_some() {
                    match result {
                        JobResult::Hashed(h) => s.hash = Some(h),
                        JobResult::Inspected(i) => {
                            s.take_catalog(&i.catalog);
                            s.media = Some(*i);
                        }
                        JobResult::Catalog(c) => s.take_catalog(&c),
                        JobResult::Package(p) => {
                            s.packages.retain(|q| q.file != p.file);
                            s.packages.push(*p);
                        }
                        JobResult::Listed { entries } => {
                            s.browse = Some((s.browse_pending.clone(), entries))
                        }
                        JobResult::Extracted(e) => s.extracted = Some(e),
                        JobResult::Report { .. } => {}
                    }
                }
            }
            Action::Worker(Event::Patched { id, result }) => {
                s.finish(id);
                s.patched = Some(*result);
            }
            Action::Worker(Event::Download { id, name, size, .. }) => {
                s.finish(id);
                s.exported = Some((name, size));
            }
            Action::Worker(Event::Error {
                id,
                kind,
                message,
                refusal,
                split_set,
                catalog_file,
                winre_group,
            }) => {
                let job = s.finish(id);
                let what = job
                    .as_ref()
                    .map(|(j, _)| format!("While {}", j.label))
                    .unwrap_or_default();
                let plain = match &refusal {
                    // The same reasons the CLI prints, and its hand-off script to download.
                    Some(r) => format!(
                        "mediaprep cannot apply these packages itself, so nothing was written: \
                         {}. DISM can: download the hand-off script.",
                        r.packages
                            .iter()
                            .map(|p| format!("{} ({})", p.name, p.reason))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    None if winre_group.is_some() => winre_group_words(winre_group.as_deref()),
                    None if catalog_file.is_some() => {
                        format!("This catalog file does not load, so it is not used: {message}")
                    }
                    None => explain(&kind, split_set.as_ref(), job.map(|(_, k)| k)),
                };
                s.error = Some(Shown {
                    what,
                    plain,
                    detail: format!("{kind}: {message}"),
                    handoff: refusal.map(|r| r.script),
                });
            }
            Action::Started(id, label, kind, output) => {
                s.error = None;
                if kind == JobKind::Patch {
                    // The new output replaces the last one (same name) or follows it.
                    s.patched = None;
                    s.cleaned = false;
                }
                s.jobs.push((
                    Job {
                        id,
                        label,
                        progress: None,
                        output,
                    },
                    kind,
                ));
            }
            Action::Chosen(names) => s.files = names,
            Action::Cancelled => {
                s.jobs.clear();
                s.ready = None;
                s.cleaned = false;
            }
            Action::Cleaned => s.cleaned = true,
            Action::Browsing(layers) => s.browse_pending = layers,
            Action::Failed(msg) => {
                s.error = Some(Shown {
                    what: String::new(),
                    plain: "The job could not start.".into(),
                    detail: msg,
                    handoff: None,
                })
            }
            Action::SampleFailed(detail) => {
                s.error = Some(Shown {
                    what: "While loading the sample media".into(),
                    plain: "The sample media could not be loaded.".into(),
                    detail,
                    handoff: None,
                })
            }
            Action::Dismiss => s.error = None,
        }
        Rc::new(s)
    }
}

impl State {
    /// The catalog part of an inspection or catalog job's result: the catalog in use, what
    /// became of a newly chosen file, and why it is not used when it does not load.
    fn take_catalog(&mut self, info: &CatalogInfo) {
        let age = &info.catalog;
        let note = info.catalog_kept.as_deref();
        let same = self.catalog.as_ref().map(|c| &c.source) == Some(&age.source);
        if note.is_some() || !same {
            self.catalog_note = note.map(str::to_string);
        }
        self.catalog = Some(age.clone());
        if let Some(problem) = &info.catalog_problem {
            let source = match &age.source {
                CatalogSource::File { name } => format!("file {name}"),
                CatalogSource::BuiltIn { .. } => "the built-in catalog".into(),
            };
            self.error = Some(Shown {
                what: "While loading a catalog file".into(),
                plain: format!(
                    "This catalog file does not load, so it is not used: {problem}. The page \
                     keeps using the last catalog that loaded ({source})."
                ),
                detail: format!("invalid: {problem}"),
                handoff: None,
            });
        }
    }

    fn finish(&mut self, id: u32) -> Option<(Job, JobKind)> {
        let i = self.jobs.iter().position(|(j, _)| j.id == id)?;
        Some(self.jobs.remove(i))
    }

    /// The editions (index, name) of the install.wim a patch of the install target would change:
    /// an ISO's `/sources/install.wim`, or an opened single-part WIM or ESD (as `service::run_patch` finds it).
    fn install_editions(&self) -> Vec<(u32, String)> {
        let Some(m) = &self.media else {
            return Vec::new();
        };
        let wims = &m.inspection.wims;
        let wim = match m.inspection.container.as_str() {
            "iso" => wims.iter().find(|w| w.path == "/sources/install.wim"),
            "wim" | "esd" if wims.len() == 1 && wims[0].part_count == 1 => wims.first(),
            _ => None,
        };
        wim.map(|w| {
            w.images
                .iter()
                .map(|img| (img.index, opt(&img.name)))
                .collect()
        })
        .unwrap_or_default()
    }

    /// The opened media is an ISO (the whole-media targets apply).
    fn media_is_iso(&self) -> bool {
        self.media
            .as_ref()
            .is_some_and(|m| m.inspection.container == "iso")
    }

    /// Size of the WinRE image for the partition check: the first one nested in an install
    /// image, or the opened file itself when its images are WinRE (the inspection's `role`).
    fn winre_size(&self) -> Option<u64> {
        let i = &self.media.as_ref()?.inspection;
        let wims = &i.wims;
        if let Some(r) = wims.iter().flat_map(|w| &w.winre).next() {
            return Some(r.size);
        }
        let lone_pe = i.container == "wim"
            && wims.len() == 1
            && wims[0].boot_index == 0
            && wims[0]
                .images
                .iter()
                .all(|img| img.role == ImageRole::Winre);
        lone_pe.then_some(i.size)
    }
}

/// What the page does with a chosen file, by its extension.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileRole {
    /// ISO, WIM, ESD or a .swm part.
    Media,
    /// .cab or .msu.
    Package,
    /// A Dynamic Update catalog (.json) that replaces the built-in one for the session.
    Catalog,
    /// Anything else: digests only.
    Other,
}

/// The page's `?today=YYYY-MM-DD` parameter: a documented test hook (docs/status.md #19) that
/// measures the catalog's age against that date instead of the clock. The worker validates it.
fn today_parameter() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get("today")
        .filter(|s| !s.is_empty())
}

/// Whether a choice of files holds a catalog.
fn list_had_catalog(names: &[String]) -> bool {
    names.iter().any(|n| role_of(n) == FileRole::Catalog)
}

/// Classify a file name.
pub fn role_of(name: &str) -> FileRole {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "iso" | "wim" | "esd" | "swm" => FileRole::Media,
        "cab" | "msu" => FileRole::Package,
        "json" => FileRole::Catalog,
        _ => FileRole::Other,
    }
}

/// After a job's result: a newly chosen catalog file that loaded becomes the last good one; one
/// that did not is dropped (the last good one stays). At start, the kept catalog the worker chose
/// is read from OPFS into memory as the last good one.
fn follow_catalog(
    result: &JobResult,
    chosen: &Rc<std::cell::RefCell<Option<File>>>,
    good: &Rc<std::cell::RefCell<Option<File>>>,
) {
    let info = match result {
        JobResult::Inspected(i) => &i.catalog,
        JobResult::Catalog(c) => &**c,
        _ => return,
    };
    let name = match &info.catalog.source {
        CatalogSource::File { name } => name.clone(),
        CatalogSource::BuiltIn { .. } => String::new(),
    };
    let used = info.catalog_use;
    if used == CatalogUse::File && chosen.borrow().as_ref().is_some_and(|f| f.name() == name) {
        *good.borrow_mut() = chosen.borrow_mut().take();
    } else if info.catalog_problem.is_some() {
        chosen.borrow_mut().take();
    }
    if info.kept_at_start && used == CatalogUse::Fallback {
        let good = good.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match kept_file(&name).await {
                Ok(f) => {
                    // A file chosen meanwhile wins over the kept one.
                    good.borrow_mut().get_or_insert(f);
                }
                Err(e) => web_sys::console::error_1(&e),
            }
        });
    }
}

/// The kept catalog's bytes from OPFS, in memory, under the name it was loaded with (the OPFS
/// file may be replaced later by a newer kept catalog; a `File` snapshot of it would then fail).
async fn kept_file(name: &str) -> Result<File, wasm_bindgen::JsValue> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let dir = crate::save::opfs_root()
        .await
        .map_err(|e| wasm_bindgen::JsValue::from_str(&e.to_string()))?;
    let fh: web_sys::FileSystemFileHandle = JsFuture::from(dir.get_file_handle(crate::kept::BYTES))
        .await?
        .unchecked_into();
    let file: File = JsFuture::from(fh.get_file()).await?.unchecked_into();
    let bytes = js_sys::Uint8Array::new(&JsFuture::from(file.array_buffer()).await?);
    File::new_with_u8_array_sequence(&js_sys::Array::of1(&bytes), name)
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(State::default);
    let client = use_mut_ref(|| None::<Rc<WorkerClient>>);
    let media_files = use_mut_ref(Vec::<File>::new);
    // A catalog file just chosen, until a job says whether it loads; then the last catalog file
    // that loaded (this visit's, or the one kept by an earlier visit), sent with every inspection.
    let chosen_catalog = use_mut_ref(|| Option::<File>::None);
    let good_catalog = use_mut_ref(|| Option::<File>::None);
    let package_files = use_mut_ref(Vec::<File>::new);
    let generation = use_state(|| 0u32);

    {
        let dispatcher = state.dispatcher();
        let client = client.clone();
        let (chosen_catalog, good_catalog) = (chosen_catalog.clone(), good_catalog.clone());
        use_effect_with(*generation, move |_| {
            let on_event: Rc<dyn Fn(Event, Option<js_sys::Uint8Array>)> =
                Rc::new(move |ev, bytes| {
                    if let (Event::Download { name, mime, .. }, Some(b)) = (&ev, &bytes) {
                        if let Err(e) = crate::download::offer(b, name, mime) {
                            web_sys::console::error_1(&e);
                        }
                    }
                    if let Event::Result { result, .. } = &ev {
                        follow_catalog(result, &chosen_catalog, &good_catalog);
                    }
                    dispatcher.dispatch(Action::Worker(ev))
                });
            match WorkerClient::spawn(on_event) {
                Ok(c) => *client.borrow_mut() = Some(c),
                Err(e) => web_sys::console::error_1(&e),
            }
            move || {
                if let Some(c) = client.borrow_mut().take() {
                    c.terminate();
                }
            }
        });
    }

    let start = {
        let state = state.clone();
        let client = client.clone();
        Callback::from(
            move |(request, files, label, kind): (Request, Vec<File>, String, JobKind)| {
                let Some(c) = client.borrow().clone() else {
                    state.dispatch(Action::Failed("the engine is still starting".into()));
                    return;
                };
                let output = match &request {
                    Request::Patch { out_name, .. } => Some(out_name.clone()),
                    _ => None,
                };
                match c.send(request, &files) {
                    Ok(id) => state.dispatch(Action::Started(id, label, kind, output)),
                    Err(e) => state.dispatch(Action::Failed(format!("{e:?}"))),
                }
            },
        )
    };

    {
        // Once per visit: the catalog kept by an earlier one is used, or deleted with the reason.
        let start = start.clone();
        use_effect_with((), move |_| {
            start.emit((
                Request::KeptCatalog {
                    today: today_parameter(),
                },
                Vec::new(),
                "checking the catalog kept in this browser".into(),
                JobKind::Catalog,
            ));
        });
    }

    let on_files = {
        let state = state.clone();
        let media_files = media_files.clone();
        let chosen_catalog = chosen_catalog.clone();
        let good_catalog = good_catalog.clone();
        let package_files = package_files.clone();
        let start = start.clone();
        Callback::from(move |list: Vec<File>| {
            let names_chosen: Vec<String> = list.iter().map(|f| f.name()).collect();
            state.dispatch(Action::Chosen(names_chosen.clone()));
            let (mut media, mut packages, mut other) = (Vec::new(), Vec::new(), Vec::new());
            for f in list {
                match role_of(&f.name()) {
                    FileRole::Media => media.push(f),
                    FileRole::Package => packages.push(f),
                    FileRole::Catalog => *chosen_catalog.borrow_mut() = Some(f),
                    FileRole::Other => other.push(f),
                }
            }
            let new_catalog = list_had_catalog(&names_chosen);
            if media.is_empty() && new_catalog {
                // A catalog alone re-evaluates the media already open.
                media = media_files.borrow().clone();
            }
            let chosen = new_catalog
                .then(|| chosen_catalog.borrow().clone())
                .flatten();
            let good = good_catalog.borrow().clone();
            let (with_catalog, fallback) = (chosen.is_some(), good.is_some());
            let catalogs = chosen.into_iter().chain(good);
            if !media.is_empty() {
                let names = media.iter().map(File::name).collect::<Vec<_>>().join(", ");
                *media_files.borrow_mut() = media.clone();
                media.extend(catalogs);
                start.emit((
                    Request::Inspect {
                        today: today_parameter(),
                        catalog: with_catalog,
                        fallback,
                    },
                    media,
                    format!("opening {names}"),
                    JobKind::Inspect,
                ));
            } else if with_catalog {
                // No media yet: load the catalog now, so the page says at once whether it is used.
                start.emit((
                    Request::Catalog {
                        today: today_parameter(),
                        catalog: true,
                        fallback,
                    },
                    catalogs.collect(),
                    "loading the catalog file".into(),
                    JobKind::Catalog,
                ));
            }
            if !packages.is_empty() {
                let mut kept = package_files.borrow_mut();
                kept.retain(|k| !packages.iter().any(|p| p.name() == k.name()));
                kept.extend(packages.iter().cloned());
            }
            for p in packages {
                let label = format!("verifying {}", p.name());
                start.emit((Request::Package, vec![p], label, JobKind::Package));
            }
            for f in other {
                let label = format!("hashing {}", f.name());
                start.emit((
                    Request::Hash { slice_mib: 8 },
                    vec![f],
                    label,
                    JobKind::Hash,
                ));
            }
        })
    };

    let on_hash_media = {
        let start = start.clone();
        let media_files = media_files.clone();
        Callback::from(move |_| {
            let files = media_files.borrow().clone();
            if let Some(f) = files.first() {
                let label = format!("hashing {}", f.name());
                start.emit((Request::Hash { slice_mib: 8 }, files, label, JobKind::Hash));
            }
        })
    };

    let on_cancel = {
        let state = state.clone();
        let generation = generation.clone();
        let client = client.clone();
        Callback::from(move |_| {
            // Stop the job now (a synchronous job reads no messages); the effect then starts a
            // fresh worker for the next job.
            if let Some(c) = client.borrow().as_ref() {
                c.terminate();
            }
            let outputs: Vec<String> = state
                .jobs
                .iter()
                .filter_map(|(j, _)| j.output.clone())
                .collect();
            let usb_job = outputs.iter().any(|o| o == crate::usb::JOB_NAME);
            state.dispatch(Action::Cancelled);
            generation.set(*generation + 1);
            // The terminated worker releases its OPFS handle a moment later; then its
            // temporary output (and its output, had it just finished) can go.
            let dispatcher = state.dispatcher();
            wasm_bindgen_futures::spawn_local(async move {
                if usb_job {
                    yew::platform::time::sleep(std::time::Duration::from_millis(200)).await;
                    crate::usb::clean_after_cancel().await;
                }
                for _ in 0..25 {
                    yew::platform::time::sleep(std::time::Duration::from_millis(200)).await;
                    if let Ok(dir) = crate::save::opfs_root().await {
                        for name in &outputs {
                            crate::save::remove(&dir, name).await;
                        }
                        if crate::save::sweep_partials(&dir).await.is_ok()
                            && nothing_left(&dir, &outputs).await
                        {
                            dispatcher.dispatch(Action::Cleaned);
                            return;
                        }
                    }
                }
            });
        })
    };

    let on_patch = {
        let start = start.clone();
        let media_files = media_files.clone();
        let package_files = package_files.clone();
        Callback::from(move |(target, indices): (PatchTarget, Vec<u32>)| {
            let media = media_files.borrow().clone();
            let mut files = media.clone();
            files.extend(package_files.borrow().iter().cloned());
            let (out_name, label) = match target {
                PatchTarget::Winre => ("winre-patched.wim", "patching WinRE"),
                PatchTarget::Install => ("install-patched.wim", "patching install.wim"),
                PatchTarget::Setup => ("setup-du-sources.zip", "expanding the Setup DU"),
                PatchTarget::Iso => ("media-patched.iso", "writing the patched ISO"),
                PatchTarget::Folder => (crate::usb::JOB_NAME, "writing the USB folder"),
            };
            let request = Request::Patch {
                media: media.len() as u32,
                out_name: out_name.into(),
                target,
                indices,
            };
            start.emit((request, files, label.into(), JobKind::Patch));
        })
    };

    let on_list = {
        let (start, state) = (start.clone(), state.clone());
        let media_files = media_files.clone();
        Callback::from(move |layers: Vec<String>| {
            state.dispatch(Action::Browsing(layers.clone()));
            let files = media_files.borrow().clone();
            start.emit((
                Request::List { layers },
                files,
                "listing files".into(),
                JobKind::List,
            ));
        })
    };
    let on_extract = {
        let start = start.clone();
        let media_files = media_files.clone();
        Callback::from(move |layers: Vec<String>| {
            let files = media_files.borrow().clone();
            start.emit((
                Request::Extract { layers },
                files,
                "extracting a file".into(),
                JobKind::Extract,
            ));
        })
    };

    let on_export = {
        let state = state.clone();
        let start = start.clone();
        Callback::from(move |format: ReportFormat| {
            let media = state.media.as_ref();
            let session = Session {
                generated: String::from(js_sys::Date::new_0().to_iso_string()),
                inspection: media.map(|m| m.inspection.clone()),
                evaluation: media.map(|m| m.evaluation.clone()),
                packages: state.packages.clone(),
                catalog: media.map(|m| m.catalog.catalog.clone()),
            };
            let label = format!("exporting {}", format.file().0);
            start.emit((
                Request::Report { format, session },
                Vec::new(),
                label,
                JobKind::Report,
            ));
        })
    };

    let on_export_catalog = {
        let start = start.clone();
        let good_catalog = good_catalog.clone();
        Callback::from(move |_: MouseEvent| {
            start.emit((
                Request::ExportCatalog,
                good_catalog.borrow().iter().cloned().collect(),
                "exporting the catalog".into(),
                JobKind::Report,
            ));
        })
    };

    let on_sample_error = {
        let state = state.clone();
        Callback::from(move |e: String| state.dispatch(Action::SampleFailed(e)))
    };

    let on_dismiss = {
        let state = state.clone();
        Callback::from(move |_| state.dispatch(Action::Dismiss))
    };

    let media = state.media.clone();
    let have_session = media.is_some() || !state.packages.is_empty();
    html! {
        <div class="app">
            <header class="top">
                <h1>{"mediaprep"}</h1>
                <span class="privacy" id="privacy">{"Runs entirely in this tab: no file or data leaves your machine."}</span>
                <span class="muted" id="worker-status">
                    { match &state.ready { Some(v) => format!("engine {v} ready"), None => "starting engine…".into() } }
                </span>
            </header>
            <main>
                <UpdateBanner />
                <OpenPanel on_files={on_files} on_error={on_sample_error} compact={media.is_some()} />
                if !state.files.is_empty() {
                    <p class="muted" id="chosen">{ format!("Opened: {}", state.files.join(", ")) }</p>
                }
                <CatalogBar catalog={state.catalog.clone()} note={state.catalog_note.clone()}
                    on_export={on_export_catalog} busy={!state.jobs.is_empty()} />
                if let Some((job, _)) = state.jobs.first() {
                    <JobProgress job={job.clone()} queued={state.jobs.len() - 1} on_cancel={on_cancel} />
                }
                if let Some(e) = &state.error {
                    <ErrorCard what={e.what.clone()} plain={e.plain.clone()} detail={e.detail.clone()}
                        handoff={e.handoff.clone()} on_close={on_dismiss} />
                }
                if let Some(m) = &media {
                    <Summary inspection={m.inspection.clone()} evaluation={m.evaluation.clone()} catalog={Some(m.catalog.catalog.clone())}
                        packages={state.packages.clone()} busy={!state.jobs.is_empty()} on_patch={on_patch.clone()} />
                }
                if media.is_some() && state.packages.iter().any(|p| p.verification.ok) {
                    <PatchPanel on_patch={on_patch} busy={!state.jobs.is_empty()}
                        result={state.patched.clone()} cleaned={state.cleaned}
                        editions={state.install_editions()} iso={state.media_is_iso()} />
                }
                if let Some(h) = &state.hash {
                    <HashCard result={h.clone()} />
                }
                if let Some(m) = &media {
                    <UpdatesView evaluation={m.evaluation.clone()} catalog={Some(m.catalog.catalog.clone())}
                        winre_size={state.winre_size()} />
                    <MediaView inspection={m.inspection.clone()} on_hash={on_hash_media} />
                }
                { for state.packages.iter().map(|p| html! { <PackageView result={p.clone()} /> }) }
                if media.is_some() {
                    <BrowseView layers={state.browse.as_ref().map(|b| b.0.clone()).unwrap_or_default()}
                        entries={state.browse.as_ref().map(|b| b.1.clone())}
                        on_list={on_list} on_extract={on_extract}
                        extracted={state.extracted.clone()} busy={!state.jobs.is_empty()} />
                }
                if have_session {
                    <ReportPanel on_export={on_export} last={state.exported.clone()} />
                }
            </main>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_routed_by_extension() {
        assert_eq!(role_of("Win11_24H2.ISO"), FileRole::Media);
        assert_eq!(role_of("install2.swm"), FileRole::Media);
        assert_eq!(role_of("windows11.0-kb5079471-x64.cab"), FileRole::Package);
        assert_eq!(role_of("x.msu"), FileRole::Package);
        assert_eq!(role_of("notes.txt"), FileRole::Other);
        assert_eq!(role_of("noext"), FileRole::Other);
        assert_eq!(role_of("catalog-2026.12.json"), FileRole::Catalog);
    }

    #[test]
    fn split_set_errors_in_plain_words() {
        let lone = SplitSetProblem::LonePart {
            part: 1,
            total: 5,
            missing: vec![2, 3, 4, 5],
        };
        let words = explain("not-found", Some(&lone), Some(JobKind::Inspect));
        assert!(
            words.starts_with("Parts 2, 3, 4 and 5 of 5 of this split WIM (.swm) set are missing."),
            "{words}"
        );
        let gap = SplitSetProblem::Missing {
            missing: vec![3],
            total: 5,
            guid: "00ff".into(),
        };
        let words = explain("not-found", Some(&gap), Some(JobKind::Inspect));
        assert!(
            words.starts_with("Part 3 of 5 of this split WIM (.swm) set is missing."),
            "{words}"
        );
        assert!(words.contains("all 5 parts"), "{words}");
        let gaps = SplitSetProblem::Missing {
            missing: vec![2, 4],
            total: 5,
            guid: "00ff".into(),
        };
        assert!(explain("not-found", Some(&gaps), None).starts_with("Parts 2 and 4 of 5 "));
        let mixed = SplitSetProblem::DifferentSets {
            first: "01".into(),
            other: "02".into(),
        };
        assert!(explain("invalid", Some(&mixed), None).contains("different split WIM sets"));
        // Other errors keep their words.
        assert!(explain("invalid", None, Some(JobKind::Inspect)).contains("not a Windows ISO"));
        // The engine's message still names the parts, for the technical detail.
        assert!(mediaprep_core::Error::SplitSet(gap)
            .to_string()
            .contains("part 3 of 5"));
    }

    /// A page with one job of `kind` running.
    fn started(id: u32, kind: JobKind) -> Rc<State> {
        Rc::new(State::default()).reduce(Action::Started(id, "a job".into(), kind, None))
    }

    /// An inspection of nothing, under the built-in catalog.
    fn tests_inspected() -> Inspected {
        use crate::protocol::Held;
        use mediaprep_core::catalog::{Catalog, Date, Evaluation};
        let cat = Catalog::embedded().unwrap();
        let today = Date::new(2026, 12, 3).unwrap();
        Inspected {
            catalog: CatalogInfo {
                catalog: CatalogAge::new(&cat, CatalogSource::built_in(), today).unwrap(),
                catalog_use: CatalogUse::BuiltIn,
                catalog_problem: None,
                catalog_kept: None,
                kept_at_start: false,
            },
            inspection: Held::new(mediaprep_core::media::Inspection {
                schema: 1,
                file: "x.iso".into(),
                size: 0,
                container: "iso".into(),
                iso: None,
                wims: Vec::new(),
            }),
            evaluation: Held::new(Evaluation {
                catalog_version: cat.version.clone(),
                findings: Vec::new(),
                recommendations: Vec::new(),
                procedure: Vec::new(),
                notes: Vec::new(),
            }),
        }
    }

    #[test]
    fn a_catalog_problem_keeps_the_last_catalog_and_says_which() {
        let mut bad = tests_inspected().catalog;
        bad.catalog_problem = Some("catalog file bad.json: $.updates[0].revison".into());
        bad.catalog.source = CatalogSource::File {
            name: "b.json".into(),
        };
        let s = started(2, JobKind::Catalog).reduce(Action::Worker(Event::Result {
            id: 2,
            result: JobResult::Catalog(Box::new(bad)),
        }));
        assert!(s.jobs.is_empty());
        assert_eq!(
            s.catalog.as_ref().map(|c| c.source.describe()),
            Some(
                CatalogSource::File {
                    name: "b.json".into()
                }
                .describe()
            )
        );
        let e = s.error.clone().unwrap();
        assert!(
            e.plain.contains("file b.json") && e.plain.contains("revison"),
            "{}",
            e.plain
        );
    }

    #[test]
    fn an_error_finishes_its_job_and_keeps_results() {
        let s = Rc::new(State {
            media: Some(tests_inspected()),
            ..State::default()
        });
        let s = s.reduce(Action::Started(
            4,
            "opening bad.iso".into(),
            JobKind::Inspect,
            None,
        ));
        let s = s.reduce(Action::Worker(Event::Error {
            id: 4,
            kind: "malformed".into(),
            message: "no volume descriptor".into(),
            refusal: None,
            split_set: None,
            catalog_file: None,
            winre_group: None,
        }));
        assert!(s.jobs.is_empty());
        assert!(s.media.is_some(), "earlier results stay");
        let e = s.error.clone().unwrap();
        assert_eq!(e.what, "While opening bad.iso");
        assert!(e.plain.contains("not a Windows ISO"), "{}", e.plain);
        assert!(e.detail.contains("no volume descriptor"));
    }

    #[test]
    fn editions_whose_winre_cannot_be_serviced_are_named() {
        let g = crate::protocol::WinreGroupProblem {
            editions: vec![3, 4],
            reason: "unsupported: the Safe OS Dynamic Update is for build 26100 but image 1 is \
                     build 22621"
                .into(),
        };
        let w = winre_group_words(Some(&g));
        assert!(w.contains("editions 3 and 4"), "{w}");
        assert!(w.contains("build 22621"), "{w}");
        assert!(w.contains("nothing was written"), "{w}");
    }

    #[test]
    fn a_catalog_file_that_does_not_load_is_said_so_from_the_typed_error() {
        let err = mediaprep_core::Error::CatalogFile {
            name: "bad.json".into(),
            problems: vec!["$.updates[0].revison: unknown field".into()],
        };
        let s = started(6, JobKind::Report).reduce(Action::Worker(Event::Error {
            id: 6,
            kind: err.kind().into(),
            message: err.to_string(),
            refusal: None,
            split_set: None,
            catalog_file: Some("bad.json".into()),
            winre_group: None,
        }));
        let e = s.error.clone().unwrap();
        assert!(
            e.plain
                .starts_with("This catalog file does not load, so it is not used: ")
                && e.plain.contains("bad.json")
                && e.plain.contains("$.updates[0].revison"),
            "{}",
            e.plain
        );
        // The same words without the typed field are not read as a catalog error.
        let s = started(7, JobKind::Report).reduce(Action::Worker(Event::Error {
            id: 7,
            kind: "invalid".into(),
            message: err.to_string(),
            refusal: None,
            split_set: None,
            catalog_file: None,
            winre_group: None,
        }));
        assert!(!s
            .error
            .clone()
            .unwrap()
            .plain
            .starts_with("This catalog file"));
    }

    #[test]
    fn a_refusal_gives_the_reasons_and_keeps_the_handoff_script() {
        use mediaprep_core::error::{Refusal, RefusedPackage};
        let s = Rc::new(State::default()).reduce(Action::Started(
            5,
            "patching WinRE".into(),
            JobKind::Patch,
            Some("winre-patched.wim".into()),
        ));
        let refusal = Refusal {
            packages: vec![RefusedPackage {
                name: "safeos-du-psf.cab".into(),
                reason: "PSFX payloads need DISM".into(),
            }],
            notes: Vec::new(),
            script: "dism /Add-Package ...".into(),
        };
        let s = s.reduce(Action::Worker(Event::Error {
            id: 5,
            kind: "refused".into(),
            message: refusal.to_string(),
            refusal: Some(refusal.clone()),
            split_set: None,
            catalog_file: None,
            winre_group: None,
        }));
        let e = s.error.clone().unwrap();
        assert!(
            e.plain
                .contains("safeos-du-psf.cab (PSFX payloads need DISM)"),
            "{}",
            e.plain
        );
        assert_eq!(e.handoff.as_deref(), Some("dism /Add-Package ..."));
        assert!(s.patched.is_none() && s.jobs.is_empty());
        // The event survives the trip through the protocol's JSON.
        let json = serde_json::to_string(&Event::Error {
            id: 5,
            kind: "refused".into(),
            message: String::new(),
            refusal: Some(refusal.clone()),
            split_set: None,
            catalog_file: None,
            winre_group: None,
        })
        .unwrap();
        match serde_json::from_str::<Event>(&json).unwrap() {
            Event::Error { refusal: r, .. } => assert_eq!(r, Some(refusal)),
            other => panic!("{other:?}"),
        }
    }
}
