//! Pieces every flow uses: the open panel, job progress, error card, digest card.

use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{DragEvent, File, HtmlInputElement};
use yew::prelude::*;

/// Props of [`OpenPanel`].
#[derive(Properties, PartialEq)]
pub struct OpenProps {
    /// Called with the files chosen or dropped (or the sample's).
    pub on_files: Callback<Vec<File>>,
    /// The sample could not be loaded (the reason, technical).
    pub on_error: Callback<String>,
    /// Media is open: one short line, so the summary is in the first screen.
    #[prop_or_default]
    pub compact: bool,
}

fn files_of_list(list: Option<web_sys::FileList>) -> Vec<File> {
    list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
        .unwrap_or_default()
}

/// True when a drag carries files (not text or a link dragged inside the page).
fn drags_files(e: &web_sys::Event) -> bool {
    e.dyn_ref::<DragEvent>()
        .and_then(DragEvent::data_transfer)
        .is_some_and(|d| d.types().includes(&"Files".into(), 0))
}

/// Drop zone plus file button; several files at once (ISO + packages, .swm sets). Files dropped
/// anywhere on the page open like chosen ones: the window takes every file drag (so the browser
/// never navigates to a dropped file) and the whole page is highlighted while one is over it.
#[function_component(OpenPanel)]
pub fn open_panel(props: &OpenProps) -> Html {
    let over = use_state_eq(|| false);
    // The window's listeners live as long as the panel; they call the newest callback.
    let on_files = use_mut_ref(|| props.on_files.clone());
    *on_files.borrow_mut() = props.on_files.clone();
    {
        let (over, on_files) = (over.clone(), on_files.clone());
        use_effect_with((), move |_| {
            // dragenter/dragleave pair up per element crossed; the page is left when they even out.
            let depth = Rc::new(Cell::new(0i32));
            let handler = |f: Box<dyn Fn(&DragEvent)>| {
                Closure::<dyn Fn(web_sys::Event)>::new(move |e: web_sys::Event| {
                    if drags_files(&e) {
                        if let Some(d) = e.dyn_ref::<DragEvent>() {
                            f(d)
                        }
                    }
                })
            };
            let listeners = [
                ("dragenter", {
                    let (over, depth) = (over.clone(), depth.clone());
                    handler(Box::new(move |e| {
                        e.prevent_default();
                        depth.set(depth.get() + 1);
                        over.set(true);
                    }))
                }),
                ("dragover", {
                    let over = over.clone();
                    handler(Box::new(move |e| {
                        e.prevent_default();
                        if let Some(d) = e.data_transfer() {
                            d.set_drop_effect("copy");
                        }
                        over.set(true);
                    }))
                }),
                ("dragleave", {
                    let (over, depth) = (over.clone(), depth.clone());
                    handler(Box::new(move |_| {
                        depth.set((depth.get() - 1).max(0));
                        if depth.get() == 0 {
                            over.set(false);
                        }
                    }))
                }),
                ("drop", {
                    let (over, depth) = (over.clone(), depth.clone());
                    handler(Box::new(move |e| {
                        e.prevent_default();
                        depth.set(0);
                        over.set(false);
                        let files = files_of_list(e.data_transfer().and_then(|d| d.files()));
                        if !files.is_empty() {
                            on_files.borrow().emit(files);
                        }
                    }))
                }),
            ];
            let window = web_sys::window();
            if let Some(w) = &window {
                for (name, l) in &listeners {
                    let _ = w.add_event_listener_with_callback(name, l.as_ref().unchecked_ref());
                }
            }
            move || {
                if let Some(w) = &window {
                    for (name, l) in &listeners {
                        let _ =
                            w.remove_event_listener_with_callback(name, l.as_ref().unchecked_ref());
                    }
                }
            }
        });
    }
    let onchange = {
        let cb = props.on_files.clone();
        Callback::from(move |e: web_sys::Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let files = files_of_list(input.files());
            if !files.is_empty() {
                cb.emit(files);
            }
            input.set_value("");
        })
    };
    let loading = use_state(|| false);
    let on_sample = {
        let (cb, on_error, loading) = (
            props.on_files.clone(),
            props.on_error.clone(),
            loading.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let (cb, on_error, loading) = (cb.clone(), on_error.clone(), loading.clone());
            loading.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let res = crate::sample::load().await;
                loading.set(false);
                match res {
                    Ok(files) => cb.emit(files),
                    Err(e) => on_error.emit(e),
                }
            });
        })
    };
    html! {
        <section class={classes!("drop", (*over).then_some("over"), props.compact.then_some("compact"))} aria-label="Open files">
            if *over {
                <div class="drop-overlay" id="drop-overlay" aria-hidden="true"><p>{"Drop to open"}</p></div>
            }
            if props.compact {
                <label class="button" for="file-input">{"Open other files…"}</label>
                <input id="file-input" class="sr-only" type="file" multiple=true {onchange}
                       accept=".iso,.wim,.esd,.swm,.cab,.msu,.json" />
                <span class="muted drop-hint">{" or drop media, update packages or a catalog .json anywhere. "}</span>
                <button class="secondary small" id="sample-open" onclick={on_sample} disabled={*loading}>
                    { if *loading { "Loading the sample…" } else { "Try the sample media" } }
                </button>
            } else {
            <p>{"Drop an ISO, WIM, ESD or all parts of a .swm set, and update packages (.cab, .msu) anywhere on this page, or "}</p>
            <label class="button" for="file-input">{"Choose files…"}</label>
            <input id="file-input" class="sr-only" type="file" multiple=true {onchange}
                   accept=".iso,.wim,.esd,.swm,.cab,.msu,.json" />
            <p class="muted sample">
                {"No Windows media at hand? "}
                <button class="secondary" id="sample-open" onclick={on_sample} disabled={*loading}
                        aria-describedby="sample-about">
                    { if *loading { "Loading the sample…" } else { "Try the sample media" } }
                </button>
                <br />
                <span id="sample-about">{"A small generated ISO (about 10 MB, Windows-shaped but not Windows) and an update package for its WinRE, from this site: inspect, check, verify and patch without a 6 GB download."}</span>
            </p>
            }
        </section>
    }
}

/// A job the page is waiting on.
#[derive(Clone, PartialEq, Debug)]
pub struct Job {
    /// Job id.
    pub id: u32,
    /// What it does, in words.
    pub label: String,
    /// Stage, bytes done, total, MB/s.
    pub progress: Option<(String, u64, u64, f64)>,
    /// The OPFS name of what it writes, if anything (removed when it is cancelled).
    pub output: Option<String>,
}

/// Props of [`JobProgress`].
#[derive(Properties, PartialEq)]
pub struct JobProps {
    /// The job.
    pub job: Job,
    /// Jobs queued behind it.
    pub queued: usize,
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
    {
        // A background tab shows how far the job is; the page's own title comes back after it.
        let title = format!("{pct:.0}% {} · mediaprep", props.job.label);
        let doc = web_sys::window().and_then(|w| w.document());
        let original = use_memo((), {
            let doc = doc.clone();
            move |_| doc.map(|d| d.title()).unwrap_or_default()
        });
        use_effect_with(title, move |t| {
            if let Some(d) = &doc {
                d.set_title(t);
            }
            move || {
                if let Some(d) = web_sys::window().and_then(|w| w.document()) {
                    d.set_title(&original);
                }
            }
        });
    }
    let queued = if props.queued > 0 {
        format!(" ({} more queued)", props.queued)
    } else {
        String::new()
    };
    html! {
        <div class="card" id="job" aria-live="polite" data-stage={stage.clone()}
             data-done={done.to_string()} data-total={total.to_string()}>
            <h2>{ format!("Working: {}{queued}", props.job.label) }</h2>
            <progress id="job-progress" max="100" value={format!("{pct:.1}")} aria-label="Progress"></progress>
            <p class="muted">{ format!("{stage}: {pct:.0}% · {rate:.0} MB/s{eta}") }</p>
            <button class="secondary" id="cancel" onclick={props.on_cancel.clone()}>{"Cancel"}</button>
        </div>
    }
}

/// Props of [`ErrorCard`].
#[derive(Properties, PartialEq)]
pub struct ErrorProps {
    /// What was being done ("Opening x.iso").
    pub what: String,
    /// Plain words.
    pub plain: String,
    /// Technical detail.
    pub detail: String,
    /// A DISM hand-off script to offer as a download (packages were refused).
    #[prop_or_default]
    pub handoff: Option<String>,
    /// Dismiss.
    pub on_close: Callback<MouseEvent>,
}

/// An error in words a technician understands, with the detail folded below.
#[function_component(ErrorCard)]
pub fn error_card(props: &ErrorProps) -> Html {
    html! {
        <div class="card error" id="error" role="alert">
            <h2>{ props.plain.clone() }</h2>
            <p class="muted" id="error-what">{ props.what.clone() }</p>
            <details><summary>{"Technical detail"}</summary><p class="mono" id="error-detail">{ props.detail.clone() }</p></details>
            if let Some(script) = props.handoff.clone() {
                <button id="error-handoff" onclick={Callback::from(move |_: MouseEvent| {
                    let bytes = js_sys::Uint8Array::from(script.as_bytes());
                    if let Err(e) = crate::download::offer(&bytes, "handoff-dism.ps1", "text/plain") {
                        web_sys::console::error_1(&e);
                    }
                })}>{"Download the DISM hand-off script"}</button>
            }
            <button class="secondary" id="error-close" onclick={props.on_close.clone()}>{"Dismiss"}</button>
        </div>
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
        "refused" => "mediaprep cannot apply these packages itself; DISM can.",
        _ => "Something went wrong.",
    }
    .to_string()
}

/// Props of [`HashCard`].
#[derive(Properties, PartialEq)]
pub struct HashProps {
    /// The hash job result.
    pub result: crate::protocol::Hashed,
}

/// Digests of the opened file.
#[function_component(HashCard)]
pub fn hash_card(props: &HashProps) -> Html {
    let r = &props.result;
    let hex = mediaprep_core::hash::hex;
    html! {
        <div class="card" id="hash-card">
            <h2>{ format!("{} ({} bytes)", r.name, r.size) }</h2>
            <table>
                <tr><th scope="row">{"SHA-256"}</th><td><code id="sha256">{ hex(&r.sha256) }</code></td></tr>
                <tr><th scope="row">{"SHA-1"}</th><td><code id="sha1">{ hex(&r.sha1) }</code></td></tr>
            </table>
        </div>
    }
}

/// Read the files of an `<input type=file>` change event (used by tests too).
pub fn files_of(input: &web_sys::EventTarget) -> Vec<File> {
    files_of_list(input.dyn_ref::<HtmlInputElement>().and_then(|i| i.files()))
}
