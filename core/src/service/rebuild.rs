//! Payloads shipped as PA30 deltas: finding the RTM base in the image, rebuilding the new file,
//! and the reverse (`r\`) delta written next to it.
//!
//! Microsoft's packages in the real layout ship a component's file as the full file, as `n\<file>`
//! (a delta from nothing) or as `f\<file>` (a forward delta from the component's RTM version,
//! build `x.y.z.1`). An image's component store keeps, for each serviced component, the current
//! file plus `r\<file>`, the delta from it back to RTM. So the base of an `f\` delta is: in a WinSxS
//! folder of the same component family (name, architecture, culture, token; any version), the
//! folder's file with its `r\` delta applied, or the file of a folder that is itself the RTM
//! version. Deltas may start with a CRC32 of the rest (checked by the delta engine).

use crate::cbs::{IdentityKey, SxsName, Version4, WINSXS};
use crate::delta::encode::{create, CreateOptions};
use crate::delta::{apply, ApplyOptions};
use crate::io::{read_vec, ReadAt};
use crate::package::PayloadForm;
use crate::wim::model::ImageTree;
use crate::wim::Wim;
use crate::{Error, Result};

/// Largest file rebuilt from a delta (and largest base read from the image for it).
pub const MAX_REBUILT: u64 = 512 << 20;

/// The component stores of the images being serviced, as they were before this run (a run never
/// changes a family's RTM file, so later packages of the run see the same bases). Several images
/// (a multi-image WinRE) are serviced with one set of rebuilt files, so every image that holds a
/// family's RTM base must hold the same bytes.
pub struct RtmFinder<'a> {
    wim: &'a Wim,
    trees: Vec<(u32, ImageTree)>,
}

fn u16s(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// True when a version is an RTM one (`x.y.z.1`).
pub fn is_rtm(version: &str) -> bool {
    Version4::parse_partial(version).is_some_and(|v| v.0[3] == 1)
}

impl<'a> RtmFinder<'a> {
    /// The finder over image `index` (1-based) of `wim`.
    pub fn new(wim: &'a Wim, index: u32) -> Result<Self> {
        Self::over(wim, &[index])
    }

    /// The finder over images `indices` (1-based, at least one) of `wim`.
    pub fn over(wim: &'a Wim, indices: &[u32]) -> Result<Self> {
        if indices.is_empty() {
            return Err(Error::invalid(
                "patch request",
                "no image to find RTM bases in",
            ));
        }
        let trees = indices
            .iter()
            .map(|&i| Ok((i, wim.image_tree(i)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(RtmFinder { wim, trees })
    }

    /// The image file the finder reads.
    pub fn wim(&self) -> &'a Wim {
        self.wim
    }

    /// The first image's tree as it was before servicing.
    pub fn tree(&self) -> &ImageTree {
        &self.trees[0].1
    }

    /// The images (1-based) the finder looks in, the first one first.
    pub fn indices(&self) -> Vec<u32> {
        self.trees.iter().map(|t| t.0).collect()
    }

    /// Every image's tree, with its index.
    pub fn trees(&self) -> impl Iterator<Item = (u32, &ImageTree)> {
        self.trees.iter().map(|(i, t)| (*i, t))
    }

    /// The RTM bytes of `file` (its name in the component folder) of the family `key`, or why
    /// there is none. The `r\` delta carries the RTM file's hash, which the engine checks. With
    /// several images: the base of every image that has one, which must be the same bytes (an
    /// image without one takes the others'; the rebuilt file is checked against its manifest).
    pub fn rtm(&self, key: &IdentityKey, file: &str) -> Result<Vec<u8>> {
        let mut found: Option<(u32, Vec<u8>)> = None;
        let mut missing = None;
        for (index, tree) in &self.trees {
            match rtm_in(self.wim, tree, key, file) {
                Ok(bytes) => match &found {
                    Some((first, b)) if *b != bytes => {
                        return Err(Error::unsupported(
                            "servicing",
                            format!(
                                "images {first} and {index} hold different RTM bases of {file} \
                             ({}_{}): service them one at a time (--index)",
                                key.arch, key.name
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => found = Some((*index, bytes)),
                },
                Err(Error::NotFound { name, .. }) => {
                    missing.get_or_insert(if self.trees.len() > 1 {
                        format!("image {index}: {name}")
                    } else {
                        name
                    });
                }
                Err(e) => return Err(e),
            }
        }
        match (found, missing) {
            (Some((_, b)), _) => Ok(b),
            (None, m) => Err(Error::not_found("RTM base", m.unwrap_or_default())),
        }
    }
}

fn read(wim: &Wim, tree: &ImageTree, node: usize, what: &str) -> Result<Vec<u8>> {
    let d = &tree.nodes[node];
    let r = wim.open_data(d)?;
    read_vec(&r, "image file", 0, r.size(), MAX_REBUILT)
        .map_err(|e| Error::invalid("patch request", format!("{what}: {e}")))
}

fn file_in(tree: &ImageTree, dir: usize, rel: &str) -> Option<usize> {
    let mut cur = dir;
    for part in rel.split(['\\', '/']).filter(|p| !p.is_empty()) {
        cur = tree.child(cur, &u16s(part))?;
    }
    (!tree.nodes[cur].is_dir()).then_some(cur)
}

/// [`RtmFinder::rtm`] in one image's tree.
fn rtm_in(wim: &Wim, tree: &ImageTree, key: &IdentityKey, file: &str) -> Result<Vec<u8>> {
    let sxs = tree
        .lookup(WINSXS)
        .map_err(|_| Error::not_found("image folder", WINSXS))?;
    let mut folders: Vec<(Version4, usize, String)> = Vec::new();
    for &c in &tree.nodes[sxs].children {
        let d = &tree.nodes[c];
        if !d.is_dir() {
            continue;
        }
        let name = d.name_string();
        let Some(n) = SxsName::parse(&name) else {
            continue;
        };
        if n.is_of(key) {
            if let Some(v) = n.version4() {
                folders.push((v, c, name));
            }
        }
    }
    folders.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, dir, name) in &folders {
        let (Some(r), Some(cur)) = (
            file_in(tree, *dir, &format!("r\\{file}")),
            file_in(tree, *dir, file),
        ) else {
            continue;
        };
        let what = format!("WinSxS\\{name}\\r\\{file}");
        let delta = read(wim, tree, r, &what)?;
        let current = read(wim, tree, cur, &format!("WinSxS\\{name}\\{file}"))?;
        return apply(&current, &delta, &apply_options()).map_err(|e| {
            Error::invalid(
                "patch request",
                format!("{what} does not apply to its file: {e}"),
            )
        });
    }
    for (v, dir, name) in &folders {
        if v.0[3] == 1 {
            if let Some(f) = file_in(tree, *dir, file) {
                return read(wim, tree, f, &format!("WinSxS\\{name}\\{file}"));
            }
        }
    }
    Err(Error::not_found(
        "RTM base",
        if folders.is_empty() {
            format!(
                "no RTM base: the image has no WinSxS folder of {}_{}_{}_{}",
                key.arch, key.name, key.token, key.culture
            )
        } else {
            format!(
                "no RTM base: {} has neither r\\{file} nor an RTM (x.y.z.1) version",
                folders
                    .iter()
                    .map(|f| f.2.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    ))
}

fn apply_options() -> ApplyOptions {
    ApplyOptions {
        max_target_size: MAX_REBUILT,
        ..Default::default()
    }
}

/// The new file from a payload member of `form`: a full file as is, an `n\` delta applied to an
/// empty reference, an `f\` delta to `rtm`. `r\` alone cannot rebuild the file.
pub fn rebuild(form: PayloadForm, member: Vec<u8>, rtm: Option<&[u8]>) -> Result<Vec<u8>> {
    match form {
        PayloadForm::Full => Ok(member),
        PayloadForm::Null => apply(&[], &member, &apply_options()),
        PayloadForm::Forward => {
            let base = rtm.ok_or_else(|| Error::not_found("RTM base", "for the f\\ delta"))?;
            apply(base, &member, &apply_options())
        }
        PayloadForm::Reverse => Err(Error::unsupported(
            "servicing",
            "only a reverse (r\\) delta: it cannot rebuild the new file",
        )),
    }
}

/// The `r\` delta from `new` back to `rtm`, made by our encoder and applied back before it is
/// accepted.
pub fn reverse(new: &[u8], rtm: &[u8]) -> Result<Vec<u8>> {
    let r = create(new, rtm, &CreateOptions::default())?;
    let back = apply(new, &r, &apply_options())?;
    if back != rtm {
        return Err(Error::invalid(
            "patch request",
            "the reverse delta does not give the RTM file back",
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuild_forms() {
        // Incompressible bytes, so the f\ delta must copy from its reference.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let rtm: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut new = rtm.clone();
        new[100..120].copy_from_slice(b"version 10.0.26100.8");
        let f = create(&rtm, &new, &CreateOptions::default()).unwrap();
        let n = create(&[], &new, &CreateOptions::default()).unwrap();
        assert_eq!(
            rebuild(PayloadForm::Forward, f.clone(), Some(&rtm)).unwrap(),
            new
        );
        assert_eq!(rebuild(PayloadForm::Null, n, None).unwrap(), new);
        assert_eq!(rebuild(PayloadForm::Full, new.clone(), None).unwrap(), new);
        assert!(rebuild(PayloadForm::Forward, f.clone(), None).is_err());
        let other: Vec<u8> = rtm.iter().map(|b| b ^ 0x5a).collect();
        assert!(rebuild(PayloadForm::Forward, f, Some(&other)).is_err());
        assert!(rebuild(PayloadForm::Reverse, Vec::new(), Some(&rtm)).is_err());
        let r = reverse(&new, &rtm).unwrap();
        assert_eq!(apply(&new, &r, &ApplyOptions::default()).unwrap(), rtm);
        assert!(is_rtm("10.0.26100.1") && !is_rtm("10.0.26100.8037"));
    }
}
