//! The updates view: per image, which Dynamic Updates apply and why, in Microsoft's order, and
//! whether a recovery image fits its partition.

use super::{human_size, opt, wire};
use crate::protocol::Held;
use mediaprep_core::catalog::applicability::Finding;
use mediaprep_core::catalog::{partition_fit, CatalogAge, Evaluation, Fit, Verdict};
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`UpdatesView`].
#[derive(Properties, PartialEq)]
pub struct UpdatesProps {
    /// The catalog's verdicts.
    pub evaluation: Held<Evaluation>,
    /// The age of the catalog the verdicts rest on.
    #[prop_or_default]
    pub catalog: Option<CatalogAge>,
    /// Size of the WinRE image the fit check is about, when the media has one.
    pub winre_size: Option<u64>,
}

/// Verdicts per image, recommendations, procedure, partition fit.
#[function_component(UpdatesView)]
pub fn updates_view(props: &UpdatesProps) -> Html {
    let ev = &*props.evaluation;
    let mut labels: Vec<&str> = Vec::new();
    for f in &ev.findings {
        if !labels.contains(&f.image_label.as_str()) {
            labels.push(&f.image_label);
        }
    }
    let recs = &ev.recommendations;
    let age = props.catalog.clone();
    html! {
        <section class="card" id="updates-view" aria-labelledby="updates-title">
            <h2 id="updates-title">{"Updates"}</h2>
            <p class="muted">{ format!("Catalog {}", ev.catalog_version) }</p>
            if let Some(a) = &age {
                <p id="catalog-age" class={if a.stale { "warn" } else { "muted" }}
                   data-stale={a.stale.to_string()}>{ a.notice.clone() }</p>
            }
            <h3>{"Recommended"}</h3>
            if recs.is_empty() {
                <p id="no-recommendation">{"No update in the catalog applies to these images."}</p>
            } else {
                <table id="recommendations">
                    <thead><tr><th>{"Image"}</th><th>{"Add"}</th><th>{"Released"}</th><th>{"Why"}</th></tr></thead>
                    <tbody>{ for recs.iter().map(|r| html! {
                        <tr class="recommendation" data-kb={r.kb.clone()}>
                            <td>{ r.image_label.clone() }</td>
                            <td><a href={format!("https://www.catalog.update.microsoft.com/Search.aspx?q={}", r.kb)}
                                   target="_blank" rel="noreferrer noopener">{ r.kb.clone() }</a>
                                <br/><span class="muted">{ opt(&r.title) }</span></td>
                            <td>{ opt(&r.release_date) }</td>
                            <td>{ r.reason.clone() }</td>
                        </tr>
                    }) }</tbody>
                </table>
            }
            if !ev.procedure.is_empty() {
                <h3>{"Order (Microsoft's procedure)"}</h3>
                <ol id="procedure">{ for ev.procedure.iter().map(|s| html! {
                    <li>{ format!("{} — {}", s.action, s.kbs.join(", ")) }</li>
                }) }</ol>
            }
            <p class="muted">{ format!("Verdicts and reasons for {} images are under each row of the summary above.", labels.len()) }</p>
            if !ev.notes.is_empty() {
                <ul class="muted">{ for ev.notes.iter().map(|n| html! { <li>{ n.clone() }</li> }) }</ul>
            }
            if let Some(size) = props.winre_size {
                <PartitionFit winre_size={size} />
            }
        </section>
    }
}

/// Props of [`ImageVerdicts`].
#[derive(Properties, PartialEq)]
pub struct VerdictProps {
    /// Image label.
    pub label: String,
    /// Its findings.
    pub findings: Vec<Finding>,
    /// The catalog's age, which words an already-current verdict of a stale catalog.
    #[prop_or_default]
    pub age: Option<CatalogAge>,
}

/// One image's verdicts; "superseded" and "not applicable" ones folded behind their count.
#[function_component(ImageVerdicts)]
pub fn image_verdicts(props: &VerdictProps) -> Html {
    let (na, rest): (Vec<&Finding>, Vec<&Finding>) = props
        .findings
        .iter()
        .partition(|f| f.verdict == Verdict::NotApplicable);
    let (superseded, relevant): (Vec<&Finding>, Vec<&Finding>) = rest
        .into_iter()
        .partition(|f| f.verdict == Verdict::Superseded);
    let row = |f: &Finding| {
        let class = match f.verdict {
            Verdict::Applies => "warn",
            Verdict::AlreadyCurrent => "ok",
            _ => "muted",
        };
        html! {
            <tr class="finding" data-kb={f.kb.clone()} data-verdict={wire(&f.verdict)}>
                <td>{ f.kb.clone() }</td><td>{ wire(&f.kind) }</td>
                <td class={class}>{ f.verdict.words(props.age.as_ref()) }</td>
                <td>{ f.reasons.join(" ") }</td>
            </tr>
        }
    };
    html! {
        <div class="image-verdicts" data-image={props.label.clone()}>
            <h4>{ props.label.clone() }</h4>
            if relevant.is_empty() {
                <p class="muted">{"No update in the catalog is for this image."}</p>
            } else {
                <table><thead><tr><th>{"KB"}</th><th>{"Kind"}</th><th>{"Verdict"}</th><th>{"Reasons"}</th></tr></thead>
                    <tbody>{ for relevant.iter().map(|f| row(f)) }</tbody></table>
            }
            if !superseded.is_empty() {
                <details class="superseded"><summary>{ format!("{} superseded updates (a newer one of the same kind applies)", superseded.len()) }</summary>
                    <table><tbody>{ for superseded.iter().map(|f| row(f)) }</tbody></table></details>
            }
            if !na.is_empty() {
                <details><summary>{ format!("{} updates are for other images or builds", na.len()) }</summary>
                    <table><tbody>{ for na.iter().map(|f| row(f)) }</tbody></table></details>
            }
        </div>
    }
}

/// Props of [`PartitionFit`].
#[derive(Properties, PartialEq)]
pub struct FitProps {
    /// Size of the recovery image in bytes.
    pub winre_size: u64,
}

/// Does the recovery image fit the device's recovery partition? The user types the partition's
/// size and free space (as `reagentc /info` + Disk Management show them).
#[function_component(PartitionFit)]
pub fn partition_fit_view(props: &FitProps) -> Html {
    let part = use_state(|| 1024u64);
    let free = use_state(|| 600u64);
    let on = |s: UseStateHandle<u64>| {
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Ok(v) = input.value().trim().parse::<u64>() {
                s.set(v);
            }
        })
    };
    let mib = 1024 * 1024;
    let v = partition_fit(
        props.winre_size,
        part.saturating_mul(mib),
        free.saturating_mul(mib),
    );
    let class = match v.fit {
        Fit::Fits => "ok",
        Fit::FitsBelowGuidance => "warn",
        _ => "bad",
    };
    html! {
        <div id="partition-fit">
            <h3>{"Recovery partition fit"}</h3>
            <p class="muted">{ format!("WinRE image: {}", human_size(props.winre_size)) }</p>
            <div class="row">
                <label for="part-size">{"Partition size (MiB)"}</label>
                <input id="part-size" type="number" min="1" value={part.to_string()} oninput={on(part.clone())} />
                <label for="part-free">{"Free, counting the current Winre.wim (MiB)"}</label>
                <input id="part-free" type="number" min="0" value={free.to_string()} oninput={on(free.clone())} />
            </div>
            <p class={class} id="fit-verdict" aria-live="polite">{ v.explanation }</p>
        </div>
    }
}
