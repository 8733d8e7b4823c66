//! The tree a rebuilt image holds: the source's entries with replacements laid over them.
//!
//! Only names, sizes, times and readers are kept (memory grows with the number of entries, never
//! with file sizes).

use crate::io::SharedReader;
use crate::iso::names::names_equal;
use crate::iso::{IsoImage, LocatedEntry};
use crate::{Error, Result};
use std::collections::HashMap;

/// Most entries a rebuilt tree may hold.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Where a file's bytes come from.
#[derive(Clone)]
pub(crate) enum Content {
    /// A directory, or an empty file.
    Nothing,
    /// Copied from the source image (or a replacement) through this reader.
    Bytes(SharedReader),
    /// The El Torito boot catalog, written by the writer itself.
    Catalog,
}

/// One entry of the tree; node 0 is the root.
#[derive(Clone)]
pub(crate) struct WNode {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub mtime: i64,
    pub parent: usize,
    pub children: Vec<usize>,
    pub content: Content,
    /// Index into the replacement list when this file was replaced or added.
    pub replaced: Option<usize>,
}

/// A tree of [`WNode`]s.
#[derive(Clone)]
pub(crate) struct WTree {
    pub nodes: Vec<WNode>,
}

impl WTree {
    fn new(mtime: i64) -> Self {
        WTree {
            nodes: vec![WNode {
                name: String::new(),
                is_dir: true,
                size: 0,
                mtime,
                parent: 0,
                children: Vec::new(),
                content: Content::Nothing,
                replaced: None,
            }],
        }
    }

    fn add(&mut self, parent: usize, node: WNode) -> Result<usize> {
        if self.nodes.len() >= MAX_ENTRIES {
            return Err(Error::limit(
                self.nodes.len() + 1,
                MAX_ENTRIES,
                format!("the rebuilt tree would hold more than {MAX_ENTRIES} entries"),
            ));
        }
        let i = self.nodes.len();
        self.nodes.push(WNode { parent, ..node });
        self.nodes[parent].children.push(i);
        Ok(i)
    }

    /// The child of `dir` called `name` (exact match first, then case-insensitive).
    pub fn child(&self, dir: usize, name: &str) -> Option<usize> {
        let kids = &self.nodes[dir].children;
        kids.iter()
            .copied()
            .find(|&k| self.nodes[k].name == name)
            .or_else(|| {
                kids.iter()
                    .copied()
                    .find(|&k| names_equal(&self.nodes[k].name, name))
            })
    }

    /// Full path of a node (`/` for the root).
    pub fn path(&self, mut i: usize) -> String {
        let mut parts = Vec::new();
        while i != 0 {
            parts.push(self.nodes[i].name.as_str());
            i = self.nodes[i].parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// Build from a located walk (parents before children). Returns the tree and, for every file
    /// that starts somewhere, its first byte offset in the source → node.
    pub fn from_walk(
        entries: Vec<LocatedEntry>,
        default_mtime: i64,
    ) -> Result<(WTree, HashMap<u64, usize>)> {
        let mut t = WTree::new(default_mtime);
        let mut by_path: HashMap<String, usize> = HashMap::from([("/".to_string(), 0)]);
        let mut starts = HashMap::new();
        for l in entries {
            let e = l.entry;
            let parent_path = match e.path.rfind('/') {
                Some(0) => "/".to_string(),
                Some(i) => e.path[..i].to_string(),
                None => "/".to_string(),
            };
            let parent = *by_path.get(&parent_path).ok_or_else(|| {
                Error::invalid(
                    "ISO writer",
                    format!("{}: parent listed after the child", e.path),
                )
            })?;
            let content = match (&l.reader, e.is_dir) {
                (Some(r), false) if e.size > 0 => Content::Bytes(r.clone()),
                _ => Content::Nothing,
            };
            let i = t.add(
                parent,
                WNode {
                    name: e.name.clone(),
                    is_dir: e.is_dir,
                    size: if e.is_dir { 0 } else { e.size },
                    mtime: e.mtime.unwrap_or(default_mtime),
                    parent,
                    children: Vec::new(),
                    content,
                    replaced: None,
                },
            )?;
            if let Some(s) = l.start {
                starts.insert(s, i);
            }
            by_path.insert(e.path, i);
        }
        Ok((t, starts))
    }

    /// Lay `data` over `path` (`/` or `\` separators, case-insensitive against existing names):
    /// an existing file's content is replaced, missing directories and the file are created.
    pub fn replace(&mut self, path: &str, data: SharedReader, index: usize) -> Result<usize> {
        let parts = crate::iso::names::split_path(path)?;
        let Some((last, dirs)) = parts.split_last() else {
            return Err(Error::invalid(
                "ISO writer",
                format!("{path}: not a file path"),
            ));
        };
        let mtime = self.nodes[0].mtime;
        let mut at = 0usize;
        for d in dirs {
            at = match self.child(at, d) {
                Some(k) if self.nodes[k].is_dir => k,
                Some(_) => {
                    return Err(Error::invalid(
                        "ISO writer",
                        format!("{path}: {d} is a file in the image, not a directory"),
                    ))
                }
                None => self.add(
                    at,
                    WNode {
                        name: (*d).to_string(),
                        is_dir: true,
                        size: 0,
                        mtime,
                        parent: at,
                        children: Vec::new(),
                        content: Content::Nothing,
                        replaced: None,
                    },
                )?,
            };
        }
        let size = data.size();
        let content = if size > 0 {
            Content::Bytes(data)
        } else {
            Content::Nothing
        };
        match self.child(at, last) {
            Some(k) if self.nodes[k].is_dir => Err(Error::invalid(
                "ISO writer",
                format!("{path} is a directory in the image"),
            )),
            Some(k) => {
                let n = &mut self.nodes[k];
                n.size = size;
                n.content = content;
                n.replaced = Some(index);
                Ok(k)
            }
            None => self.add(
                at,
                WNode {
                    name: (*last).to_string(),
                    is_dir: false,
                    size,
                    mtime,
                    parent: at,
                    children: Vec::new(),
                    content,
                    replaced: Some(index),
                },
            ),
        }
    }

    /// The node at `path`, if there is one.
    fn find(&self, path: &str) -> Result<Option<usize>> {
        let mut at = 0usize;
        for part in crate::iso::names::split_path(path)? {
            match self.child(at, part) {
                Some(k) => at = k,
                None => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    /// Give the file at `old` the name of `new`'s last component; both must be in the same
    /// directory, and `new` must not exist yet. A missing `old` is left alone.
    pub fn rename(&mut self, old: &str, new: &str) -> Result<()> {
        let Some(k) = self.find(old)? else {
            return Ok(());
        };
        let parts = crate::iso::names::split_path(new)?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(Error::invalid(
                "ISO writer",
                format!("{new}: not a file path"),
            ));
        };
        let parent = self.nodes[k].parent;
        if k == 0 || self.nodes[k].is_dir || self.find(&dirs.join("/"))? != Some(parent) {
            return Err(Error::invalid(
                "ISO writer",
                format!("{old} can only be renamed to a file in its own directory, not {new}"),
            ));
        }
        if self.child(parent, name).is_some_and(|c| c != k) {
            return Err(Error::invalid(
                "ISO writer",
                format!("{new} exists already; {old} cannot take its name"),
            ));
        }
        self.nodes[k].name = (*name).to_string();
        Ok(())
    }

    /// Every node in depth-first order (parents before children, children in name order):
    /// the order file data is laid out in.
    pub fn depth_first(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            out.push(i);
            let mut kids = self.nodes[i].children.clone();
            kids.sort_by(|&a, &b| self.nodes[b].name.cmp(&self.nodes[a].name));
            stack.extend(kids);
        }
        out
    }
}

/// Walk `img`'s active tree into a [`WTree`].
pub(crate) fn tree_of(img: &IsoImage, default_mtime: i64) -> Result<(WTree, HashMap<u64, usize>)> {
    WTree::from_walk(img.walk_files(MAX_ENTRIES)?, default_mtime)
}
