//! Update packages: CAB and MSU containers and the CBS manifests inside them.
//!
//! [`open_package`] reads a Dynamic Update or cumulative update file (a CBS `.cab`, a plain Setup DU
//! `.cab`, or an `.msu`), identifies it from its `update.mum` (domain.md §2–3), parses every
//! component manifest, and [`Package::verify`] checks the file and every payload digest before any
//! other part of mediaprep uses it. Every member name and manifest path passes [`names`] first.

pub mod cab_reader;
pub mod dostime;
pub mod manifest;
pub mod msu;
pub mod msu_wim;
pub mod mum;
pub mod names;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::io::{SharedReader, SliceSource};
use crate::{Error, Result};

pub use crate::cbs::PackageKind;
pub use cab_reader::{CabArchive, FolderCompression};
pub use manifest::{AssemblyIdentity, Component, ManifestEncoding, ManifestFile};
pub use mum::{PackageFormat, PackageManifest, UpdateItem};
pub use verify::{Expected, PayloadCheck, PayloadStatus, Verification};

/// Largest `update.mum` accepted.
pub const MAX_MUM: u64 = 16 << 20;
/// Largest inner CAB of an MSU that is copied to memory when its folder is compressed (stored
/// folders are read in place, whatever their size).
pub const MAX_INNER_IN_MEMORY: u64 = 256 << 20;
/// Most bytes of component manifests held in memory while a package is opened.
pub const MAX_MANIFESTS_TOTAL: u64 = 512 << 20;
/// Most component manifests parsed per package.
pub const MAX_COMPONENTS: usize = 65_535;

/// The container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Container {
    /// A plain CAB (CBS package or Setup DU).
    Cab,
    /// An MSU whose package payload is an inner CAB (+ `.psf`).
    Msu,
    /// An MSU that is itself a WIM (magic `MSWIM`, 24H2 and later): its image holds the SSU CAB,
    /// the LCU `.wim` + `.psf` and metadata CABs. Listed, its CABs opened in place.
    MsuWim,
    /// A CBS package stored as a WIM (the LCU `.wim` inside an MSU): `update.mum` read, manifests
    /// counted, nothing else opened.
    Wim,
}

/// One member of the container (for a WIM container: a file of its image, `folder` 0 and
/// `compression` `None`, the WIM's own compression being per resource).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// Member name as stored (validated: no traversal).
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    /// Folder index.
    pub folder: u16,
    /// Compression of the member's folder.
    pub compression: FolderCompression,
}

/// A package inside an MSU (LCU CAB, SSU CAB, ...), opened one level deep.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct InnerPackage {
    /// Member name in the MSU.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// What the name suggests it is.
    pub role: msu::MsuMember,
    /// The opened package, when it could be opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<Box<Package>>,
    /// Why it could not be opened.
    pub error: Option<String>,
}

/// An opened update package. Read back from its JSON (the worker's result on the page), it
/// describes the package but holds no directory: reading a member then finds nothing.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Package {
    /// File name given by the caller (catalog name, used for the SHA-1 name check).
    pub file_name: String,
    /// Container format.
    pub container: Container,
    /// Package kind.
    pub kind: PackageKind,
    /// Members of the container, in directory order.
    pub members: Vec<Member>,
    /// Identity from `update.mum` (for an MSU: from its main inner package).
    pub identity: Option<AssemblyIdentity>,
    /// KB (`KB5079471`).
    pub kb: Option<String>,
    /// `releaseType`.
    pub release_type: Option<String>,
    /// `restart`.
    pub restart: Option<String>,
    /// Parent packages (applicability).
    pub parents: Vec<AssemblyIdentity>,
    /// Components and sub-packages listed in `update.mum`.
    pub updates: Vec<UpdateItem>,
    /// Parsed component manifests.
    pub components: Vec<Component>,
    /// Packages inside an MSU.
    pub inner_packages: Vec<InnerPackage>,
    /// `*-pkgProperties.txt` of an MSU.
    pub properties: BTreeMap<String, String>,
    /// `update.mum` says `PackageFormat="PSFX"`: payloads may be differentials (`f\`, `n\`,
    /// `r\` folders in the CAB, or a `.psf` next to an LCU).
    pub psfx: bool,
    /// `update.mum`'s `customInformation` format attributes (PackageFormat, PSFXVersion,
    /// PSFXDeltaFormat); for an MSU, its main package's.
    pub format: Option<PackageFormat>,
    /// Payloads are stored as deltas indexed by a `*.cix.xml` (Intra-Package Delta or express CAB),
    /// so the CAB does not hold full files under their names.
    pub delta_payloads: bool,
    /// Remarks: anything unusual found while opening.
    pub notes: Vec<String>,
    /// The CAB directory; empty (no files) when the container is a WIM.
    #[serde(skip)]
    archive: CabArchive,
    /// The files of a WIM container, aligned with `members`.
    #[serde(skip)]
    wim: Option<msu_wim::WimMembers>,
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Package")
            .field("file_name", &self.file_name)
            .field("container", &self.container)
            .field("kind", &self.kind)
            .field("members", &self.members.len())
            .field("identity", &self.identity)
            .field("kb", &self.kb)
            .field("components", &self.components.len())
            .field("inner_packages", &self.inner_packages)
            .field("notes", &self.notes)
            .finish()
    }
}

/// Where a manifest file's bytes are stored in the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PayloadLayout {
    /// `<component folder>\<name>`: the full file in a folder named like the manifest (WinSxS style).
    Folder,
    /// `<name>` or `<sourceName>` at the CAB root (flat layout).
    Flat,
    /// A PSFX differential under `<component folder>\f|r|n\` (not the file itself).
    Delta,
}

/// What a payload member holds: the file, or a PA30 delta to rebuild it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadForm {
    /// The full file.
    Full,
    /// `f\`: forward delta from the component's RTM file to the new one.
    Forward,
    /// `n\`: delta from an empty reference (the file is new).
    Null,
    /// `r\`: reverse delta from the new file to RTM; not enough to rebuild the new file.
    Reverse,
}

/// Result of [`Package::payload_for`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayloadLocation {
    /// Member index in [`Package::members`].
    pub index: usize,
    /// Member name.
    pub member: String,
    /// Member size.
    pub size: u64,
    /// Layout the member was found by.
    pub layout: PayloadLayout,
    /// What the member holds.
    pub form: PayloadForm,
}

/// Open a package from `src`; `file_name` is the name it was downloaded as (`.cab` or `.msu`).
pub fn open_package(src: SharedReader, file_name: &str) -> Result<Package> {
    open_at_depth(src, file_name, 0)
}

fn kb_from_name(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let at = lower.find("kb")?;
    let digits: String = lower[at + 2..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (digits.len() >= 6).then(|| format!("KB{digits}"))
}

fn empty_package(
    file_name: &str,
    container: Container,
    members: Vec<Member>,
    archive: CabArchive,
) -> Package {
    Package {
        file_name: file_name.to_string(),
        container,
        kind: PackageKind::Other,
        members,
        identity: None,
        kb: None,
        release_type: None,
        restart: None,
        parents: Vec::new(),
        updates: Vec::new(),
        components: Vec::new(),
        inner_packages: Vec::new(),
        properties: BTreeMap::new(),
        psfx: false,
        format: None,
        delta_payloads: false,
        notes: archive.notes.clone(),
        archive,
        wim: None,
    }
}

fn open_at_depth(src: SharedReader, file_name: &str, depth: u32) -> Result<Package> {
    if msu_wim::is_wim(&*src) {
        let mut pkg = open_wim_package(src, file_name, depth)?;
        if pkg.kb.is_none() {
            pkg.kb = kb_from_name(file_name);
        }
        return Ok(pkg);
    }
    let archive = CabArchive::open(src)?;
    let members: Vec<Member> = archive
        .files
        .iter()
        .map(|f| Member {
            name: f.name.clone(),
            size: f.size,
            folder: f.folder,
            compression: archive
                .folders
                .get(f.folder as usize)
                .map(|fo| fo.compression)
                .unwrap_or(FolderCompression::None),
        })
        .collect();
    let mut pkg = empty_package(file_name, Container::Cab, members, archive);
    let is_msu = file_name.to_ascii_lowercase().ends_with(".msu")
        || msu::looks_like_msu(pkg.members.iter().map(|m| m.name.as_str()));
    if is_msu && depth == 0 {
        open_msu(&mut pkg)?;
    } else {
        open_cbs(&mut pkg)?;
    }
    if pkg.kb.is_none() {
        pkg.kb = kb_from_name(file_name);
    }
    Ok(pkg)
}

/// A WIM at the top (`depth` 0) is a WIM-format `.msu`; inside one, the LCU's `.wim`.
fn open_wim_package(src: SharedReader, file_name: &str, depth: u32) -> Result<Package> {
    let what = if depth == 0 {
        "WIM-format MSU"
    } else {
        "package WIM"
    };
    let (dir, members) = msu_wim::WimMembers::open(src.clone(), what)?;
    let container = if depth == 0 {
        Container::MsuWim
    } else {
        Container::Wim
    };
    let mut pkg = empty_package(
        file_name,
        container,
        members,
        CabArchive::without_members(src),
    );
    pkg.wim = Some(dir);
    if depth == 0 {
        open_msu(&mut pkg)?;
        return Ok(pkg);
    }
    read_update_mum(&mut pkg)?;
    note_delta_indexes(&mut pkg);
    let manifests = pkg
        .members
        .iter()
        .filter(|m| !m.name.contains('\\') && m.name.to_ascii_lowercase().ends_with(".manifest"))
        .count();
    pkg.notes.push(format!(
        "{manifests} component manifests; not parsed: a cumulative update body is not serviced"
    ));
    Ok(pkg)
}

fn read_update_mum(pkg: &mut Package) -> Result<()> {
    if pkg.find("update.mum").is_none() {
        return Ok(());
    }
    let bytes = pkg.read_member("update.mum", MAX_MUM)?;
    let m = mum::parse_mum(&bytes)?;
    pkg.kind = PackageKind::from_identity_name(&m.identity.name);
    pkg.kb = m.kb.clone();
    pkg.release_type = m.release_type;
    pkg.restart = m.restart;
    pkg.parents = m.parents;
    pkg.updates = m.updates;
    pkg.psfx = m.psfx;
    pkg.format = m.format;
    pkg.identity = Some(m.identity);
    Ok(())
}

fn note_delta_indexes(pkg: &mut Package) {
    for cix in ["_manifest_.cix.xml", "express.psf.cix.xml"] {
        if pkg.find(cix).is_some() {
            pkg.delta_payloads = true;
            pkg.notes.push(format!(
                "{cix} present: payloads are stored as deltas (PA30/PSF), not as full files"
            ));
        }
    }
}

fn open_cbs(pkg: &mut Package) -> Result<()> {
    read_update_mum(pkg)?;
    note_delta_indexes(pkg);
    let manifests: Vec<usize> = pkg
        .archive
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            !f.name.contains(['\\', '/']) && f.name.to_ascii_lowercase().ends_with(".manifest")
        })
        .map(|(i, _)| i)
        .collect();
    if manifests.len() > MAX_COMPONENTS {
        return Err(Error::limit(
            manifests.len(),
            MAX_COMPONENTS,
            format!(
                "{} component manifests; the limit is {MAX_COMPONENTS}",
                manifests.len()
            ),
        ));
    }
    // All manifests come out of one pass per folder (reading them one by one through the crate
    // would decode each folder's prefix again for every manifest).
    let mut total = 0u64;
    for &i in &manifests {
        let f = &pkg.archive.files[i];
        if f.size > manifest::MAX_MANIFEST {
            return Err(Error::limit(
                f.size,
                manifest::MAX_MANIFEST,
                format!(
                    "manifest {:?} is {} bytes; the limit is {}",
                    f.name,
                    f.size,
                    manifest::MAX_MANIFEST
                ),
            ));
        }
        total += f.size;
    }
    if total > MAX_MANIFESTS_TOTAL {
        return Err(Error::limit(
            total,
            MAX_MANIFESTS_TOTAL,
            format!("component manifests total {total} bytes; the limit is {MAX_MANIFESTS_TOTAL}"),
        ));
    }
    let mut buffers: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    pkg.archive.stream_members(&manifests, &mut |i, piece| {
        buffers.entry(i).or_default().extend_from_slice(piece);
        Ok(())
    })?;
    for i in manifests {
        let name = pkg.archive.files[i].name.clone();
        let bytes = buffers.remove(&i).unwrap_or_default();
        let c = manifest::parse_component(&name, &bytes)?;
        if c.dcm_compressed {
            pkg.notes.push(format!(
                "{name}: compressed manifest ({}); decoded only with the base of the image it services",
                match c.encoding {
                    ManifestEncoding::Compressed(s) => String::from_utf8_lossy(&s).into_owned(),
                    ManifestEncoding::Xml => String::new(),
                }
            ));
        }
        pkg.components.push(c);
    }
    if pkg.identity.is_none() {
        let has_cbs = !pkg.components.is_empty()
            || pkg
                .members
                .iter()
                .any(|m| m.name.to_ascii_lowercase().ends_with(".mum"));
        if has_cbs {
            pkg.kind = PackageKind::Other;
            pkg.notes
                .push("CBS manifests but no update.mum: not a complete package".into());
        } else {
            pkg.kind = PackageKind::SetupDu;
            pkg.notes
                .push("no update.mum: treated as a Setup Dynamic Update (plain files)".into());
        }
    }
    Ok(())
}

fn base_origin(s: &crate::manifest_base::BaseSource) -> String {
    use crate::manifest_base::BaseSource;
    match s {
        BaseSource::Image { wcp, stack, .. } => {
            format!("{} (servicing stack {})", wcp.path, stack.version)
        }
        BaseSource::WcpFile { wcp } => wcp.path.clone(),
        BaseSource::RawFile { path } => path.clone(),
    }
}

/// The component a DCM manifest decodes to, checked against the manifest's member name (a base
/// that is not the one the manifest was made against yields other bytes, and DCM carries no hash).
fn decode_component(c: &Component, base: &[u8]) -> Result<Component> {
    let opts = crate::delta::ApplyOptions {
        max_target_size: manifest::MAX_MANIFEST,
        ..Default::default()
    };
    let xml = crate::delta::dcm::decode(base, &c.shipped, &opts)?;
    let mut d = manifest::parse_component(&c.manifest_name, &xml)?;
    if d.dcm_compressed {
        return Err(Error::malformed(
            "component manifest",
            0,
            "decodes to another compressed manifest",
        ));
    }
    if let Some(n) = crate::cbs::SxsName::parse(&c.manifest_name) {
        let id = &d.identity;
        let key = id.key();
        if !n.version.eq_ignore_ascii_case(&id.version)
            || !n.arch.eq_ignore_ascii_case(&key.arch)
            || !n.culture.eq_ignore_ascii_case(&key.culture)
        {
            return Err(Error::invalid(
                "package",
                format!(
                    "the decoded identity ({} {} {} {}) does not match the manifest's name",
                    id.name, id.version, id.processor_architecture, id.language
                ),
            ));
        }
    }
    d.dcm_compressed = true;
    d.encoding = c.encoding;
    d.shipped = c.shipped.clone();
    Ok(d)
}

/// Open the members of an MSU of either kind (CAB or WIM).
fn open_msu(pkg: &mut Package) -> Result<()> {
    if pkg.container == Container::Cab {
        pkg.container = Container::Msu;
    }
    // Only top-level members have a role: real MSUs hold nothing deeper, and a WIM given as a
    // package (an install.wim by mistake) must not have every CAB in its tree opened.
    let mut roles = Vec::new();
    for (i, m) in pkg.members.iter().enumerate() {
        let role = if m.name.contains(['\\', '/']) {
            msu::MsuMember::Other
        } else {
            msu::classify(&m.name)
        };
        roles.push((i, role));
    }
    for (i, role) in roles {
        let name = pkg.members[i].name.clone();
        let size = pkg.members[i].size;
        match role {
            msu::MsuMember::Properties => {
                let bytes = pkg.read_index(i, msu::MAX_PROPERTIES)?;
                pkg.properties = msu::parse_properties(&bytes)?;
            }
            msu::MsuMember::Psf => {
                // Only where it can be read in place: a .psf is gigabytes, never decoded for this.
                if let Some(r) = pkg.member_in_place(i)? {
                    let mut magic = [0u8; 8];
                    if r.read_at(0, &mut magic).is_err() || &magic != b"PSTREAM\0" {
                        pkg.notes
                            .push(format!("{name}: does not start with the PSTREAM magic"));
                    }
                }
            }
            msu::MsuMember::PackageWim
            | msu::MsuMember::PackageCab
            | msu::MsuMember::SsuCab
            | msu::MsuMember::DesktopDeployment
            | msu::MsuMember::WsusScan
            | msu::MsuMember::AggregatedMetadata
            | msu::MsuMember::OtherCab => {
                // An inner CAB of a WIM is SHA-1-checked whole first (the WIM records its
                // digest; a CAB is small next to the LCU .wim, which is not read through).
                let checked = match (&pkg.wim, role) {
                    (_, msu::MsuMember::PackageWim) | (None, _) => Ok(()),
                    (Some(w), _) => w.stream(i, &mut |_| Ok(())),
                };
                let opened = checked
                    .and_then(|_| pkg.member_source(i))
                    .and_then(|r| open_at_depth(r, &name, 1));
                let (package, error) = match opened {
                    Ok(mut p) => {
                        if role == msu::MsuMember::SsuCab && p.kind == PackageKind::Other {
                            p.kind = PackageKind::Ssu;
                        }
                        (Some(Box::new(p)), None)
                    }
                    Err(e) => (None, Some(e.to_string())),
                };
                pkg.inner_packages.push(InnerPackage {
                    name,
                    size,
                    role,
                    package,
                    error,
                });
            }
            msu::MsuMember::Other => {}
        }
    }
    let is_main =
        |r: msu::MsuMember| matches!(r, msu::MsuMember::PackageCab | msu::MsuMember::PackageWim);
    let main = pkg
        .inner_packages
        .iter()
        .find(|p| is_main(p.role))
        .and_then(|p| p.package.as_deref());
    if let Some(m) = main {
        pkg.identity = m.identity.clone();
        pkg.kb = m.kb.clone();
        pkg.release_type = m.release_type.clone();
        pkg.restart = m.restart.clone();
        pkg.parents = m.parents.clone();
        pkg.psfx = m.psfx;
        pkg.format = m.format.clone();
    }
    if let Some(kb) = pkg.properties.get("KB Article Number") {
        let from_props = verify::normalize_kb(kb);
        if pkg.kb.is_some() && from_props.is_some() && pkg.kb != from_props {
            pkg.notes.push(format!(
                "pkgProperties says {}, update.mum says {}",
                from_props.as_deref().unwrap_or_default(),
                pkg.kb.as_deref().unwrap_or_default()
            ));
        }
        if pkg.kb.is_none() {
            pkg.kb = from_props;
        }
    }
    let has_main = pkg.inner_packages.iter().any(|p| is_main(p.role));
    pkg.kind = if has_main {
        PackageKind::Lcu
    } else if pkg
        .inner_packages
        .iter()
        .any(|p| p.role == msu::MsuMember::SsuCab)
    {
        PackageKind::Ssu
    } else {
        PackageKind::Other
    };
    if let Some(id) = &pkg.identity {
        let k = PackageKind::from_identity_name(&id.name);
        if k != PackageKind::Other {
            pkg.kind = k;
        }
    }
    Ok(())
}

impl Package {
    /// The reader the package was opened from.
    pub fn source(&self) -> &SharedReader {
        self.archive.source()
    }

    /// The underlying CAB directory (folders, raw entries); empty for a WIM container, whose
    /// members [`Package::read_member`] and [`Package::stream_member`] read instead.
    pub fn archive(&self) -> &CabArchive {
        &self.archive
    }

    fn find(&self, name: &str) -> Option<usize> {
        match &self.wim {
            Some(w) => w.find(name),
            None => self.archive.find(name),
        }
    }

    /// A reader over member `i`, for opening it as a package in place: a WIM member or a member
    /// of a stored CAB folder is read where it lies; a member of a compressed CAB folder is
    /// decoded to memory, up to [`MAX_INNER_IN_MEMORY`].
    fn member_source(&self, i: usize) -> Result<SharedReader> {
        if let Some(r) = self.member_in_place(i)? {
            return Ok(r);
        }
        let m = &self.members[i];
        if m.size > MAX_INNER_IN_MEMORY {
            return Err(Error::limit(
                m.size,
                MAX_INNER_IN_MEMORY,
                format!(
                "{}: {} bytes in a compressed folder; the in-memory limit is {MAX_INNER_IN_MEMORY}",
                m.name, m.size
            ),
            ));
        }
        Ok(Arc::new(SliceSource::new(
            self.archive.read(i, MAX_INNER_IN_MEMORY)?,
        )))
    }

    /// A reader over member `i` where it lies (a WIM member, or a member of a stored CAB
    /// folder); `None` for a member of a compressed CAB folder.
    fn member_in_place(&self, i: usize) -> Result<Option<SharedReader>> {
        Ok(match &self.wim {
            Some(w) => Some(Arc::new(w.reader(i)?)),
            None => self.archive.member_reader(i),
        })
    }

    /// Read a member (case-insensitive name, either separator) into memory; members larger than
    /// `limit` are refused with [`Error::Limit`] before anything is decoded.
    pub fn read_member(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        self.read_index(self.index_of(name)?, limit)
    }

    fn read_index(&self, i: usize, limit: u64) -> Result<Vec<u8>> {
        match &self.wim {
            Some(w) => w.read(i, limit),
            None => self.archive.read(i, limit),
        }
    }

    /// Stream a member's bytes to `sink` in bounded pieces (for hashing or extracting large files).
    pub fn stream_member(
        &self,
        name: &str,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let i = self.index_of(name)?;
        match &self.wim {
            Some(w) => w.stream(i, sink),
            None => self.archive.stream(i, sink),
        }
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.find(name).ok_or_else(|| {
            Error::not_found(
                "package member",
                format!("member {name:?} in {}", self.file_name),
            )
        })
    }

    /// Find the member holding `file` of `component`.
    ///
    /// CBS package CABs store each component's files in a folder named like its manifest (the WinSxS
    /// folder name): `amd64_microsoft-windows-foo_31bf3856ad364e35_10.0.26100.8037_none_<hash>\foo.dll`,
    /// next to `…_<hash>.manifest` at the root. PSFX packages put differentials in `f\`, `r\` or `n\`
    /// subfolders instead. Some packages are flat (`foo.dll` at the root). Tried in that order,
    /// case-insensitively, with `name` then `sourceName`; among the deltas `f\` before `n\`
    /// (both rebuild the file), and `r\` last (it alone cannot rebuild it: the caller refuses).
    pub fn payload_for(
        &self,
        component: &Component,
        file: &ManifestFile,
    ) -> Result<PayloadLocation> {
        let folder = component
            .manifest_name
            .get(
                ..component
                    .manifest_name
                    .len()
                    .saturating_sub(".manifest".len()),
            )
            .filter(|_| {
                component
                    .manifest_name
                    .to_ascii_lowercase()
                    .ends_with(".manifest")
            })
            .unwrap_or(&component.manifest_name);
        let mut names = vec![file.name.as_str()];
        if !file.source_name.is_empty() && !file.source_name.eq_ignore_ascii_case(&file.name) {
            names.push(file.source_name.as_str());
        }
        let loc = |i: usize, layout, form| {
            let f = &self.archive.files[i];
            PayloadLocation {
                index: i,
                member: f.name.clone(),
                size: f.size,
                layout,
                form,
            }
        };
        for n in &names {
            if let Some(i) = self.archive.find(&format!("{folder}\\{n}")) {
                return Ok(loc(i, PayloadLayout::Folder, PayloadForm::Full));
            }
        }
        for (sub, form) in [
            ("f", PayloadForm::Forward),
            ("n", PayloadForm::Null),
            ("r", PayloadForm::Reverse),
        ] {
            for n in &names {
                if let Some(i) = self.archive.find(&format!("{folder}\\{sub}\\{n}")) {
                    return Ok(loc(i, PayloadLayout::Delta, form));
                }
            }
        }
        for n in names.iter().rev() {
            if let Some(i) = self.archive.find(n) {
                return Ok(loc(i, PayloadLayout::Flat, PayloadForm::Full));
            }
        }
        Err(Error::not_found(
            "payload",
            format!(
                "payload {:?} of {} in {}",
                file.name, component.manifest_name, self.file_name
            ),
        ))
    }

    /// Decode every DCM-compressed component manifest not decoded yet with `base` (the base of the
    /// servicing stack the package is serviced by), parse the XML into the component (identity,
    /// files, digests) and record which base decoded it. A manifest that does not decode, does
    /// not parse, or whose identity disagrees with its member name keeps `decode_error` (the
    /// package is then refused, naming it); the first such error is also returned.
    pub fn decode_manifests(&mut self, base: &crate::manifest_base::BaseManifest) -> Result<()> {
        let with = manifest::DecodedWith {
            origin: base_origin(&base.source),
            stack_version: match &base.source {
                crate::manifest_base::BaseSource::Image { stack, .. } => {
                    Some(stack.version.clone())
                }
                crate::manifest_base::BaseSource::WcpFile { wcp } => wcp.file_version.clone(),
                crate::manifest_base::BaseSource::RawFile { .. } => None,
            },
            base_sha256: base.sha256_hex(),
        };
        let mut first = None;
        for c in self.components.iter_mut() {
            if !c.dcm_compressed || c.decoded.is_some() {
                continue;
            }
            match decode_component(c, &base.bytes) {
                Ok(d) => {
                    *c = Component {
                        decoded: Some(with.clone()),
                        ..d
                    };
                }
                Err(e) => {
                    let why = format!(
                        "{}: DCM-compressed manifest not decoded with the base from {} (SHA-256 {}): {e}",
                        c.manifest_name, with.origin, with.base_sha256
                    );
                    c.decode_error = Some(why.clone());
                    first.get_or_insert(Error::invalid("package", why));
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Verify the package: file digests, catalog-name SHA-1, expected digests/KB, and every payload
    /// against its manifest digest. Problems make `ok` false; the result lists each one.
    pub fn verify(&self, expect: &Expected) -> Result<Verification> {
        verify::verify_quiet(self, expect)
    }

    /// [`Package::verify`] with progress reporting and cancellation.
    pub fn verify_with_progress(
        &self,
        expect: &Expected,
        progress: &dyn crate::io::Progress,
    ) -> Result<Verification> {
        verify::verify(self, expect, progress)
    }
}
