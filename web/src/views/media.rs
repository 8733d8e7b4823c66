//! The media view: the layers as a tree (ISO → install.wim/esd → editions → WinRE; boot.wim),
//! each image with edition, architecture, version and where that version came from.

use super::{human_size, list, num, text};
use serde_json::Value;
use yew::prelude::*;

/// Props of [`MediaView`].
#[derive(Properties, PartialEq)]
pub struct MediaProps {
    /// The inspection report.
    pub inspection: Value,
    /// "Compute SHA-256" of the opened file(s).
    pub on_hash: Callback<MouseEvent>,
}

/// What was opened and the tree of what it holds.
#[function_component(MediaView)]
pub fn media_view(props: &MediaProps) -> Html {
    let i = &props.inspection;
    let iso = i.get("iso").filter(|v| !v.is_null());
    html! {
        <section class="card" id="media-view" aria-labelledby="media-title">
            <h2 id="media-title">{ format!("Inside {}", text(i, "file")) }</h2>
            <p class="muted">
                { format!("{} · {}", text(i, "container").to_uppercase(), human_size(num(i, "size").unwrap_or(0))) }
                if let Some(iso) = iso {
                    { format!(" · volume “{}” · {}", text(iso, "volume_label"),
                        list(iso, "filesystems").iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")) }
                }
            </p>
            <ul class="tree" id="media-tree">
                { for list(i, "wims").iter().map(|w| html! { <WimNode wim={w.clone()} /> }) }
            </ul>
            <p><button class="secondary" id="hash-media" onclick={props.on_hash.clone()}>{"Compute SHA-256 of the file"}</button></p>
        </section>
    }
}

/// Props of [`WimNode`].
#[derive(Properties, PartialEq)]
pub struct WimProps {
    /// One `WimReport`.
    pub wim: Value,
}

/// One WIM: its images, then the WinRE images found inside them.
#[function_component(WimNode)]
pub fn wim_node(props: &WimProps) -> Html {
    let w = &props.wim;
    let path = text(w, "path");
    let boot = num(w, "boot_index").unwrap_or(0);
    let facts = format!(
        "{} · {}{}{}",
        text(w, "kind").to_uppercase(),
        text(w, "compression"),
        if w.get("solid").and_then(Value::as_bool) == Some(true) {
            " solid"
        } else {
            ""
        },
        if boot > 0 {
            format!(" · boots image {boot}")
        } else {
            String::new()
        },
    );
    html! {
        <li class="wim" data-path={path.clone()}>
            <details open=true>
                <summary><strong class="wim-path">{ path.clone() }</strong>{" "}<span class="badge">{ facts }</span></summary>
                <ul class="tree">
                    { for list(w, "images").iter().map(|img| html! { <ImageRow wim={path.clone()} image={img.clone()} /> }) }
                    { for list(w, "winre").iter().map(|r| html! { <WinreNode winre={r.clone()} /> }) }
                </ul>
            </details>
        </li>
    }
}

/// Props of [`WinreNode`].
#[derive(Properties, PartialEq)]
pub struct WinreProps {
    /// One `WinreReport`.
    pub winre: Value,
}

/// A recovery image nested in install images (one entry per distinct blob).
#[function_component(WinreNode)]
pub fn winre_node(props: &WinreProps) -> Html {
    let r = &props.winre;
    let shared = list(r, "shared_by")
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let inner = r.get("wim").cloned().unwrap_or(Value::Null);
    html! {
        <li class="winre" data-sha1={text(r, "sha1")}>
            <span class="badge">{"WinRE"}</span>{" "}
            <span>{ format!("{} in image(s) {shared} · {}", text(r, "path"), human_size(num(r, "size").unwrap_or(0))) }</span>
            <ul class="tree"><WimNode wim={inner} /></ul>
        </li>
    }
}

/// Props of [`ImageRow`].
#[derive(Properties, PartialEq)]
pub struct ImageProps {
    /// Layer path of the WIM holding the image.
    pub wim: String,
    /// One `ImageReport`.
    pub image: Value,
}

/// One image: edition, arch, version and its source, languages, size.
#[function_component(ImageRow)]
pub fn image_row(props: &ImageProps) -> Html {
    let img = &props.image;
    let signals = img.get("version_signals").filter(|v| !v.is_null());
    let (version, source) = match signals {
        Some(s) if !text(s, "effective").is_empty() => (
            text(s, "effective"),
            format!(
                "{} ({} confidence)",
                text(s, "source"),
                text(s, "confidence")
            ),
        ),
        _ => (text(img, "version"), "WIM XML".to_string()),
    };
    let langs = list(img, "languages")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let disagreements = signals
        .map(|s| list(s, "disagreements").to_vec())
        .unwrap_or_default();
    html! {
        <li class="image" data-wim={props.wim.clone()} data-index={text(img, "index")}>
            <strong class="name">{ format!("{}. {}", text(img, "index"), text(img, "name")) }</strong>
            <dl class="facts">
                <dt>{"Edition"}</dt><dd class="edition">{ text(img, "edition") }</dd>
                <dt>{"Architecture"}</dt><dd class="arch">{ text(img, "arch") }</dd>
                <dt>{"Version"}</dt><dd><span class="version">{ version }</span>
                    <span class="muted version-source">{ format!(" from {source}") }</span></dd>
                if let Some(s) = signals {
                    <dt>{"WIM XML says"}</dt><dd class="xml-version">{ text(s, "xml") }</dd>
                }
                <dt>{"Languages"}</dt><dd class="langs">{ if langs.is_empty() { "none listed".to_string() } else { langs } }</dd>
                <dt>{"Size"}</dt><dd class="size">{ human_size(num(img, "total_bytes").unwrap_or(0)) }</dd>
            </dl>
            if !disagreements.is_empty() {
                <details class="muted"><summary>{"Why this version"}</summary>
                    <p>{ signals.map(|s| text(s, "rule")).unwrap_or_default() }</p>
                    <ul>{ for disagreements.iter().map(|d| html! { <li>{ d.as_str().unwrap_or("").to_string() }</li> }) }</ul>
                </details>
            }
        </li>
    }
}
