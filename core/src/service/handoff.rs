//! The DISM hand-off for what the engine refuses: the catalog issue's script, fed with the refused
//! packages as WinRE recommendations, so it follows Microsoft's order (SSU from the LCU, then the
//! Safe OS DU, cleanup with /ResetBase, export).

use super::select::Refused;
use crate::catalog::{Evaluation, Recommendation, Target, UpdateKind};
use crate::cbs::PackageKind;
use crate::report::{dism_script, ScriptPaths};

fn kind_of(k: PackageKind) -> UpdateKind {
    match k {
        PackageKind::SafeOsDu => UpdateKind::SafeosDu,
        PackageKind::Ssu => UpdateKind::Ssu,
        PackageKind::SetupDu => UpdateKind::SetupDu,
        PackageKind::Lcu | PackageKind::Other => UpdateKind::Lcu,
    }
}

/// A PowerShell script that applies the refused packages to WinRE with DISM.
pub fn handoff_script(refused: &[Refused], paths: &ScriptPaths) -> String {
    let recommendations = refused
        .iter()
        .map(|r| {
            let kind = kind_of(r.kind);
            Recommendation {
                image: 0,
                image_label: "WinRE".into(),
                target: if kind == UpdateKind::SetupDu {
                    Target::MediaSources
                } else {
                    Target::Winre
                },
                kb: r.kb.clone().unwrap_or_else(|| r.name.clone()),
                kind,
                title: Some(r.name.clone()),
                release_date: None,
                reason: format!("mediaprep refused it: {}", r.reason),
            }
        })
        .collect();
    let ev = Evaluation {
        catalog_version: "packages refused by mediaprep patch".into(),
        findings: Vec::new(),
        recommendations,
        procedure: Vec::new(),
        notes: Vec::new(),
    };
    let script = dism_script(&ev, paths);
    // Say why each package is here, right under `#Requires` (which stays the first line).
    let (first, rest) = script.split_once('\n').unwrap_or((&script, ""));
    let mut out = format!("{first}\n# mediaprep patch did not apply these packages:\n");
    for r in refused {
        let line: String = format!("#   {}: {}", r.name, r.reason)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_comments_after_requires() {
        let r = Refused {
            name: "x.cab".into(),
            kb: Some("KB5079500".into()),
            kind: PackageKind::SafeOsDu,
            reason: "DCM\nmanifests".into(),
        };
        let s = handoff_script(&[r], &ScriptPaths::default());
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "#Requires -RunAsAdministrator");
        assert_eq!(lines[2], "#   x.cab: DCM manifests");
        assert!(s.contains("$SAFE_OS_DU_PATH"));
    }
}
