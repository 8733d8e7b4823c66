//! Patch WinRE: run the servicing in the worker, then save the verified output.

use super::{human_size, list, num, text};
use crate::protocol::PatchTarget;
use serde_json::Value;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Props of [`PatchPanel`].
#[derive(Properties, PartialEq)]
pub struct PatchProps {
    /// Start patching: what to produce and, for install.wim, the editions (empty: all).
    pub on_patch: Callback<(PatchTarget, Vec<u32>)>,
    /// A job is running.
    pub busy: bool,
    /// Last result.
    pub result: Option<Value>,
    /// A cancelled patch's temporary file was removed.
    pub cleaned: bool,
}

/// Start button, then a result card with the output's size and SHA-256 and a save button.
#[function_component(PatchPanel)]
pub fn patch_panel(props: &PatchProps) -> Html {
    let on_save = {
        let name = props.result.as_ref().map(|r| text(r, "opfs"));
        Callback::from(move |_: MouseEvent| {
            if let Some(name) = name.clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(e) = crate::download::offer_opfs(&name).await {
                        web_sys::console::error_1(&e);
                    }
                });
            }
        })
    };
    let save_status = use_state(|| None::<String>);
    let on_save_as = {
        let name = props.result.as_ref().map(|r| text(r, "opfs"));
        let save_status = save_status.clone();
        Callback::from(move |_: MouseEvent| {
            let (Some(name), status) = (name.clone(), save_status.clone()) else {
                return;
            };
            wasm_bindgen_futures::spawn_local(async move {
                status.set(Some(save_as(&name).await));
            });
        })
    };
    let target = use_state(|| PatchTarget::Winre);
    let editions = use_state(String::new);
    let editions_error = use_state(|| None::<String>);
    let pick = |t: PatchTarget| {
        let target = target.clone();
        Callback::from(move |_: Event| target.set(t))
    };
    let on_editions = {
        let editions = editions.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(i) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                editions.set(i.value());
            }
        })
    };
    let on_start = {
        let (target, editions, editions_error) =
            (target.clone(), editions.clone(), editions_error.clone());
        let on_patch = props.on_patch.clone();
        Callback::from(move |_: MouseEvent| {
            let indices = if *target == PatchTarget::Install {
                match parse_editions(&editions) {
                    Ok(v) => v,
                    Err(m) => {
                        editions_error.set(Some(m));
                        return;
                    }
                }
            } else {
                Vec::new()
            };
            editions_error.set(None);
            on_patch.emit((*target, indices));
        })
    };
    let done = match props.result.as_ref() {
        Some(r) if r.get("setup").is_some() => "Setup DU expanded and verified",
        Some(r) if r.get("editions").is_some() => "install.wim patched and verified",
        _ => "WinRE patched and verified",
    };
    html! {
        <section class="card" id="patch-view" aria-labelledby="patch-title">
            <h2 id="patch-title">{"Patch the media"}</h2>
            <p class="muted">{"Adds the verified packages here in the browser: to WinRE on its own, to WinRE inside install.wim, or expands a Setup Dynamic Update for the media's sources folder. The output is written to this browser's private storage, checked, and then saved where you choose."}</p>
            <fieldset id="patch-target">
                <legend>{"Produce"}</legend>
                <label><input type="radio" name="patch-target" id="target-winre" checked={*target == PatchTarget::Winre}
                    onchange={pick(PatchTarget::Winre)} />{" a patched Winre.wim (recovery partition)"}</label>
                <label><input type="radio" name="patch-target" id="target-install" checked={*target == PatchTarget::Install}
                    onchange={pick(PatchTarget::Install)} />{" install.wim with the patched WinRE"}</label>
                <label><input type="radio" name="patch-target" id="target-setup" checked={*target == PatchTarget::Setup}
                    onchange={pick(PatchTarget::Setup)} />{r" the Setup DU's files for sources\ (ZIP)"}</label>
            </fieldset>
            if *target == PatchTarget::Install {
                <p class="row">
                    <label for="patch-editions">{"Editions (numbers, comma-separated; empty: all) "}</label>
                    <input id="patch-editions" type="text" inputmode="numeric" placeholder="all"
                        value={(*editions).clone()} oninput={on_editions} />
                </p>
            }
            if let Some(m) = &*editions_error {
                <p class="bad" id="patch-editions-error" role="alert">{ m.clone() }</p>
            }
            <button id="patch-start" disabled={props.busy} onclick={on_start}>{"Start"}</button>
            if props.cleaned {
                <p class="muted" id="patch-cleaned" role="status">{"Cancelled: the unfinished output was removed."}</p>
            }
            if let Some(r) = &props.result {
                <div id="patch-result" role="status">
                    <h3 class="ok">{ done }</h3>
                    <table>
                        <tr><th scope="row">{"From"}</th><td>{ text(r, "input") }</td></tr>
                        <tr><th scope="row">{"Size"}</th><td id="patch-size">{ format!("{} ({} bytes)", human_size(num(r, "size").unwrap_or(0)), num(r, "size").unwrap_or(0)) }</td></tr>
                        <tr><th scope="row">{"SHA-256"}</th><td><code id="patch-sha256">{ text(r, "sha256") }</code></td></tr>
                        { for r.get("outcome").map(|o| list(o, "images").to_vec()).unwrap_or_default().iter().map(|i| html! {
                            <tr><th scope="row">{ format!("WinRE image {}", text(i, "index")) }</th>
                                <td class="patch-version">{ format!("{} → {}", text(i, "version_before"), text(i, "version_after")) }</td></tr>
                        }) }
                        { for list(r, "editions").iter().map(|i| html! {
                            <tr class="patch-edition"><th scope="row">{ format!("Edition {}", text(i, "index")) }</th>
                                <td>{ if i.get("updated").and_then(Value::as_bool).unwrap_or(false) { "WinRE replaced" } else { "unchanged" } }</td></tr>
                        }) }
                        if let Some(files) = r.get("setup").map(|s| list(s, "files").to_vec()) {
                            <tr><th scope="row">{r"Files for sources\"}</th><td id="setup-count">{ files.len() }</td></tr>
                        }
                    </table>
                    <p class="row">
                        if crate::save::can_pick() {
                            <button id="patch-save-as" onclick={on_save_as}>{"Save to…"}</button>
                        }
                        <button id="patch-download" class="secondary" onclick={on_save}>{ format!("Download {}", text(r, "opfs")) }</button>
                    </p>
                    if let Some(s) = &*save_status {
                        <p id="save-status" role="status">{ s.clone() }</p>
                    }
                </div>
            }
        </section>
    }
}

/// "1, 3" → [1, 3]; empty → all editions.
fn parse_editions(s: &str) -> Result<Vec<u32>, String> {
    s.split([',', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("“{p}” is not an edition number (1, 2, …)"))
        })
        .collect()
}

/// Let the user pick the destination, then stream the OPFS output into it.
async fn save_as(opfs_name: &str) -> String {
    let suggested = opfs_name.trim_end_matches(crate::save::PARTIAL);
    let handle = match crate::save::pick_save_handle(suggested).await {
        Ok(Some(h)) => h,
        Ok(None) => return "Save cancelled; the file is still here to save or download.".into(),
        Err(e) => return format!("Could not open the save dialog: {e}"),
    };
    let res = async {
        let dir = crate::save::opfs_root().await?;
        let fh = crate::save::file_handle(&dir, opfs_name).await?;
        let file: web_sys::Blob = wasm_bindgen_futures::JsFuture::from(fh.get_file())
            .await
            .map_err(|e| mediaprep_core::Error::Io(format!("{e:?}")))?
            .unchecked_into();
        crate::save::copy_to_handle(&file, &handle).await
    }
    .await;
    match res {
        Ok(()) => format!("Saved {}.", handle.name()),
        Err(e) => format!("Saving failed: {e}"),
    }
}
