//! DCM-compressed component manifests, decoded before selection with the right base.
//!
//! A package's DCM manifests are deltas against the base manifest of the servicing stack that
//! services it: the image's newest stack for the packages before any SSU of the run, and the new
//! stack's `wcp.dll` (resource 614/1, rebuilt from the SSU's payload) for the packages after it.
//! Packages are visited in servicing order (servicing stacks first, as [`super::select`] orders
//! them). A manifest that does not decode keeps its reason, and selection refuses the package.

use super::plan::rebuild_member;
use super::rebuild::RtmFinder;
use crate::cbs::PackageKind;
use crate::io::SliceSource;
use crate::manifest_base::{BaseManifest, STACK_COMPONENT, WCP_DLL};
use crate::package::{Container, Package};

fn has_undecoded(p: &Package) -> bool {
    p.components
        .iter()
        .any(|c| c.dcm_compressed && c.decoded.is_none())
}

/// Forget what earlier decodes made of the DCM manifests of `packages` (and of the CBS packages
/// inside MSUs), so that [`decode_for_image`] decodes them again from the shipped bytes: a second
/// WinRE serviced in the same run may carry another servicing stack, hence another base.
pub fn forget_decoded(packages: &mut [Package]) {
    fn forget(p: &mut Package) {
        for c in p.components.iter_mut().filter(|c| c.dcm_compressed) {
            c.decoded = None;
            c.decode_error = None;
        }
    }
    for p in packages.iter_mut() {
        forget(p);
        for i in p.inner_packages.iter_mut() {
            if let Some(inner) = i.package.as_deref_mut() {
                forget(inner);
            }
        }
    }
}

/// Decode every DCM manifest of `packages` (and of the CBS packages inside MSUs) against the
/// image `image` is a view of; returns remarks for the plan (which base decoded what).
pub fn decode_for_image(packages: &mut [Package], image: &RtmFinder) -> Vec<String> {
    let mut all: Vec<&mut Package> = Vec::new();
    for p in packages.iter_mut() {
        if p.container == Container::Cab {
            all.push(p);
        } else {
            for i in p.inner_packages.iter_mut() {
                if let Some(inner) = i.package.as_deref_mut() {
                    all.push(inner);
                }
            }
        }
    }
    all.sort_by_key(|p| p.kind.servicing_order());
    let mut notes = Vec::new();
    let mut base: Option<Result<BaseManifest, String>> = None;
    for p in all {
        if has_undecoded(p) {
            let b = base.get_or_insert_with(|| image_base(image));
            match b {
                Ok(b) => {
                    if p.decode_manifests(b).is_ok() {
                        notes.push(format!(
                            "{}: DCM manifests decoded with the base of {} (SHA-256 {})",
                            p.file_name,
                            describe(b),
                            b.sha256_hex()
                        ));
                    }
                }
                Err(e) => {
                    for c in p.components.iter_mut().filter(|c| c.dcm_compressed) {
                        c.decode_error = Some(format!(
                            "{}: DCM-compressed manifest, but no base manifest to decode it: {e}",
                            c.manifest_name
                        ));
                    }
                }
            }
        }
        if p.kind == PackageKind::Ssu && !has_undecoded(p) {
            match new_stack_base(p, image) {
                Ok(Some(b)) => {
                    notes.push(format!(
                        "{}: the packages after it decode with its servicing stack's base ({}, \
                         SHA-256 {})",
                        p.file_name,
                        describe(&b),
                        b.sha256_hex()
                    ));
                    base = Some(Ok(b));
                }
                Ok(None) => {}
                Err(e) => notes.push(format!(
                    "{}: its wcp.dll gives no base ({e}); later packages keep the image's",
                    p.file_name
                )),
            }
        }
    }
    notes
}

/// The base of the images' newest servicing stack; with several images, every image's base must
/// be the same bytes (their manifests are decoded once for all of them).
fn image_base(image: &RtmFinder) -> Result<BaseManifest, String> {
    let mut first: Option<(u32, BaseManifest)> = None;
    for (index, tree) in image.trees() {
        let b = BaseManifest::from_tree(image.wim(), tree).map_err(|e| e.to_string())?;
        match &first {
            Some((i, f)) if f.sha256_hex() != b.sha256_hex() => {
                return Err(format!(
                    "images {i} and {index} have different servicing stack bases (SHA-256 {} and \
                     {}): service them one at a time (--index)",
                    f.sha256_hex(),
                    b.sha256_hex()
                ))
            }
            Some(_) => {}
            None => first = Some((index, b)),
        }
    }
    first
        .map(|(_, b)| b)
        .ok_or_else(|| "no image to read the base from".to_string())
}

fn describe(b: &BaseManifest) -> String {
    use crate::manifest_base::BaseSource;
    match &b.source {
        BaseSource::Image { stack, .. } => format!("the image's servicing stack {}", stack.version),
        BaseSource::WcpFile { wcp } => wcp.path.clone(),
        BaseSource::RawFile { path } => path.clone(),
    }
}

/// The base in the `wcp.dll` an SSU installs (its servicing stack component), rebuilt from its
/// payload as servicing will write it; `None` when the package has no such file.
fn new_stack_base(p: &Package, image: &RtmFinder) -> crate::Result<Option<BaseManifest>> {
    for c in &p.components {
        if !c.identity.name.eq_ignore_ascii_case(STACK_COMPONENT) {
            continue;
        }
        if let Some(f) = c
            .files
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(WCP_DLL))
        {
            let loc = p.payload_for(c, f)?;
            let (bytes, _) = rebuild_member(p, c, f, loc.form, loc.index, Some(image))?;
            let path = format!("{}/{}", p.file_name, loc.member);
            return BaseManifest::from_reader(&SliceSource::new(bytes), &path).map(Some);
        }
    }
    Ok(None)
}
