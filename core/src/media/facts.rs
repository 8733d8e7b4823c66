//! From an inspection report to the facts the applicability engine needs, one per image.

use super::inspect::{ImageReport, Inspection, WimReport};
use crate::catalog::{ImageFacts, ImageRole};

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
        out.push(facts_of(&w.path, img, img.role, product_hint(img)));
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
    use super::super::role::{role_of, tests::image, PeContent};
    use super::*;

    #[test]
    fn a_renamed_winre_gets_the_safe_os_du_verdicts() {
        // Stripped XML and a neutral name: only the content says WinRE.
        let img = image("Backup image", None, None, Some(PeContent::Recovery));
        let role = role_of("backup-image.wim", &img);
        let f = facts_of("backup-image.wim", &img, role, None);
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
