//! Editing an image tree the way file-level CBS servicing leaves it.
//!
//! For each component: older versions of the same component (name, architecture, culture, public
//! key token) leave `Windows\WinSxS` and `WinSxS\Manifests`; the new payloads go to
//! `WinSxS\<folder>\` and each `<file>` with a destination is projected there as a hard link of the
//! WinSxS copy (one inode: same hard-link group, data, attributes and security descriptor).
//! Destinations are matched case-insensitively against the image, and an existing file keeps its
//! name, attributes and security descriptor; a new one takes its directory's. Projections of the old
//! version that the new one no longer has are removed. The tree is then compacted so that nothing
//! detached stays in the arena (the writer wants every node reachable).

use std::collections::{BTreeSet, HashSet};

use super::plan::{PreparedComponent, PreparedPackage};
use crate::cbs::{SxsName, Version4, PACKAGES_DIR, WINSXS, WINSXS_MANIFESTS};
use crate::wim::model::{attr, Dentry, Hash, ImageTree};
use crate::{Error, Result};

/// What servicing changed, as paths (`/Windows/System32/kernel32.dll`), sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChangeLog {
    /// Files that did not exist before.
    pub added: Vec<String>,
    /// Files whose contents were replaced (attributes and security descriptor kept).
    pub replaced: Vec<String>,
    /// Files removed (older component versions and their projections).
    pub removed: Vec<String>,
    /// Per-component outcome, in words.
    pub components: Vec<String>,
}

/// Mutable state of one servicing run over one tree.
pub struct Editor<'t> {
    tree: &'t mut ImageTree,
    time: u64,
    next_group: u64,
    added: BTreeSet<String>,
    replaced: BTreeSet<String>,
    removed: BTreeSet<String>,
    components: Vec<String>,
}

fn u16s(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn fold(name: &[u16]) -> String {
    String::from_utf16_lossy(name).to_uppercase()
}

impl<'t> Editor<'t> {
    /// Start editing `tree`; `time` (FILETIME) is given to new and replaced entries.
    pub fn new(tree: &'t mut ImageTree, time: u64) -> Result<Self> {
        if tree.nodes.first().map(|r| r.is_dir()) != Some(true) {
            return Err(Error::invalid(
                "patch request",
                "image tree has no root directory",
            ));
        }
        let next_group = tree
            .nodes
            .iter()
            .map(|d| d.hard_link_group)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        Ok(Editor {
            tree,
            time,
            next_group,
            added: BTreeSet::new(),
            replaced: BTreeSet::new(),
            removed: BTreeSet::new(),
            components: Vec::new(),
        })
    }

    /// Insert `d` under `parent`, keeping children in case-insensitive name order.
    fn insert(&mut self, parent: usize, mut d: Dentry) -> usize {
        d.parent = parent;
        let idx = self.tree.nodes.len();
        let key = fold(&d.name);
        self.tree.nodes.push(d);
        let children = &self.tree.nodes[parent].children;
        let pos = children
            .iter()
            .position(|&c| fold(&self.tree.nodes[c].name) > key)
            .unwrap_or(children.len());
        self.tree.nodes[parent].children.insert(pos, idx);
        idx
    }

    /// The directory at `rel` (`\`-separated, relative to the root), created with its parent's
    /// security descriptor where missing. Existing names are matched case-insensitively.
    pub fn ensure_dir(&mut self, rel: &str) -> Result<usize> {
        let mut cur = 0usize;
        for comp in rel
            .split(['\\', '/'])
            .filter(|c| !c.is_empty() && *c != ".")
        {
            if comp == ".." {
                return Err(Error::invalid(
                    "patch request",
                    format!("'..' in destination {rel}"),
                ));
            }
            let name = u16s(comp);
            cur = match self.tree.child(cur, &name) {
                Some(c) if self.tree.nodes[c].is_dir() => c,
                Some(c) => {
                    return Err(Error::invalid(
                        "patch request",
                        format!(
                            "{} is a file where servicing needs a directory",
                            self.tree.path_of(c)
                        ),
                    ))
                }
                None => {
                    let parent = &self.tree.nodes[cur];
                    let d = Dentry {
                        name,
                        attributes: attr::DIRECTORY,
                        security_id: parent.security_id,
                        creation_time: self.time,
                        last_access_time: self.time,
                        last_write_time: self.time,
                        ..Default::default()
                    };
                    self.insert(cur, d)
                }
            };
        }
        Ok(cur)
    }

    fn detach(&mut self, node: usize) {
        let parent = self.tree.nodes[node].parent;
        self.tree.nodes[parent].children.retain(|&c| c != node);
    }

    /// Every file (non-directory) at or below `node`.
    fn files_below(&self, node: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![node];
        while let Some(i) = stack.pop() {
            let d = &self.tree.nodes[i];
            if d.is_dir() {
                stack.extend(d.children.iter().copied());
            } else {
                out.push(i);
            }
        }
        out
    }

    fn remove_subtree(&mut self, node: usize) {
        for f in self.files_below(node) {
            let p = self.tree.path_of(f);
            self.removed.insert(p);
        }
        self.detach(node);
    }

    /// Put a file at `dir\name` with `data`, sharing inode fields with `proto` (attributes,
    /// security, hard-link group). An existing file of that name (case-insensitive) is replaced in
    /// place: it keeps its name and short name (callers put its attributes and security descriptor
    /// into `proto` when they are to be kept).
    fn put_file(&mut self, dir: usize, name: &str, data: Hash, proto: &Dentry) -> Result<usize> {
        let n = u16s(name);
        if let Some(c) = self.tree.child(dir, &n) {
            let path = self.tree.path_of(c);
            let d = &mut self.tree.nodes[c];
            if d.is_dir() || d.is_reparse() {
                return Err(Error::unsupported(
                    "servicing",
                    format!(
                        "{path} is a {} in the image; servicing would replace it with a file",
                        if d.is_dir() {
                            "directory"
                        } else {
                            "reparse point"
                        }
                    ),
                ));
            }
            d.data = Some(data);
            d.attributes = proto.attributes;
            d.security_id = proto.security_id;
            d.hard_link_group = proto.hard_link_group;
            d.last_write_time = self.time;
            d.last_access_time = self.time;
            // The new file's inode has no streams or extended attributes of the old one.
            d.named_streams.clear();
            d.tagged_items.clear();
            if !self.added.contains(&path) {
                self.replaced.insert(path);
            }
            return Ok(c);
        }
        let d = Dentry {
            name: n,
            data: Some(data),
            ..proto.clone()
        };
        let i = self.insert(dir, d);
        let path = self.tree.path_of(i);
        if self.removed.remove(&path) {
            self.replaced.insert(path);
        } else {
            self.added.insert(path);
        }
        Ok(i)
    }

    fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.tree.nodes.len()];
        for i in self.tree.walk() {
            seen[i] = true;
        }
        seen
    }

    /// Service one component (see the module docs).
    pub fn component(&mut self, c: &PreparedComponent) -> Result<()> {
        let key = c.identity.key();
        let new_ver = Version4::parse_partial(&c.identity.version).ok_or_else(|| {
            Error::invalid(
                "patch request",
                format!("{}: version {:?}", c.folder, c.identity.version),
            )
        })?;
        let winsxs = self.ensure_dir(WINSXS)?;
        let manifests = self.ensure_dir(WINSXS_MANIFESTS)?;

        // Versions of this component already in the store.
        let same = |name: &[u16], strip: bool| -> Option<Version4> {
            let s = String::from_utf16_lossy(name);
            let s = if strip {
                let cut = s.len().checked_sub(".manifest".len())?;
                if !s.get(cut..)?.eq_ignore_ascii_case(".manifest") {
                    return None;
                }
                s[..cut].to_string()
            } else {
                s
            };
            let n = SxsName::parse(&s)?;
            n.is_of(&key).then(|| n.version4()).flatten()
        };
        let mut old_dirs = Vec::new();
        for &ch in &self.tree.nodes[winsxs].children {
            let d = &self.tree.nodes[ch];
            if let (true, Some(v)) = (d.is_dir(), same(&d.name, false)) {
                old_dirs.push((ch, v));
            }
        }
        if let Some((dir, _)) = old_dirs.iter().find(|(_, v)| *v > new_ver) {
            self.components.push(format!(
                "{}: skipped, the image has a newer version ({})",
                c.folder,
                self.tree.nodes[*dir].name_string()
            ));
            return Ok(());
        }
        let old_manifests: Vec<usize> = self.tree.nodes[manifests]
            .children
            .iter()
            .copied()
            .filter(|&m| {
                !self.tree.nodes[m].is_dir()
                    && same(&self.tree.nodes[m].name, true).is_some_and(|v| v <= new_ver)
            })
            .collect();

        // Inodes of the old version, and where else in the image they are linked (projections).
        let mut old_groups = HashSet::new();
        for &(dir, _) in &old_dirs {
            for f in self.files_below(dir) {
                let g = self.tree.nodes[f].hard_link_group;
                if g != 0 {
                    old_groups.insert(g);
                }
            }
        }
        let old_names: Vec<String> = old_dirs
            .iter()
            .map(|&(d, _)| self.tree.nodes[d].name_string())
            .collect();
        for &(dir, _) in &old_dirs {
            self.remove_subtree(dir);
        }
        for m in old_manifests {
            self.remove_subtree(m);
        }
        let live = self.reachable();
        let old_projections: Vec<usize> = (0..self.tree.nodes.len())
            .filter(|&i| {
                live[i]
                    && !self.tree.nodes[i].is_dir()
                    && old_groups.contains(&self.tree.nodes[i].hard_link_group)
            })
            .collect();

        // The new version.
        let folder = self.ensure_dir(&format!("{WINSXS}\\{}", c.folder))?;
        let mut projected = HashSet::new();
        for f in &c.files {
            let group = self.next_group;
            self.next_group += 1;
            let (sub, base) = match f.name.rsplit_once(['\\', '/']) {
                Some((s, b)) => (Some(s), b),
                None => (None, f.name.as_str()),
            };
            let sxs_dir = match sub {
                Some(s) => self.ensure_dir(&format!("{WINSXS}\\{}\\{s}", c.folder))?,
                None => folder,
            };
            let mut proto = Dentry {
                attributes: attr::ARCHIVE,
                security_id: self.tree.nodes[sxs_dir].security_id,
                creation_time: self.time,
                last_access_time: self.time,
                last_write_time: self.time,
                hard_link_group: group,
                ..Default::default()
            };
            if let Some(dest) = &f.dest_dir {
                let dir = self.ensure_dir(dest)?;
                match self.tree.child(dir, &u16s(base)) {
                    Some(e) if !self.tree.nodes[e].is_dir() => {
                        // A replaced file keeps its attributes and security descriptor.
                        let ex = &self.tree.nodes[e];
                        proto.attributes = ex.attributes;
                        proto.security_id = ex.security_id;
                        proto.creation_time = ex.creation_time;
                    }
                    _ => proto.security_id = self.tree.nodes[dir].security_id,
                }
                let p = self.put_file(dir, base, f.sha1, &proto)?;
                projected.insert(p);
            }
            self.put_file(sxs_dir, base, f.sha1, &proto)?;
            if let Some(r) = &f.reverse {
                // r\<file>: the delta back to RTM that the next servicing's f\ deltas need.
                let rdir = match sub {
                    Some(s) => self.ensure_dir(&format!("{WINSXS}\\{}\\r\\{s}", c.folder))?,
                    None => self.ensure_dir(&format!("{WINSXS}\\{}\\r", c.folder))?,
                };
                let rproto = Dentry {
                    hard_link_group: 0,
                    attributes: attr::ARCHIVE,
                    security_id: self.tree.nodes[rdir].security_id,
                    ..proto.clone()
                };
                self.put_file(rdir, base, r.sha1, &rproto)?;
            }
        }
        let mproto = Dentry {
            attributes: attr::ARCHIVE,
            security_id: self.tree.nodes[manifests].security_id,
            creation_time: self.time,
            last_access_time: self.time,
            last_write_time: self.time,
            ..Default::default()
        };
        let mhash = crate::hash::sha1(&c.manifest);
        self.put_file(manifests, &format!("{}.manifest", c.folder), mhash, &mproto)?;

        // Old projections the new version does not project any more.
        for p in old_projections {
            if !projected.contains(&p) {
                self.remove_subtree(p);
            }
        }
        self.components.push(if old_names.is_empty() {
            format!("{}: installed", c.folder)
        } else {
            format!(
                "{}: installed, replacing {}",
                c.folder,
                old_names.join(", ")
            )
        });
        Ok(())
    }

    /// Store the package's `update.mum` (and `update.cat`) as its record in
    /// `Windows\servicing\Packages`.
    pub fn record(&mut self, p: &PreparedPackage) -> Result<()> {
        let dir = self.ensure_dir(PACKAGES_DIR)?;
        let proto = Dentry {
            attributes: attr::ARCHIVE,
            security_id: self.tree.nodes[dir].security_id,
            creation_time: self.time,
            last_access_time: self.time,
            last_write_time: self.time,
            ..Default::default()
        };
        let (mum, cat) = super::records::record_names(p);
        self.put_file(dir, &mum, crate::hash::sha1(&p.mum), &proto)?;
        if let (Some(cat_name), Some(bytes)) = (cat, &p.cat) {
            self.put_file(dir, &cat_name, crate::hash::sha1(bytes), &proto)?;
        }
        Ok(())
    }

    /// Finish: drop detached nodes and return the change log.
    pub fn finish(self) -> ChangeLog {
        compact(self.tree);
        let Editor {
            added,
            replaced,
            removed,
            components,
            ..
        } = self;
        ChangeLog {
            removed: removed
                .into_iter()
                .filter(|p| !replaced.contains(p) && !added.contains(p))
                .collect(),
            added: added.into_iter().collect(),
            replaced: replaced.into_iter().collect(),
            components,
        }
    }
}

/// Rebuild the arena with only the nodes reachable from the root (parents before children).
pub fn compact(tree: &mut ImageTree) {
    let order = tree.walk();
    let mut map = vec![usize::MAX; tree.nodes.len()];
    for (new, &old) in order.iter().enumerate() {
        map[old] = new;
    }
    let mut nodes = Vec::with_capacity(order.len());
    for &old in &order {
        let mut d = std::mem::take(&mut tree.nodes[old]);
        d.children = d.children.iter().map(|&c| map[c]).collect();
        d.parent = if old == 0 { 0 } else { map[d.parent] };
        nodes.push(d);
    }
    tree.nodes = nodes;
}

/// Apply every prepared package to `tree` (components, then the record), returning the log.
pub fn apply_packages(
    tree: &mut ImageTree,
    packages: &[PreparedPackage],
    time: u64,
) -> Result<ChangeLog> {
    let mut ed = Editor::new(tree, time)?;
    for p in packages {
        for c in &p.components {
            ed.component(c)?;
        }
        ed.record(p)?;
    }
    Ok(ed.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::AssemblyIdentity;
    use crate::service::plan::PreparedFile;

    fn dir(name: &str, parent: usize, sec: i32) -> Dentry {
        Dentry {
            name: u16s(name),
            attributes: attr::DIRECTORY,
            security_id: sec,
            parent,
            ..Default::default()
        }
    }

    fn file(name: &str, parent: usize, sec: i32, group: u64, data: u8) -> Dentry {
        Dentry {
            name: u16s(name),
            attributes: attr::ARCHIVE | attr::SYSTEM,
            security_id: sec,
            parent,
            hard_link_group: group,
            data: Some([data; 20]),
            ..Default::default()
        }
    }

    const OLD: &str = "amd64_microsoft-windows-foo_31bf3856ad364e35_10.0.1.1_none_0123456789abcdef";
    const NEW: &str = "amd64_microsoft-windows-foo_31bf3856ad364e35_10.0.1.9_none_fedcba9876543210";

    /// / Windows / {System32 (sec 1) / {foo.dll ↔ WinSxS/OLD/foo.dll, gone.dll ↔ WinSxS/OLD/gone.dll},
    /// WinSxS (sec 2) / {OLD, Manifests/OLD.manifest}}
    fn tree() -> ImageTree {
        let mut t = ImageTree {
            security: vec![vec![0], vec![1], vec![2]],
            nodes: vec![dir("", 0, 0)],
        };
        let add = |t: &mut ImageTree, d: Dentry| {
            let i = t.nodes.len();
            let p = d.parent;
            t.nodes.push(d);
            t.nodes[p].children.push(i);
            i
        };
        let win = add(&mut t, dir("Windows", 0, 0));
        let s32 = add(&mut t, dir("System32", win, 1));
        let sxs = add(&mut t, dir("WinSxS", win, 2));
        let old = add(&mut t, dir(OLD, sxs, 2));
        let man = add(&mut t, dir("Manifests", sxs, 2));
        add(&mut t, file("foo.dll", s32, 1, 7, 1));
        add(&mut t, file("gone.dll", s32, 1, 8, 2));
        add(&mut t, file("foo.dll", old, 1, 7, 1));
        add(&mut t, file("gone.dll", old, 1, 8, 2));
        add(&mut t, file(&format!("{OLD}.manifest"), man, 2, 0, 3));
        t
    }

    fn component(files: &[(&str, Option<&str>, u8)]) -> PreparedComponent {
        PreparedComponent {
            identity: AssemblyIdentity {
                name: "Microsoft-Windows-Foo".into(),
                version: "10.0.1.9".into(),
                processor_architecture: "amd64".into(),
                language: "neutral".into(),
                public_key_token: "31bf3856ad364e35".into(),
                ..Default::default()
            },
            folder: NEW.into(),
            manifest: b"<assembly/>".to_vec(),
            files: files
                .iter()
                .map(|(n, d, b)| PreparedFile {
                    name: n.to_string(),
                    dest_dir: d.map(String::from),
                    member: 0,
                    sha1: [*b; 20],
                    size: 1,
                    form: crate::package::PayloadForm::Full,
                    reverse: None,
                })
                .collect(),
        }
    }

    #[test]
    fn newer_version_replaces_the_old_one_and_its_projections() {
        let mut t = tree();
        let mut ed = Editor::new(&mut t, 99).unwrap();
        ed.component(&component(&[
            ("FOO.DLL", Some("windows\\SYSTEM32"), 9),
            ("new.txt", Some("Windows\\System32\\en-US"), 10),
        ]))
        .unwrap();
        let log = ed.finish();
        crate::wim::meta_write::validate_tree(&t).unwrap();
        assert_eq!(log.replaced, vec!["/Windows/System32/foo.dll"]);
        assert!(log
            .removed
            .contains(&"/Windows/System32/gone.dll".to_string()));
        assert!(log
            .removed
            .contains(&format!("/Windows/WinSxS/{OLD}/foo.dll")));
        assert!(log
            .added
            .contains(&format!("/Windows/WinSxS/{NEW}/FOO.DLL")));
        assert!(log
            .added
            .contains(&"/Windows/System32/en-US/new.txt".to_string()));
        assert!(t.lookup(&format!("/Windows/WinSxS/{OLD}")).is_err());
        assert!(t
            .lookup(&format!("/Windows/WinSxS/Manifests/{OLD}.manifest"))
            .is_err());
        assert!(t
            .lookup(&format!("/Windows/WinSxS/Manifests/{NEW}.manifest"))
            .is_ok());

        let proj = &t.nodes[t.lookup("/Windows/System32/foo.dll").unwrap()];
        let sxs = &t.nodes[t.lookup(&format!("/Windows/WinSxS/{NEW}/foo.dll")).unwrap()];
        // The replaced file keeps its name, attributes and security; the WinSxS copy is the same inode.
        assert_eq!(proj.name_string(), "foo.dll");
        assert_eq!(
            (proj.attributes, proj.security_id),
            (attr::ARCHIVE | attr::SYSTEM, 1)
        );
        assert_eq!(proj.data, Some([9; 20]));
        assert_ne!(proj.hard_link_group, 7);
        assert_eq!(
            (
                sxs.hard_link_group,
                sxs.data,
                sxs.attributes,
                sxs.security_id
            ),
            (
                proj.hard_link_group,
                proj.data,
                proj.attributes,
                proj.security_id
            )
        );
        // A new file (and the directory created for it) inherit the destination's descriptor.
        let new = &t.nodes[t.lookup("/Windows/System32/en-US/new.txt").unwrap()];
        assert_eq!(
            (new.security_id, new.attributes, new.last_write_time),
            (1, attr::ARCHIVE, 99)
        );
        assert_eq!(
            t.nodes[t.lookup("/Windows/System32/en-US").unwrap()].security_id,
            1
        );
    }

    #[test]
    fn older_version_is_skipped_and_files_do_not_replace_directories() {
        let mut t = tree();
        let mut c = component(&[("foo.dll", Some("Windows\\System32"), 9)]);
        c.identity.version = "10.0.1.0".into();
        let mut ed = Editor::new(&mut t, 1).unwrap();
        ed.component(&c).unwrap();
        let log = ed.finish();
        assert!(log.added.is_empty() && log.removed.is_empty() && log.replaced.is_empty());
        assert!(log.components[0].contains("skipped"));

        let mut t = tree();
        let mut ed = Editor::new(&mut t, 1).unwrap();
        let r = ed.component(&component(&[("System32", Some("Windows"), 9)]));
        assert!(matches!(r, Err(Error::Unsupported { .. })), "{r:?}");
    }

    #[test]
    fn ensure_dir_matches_case_and_inherits_security() {
        let mut t = ImageTree {
            security: vec![vec![1], vec![2]],
            nodes: vec![dir("", 0, 0)],
        };
        let mut ed = Editor::new(&mut t, 5).unwrap();
        let a = ed.ensure_dir("Windows\\System32").unwrap();
        let b = ed.ensure_dir("WINDOWS/system32").unwrap();
        assert_eq!(a, b);
        assert!(ed.ensure_dir("Windows\\..\\x").is_err());
        ed.finish();
        assert_eq!(t.nodes.len(), 3);
        assert_eq!(t.lookup("/Windows/System32").unwrap(), 2);
        assert_eq!(t.nodes[2].security_id, 0);
    }
}
