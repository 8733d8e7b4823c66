//! At a glance (issue #18): one row per image (install editions grouped when they share version,
//! WinRE and needs; each WinRE; boot.wim) with its version, a status in colour and words, and the
//! updates it needs as Update Catalog links; then the packages brought; then one primary action.
//! The verdict tables and reasons fold under each row.
//!
//! The core has no grouping of images for display, so it is computed here from what the worker
//! already sends: the inspection (versions, which editions share a WinRE) and the evaluation
//! (findings and recommendations, whose `image` is the position in `media::image_facts` order).

use super::updates::ImageVerdicts;
use super::{list, num, text};
use crate::protocol::PatchTarget;
use mediaprep_core::catalog::CatalogAge;
use serde_json::Value;
use yew::prelude::*;

/// What a row is about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// Editions of install.wim / install.esd (or another non-PE image).
    Install,
    /// A Windows Recovery Environment image.
    Winre,
    /// boot.wim images (Windows PE, Setup).
    Boot,
}

/// One image of the media, in the order the evaluation numbers them.
#[derive(Clone, PartialEq, Debug)]
pub struct Image {
    /// Position in the evaluation (`finding.image`).
    pub pos: usize,
    /// The evaluation's label.
    pub label: String,
    /// Role, as the core decides it (the inspection's `role`).
    pub role: Role,
    /// The WIM it is in (a nested WinRE: "Winre.wim in PATH").
    pub wim: String,
    /// Image index in that WIM.
    pub index: u64,
    /// Image name.
    pub name: String,
    /// Effective version (the WinRE version signals' when there are some).
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// SHA-1 of the WinRE an install edition carries (editions sharing one WinRE group).
    pub winre: Option<String>,
    /// For a nested WinRE: the install editions that carry it.
    pub carried_by: Vec<u64>,
}

/// Status of a row.
#[derive(Clone, PartialEq, Debug)]
pub enum Status {
    /// Nothing in the catalog applies and something says it is current.
    UpToDate,
    /// This many updates are recommended.
    Needs(usize),
    /// The catalog cannot decide (why).
    CannotTell(String),
}

/// One summary row.
#[derive(Clone, PartialEq, Debug)]
pub struct Row {
    /// What it is about.
    pub role: Role,
    /// Heading ("Windows 11 Home, Windows 11 Pro").
    pub title: String,
    /// Where ("/sources/install.wim · editions 1, 2, 3").
    pub place: String,
    /// Current version.
    pub version: String,
    /// Status.
    pub status: Status,
    /// The updates needed: KB, title, kind.
    pub needed: Vec<(String, String, String)>,
    /// The images it stands for (evaluation positions).
    pub images: Vec<usize>,
}

fn image_of(w: &Value, img: &Value, wim: &str, role: Role) -> Image {
    let sig = img.get("version_signals").filter(|s| !s.is_null());
    let version = sig
        .map(|s| text(s, "effective"))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| text(img, "version"));
    let index = num(img, "index").unwrap_or(0);
    let winre = list(w, "winre")
        .iter()
        .find(|r| {
            list(r, "shared_by")
                .iter()
                .any(|i| i.as_u64() == Some(index))
        })
        .map(|r| text(r, "sha1"));
    Image {
        pos: 0,
        label: format!("{wim} #{index} ({})", text(img, "name")),
        role,
        wim: wim.to_string(),
        index,
        name: text(img, "name"),
        version,
        arch: text(img, "arch"),
        winre: if role == Role::Install { winre } else { None },
        carried_by: Vec::new(),
    }
}

/// The images in `media::image_facts` order: each WIM's images, then the WinRE nested in it.
pub fn images(inspection: &Value) -> Vec<Image> {
    let mut out = Vec::new();
    for w in list(inspection, "wims") {
        let path = text(w, "path");
        for img in list(w, "images") {
            // The core decides (media::role: XML, name, boot.wim by file name, the tree's
            // winpeshl.exe / sources\setup.exe / sources\recovery) and sends it with the image.
            let role = match text(img, "role").as_str() {
                "winre" => Role::Winre,
                "boot" => Role::Boot,
                _ => Role::Install,
            };
            out.push(image_of(w, img, &path, role));
        }
        for re in list(w, "winre") {
            let inner = re.get("wim").cloned().unwrap_or(Value::Null);
            for img in list(&inner, "images") {
                let mut i = image_of(&inner, img, &format!("Winre.wim in {path}"), Role::Winre);
                i.carried_by = list(re, "shared_by")
                    .iter()
                    .filter_map(Value::as_u64)
                    .collect();
                out.push(i);
            }
        }
    }
    for (pos, i) in out.iter_mut().enumerate() {
        i.pos = pos;
    }
    out
}

fn and_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

/// The status of a set of images from their findings and recommendations.
fn status_of(findings: &[&Value], needed: usize) -> Status {
    if needed > 0 {
        return Status::Needs(needed);
    }
    if let Some(u) = findings.iter().find(|f| text(f, "verdict") == "unknown") {
        let why = list(u, "reasons")
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        return Status::CannotTell(format!("{}: {why}", text(u, "kb")));
    }
    if findings
        .iter()
        .any(|f| text(f, "verdict") == "already-current")
    {
        return Status::UpToDate;
    }
    Status::CannotTell("no update in the catalog is for this image's build".into())
}

/// What images of one row share: WIM path, version, the WinRE they carry.
type GroupKey = (String, String, Option<String>);

/// The summary rows: install editions grouped when they share WIM, version, WinRE and needs;
/// boot.wim images grouped the same way; each WinRE image on its own row.
pub fn rows(inspection: &Value, evaluation: &Value) -> Vec<Row> {
    let findings = list(evaluation, "findings");
    let recs = list(evaluation, "recommendations");
    let needed_of = |pos: usize| -> Vec<(String, String, String)> {
        let mut v: Vec<(String, String, String)> = Vec::new();
        for r in recs.iter().filter(|r| num(r, "image") == Some(pos as u64)) {
            if !v.iter().any(|(kb, _, _)| *kb == text(r, "kb")) {
                v.push((text(r, "kb"), text(r, "title"), text(r, "kind")));
            }
        }
        v
    };
    // Rows with what groups them: WIM, version, WinRE carried.
    let mut rows: Vec<(Row, GroupKey)> = Vec::new();
    for img in images(inspection) {
        let needed = needed_of(img.pos);
        let key = (img.wim.clone(), img.version.clone(), img.winre.clone());
        let groupable = img.role != Role::Winre;
        if let Some((row, _)) = rows
            .iter_mut()
            .find(|(r, k)| groupable && r.role == img.role && *k == key && r.needed == needed)
        {
            row.images.push(img.pos);
            row.title.push_str(&format!(", {}", img.name));
            continue;
        }
        let place = match img.role {
            Role::Winre if !img.carried_by.is_empty() => format!(
                "{} (editions {})",
                img.wim,
                and_list(
                    &img.carried_by
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                )
            ),
            _ => img.wim.clone(),
        };
        let title = match img.role {
            Role::Winre => format!("WinRE: {}", img.name),
            _ => img.name.clone(),
        };
        rows.push((
            Row {
                role: img.role,
                title,
                place,
                version: img.version.clone(),
                status: Status::UpToDate,
                needed,
                images: vec![img.pos],
            },
            key,
        ));
    }
    let all = images(inspection);
    rows.into_iter()
        .map(|(mut r, _)| {
            let mine: Vec<&Value> = findings
                .iter()
                .filter(|f| num(f, "image").is_some_and(|i| r.images.contains(&(i as usize))))
                .collect();
            r.status = status_of(&mine, r.needed.len());
            if r.images.len() > 1 {
                let idx: Vec<String> = r
                    .images
                    .iter()
                    .filter_map(|p| all.get(*p))
                    .map(|i| i.index.to_string())
                    .collect();
                r.place = format!("{} · images {}", r.place, and_list(&idx));
            } else if let Some(i) = r.images.first().and_then(|p| all.get(*p)) {
                if i.role != Role::Winre {
                    r.place = format!("{} · image {}", r.place, i.index);
                }
            }
            r
        })
        .collect()
}

/// The status in words ("up to date as of 2026-11-23" when the catalog is stale).
pub fn status_words(s: &Status, age: Option<&CatalogAge>) -> String {
    match s {
        Status::UpToDate => match age {
            Some(a) if a.stale => format!("up to date as of {}", a.date),
            _ => "up to date".into(),
        },
        Status::Needs(1) => "needs 1 update".into(),
        Status::Needs(n) => format!("needs {n} updates"),
        Status::CannotTell(why) => format!("cannot tell: {why}"),
    }
}

/// The servicing family of a build (packages for 26100 service 26200 images too).
fn family(build: u64) -> u64 {
    match build {
        26200 => 26100,
        22631 => 22621,
        19042..=19045 => 19041,
        b => b,
    }
}

/// What a brought package is, for this media: "verified", "failed verification", "verified, not
/// for this media" (no image of its build and architecture).
pub fn package_status(pkg: &Value, media: &[Image]) -> (&'static str, String) {
    let ver = pkg.get("verification").cloned().unwrap_or(Value::Null);
    if ver.get("ok").and_then(Value::as_bool) != Some(true) {
        return ("bad", "failed verification: it cannot be used".into());
    }
    let p = pkg.get("package").cloned().unwrap_or(Value::Null);
    let ident = p.get("identity").cloned().unwrap_or(Value::Null);
    let build = text(&ident, "version")
        .split('.')
        .next()
        .and_then(|b| b.parse::<u64>().ok());
    let arch = match text(&ident, "processor_architecture").as_str() {
        "amd64" => "x64".to_string(),
        other => other.to_string(),
    };
    let winre_only = text(&p, "kind") == "SafeOsDu";
    let fits = media.iter().any(|i| {
        let b = i
            .version
            .split('.')
            .nth(2)
            .and_then(|b| b.parse::<u64>().ok());
        (!winre_only || i.role == Role::Winre)
            && build.zip(b).is_none_or(|(p, m)| family(p) == family(m))
            && (arch.is_empty() || i.arch.is_empty() || i.arch == arch)
    });
    if fits {
        ("ok", "verified".into())
    } else {
        (
            "warn",
            "verified, but not for this media (no image of its build and architecture)".into(),
        )
    }
}

/// The one primary action: its target, the editions it takes and its words; `None` when the
/// media has no WinRE. A lone install.wim / install.esd / .swm set (no ISO) whose only WinRE is
/// the one its editions carry leads to "Patch install.wim" (those editions, with the patched WinRE
/// inside: what one deploys from such a file); anything else with a WinRE to "Patch WinRE"
/// (docs/decisions.md 28).
pub fn primary_action(
    inspection: &Value,
    media: &[Image],
) -> Option<(PatchTarget, Vec<u32>, &'static str)> {
    if !media.iter().any(|i| i.role == Role::Winre) {
        return None;
    }
    let own_winre = media
        .iter()
        .any(|i| i.role == Role::Winre && i.carried_by.is_empty());
    let wims = list(inspection, "wims");
    if text(inspection, "container") != "iso" && !own_winre && wims.len() == 1 {
        if let [re] = list(&wims[0], "winre") {
            let carried: Vec<u32> = list(re, "shared_by")
                .iter()
                .filter_map(|i| i.as_u64().and_then(|i| u32::try_from(i).ok()))
                .collect();
            // Every edition: an empty selection, as the patch panel sends it.
            let editions = if carried.len() == list(&wims[0], "images").len() {
                Vec::new()
            } else {
                carried
            };
            return Some((PatchTarget::Install, editions, "Patch install.wim"));
        }
    }
    Some((PatchTarget::Winre, Vec::new(), "Patch WinRE"))
}

/// Props of [`Summary`].
#[derive(Properties, PartialEq)]
pub struct SummaryProps {
    /// The inspection.
    pub inspection: Value,
    /// The evaluation.
    pub evaluation: Value,
    /// The catalog's age.
    #[prop_or_default]
    pub catalog: Option<Value>,
    /// Package results (`{file, package, verification}`).
    pub packages: Vec<Value>,
    /// A job is running.
    pub busy: bool,
    /// Start a patch.
    pub on_patch: Callback<(PatchTarget, Vec<u32>)>,
}

/// The at-a-glance card.
#[function_component(Summary)]
pub fn summary(props: &SummaryProps) -> Html {
    let age: Option<CatalogAge> = props
        .catalog
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let rows = rows(&props.inspection, &props.evaluation);
    let media = images(&props.inspection);
    let findings = list(&props.evaluation, "findings");
    let pkgs: Vec<(String, &'static str, String)> = props
        .packages
        .iter()
        .map(|p| {
            let (class, words) = package_status(p, &media);
            (text(p, "file"), class, words)
        })
        .collect();
    let winre = rows.iter().find(|r| r.role == Role::Winre);
    let action = primary_action(&props.inspection, &media);
    let usable = pkgs.iter().any(|(_, class, _)| *class == "ok");
    let why_not = if action.is_none() {
        Some("This media has no WinRE image to patch.".to_string())
    } else if props.busy {
        Some("A job is running.".to_string())
    } else if usable {
        None
    } else {
        let kbs: Vec<String> = winre
            .map(|r| r.needed.iter().map(|(kb, _, _)| kb.clone()).collect())
            .unwrap_or_default();
        let failed: Vec<String> = pkgs
            .iter()
            .filter(|(_, c, _)| *c == "bad")
            .map(|(f, _, _)| f.clone())
            .collect();
        Some(if !failed.is_empty() {
            format!(
                "{} failed verification. Bring an intact copy of the update package.",
                and_list(&failed)
            )
        } else if kbs.is_empty() {
            "Bring the update package (.cab or .msu) to add: drop it on this page.".into()
        } else {
            format!(
                "Bring the packages WinRE needs ({}): download them from the Update Catalog \
                 (links above) and drop them on this page.",
                and_list(&kbs)
            )
        })
    };
    let (target, editions, words) =
        action.unwrap_or((PatchTarget::Winre, Vec::new(), "Patch WinRE"));
    let on_primary = {
        let cb = props.on_patch.clone();
        Callback::from(move |_: MouseEvent| cb.emit((target, editions.clone())))
    };
    html! {
        <section class="card summary" id="summary" aria-labelledby="summary-title">
            <h2 id="summary-title">{"At a glance"}</h2>
            <ul class="glance">
                { for rows.iter().map(|r| {
                    let (class, state) = match &r.status {
                        Status::UpToDate => ("ok", "up-to-date"),
                        Status::Needs(_) => ("warn", "needs"),
                        Status::CannotTell(_) => ("muted", "cannot-tell"),
                    };
                    let mine: Vec<Value> = findings.iter()
                        .filter(|f| num(f, "image").is_some_and(|i| r.images.contains(&(i as usize))))
                        .cloned().collect();
                    let labels: Vec<String> = r.images.iter()
                        .filter_map(|p| media.get(*p)).map(|i| i.label.clone()).collect();
                    html! {
                        <li class={classes!("glance-row", class)} data-role={format!("{:?}", r.role).to_lowercase()}
                            data-status={state}
                            data-images={r.images.iter().map(usize::to_string).collect::<Vec<_>>().join(",")}>
                            <div class="glance-head">
                                <strong class="glance-title">{ r.title.clone() }</strong>
                                <span class="glance-version mono">{ r.version.clone() }</span>
                                <span class={classes!("glance-status", class)}>{ status_words(&r.status, age.as_ref()) }</span>
                            </div>
                            <p class="muted glance-place">{ r.place.clone() }</p>
                            if !r.needed.is_empty() {
                                <p class="glance-needed">{"Get: "}
                                    { for r.needed.iter().map(|(kb, title, _)| html! {
                                        <><a class="kb-link" data-kb={kb.clone()} title={title.clone()}
                                            href={format!("https://www.catalog.update.microsoft.com/Search.aspx?q={kb}")}
                                            target="_blank" rel="noreferrer noopener">{ kb.clone() }</a>{" "}</>
                                    }) }
                                </p>
                            }
                            <details class="glance-details">
                                <summary>{ format!("Verdicts and reasons ({} image{})", labels.len(), if labels.len() == 1 { "" } else { "s" }) }</summary>
                                { for labels.iter().map(|l| html! {
                                    <ImageVerdicts label={l.clone()} age={age.clone()}
                                        findings={mine.iter().filter(|f| text(f, "image_label") == *l).cloned().collect::<Vec<_>>()} />
                                }) }
                            </details>
                        </li>
                    }
                }) }
            </ul>
            if !pkgs.is_empty() {
                <ul class="glance-packages" aria-label="Packages brought">
                    { for pkgs.iter().map(|(file, class, words)| html! {
                        <li class="glance-package" data-file={file.clone()} data-status={*class}>
                            <span class={classes!("dot", *class)} aria-hidden="true"></span>
                            <span class="mono">{ file.clone() }</span>{": "}<span class={*class}>{ words.clone() }</span>
                        </li>
                    }) }
                </ul>
            }
            <div class="glance-action row">
                <button id="glance-patch" onclick={on_primary} disabled={why_not.is_some()}
                    aria-describedby={why_not.as_ref().map(|_| "glance-why")}>{ words }</button>
                if let Some(w) = &why_not {
                    <span class="muted" id="glance-why">{ w.clone() }</span>
                }
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection() -> Value {
        let img = |i: u64, name: &str, t: &str, v: &str| {
            let role = match t {
                "WindowsPE" if name == "PE" => "boot",
                "WindowsPE" => "winre",
                _ => "install",
            };
            serde_json::json!({"index": i, "name": name, "installation_type": t, "arch": "x64",
                "version": v, "version_signals": null, "role": role})
        };
        serde_json::json!({"container": "iso", "wims": [
            {"path": "/sources/install.wim", "images": [
                img(1, "Home", "Client", "10.0.26200.8037"), img(2, "Pro", "Client", "10.0.26200.8037"),
                img(3, "Old", "Client", "10.0.26200.7000")],
             "winre": [{"sha1": "aa", "shared_by": [1, 2, 3], "wim": {"images": [
                img(1, "Microsoft Windows Recovery Environment (amd64)", "WindowsPE", "10.0.26100.1000")]}}]},
            {"path": "/sources/boot.wim", "images": [img(1, "PE", "WindowsPE", "10.0.26100.1000")], "winre": []}
        ]})
    }

    fn finding(image: u64, kb: &str, verdict: &str) -> Value {
        serde_json::json!({"image": image, "kb": kb, "kind": "lcu", "verdict": verdict,
            "image_label": "x", "reasons": ["because"]})
    }

    #[test]
    fn editions_group_by_version_and_needs_winre_and_boot_stand_alone() {
        let ev = serde_json::json!({
            "findings": [finding(0, "KB1", "already-current"), finding(1, "KB1", "already-current"),
                         finding(2, "KB2", "applies"), finding(3, "KB3", "applies"),
                         finding(4, "KB4", "unknown")],
            "recommendations": [{"image": 2, "kb": "KB2", "title": "t2", "kind": "lcu"},
                                {"image": 3, "kb": "KB3", "title": "t3", "kind": "safeos-du"},
                                {"image": 3, "kb": "KB5", "title": "t5", "kind": "lcu"}]});
        let r = rows(&inspection(), &ev);
        assert_eq!(r.len(), 4, "{r:#?}");
        assert_eq!(r[0].images, vec![0, 1]);
        assert_eq!(r[0].title, "Home, Pro");
        assert_eq!(r[0].status, Status::UpToDate);
        assert!(r[0].place.ends_with("images 1 and 2"), "{}", r[0].place);
        assert_eq!(
            (r[1].images.clone(), r[1].status.clone()),
            (vec![2], Status::Needs(1))
        );
        assert_eq!(r[2].role, Role::Winre);
        assert_eq!(r[2].status, Status::Needs(2));
        assert!(r[2].place.contains("editions 1, 2 and 3"), "{}", r[2].place);
        assert_eq!(r[2].version, "10.0.26100.1000");
        assert_eq!(r[3].role, Role::Boot);
        assert!(
            matches!(&r[3].status, Status::CannotTell(w) if w.contains("KB4") && w.contains("because"))
        );
        assert_eq!(status_words(&Status::Needs(2), None), "needs 2 updates");
    }

    #[test]
    fn the_primary_action_patches_install_wim_for_a_lone_install_wim_else_winre() {
        let iso = inspection();
        assert_eq!(
            primary_action(&iso, &images(&iso)),
            Some((PatchTarget::Winre, Vec::new(), "Patch WinRE"))
        );
        // The same install.wim alone: its editions carry the only WinRE.
        let mut lone = iso.clone();
        lone["container"] = "wim".into();
        lone["wims"].as_array_mut().unwrap().truncate(1);
        assert_eq!(
            primary_action(&lone, &images(&lone)),
            Some((PatchTarget::Install, Vec::new(), "Patch install.wim"))
        );
        // Editions 1 and 3 carry it, edition 2 has none: those two are taken.
        lone["wims"][0]["winre"][0]["shared_by"] = serde_json::json!([1, 3]);
        assert_eq!(
            primary_action(&lone, &images(&lone)).map(|a| a.1),
            Some(vec![1, 3])
        );
        // A lone WinRE: patch it. A lone boot.wim: nothing to patch.
        let winre = serde_json::json!({"container": "wim", "wims": [{"path": "x.wim", "winre": [],
            "images": [{"index": 1, "name": "RE", "role": "winre", "version": "10.0.26100.1"}]}]});
        assert_eq!(
            primary_action(&winre, &images(&winre)).map(|a| a.0),
            Some(PatchTarget::Winre)
        );
        let mut boot = iso.clone();
        boot["wims"].as_array_mut().unwrap().remove(0);
        assert_eq!(primary_action(&boot, &images(&boot)), None);
    }

    #[test]
    fn packages_verified_failed_or_not_for_this_media() {
        let media = images(&inspection());
        let pkg = |kind: &str, version: &str, arch: &str, ok: bool| {
            serde_json::json!({"file": "p.cab", "package": {"kind": kind, "identity":
                {"version": version, "processor_architecture": arch}}, "verification": {"ok": ok}})
        };
        assert_eq!(
            package_status(&pkg("SafeOsDu", "26100.8037.1.0", "amd64", true), &media).0,
            "ok"
        );
        assert_eq!(
            package_status(&pkg("SafeOsDu", "26100.8037.1.0", "amd64", false), &media).0,
            "bad"
        );
        assert_eq!(
            package_status(&pkg("SafeOsDu", "22621.1.1.0", "amd64", true), &media).0,
            "warn"
        );
        assert_eq!(
            package_status(&pkg("SafeOsDu", "26100.1.1.0", "arm64", true), &media).0,
            "warn"
        );
        // A cumulative update for 26100 services the 26200 editions.
        assert_eq!(
            package_status(&pkg("Lcu", "26100.8246.1.0", "amd64", true), &media).0,
            "ok"
        );
    }
}
