//! Which packages are serviced, in which order, and which are refused (and why).
//!
//! The engine does file-level component servicing only. What it cannot do faithfully is refused
//! before anything is read or written, with a reason a technician can act on, and goes to the DISM
//! hand-off script instead ([`super::handoff`]):
//! * DCM-compressed manifests that did not decode with the base of the servicing stack that
//!   services the package (`super::manifests`);
//! * payloads only present as `r\` deltas, or not in the CAB at all (an express package's `.psf`),
//!   and `*.cix.xml` delta payloads;
//! * cumulative updates (RollupFix): WinRE gets only their servicing stack (domain.md §0.3);
//! * Setup DUs (they go to `sources\`, not into an image).
//!
//! An LCU `.msu` of either kind (a CAB, or a WIM from 24H2 on) carrying `SSU-<build>-<arch>.cab`
//! contributes that SSU, serviced before any Safe OS DU as Microsoft's procedure orders it (issue #7
//! item 4, #15 item 4); its body is noted as not applied, which refuses nothing.

use crate::cbs::PackageKind;
use crate::package::msu::MsuMember;
use crate::package::{Container, Package, PayloadForm};

/// A package that will be serviced.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'a> {
    /// The CBS package (for an MSU: the inner CAB).
    pub package: &'a Package,
    /// What it is.
    pub kind: PackageKind,
}

impl Selected<'_> {
    /// Display name: file name, KB and identity.
    pub fn label(&self) -> String {
        label_of(self.package)
    }
}

/// A package that will not be serviced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refused {
    /// File name (`lcu.msu` or `lcu.msu/SSU-26100.8037-x64.cab`).
    pub name: String,
    /// KB, when known.
    pub kb: Option<String>,
    /// What it is.
    pub kind: PackageKind,
    /// Why, in words.
    pub reason: String,
}

/// The outcome of [`select_packages`].
#[derive(Debug, Default)]
pub struct Selection<'a> {
    /// Packages to service, in order (servicing stacks first, then Safe OS DUs, then the rest).
    pub serviced: Vec<Selected<'a>>,
    /// Packages (or parts) refused: the whole operation is refused when this is not empty.
    pub refused: Vec<Refused>,
    /// Remarks for the plan (e.g. "the LCU itself is not applied to WinRE").
    pub notes: Vec<String>,
}

impl Selection<'_> {
    /// Everything for the DISM hand-off when anything was refused: the refused packages and the
    /// ones that would have been serviced (nothing is half-applied, so DISM must do them all).
    pub fn handoff_list(&self) -> Vec<Refused> {
        let mut all = self.refused.clone();
        for s in &self.serviced {
            all.push(Refused {
                name: s.package.file_name.clone(),
                kb: s.package.kb.clone(),
                kind: s.kind,
                reason: "not applied because another package was refused (never half-applied)"
                    .into(),
            });
        }
        all
    }

    /// The refusal when `package`, selected for servicing, turns out not serviceable once its
    /// payloads are read (a delta that does not rebuild): it joins the refused ones with `reason`.
    pub fn refusal_with(&self, package: &Package, reason: String) -> crate::error::Refusal {
        let mut s = Selection {
            serviced: self
                .serviced
                .iter()
                .filter(|x| !std::ptr::eq(x.package, package))
                .copied()
                .collect(),
            refused: self.refused.clone(),
            notes: self.notes.clone(),
        };
        s.refused.push(Refused {
            name: package.file_name.clone(),
            kb: package.kb.clone(),
            kind: package.kind,
            reason,
        });
        s.refusal()
    }

    /// What [`crate::Error::Refused`] carries for this selection: the refused packages with
    /// their reasons, the notes, and the DISM hand-off script for everything it holds.
    pub fn refusal(&self) -> crate::error::Refusal {
        crate::error::Refusal {
            packages: self
                .refused
                .iter()
                .map(|r| crate::error::RefusedPackage {
                    name: r.name.clone(),
                    reason: r.reason.clone(),
                })
                .collect(),
            notes: self.notes.clone(),
            script: super::handoff::handoff_script(&self.handoff_list(), &Default::default()),
        }
    }
}

fn label_of(p: &Package) -> String {
    let mut s = p.file_name.clone();
    if let Some(kb) = &p.kb {
        s.push_str(&format!(" ({kb})"));
    }
    if let Some(id) = &p.identity {
        s.push_str(&format!(" {} {}", id.name, id.version));
    }
    s
}

/// Why `p` (a CBS CAB) cannot be serviced file by file, if it cannot.
pub fn unserviceable(p: &Package) -> Option<String> {
    let mut why = Vec::new();
    if p.identity.is_none() {
        why.push(if p.kind == PackageKind::SetupDu {
            "it is a Setup Dynamic Update (no update.mum): its files go to the media's sources\\ \
             folder (--target setup), not into an image"
                .to_string()
        } else {
            "it has no update.mum, so it is not a complete CBS package".to_string()
        });
    }
    if p.delta_payloads {
        why.push("its payloads are deltas indexed by a .cix.xml, not full files".into());
    }
    // DCM manifests are decoded before selection with the base of the stack that services the
    // package (`super::manifests`); one that is still not decoded names why.
    for c in p
        .components
        .iter()
        .filter(|c| c.dcm_compressed && c.decoded.is_none())
    {
        why.push(c.decode_error.clone().unwrap_or_else(|| {
            format!(
                "{}: DCM-compressed manifest not decoded (no base manifest: the image's servicing \
                 stack wcp.dll was not read)",
                c.manifest_name
            )
        }));
        if why.len() > 8 {
            break;
        }
    }
    for c in p
        .components
        .iter()
        .filter(|c| !c.dcm_compressed || c.decoded.is_some())
    {
        for f in &c.files {
            match p.payload_for(c, f) {
                Ok(loc) if loc.form == PayloadForm::Reverse => {
                    why.push(format!(
                        "{} of {} is only in the package as a reverse (r\\) delta ({}), which \
                         cannot rebuild the new file",
                        f.name, c.manifest_name, loc.member
                    ));
                }
                Ok(_) => {}
                Err(_) => why.push(format!(
                    "{} of {} is not in the package{}",
                    f.name,
                    c.manifest_name,
                    if p.psfx {
                        " (PSFX: its payloads are in a .psf only DISM applies)"
                    } else {
                        ""
                    }
                )),
            }
            if f.sha256.is_none() && f.sha1.is_none() {
                why.push(format!(
                    "{} of {} has no digest in its manifest, so it cannot be checked",
                    f.name, c.manifest_name
                ));
            }
            if why.len() > 8 {
                break;
            }
        }
    }
    if p.kind == PackageKind::Lcu {
        why.push(
            "it is a cumulative update (Package_for_RollupFix): WinRE takes only the servicing \
             stack from it, and mediaprep does not service cumulative updates"
                .into(),
        );
    }
    if p.psfx && !why.is_empty() {
        why.insert(0, "a PSFX package".into());
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Sort `packages` into what is serviced (in order) and what is refused.
pub fn select_packages(packages: &[Package]) -> Selection<'_> {
    let mut sel = Selection::default();
    let refuse = |sel: &mut Selection, p: &Package, name: String, reason: String| {
        sel.refused.push(Refused {
            name,
            kb: p.kb.clone(),
            kind: p.kind,
            reason,
        });
    };
    for p in packages {
        match p.container {
            Container::Wim => refuse(
                &mut sel,
                p,
                p.file_name.clone(),
                "a cumulative update body stored as a WIM: WinRE takes the SSU and the Safe OS DU \
                 only (Microsoft's procedure); give the .msu that carries it"
                    .into(),
            ),
            Container::Msu | Container::MsuWim => {
                let ssu: Vec<_> = p
                    .inner_packages
                    .iter()
                    .filter(|i| i.role == MsuMember::SsuCab)
                    .collect();
                if ssu.is_empty() {
                    refuse(
                        &mut sel,
                        p,
                        p.file_name.clone(),
                        "an MSU without a servicing stack CAB: mediaprep does not service \
                         cumulative updates into WinRE"
                            .into(),
                    );
                    continue;
                }
                sel.notes.push(format!(
                    "{}: WinRE needs the servicing stack from this cumulative update before the \
                     Safe OS DU (Microsoft's order); the cumulative update itself is not applied \
                     to WinRE",
                    p.file_name
                ));
                for body in p
                    .inner_packages
                    .iter()
                    .filter(|i| matches!(i.role, MsuMember::PackageCab | MsuMember::PackageWim))
                {
                    sel.notes.push(format!(
                        "{}/{}: not applied: WinRE takes the SSU and the Safe OS DU only \
                         (Microsoft's procedure)",
                        p.file_name, body.name
                    ));
                }
                for i in ssu {
                    let name = format!("{}/{}", p.file_name, i.name);
                    match (&i.package, &i.error) {
                        (Some(inner), _) => match unserviceable(inner) {
                            None => sel.serviced.push(Selected {
                                package: inner,
                                kind: PackageKind::Ssu,
                            }),
                            Some(why) => refuse(&mut sel, p, name, why),
                        },
                        (None, e) => refuse(
                            &mut sel,
                            p,
                            name,
                            format!(
                                "the servicing stack CAB could not be opened: {}",
                                e.as_deref().unwrap_or("unknown error")
                            ),
                        ),
                    }
                }
            }
            Container::Cab => match unserviceable(p) {
                None => sel.serviced.push(Selected {
                    package: p,
                    kind: p.kind,
                }),
                Some(why) => refuse(&mut sel, p, p.file_name.clone(), why),
            },
        }
    }
    // Stable: packages of one kind keep the order the user gave.
    sel.serviced.sort_by_key(|s| s.kind.servicing_order());
    sel
}
