//! Patch WinRE: run the servicing in the worker, then save the verified output.

use super::{human_size, list, num, text};
use serde_json::Value;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Props of [`PatchPanel`].
#[derive(Properties, PartialEq)]
pub struct PatchProps {
    /// Start patching.
    pub on_patch: Callback<MouseEvent>,
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
    html! {
        <section class="card" id="patch-view" aria-labelledby="patch-title">
            <h2 id="patch-title">{"Patch the recovery image"}</h2>
            <p class="muted">{"Adds the verified packages to WinRE here in the browser. The new Winre.wim is written to this browser's private storage, checked, and then saved where you choose."}</p>
            <button id="patch-winre" disabled={props.busy} onclick={props.on_patch.clone()}>{"Patch WinRE"}</button>
            if props.cleaned {
                <p class="muted" id="patch-cleaned" role="status">{"Cancelled: the unfinished output was removed."}</p>
            }
            if let Some(r) = &props.result {
                <div id="patch-result" role="status">
                    <h3 class="ok">{"WinRE patched and verified"}</h3>
                    <table>
                        <tr><th scope="row">{"From"}</th><td>{ text(r, "input") }</td></tr>
                        <tr><th scope="row">{"Size"}</th><td id="patch-size">{ format!("{} ({} bytes)", human_size(num(r, "size").unwrap_or(0)), num(r, "size").unwrap_or(0)) }</td></tr>
                        <tr><th scope="row">{"SHA-256"}</th><td><code id="patch-sha256">{ text(r, "sha256") }</code></td></tr>
                        { for r.get("outcome").map(|o| list(o, "images").to_vec()).unwrap_or_default().iter().map(|i| html! {
                            <tr><th scope="row">{ format!("Image {}", text(i, "index")) }</th>
                                <td class="patch-version">{ format!("{} → {}", text(i, "version_before"), text(i, "version_after")) }</td></tr>
                        }) }
                    </table>
                    <p class="row">
                        if crate::save::can_pick() {
                            <button id="patch-save-as" onclick={on_save_as}>{"Save to…"}</button>
                        }
                        <button id="patch-download" class="secondary" onclick={on_save}>{"Download winre.wim"}</button>
                    </p>
                    if let Some(s) = &*save_status {
                        <p id="save-status" role="status">{ s.clone() }</p>
                    }
                </div>
            }
        </section>
    }
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
