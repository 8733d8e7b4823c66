//! A directory as an output: every file goes through an [`OutputStore`] of its own inside a
//! temporary tree, and the whole tree is moved into place only when every file is written and
//! verified (the USB-folder target).

use super::store::OutputStore;
use crate::Result;

/// Where a job writes a directory tree.
pub trait FolderStore {
    /// The store one file is written through.
    type Store: OutputStore;
    /// Make sure directory `path` (relative, `/`-separated) exists in the temporary tree.
    fn create_dir(&mut self, path: &str) -> Result<()>;
    /// A store whose [`crate::io::Part::Output`] lands at `path` (relative) in the temporary tree.
    fn file(&mut self, path: &str) -> Result<Self::Store>;
    /// Move the finished tree to its final place.
    fn commit(&mut self) -> Result<()>;
}

#[cfg(not(target_arch = "wasm32"))]
pub use fs::FsFolder;

#[cfg(not(target_arch = "wasm32"))]
mod fs {
    use super::FolderStore;
    use crate::io::FsStore;
    use crate::{Error, Result};
    use std::path::{Path, PathBuf};

    /// A tree built in `DIR.partial-PID` next to `DIR` and renamed to `DIR` on commit; removed on
    /// drop when not committed. `DIR` must not exist or be an empty directory.
    pub struct FsFolder {
        dir: PathBuf,
        temp: PathBuf,
        committed: bool,
    }

    impl FsFolder {
        /// Prepare a tree that ends up at `dir`.
        pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
            let dir: PathBuf = dir.into();
            if dir.exists() {
                let empty = std::fs::read_dir(&dir)
                    .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(Error::invalid(
                        "output path",
                        format!(
                            "{} exists and is not empty; give a new or empty directory",
                            dir.display()
                        ),
                    ));
                }
            }
            let mut name = dir
                .file_name()
                .ok_or_else(|| {
                    Error::invalid(
                        "output path",
                        format!("{} is not a directory path", dir.display()),
                    )
                })?
                .to_os_string();
            name.push(format!(".partial-{}", std::process::id()));
            let temp = dir.with_file_name(name);
            if temp.exists() {
                std::fs::remove_dir_all(&temp)
                    .map_err(|e| Error::io(format!("removing {}", temp.display()), e))?;
            }
            std::fs::create_dir_all(&temp)
                .map_err(|e| Error::io(format!("creating {}", temp.display()), e))?;
            Ok(FsFolder {
                dir,
                temp,
                committed: false,
            })
        }

        fn inside(&self, path: &str) -> Result<PathBuf> {
            let mut p = self.temp.clone();
            for part in path.split('/').filter(|s| !s.is_empty()) {
                if part == ".." || part == "." || part.contains('\\') {
                    return Err(Error::invalid(
                        "output path",
                        format!("{path}: not a plain relative path"),
                    ));
                }
                p.push(part);
            }
            Ok(p)
        }

        /// Where the tree is being built.
        pub fn temp_dir(&self) -> &Path {
            &self.temp
        }
    }

    impl FolderStore for FsFolder {
        type Store = FsStore;

        fn create_dir(&mut self, path: &str) -> Result<()> {
            let p = self.inside(path)?;
            std::fs::create_dir_all(&p)
                .map_err(|e| Error::io(format!("creating {}", p.display()), e))
        }

        fn file(&mut self, path: &str) -> Result<FsStore> {
            Ok(FsStore::new(self.inside(path)?))
        }

        fn commit(&mut self) -> Result<()> {
            if self.dir.exists() {
                std::fs::remove_dir(&self.dir)
                    .map_err(|e| Error::io(format!("replacing empty {}", self.dir.display()), e))?;
            }
            std::fs::rename(&self.temp, &self.dir).map_err(|e| {
                Error::io(
                    format!("renaming {} to {}", self.temp.display(), self.dir.display()),
                    e,
                )
            })?;
            self.committed = true;
            Ok(())
        }
    }

    impl Drop for FsFolder {
        fn drop(&mut self) {
            if !self.committed {
                let _ = std::fs::remove_dir_all(&self.temp);
            }
        }
    }
}
