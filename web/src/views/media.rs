//! The media view: the layers as a tree (ISO → install.wim/esd → editions → WinRE; boot.wim),
//! each image with edition, architecture, version and where that version came from.

use super::{human_size, opt};
use crate::protocol::Held;
use mediaprep_core::media::{ImageReport, Inspection, WimReport, WinreReport};
use yew::prelude::*;

/// Props of [`MediaView`].
#[derive(Properties, PartialEq)]
pub struct MediaProps {
    /// The inspection report.
    pub inspection: Held<Inspection>,
    /// "Compute SHA-256" of the opened file(s).
    pub on_hash: Callback<MouseEvent>,
}

/// What was opened and the tree of what it holds.
#[function_component(MediaView)]
pub fn media_view(props: &MediaProps) -> Html {
    let i = &*props.inspection;
    html! {
        <section class="card" id="media-view" aria-labelledby="media-title">
            <h2 id="media-title">{ format!("Inside {}", i.file) }</h2>
            <p class="muted">
                { format!("{} · {}", i.container.to_uppercase(), human_size(i.size)) }
                if let Some(iso) = &i.iso {
                    { format!(" · volume “{}” · {}", opt(&iso.volume_label), iso.filesystems.join(", ")) }
                }
            </p>
            <ul class="tree" id="media-tree">
                { for i.wims.iter().map(|w| html! { <WimNode wim={Held::new(w.clone())} /> }) }
            </ul>
            <p><button class="secondary" id="hash-media" onclick={props.on_hash.clone()}>{"Compute SHA-256 of the file"}</button></p>
        </section>
    }
}

/// Props of [`WimNode`].
#[derive(Properties, PartialEq)]
pub struct WimProps {
    /// One WIM of the inspection.
    pub wim: Held<WimReport>,
}

/// One WIM: its images, then the WinRE images found inside them.
#[function_component(WimNode)]
pub fn wim_node(props: &WimProps) -> Html {
    let w = &*props.wim;
    let path = w.path.clone();
    let boot = w.boot_index;
    let facts = format!(
        "{} · {}{}{}",
        w.kind.to_uppercase(),
        w.compression,
        if w.solid { " solid" } else { "" },
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
                    { for w.images.iter().map(|img| html! { <ImageRow wim={path.clone()} image={Held::new(img.clone())} /> }) }
                    { for w.winre.iter().map(|r| html! { <WinreNode winre={Held::new(r.clone())} /> }) }
                </ul>
            </details>
        </li>
    }
}

/// Props of [`WinreNode`].
#[derive(Properties, PartialEq)]
pub struct WinreProps {
    /// One WinRE found in the images.
    pub winre: Held<WinreReport>,
}

/// A recovery image nested in install images (one entry per distinct blob).
#[function_component(WinreNode)]
pub fn winre_node(props: &WinreProps) -> Html {
    let r = &*props.winre;
    let shared = r
        .shared_by
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        <li class="winre" data-sha1={r.sha1.clone()}>
            <span class="badge">{"WinRE"}</span>{" "}
            <span>{ format!("{} in image(s) {shared} · {}", r.path, human_size(r.size)) }</span>
            <ul class="tree"><WimNode wim={Held::new((*r.wim).clone())} /></ul>
        </li>
    }
}

/// Props of [`ImageRow`].
#[derive(Properties, PartialEq)]
pub struct ImageProps {
    /// Layer path of the WIM holding the image.
    pub wim: String,
    /// One image of that WIM.
    pub image: Held<ImageReport>,
}

/// One image: edition, arch, version and its source, languages, size.
#[function_component(ImageRow)]
pub fn image_row(props: &ImageProps) -> Html {
    let img = &*props.image;
    let signals = img.version_signals.as_ref();
    let (version, source) = match signals {
        Some(s) if s.effective.as_deref().is_some_and(|e| !e.is_empty()) => (
            opt(&s.effective),
            format!("{} ({} confidence)", opt(&s.source), opt(&s.confidence)),
        ),
        _ => (opt(&img.version), "WIM XML".to_string()),
    };
    let langs = img.languages.join(", ");
    let disagreements = signals.map(|s| s.disagreements.clone()).unwrap_or_default();
    html! {
        <li class="image" data-wim={props.wim.clone()} data-index={img.index.to_string()}>
            <strong class="name">{ format!("{}. {}", img.index, opt(&img.name)) }</strong>
            <dl class="facts">
                <dt>{"Edition"}</dt><dd class="edition">{ opt(&img.edition) }</dd>
                <dt>{"Architecture"}</dt><dd class="arch">{ opt(&img.arch) }</dd>
                <dt>{"Version"}</dt><dd><span class="version">{ version }</span>
                    <span class="muted version-source">{ format!(" from {source}") }</span></dd>
                if let Some(s) = signals {
                    <dt>{"WIM XML says"}</dt><dd class="xml-version">{ opt(&s.xml) }</dd>
                }
                <dt>{"Languages"}</dt><dd class="langs">{ if langs.is_empty() { "none listed".to_string() } else { langs } }</dd>
                <dt>{"Size"}</dt><dd class="size">{ human_size(img.total_bytes.unwrap_or(0)) }</dd>
            </dl>
            if !disagreements.is_empty() {
                <details class="muted"><summary>{"Why this version"}</summary>
                    <p>{ signals.map(|s| s.rule.clone()).unwrap_or_default() }</p>
                    <ul>{ for disagreements.iter().map(|d| html! { <li>{ d.clone() }</li> }) }</ul>
                </details>
            }
        </li>
    }
}
