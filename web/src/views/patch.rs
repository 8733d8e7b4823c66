//! Patch WinRE: run the servicing in the worker, then save the verified output.

use super::human_size;
use crate::pool::PoolReport;
use crate::protocol::{PatchResult, PatchTarget};
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
    pub result: Option<PatchResult>,
    /// A cancelled patch's temporary file was removed.
    pub cleaned: bool,
    /// The install.wim editions of the opened media (index, name); empty when it has none.
    pub editions: Vec<(u32, String)>,
    /// The opened media is an ISO: the whole-media targets (a patched ISO) are offered.
    #[prop_or_default]
    pub iso: bool,
}

/// Start button, then a result card with the output's size and SHA-256 and a save button.
#[function_component(PatchPanel)]
pub fn patch_panel(props: &PatchProps) -> Html {
    let on_save = {
        let name = props.result.as_ref().map(|r| r.opfs.clone());
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
        let name = props.result.as_ref().map(|r| r.opfs.clone());
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
    {
        // Whole-media targets need an ISO: back to WinRE when other media is opened.
        let target = target.clone();
        use_effect_with(props.iso, move |iso| {
            if !*iso && matches!(*target, PatchTarget::Iso | PatchTarget::Folder) {
                target.set(PatchTarget::Winre);
            }
        });
    }
    // Editions left out; all are in by default, and again when other media is opened.
    let unchecked = use_state(Vec::<u32>::new);
    {
        let unchecked = unchecked.clone();
        use_effect_with(props.editions.clone(), move |_| unchecked.set(Vec::new()));
    }
    let pick = |t: PatchTarget| {
        let target = target.clone();
        Callback::from(move |_: Event| target.set(t))
    };
    let toggle = |i: u32| {
        let unchecked = unchecked.clone();
        Callback::from(move |e: Event| {
            let on = e
                .target_dyn_into::<web_sys::HtmlInputElement>()
                .is_some_and(|c| c.checked());
            let mut v: Vec<u32> = (*unchecked).iter().copied().filter(|&x| x != i).collect();
            if !on {
                v.push(i);
            }
            unchecked.set(v);
        })
    };
    let chosen = chosen_editions(&props.editions, &unchecked);
    let install_problem = match (*target, &chosen) {
        (PatchTarget::Install, _) if props.editions.is_empty() => {
            Some("The opened media has no install.wim to patch.")
        }
        (PatchTarget::Install, None) => Some("Choose at least one edition."),
        _ => None,
    };
    let usb_off = crate::usb::unavailable();
    let split_mib = use_state(|| mediaprep_core::wim::split::DEFAULT_SPLIT_MIB);
    let pick_problem = use_state(|| None::<String>);
    let on_split = {
        let split_mib = split_mib.clone();
        Callback::from(move |e: Event| {
            let v = e
                .target_dyn_into::<web_sys::HtmlInputElement>()
                .and_then(|i| i.value().trim().parse::<u64>().ok())
                .filter(|v| (1..=4095).contains(v));
            if let Some(v) = v {
                split_mib.set(v);
            }
        })
    };
    let on_start = {
        let target = target.clone();
        let on_patch = props.on_patch.clone();
        let chosen = chosen.clone();
        let (split_mib, pick_problem) = (split_mib.clone(), pick_problem.clone());
        Callback::from(move |_: MouseEvent| {
            if *target == PatchTarget::Folder {
                // The picker needs the click's user activation: ask now, start when chosen.
                let (on_patch, split, problem) =
                    (on_patch.clone(), *split_mib, pick_problem.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    match crate::usb::pick_directory(Some(split)).await {
                        Ok(Some(_)) => {
                            problem.set(None);
                            on_patch.emit((PatchTarget::Folder, Vec::new()));
                        }
                        Ok(None) => {
                            problem.set(Some("No folder chosen; nothing was written.".into()))
                        }
                        Err(e) => problem.set(Some(format!("Could not open the folder: {e}"))),
                    }
                });
                return;
            }
            let indices = match *target {
                PatchTarget::Install => match &chosen {
                    Some(v) => v.clone(),
                    None => return,
                },
                _ => Vec::new(),
            };
            on_patch.emit((*target, indices));
        })
    };
    let done = match props.result.as_ref().map(|r| r.target) {
        Some(PatchTarget::Setup) => "Setup DU expanded and verified",
        Some(PatchTarget::Install) => "install.wim patched and verified",
        Some(PatchTarget::Iso) => "Patched ISO written and verified",
        Some(PatchTarget::Folder) => "USB folder written and verified",
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
                if props.iso {
                    <label><input type="radio" name="patch-target" id="target-iso" checked={*target == PatchTarget::Iso}
                        onchange={pick(PatchTarget::Iso)} />{r" a patched ISO (bootable, install.wim and Setup DU files in sources\)"}</label>
                    <label><input type="radio" name="patch-target" id="target-folder" checked={*target == PatchTarget::Folder}
                        disabled={usb_off.is_some()} onchange={pick(PatchTarget::Folder)} />
                        {r" the media's files written to a USB stick (a folder you choose; install.wim split for FAT32)"}</label>
                    if let Some(why) = usb_off {
                        <p class="muted" id="target-folder-reason">{ why }</p>
                    }
                }
            </fieldset>
            if *target == PatchTarget::Install && !props.editions.is_empty() {
                <fieldset id="patch-editions" class="choices">
                    <legend>{"Editions whose WinRE is replaced"}</legend>
                    { for props.editions.iter().map(|(i, name)| html! {
                        <label class="edition-choice">
                            <input type="checkbox" id={format!("edition-{i}")} value={i.to_string()}
                                checked={!unchecked.contains(i)} onchange={toggle(*i)} />
                            { format!(" {i}: {name}") }
                        </label>
                    }) }
                </fieldset>
            }
            if *target == PatchTarget::Folder {
                <p class="row" id="usb-options">
                    <label for="split-mib">{"Split install.wim into parts of at most (MiB) "}</label>
                    <input type="number" id="split-mib" min="1" max="4095" value={split_mib.to_string()} onchange={on_split} />
                </p>
                <p class="muted">{"Start asks for the folder: choose the root of an empty, FAT32-formatted stick. Every file is read back and checked; nothing is left in the folder if anything fails."}</p>
            }
            if let Some(m) = pick_problem.as_ref() {
                <p class="bad" id="usb-error" role="alert">{ m.clone() }</p>
            }
            if let Some(m) = install_problem {
                <p class="bad" id="patch-editions-error" role="alert">{ m }</p>
            }
            <button id="patch-start" disabled={props.busy || install_problem.is_some()} onclick={on_start}>{"Start"}</button>
            if props.cleaned {
                <p class="muted" id="patch-cleaned" role="status">{"Cancelled: the unfinished output was removed."}</p>
            }
            if let Some(r) = &props.result {
                <div id="patch-result" role="status">
                    <h3 class="ok">{ done }</h3>
                    <table>
                        <tr><th scope="row">{"From"}</th><td>{ r.input.clone() }</td></tr>
                        <tr><th scope="row">{"Size"}</th><td id="patch-size">{ format!("{} ({} bytes)", human_size(r.size), r.size) }</td></tr>
                        if let Some(f) = &r.folder {
                            <tr><th scope="row">{"Written to"}</th><td id="usb-written"
                                data-files={f.files.to_string()} data-split-parts={f.split_parts.to_string()}>
                                { folder_text(f) }</td></tr>
                        } else {
                            <tr><th scope="row">{"SHA-256"}</th><td><code id="patch-sha256">{ mediaprep_core::hash::hex(&r.sha256) }</code></td></tr>
                        }
                        { for r.versions.iter().map(|(index, before, after)| html! {
                            <tr><th scope="row">{ format!("WinRE image {index}") }</th>
                                <td class="patch-version">{ format!("{} → {}", before.as_deref().unwrap_or(""), after.as_deref().unwrap_or("")) }</td></tr>
                        }) }
                        { for r.winre_groups.iter().map(|g| html! {
                            <tr class="patch-winre-group" data-editions={join_numbers(&g.editions)}>
                                <th scope="row">{ format!("WinRE of edition{} {}", if g.editions.len() > 1 { "s" } else { "" }, join_numbers(&g.editions)) }</th>
                                <td>{ group_text(g) }{" · SHA-256 "}
                                    <code class="patch-winre-sha256">{ mediaprep_core::hash::hex(&g.sha256) }</code></td></tr>
                        }) }
                        { for r.editions.iter().map(|(index, updated)| html! {
                            <tr class="patch-edition"><th scope="row">{ format!("Edition {index}") }</th>
                                <td>{ if *updated { "WinRE replaced" } else { "unchanged" } }</td></tr>
                        }) }
                        { for r.packages.iter().map(|p| html! {
                            <tr class="patch-package"><th scope="row">{"Package"}</th>
                                <td>{ format!("{p}: serviced") }</td></tr>
                        }) }
                        { for r.notes.iter().map(|n| html! {
                            <tr class="patch-note"><th scope="row">{"Note"}</th><td>{ n.clone() }</td></tr>
                        }) }
                        if let Some(c) = &r.compression {
                            <tr><th scope="row">{"Compression"}</th>
                                <td id="patch-compression" data-pool-workers={c.pool_workers.to_string()}
                                    data-pool-chunks={c.pool_chunks.to_string()}
                                    data-isolated={c.isolated.to_string()}>
                                    { compression_text(c) }</td></tr>
                        }
                        if let Some(files) = r.setup_files {
                            <tr><th scope="row">{r"Files for sources\"}</th><td id="setup-count">{ files }</td></tr>
                        }
                    </table>
                    if r.folder.is_none() {
                    <p class="row">
                        if crate::save::can_pick() {
                            <button id="patch-save-as" onclick={on_save_as}>{"Save to…"}</button>
                        }
                        <button id="patch-download" class="secondary" onclick={on_save}>{ format!("Download {}", r.opfs) }</button>
                    </p>
                    }
                    if let Some(s) = &*save_status {
                        <p id="save-status" role="status">{ s.clone() }</p>
                    }
                </div>
            }
        </section>
    }
}

/// Edition numbers as "1, 2, 3".
fn join_numbers(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// A WinRE group's versions, "10.0.26100.1000 → 10.0.26100.8037" (per image when several).
fn group_text(g: &crate::protocol::WinreGroupResult) -> String {
    let one = |b: &Option<String>, a: &Option<String>| {
        format!(
            "{} → {}",
            b.as_deref().unwrap_or("?"),
            a.as_deref().unwrap_or("?")
        )
    };
    match g.versions.as_slice() {
        [(_, b, a)] => one(b, a),
        many => many
            .iter()
            .map(|(i, b, a)| format!("image {i}: {}", one(b, a)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// What the USB target wrote, in words.
fn folder_text(f: &crate::usb::FolderWritten) -> String {
    let mut s = format!(
        "the folder \"{}\": {} files, {} ({} bytes)",
        f.dir,
        f.files,
        human_size(f.bytes),
        f.bytes
    );
    if f.split_parts > 0 {
        s.push_str(&format!(
            "; install.wim split into {} parts (install.swm, install2.swm, …)",
            f.split_parts
        ));
    }
    s
}

/// How the chunks were compressed, from the result's `compression` (see `crate::pool`).
fn compression_text(c: &PoolReport) -> String {
    let workers = c.pool_workers;
    let by_pool = c.pool_chunks;
    let total = by_pool + c.local_chunks;
    let note = c.note.as_deref();
    let mut s = if workers > 0 {
        format!(
            "{} workers in parallel ({workers} pool worker{} + the job's worker): {by_pool} of \
             {total} chunks compressed by the pool",
            workers + 1,
            if workers == 1 { "" } else { "s" }
        )
    } else {
        "1 worker".to_string()
    };
    if let Some(n) = note {
        s.push_str(&format!("; {n}"));
    }
    s
}

/// The editions to send: empty for all of them (as the CLI without `--index`), the checked ones
/// otherwise, `None` when none is checked.
fn chosen_editions(editions: &[(u32, String)], unchecked: &[u32]) -> Option<Vec<u32>> {
    let checked: Vec<u32> = editions
        .iter()
        .map(|(i, _)| *i)
        .filter(|i| !unchecked.contains(i))
        .collect();
    if checked.is_empty() {
        None
    } else if checked.len() == editions.len() {
        Some(Vec::new())
    } else {
        Some(checked)
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
            .map_err(|e| mediaprep_core::Error::browser("getFile()", format!("{e:?}")))?
            .unchecked_into();
        crate::save::copy_to_handle(&file, &handle).await
    }
    .await;
    match res {
        Ok(()) => format!("Saved {}.", handle.name()),
        Err(e) => format!("Saving failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_in_words() {
        let report =
            |isolated, pool_workers, pool_chunks, local_chunks, note: Option<&str>| PoolReport {
                isolated,
                pool_workers,
                pool_chunks,
                local_chunks,
                note: note.map(str::to_string),
                pool_worker_memory_mib: 0,
            };
        let pool = report(true, 3, 30, 12, None);
        assert_eq!(
            compression_text(&pool),
            "4 workers in parallel (3 pool workers + the job's worker): 30 of 42 chunks \
             compressed by the pool"
        );
        let alone = report(
            false,
            0,
            0,
            9,
            Some("the page is not cross-origin isolated"),
        );
        assert_eq!(
            compression_text(&alone),
            "1 worker; the page is not cross-origin isolated"
        );
        let one = report(false, 1, 2, 2, None);
        assert!(compression_text(&one).starts_with("2 workers in parallel (1 pool worker + "));
    }

    #[test]
    fn editions_all_some_or_none() {
        let e: Vec<(u32, String)> = (1..=3).map(|i| (i, format!("E{i}"))).collect();
        assert_eq!(chosen_editions(&e, &[]), Some(vec![]));
        assert_eq!(chosen_editions(&e, &[1, 3]), Some(vec![2]));
        assert_eq!(chosen_editions(&e, &[2]), Some(vec![1, 3]));
        assert_eq!(chosen_editions(&e, &[1, 2, 3]), None);
        // Indexes of media opened earlier do not count.
        assert_eq!(chosen_editions(&e, &[7]), Some(vec![]));
    }
}
