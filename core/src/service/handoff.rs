//! The DISM hand-off for what the engine refuses: the catalog issue's script, fed with the refused
//! packages as WinRE recommendations, so it follows Microsoft's order (SSU from the LCU, then the
//! Safe OS DU, cleanup with /ResetBase, export).

use super::select::Refused;
use crate::catalog::{Evaluation, Recommendation, Target, UpdateKind};
use crate::package::PackageKind;
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
    dism_script(&ev, paths)
}
