//! From an inspection report to the facts the applicability engine needs, one per image.

use super::inspect::{ImageReport, Inspection, WimReport};
use crate::catalog::{ImageFacts, ImageRole};

/// The role of an image by what it is, not by its file's name (a Winre.wim saved under any name
/// is WinRE): INSTALLATIONTYPE or EDITIONID `WindowsPE`, or the recovery environment's image name.
/// Only boot.wim is told apart by its path (its images are WindowsPE too).
fn role_of(path: &str, img: &ImageReport) -> ImageRole {
    let p = path.to_ascii_lowercase();
    let is_pe = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("WindowsPE"))
    };
    let pe = is_pe(&img.installation_type)
        || is_pe(&img.edition)
        || img.name.as_deref().is_some_and(|n| {
            n.to_ascii_lowercase()
                .contains("windows recovery environment")
        });
    if p.ends_with("boot.wim") {
        ImageRole::Boot
    } else if pe {
        ImageRole::Winre
    } else {
        ImageRole::Install
    }
}

fn facts_of(path: &str, img: &ImageReport, role: ImageRole, hint: Option<String>) -> ImageFacts {
    let sig = img.version_signals.as_ref();
    let (build, revision, source) =
        match sig.and_then(|s| s.effective_build.zip(s.effective_revision)) {
            Some((b, r)) => (Some(b), Some(r), sig.and_then(|s| s.source.clone())),
            None => (
                img.build,
                img.spbuild,
                img.spbuild.map(|_| "WIM XML SPBUILD".to_string()),
            ),
        };
    let safeos = sig
        .and_then(|s| s.safe_os_du.as_deref())
        .and_then(|v| v.split('.').nth(1))
        .and_then(|r| r.parse().ok());
    ImageFacts {
        label: format!(
            "{path} #{} ({})",
            img.index,
            img.name.clone().unwrap_or_default()
        ),
        role,
        arch: img.arch.clone(),
        build,
        revision,
        revision_source: source,
        installed_safeos_revision: safeos,
        installation_type: img.installation_type.clone(),
        edition: img.edition.clone(),
        product_hint: hint,
    }
}

/// Product side of an install image ("Server" or "Client"), from its edition and type.
fn product_hint(img: &ImageReport) -> Option<String> {
    let server = img
        .edition
        .as_deref()
        .is_some_and(|e| e.starts_with("Server"))
        || img
            .installation_type
            .as_deref()
            .is_some_and(|t| t.starts_with("Server"));
    img.edition.as_ref().map(|_| {
        if server {
            "Server".into()
        } else {
            "Client".into()
        }
    })
}

fn collect(w: &WimReport, out: &mut Vec<ImageFacts>) {
    for img in &w.images {
        let role = role_of(&w.path, img);
        out.push(facts_of(&w.path, img, role, product_hint(img)));
    }
    for re in &w.winre {
        // WinRE inherits the client/server side of the editions that carry it.
        let hint = re
            .shared_by
            .first()
            .and_then(|i| w.images.iter().find(|m| m.index == *i))
            .and_then(product_hint);
        for img in &re.wim.images {
            out.push(facts_of(
                &format!("Winre.wim in {}", w.path),
                img,
                ImageRole::Winre,
                hint.clone(),
            ));
        }
    }
}

/// One [`ImageFacts`] per image, nested WinRE images included.
pub fn image_facts(inspection: &Inspection) -> Vec<ImageFacts> {
    let mut out = Vec::new();
    for w in &inspection.wims {
        collect(w, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, edition: Option<&str>, kind: Option<&str>) -> ImageReport {
        ImageReport {
            index: 1,
            name: Some(name.into()),
            edition: edition.map(str::to_string),
            arch: Some("x64".into()),
            version: Some("10.0.26100.1000".into()),
            build: Some(26100),
            spbuild: Some(1000),
            languages: Vec::new(),
            installation_type: kind.map(str::to_string),
            dir_count: None,
            file_count: None,
            total_bytes: None,
            version_signals: None,
        }
    }

    #[test]
    fn a_winre_is_recognised_by_what_it_is_under_any_file_name() {
        let re = "Microsoft Windows Recovery Environment (amd64)";
        for (path, img) in [
            (
                "recovery-image.wim",
                image(re, Some("WindowsPE"), Some("WindowsPE")),
            ),
            // One XML field missing: the other, or the image name, still says what it is.
            ("backup/re.wim", image("WinRE", Some("WindowsPE"), None)),
            ("x.wim", image(re, None, None)),
        ] {
            assert_eq!(role_of(path, &img), ImageRole::Winre, "{path}");
        }
        let pe = image(
            "Microsoft Windows PE (amd64)",
            Some("WindowsPE"),
            Some("WindowsPE"),
        );
        assert_eq!(role_of("/sources/boot.wim", &pe), ImageRole::Boot);
        let home = image("Windows 11 Home", Some("Core"), Some("Client"));
        assert_eq!(role_of("/sources/install.wim", &home), ImageRole::Install);
    }

    #[test]
    fn a_renamed_winre_gets_the_safe_os_du_verdicts() {
        let img = image(
            "Microsoft Windows Recovery Environment (amd64)",
            None,
            Some("WindowsPE"),
        );
        let role = role_of("recovery-image.wim", &img);
        let f = facts_of("recovery-image.wim", &img, role, Some("Client".into()));
        let cat = crate::catalog::Catalog::embedded().unwrap();
        let ev = crate::catalog::evaluate(&cat, &[f]);
        let safeos: Vec<_> = ev
            .findings
            .iter()
            .filter(|x| {
                x.kind == crate::catalog::UpdateKind::SafeosDu
                    && x.verdict != crate::catalog::Verdict::NotApplicable
            })
            .collect();
        assert!(!safeos.is_empty(), "{:?}", ev.findings);
        assert!(ev
            .recommendations
            .iter()
            .any(|r| r.kind == crate::catalog::UpdateKind::SafeosDu));
    }
}
