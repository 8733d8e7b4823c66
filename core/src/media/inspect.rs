//! The inspection report: what is inside the media, down to the WinRE nested in install.wim.
//! Schema: docs/schema/inspection.md.

use super::role::{needs_content, pe_content, role_of, xml_says_pe, PeContent};
use super::version::{version_signals, VersionReport};
use super::{open_files, open_node, Node};
use crate::catalog::ImageRole;
use crate::io::{Progress, ReadAt, SharedReader};
use crate::iso::IsoImage;
use crate::wim::Wim;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where Windows keeps the recovery image inside an install image.
pub const WINRE_PATH: &str = "/Windows/System32/Recovery/Winre.wim";

/// Bumped when the JSON shape changes incompatibly.
pub const SCHEMA: u32 = 1;

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inspection {
    /// Report schema version.
    pub schema: u32,
    /// File name given.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// iso | wim | esd | swm.
    pub container: String,
    /// ISO details.
    pub iso: Option<IsoReport>,
    /// Every WIM found (the file itself, or those in the ISO's sources\).
    pub wims: Vec<WimReport>,
}

/// ISO volume facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsoReport {
    /// Volume label.
    pub volume_label: Option<String>,
    /// File systems found, e.g. "UDF 1.02 (NSR02)".
    pub filesystems: Vec<String>,
    /// Windows media layout.
    pub layout: IsoLayout,
}

/// Where the Windows pieces are on the media.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct IsoLayout {
    /// sources/install.wim|esd|swm.
    pub install: Option<String>,
    /// sources/boot.wim.
    pub boot: Option<String>,
    /// setup.exe and sources/setup*.exe present.
    pub setup_files: Vec<String>,
}

/// One WIM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WimReport {
    /// Layer path of this WIM.
    pub path: String,
    /// wim | esd | swm.
    pub kind: String,
    /// Compression of non-solid resources.
    pub compression: String,
    /// Chunk size.
    pub chunk_size: u32,
    /// Holds solid resources (ESD).
    pub solid: bool,
    /// Parts in the set.
    pub part_count: u16,
    /// Boot index (0 = none).
    pub boot_index: u32,
    /// An integrity table is present (checked only on request: it reads the whole file).
    pub integrity_present: bool,
    /// Result of the integrity check, when asked for.
    pub integrity_valid: Option<bool>,
    /// Images.
    pub images: Vec<ImageReport>,
    /// Distinct WinRE blobs found in the images, once each.
    pub winre: Vec<WinreReport>,
}

/// One image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageReport {
    /// 1-based index.
    pub index: u32,
    /// NAME.
    pub name: Option<String>,
    /// EDITIONID (or FLAGS).
    pub edition: Option<String>,
    /// x86 | x64 | arm64 | …
    pub arch: Option<String>,
    /// "10.0.BUILD.SPBUILD" from the XML.
    pub version: Option<String>,
    /// BUILD.
    pub build: Option<u32>,
    /// SPBUILD.
    pub spbuild: Option<u32>,
    /// Languages.
    pub languages: Vec<String>,
    /// INSTALLATIONTYPE.
    pub installation_type: Option<String>,
    /// DIRCOUNT.
    pub dir_count: Option<u64>,
    /// FILECOUNT.
    pub file_count: Option<u64>,
    /// TOTALBYTES.
    pub total_bytes: Option<u64>,
    /// What the image's tree says it is; read only when its XML says Windows PE or nothing
    /// (`media::role`), else `None`.
    pub pe_content: Option<PeContent>,
    /// What the image is (WinRE, install edition, boot image), from the XML, its name, the
    /// file's name (boot.wim) and its content: the role the applicability engine uses.
    pub role: ImageRole,
    /// Version signals (WinRE/WinPE images).
    pub version_signals: Option<VersionReport>,
}

/// A WinRE.wim found inside install images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WinreReport {
    /// Path inside the image.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-1 (the blob identity).
    pub sha1: String,
    /// Indexes of the images that carry this same blob.
    pub shared_by: Vec<u32>,
    /// The WinRE WIM itself.
    pub wim: Box<WimReport>,
}

/// Describe one WIM; `nested` allows one more level of WinRE search.
pub fn inspect_wim(
    wim: &Wim,
    path: &str,
    nested: bool,
    progress: &dyn Progress,
) -> Result<WimReport> {
    let kind = if wim.part_count() > 1 {
        "swm"
    } else if wim.is_solid() {
        "esd"
    } else {
        "wim"
    };
    let mut images = Vec::new();
    let mut winre: Vec<WinreReport> = Vec::new();
    let total = wim.images().len() as u64;
    for (i, info) in wim.images().iter().enumerate() {
        if progress.cancelled() {
            return Err(crate::Error::Cancelled);
        }
        let mut version_report = None;
        let mut content = None;
        // The top level reads every tree anyway (the nested WinRE search); below it, only the
        // images whose XML leaves open what they are (`needs_content`) are decoded.
        let want_content = needs_content(info);
        if nested || want_content {
            let tree = wim.image_tree(info.index)?;
            if want_content {
                content = Some(pe_content(&tree));
            }
            let pe = xml_says_pe(info) || content.is_some_and(|c| c != PeContent::NotPe);
            if pe {
                version_report = Some(version_signals(wim, info, &tree));
            }
            if nested {
                if let Ok(n) = tree.lookup(WINRE_PATH) {
                    let d = &tree.nodes[n];
                    if let Some(h) = d.data.filter(|h| *h != crate::wim::model::ZERO_HASH) {
                        if let Some(w) = winre.iter_mut().find(|w| w.sha1 == crate::hash::hex(&h)) {
                            w.shared_by.push(info.index);
                        } else {
                            let reader: SharedReader = Arc::new(wim.open_blob(&h)?);
                            let size = reader.size();
                            let inner = Wim::open(reader)?;
                            let p = format!("{path} → {}:{}", info.index, tree.path_of(n));
                            let mut rep = inspect_wim(&inner, &p, false, progress)?;
                            // Whatever its images say, the file at this path is the WinRE.
                            for img in &mut rep.images {
                                img.role = ImageRole::Winre;
                            }
                            winre.push(WinreReport {
                                path: tree.path_of(n),
                                size,
                                sha1: crate::hash::hex(&h),
                                shared_by: vec![info.index],
                                wim: Box::new(rep),
                            });
                        }
                    }
                }
            }
        }
        let mut report = ImageReport {
            index: info.index,
            name: info.name.clone(),
            edition: info.edition.clone().or_else(|| info.flags.clone()),
            arch: info
                .arch
                .and_then(|a| serde_json::to_value(a).ok())
                .and_then(|v| v.as_str().map(String::from)),
            version: info.version_string(),
            build: info.build,
            spbuild: info.spbuild,
            languages: info.languages.clone(),
            installation_type: info.installation_type.clone(),
            dir_count: info.dir_count,
            file_count: info.file_count,
            total_bytes: info.total_bytes,
            pe_content: content,
            role: ImageRole::Install,
            version_signals: version_report,
        };
        report.role = role_of(path, &report);
        images.push(report);
        progress.update("inspect", i as u64 + 1, total);
    }
    Ok(WimReport {
        path: path.to_string(),
        kind: kind.into(),
        compression: wim.compression().name().into(),
        chunk_size: wim.chunk_size(),
        solid: wim.is_solid(),
        part_count: wim.part_count(),
        boot_index: wim.boot_index(),
        integrity_present: !wim.header().integrity.is_empty(),
        integrity_valid: None,
        images,
        winre,
    })
}

fn iso_layout(iso: &IsoImage) -> IsoLayout {
    let mut l = IsoLayout::default();
    for name in ["install.wim", "install.esd", "install.swm"] {
        let p = format!("/sources/{name}");
        if iso.stat(&p).is_ok() {
            l.install = Some(p);
            break;
        }
    }
    if iso.stat("/sources/boot.wim").is_ok() {
        l.boot = Some("/sources/boot.wim".into());
    }
    for p in [
        "/setup.exe",
        "/sources/setup.exe",
        "/sources/setuphost.exe",
        "/bootmgr",
        "/efi/boot/bootx64.efi",
    ] {
        if iso.stat(p).is_ok() {
            l.setup_files.push(p.into());
        }
    }
    l
}

/// Inspect the user's files (one container or a split set).
pub fn inspect(files: Vec<(String, SharedReader)>, progress: &dyn Progress) -> Result<Inspection> {
    let size = files.iter().map(|(_, s)| s.size()).sum();
    let (name, node) = open_files(files)?;
    match node {
        Node::Wim(wim) => {
            let rep = inspect_wim(&wim, &name, true, progress)?;
            Ok(Inspection {
                schema: SCHEMA,
                file: name,
                size,
                container: rep.kind.clone(),
                iso: None,
                wims: vec![rep],
            })
        }
        Node::Iso(iso) => {
            let layout = iso_layout(&iso);
            let mut wims = Vec::new();
            let mut paths: Vec<String> = layout
                .install
                .iter()
                .chain(layout.boot.iter())
                .cloned()
                .collect();
            // A split install set on the media: open all parts together.
            if layout.install.as_deref() == Some("/sources/install.swm") {
                paths.remove(0);
                let parts: Vec<(String, SharedReader)> = iso
                    .list("/sources")?
                    .into_iter()
                    .filter(|e| !e.is_dir && e.name.to_ascii_lowercase().ends_with(".swm"))
                    .map(|e| Ok((e.path.clone(), iso.open_file(&e.path)?)))
                    .collect::<Result<_>>()?;
                let (_, n) = open_files(parts)?;
                if let Node::Wim(w) = n {
                    wims.push(inspect_wim(&w, "/sources/install.swm", true, progress)?);
                }
            }
            for p in paths {
                let r = iso.open_file(&p)?;
                if let Node::Wim(w) = open_node(r, &p)? {
                    wims.push(inspect_wim(&w, &p, true, progress)?);
                }
            }
            Ok(Inspection {
                schema: SCHEMA,
                file: name,
                size,
                container: "iso".into(),
                iso: Some(IsoReport {
                    volume_label: iso.volume_label(),
                    filesystems: iso
                        .filesystems()
                        .iter()
                        .map(|f| f.version.clone())
                        .collect(),
                    layout,
                }),
                wims,
            })
        }
        Node::File(_) => Err(crate::Error::invalid(
            "media",
            format!("{name}: not a media file"),
        )),
    }
}
