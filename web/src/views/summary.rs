//! At a glance (issue #18): one row per image (install editions grouped when they share version,
//! WinRE and needs; each WinRE; boot.wim) with its version, a status in colour and words, and the
//! updates it needs as Update Catalog links; then the packages brought; then one primary action.
//! The verdict tables and reasons fold under each row.
//!
//! The core has no grouping of images for display, so it is computed here from what the worker
//! already sends: the inspection (versions, which editions share a WinRE) and the evaluation
//! (findings and recommendations, whose `image` is the position in `media::image_facts` order).

use super::updates::ImageVerdicts;
use super::{opt, wire};
use crate::protocol::{Held, PackageResult, PatchTarget};
use mediaprep_core::catalog::{CatalogAge, Evaluation, Finding, ImageRole, Verdict};
use mediaprep_core::cbs::PackageKind;
use mediaprep_core::media::{ImageReport, Inspection, WimReport};
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

fn image_of(w: &WimReport, img: &ImageReport, wim: &str, role: Role) -> Image {
    let version = img
        .version_signals
        .as_ref()
        .and_then(|s| s.effective.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| opt(&img.version));
    let winre = w
        .winre
        .iter()
        .find(|r| r.shared_by.contains(&img.index))
        .map(|r| r.sha1.clone());
    let index = u64::from(img.index);
    Image {
        pos: 0,
        label: format!("{wim} #{index} ({})", opt(&img.name)),
        role,
        wim: wim.to_string(),
        index,
        name: opt(&img.name),
        version,
        arch: opt(&img.arch),
        winre: if role == Role::Install { winre } else { None },
        carried_by: Vec::new(),
    }
}

/// The images in `media::image_facts` order: each WIM's images, then the WinRE nested in it.
pub fn images(inspection: &Inspection) -> Vec<Image> {
    let mut out = Vec::new();
    for w in &inspection.wims {
        let path = &w.path;
        for img in &w.images {
            // The core decides (media::role: XML, name, boot.wim by file name, the tree's
            // winpeshl.exe / sources\setup.exe / sources\recovery) and sends it with the image.
            let role = match img.role {
                ImageRole::Winre => Role::Winre,
                ImageRole::Boot => Role::Boot,
                _ => Role::Install,
            };
            out.push(image_of(w, img, path, role));
        }
        for re in &w.winre {
            for img in &re.wim.images {
                let mut i = image_of(&re.wim, img, &format!("Winre.wim in {path}"), Role::Winre);
                i.carried_by = re.shared_by.iter().map(|&i| u64::from(i)).collect();
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
fn status_of(findings: &[&Finding], needed: usize) -> Status {
    if needed > 0 {
        return Status::Needs(needed);
    }
    if let Some(u) = findings.iter().find(|f| f.verdict == Verdict::Unknown) {
        return Status::CannotTell(format!("{}: {}", u.kb, u.reasons.join(" ")));
    }
    if findings
        .iter()
        .any(|f| f.verdict == Verdict::AlreadyCurrent)
    {
        return Status::UpToDate;
    }
    Status::CannotTell("no update in the catalog is for this image's build".into())
}

/// What images of one row share: WIM path, version, the WinRE they carry.
type GroupKey = (String, String, Option<String>);

/// The summary rows: install editions grouped when they share WIM, version, WinRE and needs;
/// boot.wim images grouped the same way; each WinRE image on its own row.
pub fn rows(inspection: &Inspection, evaluation: &Evaluation) -> Vec<Row> {
    let findings = &evaluation.findings;
    let recs = &evaluation.recommendations;
    let needed_of = |pos: usize| -> Vec<(String, String, String)> {
        let mut v: Vec<(String, String, String)> = Vec::new();
        for r in recs.iter().filter(|r| r.image == pos) {
            if !v.iter().any(|(kb, _, _)| *kb == r.kb) {
                v.push((r.kb.clone(), opt(&r.title), wire(&r.kind)));
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
            let mine: Vec<&Finding> = findings
                .iter()
                .filter(|f| r.images.contains(&f.image))
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
pub fn package_status(pkg: &PackageResult, media: &[Image]) -> (&'static str, String) {
    if !pkg.verification.ok {
        return ("bad", "failed verification: it cannot be used".into());
    }
    let ident = pkg.package.identity.clone().unwrap_or_default();
    let build = ident
        .version
        .split('.')
        .next()
        .and_then(|b| b.parse::<u64>().ok());
    let arch = match ident.processor_architecture.as_str() {
        "amd64" => "x64".to_string(),
        other => other.to_string(),
    };
    let winre_only = pkg.package.kind == PackageKind::SafeOsDu;
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
    inspection: &Inspection,
    media: &[Image],
) -> Option<(PatchTarget, Vec<u32>, &'static str)> {
    if !media.iter().any(|i| i.role == Role::Winre) {
        return None;
    }
    let own_winre = media
        .iter()
        .any(|i| i.role == Role::Winre && i.carried_by.is_empty());
    let wims = &inspection.wims;
    if inspection.container != "iso" && !own_winre && wims.len() == 1 {
        if let [re] = wims[0].winre.as_slice() {
            let carried = re.shared_by.clone();
            // Every edition: an empty selection, as the patch panel sends it.
            let editions = if carried.len() == wims[0].images.len() {
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
    pub inspection: Held<Inspection>,
    /// The evaluation.
    pub evaluation: Held<Evaluation>,
    /// The catalog's age.
    #[prop_or_default]
    pub catalog: Option<CatalogAge>,
    /// Package results.
    pub packages: Vec<PackageResult>,
    /// A job is running.
    pub busy: bool,
    /// Start a patch.
    pub on_patch: Callback<(PatchTarget, Vec<u32>)>,
}

/// The at-a-glance card.
#[function_component(Summary)]
pub fn summary(props: &SummaryProps) -> Html {
    let age = props.catalog.clone();
    let rows = rows(&props.inspection, &props.evaluation);
    let media = images(&props.inspection);
    let findings = &props.evaluation.findings;
    let pkgs: Vec<(String, &'static str, String)> = props
        .packages
        .iter()
        .map(|p| {
            let (class, words) = package_status(p, &media);
            (p.file.clone(), class, words)
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
                    let mine: Vec<&Finding> = findings.iter()
                        .filter(|f| r.images.contains(&f.image))
                        .collect();
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
                                        findings={mine.iter().filter(|f| f.image_label == *l).map(|f| (*f).clone()).collect::<Vec<_>>()} />
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
    use mediaprep_core::catalog::{Recommendation, Target, UpdateKind};
    use mediaprep_core::media::WinreReport;

    fn img(index: u32, name: &str, role: ImageRole, version: &str) -> ImageReport {
        ImageReport {
            index,
            name: Some(name.into()),
            edition: None,
            arch: Some("x64".into()),
            version: Some(version.into()),
            build: None,
            spbuild: None,
            languages: Vec::new(),
            installation_type: None,
            dir_count: None,
            file_count: None,
            total_bytes: None,
            pe_content: None,
            role,
            version_signals: None,
        }
    }

    fn wim(path: &str, images: Vec<ImageReport>, winre: Vec<WinreReport>) -> WimReport {
        WimReport {
            path: path.into(),
            kind: "wim".into(),
            compression: "LZX".into(),
            chunk_size: 32768,
            solid: false,
            part_count: 1,
            boot_index: 0,
            integrity_present: false,
            integrity_valid: None,
            images,
            winre,
        }
    }

    fn winre(shared_by: Vec<u32>) -> WinreReport {
        let re = "Microsoft Windows Recovery Environment (amd64)";
        WinreReport {
            path: "/Windows/System32/Recovery/Winre.wim".into(),
            size: 1,
            sha1: "aa".into(),
            shared_by,
            wim: Box::new(wim(
                "re",
                vec![img(1, re, ImageRole::Winre, "10.0.26100.1000")],
                Vec::new(),
            )),
        }
    }

    fn inspection() -> Inspection {
        let install = |i, n, v| img(i, n, ImageRole::Install, v);
        Inspection {
            schema: 1,
            file: "x.iso".into(),
            size: 0,
            container: "iso".into(),
            iso: None,
            wims: vec![
                wim(
                    "/sources/install.wim",
                    vec![
                        install(1, "Home", "10.0.26200.8037"),
                        install(2, "Pro", "10.0.26200.8037"),
                        install(3, "Old", "10.0.26200.7000"),
                    ],
                    vec![winre(vec![1, 2, 3])],
                ),
                wim(
                    "/sources/boot.wim",
                    vec![img(1, "PE", ImageRole::Boot, "10.0.26100.1000")],
                    Vec::new(),
                ),
            ],
        }
    }

    fn finding(image: usize, kb: &str, verdict: Verdict) -> Finding {
        Finding {
            image,
            image_label: "x".into(),
            kb: kb.into(),
            kind: UpdateKind::Lcu,
            verdict,
            reasons: vec!["because".into()],
            facts: Default::default(),
        }
    }

    fn rec(image: usize, kb: &str, title: &str, kind: UpdateKind) -> Recommendation {
        Recommendation {
            image,
            image_label: "x".into(),
            target: Target::Winre,
            kb: kb.into(),
            kind,
            title: Some(title.into()),
            release_date: None,
            reason: String::new(),
        }
    }

    #[test]
    fn editions_group_by_version_and_needs_winre_and_boot_stand_alone() {
        let ev = Evaluation {
            catalog_version: "1".into(),
            findings: vec![
                finding(0, "KB1", Verdict::AlreadyCurrent),
                finding(1, "KB1", Verdict::AlreadyCurrent),
                finding(2, "KB2", Verdict::Applies),
                finding(3, "KB3", Verdict::Applies),
                finding(4, "KB4", Verdict::Unknown),
            ],
            recommendations: vec![
                rec(2, "KB2", "t2", UpdateKind::Lcu),
                rec(3, "KB3", "t3", UpdateKind::SafeosDu),
                rec(3, "KB5", "t5", UpdateKind::Lcu),
            ],
            procedure: Vec::new(),
            notes: Vec::new(),
        };
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
        assert_eq!(r[2].needed[0].2, "safeos-du");
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
        lone.container = "wim".into();
        lone.wims.truncate(1);
        assert_eq!(
            primary_action(&lone, &images(&lone)),
            Some((PatchTarget::Install, Vec::new(), "Patch install.wim"))
        );
        // Editions 1 and 3 carry it, edition 2 has none: those two are taken.
        lone.wims[0].winre[0].shared_by = vec![1, 3];
        assert_eq!(
            primary_action(&lone, &images(&lone)).map(|a| a.1),
            Some(vec![1, 3])
        );
        // A lone WinRE: patch it. A lone boot.wim: nothing to patch.
        let mut winre = lone.clone();
        winre.wims = vec![wim(
            "x.wim",
            vec![img(1, "RE", ImageRole::Winre, "10.0.26100.1")],
            Vec::new(),
        )];
        assert_eq!(
            primary_action(&winre, &images(&winre)).map(|a| a.0),
            Some(PatchTarget::Winre)
        );
        let mut boot = iso.clone();
        boot.wims.remove(0);
        assert_eq!(primary_action(&boot, &images(&boot)), None);
    }

    /// A package result as the worker sends it, read back from its JSON: this also checks that
    /// the core's `Package` and `Verification` round-trip through the protocol.
    fn pkg(kind: &str, version: &str, arch: &str, ok: bool) -> PackageResult {
        let id = serde_json::json!({"name": "Package_for_X", "version": version,
            "processor_architecture": arch, "language": "neutral", "public_key_token": "",
            "build_type": "release", "version_scope": ""});
        let json = serde_json::json!({"file": "p.cab",
            "package": {"file_name": "p.cab", "container": "Cab", "kind": kind, "members": [],
                "identity": id, "parents": [], "updates": [], "components": [],
                "inner_packages": [], "properties": {}, "psfx": false, "delta_payloads": false,
                "notes": []},
            "verification": {"file_sha256": "", "file_sha1": "", "payloads": [],
                "problems": [], "notes": [], "ok": ok}});
        let r: PackageResult = serde_json::from_value(json.clone()).unwrap();
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["package"]["identity"], json["package"]["identity"]);
        assert_eq!(back["verification"]["ok"], json["verification"]["ok"]);
        r
    }

    #[test]
    fn packages_verified_failed_or_not_for_this_media() {
        let media = images(&inspection());
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
