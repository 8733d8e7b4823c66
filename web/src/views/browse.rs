//! Browse inside the media: folders of the ISO, images and folders of any WIM (nested ones too),
//! and extract one chosen file to save it.

use super::human_size;
use crate::protocol::Extracted;
use mediaprep_core::media::Entry;
use yew::prelude::*;

/// Props of [`BrowseView`].
#[derive(Properties, PartialEq)]
pub struct BrowseProps {
    /// The layers shown (empty: the top of what was opened).
    pub layers: Vec<String>,
    /// The listing of `layers`, if loaded.
    pub entries: Option<Vec<Entry>>,
    /// List these layers.
    pub on_list: Callback<Vec<String>>,
    /// Extract the file these layers lead to.
    pub on_extract: Callback<Vec<String>>,
    /// Last extraction.
    pub extracted: Option<Extracted>,
    /// A job is running.
    pub busy: bool,
}

/// Where a click on `name` leads from `layers`: into a folder, an image, or a container file
/// (WIM/ESD/ISO), or to a file. Returns the new layers and whether they lead to a file to extract.
pub fn step(layers: &[String], name: &str, is_dir: bool) -> (Vec<String>, bool) {
    let mut out = layers.to_vec();
    let at_top = layers.last().is_none_or(|l| is_container(l));
    // At a WIM's top the entries are its images, "N: name"; inside one a layer is "N:/path".
    let image = name
        .split_once(": ")
        .and_then(|(n, _)| n.parse::<u32>().ok())
        .filter(|_| at_top && is_dir);
    let next = match (image, layers.last()) {
        (Some(n), _) => format!("{n}:/"),
        (None, Some(_)) if !at_top => {
            let base = out.pop().unwrap_or_default();
            format!("{}/{name}", base.trim_end_matches('/'))
        }
        _ => format!("/{name}"),
    };
    let file = !is_dir && !is_container(&next);
    out.push(next);
    (out, file)
}

/// A file name that opens as a container (descending into it lists its top).
fn is_container(layer: &str) -> bool {
    let l = layer.to_ascii_lowercase();
    [".wim", ".esd", ".iso"].iter().any(|e| l.ends_with(e))
}

/// One level up from `layers`: the parent folder, or out of an image or container.
pub fn up(layers: &[String]) -> Vec<String> {
    let mut out = layers.to_vec();
    if let Some(last) = out.pop() {
        let (prefix, path) = match last.split_once(":/") {
            Some((n, p)) => (format!("{n}:/"), p.to_string()),
            None => ("/".to_string(), last.trim_start_matches('/').to_string()),
        };
        let path = path.trim_end_matches('/');
        if let Some((parent, _)) = path.rsplit_once('/') {
            out.push(format!("{prefix}{parent}"));
        } else if !path.is_empty() && prefix != "/" {
            out.push(prefix);
        }
    }
    out
}

/// A listing with "Up", folders and files; clicking a file extracts it.
#[function_component(BrowseView)]
pub fn browse_view(props: &BrowseProps) -> Html {
    let on_up = {
        let (on_list, layers) = (props.on_list.clone(), props.layers.clone());
        Callback::from(move |_: MouseEvent| on_list.emit(up(&layers)))
    };
    let on_open = {
        let on_list = props.on_list.clone();
        Callback::from(move |_: MouseEvent| on_list.emit(Vec::new()))
    };
    let on_save = {
        let names = props
            .extracted
            .as_ref()
            .map(|r| (r.opfs.clone(), r.name.clone()));
        Callback::from(move |_: MouseEvent| {
            if let Some((opfs, name)) = names.clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(e) = crate::download::offer_opfs_as(&opfs, &name).await {
                        web_sys::console::error_1(&e);
                    }
                });
            }
        })
    };
    let where_ = if props.layers.is_empty() {
        "(top)".to_string()
    } else {
        props.layers.join(" → ")
    };
    html! {
        <section class="card" id="browse-view" aria-labelledby="browse-title">
            <h2 id="browse-title">{"Files inside the media"}</h2>
            <p><code id="browse-where">{ where_ }</code>{" "}
                <button class="secondary" id="browse-up" disabled={props.busy || props.layers.is_empty()} onclick={on_up}>{"Up"}</button></p>
            if props.entries.is_none() {
                <button id="browse-open" disabled={props.busy} onclick={on_open}>{"Browse files"}</button>
            }
            if let Some(entries) = &props.entries {
                <table>
                    { for entries.iter().map(|e| {
                        let name = e.name.clone();
                        let is_dir = e.is_dir;
                        let (next, file) = step(&props.layers, &name, is_dir);
                        let cb = if file { props.on_extract.clone() } else { props.on_list.clone() };
                        let onclick = Callback::from(move |_: MouseEvent| cb.emit(next.clone()));
                        html! {
                            <tr class="browse-entry" data-name={name.clone()}>
                                <td><button class="link" disabled={props.busy} {onclick}>
                                    { if is_dir { format!("{name}/") } else { name.clone() } }</button></td>
                                <td>{ if is_dir { String::new() } else { human_size(e.size) } }</td>
                            </tr>
                        }
                    }) }
                </table>
            }
            if let Some(r) = &props.extracted {
                <div id="extract-result" role="status">
                    <p class="ok">{ format!("Extracted {} ({} bytes){}", r.path, r.size,
                        if r.checked { ", its SHA-1 matching the image's record." } else { " (an ISO file: no recorded digest to check)." }) }</p>
                    <p>{"SHA-256 "}<code id="extract-sha256">{ mediaprep_core::hash::hex(&r.sha256) }</code></p>
                    <button id="extract-download" onclick={on_save}>{ format!("Download {}", r.name) }</button>
                </div>
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_ups_follow_the_layer_syntax() {
        let (l, f) = step(&[], "sources", true);
        assert_eq!((l.clone(), f), (vec!["/sources".to_string()], false));
        let (l, f) = step(&l, "install.wim", false);
        assert_eq!(l, vec!["/sources/install.wim"]);
        assert!(!f);
        let (l, _) = step(&l, "2: Windows 11 Pro", true);
        assert_eq!(l, vec!["/sources/install.wim", "2:/"]);
        let (l, _) = step(&l, "Windows", true);
        let (l, f) = step(&l, "notepad.exe", false);
        assert_eq!(l, vec!["/sources/install.wim", "2:/Windows/notepad.exe"]);
        assert!(f);
        assert_eq!(up(&l), vec!["/sources/install.wim", "2:/Windows"]);
        assert_eq!(up(&up(&l)), vec!["/sources/install.wim", "2:/"]);
        assert_eq!(up(&up(&up(&l))), vec!["/sources/install.wim"]);
        assert_eq!(up(&["/sources/install.wim".to_string()]), vec!["/sources"]);
        assert!(up(&["/sources".to_string()]).is_empty());
        assert_eq!(up(&["/a/b".to_string()]), vec!["/a"]);
    }
}
