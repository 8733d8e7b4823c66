//! Which catalog updates apply to which image, and why.
//!
//! The integrator fills one [`ImageFacts`] per image it inspected (each install.wim index, its nested
//! Winre.wim, each boot.wim index, the media's `sources\`). [`evaluate`] gives one [`Finding`] per
//! (image, update) pair with a [`Verdict`], the reasons in plain words and the facts it used, then
//! recommends the newest applicable update per image and lays out Microsoft's procedure order.
//!
//! Versions are compared on the servicing ("CBS") build, not the marketing build: 23H2 media (22631)
//! carries a 22621 WinRE and 22621 packages, 25H2 media (26200) a 26100 WinRE, and Windows 10
//! 2004–22H2 (19041–19045) all service as 19041.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::age::CatalogAge;
pub use super::model::Recommendation;
use super::model::{Catalog, ProductSide, Target, Update, UpdateKind};
use super::plan::{procedure, ProcedureStep};

/// What an inspected image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ImageRole {
    /// A WinRE image (winre.wim, normally from install.wim index 1).
    #[default]
    Winre,
    /// An install.wim / install.esd index.
    Install,
    /// A boot.wim index.
    Boot,
    /// The media's loose Setup files (`sources\`).
    SetupMedia,
}

impl ImageRole {
    /// The catalog target this role corresponds to.
    pub fn target(self) -> Target {
        match self {
            ImageRole::Winre => Target::Winre,
            ImageRole::Install => Target::Install,
            ImageRole::Boot => Target::Boot,
            ImageRole::SetupMedia => Target::MediaSources,
        }
    }
}

/// Facts about one image, as read by the inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageFacts {
    /// Human label, e.g. "install.wim #3 (Pro)" or "Winre.wim in install.wim #1".
    pub label: String,
    /// What the image is.
    pub role: ImageRole,
    /// `x86`, `x64` or `arm64` (`amd64`/`aarch64` are accepted too).
    #[serde(default)]
    pub arch: Option<String>,
    /// OS build (WIM XML `VERSION/BUILD`), e.g. 26200.
    #[serde(default)]
    pub build: Option<u32>,
    /// Revision (WIM XML `SPBUILD` or a package version).
    #[serde(default)]
    pub revision: Option<u32>,
    /// Where `revision` came from, e.g. "WIM XML SPBUILD".
    #[serde(default)]
    pub revision_source: Option<String>,
    /// Revision of the highest installed `Package_for_SafeOSDU` (WinRE only).
    #[serde(default)]
    pub installed_safeos_revision: Option<u32>,
    /// WIM XML `INSTALLATIONTYPE` (Client, Server, Server Core, WindowsPE).
    #[serde(default)]
    pub installation_type: Option<String>,
    /// WIM XML `EDITIONID` (Professional, ServerStandard, WindowsPE...).
    #[serde(default)]
    pub edition: Option<String>,
    /// A hint from the surrounding media, e.g. "Server" for a WinRE taken from a Server install.wim.
    #[serde(default)]
    pub product_hint: Option<String>,
}

/// The outcome for one (image, update) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The update is for this image and the image does not have it yet.
    Applies,
    /// The image already has this update's revision (or a later one).
    AlreadyCurrent,
    /// The update would apply, but a newer entry for the same target applies too.
    Superseded,
    /// Different build family, architecture, product (client/server) or target.
    NotApplicable,
    /// Not enough information to decide.
    Unknown,
}

impl Verdict {
    /// Plain-words name for reports.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Applies => "applies",
            Verdict::AlreadyCurrent => "already current",
            Verdict::Superseded => "superseded",
            Verdict::NotApplicable => "not applicable",
            Verdict::Unknown => "unknown",
        }
    }

    /// The words to show for this verdict with a catalog of the given age: "already current"
    /// becomes "up to date as of <catalog date>" once Microsoft has released updates the catalog
    /// cannot know about ([`CatalogAge::stale`]); every other verdict reads as [`Verdict::label`].
    pub fn words(self, age: Option<&CatalogAge>) -> String {
        match (self, age) {
            (Verdict::AlreadyCurrent, Some(a)) if a.stale => format!("up to date as of {}", a.date),
            _ => self.label().to_string(),
        }
    }
}

/// One verdict with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Index into the `images` slice given to [`evaluate`].
    pub image: usize,
    /// The image's label.
    pub image_label: String,
    /// The update's KB number.
    pub kb: String,
    /// The update's kind.
    pub kind: UpdateKind,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in plain words (first reason decides).
    pub reasons: Vec<String>,
    /// The facts the decision used (name → value).
    pub facts: BTreeMap<String, String>,
}

/// Everything [`evaluate`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The catalog data version used.
    pub catalog_version: String,
    /// One finding per (image, update).
    pub findings: Vec<Finding>,
    /// The newest applicable update(s) per image.
    pub recommendations: Vec<Recommendation>,
    /// Microsoft's procedure, in order, restricted to the targets that have something to do.
    pub procedure: Vec<ProcedureStep>,
    /// General remarks (unknown builds, month mismatches...).
    pub notes: Vec<String>,
}

impl Evaluation {
    /// Findings for one image.
    pub fn findings_for(&self, image: usize) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.image == image)
    }

    /// The finding for (image, kb), if any.
    pub fn finding(&self, image: usize, kb: &str) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.image == image && f.kb.eq_ignore_ascii_case(kb))
    }
}

/// The servicing build a build number is compared on (see the module docs).
pub fn cbs_family(build: u32) -> u32 {
    match build {
        22621 | 22631 => 22621,
        26100 | 26200 => 26100,
        19041..=19045 => 19041,
        other => other,
    }
}

/// Normalise an architecture name to `x86` / `x64` / `arm64`; `None` for anything else.
pub fn normalize_arch(a: &str) -> Option<&'static str> {
    match a.trim().to_ascii_lowercase().as_str() {
        "x86" | "i386" | "i686" | "0" => Some("x86"),
        "x64" | "amd64" | "x86_64" | "9" => Some("x64"),
        "arm64" | "aarch64" | "12" => Some("arm64"),
        _ => None,
    }
}

/// Client or server, from the facts; `None` when the facts don't say.
pub fn image_side(f: &ImageFacts) -> (Option<ProductSide>, String) {
    let lc = |s: &Option<String>| s.as_deref().map(|v| v.to_ascii_lowercase());
    if let Some(h) = lc(&f.product_hint) {
        if h.contains("server") {
            return (Some(ProductSide::Server), "product hint".into());
        }
        if h.contains("client") || h.contains("windows 10") || h.contains("windows 11") {
            return (Some(ProductSide::Client), "product hint".into());
        }
    }
    if let Some(t) = lc(&f.installation_type) {
        if t.starts_with("server") {
            return (Some(ProductSide::Server), "installation type".into());
        }
        if t == "client" {
            return (Some(ProductSide::Client), "installation type".into());
        }
    }
    if let Some(e) = lc(&f.edition) {
        if e.starts_with("server") || e.contains("azurestackhci") {
            return (Some(ProductSide::Server), "edition".into());
        }
        if e != "windowspe" && !e.is_empty() {
            return (Some(ProductSide::Client), "edition".into());
        }
    }
    // Some servicing families exist on one side only.
    match f.build.map(cbs_family) {
        Some(20348) | Some(17763) | Some(14393) => (
            Some(ProductSide::Server),
            "build (server-only family)".into(),
        ),
        Some(22621) | Some(19041) | Some(22000) => (
            Some(ProductSide::Client),
            "build (client-only family)".into(),
        ),
        _ => (None, String::new()),
    }
}

/// Fact key marking a verdict left unknown because client vs server could not be told.
const SIDE_AMBIGUOUS: &str = "client or server unknown";

fn update_family(u: &Update) -> Option<u32> {
    u.build_family
        .or_else(|| u.os_builds.first().copied().map(cbs_family))
}

/// First pass: everything except revisions. `Ok(())` means eligible.
fn eligibility(
    catalog: &Catalog,
    img: &ImageFacts,
    u: &Update,
    facts: &mut BTreeMap<String, String>,
) -> Result<(), (Verdict, String)> {
    let target = img.role.target();
    if !u.services(target) {
        let ts: Vec<&str> = u.targets.iter().map(|t| t.label()).collect();
        return Err((
            Verdict::NotApplicable,
            format!(
                "{} services {}, not {}",
                u.kb,
                if ts.is_empty() {
                    "nothing listed".to_string()
                } else {
                    ts.join(", ")
                },
                target.label()
            ),
        ));
    }
    let Some(build) = img.build else {
        return Err((
            Verdict::Unknown,
            "the image's build number is not known".into(),
        ));
    };
    let fam = cbs_family(build);
    facts.insert("image build".into(), build.to_string());
    facts.insert("image servicing family".into(), fam.to_string());
    let Some(ufam) = update_family(u) else {
        return Err((
            Verdict::Unknown,
            format!("the catalog does not say which build {} is for", u.kb),
        ));
    };
    facts.insert("update build family".into(), ufam.to_string());
    if fam != ufam {
        return Err((
            Verdict::NotApplicable,
            format!(
                "the image is build {build} (services as {fam}); {} is for build family {ufam} ({})",
                u.kb,
                u.products.join(", ")
            ),
        ));
    }
    // Full OS images must match the OS builds the update is published for (a 23H2-only LCU is not
    // offered for 22H2 media although both service as 22621); WinRE compares on the family only.
    if img.role != ImageRole::Winre && !u.os_builds.is_empty() && !u.os_builds.contains(&build) {
        let list: Vec<String> = u.os_builds.iter().map(u32::to_string).collect();
        return Err((
            Verdict::NotApplicable,
            format!(
                "{} is published for OS build {} ({}); the image is build {build}",
                u.kb,
                list.join(" / "),
                u.products.join(", ")
            ),
        ));
    }
    let (side, side_signal) = image_side(img);
    match side {
        Some(s) => {
            facts.insert(
                "image product".into(),
                format!(
                    "{} (from {side_signal})",
                    if s == ProductSide::Server {
                        "server"
                    } else {
                        "client"
                    }
                ),
            );
            if !u.for_side(s) {
                return Err((
                    Verdict::NotApplicable,
                    format!(
                        "the image is a {} image; {} is for {}",
                        if s == ProductSide::Server {
                            "Windows Server"
                        } else {
                            "Windows client"
                        },
                        u.kb,
                        u.products.join(", ")
                    ),
                ));
            }
        }
        None => {
            let one_sided = u.for_client() != u.for_server();
            let family_has_both = catalog
                .updates
                .iter()
                .any(|o| update_family(o) == Some(fam) && o.for_server() && o.kind == u.kind)
                && catalog
                    .updates
                    .iter()
                    .any(|o| update_family(o) == Some(fam) && o.for_client() && o.kind == u.kind);
            if one_sided && family_has_both {
                facts.insert(SIDE_AMBIGUOUS.into(), "yes".into());
                return Err((
                    Verdict::Unknown,
                    format!(
                        "build family {fam} has both client and server releases and the facts don't \
                         say which this image is; {} is only for {}",
                        u.kb,
                        u.products.join(", ")
                    ),
                ));
            }
        }
    }
    let Some(arch_raw) = img.arch.as_deref() else {
        return Err((
            Verdict::Unknown,
            "the image's architecture is not known".into(),
        ));
    };
    let Some(arch) = normalize_arch(arch_raw) else {
        return Err((
            Verdict::Unknown,
            format!("architecture {arch_raw:?} is not one the catalog knows"),
        ));
    };
    facts.insert("image architecture".into(), arch.into());
    if u.architectures.is_empty() {
        return Err((
            Verdict::Unknown,
            format!("the catalog does not list the architectures of {}", u.kb),
        ));
    }
    if !u.architectures.iter().any(|a| a == arch) {
        return Err((
            Verdict::NotApplicable,
            format!(
                "the image is {arch}; {} is published for {} only",
                u.kb,
                u.architectures.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The image revision to compare with, and the signal it came from.
fn image_revision(img: &ImageFacts, u: &Update) -> Option<(u32, String)> {
    let xml = img.revision.map(|r| {
        (
            r,
            img.revision_source
                .clone()
                .unwrap_or_else(|| "image revision".into()),
        )
    });
    if u.kind == UpdateKind::SafeosDu && img.role == ImageRole::Winre {
        let pkg = img
            .installed_safeos_revision
            .map(|r| (r, "installed Package_for_SafeOSDU record".to_string()));
        return match (xml, pkg) {
            (Some(a), Some(b)) => Some(if b.0 >= a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
    }
    xml
}

fn date_key(u: &Update) -> (String, u32) {
    (
        u.release_date.clone().unwrap_or_default(),
        u.revision.unwrap_or(0),
    )
}

/// Second pass for an eligible pair: compare revisions.
fn revision_verdict(
    img: &ImageFacts,
    u: &Update,
    peers: &[&Update],
    facts: &mut BTreeMap<String, String>,
) -> (Verdict, String) {
    // Shown as build.revision the way Microsoft words it: a Safe OS DU sets "WinRE version
    // 10.0.<servicing build>.R", an LCU sets "OS Build <build>.R".
    let fam = match u.kind {
        UpdateKind::SafeosDu => img.build.map(cbs_family).unwrap_or(0),
        _ => img.build.unwrap_or(0),
    };
    if u.kind == UpdateKind::SetupDu {
        return (
            Verdict::Applies,
            format!(
                "{} is the Setup Dynamic Update for this media's release; it is expanded into \
                 sources\\ (Setup files carry no revision we can compare, so re-expanding it is the \
                 safe choice)",
                u.kb
            ),
        );
    }
    if img.role == ImageRole::Winre && matches!(u.kind, UpdateKind::Lcu | UpdateKind::Ssu) {
        return (
            Verdict::Applies,
            format!(
                "Microsoft services WinRE with the servicing stack from the cumulative update ({}), \
                 then the Safe OS DU; the cumulative update itself does not apply to WinRE",
                u.kb
            ),
        );
    }
    if img.role == ImageRole::Winre && u.kind == UpdateKind::CheckpointLcu {
        // WinRE's revision is not an OS revision, so it can't be compared with a checkpoint's.
        return (
            Verdict::Applies,
            format!(
                "{} is a checkpoint of the cumulative update used for WinRE's servicing stack; it \
                 goes in the same folder as the LCU and DISM applies it only if needed",
                u.kb
            ),
        );
    }
    let Some((rev, signal)) = image_revision(img, u) else {
        return (
            Verdict::Unknown,
            "the image's revision is not known, so we can't tell whether it already has this update"
                .into(),
        );
    };
    facts.insert("image revision".into(), format!("{rev} (from {signal})"));
    if let (Some(xml), Some(pkg)) = (img.revision, img.installed_safeos_revision) {
        if u.kind == UpdateKind::SafeosDu && xml < pkg {
            facts.insert(
                "note".into(),
                format!(
                    "WIM XML revision {xml} lags the installed Safe OS DU package {pkg}; DISM \
                     does not always update SPBUILD when a Safe OS DU is added"
                ),
            );
        }
    }
    if let Some(urev) = u.revision {
        facts.insert("update revision".into(), urev.to_string());
        return if rev >= urev {
            (
                Verdict::AlreadyCurrent,
                format!(
                    "the image is at {fam}.{rev} ({signal}), which is at or past {fam}.{urev} that \
                     {} brings",
                    u.kb
                ),
            )
        } else {
            (
                Verdict::Applies,
                format!(
                    "the image is at {fam}.{rev} ({signal}); {} brings {fam}.{urev}",
                    u.kb
                ),
            )
        };
    }
    // The revision this update brings was not published. Revisions only grow along a servicing
    // branch, so known revisions of earlier and later peers still bound it.
    let key = date_key(u);
    let earlier = peers
        .iter()
        .filter(|p| p.release_date.is_some() && u.release_date.is_some() && date_key(p) < key)
        .filter_map(|p| p.revision.map(|r| (r, p.kb.clone())))
        .max();
    let later = peers
        .iter()
        .filter(|p| p.release_date.is_some() && u.release_date.is_some() && date_key(p) > key)
        .filter_map(|p| p.revision.map(|r| (r, p.kb.clone())))
        .min();
    facts.insert("update revision".into(), "not published".into());
    if let Some((r, kb)) = &earlier {
        if rev < *r {
            return (
                Verdict::Applies,
                format!(
                    "the image is at {fam}.{rev} ({signal}), older than even {kb} ({fam}.{r}), \
                     which came out before {}; the revision {} brings is not published",
                    u.kb, u.kb
                ),
            );
        }
    }
    if let Some((r, kb)) = &later {
        if rev >= *r {
            return (
                Verdict::AlreadyCurrent,
                format!(
                    "the image is at {fam}.{rev} ({signal}), at or past {kb} ({fam}.{r}), which \
                     came out after {}",
                    u.kb
                ),
            );
        }
    }
    (
        Verdict::Unknown,
        format!(
            "the revision {} brings is not published and the image ({fam}.{rev}, {signal}) is not \
             older than earlier updates of the same kind, so we can't tell whether it has it",
            u.kb
        ),
    )
}

/// Evaluate every catalog update against every image.
pub fn evaluate(catalog: &Catalog, images: &[ImageFacts]) -> Evaluation {
    let mut findings = Vec::new();
    let mut recommendations = Vec::new();
    let mut notes = Vec::new();

    for (i, img) in images.iter().enumerate() {
        let mut local: Vec<Finding> = Vec::new();
        let mut eligible: Vec<&Update> = Vec::new();
        let mut eligible_facts: Vec<BTreeMap<String, String>> = Vec::new();
        for u in &catalog.updates {
            let mut facts = BTreeMap::new();
            facts.insert("image role".into(), img.role.target().label().into());
            match eligibility(catalog, img, u, &mut facts) {
                Ok(()) => {
                    eligible.push(u);
                    eligible_facts.push(facts);
                }
                Err((verdict, reason)) => local.push(Finding {
                    image: i,
                    image_label: img.label.clone(),
                    kb: u.kb.clone(),
                    kind: u.kind,
                    verdict,
                    reasons: vec![reason],
                    facts,
                }),
            }
        }
        let mut elig_findings: Vec<(usize, Finding)> = Vec::new();
        for (n, (u, mut facts)) in eligible.iter().zip(eligible_facts).enumerate() {
            let peers: Vec<&Update> = eligible
                .iter()
                .copied()
                .filter(|p| p.kind == u.kind && p.kb != u.kb)
                .collect();
            let (verdict, reason) = revision_verdict(img, u, &peers, &mut facts);
            elig_findings.push((
                n,
                Finding {
                    image: i,
                    image_label: img.label.clone(),
                    kb: u.kb.clone(),
                    kind: u.kind,
                    verdict,
                    reasons: vec![reason],
                    facts,
                },
            ));
        }
        supersede(&eligible, &mut elig_findings);
        // Recommendations: whatever still applies after supersession.
        for (n, f) in &elig_findings {
            if f.verdict != Verdict::Applies {
                continue;
            }
            let Some(u) = eligible.get(*n) else { continue };
            let newer_unknown: Vec<&str> = elig_findings
                .iter()
                .filter(|(m, g)| {
                    g.verdict == Verdict::Unknown
                        && eligible
                            .get(*m)
                            .is_some_and(|o| o.kind == u.kind && date_key(o) > date_key(u))
                })
                .map(|(_, g)| g.kb.as_str())
                .collect();
            let mut reason = f.reasons.first().cloned().unwrap_or_default();
            if !newer_unknown.is_empty() {
                reason.push_str(&format!(
                    "; newer {} undecided: {}",
                    u.kind.label(),
                    newer_unknown.join(", ")
                ));
            }
            recommendations.push(Recommendation {
                image: i,
                image_label: img.label.clone(),
                target: img.role.target(),
                kb: u.kb.clone(),
                kind: u.kind,
                title: u.title.clone(),
                release_date: u.release_date.clone(),
                reason,
            });
        }
        if eligible.is_empty() {
            notes.push(match img.build {
                Some(b) => format!(
                    "{}: the catalog has no update for build {b} (services as {}) on {}",
                    img.label,
                    cbs_family(b),
                    img.role.target().label()
                ),
                None => format!(
                    "{}: build unknown, so no update could be matched",
                    img.label
                ),
            });
        }
        let side_unknown: Vec<&str> = local
            .iter()
            .filter(|f| f.verdict == Verdict::Unknown && f.facts.contains_key(SIDE_AMBIGUOUS))
            .map(|f| f.kb.as_str())
            .collect();
        if !side_unknown.is_empty() {
            notes.push(format!(
                "{}: the facts don't say whether this is a client or a server image, so updates \
                 published for only one of them were left undecided ({}); pass the product of the \
                 surrounding install.wim as the product hint",
                img.label,
                side_unknown.join(", ")
            ));
        }
        local.extend(elig_findings.into_iter().map(|(_, f)| f));
        findings.extend(local);
    }

    month_notes(catalog, &recommendations, &mut notes);
    let procedure = procedure(&recommendations);
    Evaluation {
        catalog_version: catalog.version.clone(),
        findings,
        recommendations,
        procedure,
        notes,
    }
}

/// Within one image: older applicable updates of a kind give way to the newest one.
fn supersede(eligible: &[&Update], findings: &mut [(usize, Finding)]) {
    // Checkpoint LCUs are prerequisites, not replacements: DISM applies every one it needs.
    let kinds = [
        UpdateKind::SafeosDu,
        UpdateKind::SetupDu,
        UpdateKind::Lcu,
        UpdateKind::Ssu,
        UpdateKind::Dotnet,
    ];
    for kind in kinds {
        let newest_applies = findings
            .iter()
            .filter(|(n, f)| {
                f.verdict == Verdict::Applies && f.kind == kind && eligible.get(*n).is_some()
            })
            .filter_map(|(n, _)| eligible.get(*n).copied())
            .max_by_key(|u| date_key(u));
        let newest_current = findings
            .iter()
            .filter(|(_, f)| f.verdict == Verdict::AlreadyCurrent && f.kind == kind)
            .filter_map(|(n, _)| eligible.get(*n).copied())
            .max_by_key(|u| date_key(u));
        // An older entry whose own revision is unpublished (verdict unknown) is decided by the newer
        // ones just the same: a newer applicable one replaces it, a newer installed one includes it.
        for (n, f) in findings.iter_mut() {
            if f.kind != kind || !matches!(f.verdict, Verdict::Applies | Verdict::Unknown) {
                continue;
            }
            let Some(u) = eligible.get(*n) else { continue };
            if let Some(cur) = newest_current {
                if date_key(cur) > date_key(u) {
                    f.verdict = Verdict::AlreadyCurrent;
                    f.reasons.insert(
                        0,
                        format!(
                            "the image already has the newer {} ({}), which includes it",
                            cur.kb,
                            cur.release_date.as_deref().unwrap_or("date unknown")
                        ),
                    );
                    continue;
                }
            }
            if let Some(new) = newest_applies {
                if new.kb != u.kb && date_key(new) > date_key(u) {
                    f.verdict = Verdict::Superseded;
                    let explicit = u.superseded_by.iter().any(|k| k == &new.kb)
                        || new.supersedes.iter().any(|k| k == &u.kb);
                    f.reasons.insert(
                        0,
                        format!(
                            "{} ({}) is newer and also applies to this image{}",
                            new.kb,
                            new.release_date.as_deref().unwrap_or("date unknown"),
                            if explicit {
                                "; Microsoft lists it as the replacement"
                            } else {
                                ""
                            }
                        ),
                    );
                }
            }
        }
    }
}

/// Microsoft asks for Safe OS / Setup DUs from the same month as the LCU (or the newest available).
fn month_notes(catalog: &Catalog, recs: &[Recommendation], notes: &mut Vec<String>) {
    let month = |kb: &str| {
        catalog
            .get(kb)
            .and_then(|u| u.release_date.as_deref())
            .and_then(|d| d.get(0..7))
            .map(str::to_string)
    };
    let family = |kb: &str| catalog.get(kb).and_then(update_family);
    for r in recs
        .iter()
        .filter(|r| matches!(r.kind, UpdateKind::SafeosDu | UpdateKind::SetupDu))
    {
        // Compare with the newest LCU recommended for the same servicing family.
        let fam = family(&r.kb);
        let Some(lcu_month) = recs
            .iter()
            .filter(|l| l.kind == UpdateKind::Lcu && family(&l.kb) == fam)
            .filter_map(|l| month(&l.kb))
            .max()
        else {
            continue;
        };
        if let Some(m) = month(&r.kb) {
            if m != lcu_month {
                let note = format!(
                    "{} is from {m} while the cumulative update is from {lcu_month}; Microsoft asks \
                     for Dynamic Updates of the same month as the cumulative update, or the most \
                     recent one published if that month has none",
                    r.kb
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }
}
