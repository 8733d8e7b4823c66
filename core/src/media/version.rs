//! WinRE version truth: every signal with its source, and an effective version with the rule
//! that chose it. WIM XML SPBUILD can be stale and WinRE's own hive keeps UBR = 1, so package
//! records (`Windows\servicing\Packages\*.mum`) outrank the XML, and file versions come last.

use crate::pe;
use crate::wim::model::ImageTree;
use crate::wim::servicing::{servicing_state, Finding};
use crate::wim::{ImageInfo, Wim};
use serde::{Deserialize, Serialize};

/// Key binaries whose `VS_VERSIONINFO` is read from the image.
const KEY_BINARIES: &[&str] = &[
    "/Windows/System32/winpeshl.exe",
    "/Windows/System32/ntoskrnl.exe",
    "/Windows/System32/winload.efi",
    "/Windows/System32/winload.exe",
];

/// The version signals of one image and the conclusion drawn from them.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct VersionReport {
    /// WIM XML `MAJOR.MINOR.BUILD.SPBUILD` (what `DISM /Get-ImageInfo` shows).
    pub xml: Option<String>,
    /// Highest `Package_for_SafeOSDU` record version.
    pub safe_os_du: Option<String>,
    /// Highest `Package_for_ServicingStack_*` record version.
    pub servicing_stack: Option<String>,
    /// Highest `Package_for_RollupFix` record version.
    pub rollup_fix: Option<String>,
    /// True when the image has a `Windows\servicing\Packages` folder.
    pub has_package_records: bool,
    /// File versions of key binaries: (path, version).
    pub files: Vec<(String, String)>,
    /// Effective version `10.0.BUILD.REV`, if any signal gives one.
    pub effective: Option<String>,
    /// Build of the effective version.
    pub effective_build: Option<u32>,
    /// Revision of the effective version.
    pub effective_revision: Option<u32>,
    /// Which signal the effective version came from.
    pub source: Option<String>,
    /// high | medium | low.
    pub confidence: Option<String>,
    /// The rule applied, in words.
    pub rule: String,
    /// Signals that disagree with the effective version.
    pub disagreements: Vec<String>,
}

fn finding_version(f: &Option<Finding>) -> Option<(u32, u32, String)> {
    f.as_ref().map(|f| {
        let v = f.record.version;
        (v.0[0], v.0[1], v.to_string())
    })
}

/// Gather the signals of image `info` (tree already decoded) and choose an effective version.
pub fn version_signals(wim: &Wim, info: &ImageInfo, tree: &ImageTree) -> VersionReport {
    let mut r = VersionReport {
        xml: match (info.major, info.minor, info.build) {
            (Some(a), Some(b), Some(c)) => {
                Some(format!("{a}.{b}.{c}.{}", info.spbuild.unwrap_or(0)))
            }
            _ => None,
        },
        ..Default::default()
    };
    let fetch = |h: &crate::wim::model::Hash| -> crate::Result<Vec<u8>> {
        let b = wim.open_blob(h)?;
        crate::io::read_vec(
            &b,
            "package record",
            0,
            crate::io::ReadAt::size(&b),
            4 << 20,
        )
    };
    let mut records = (None, None, None);
    if let Ok(state) = servicing_state(tree, Some(&fetch)) {
        r.has_package_records = state.has_packages_dir;
        records = (
            finding_version(&state.safe_os_du),
            finding_version(&state.servicing_stack),
            finding_version(&state.rollup_fix),
        );
        r.safe_os_du = records.0.as_ref().map(|v| v.2.clone());
        r.servicing_stack = records.1.as_ref().map(|v| v.2.clone());
        r.rollup_fix = records.2.as_ref().map(|v| v.2.clone());
    }
    for path in KEY_BINARIES {
        let Ok(n) = tree.lookup(path) else { continue };
        let Ok(reader) = wim.open_data(&tree.nodes[n]) else {
            continue;
        };
        if let Ok(Some(v)) = pe::file_version(&reader) {
            r.files.push((
                path.trim_start_matches('/').to_string(),
                v.file_version.to_string(),
            ));
        }
    }

    // Package records carry CBS versions "BUILD.REV.x.y"; the newest of them is what servicing did.
    let record = [&records.0, &records.2, &records.1]
        .into_iter()
        .zip([
            "Package_for_SafeOSDU record",
            "Package_for_RollupFix record",
            "Package_for_ServicingStack record",
        ])
        .filter_map(|(v, name)| v.as_ref().map(|v| (v.0, v.1, name)))
        .max_by_key(|v| (v.0, v.1));
    let xml = info.build.map(|b| (b, info.spbuild.unwrap_or(0)));
    let file = r
        .files
        .iter()
        .filter_map(|(p, v)| {
            let parts: Vec<u32> = v.split('.').filter_map(|x| x.parse().ok()).collect();
            (parts.len() == 4 && parts[0] == 10).then(|| (parts[2], parts[3], p.clone()))
        })
        .max_by_key(|v| (v.0, v.1));

    let (chosen, conf, rule) = match (record, xml) {
        (Some((b, rev, name)), Some((xb, xr))) if rev > xr || b != xb => (
            Some((b, rev, name.to_string())),
            "high",
            "a package record newer than the WIM XML wins: Safe OS DUs and DISM often leave SPBUILD stale",
        ),
        (Some((b, rev, name)), Some(_)) => (
            Some((b, rev, name.to_string())),
            "high",
            "the package record and the WIM XML agree",
        ),
        (Some((b, rev, name)), None) => (
            Some((b, rev, name.to_string())),
            "medium",
            "no version in the WIM XML; the package record is the best signal",
        ),
        (None, Some((b, rev))) => (
            Some((b, rev, "WIM XML SPBUILD".to_string())),
            "medium",
            "no package records: the WIM XML is Microsoft's documented check, but SPBUILD can lag servicing",
        ),
        (None, None) => match &file {
            Some((b, rev, p)) => (
                Some((*b, *rev, format!("file version of {p}"))),
                "low",
                "no XML version and no package records: a key binary's file version is the only signal",
            ),
            None => (None, "low", "no signal gives a version"),
        },
    };
    r.rule = rule.to_string();
    if let Some((b, rev, src)) = chosen {
        r.effective = Some(format!("10.0.{b}.{rev}"));
        r.effective_build = Some(b);
        r.effective_revision = Some(rev);
        r.source = Some(src);
        r.confidence = Some(conf.to_string());
        if let Some((xb, xr)) = xml {
            if (xb, xr) != (b, rev) {
                r.disagreements.push(format!("WIM XML says 10.0.{xb}.{xr}"));
            }
        }
        if let Some((fb, fr, p)) = &file {
            if (*fb, *fr) != (b, rev) {
                r.disagreements
                    .push(format!("{p} has file version 10.0.{fb}.{fr}"));
            }
        }
    } else {
        r.confidence = Some(conf.to_string());
    }
    r
}
