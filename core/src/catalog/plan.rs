//! Microsoft's order for updating installation media, applied to what the engine recommends.
//!
//! Source: "Update Windows installation media with Dynamic Update" (learn.microsoft.com,
//! media-dynamic-update, 6/2025 revision). The step numbers are that document's global task order;
//! language packs, Features on Demand and optional components are out of scope and omitted.

use serde::{Deserialize, Serialize};

use super::model::{Recommendation, Target, UpdateKind};

/// One step of the procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureStep {
    /// Microsoft's task number (1–28) in the 6/2025 sequence table.
    pub order: u32,
    /// What the step services.
    pub target: Target,
    /// What to do, in plain words.
    pub action: String,
    /// The KB(s) the step uses (empty for cleanup/export).
    pub kbs: Vec<String>,
    /// The images the step applies to.
    pub images: Vec<String>,
    /// Caveats Microsoft documents for the step.
    pub note: Option<String>,
}

fn kbs_of(recs: &[&Recommendation], kinds: &[UpdateKind]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Checkpoints first: DISM needs them before (or together with) the target LCU.
    for kind in kinds {
        for r in recs.iter().filter(|r| r.kind == *kind) {
            if !out.contains(&r.kb) {
                out.push(r.kb.clone());
            }
        }
    }
    out
}

fn images_of(recs: &[&Recommendation]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in recs {
        if !out.contains(&r.image_label) {
            out.push(r.image_label.clone());
        }
    }
    out
}

/// Build the ordered procedure for the recommended updates.
pub fn procedure(recs: &[Recommendation]) -> Vec<ProcedureStep> {
    let mut steps = Vec::new();
    let for_target =
        |t: Target| -> Vec<&Recommendation> { recs.iter().filter(|r| r.target == t).collect() };
    let lcu_kinds = [UpdateKind::Ssu, UpdateKind::CheckpointLcu, UpdateKind::Lcu];

    let winre = for_target(Target::Winre);
    if !winre.is_empty() {
        let images = images_of(&winre);
        let ssu = kbs_of(&winre, &lcu_kinds);
        if !ssu.is_empty() {
            steps.push(ProcedureStep {
                order: 1,
                target: Target::Winre,
                action: "Add the servicing stack update by adding the latest cumulative update \
                         package to the mounted winre.wim (index 1)"
                    .into(),
                kbs: ssu,
                images: images.clone(),
                note: Some(
                    "Error 0x8007007e here is a known issue with the combined cumulative update \
                     and can be ignored; only the servicing stack part applies to WinRE"
                        .into(),
                ),
            });
        }
        let safeos = kbs_of(&winre, &[UpdateKind::SafeosDu]);
        if !safeos.is_empty() {
            steps.push(ProcedureStep {
                order: 6,
                target: Target::Winre,
                action: "Add the Safe OS Dynamic Update".into(),
                kbs: safeos,
                images: images.clone(),
                note: Some("It cannot be removed once added to an image".into()),
            });
        }
        steps.push(ProcedureStep {
            order: 7,
            target: Target::Winre,
            action: "Clean up the image: DISM /Cleanup-Image /StartComponentCleanup /ResetBase"
                .into(),
            kbs: vec![],
            images: images.clone(),
            note: None,
        });
        steps.push(ProcedureStep {
            order: 8,
            target: Target::Winre,
            action: "Unmount with /Commit, export winre.wim to a new file and copy it back into \
                     every install.wim index"
                .into(),
            kbs: vec![],
            images,
            note: Some("Exporting drops superseded resources and keeps WinRE small".into()),
        });
    }

    let install = for_target(Target::Install);
    if !install.is_empty() {
        let images = images_of(&install);
        let lcu = kbs_of(&install, &lcu_kinds);
        if !lcu.is_empty() {
            steps.push(ProcedureStep {
                order: 9,
                target: Target::Install,
                action: "Add the servicing stack by adding the latest cumulative update".into(),
                kbs: lcu.clone(),
                images: images.clone(),
                note: Some(
                    "For 24H2 / Server 2025 and later put the LCU and its checkpoint .msu files \
                     alone in one folder and add the target LCU; DISM applies the checkpoints"
                        .into(),
                ),
            });
            steps.push(ProcedureStep {
                order: 13,
                target: Target::Install,
                action: "Add the latest cumulative update (after any language packs and features)"
                    .into(),
                kbs: lcu,
                images: images.clone(),
                note: None,
            });
        }
        steps.push(ProcedureStep {
            order: 14,
            target: Target::Install,
            action:
                "Clean up the image: DISM /Cleanup-Image /StartComponentCleanup (no /ResetBase \
                     for the main OS)"
                    .into(),
            kbs: vec![],
            images: images.clone(),
            note: None,
        });
        let dotnet = kbs_of(&install, &[UpdateKind::Dotnet]);
        if !dotnet.is_empty() {
            steps.push(ProcedureStep {
                order: 15,
                target: Target::Install,
                action: "Add .NET and the .NET cumulative update (after cleanup)".into(),
                kbs: dotnet,
                images: images.clone(),
                note: None,
            });
        }
        steps.push(ProcedureStep {
            order: 16,
            target: Target::Install,
            action: "Unmount with /Commit and export each index to a new install.wim".into(),
            kbs: vec![],
            images,
            note: None,
        });
    }

    let boot = for_target(Target::Boot);
    if !boot.is_empty() {
        let images = images_of(&boot);
        let lcu = kbs_of(&boot, &lcu_kinds);
        if !lcu.is_empty() {
            steps.push(ProcedureStep {
                order: 17,
                target: Target::Boot,
                action: "Add the servicing stack by adding the latest cumulative update".into(),
                kbs: lcu.clone(),
                images: images.clone(),
                note: Some("Error 0x8007007e is a known, ignorable issue in WinPE".into()),
            });
            steps.push(ProcedureStep {
                order: 23,
                target: Target::Boot,
                action: "Add the latest cumulative update".into(),
                kbs: lcu,
                images: images.clone(),
                note: None,
            });
        }
        steps.push(ProcedureStep {
            order: 24,
            target: Target::Boot,
            action: "Clean up the image: DISM /Cleanup-Image /StartComponentCleanup /ResetBase"
                .into(),
            kbs: vec![],
            images: images.clone(),
            note: Some(
                "From index 2 save sources\\setup.exe (and setuphost.exe for 24H2 and later) and \
                 the serviced bootmgfw.efi / bootmgr.efi for the media"
                    .into(),
            ),
        });
        steps.push(ProcedureStep {
            order: 25,
            target: Target::Boot,
            action: "Unmount with /Commit and export each index to a new boot.wim".into(),
            kbs: vec![],
            images,
            note: None,
        });
    }

    let media = for_target(Target::MediaSources);
    if !media.is_empty() {
        let images = images_of(&media);
        steps.push(ProcedureStep {
            order: 26,
            target: Target::MediaSources,
            action: "Expand the Setup Dynamic Update into the media's sources\\ folder \
                     (expand.exe Setup_DU.cab -F:* <media>\\sources); it is not added with DISM"
                .into(),
            kbs: kbs_of(&media, &[UpdateKind::SetupDu]),
            images: images.clone(),
            note: None,
        });
        steps.push(ProcedureStep {
            order: 27,
            target: Target::MediaSources,
            action:
                "Copy setup.exe and setuphost.exe saved from boot.wim index 2 over the media's \
                     copies"
                    .into(),
            kbs: vec![],
            images: images.clone(),
            note: Some("If these binaries aren't identical, Windows Setup fails".into()),
        });
        steps.push(ProcedureStep {
            order: 28,
            target: Target::MediaSources,
            action:
                "Replace the media's boot managers with the serviced bootmgfw.efi / bootmgr.efi"
                    .into(),
            kbs: vec![],
            images,
            note: None,
        });
    }
    steps.sort_by_key(|s| s.order);
    steps
}
