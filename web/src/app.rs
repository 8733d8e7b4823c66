//! The Yew app: open files, watch jobs, see results. Small function components, one per view.

use crate::client::WorkerClient;
use crate::protocol::{Event, Request};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{DragEvent, File, HtmlInputElement};
use yew::prelude::*;

/// A job the page is waiting on.
#[derive(Clone, PartialEq, Debug)]
pub struct Job {
    /// Job id.
    pub id: u32,
    /// What it does, in words.
    pub label: String,
    /// Stage, bytes done, total, MB/s.
    pub progress: Option<(String, u64, u64, f64)>,
}

/// Everything the page shows.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct State {
    /// Worker version once ready.
    pub ready: Option<String>,
    /// Running job.
    pub job: Option<Job>,
    /// Last hash result.
    pub hash: Option<serde_json::Value>,
    /// Last inspection result.
    pub inspection: Option<serde_json::Value>,
    /// Last error: (plain message, detail).
    pub error: Option<(String, String)>,
    /// Names of the files chosen.
    pub files: Vec<String>,
}

/// Reducer actions.
pub enum Action {
    /// A worker event.
    Worker(Event),
    /// A job was started.
    Started(u32, String),
    /// Files were chosen.
    Chosen(Vec<String>),
    /// The user cancelled; the worker was replaced.
    Cancelled,
    /// Starting a job failed on the page.
    Failed(String),
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
                if let Some(job) = s.job.as_mut().filter(|j| j.id == id) {
                    job.progress = Some((stage, done, total, mb_per_s));
                }
            }
            Action::Worker(Event::Result { id, result }) => {
                let label = s.job.take().filter(|j| j.id == id).map(|j| j.label);
                if label.as_deref() == Some("hash") {
                    s.hash = Some(result);
                } else {
                    s.inspection = Some(result);
                }
            }
            Action::Worker(Event::Error { kind, message, .. }) => {
                s.job = None;
                s.error = Some((plain_words(&kind), message));
            }
            Action::Started(id, label) => {
                s.error = None;
                s.job = Some(Job {
                    id,
                    label,
                    progress: None,
                });
            }
            Action::Chosen(names) => s.files = names,
            Action::Cancelled => {
                s.job = None;
                s.ready = None;
            }
            Action::Failed(msg) => s.error = Some(("The job could not start.".into(), msg)),
        }
        Rc::new(s)
    }
}

/// What an error kind means for a technician.
pub fn plain_words(kind: &str) -> String {
    match kind {
        "malformed" | "truncated" => {
            "This file is damaged or is not the kind of file it looks like."
        }
        "codec" => "Compressed data inside this file is damaged.",
        "digest-mismatch" => "A checksum does not match: the file is corrupt or was altered.",
        "unsupported" => "This file uses a feature mediaprep does not handle yet.",
        "limit" => "This file declares sizes beyond mediaprep's safety limits.",
        "not-found" => "Something the job needs is missing from this file.",
        "invalid" => "The request or a name inside the file is not acceptable.",
        "io" => "Reading the file failed.",
        "cancelled" => "The job was cancelled.",
        _ => "Something went wrong.",
    }
    .to_string()
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(State::default);
    let client = use_mut_ref(|| None::<Rc<WorkerClient>>);
    let files = use_mut_ref(Vec::<File>::new);
    let generation = use_state(|| 0u32);

    {
        let dispatcher = state.dispatcher();
        let client = client.clone();
        use_effect_with(*generation, move |_| {
            let on_event: Rc<dyn Fn(Event)> =
                Rc::new(move |ev| dispatcher.dispatch(Action::Worker(ev)));
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
        let files = files.clone();
        Callback::from(move |(request, label): (Request, String)| {
            let Some(c) = client.borrow().clone() else {
                return;
            };
            match c.send(request, &files.borrow()) {
                Ok(id) => state.dispatch(Action::Started(id, label)),
                Err(e) => state.dispatch(Action::Failed(format!("{e:?}"))),
            }
        })
    };

    let on_files = {
        let state = state.clone();
        let files = files.clone();
        let start = start.clone();
        Callback::from(move |list: Vec<File>| {
            state.dispatch(Action::Chosen(list.iter().map(|f| f.name()).collect()));
            *files.borrow_mut() = list;
            start.emit((Request::Hash { slice_mib: 8 }, "hash".into()));
        })
    };

    let on_cancel = {
        let state = state.clone();
        let generation = generation.clone();
        Callback::from(move |_| {
            state.dispatch(Action::Cancelled);
            generation.set(*generation + 1);
        })
    };

    let on_inspect = {
        let start = start.clone();
        Callback::from(move |_| start.emit((Request::Inspect, "inspect".into())))
    };

    html! {
        <div class="app">
            <header class="top">
                <h1>{"mediaprep"}</h1>
                <span class="privacy" id="privacy">{"Runs entirely in this tab: no file or data leaves your machine."}</span>
                <span class="muted" id="worker-status">
                    { match &state.ready { Some(v) => format!("engine {v} ready"), None => "starting engine…".into() } }
                </span>
            </header>
            <OpenPanel on_files={on_files} />
            if !state.files.is_empty() {
                <p class="muted" id="chosen">{ format!("Opened: {}", state.files.join(", ")) }</p>
            }
            if let Some(job) = &state.job {
                <JobProgress job={job.clone()} on_cancel={on_cancel} />
            }
            if let Some((plain, detail)) = &state.error {
                <ErrorCard plain={plain.clone()} detail={detail.clone()} />
            }
            if let Some(h) = &state.hash {
                <HashCard result={h.clone()} on_inspect={on_inspect} />
            }
            if let Some(i) = &state.inspection {
                <div class="card" id="inspection"><h2>{"Inside this media"}</h2>
                    <pre class="mono">{ serde_json::to_string_pretty(i).unwrap_or_default() }</pre></div>
            }
        </div>
    }
}

/// Props of [`OpenPanel`].
#[derive(Properties, PartialEq)]
pub struct OpenProps {
    /// Called with the files chosen or dropped.
    pub on_files: Callback<Vec<File>>,
}

/// Drop zone plus file button; several files at once (ISO + packages, .swm sets).
#[function_component(OpenPanel)]
pub fn open_panel(props: &OpenProps) -> Html {
    let over = use_state(|| false);
    let onchange = {
        let cb = props.on_files.clone();
        Callback::from(move |e: web_sys::Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Some(list) = input.files() {
                let files = (0..list.length())
                    .filter_map(|i| list.get(i))
                    .collect::<Vec<_>>();
                if !files.is_empty() {
                    cb.emit(files);
                }
            }
            input.set_value("");
        })
    };
    let ondrop = {
        let cb = props.on_files.clone();
        let over = over.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            over.set(false);
            if let Some(list) = e.data_transfer().and_then(|d| d.files()) {
                let files = (0..list.length())
                    .filter_map(|i| list.get(i))
                    .collect::<Vec<_>>();
                if !files.is_empty() {
                    cb.emit(files);
                }
            }
        })
    };
    let ondragover = {
        let over = over.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            over.set(true);
        })
    };
    let ondragleave = {
        let over = over.clone();
        Callback::from(move |_: DragEvent| over.set(false))
    };
    html! {
        <section class={classes!("drop", (*over).then_some("over"))} {ondrop} {ondragover} {ondragleave}
                 aria-label="Open files">
            <p>{"Drop an ISO, WIM, ESD or .swm set, and update packages (.cab, .msu) here, or "}</p>
            <label class="button" for="file-input">{"Choose files…"}</label>
            <input id="file-input" class="sr-only" type="file" multiple=true {onchange}
                   accept=".iso,.wim,.esd,.swm,.cab,.msu" />
        </section>
    }
}

/// Props of [`JobProgress`].
#[derive(Properties, PartialEq)]
pub struct JobProps {
    /// The job.
    pub job: Job,
    /// Cancel button.
    pub on_cancel: Callback<MouseEvent>,
}

/// Progress bar with percent, MB/s and ETA, and a cancel button.
#[function_component(JobProgress)]
pub fn job_progress(props: &JobProps) -> Html {
    let (stage, done, total, rate) = props
        .job
        .progress
        .clone()
        .unwrap_or_else(|| ("starting".into(), 0, 0, 0.0));
    let pct = if total > 0 {
        done as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let eta = if rate > 0.0 && total > done {
        format!(", about {:.0} s left", (total - done) as f64 / 1e6 / rate)
    } else {
        String::new()
    };
    html! {
        <div class="card" id="job" aria-live="polite">
            <h2>{ format!("Working: {}", props.job.label) }</h2>
            <progress id="job-progress" max="100" value={format!("{pct:.1}")}></progress>
            <p class="muted">{ format!("{stage}: {pct:.0}% · {rate:.0} MB/s{eta}") }</p>
            <button class="secondary" id="cancel" onclick={props.on_cancel.clone()}>{"Cancel"}</button>
        </div>
    }
}

/// Props of [`ErrorCard`].
#[derive(Properties, PartialEq)]
pub struct ErrorProps {
    /// Plain words.
    pub plain: String,
    /// Technical detail.
    pub detail: String,
}

/// An error in words a technician understands, with the detail folded below.
#[function_component(ErrorCard)]
pub fn error_card(props: &ErrorProps) -> Html {
    html! {
        <div class="card error" id="error" role="alert">
            <h2>{ props.plain.clone() }</h2>
            <details><summary>{"Technical detail"}</summary><p class="mono" id="error-detail">{ props.detail.clone() }</p></details>
        </div>
    }
}

/// Props of [`HashCard`].
#[derive(Properties, PartialEq)]
pub struct HashProps {
    /// The hash job result.
    pub result: serde_json::Value,
    /// Inspect button.
    pub on_inspect: Callback<MouseEvent>,
}

/// Digests of the opened file.
#[function_component(HashCard)]
pub fn hash_card(props: &HashProps) -> Html {
    let r = &props.result;
    let get = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    html! {
        <div class="card" id="hash-card">
            <h2>{ format!("{} ({} bytes)", get("name"), r.get("size").and_then(|v| v.as_u64()).unwrap_or(0)) }</h2>
            <table>
                <tr><th scope="row">{"SHA-256"}</th><td><code id="sha256">{ get("sha256") }</code></td></tr>
                <tr><th scope="row">{"SHA-1"}</th><td><code id="sha1">{ get("sha1") }</code></td></tr>
            </table>
            <p><button id="inspect" onclick={props.on_inspect.clone()}>{"Inspect contents"}</button></p>
        </div>
    }
}

/// Read the files of an `<input type=file>` change event (used by tests too).
pub fn files_of(input: &web_sys::EventTarget) -> Vec<File> {
    input
        .dyn_ref::<HtmlInputElement>()
        .and_then(|i| i.files())
        .map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
        .unwrap_or_default()
}
